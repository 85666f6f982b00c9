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
//! buckets. Its size is bounded: an in-memory index, rebuilt at start from the files'
//! modification times, evicts least recently used files once the total passes the bound.
//! Other processes sharing the folder each keep their own index; a file one of them deleted
//! is simply a miss for the others.
//!
//! Objects read whole may also get a whole-object file (for FUSE passthrough) in the
//! `objects/` subfolder, counted in the same bound: see `whole.rs`.
//!
//! All methods do blocking file I/O: call them from `spawn_blocking`.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Write};
use std::os::unix::fs::{MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime};

use bytes::Bytes;
use lru::LruCache;
use md5::{Digest, Md5};
use parking_lot::Mutex;

mod whole;
pub use whole::{ObjectVersion, OBJECTS_DIR};

/// First bytes of every block file; the digit is the format version.
const MAGIC: &[u8; 8] = b"MASTFSB1";
/// Temporary files older than this are leftovers of a crash and are removed at start.
const STALE_TEMP_AGE: Duration = Duration::from_secs(3600);

/// The identity of one cached block.
#[derive(Clone, Copy, Debug)]
pub struct DiskBlock<'a> {
    pub bucket: &'a str,
    pub key: &'a str,
    pub etag: &'a str,
    pub block_size: u64,
    pub index: u64,
}

impl DiskBlock<'_> {
    /// `ab/abcdef….<index>`: the file of this block, relative to the cache folder.
    fn relative_path(&self) -> PathBuf {
        let hex = digest_hex([self.bucket, self.key, self.etag], self.block_size);
        PathBuf::from(&hex[..2]).join(format!("{hex}.{}", self.index))
    }

    fn header(&self, data: &[u8]) -> Vec<u8> {
        identity_header(
            MAGIC,
            [self.bucket, self.key, self.etag],
            &[self.block_size, self.index, data.len() as u64],
            crc32fast::hash(data),
        )
    }
}

