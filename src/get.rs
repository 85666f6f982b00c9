//! `mastfs get SOURCE... DEST`: download archive files without a mount.
//!
//! A SOURCE is an `s3://BUCKET/KEY` URI, a file under a mastfs mount (mapped back to its
//! object by the `user.mast.s3_uri` attribute of view files, or by the layout
//! `MOUNTPOINT/<bucket>/<key>`), or the name of a view (resolved through MAST as
//! `mastfs query` does). Each object is fetched with parallel ranged GETs pinned to the
//! ETag seen by HEAD, written in order to `DEST.part` (so a `.part` is always a valid prefix
//! and an interrupted download continues where it stopped), checked for size and, when the
//! ETag is a plain MD5, for content, then renamed into place with the object's date.

use std::collections::BTreeMap;
use std::ffi::CString;
use std::fs::{File, OpenOptions};
use std::io::{IsTerminal, Read, Write};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, Context};
use clap::Args;
use futures::StreamExt;
use indicatif::{ProgressBar, ProgressStyle};
use md5::{Digest, Md5};

use crate::config::{self, Config, Overrides, ViewLayout};
use crate::namespace::views::{disambiguate, ViewFile};
use crate::setup;
use crate::store::{ObjectMeta, ObjectStore};

/// The extended attribute of view files that names their object.
pub const S3_URI_XATTR: &str = "user.mast.s3_uri";
/// The ETag of the object a `.part` file holds a prefix of (best effort: not every file
/// system keeps user attributes).
const PART_ETAG_XATTR: &str = "user.mastfs.etag";

#[derive(Debug, Args)]
pub struct GetArgs {
    /// What to download: s3://BUCKET/KEY, a file under a mastfs mount, or a view name
    /// (from the config or --view).
    #[arg(value_name = "SOURCE", num_args = 1.., required = true)]
    pub sources: Vec<String>,
    /// Where to: a file, or a directory (DIR/, an existing one, or for several sources and
    /// views) that receives each file under its own name.
    #[arg(value_name = "DEST", required = true)]
    pub dest: String,
    /// Replace existing files that differ from the object.
    #[arg(long)]
    pub force: bool,
    /// Ranged GETs in flight per file.
    #[arg(short, long, value_name = "N", default_value_t = 8)]
    pub jobs: usize,
    /// Size of one ranged GET, e.g. 8MiB.
    #[arg(long, value_name = "SIZE", default_value = "8MiB")]
    pub part_size: String,
    /// Plain progress lines even on a terminal.
    #[arg(long)]
    pub no_progress: bool,
    #[command(flatten)]
    pub settings: SourceSettings,
}

/// The settings that reach S3 and MAST without a mount (`get`, `warm`): the mount's
/// configuration, as flags.
#[derive(Debug, Args)]
#[command(next_help_heading = "Configuration")]
pub struct SourceSettings {
    /// Config file (for [s3], [[buckets]] signed = true, [cache], [mast] and [[views]]).
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// S3 endpoint [env: AWS_ENDPOINT_URL] [default: AWS].
    #[arg(long, value_name = "URL")]
    pub endpoint_url: Option<String>,
    /// Address buckets as ENDPOINT/BUCKET.
    #[arg(long)]
    pub force_path_style: bool,
    /// AWS region [env: AWS_REGION] [default: us-east-1].
    #[arg(long, value_name = "R")]
    pub region: Option<String>,
    /// MAST base URL, for view names [env: MASTFS_MAST_URL].
    #[arg(long, value_name = "URL")]
    pub mast_url: Option<String>,
    /// A view to use by name: "NAME CRITERION... [--products FILTER...]" (repeatable).
    #[arg(long = "view", value_name = "SPEC")]
    pub views: Vec<String>,
}

