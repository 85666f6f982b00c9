//! The transfer of `mastfs get`: HEAD every object (sizes, ETags to pin), then per file
//! parallel ranged GETs written in order to `DEST.part`, resumed from an existing prefix,
//! verified (size; content when the ETag is a plain MD5) and renamed into place.

use std::collections::BTreeMap;
use std::fs::{File, OpenOptions};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

use anyhow::{anyhow, bail, Context};
use futures::StreamExt;
use md5::{Digest, Md5};

use super::manifest::{FileReport, Outcome};
use super::progress::Progress;
use super::sources::Target;
use super::xattr::{fgetxattr, fsetxattr};
use crate::store::{ObjectMeta, ObjectStore};

/// The ETag of the object a `.part` file holds a prefix of (best effort: not every file
/// system keeps user attributes).
const PART_ETAG_XATTR: &str = "user.mastfs.etag";

pub(super) struct Options {
    pub(super) force: bool,
    pub(super) jobs: usize,
    pub(super) part_size: u64,
}

pub(super) async fn download_all(
    store: Arc<dyn ObjectStore>,
    plan: Vec<(Target, PathBuf)>,
    options: &Options,
    fancy: bool,
    reports: &mut Vec<FileReport>,
) -> anyhow::Result<()> {
    // HEAD everything first: sizes for the progress bar, ETags to pin the reads to.
    let heads: Vec<anyhow::Result<ObjectMeta>> = futures::stream::iter(plan.iter())
        .map(|(t, _)| {
            let store = store.clone();
            async move {
                store
                    .head(&t.bucket, &t.key)
                    .await
                    .map_err(anyhow::Error::from)
            }
        })
        .buffered(16)
        .collect()
        .await;
    let mut jobs = Vec::new();
    let mut seen: BTreeMap<PathBuf, String> = BTreeMap::new();
    for ((target, path), head) in plan.into_iter().zip(heads) {
        let meta = match head {
            Ok(meta) => meta,
            Err(e) => {
                reports.push(FileReport::error(&path, &target, &e));
                return Err(e);
            }
        };
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
        reports.push(FileReport::of(path, target, &result));
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
    hash_prefix(&mut hasher, &File::open(path)?, len)?;
    Ok(hex(&hasher.finalize()))
}

fn hash_prefix(hasher: &mut Md5, file: &File, len: u64) -> anyhow::Result<()> {
    let mut file = file.take(len);
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

/// Opens (or creates) the `.part` file for reading and writing, never through a symbolic
/// link (a scratch folder others can write to may hold one planted at that name), and
/// only when it is a regular file of the user's own.
fn open_part(part: &Path) -> anyhow::Result<File> {
    use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
    let file = OpenOptions::new()
        .create(true)
        .read(true)
        .write(true)
        .truncate(false)
        .mode(0o644)
        .custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK)
        .open(part)
        .map_err(|e| {
            if e.raw_os_error() == Some(libc::ELOOP) {
                anyhow!(
                    "{} is a symbolic link; mastfs get never writes through one (remove it, or choose another DEST)",
                    part.display()
                )
            } else {
                anyhow!("cannot write {}: {e}", part.display())
            }
        })?;
    let held = file.metadata()?;
    if !held.file_type().is_file() {
        bail!(
            "{} is not a regular file; remove it, or choose another DEST",
            part.display()
        );
    }
    // SAFETY: geteuid has no preconditions.
    let me = unsafe { libc::geteuid() };
    if held.uid() != me {
        bail!(
            "{} is owned by uid {}, not by you (uid {me}); remove it, or choose another DEST",
            part.display(),
            held.uid()
        );
    }
    Ok(file)
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
    let mut file = open_part(part)?;
    let mut resume_from = file.metadata()?.len();
    // Only a prefix of this very version is worth keeping: the ETag recorded when the
    // `.part` was written must be there and match (an object without an ETag is never
    // resumed).
    let recorded_etag = fgetxattr(&file, PART_ETAG_XATTR);
    if resume_from > meta.size
        || meta.etag.is_empty()
        || recorded_etag.as_deref() != Some(meta.etag.as_str())
    {
        resume_from = 0;
    }
    file.set_len(resume_from)?;
    fsetxattr(&file, PART_ETAG_XATTR, &meta.etag);
    let expected_md5 = etag_md5(&meta.etag);
    let mut hasher = Md5::new();
    if expected_md5.is_some() && resume_from > 0 {
        hash_prefix(&mut hasher, &file, resume_from)?;
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_md5_etags_only() {
        assert_eq!(
            etag_md5("\"9E107D9D372BB6826BD81D3542A419D6\"").as_deref(),
            Some("9e107d9d372bb6826bd81d3542a419d6")
        );
        assert_eq!(etag_md5("\"9e107d9d372bb6826bd81d3542a419d6-3\""), None);
    }
}
