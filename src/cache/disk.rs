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
pub use super::key::ObjectVersion;
pub use whole::OBJECTS_DIR;
/// The subfolder of the cache folder that holds persisted listings (`--persist-metadata`
/// with the disk cache on): not blocks, and not foreign either.
pub const METADATA_DIR: &str = "metadata";

/// Temporary files older than this are leftovers of a crash and are removed at start.
const STALE_TEMP_AGE: Duration = Duration::from_secs(3600);

pub use super::block_file;

pub use block_file::DiskBlock;
use block_file::MAGIC;

impl DiskBlock<'_> {
    /// `ab/abcdef….<index>`: the file of this block, relative to the cache folder.
    fn relative_path(&self) -> PathBuf {
        let hex = digest_hex([self.bucket, self.key, self.etag], self.block_size);
        PathBuf::from(&hex[..2]).join(format!("{hex}.{}", self.index))
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
            whole::remove_companion(&self.dir, &relative);
        }
        index.bytes = 0;
    }

    fn write_file(&self, relative: &Path, header: &[u8], data: &[u8]) -> io::Result<()> {
        let path = self.dir.join(relative);
        if let Some(parent) = path.parent() {
            crate::paths::create_private_dir(parent)?;
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

    /// What the folder holds, for the index. Only the cache's own files
    /// (block files with its header, its temporary files, in its two-hex-digit subfolders)
    /// are counted or removed; anything else makes the folder someone else's, refused.
    fn survey(&self) -> io::Result<Survey> {
        let mut found: Vec<(SystemTime, PathBuf, u64)> = Vec::new();
        let mut stale_temps = Vec::new();
        let mut fresh_temps = 0;
        let now = SystemTime::now();
        let foreign = |path: &Path| {
            io::Error::new(
                io::ErrorKind::AlreadyExists,
                format!(
                    "{} holds {}, which is not a mastfs cache file: the cache folder must be \
                     one mastfs owns; give an empty or new folder with --cache-dir",
                    self.dir.display(),
                    path.strip_prefix(&self.dir).unwrap_or(path).display()
                ),
            )
        };
        let fans = fs::read_dir(&self.dir).map_err(|e| annotate(&self.dir, "cannot read", e))?;
        for fan in fans {
            let fan = fan?;
            let fan_name = fan.file_name();
            let is_dir = fan.file_type().is_ok_and(|t| t.is_dir());
            // Our own subfolders: whole-object files (scanned below) and the persisted
            // listings of --persist-metadata.
            if is_dir && (fan_name == OBJECTS_DIR || fan_name == METADATA_DIR) {
                continue;
            }
            let is_fan = fan_name.to_str().is_some_and(|n| is_hex(n, 2)) && is_dir;
            if !is_fan {
                return Err(foreign(&fan.path()));
            }
            for entry in fs::read_dir(fan.path())? {
                let entry = entry?;
                let meta = entry.metadata()?;
                let name = entry.file_name();
                let name = name.to_str().unwrap_or("");
                let modified = meta.modified().unwrap_or(SystemTime::UNIX_EPOCH);
                let ours = meta.is_file() && name.starts_with(fan_name.to_str().unwrap_or("-"));
                if ours && is_temp_name(name) {
                    let age = now.duration_since(modified).unwrap_or_default();
                    if age > STALE_TEMP_AGE {
                        stale_temps.push(entry.path());
                    } else {
                        fresh_temps += 1;
                    }
                    continue;
                }
                if !(ours && is_block_name(name) && has_magic(&entry.path())) {
                    return Err(foreign(&entry.path()));
                }
                found.push((modified, Path::new(&fan_name).join(name), meta.len()));
            }
        }
        found.extend(whole::scan_objects(&self.dir));
        found.sort();
        Ok(Survey {
            blocks: found,
            stale_temps,
            fresh_temps,
        })
    }

    /// Takes what [`DiskCache::survey`] found into the index (oldest first to evict) and
    /// removes the leftovers of crashed writers.
    fn adopt(&self, survey: Survey) {
        for temp in survey.stale_temps {
            let _ = fs::remove_file(temp);
        }
        let mut index = self.index.lock();
        for (_, relative, size) in survey.blocks {
            index.bytes += size;
            index.files.put(relative, size);
        }
        self.evict_locked(&mut index);
    }
}

/// The cache's own files found in its folder at start.
struct Survey {
    /// (last used, relative path, size) of each block file, oldest first.
    blocks: Vec<(SystemTime, PathBuf, u64)>,
    stale_temps: Vec<PathBuf>,
    fresh_temps: usize,
}

impl Survey {
    fn is_empty(&self) -> bool {
        self.blocks.is_empty() && self.stale_temps.is_empty() && self.fresh_temps == 0
    }
}

fn is_hex(s: &str, len: usize) -> bool {
    s.len() == len
        && s.bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

/// `<32 hex digits>.<index>`: what [`DiskBlock::relative_path`] names a block file.
fn is_block_name(name: &str) -> bool {
    name.split_once('.').is_some_and(|(digest, index)| {
        is_hex(digest, 32) && !index.is_empty() && index.bytes().all(|b| b.is_ascii_digit())
    })
}

/// `<32 hex digits>.tmp<pid>.<seq>`: a block file being written.
fn is_temp_name(name: &str) -> bool {
    let Some((digest, rest)) = name.split_once(".tmp") else {
        return false;
    };
    let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    is_hex(digest, 32)
        && rest
            .split_once('.')
            .is_some_and(|(p, q)| digits(p) && digits(q))
}

/// Whether the file starts with the cache's header.
fn has_magic(path: &Path) -> bool {
    let mut start = [0u8; MAGIC.len()];
    File::open(path)
        .and_then(|mut f| f.read_exact(&mut start))
        .is_ok_and(|()| &start == MAGIC)
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
    Ok(
        block_file::data_range(&raw, block, expected_len)
            .map(|range| Bytes::from(raw).slice(range)),
    )
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
    fn blocks_of_objects_without_an_etag_are_never_kept() {
        let dir = tempfile::tempdir().unwrap();
        let cache = DiskCache::open(dir.path(), 1 << 20).unwrap();
        let unversioned = DiskBlock {
            etag: "",
            ..block(0)
        };
        cache.store(&unversioned, &bytes_of(1, 1024));
        assert_eq!(cache.usage().1, 0, "a block without an ETag was written");
        assert!(
            cache.load(&unversioned, 1024).is_none(),
            "a block without an ETag was served"
        );
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

    fn age(path: &Path, by: Duration) {
        File::options()
            .write(true)
            .open(path)
            .unwrap()
            .set_modified(SystemTime::now() - by)
            .unwrap();
    }

    #[test]
    fn a_folder_holding_other_files_is_refused_and_left_alone() {
        let two_hours = Duration::from_secs(2 * 3600);
        let block_name = block(0).relative_path();
        let fan = block_name.parent().unwrap().to_path_buf();
        for (what, foreign) in [
            ("a file at the top", PathBuf::from("notes.txt")),
            (
                "a file in a two-character folder",
                PathBuf::from("ab/thesis.tex"),
            ),
            ("an old *.tmp* file", PathBuf::from("ab/data.tmp.fits")),
            ("a block-named file without the header", block_name.clone()),
            ("a folder at the top", PathBuf::from("photos/x.jpg")),
        ] {
            // A foreign folder is named itself, not what it holds.
            let named = if foreign.starts_with("photos") {
                PathBuf::from("photos")
            } else {
                foreign.clone()
            };
            let dir = tempfile::tempdir().unwrap();
            let path = dir.path().join(&foreign);
            fs::create_dir_all(path.parent().unwrap()).unwrap();
            fs::write(&path, b"the user's own bytes").unwrap();
            age(&path, two_hours);
            fs::create_dir_all(dir.path().join(&fan)).unwrap();
            let opened = DiskCache::open(dir.path(), 16);
            let err = match opened {
                Ok(_) => panic!(
                    "{what}: a cache folder holding {} was accepted",
                    foreign.display()
                ),
                Err(e) => e.to_string(),
            };
            assert!(
                err.contains(&format!("holds {},", named.display())) && err.contains("--cache-dir"),
                "{what}: the refusal should name the file and say what to do: {err}"
            );
            assert_eq!(
                fs::read(&path).unwrap(),
                b"the user's own bytes",
                "{what}: the file was touched"
            );
        }
    }

    #[test]
    fn an_existing_folder_open_to_others_is_refused_not_chmodded() {
        let dir = tempfile::tempdir().unwrap();
        let folder = dir.path().join("shared");
        {
            let cache = DiskCache::open(&folder, 1 << 20).unwrap();
            cache.store(&block(0), &bytes_of(0, 1024));
        }
        fs::set_permissions(&folder, fs::Permissions::from_mode(0o775)).unwrap();
        let err = DiskCache::open(&folder, 1 << 20)
            .map(|_| "accepted".to_string())
            .unwrap_or_else(|e| e.to_string());
        assert!(err.contains("chmod 700"), "refusal says what to do: {err}");
        let mode = fs::metadata(&folder).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o775, "the folder's mode was changed");
    }

    #[test]
    fn stale_temporary_files_are_removed_at_start() {
        let dir = tempfile::tempdir().unwrap();
        let relative = block(0).relative_path();
        let fan = dir.path().join(relative.parent().unwrap());
        fs::create_dir_all(&fan).unwrap();
        fs::set_permissions(dir.path(), fs::Permissions::from_mode(0o700)).unwrap();
        let temp = dir.path().join(relative.with_extension("tmp99.1"));
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