impl SourceSettings {
    pub fn overrides(&self) -> Overrides {
        Overrides {
            config_file: self.config.clone(),
            endpoint_url: self.endpoint_url.clone(),
            force_path_style: self.force_path_style,
            region: self.region.clone(),
            mast_url: self.mast_url.clone(),
            views: self.views.clone(),
            ..Default::default()
        }
    }
}

/// One object to fetch and where it goes.
#[derive(Clone, Debug)]
pub(crate) struct Target {
    pub(crate) bucket: String,
    pub(crate) key: String,
    /// File name, with a subfolder for view layouts that have one.
    pub(crate) name: PathBuf,
}

impl Target {
    pub(crate) fn uri(&self) -> String {
        format!("s3://{}/{}", self.bucket, self.key)
    }
}

/// What a SOURCE turned into.
pub(crate) struct Resolved {
    pub(crate) targets: Vec<Target>,
    /// A view always goes into a directory.
    is_view: bool,
}

pub fn run(args: &GetArgs) -> anyhow::Result<()> {
    let (sources, dest) = (&args.sources, &args.dest);
    let part_size = config::parse_size(&args.part_size)
        .map_err(|e| anyhow!("--part-size {}: {e}", args.part_size))?
        .max(64 * 1024);
    let cfg = config::load(&args.settings.overrides())?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    runtime.block_on(async {
        let (store, _counters) = setup::build_store(&cfg).await?;
        let mut targets = Vec::new();
        let mut any_view = false;
        for source in sources {
            let resolved = resolve_source(source, &cfg).await?;
            any_view |= resolved.is_view;
            targets.extend(resolved.targets);
        }
        if targets.is_empty() {
            bail!("nothing to download: the view(s) have no files in the cloud");
        }
        let dest = Path::new(dest);
        let into_dir = targets.len() > 1
            || any_view
            || dest.as_os_str().as_bytes().ends_with(b"/")
            || dest.is_dir();
        let plan: Vec<(Target, PathBuf)> = if into_dir {
            if !dest.is_dir() {
                if targets.len() > 1 && !any_view && !dest.as_os_str().as_bytes().ends_with(b"/")
                {
                    bail!(
                        "{} is not a directory: several files go into a directory (write {}/ to create it)",
                        dest.display(),
                        dest.display()
                    );
                }
                std::fs::create_dir_all(dest)
                    .with_context(|| format!("cannot create {}", dest.display()))?;
            }
            targets
                .into_iter()
                .map(|t| {
                    let path = dest.join(&t.name);
                    (t, path)
                })
                .collect()
        } else {
            targets
                .into_iter()
                .map(|t| (t, dest.to_path_buf()))
                .collect()
        };
        let options = Options {
            force: args.force,
            jobs: args.jobs.max(1),
            part_size,
        };
        download_all(store, plan, &options, !args.no_progress).await
    })
}

// ---- sources --------------------------------------------------------------------------

pub(crate) async fn resolve_source(source: &str, cfg: &Config) -> anyhow::Result<Resolved> {
    if let Some(rest) = source.strip_prefix("s3://") {
        let target = target_of_uri(rest)
            .ok_or_else(|| anyhow!("{source}: give s3://BUCKET/KEY (a key, not a prefix)"))?;
        return Ok(Resolved {
            targets: vec![target],
            is_view: false,
        });
    }
    let path = Path::new(source);
    if std::fs::symlink_metadata(path).is_ok() {
        return Ok(Resolved {
            targets: vec![target_of_mounted_path(path)?],
            is_view: false,
        });
    }
    if cfg.views.iter().any(|v| v.name == source) {
        return Ok(Resolved {
            targets: resolve_view(source, cfg).await?,
            is_view: true,
        });
    }
    let known: Vec<&str> = cfg.views.iter().map(|v| v.name.as_str()).collect();
    bail!(
        "'{source}' is not an s3:// URI, an existing file, or a view of the config (views: {})",
        if known.is_empty() {
            "none".to_string()
        } else {
            known.join(", ")
        }
    )
}

