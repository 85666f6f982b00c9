//! The persistent on-disk block cache: blocks that survive unmounts and restarts.
//!
//! Each block is one file under the cache folder, named by a digest of (bucket, key, ETag,
//! block size) and the block index, fanned out over 256 subfolders. The file starts with a
//! header that repeats the full identity of the block and a CRC-32 of its bytes, so a name
//! collision, a half-written file or a block of another object version is never served:
//! anything that does not check out is deleted and counts as a miss. Files are written to a
//! temporary name and renamed into place, so readers (this daemon, another mount sharing the
//! folder, `mastfs warm`) see whole blocks or none.
//!
//! The folder is owner-only (0700, files 0600): cached archive data may come from private
//! buckets. A folder that holds anything but the cache's own files, or that others can open
//! and is not empty, is refused rather than cleaned or chmodded: it is someone's data. Its size is bounded: an in-memory index, rebuilt at start from the files'
//! modification times, evicts least recently used files once the total passes the bound.
//! Other processes sharing the folder each keep their own index; a file one of them deleted
//! is simply a miss for the others.
//!
//! Objects read whole may also get a whole-object file (for FUSE passthrough) in the
//! `objects/` subfolder, counted in the same bound: see `whole.rs`. They are built as soon
//! as an object is wholly on disk (`writing.rs` counts the writes under way). The folder's
//! layout and size index are in `folder.rs`, the stock taken at start in `survey.rs`.
//!
//! All methods do blocking file I/O: call them from `spawn_blocking`.

use std::fs::{self, File};
use std::io;
use std::io::Read;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::Path;
use std::sync::atomic::Ordering;

use bytes::Bytes;
use lru::LruCache;
use parking_lot::Mutex;

mod folder;
mod survey;
mod whole;
mod writing;

pub use super::block_file;
pub use super::key::ObjectVersion;
pub use block_file::DiskBlock;
pub use folder::{DiskCache, DiskCounters, METADATA_DIR, OBJECTS_DIR};
pub use writing::PendingWrite;

use super::key::ObjectRef;
use folder::{annotate, remove_companion, Index};
use writing::WholeWrites;

/// Serializes building: two opens of one object build it once, and building (disk-bound)
/// does not compete with itself.
static BUILDING: Mutex<()> = Mutex::new(());

impl DiskCache {
    /// Opens (creating it owner-only) the cache folder `dir`, holding at most `capacity`
    /// bytes. Refuses a folder owned by another user, holding files that are not the
    /// cache's, or open to others while not empty (an empty one is made 0700).
    pub fn open(dir: &Path, capacity: u64) -> io::Result<DiskCache> {
        crate::paths::create_private_dir(dir).map_err(|e| annotate(dir, "cannot create", e))?;
        let meta = fs::metadata(dir).map_err(|e| annotate(dir, "cannot read", e))?;
        let me = nix::unistd::geteuid().as_raw();
        if meta.uid() != me {
            return Err(io::Error::new(
                io::ErrorKind::PermissionDenied,
                format!(
                    "cache folder {} belongs to uid {}, not to you (uid {me}): give a folder of \
                     your own with --cache-dir",
                    dir.display(),
                    meta.uid()
                ),
            ));
        }
        let cache = DiskCache {
            dir: dir.to_path_buf(),
            capacity,
            index: Mutex::new(Index {
                files: LruCache::unbounded(),
                bytes: 0,
            }),
            counters: DiskCounters::default(),
            writes: WholeWrites::default(),
        };
        let survey = cache.survey()?;
        let mode = meta.permissions().mode() & 0o777;
        if mode & 0o077 != 0 {
            if !survey.is_empty() {
                // A folder others can open may be shared on purpose: never change it behind
                // the user's back.
                return Err(io::Error::new(
                    io::ErrorKind::PermissionDenied,
                    format!(
                        "cache folder {} is open to other users (mode {mode:04o}); cached \
                         blocks may come from private buckets: chmod 700 {} or give another \
                         folder with --cache-dir",
                        dir.display(),
                        dir.display()
                    ),
                ));
            }
            fs::set_permissions(dir, fs::Permissions::from_mode(0o700))
                .map_err(|e| annotate(dir, "cannot make owner-only", e))?;
        }
        cache.adopt(survey);
        Ok(cache)
    }

