//! `mastfs warm PATH...`: pull files into the persistent disk cache before they are needed.
//!
//! A PATH under a mastfs mount (a file, or a folder taken recursively) is read through the
//! mount, so the mount's own daemon fetches the blocks and keeps them on its disk cache:
//! whatever folder, block size and credentials that mount uses, the blocks land where it
//! will look for them. Warming a mount without a disk cache is refused (there would be
//! nowhere to keep the bytes). An `s3://BUCKET/KEY` URI or a view name needs no mount: the
//! blocks are fetched here and written to the disk cache the configuration names (the
//! default folder unless `--cache-dir`), in the layout a later mount with the same block
//! size reads. Progress is shown as `mastfs get` shows it.

use std::fs::File;
use std::os::unix::fs::FileExt;
use std::os::unix::io::AsRawFd;
use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, Context};
use futures::StreamExt;

use crate::cache::{BlockCache, ObjectRef};
use crate::cli::args::WarmArgs;
use crate::cmd::get::{self, Progress, Target};
use crate::config::{self, Overrides};
use crate::daemon::setup;

/// Bytes asked of the mount per read: large enough for few FUSE round trips.
const READ_SIZE: usize = 1 << 20;
/// Blocks fetched at once per file when warming without a mount.
const BLOCKS_IN_FLIGHT: usize = 8;

pub fn run(args: &WarmArgs) -> anyhow::Result<()> {
    let mut mounted = Vec::new();
    let mut remote = Vec::new();
    for p in &args.paths {
        if !p.starts_with("s3://") && std::fs::symlink_metadata(p).is_ok() {
            mounted.push(PathBuf::from(p));
        } else {
            remote.push(p.clone());
        }
    }
    let fancy = !args.no_progress;
    if !mounted.is_empty() {
        warm_mounted(&mounted, args.jobs.max(1), fancy)?;
    }
    if !remote.is_empty() {
        warm_remote(&remote, args, fancy)?;
    }
    Ok(())
}

// ---- through a mount -------------------------------------------------------------------

/// The files to read under one mount.
struct MountedPlan {
    mountpoint: PathBuf,
    files: Vec<(PathBuf, u64)>,
}

fn warm_mounted(paths: &[PathBuf], jobs: usize, fancy: bool) -> anyhow::Result<()> {
    let mountpoints = crate::mounts::mastfs_mount_points();
    let mut plans: Vec<MountedPlan> = Vec::new();
    for path in paths {
        let canonical = std::fs::canonicalize(path)
            .with_context(|| format!("cannot resolve {}", path.display()))?;
        let mountpoint = mountpoints
            .iter()
            .filter(|m| canonical.starts_with(m))
            .max_by_key(|m| m.as_os_str().len())
            .ok_or_else(|| {
                anyhow!(
                    "{} is not under a mastfs mount (give s3://BUCKET/KEY to warm without one)",
                    path.display()
                )
            })?
            .clone();
        let mut files = Vec::new();
        collect_files(&canonical, &mountpoint, &mut files)?;
        match plans.iter_mut().find(|p| p.mountpoint == mountpoint) {
            Some(plan) => plan.files.extend(files),
            None => plans.push(MountedPlan { mountpoint, files }),
        }
    }
    for plan in &plans {
        let stats = mount_stats(&plan.mountpoint)?;
        if stats["disk_cache"]["enabled"] != serde_json::Value::Bool(true) {
            bail!(
                "the mount at {} has no disk cache, so there is nowhere to keep warmed files; \
                 mount it with --disk-cache (or --cache-dir DIR)",
                plan.mountpoint.display()
            );
        }
    }
    let files: Vec<(PathBuf, u64)> = plans.iter().flat_map(|p| p.files.clone()).collect();
    let total: u64 = files.iter().map(|(_, size)| size).sum();
    let progress = Progress::new("mastfs warm", total, files.len(), fancy);
    let fetched_before: u64 = plans
        .iter()
        .filter_map(|p| mount_stats(&p.mountpoint).ok())
        .map(|s| s["bytes_fetched"].as_u64().unwrap_or(0))
        .sum();
    let failures = std::sync::Mutex::new(Vec::<String>::new());
    let next = std::sync::atomic::AtomicUsize::new(0);
    let done = std::sync::atomic::AtomicUsize::new(0);
    std::thread::scope(|scope| {
        for _ in 0..jobs.min(files.len()).max(1) {
            scope.spawn(|| loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                let Some((path, size)) = files.get(i) else {
                    break;
                };
                let result = read_through(path, &progress);
                let n = done.fetch_add(1, Ordering::Relaxed) + 1;
                let line = match result {
                    Ok(()) => format!("warmed {} ({})", path.display(), bytesize::ByteSize(*size)),
                    Err(e) => {
                        let message = format!("{}: {e:#}", path.display());
                        let line = format!("failed {message}");
                        if let Ok(mut f) = failures.lock() {
                            f.push(message);
                        }
                        line
                    }
                };
                progress.file_done(n, files.len(), line);
            });
        }
    });
    // The daemon writes blocks to disk behind the reads: wait until they are all there.
    for plan in &plans {
        wait_for_disk_writes(&plan.mountpoint, Duration::from_secs(60))?;
    }
    let fetched_after: u64 = plans
        .iter()
        .filter_map(|p| mount_stats(&p.mountpoint).ok())
        .map(|s| s["bytes_fetched"].as_u64().unwrap_or(0))
        .sum();
    let failures = failures.into_inner().unwrap_or_default();
    progress.finish(format!(
        "mastfs warm: {} of {} file(s) in the disk cache, {} fetched in {:.1} s",
        files.len() - failures.len(),
        files.len(),
        bytesize::ByteSize(fetched_after.saturating_sub(fetched_before)),
        progress.started.elapsed().as_secs_f64()
    ));
    finish(failures)
}