/// `BUCKET/KEY` (after `s3://`) as a target named by the key's last segment.
fn target_of_uri(rest: &str) -> Option<Target> {
    let (bucket, key) = rest.split_once('/')?;
    let name = key.rsplit('/').next().filter(|n| !n.is_empty())?;
    if bucket.is_empty() {
        return None;
    }
    Some(Target {
        bucket: bucket.to_string(),
        key: key.to_string(),
        name: PathBuf::from(name),
    })
}

/// A file under a mastfs mount: its `user.mast.s3_uri` (view files), else
/// `MOUNTPOINT/<bucket>/<key>`.
fn target_of_mounted_path(path: &Path) -> anyhow::Result<Target> {
    let meta =
        std::fs::metadata(path).with_context(|| format!("cannot read {}", path.display()))?;
    if meta.is_dir() {
        bail!(
            "{} is a directory; give the files in it (e.g. {}/*)",
            path.display(),
            path.display()
        );
    }
    if let Some(uri) = getxattr(path, S3_URI_XATTR) {
        if let Some(mut target) = uri.strip_prefix("s3://").and_then(target_of_uri) {
            // Keep the name the file has in the view (it may have been disambiguated).
            if let Some(name) = path.file_name() {
                target.name = PathBuf::from(name);
            }
            return Ok(target);
        }
    }
    let canonical = std::fs::canonicalize(path)
        .with_context(|| format!("cannot resolve {}", path.display()))?;
    let mountpoint = mastfs_mount_points()
        .into_iter()
        .filter(|m| canonical.starts_with(m))
        .max_by_key(|m| m.as_os_str().len())
        .ok_or_else(|| {
            anyhow!(
                "{} is neither an s3:// URI nor a file under a mastfs mount",
                path.display()
            )
        })?;
    let relative = canonical.strip_prefix(&mountpoint).unwrap_or(&canonical);
    let mut parts = relative.iter().map(|p| p.to_string_lossy().to_string());
    let bucket = parts.next().unwrap_or_default();
    let key: Vec<String> = parts.collect();
    if bucket == config::VIEWS_DIR || key.is_empty() {
        bail!(
            "{} is under {} but has no {S3_URI_XATTR} attribute to name its object",
            path.display(),
            mountpoint.display()
        );
    }
    let key = key.join("/");
    target_of_uri(&format!("{bucket}/{key}"))
        .ok_or_else(|| anyhow!("{} does not name an object", path.display()))
}

/// Mount points of mastfs mounts, from the mount table.
pub(crate) fn mastfs_mount_points() -> Vec<PathBuf> {
    std::fs::read_to_string("/proc/self/mounts")
        .unwrap_or_default()
        .lines()
        .filter_map(|line| {
            let fields: Vec<&str> = line.split_whitespace().collect();
            match fields.as_slice() {
                [source, mountpoint, fs_type, ..]
                    if *source == "mastfs" && fs_type.starts_with("fuse") =>
                {
                    Some(PathBuf::from(unescape_mount_field(mountpoint)))
                }
                _ => None,
            }
        })
        .collect()
}

/// The mount table writes space, tab, newline and backslash as octal escapes.
fn unescape_mount_field(field: &str) -> String {
    field
        .replace("\\040", " ")
        .replace("\\011", "\t")
        .replace("\\012", "\n")
        .replace("\\134", "\\")
}