    /// The block's bytes if a valid copy of exactly `expected_len` bytes is on disk.
    pub fn load(&self, block: &DiskBlock<'_>, expected_len: u64) -> Option<Bytes> {
        if block.etag.is_empty() {
            // Without an ETag, a file on disk cannot be told from another version's.
            self.counters.misses.fetch_add(1, Ordering::Relaxed);
            return None;
        }
        let relative = block.relative_path();
        let path = self.dir.join(&relative);
        let mut file = match File::open(&path) {
            Ok(f) => f,
            Err(e) => {
                if e.kind() != io::ErrorKind::NotFound {
                    self.counters.errors.fetch_add(1, Ordering::Relaxed);
                    tracing::warn!("disk cache: cannot open {}: {e}", path.display());
                }
                self.forget(&relative);
                if let Some(data) = self.load_from_whole(block, expected_len) {
                    self.counters.hits.fetch_add(1, Ordering::Relaxed);
                    self.counters
                        .bytes_read
                        .fetch_add(data.len() as u64, Ordering::Relaxed);
                    return Some(data);
                }
                self.counters.misses.fetch_add(1, Ordering::Relaxed);
                return None;
            }
        };
        match read_checked(&mut file, block, expected_len) {
            Ok(Some(data)) => {
                let size = file.metadata().map(|m| m.len()).unwrap_or(0);
                self.touch(relative, size);
                self.counters.hits.fetch_add(1, Ordering::Relaxed);
                self.counters
                    .bytes_read
                    .fetch_add(data.len() as u64, Ordering::Relaxed);
                Some(data)
            }
            Ok(None) => {
                tracing::debug!(
                    "disk cache: {} does not hold s3://{}/{} block {}; removed",
                    path.display(),
                    block.bucket,
                    block.key,
                    block.index
                );
                self.counters.rejected.fetch_add(1, Ordering::Relaxed);
                self.counters.misses.fetch_add(1, Ordering::Relaxed);
                self.remove(&relative);
                None
            }
            Err(e) => {
                self.counters.errors.fetch_add(1, Ordering::Relaxed);
                self.counters.misses.fetch_add(1, Ordering::Relaxed);
                tracing::warn!("disk cache: cannot read {}: {e}", path.display());
                None
            }
        }
    }

    /// True when a file for the block exists, or a whole-object file holding it (not
    /// checked: `load` checks).
    pub fn has(&self, block: &DiskBlock<'_>) -> bool {
        self.dir.join(block.relative_path()).exists() || self.whole_has(block)
    }

    /// Writes the block (atomically: temporary file, then rename) and evicts to the bound.
    pub fn store(&self, block: &DiskBlock<'_>, data: &[u8]) {
        if block.etag.is_empty() {
            return;
        }
        let relative = block.relative_path();
        let header = block_file::header(block, data);
        let size = (header.len() + data.len()) as u64;
        if size > self.capacity {
            return;
        }
        match self.write_file(&relative, &header, data) {
            Ok(()) => {
                self.counters.writes.fetch_add(1, Ordering::Relaxed);
                self.counters
                    .bytes_written
                    .fetch_add(data.len() as u64, Ordering::Relaxed);
                self.touch(relative, size);
            }
            Err(e) => {
                // A full or read-only disk fails every write: say it once, then count.
                let first = self.counters.errors.fetch_add(1, Ordering::Relaxed) == 0;
                let message = format!(
                    "disk cache: cannot write s3://{}/{} block {} under {}: {e}",
                    block.bucket,
                    block.key,
                    block.index,
                    self.dir.display()
                );
                if first {
                    tracing::warn!("{message} (further failures are logged at debug level)");
                } else {
                    tracing::debug!("{message}");
                }
            }
        }
    }