/// Hex MD5 of the identity `parts` (each NUL-terminated) and `number`: file names.
fn digest_hex(parts: [&str; 3], number: u64) -> String {
    let mut digest = Md5::new();
    for part in parts {
        digest.update(part.as_bytes());
        digest.update([0]);
    }
    digest.update(number.to_le_bytes());
    digest
        .finalize()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// `magic`, the length-prefixed `parts`, the `numbers` and the `crc`, little-endian: the
/// identity a cache file carries (block files in front of their bytes, whole-object files
/// beside them).
fn identity_header(magic: &[u8; 8], parts: [&str; 3], numbers: &[u64], crc: u32) -> Vec<u8> {
    let text: usize = parts.iter().map(|p| p.len() + 4).sum();
    let mut h = Vec::with_capacity(magic.len() + text + 8 * numbers.len() + 4);
    h.extend_from_slice(magic);
    for part in parts {
        h.extend_from_slice(&(part.len() as u32).to_le_bytes());
        h.extend_from_slice(part.as_bytes());
    }
    for n in numbers {
        h.extend_from_slice(&n.to_le_bytes());
    }
    h.extend_from_slice(&crc.to_le_bytes());
    h
}

/// Counters of the disk cache, for stats and tests.
#[derive(Debug, Default)]
pub struct DiskCounters {
    pub hits: AtomicU64,
    pub misses: AtomicU64,
    pub writes: AtomicU64,
    pub evictions: AtomicU64,
    /// Files that failed their check (wrong identity, length or checksum) and were removed.
    pub rejected: AtomicU64,
    /// Reads or writes that failed with an I/O error (disk full, permissions...).
    pub errors: AtomicU64,
    pub bytes_read: AtomicU64,
    pub bytes_written: AtomicU64,
    /// Whole-object files built from blocks (for passthrough; see `whole.rs`).
    pub whole_built: AtomicU64,
    /// Whole-object files found valid and handed out.
    pub whole_reused: AtomicU64,
}

struct Index {
    /// Relative path → file size, least recently used first.
    files: LruCache<PathBuf, u64>,
    bytes: u64,
}

/// A bounded, persistent block store in one folder.
pub struct DiskCache {
    dir: PathBuf,
    capacity: u64,
    index: Mutex<Index>,
    pub counters: DiskCounters,
}

impl DiskCache {
    /// Opens (creating it owner-only) the cache folder `dir`, holding at most `capacity`
    /// bytes. Refuses a folder owned by another user or writable by others.
    pub fn open(dir: &Path, capacity: u64) -> io::Result<DiskCache> {
        crate::setup::create_private_dir(dir).map_err(|e| annotate(dir, "cannot create", e))?;
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
        if meta.permissions().mode() & 0o077 != 0 {
            fs::set_permissions(dir, fs::Permissions::from_mode(0o700))
                .map_err(|e| annotate(dir, "cannot make owner-only", e))?;
        }
        let cache = DiskCache {
            dir: dir.to_path_buf(),
            capacity,
            index: Mutex::new(Index {
                files: LruCache::unbounded(),
                bytes: 0,
            }),
            counters: DiskCounters::default(),
        };
        cache.scan();
        Ok(cache)
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    pub fn capacity(&self) -> u64 {
        self.capacity
    }

    /// Bytes and number of block files this process knows of.
    pub fn usage(&self) -> (u64, usize) {
        let index = self.index.lock();
        (index.bytes, index.files.len())
    }

    /// The block's bytes if a valid copy of exactly `expected_len` bytes is on disk.
    pub fn load(&self, block: &DiskBlock<'_>, expected_len: u64) -> Option<Bytes> {
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
        let relative = block.relative_path();
        let header = block.header(data);
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
            whole::remove_companion(&self.dir, &relative);
        }
        index.bytes = 0;
    }

    fn write_file(&self, relative: &Path, header: &[u8], data: &[u8]) -> io::Result<()> {
        let path = self.dir.join(relative);
        if let Some(parent) = path.parent() {
            crate::setup::create_private_dir(parent)?;
        }
        let temp = path.with_extension(format!(
            "tmp{}.{}",
            std::process::id(),
            TEMP_SEQ.fetch_add(1, Ordering::Relaxed)
        ));
        let written = (|| {
            let mut file = OpenOptions::new()
                .write(true)
                .create_new(true)
                .mode(0o600)
                .open(&temp)?;
            file.write_all(header)?;
            file.write_all(data)?;
            fs::rename(&temp, &path)
        })();
        if written.is_err() {
            let _ = fs::remove_file(&temp);
        }
        written
    }

    /// Records a use of a file (adding it if another process wrote it) and evicts.
    fn touch(&self, relative: PathBuf, size: u64) {
        let mut index = self.index.lock();
        if let Some(old) = index.files.put(relative, size) {
            index.bytes -= old;
        }
        index.bytes += size;
        self.evict_locked(&mut index);
    }

    fn forget(&self, relative: &Path) {
        let mut index = self.index.lock();
        if let Some(size) = index.files.pop(relative) {
            index.bytes -= size;
        }
    }

    fn remove(&self, relative: &Path) {
        self.forget(relative);
        let _ = fs::remove_file(self.dir.join(relative));
    }

    fn evict_locked(&self, index: &mut Index) {
        while index.bytes > self.capacity {
            let Some((relative, size)) = index.files.pop_lru() else {
                break;
            };
            index.bytes -= size;
            self.counters.evictions.fetch_add(1, Ordering::Relaxed);
            whole::remove_companion(&self.dir, &relative);
            if let Err(e) = fs::remove_file(self.dir.join(&relative)) {
                if e.kind() != io::ErrorKind::NotFound {
                    tracing::warn!(
                        "disk cache: cannot evict {}: {e}",
                        self.dir.join(&relative).display()
                    );
                }
            }
        }
    }

    /// Rebuilds the index from the folder: oldest files become the first to evict;
    /// leftover temporary files of crashed writers are removed.
    fn scan(&self) {
        let mut found: Vec<(SystemTime, PathBuf, u64)> = Vec::new();
        let now = SystemTime::now();
        let Ok(fans) = fs::read_dir(&self.dir) else {
            return;
        };
        for fan in fans.flatten() {
            let fan_name = fan.file_name();
            if fan_name.len() != 2 || !fan.file_type().is_ok_and(|t| t.is_dir()) {
                continue;
            }
            let Ok(entries) = fs::read_dir(fan.path()) else {
                continue;
            };
            for entry in entries.flatten() {
                let Ok(meta) = entry.metadata() else { continue };
                if !meta.is_file() {
                    continue;
                }
                let name = entry.file_name();
                let modified = meta.modified().unwrap_or(SystemTime::UNIX_EPOCH);
                if name.to_string_lossy().contains(".tmp") {
                    let age = now.duration_since(modified).unwrap_or_default();
                    if age > STALE_TEMP_AGE {
                        let _ = fs::remove_file(entry.path());
                    }
                    continue;
                }
                found.push((modified, Path::new(&fan_name).join(&name), meta.len()));
            }
        }
        found.extend(whole::scan_objects(&self.dir));
        found.sort();
        let mut index = self.index.lock();
        for (_, relative, size) in found {
            index.bytes += size;
            index.files.put(relative, size);
        }
        self.evict_locked(&mut index);
    }
}

static TEMP_SEQ: AtomicU64 = AtomicU64::new(0);

fn annotate(path: &Path, what: &str, e: io::Error) -> io::Error {
    io::Error::new(
        e.kind(),
        format!("{what} cache folder {}: {e}", path.display()),
    )
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
    let mut cursor = raw.as_slice();
    let mut take = |n: usize| -> Option<&[u8]> {
        let (head, rest) = (cursor.get(..n)?, cursor.get(n..)?);
        cursor = rest;
        Some(head)
    };
    let u32_of = |b: &[u8]| u32::from_le_bytes(b.try_into().unwrap_or([0; 4]));
    let u64_of = |b: &[u8]| u64::from_le_bytes(b.try_into().unwrap_or([0; 8]));
    let parsed = (|| {
        if take(MAGIC.len())? != MAGIC {
            return None;
        }
        for part in [block.bucket, block.key, block.etag] {
            let len = u32_of(take(4)?) as usize;
            if take(len)? != part.as_bytes() {
                return None;
            }
        }
        if u64_of(take(8)?) != block.block_size || u64_of(take(8)?) != block.index {
            return None;
        }
        let data_len = u64_of(take(8)?);
        let crc = u32_of(take(4)?);
        Some((data_len, crc))
    })();
    let Some((data_len, crc)) = parsed else {
        return Ok(None);
    };
    let header_len = raw.len() - cursor.len();
    if data_len != expected_len || cursor.len() as u64 != data_len || crc32fast::hash(cursor) != crc
    {
        return Ok(None);
    }
    let mut data = Bytes::from(raw);
    data = data.slice(header_len..);
    Ok(Some(data))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn block(index: u64) -> DiskBlock<'static> {
        DiskBlock {
            bucket: "stpubdata",
            key: "hst/public/jbev/jbeveo010/jbeveo010_drz.fits",
            etag: "\"0123abcd\"",
            block_size: 1024,
            index,
        }
    }

    fn bytes_of(seed: u8, len: usize) -> Vec<u8> {
        (0..len)
            .map(|i| (i as u8).wrapping_mul(31) ^ seed)
            .collect()
    }

    #[test]
    fn a_stored_block_is_found_again_after_reopening() {
        let dir = tempfile::tempdir().unwrap();
        let data = bytes_of(7, 1024);
        {
            let cache = DiskCache::open(dir.path(), 1 << 20).unwrap();
            cache.store(&block(3), &data);
        }
        let cache = DiskCache::open(dir.path(), 1 << 20).unwrap();
        let (bytes, files) = cache.usage();
        assert_eq!(files, 1, "files indexed after reopening");
        assert!(bytes > 1024, "indexed bytes include the header: {bytes}");
        let got = cache.load(&block(3), 1024).expect("block 3 after reopen");
        assert_eq!(got.as_ref(), data.as_slice(), "block bytes differ");
        assert!(
            cache.load(&block(4), 1024).is_none(),
            "block 4 was never stored"
        );
    }

    #[test]
    fn another_etag_or_block_size_is_a_miss() {
        let dir = tempfile::tempdir().unwrap();
        let cache = DiskCache::open(dir.path(), 1 << 20).unwrap();
        cache.store(&block(0), &bytes_of(1, 1024));
        let other_version = DiskBlock {
            etag: "\"ffff\"",
            ..block(0)
        };
        assert!(cache.load(&other_version, 1024).is_none());
        let other_size = DiskBlock {
            block_size: 2048,
            ..block(0)
        };
        assert!(cache.load(&other_size, 1024).is_none());
        assert!(cache.load(&block(0), 1024).is_some());
    }

    #[test]
    fn damaged_or_short_files_are_rejected_and_removed() {
        let dir = tempfile::tempdir().unwrap();
        let cache = DiskCache::open(dir.path(), 1 << 20).unwrap();
        cache.store(&block(0), &bytes_of(2, 1024));
        let path = dir.path().join(block(0).relative_path());
        let mut raw = fs::read(&path).unwrap();
        let last = raw.len() - 1;
        raw[last] ^= 0xff;
        fs::write(&path, &raw).unwrap();
        assert!(
            cache.load(&block(0), 1024).is_none(),
            "a flipped byte was served"
        );
        assert!(!path.exists(), "the damaged file was kept");
        assert_eq!(cache.counters.rejected.load(Ordering::Relaxed), 1);

        cache.store(&block(1), &bytes_of(3, 1024));
        assert!(
            cache.load(&block(1), 2048).is_none(),
            "a block shorter than the object says was served"
        );
    }

    #[test]
    fn the_size_bound_evicts_least_recently_used_files() {
        let dir = tempfile::tempdir().unwrap();
        // Room for three blocks with their headers, not four.
        let cache = DiskCache::open(dir.path(), 3 * 1200).unwrap();
        for i in 0..3 {
            cache.store(&block(i), &bytes_of(i as u8, 1024));
        }
        assert!(
            cache.load(&block(0), 1024).is_some(),
            "block 0 before eviction"
        );
        cache.store(&block(3), &bytes_of(3, 1024));
        let (bytes, files) = cache.usage();
        assert_eq!(files, 3, "files after storing a fourth block");
        assert!(bytes <= 3 * 1200, "usage {bytes} above the bound");
        assert!(
            cache.load(&block(1), 1024).is_none(),
            "block 1 was least recently used and should be gone"
        );
        assert!(
            cache.load(&block(0), 1024).is_some(),
            "block 0 was used last"
        );
    }

    #[test]
    fn the_folder_and_files_are_owner_only() {
        let dir = tempfile::tempdir().unwrap();
        let folder = dir.path().join("blocks");
        fs::create_dir(&folder).unwrap();
        fs::set_permissions(&folder, fs::Permissions::from_mode(0o755)).unwrap();
        let cache = DiskCache::open(&folder, 1 << 20).unwrap();
        cache.store(&block(0), &bytes_of(0, 1024));
        let mode = |p: &Path| fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(&folder), 0o700, "cache folder mode");
        let file = folder.join(block(0).relative_path());
        assert_eq!(mode(&file), 0o600, "block file mode");
    }

    #[test]
    fn stale_temporary_files_are_removed_at_start() {
        let dir = tempfile::tempdir().unwrap();
        let fan = dir.path().join("ab");
        fs::create_dir_all(&fan).unwrap();
        let temp = fan.join("abcd.0.tmp99.1");
        fs::write(&temp, b"partial").unwrap();
        let old = SystemTime::now() - Duration::from_secs(2 * 3600);
        File::options()
            .write(true)
            .open(&temp)
            .unwrap()
            .set_modified(old)
            .unwrap();
        let cache = DiskCache::open(dir.path(), 1 << 20).unwrap();
        assert!(!temp.exists(), "a two-hour-old temporary file was kept");
        assert_eq!(cache.usage().1, 0, "temporary files are not blocks");
    }
}