/// The products of a view, named as the view's folder names them.
async fn resolve_view(name: &str, cfg: &Config) -> anyhow::Result<Vec<Target>> {
    let client = setup::mast_client(cfg)?;
    let columns = setup::column_config(&client, Duration::from_secs(30)).await;
    let defs = setup::view_defs(&cfg.views, &columns)?;
    let def = defs
        .into_iter()
        .find(|d| d.name == name)
        .ok_or_else(|| anyhow!("no view named '{name}'"))?;
    let resolution = client.resolve(&def.query, &columns).await.map_err(|e| {
        anyhow!(
            "MAST query for view '{name}' failed ({}): {e}",
            cfg.mast.url
        )
    })?;
    for line in resolution.summary_lines() {
        eprintln!("{line}");
    }
    let mut files: Vec<ViewFile> = resolution
        .cloud_products()
        .filter_map(|p| {
            let loc = p.cloud.as_ref()?;
            Some(ViewFile {
                name: p.product_filename.clone(),
                folder: (def.layout == ViewLayout::ByObs).then(|| p.obs_id.clone()),
                bucket: def.bucket.clone().unwrap_or_else(|| loc.bucket.clone()),
                key: loc.key.clone(),
                size: 0,
                etag: String::new(),
                last_modified: std::time::UNIX_EPOCH,
                data_uri: p.data_uri.clone(),
                obsid: p.obsid.clone(),
                obs_id: p.obs_id.clone(),
            })
        })
        .collect();
    disambiguate(&mut files);
    Ok(files
        .into_iter()
        .map(|f| Target {
            name: match &f.folder {
                Some(folder) => Path::new(folder).join(&f.name),
                None => PathBuf::from(&f.name),
            },
            bucket: f.bucket,
            key: f.key,
        })
        .collect())
}

// ---- downloading ----------------------------------------------------------------------

struct Options {
    force: bool,
    jobs: usize,
    part_size: u64,
}

/// How one file ended.
enum Outcome {
    Downloaded { fetched: u64 },
    AlreadyThere,
}

/// Progress: a bar on a terminal, plain lines otherwise.
pub(crate) struct Progress {
    bar: Option<ProgressBar>,
    pub(crate) started: Instant,
}

impl Progress {
    /// `command` names the command in the plain lines (`mastfs get`, `mastfs warm`).
    pub(crate) fn new(command: &str, total_bytes: u64, files: usize, fancy: bool) -> Progress {
        let bar = (fancy && std::io::stderr().is_terminal()).then(|| {
            let bar = ProgressBar::new(total_bytes);
            let style = ProgressStyle::with_template(
                "{msg:>12} [{bar:30}] {bytes}/{total_bytes} {binary_bytes_per_sec} ETA {eta}",
            )
            .unwrap_or_else(|_| ProgressStyle::default_bar())
            .progress_chars("=> ");
            bar.set_style(style);
            bar.set_message(format!("0/{files} files"));
            bar
        });
        if bar.is_none() {
            eprintln!(
                "{command}: {files} file(s), {}",
                bytesize::ByteSize(total_bytes)
            );
        }
        Progress {
            bar,
            started: Instant::now(),
        }
    }

    pub(crate) fn advance(&self, bytes: u64) {
        if let Some(bar) = &self.bar {
            bar.inc(bytes);
        }
    }

    /// Takes back `bytes` counted for a file that is downloaded again.
    fn rewind(&self, bytes: u64) {
        if let Some(bar) = &self.bar {
            bar.set_position(bar.position().saturating_sub(bytes));
        }
    }

    pub(crate) fn file_done(&self, done: usize, files: usize, line: String) {
        match &self.bar {
            Some(bar) => {
                bar.set_message(format!("{done}/{files} files"));
                bar.println(line);
            }
            None => eprintln!("{line}"),
        }
    }

    pub(crate) fn finish(&self, line: String) {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
        eprintln!("{line}");
    }
}