    /// Removes every block file (the folder stays).
    pub fn clear(&self) {
        let mut index = self.index.lock();
        while let Some((relative, _)) = index.files.pop_lru() {
            let _ = fs::remove_file(self.dir.join(&relative));
            remove_companion(&self.dir, &relative);
        }
        index.bytes = 0;
    }

    /// A read-only handle on a file holding exactly the bytes of `obj`: the one already
    /// built, else one built now from its blocks of `block_size` bytes, if every one of them
    /// is on disk and intact. `None` when some block is missing or fails its check (the
    /// damaged block is removed, so the next read fetches it again), for empty objects, and
    /// for objects larger than the cache's bound.
    pub fn whole_object(&self, obj: &ObjectVersion<'_>, block_size: u64) -> Option<File> {
        if let Some(file) = self.built_whole_object(obj) {
            return Some(file);
        }
        if obj.size == 0 || block_size == 0 || obj.size > self.capacity {
            return None;
        }
        let relative = obj.relative_path();
        let blocks = obj.size.div_ceil(block_size);
        if !(0..blocks).all(|i| self.has(&obj.block(block_size, i))) {
            return None;
        }
        let _building = BUILDING.lock();
        if let Some(file) = self.open_whole(obj, &relative) {
            return Some(file);
        }
        let load = |block: &DiskBlock<'_>, len: u64| self.load(block, len);
        match self.build_whole(obj, &relative, block_size, &load) {
            Ok(true) => self.open_whole(obj, &relative),
            Ok(false) => None,
            Err(e) => {
                self.counters.errors.fetch_add(1, Ordering::Relaxed);
                tracing::warn!(
                    "disk cache: cannot build the whole-object file of s3://{}/{} under {}: {e}",
                    obj.bucket,
                    obj.key,
                    self.dir.join(OBJECTS_DIR).display()
                );
                None
            }
        }
    }

    /// Builds whole-object files as objects are completed on disk (on while passthrough
    /// is: without it nobody opens them).
    pub fn set_whole_files(&self, on: bool) {
        self.writes.set(on);
    }

    /// Counts a write of block `index` of `object` (blocks of `block_size` bytes) about to
    /// be handed to [`DiskCache::write`]: the object's whole-object file waits for it.
    pub fn begin_write(&self, object: &ObjectRef, index: u64, block_size: u64) -> PendingWrite {
        self.writes.begin(object, index, block_size)
    }

    /// Writes a block counted by [`DiskCache::begin_write`]. With whole-object files on
    /// (passthrough), writing an object's last block also builds its whole-object file when
    /// every block is on disk, so the next open (often in a later mount) is served by
    /// passthrough at once instead of copying the object first.
    pub fn write(&self, write: PendingWrite, data: &[u8]) {
        let version = write.object.disk_version();
        self.store(&version.block(write.block_size, write.index), data);
        if self.writes.end(&write) {
            let built = self.whole_object(&version, write.block_size).is_some();
            tracing::debug!(key = %write.object.key, built, "object on disk: whole-object file");
            self.writes.tried(&write.object, built);
        }
    }
}

/// Reads a block file; `Ok(None)` when it does not hold exactly this block, intact.
fn read_checked(
    file: &mut File,
    block: &DiskBlock<'_>,
    expected_len: u64,
) -> io::Result<Option<Bytes>> {
    let file_len = file.metadata()?.len();
    let mut raw = Vec::with_capacity(file_len as usize);
    file.read_to_end(&mut raw)?;
    Ok(
        block_file::data_range(&raw, block, expected_len)
            .map(|range| Bytes::from(raw).slice(range)),
    )
}

#[cfg(test)]
mod tests;
