//! The disk cache's folder: the names of its files, the in-memory index of what it holds
//! (least recently used first) and the eviction that keeps it within its size bound. Block
//! files and whole-object files are both kept here; `disk.rs` reads and writes them,
//! `whole.rs` builds whole-object files, `survey.rs` takes stock at start.

use std::fs::{self, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use lru::LruCache;
use md5::{Digest, Md5};
use parking_lot::Mutex;

use super::writing::WholeWrites;
use crate::cache::block_file::DiskBlock;

/// Temporary files older than this are leftovers of a crash and are removed at start.
pub const STALE_TEMP_AGE: Duration = Duration::from_secs(3600);

/// The subfolder of the cache folder that holds persisted listings (`--persist-metadata`
/// with the disk cache on): not blocks, and not foreign either.
pub const METADATA_DIR: &str = "metadata";

/// The subfolder of the cache folder holding whole-object files.
pub const OBJECTS_DIR: &str = "objects";
/// The extension of whole-object files, and of the identity file beside each.
pub const OBJECT_EXT: &str = "obj";
pub const ID_EXT: &str = "id";

pub static TEMP_SEQ: AtomicU64 = AtomicU64::new(0);

impl DiskBlock<'_> {
    /// `ab/abcdef….<index>`: the file of this block, relative to the cache folder.
    pub(crate) fn relative_path(&self) -> PathBuf {
        let hex = digest_hex([self.bucket, self.key, self.etag], self.block_size);
        PathBuf::from(&hex[..2]).join(format!("{hex}.{}", self.index))
    }
}

/// `objects/<digest>.obj` of a version: named without its size, so that a block read can
/// find it (the identity file holds the size).
pub fn whole_path(bucket: &str, key: &str, etag: &str) -> PathBuf {
    let hex = digest_hex([bucket, key, etag], 0);
    Path::new(OBJECTS_DIR).join(format!("{hex}.{OBJECT_EXT}"))
}

/// Removes the identity file that goes with an evicted or removed `objects/<digest>.obj`.
pub fn remove_companion(dir: &Path, relative: &Path) {
    if relative.starts_with(OBJECTS_DIR) && relative.extension().is_some_and(|e| e == OBJECT_EXT) {
        let _ = fs::remove_file(dir.join(relative).with_extension(ID_EXT));
    }
}

/// Hex MD5 of the identity `parts` (each NUL-terminated) and `number`: file names.
pub fn digest_hex(parts: [&str; 3], number: u64) -> String {
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
pub fn identity_header(magic: &[u8; 8], parts: [&str; 3], numbers: &[u64], crc: u32) -> Vec<u8> {
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

pub struct Index {
    /// Relative path → file size, least recently used first.
    pub files: LruCache<PathBuf, u64>,
    pub bytes: u64,
}

/// A bounded, persistent block store in one folder.
pub struct DiskCache {
    pub(super) dir: PathBuf,
    pub(super) capacity: u64,
    pub(super) index: Mutex<Index>,
    pub counters: DiskCounters,
    /// Disk writes under way per object, for whole-object files (see `writing.rs`).
    pub(super) writes: WholeWrites,
}

impl DiskCache {
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

    pub(super) fn write_file(&self, relative: &Path, header: &[u8], data: &[u8]) -> io::Result<()> {
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
    pub(super) fn touch(&self, relative: PathBuf, size: u64) {
        let mut index = self.index.lock();
        if let Some(old) = index.files.put(relative, size) {
            index.bytes -= old;
        }
        index.bytes += size;
        self.evict_locked(&mut index);
    }

    pub(super) fn forget(&self, relative: &Path) {
        let mut index = self.index.lock();
        if let Some(size) = index.files.pop(relative) {
            index.bytes -= size;
        }
    }

    pub(super) fn remove(&self, relative: &Path) {
        self.forget(relative);
        let _ = fs::remove_file(self.dir.join(relative));
    }

    pub(super) fn evict_locked(&self, index: &mut Index) {
        while index.bytes > self.capacity {
            let Some((relative, size)) = index.files.pop_lru() else {
                break;
            };
            index.bytes -= size;
            self.counters.evictions.fetch_add(1, Ordering::Relaxed);
            remove_companion(&self.dir, &relative);
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
}

pub fn annotate(path: &Path, what: &str, e: io::Error) -> io::Error {
    io::Error::new(
        e.kind(),
        format!("{what} cache folder {}: {e}", path.display()),
    )
}