async fn download_all(
    store: Arc<dyn ObjectStore>,
    plan: Vec<(Target, PathBuf)>,
    options: &Options,
    fancy: bool,
) -> anyhow::Result<()> {
    // HEAD everything first: sizes for the progress bar, ETags to pin the reads to.
    let heads: Vec<anyhow::Result<ObjectMeta>> = futures::stream::iter(plan.iter())
        .map(|(t, _)| {
            let store = store.clone();
            async move {
                store
                    .head(&t.bucket, &t.key)
                    .await
                    .map_err(|e| anyhow!("{}: {e}", t.uri()))
            }
        })
        .buffered(16)
        .collect()
        .await;
    let mut jobs = Vec::new();
    let mut seen: BTreeMap<PathBuf, String> = BTreeMap::new();
    for ((target, path), head) in plan.into_iter().zip(heads) {
        let meta = head?;
        if let Some(other) = seen.insert(path.clone(), target.uri()) {
            bail!(
                "{} and {} would both be written to {}",
                other,
                target.uri(),
                path.display()
            );
        }
        jobs.push((target, path, meta));
    }
    let files = jobs.len();
    let total: u64 = jobs.iter().map(|(_, _, m)| m.size).sum();
    let progress = Progress::new("mastfs get", total, files, fancy);
    // Several small files at once; each file's ranged GETs share `jobs` between them.
    let file_parallel = options.jobs.min(files).clamp(1, 4);
    let per_file = Options {
        force: options.force,
        jobs: (options.jobs / file_parallel).max(2),
        part_size: options.part_size,
    };
    let mut done = 0;
    let mut fetched_total = 0;
    let mut failures = Vec::new();
    let mut results = futures::stream::iter(jobs.iter())
        .map(|(target, path, meta)| {
            let store = store.clone();
            let (per_file, progress) = (&per_file, &progress);
            async move {
                let started = Instant::now();
                let result = download_one(&*store, target, meta, path, per_file, progress).await;
                (target, path, meta, started, result)
            }
        })
        .buffer_unordered(file_parallel);
    while let Some((target, path, meta, started, result)) = results.next().await {
        done += 1;
        match result {
            Ok(Outcome::Downloaded { fetched }) => {
                fetched_total += fetched;
                let secs = started.elapsed().as_secs_f64().max(1e-3);
                progress.file_done(
                    done,
                    files,
                    format!(
                        "got {} -> {} ({}, {}/s)",
                        target.uri(),
                        path.display(),
                        bytesize::ByteSize(meta.size),
                        bytesize::ByteSize((fetched as f64 / secs) as u64)
                    ),
                );
            }
            Ok(Outcome::AlreadyThere) => progress.file_done(
                done,
                files,
                format!("{} is already complete ({})", path.display(), target.uri()),
            ),
            Err(e) => {
                progress.file_done(done, files, format!("failed {}: {e:#}", target.uri()));
                failures.push(format!("{e:#}"));
            }
        }
    }
    let secs = progress.started.elapsed().as_secs_f64();
    progress.finish(format!(
        "mastfs get: {} of {files} file(s) done, {} fetched in {secs:.1} s",
        files - failures.len(),
        bytesize::ByteSize(fetched_total)
    ));
    match failures.len() {
        0 => Ok(()),
        1 => Err(anyhow!("{}", failures[0])),
        n => Err(anyhow!("{n} downloads failed; first: {}", failures[0])),
    }
}

/// The MD5 hex digest an ETag stands for, when it is a plain (single-part) MD5.
fn etag_md5(etag: &str) -> Option<String> {
    let hex = etag.trim_matches('"');
    (hex.len() == 32 && hex.bytes().all(|b| b.is_ascii_hexdigit())).then(|| hex.to_lowercase())
}

fn part_path(path: &Path) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(".part");
    PathBuf::from(name)
}

/// Whether the file at `path` already is this object: same size, and the same MD5 (plain
/// ETags) or the same date (what a finished `get` sets).
fn is_same_file(path: &Path, meta: &ObjectMeta) -> anyhow::Result<bool> {
    let local = std::fs::metadata(path)?;
    if local.len() != meta.size {
        return Ok(false);
    }
    if let Some(md5) = etag_md5(&meta.etag) {
        return Ok(md5_of_file(path, local.len())? == md5);
    }
    Ok(local.modified().ok() == Some(meta.last_modified))
}