/// Regular files at or under `path` (a mount's own `.mastfs` folder is skipped).
fn collect_files(
    path: &Path,
    mountpoint: &Path,
    out: &mut Vec<(PathBuf, u64)>,
) -> anyhow::Result<()> {
    let meta =
        std::fs::metadata(path).with_context(|| format!("cannot read {}", path.display()))?;
    if meta.is_file() {
        out.push((path.to_path_buf(), meta.len()));
        return Ok(());
    }
    if path == mountpoint.join(".mastfs") {
        return Ok(());
    }
    let mut entries: Vec<PathBuf> = std::fs::read_dir(path)
        .with_context(|| format!("cannot list {}", path.display()))?
        .map(|e| e.map(|e| e.path()))
        .collect::<Result<_, _>>()
        .with_context(|| format!("cannot list {}", path.display()))?;
    entries.sort();
    for entry in entries {
        collect_files(&entry, mountpoint, out)?;
    }
    Ok(())
}

/// Reads a file through the mount and lets go of the page cache it filled.
fn read_through(path: &Path, progress: &Progress) -> anyhow::Result<()> {
    let file = File::open(path).with_context(|| format!("cannot open {}", path.display()))?;
    let mut buf = vec![0u8; READ_SIZE];
    let mut offset = 0u64;
    loop {
        let n = file
            .read_at(&mut buf, offset)
            .with_context(|| format!("read failed at byte {offset}"))?;
        if n == 0 {
            break;
        }
        offset += n as u64;
        progress.advance(n as u64);
    }
    // The point is the disk cache, not the page cache: do not crowd out other files.
    // SAFETY: the descriptor is open for the duration of the call.
    unsafe {
        libc::posix_fadvise(file.as_raw_fd(), 0, 0, libc::POSIX_FADV_DONTNEED);
    }
    Ok(())
}

fn mount_stats(mountpoint: &Path) -> anyhow::Result<serde_json::Value> {
    let path = mountpoint.join(".mastfs").join("stats.json");
    let text = std::fs::read_to_string(&path)
        .with_context(|| format!("cannot read {} (is it a mastfs mount?)", path.display()))?;
    serde_json::from_str(&text).with_context(|| format!("{} is not JSON", path.display()))
}