fn md5_of_file(path: &Path, len: u64) -> anyhow::Result<String> {
    let mut hasher = Md5::new();
    hash_prefix(&mut hasher, path, len)?;
    Ok(hex(&hasher.finalize()))
}

fn hash_prefix(hasher: &mut Md5, path: &Path, len: u64) -> anyhow::Result<()> {
    let mut file = File::open(path)?.take(len);
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = file.read(&mut buf)?;
        if n == 0 {
            return Ok(());
        }
        hasher.update(&buf[..n]);
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

async fn download_one(
    store: &dyn ObjectStore,
    target: &Target,
    meta: &ObjectMeta,
    path: &Path,
    options: &Options,
    progress: &Progress,
) -> anyhow::Result<Outcome> {
    if path.is_dir() {
        bail!("{} is a directory", path.display());
    }
    if path.exists() {
        if is_same_file(path, meta)? {
            progress.advance(meta.size);
            return Ok(Outcome::AlreadyThere);
        }
        if !options.force {
            bail!(
                "{} exists and differs from {}; use --force to replace it",
                path.display(),
                target.uri()
            );
        }
    }
    if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent)
            .with_context(|| format!("cannot create {}", parent.display()))?;
    }
    let part = part_path(path);
    let mut result = fetch_into_part(store, target, meta, &part, options, progress).await?;
    if let PartResult::CorruptResume { resumed_from } = result {
        // The old .part was not a prefix of this object after all: start over, once.
        tracing::warn!(
            "{} did not match {} after resuming at byte {resumed_from}; downloading again",
            part.display(),
            target.uri()
        );
        progress.rewind(meta.size);
        result = fetch_into_part(store, target, meta, &part, options, progress).await?;
    }
    match result {
        PartResult::Complete { fetched } => {
            std::fs::rename(&part, path).with_context(|| {
                format!("cannot rename {} to {}", part.display(), path.display())
            })?;
            Ok(Outcome::Downloaded { fetched })
        }
        PartResult::CorruptResume { .. } => bail!(
            "{}: the downloaded bytes do not match the object's MD5 (ETag); try again",
            target.uri()
        ),
    }
}

enum PartResult {
    Complete {
        fetched: u64,
    },
    /// The bytes did not verify and the download had resumed an old `.part`.
    CorruptResume {
        resumed_from: u64,
    },
}