fn wait_for_disk_writes(mountpoint: &Path, limit: Duration) -> anyhow::Result<()> {
    let started = Instant::now();
    loop {
        let stats = mount_stats(mountpoint)?;
        if stats["disk_cache"]["pending_write_bytes"].as_u64() == Some(0) {
            return Ok(());
        }
        if started.elapsed() > limit {
            bail!(
                "the mount at {} is still writing blocks to its disk cache after {limit:?}",
                mountpoint.display()
            );
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

// ---- without a mount -------------------------------------------------------------------

fn warm_remote(sources: &[String], args: &WarmArgs, fancy: bool) -> anyhow::Result<()> {
    let cfg = config::load(&Overrides {
        block_size: args.block_size.clone(),
        disk_cache: true,
        cache_dir: args.cache_dir.clone(),
        disk_cache_size: args.disk_cache_size.clone(),
        ..args.settings.overrides()
    })?;
    let disk_cfg = cfg.cache.disk.clone().ok_or_else(|| {
        anyhow!("the configuration turns the disk cache off ([cache] disk = false)")
    })?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    runtime.block_on(async {
        let (store, counters) = setup::build_store(&cfg).await?;
        let disk = Arc::new(setup::open_disk_cache(&disk_cfg).await?);
        // The memory side only needs room for the blocks in flight.
        let memory = (cfg.cache.block_size * (BLOCKS_IN_FLIGHT as u64) * 4).max(64 << 20);
        let cache = BlockCache::with_disk(store.clone(), cfg.cache.block_size, memory, Some(disk));
        let mut targets: Vec<Target> = Vec::new();
        for source in sources {
            targets.extend(get::resolve_source(source, &cfg).await?.targets);
        }
        let mut objects = Vec::new();
        for t in &targets {
            let meta = store
                .head(&t.bucket, &t.key)
                .await
                .map_err(anyhow::Error::from)?;
            objects.push((
                t.uri(),
                ObjectRef {
                    bucket: t.bucket.as_str().into(),
                    key: t.key.as_str().into(),
                    etag: meta.etag.as_str().into(),
                    size: meta.size,
                },
            ));
        }
        let total = objects.iter().map(|(_, o)| o.size).sum();
        let progress = Progress::new("mastfs warm", total, objects.len(), fancy);
        let mut failures = Vec::new();
        for (n, (uri, object)) in objects.iter().enumerate() {
            let blocks = cache.blocks_of(object, 0..object.size);
            let block_size = cache.block_size();
            let mut reads = futures::stream::iter(blocks)
                .map(|i| {
                    let cache = cache.clone();
                    async move {
                        let data = cache.read(object, i * block_size, block_size).await?;
                        Ok::<u64, crate::store::StoreError>(data.len() as u64)
                    }
                })
                .buffered(BLOCKS_IN_FLIGHT);
            let mut result = Ok(());
            while let Some(r) = reads.next().await {
                match r {
                    Ok(len) => progress.advance(len),
                    Err(e) => {
                        result = Err(e);
                        break;
                    }
                }
            }
            let line = match result {
                Ok(()) => format!("warmed {uri} ({})", bytesize::ByteSize(object.size)),
                Err(e) => {
                    failures.push(format!("{uri}: {e}"));
                    format!("failed {uri}: {e}")
                }
            };
            progress.file_done(n + 1, objects.len(), line);
        }
        if !cache.flush_disk(Duration::from_secs(60)).await {
            bail!("disk cache writes still pending after 60 s");
        }
        let disk_dir = cache.disk().map(|d| d.dir().display().to_string());
        progress.finish(format!(
            "mastfs warm: {} of {} file(s) in the disk cache {}, {} fetched in {:.1} s",
            objects.len() - failures.len(),
            objects.len(),
            disk_dir.unwrap_or_default(),
            bytesize::ByteSize(counters.bytes_fetched.load(Ordering::Relaxed)),
            progress.started.elapsed().as_secs_f64()
        ));
        finish(failures)
    })
}

fn finish(failures: Vec<String>) -> anyhow::Result<()> {
    match failures.len() {
        0 => Ok(()),
        1 => Err(anyhow!("{}", failures[0])),
        n => Err(anyhow!("{n} files failed; first: {}", failures[0])),
    }
}