/// Fills `part` up to the object's size, continuing an existing prefix, and verifies it.
async fn fetch_into_part(
    store: &dyn ObjectStore,
    target: &Target,
    meta: &ObjectMeta,
    part: &Path,
    options: &Options,
    progress: &Progress,
) -> anyhow::Result<PartResult> {
    let mut resume_from = std::fs::metadata(part).map(|m| m.len()).unwrap_or(0);
    let recorded_etag = getxattr(part, PART_ETAG_XATTR);
    if resume_from > meta.size || recorded_etag.is_some_and(|e| e != meta.etag) {
        // A prefix of another version of the object: useless.
        resume_from = 0;
    }
    let mut file = OpenOptions::new()
        .create(true)
        .write(true)
        .truncate(false)
        .open(part)
        .with_context(|| format!("cannot write {}", part.display()))?;
    file.set_len(resume_from)?;
    setxattr(part, PART_ETAG_XATTR, &meta.etag);
    let expected_md5 = etag_md5(&meta.etag);
    let mut hasher = Md5::new();
    if expected_md5.is_some() && resume_from > 0 {
        hash_prefix(&mut hasher, part, resume_from)?;
    }
    use std::io::Seek;
    file.seek(std::io::SeekFrom::Start(resume_from))?;
    progress.advance(resume_from);

    let ranges: Vec<std::ops::Range<u64>> = (resume_from..meta.size)
        .step_by(options.part_size as usize)
        .map(|start| start..(start + options.part_size).min(meta.size))
        .collect();
    // `buffered` runs up to `jobs` GETs at once but yields them in order, so the file only
    // ever grows by whole, verified-length, contiguous ranges.
    let mut chunks = futures::stream::iter(ranges)
        .map(|range| {
            let (bucket, key, etag) = (&target.bucket, &target.key, &meta.etag);
            async move { store.get_range(bucket, key, etag, range).await }
        })
        .buffered(options.jobs);
    let mut written = resume_from;
    while let Some(chunk) = chunks.next().await {
        let bytes = chunk.map_err(|e| {
            anyhow!(
                "{} interrupted at {written} of {} bytes: {e}; run the same command again to resume",
                target.uri(),
                meta.size
            )
        })?;
        file.write_all(&bytes)
            .with_context(|| format!("cannot write {}", part.display()))?;
        if expected_md5.is_some() {
            hasher.update(&bytes);
        }
        written += bytes.len() as u64;
        progress.advance(bytes.len() as u64);
    }
    file.flush()?;
    file.sync_all()?;
    let len = file.metadata()?.len();
    if len != meta.size {
        bail!(
            "{}: wrote {len} bytes, the object has {}; run again to resume",
            target.uri(),
            meta.size
        );
    }
    if let Some(expected) = expected_md5 {
        let got = hex(&hasher.finalize());
        if got != expected {
            let _ = std::fs::remove_file(part);
            if resume_from > 0 {
                return Ok(PartResult::CorruptResume {
                    resumed_from: resume_from,
                });
            }
            bail!(
                "{}: MD5 of the downloaded bytes is {got}, the ETag says {expected}; \
                 the transfer was corrupted, try again",
                target.uri()
            );
        }
    }
    let _ = file.set_modified(meta.last_modified);
    Ok(PartResult::Complete {
        fetched: meta.size - resume_from,
    })
}

// ---- extended attributes ----------------------------------------------------------------

fn getxattr(path: &Path, name: &str) -> Option<String> {
    let p = CString::new(path.as_os_str().as_bytes()).ok()?;
    let n = CString::new(name).ok()?;
    let mut buf = vec![0u8; 4096];
    // SAFETY: valid C strings and a buffer of the length passed.
    let len = unsafe { libc::getxattr(p.as_ptr(), n.as_ptr(), buf.as_mut_ptr().cast(), buf.len()) };
    if len < 0 {
        return None;
    }
    buf.truncate(len as usize);
    String::from_utf8(buf).ok()
}

/// Best effort: a file system without user attributes just does not keep it.
fn setxattr(path: &Path, name: &str, value: &str) {
    let (Ok(p), Ok(n)) = (
        CString::new(path.as_os_str().as_bytes()),
        CString::new(name),
    ) else {
        return;
    };
    // SAFETY: valid C strings and a value buffer of the length passed.
    unsafe {
        libc::setxattr(
            p.as_ptr(),
            n.as_ptr(),
            value.as_ptr().cast(),
            value.len(),
            0,
        )
    };
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uris_name_bucket_key_and_file() {
        let t = target_of_uri("stpubdata/hst/public/x_drz.fits").unwrap();
        assert_eq!(
            (t.bucket.as_str(), t.key.as_str(), t.name.to_str().unwrap()),
            ("stpubdata", "hst/public/x_drz.fits", "x_drz.fits")
        );
        assert!(target_of_uri("stpubdata/hst/").is_none(), "a prefix");
        assert!(target_of_uri("stpubdata").is_none(), "no key");
    }

    #[test]
    fn plain_md5_etags_only() {
        assert_eq!(
            etag_md5("\"9E107D9D372BB6826BD81D3542A419D6\"").as_deref(),
            Some("9e107d9d372bb6826bd81d3542a419d6")
        );
        assert_eq!(etag_md5("\"9e107d9d372bb6826bd81d3542a419d6-3\""), None);
    }

    #[test]
    fn mount_table_escapes() {
        assert_eq!(unescape_mount_field("/mnt/a\\040b"), "/mnt/a b");
    }
}
