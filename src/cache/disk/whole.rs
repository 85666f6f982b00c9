//! Whole-object files: one plain local file holding exactly the bytes of one object version,
//! for FUSE passthrough (the kernel reads it directly, offset for offset, so it cannot carry
//! a header the way block files do).
//!
//! They live in the `objects/` subfolder of the disk cache, in pairs named by a digest of
//! (bucket, key, ETag):
//! - `<digest>.obj`: the object's bytes, nothing else;
//! - `<digest>.id`: its identity in the cache's own header style (magic `MASTFSO1`, bucket,
//!   key, ETag, size, CRC-32 of the whole object), then the block size it was built with
//!   and the CRC-32 of each block. It is written last, so it also marks the pair complete.
//!
//! A pair is built only from blocks that are all on disk and pass their own checks (identity,
//! length, CRC-32), written to temporary names, synced and renamed into place; it is never
//! modified afterwards. The object's block files are then removed: a block read finds its
//! bytes in the whole file, checked against the block's recorded CRC-32, so the object is
//! kept once. A later open checks the identity file against the version it pinned and the
//! object file's length (re-reading gigabytes to check a CRC on every open would cost what
//! passthrough saves). A new ETag is another digest, so a replaced object never finds an
//! old file. Pairs are counted in the disk cache's size bound as one entry (the `.obj`
//! path, both sizes) and evicted with it.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering;
use std::time::SystemTime;

use bytes::Bytes;
use parking_lot::Mutex;

use super::{digest_hex, identity_header, DiskBlock, DiskCache, STALE_TEMP_AGE, TEMP_SEQ};
use crate::cache::key::ObjectVersion;

/// The subfolder of the cache folder holding whole-object files.
pub const OBJECTS_DIR: &str = "objects";
/// First bytes of every identity file; the digit is the format version.
const ID_MAGIC: &[u8; 8] = b"MASTFSO1";
const OBJECT_EXT: &str = "obj";
const ID_EXT: &str = "id";

impl ObjectVersion<'_> {
    /// `objects/<digest>.obj`, relative to the cache folder.
    fn relative_path(&self) -> PathBuf {
        whole_path(self.bucket, self.key, self.etag)
    }

    /// What the identity file starts with (`crc`: of the whole object); the block size and
    /// the CRC-32 of each block follow it.
    fn identity(&self, crc: u32) -> Vec<u8> {
        identity_header(
            ID_MAGIC,
            [self.bucket, self.key, self.etag],
            &[self.size],
            crc,
        )
    }
}

/// `objects/<digest>.obj` of a version: named without its size, so that a block read can
/// find it (the identity file holds the size).
fn whole_path(bucket: &str, key: &str, etag: &str) -> PathBuf {
    let hex = digest_hex([bucket, key, etag], 0);
    Path::new(OBJECTS_DIR).join(format!("{hex}.{OBJECT_EXT}"))
}

/// An identity file, read.
struct Identity {
    size: u64,
    block_size: u64,
    /// CRC-32 of each block, little-endian.
    block_crcs: Vec<u8>,
    /// Bytes of the identity file.
    len: u64,
}

impl Identity {
    /// The identity file at `id_path`, if it names this (bucket, key, ETag) and is whole.
    fn read(id_path: &Path, parts: [&str; 3]) -> Option<Identity> {
        let raw = fs::read(id_path).ok()?;
        let prefix = identity_header(ID_MAGIC, parts, &[], 0);
        let prefix = &prefix[..prefix.len() - 4];
        let rest = raw.strip_prefix(prefix)?;
        let u64_at = |at: usize| Some(u64::from_le_bytes(rest.get(at..at + 8)?.try_into().ok()?));
        let (size, block_size) = (u64_at(0)?, u64_at(12)?);
        let block_crcs = rest.get(20..)?;
        let blocks = size.checked_div(block_size)? + u64::from(size % block_size != 0);
        (block_crcs.len() as u64 == 4 * blocks).then(|| Identity {
            size,
            block_size,
            block_crcs: block_crcs.to_vec(),
            len: raw.len() as u64,
        })
    }

    fn block_crc(&self, index: u64) -> Option<u32> {
        let at = usize::try_from(index).ok()?.checked_mul(4)?;
        Some(u32::from_le_bytes(
            self.block_crcs.get(at..at + 4)?.try_into().ok()?,
        ))
    }
}

/// Serializes building: two opens of one object build it once, and building (disk-bound)
/// does not compete with itself.
static BUILDING: Mutex<()> = Mutex::new(());

impl DiskCache {
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
        match self.build_whole(obj, &relative, block_size) {
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

    /// The whole-object file of `obj` if it is already built (nothing is built here).
    pub fn built_whole_object(&self, obj: &ObjectVersion<'_>) -> Option<File> {
        if obj.size == 0 {
            return None;
        }
        self.open_whole(obj, &obj.relative_path())
    }

    /// The built file of `obj`, if its identity file names exactly this version and the
    /// object file has its length.
    fn open_whole(&self, obj: &ObjectVersion<'_>, relative: &Path) -> Option<File> {
        let path = self.dir.join(relative);
        let identity = Identity::read(
            &path.with_extension(ID_EXT),
            [obj.bucket, obj.key, obj.etag],
        )?;
        if identity.size != obj.size {
            return None;
        }
        let file = File::open(&path).ok()?;
        let meta = file.metadata().ok()?;
        if !meta.is_file() || meta.len() != obj.size {
            return None;
        }
        self.touch(relative.to_path_buf(), meta.len() + identity.len);
        self.counters.whole_reused.fetch_add(1, Ordering::Relaxed);
        Some(file)
    }

    /// True when a whole-object file holds `block` (same version and block size); its
    /// bytes are checked by [`DiskCache::load_from_whole`].
    pub(super) fn whole_has(&self, block: &DiskBlock<'_>) -> bool {
        let id_path = self
            .dir
            .join(whole_path(block.bucket, block.key, block.etag))
            .with_extension(ID_EXT);
        Identity::read(&id_path, [block.bucket, block.key, block.etag]).is_some_and(|id| {
            id.block_size == block.block_size && block.index * id.block_size < id.size
        })
    }

    /// `block` read from its object's whole-object file, checked against the block's
    /// CRC-32 recorded when the file was built (a file that fails is removed).
    pub(super) fn load_from_whole(
        &self,
        block: &DiskBlock<'_>,
        expected_len: u64,
    ) -> Option<Bytes> {
        use std::os::unix::fs::FileExt;
        let relative = whole_path(block.bucket, block.key, block.etag);
        let path = self.dir.join(&relative);
        let identity = Identity::read(
            &path.with_extension(ID_EXT),
            [block.bucket, block.key, block.etag],
        )?;
        let start = block.index.checked_mul(identity.block_size)?;
        let len = identity.block_size.min(identity.size.checked_sub(start)?);
        if identity.block_size != block.block_size || len != expected_len || len == 0 {
            return None;
        }
        let crc = identity.block_crc(block.index)?;
        let mut data = vec![0u8; usize::try_from(len).ok()?];
        let read = File::open(&path).and_then(|f| f.read_exact_at(&mut data, start));
        if read.is_err() || crc32fast::hash(&data) != crc {
            tracing::debug!(
                "disk cache: {} does not hold block {} of s3://{}/{}; removed",
                path.display(),
                block.index,
                block.bucket,
                block.key
            );
            self.counters.rejected.fetch_add(1, Ordering::Relaxed);
            self.remove(&relative);
            remove_companion(&self.dir, &relative);
            return None;
        }
        self.touch(relative, identity.size + identity.len);
        Some(Bytes::from(data))
    }

    /// Copies the blocks of `obj` into its whole-object file; `Ok(false)` when a block
    /// turned out missing or damaged.
    fn build_whole(
        &self,
        obj: &ObjectVersion<'_>,
        relative: &Path,
        block_size: u64,
    ) -> io::Result<bool> {
        let path = self.dir.join(relative);
        if let Some(parent) = path.parent() {
            crate::paths::create_private_dir(parent)?;
        }
        let temp = temp_name(&path);
        let mut out = private_file(&temp)?;
        let mut crc = crc32fast::Hasher::new();
        let mut block_crcs = Vec::new();
        let blocks = obj.size.div_ceil(block_size);
        for index in 0..blocks {
            let len = block_size.min(obj.size - index * block_size);
            let Some(data) = self.load(&obj.block(block_size, index), len) else {
                drop(out);
                let _ = fs::remove_file(&temp);
                return Ok(false);
            };
            crc.update(&data);
            block_crcs.extend_from_slice(&crc32fast::hash(&data).to_le_bytes());
            if let Err(e) = out.write_all(&data) {
                let _ = fs::remove_file(&temp);
                return Err(e);
            }
        }
        let mut identity = obj.identity(crc.finalize());
        identity.extend_from_slice(&block_size.to_le_bytes());
        identity.extend_from_slice(&block_crcs);
        let id_path = path.with_extension(ID_EXT);
        let id_temp = temp_name(&id_path);
        let published = (|| {
            // Synced before the rename: after a crash the name holds all the bytes or is gone.
            out.sync_all()?;
            fs::rename(&temp, &path)?;
            let mut id = private_file(&id_temp)?;
            id.write_all(&identity)?;
            id.sync_all()?;
            fs::rename(&id_temp, &id_path)
        })();
        if let Err(e) = published {
            for leftover in [&temp, &id_temp, &path] {
                let _ = fs::remove_file(leftover);
            }
            return Err(e);
        }
        self.counters.whole_built.fetch_add(1, Ordering::Relaxed);
        self.counters
            .bytes_written
            .fetch_add(obj.size, Ordering::Relaxed);
        // The blocks are in the whole file now (and read from it, checked): one copy.
        for index in 0..blocks {
            self.remove(&obj.block(block_size, index).relative_path());
        }
        // Registered (and the bound enforced) by the first open.
        Ok(true)
    }
}

fn temp_name(path: &Path) -> PathBuf {
    let ext = path
        .extension()
        .map(|e| e.to_string_lossy().into_owned())
        .unwrap_or_default();
    path.with_extension(format!(
        "{ext}.tmp{}.{}",
        std::process::id(),
        TEMP_SEQ.fetch_add(1, Ordering::Relaxed)
    ))
}

fn private_file(path: &Path) -> io::Result<File> {
    OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
}

/// Removes the identity file that goes with an evicted or removed `objects/<digest>.obj`.
pub(super) fn remove_companion(dir: &Path, relative: &Path) {
    if relative.starts_with(OBJECTS_DIR) && relative.extension().is_some_and(|e| e == OBJECT_EXT) {
        let _ = fs::remove_file(dir.join(relative).with_extension(ID_EXT));
    }
}

/// The whole-object pairs in `dir/objects` as index entries (modified time, `.obj` path
/// relative to `dir`, size of both files). Half-built pairs (an `.obj` without a valid
/// `.id`, or the reverse) and temporary files older than an hour are removed; files that
/// do not follow the naming are left alone and not counted.
pub(super) fn scan_objects(dir: &Path) -> Vec<(SystemTime, PathBuf, u64)> {
    let mut found = Vec::new();
    let folder = dir.join(OBJECTS_DIR);
    let Ok(entries) = fs::read_dir(&folder) else {
        return found;
    };
    let now = SystemTime::now();
    for entry in entries.flatten() {
        let Ok(meta) = entry.metadata() else { continue };
        let name = entry.file_name();
        let name = name.to_string_lossy();
        let path = entry.path();
        if !meta.is_file() {
            continue;
        }
        let modified = meta.modified().unwrap_or(SystemTime::UNIX_EPOCH);
        let Some((stem, ext)) = name.split_once('.') else {
            continue;
        };
        if stem.len() != 32 || !stem.bytes().all(|b| b.is_ascii_hexdigit()) {
            continue;
        }
        if ext.contains("tmp") {
            if now.duration_since(modified).unwrap_or_default() > STALE_TEMP_AGE {
                let _ = fs::remove_file(&path);
            }
            continue;
        }
        let id_path = path.with_extension(ID_EXT);
        let id_ok = || -> bool {
            let mut magic = [0u8; 8];
            File::open(&id_path)
                .and_then(|mut f| f.read_exact(&mut magic))
                .is_ok_and(|()| &magic == ID_MAGIC)
        };
        match ext {
            OBJECT_EXT if id_ok() => {
                let id_len = fs::metadata(&id_path).map(|m| m.len()).unwrap_or(0);
                found.push((
                    modified,
                    Path::new(OBJECTS_DIR).join(name.as_ref()),
                    meta.len() + id_len,
                ));
            }
            OBJECT_EXT => {
                let _ = fs::remove_file(&path);
            }
            ID_EXT if !path.with_extension(OBJECT_EXT).exists() => {
                let _ = fs::remove_file(&path);
            }
            _ => {}
        }
    }
    found
}

#[cfg(test)]
mod tests {
    use super::*;

    const BLOCK: u64 = 1024;

    fn version(size: u64) -> ObjectVersion<'static> {
        ObjectVersion {
            bucket: "stpubdata",
            key: "hst/public/jbev/jbeveo010/jbeveo010_drz.fits",
            etag: "\"0123abcd\"",
            size,
        }
    }

    fn object_bytes(size: u64) -> Vec<u8> {
        (0..size)
            .map(|i| (i as u8).wrapping_mul(37) ^ (i >> 10) as u8)
            .collect()
    }

    /// Stores every block of `data` but those in `skip`.
    fn store_blocks(cache: &DiskCache, obj: &ObjectVersion<'_>, data: &[u8], skip: &[u64]) {
        for (index, chunk) in data.chunks(BLOCK as usize).enumerate() {
            if !skip.contains(&(index as u64)) {
                cache.store(&obj.block(BLOCK, index as u64), chunk);
            }
        }
    }

    fn read_all(mut file: File) -> Vec<u8> {
        let mut out = Vec::new();
        file.read_to_end(&mut out).unwrap();
        out
    }

    #[test]
    fn a_wholly_cached_object_gets_a_file_with_exactly_its_bytes() {
        let dir = tempfile::tempdir().unwrap();
        let cache = DiskCache::open(dir.path(), 1 << 20).unwrap();
        let size = 5 * BLOCK + 123;
        let data = object_bytes(size);
        store_blocks(&cache, &version(size), &data, &[]);
        let file = cache
            .whole_object(&version(size), BLOCK)
            .expect("every block is on disk: a whole-object file");
        let got = read_all(file);
        assert_eq!(got.len(), data.len(), "whole-object file length");
        assert!(
            got == data,
            "whole-object file bytes differ from the object"
        );
        assert_eq!(cache.counters.whole_built.load(Ordering::Relaxed), 1);

        // Found again, without rebuilding, by a new process.
        drop(cache);
        let cache = DiskCache::open(dir.path(), 1 << 20).unwrap();
        let got = read_all(cache.whole_object(&version(size), BLOCK).unwrap());
        assert!(got == data, "whole-object file bytes after reopening");
        assert_eq!(
            cache.counters.whole_built.load(Ordering::Relaxed),
            0,
            "a valid file was rebuilt"
        );
    }

    #[test]
    fn asking_for_a_built_file_builds_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let cache = DiskCache::open(dir.path(), 1 << 20).unwrap();
        let size = 2 * BLOCK;
        store_blocks(&cache, &version(size), &object_bytes(size), &[]);
        assert!(cache.built_whole_object(&version(size)).is_none());
        assert_eq!(cache.counters.whole_built.load(Ordering::Relaxed), 0);
        assert!(cache.whole_object(&version(size), BLOCK).is_some());
        assert!(
            cache.built_whole_object(&version(size)).is_some(),
            "the file built by whole_object is not found"
        );
    }

    #[test]
    fn a_partly_cached_object_gets_no_file() {
        let dir = tempfile::tempdir().unwrap();
        let cache = DiskCache::open(dir.path(), 1 << 20).unwrap();
        let size = 4 * BLOCK;
        let data = object_bytes(size);
        store_blocks(&cache, &version(size), &data, &[2]);
        assert!(
            cache.whole_object(&version(size), BLOCK).is_none(),
            "block 2 is not on disk, yet a whole-object file was given"
        );
        assert!(
            !dir.path().join(version(size).relative_path()).exists(),
            "a partial whole-object file was left behind"
        );
    }

    #[test]
    fn a_damaged_block_means_no_file_and_the_block_is_dropped() {
        let dir = tempfile::tempdir().unwrap();
        let cache = DiskCache::open(dir.path(), 1 << 20).unwrap();
        let size = 3 * BLOCK;
        let obj = version(size);
        store_blocks(&cache, &obj, &object_bytes(size), &[]);
        let block_path = dir.path().join(obj.block(BLOCK, 1).relative_path());
        let mut raw = fs::read(&block_path).unwrap();
        let last = raw.len() - 1;
        raw[last] ^= 0x01;
        fs::write(&block_path, &raw).unwrap();
        assert!(
            cache.whole_object(&obj, BLOCK).is_none(),
            "a block with a flipped byte went into a whole-object file"
        );
        assert!(!block_path.exists(), "the damaged block was kept");
        let leftovers = fs::read_dir(dir.path().join(OBJECTS_DIR))
            .map(|d| d.count())
            .unwrap_or(0);
        assert_eq!(leftovers, 0, "files left in objects/ after a failed build");
    }

    #[test]
    fn another_version_never_gets_the_old_file() {
        let dir = tempfile::tempdir().unwrap();
        let cache = DiskCache::open(dir.path(), 1 << 20).unwrap();
        let size = 2 * BLOCK;
        store_blocks(&cache, &version(size), &object_bytes(size), &[]);
        assert!(cache.whole_object(&version(size), BLOCK).is_some());
        let replaced = ObjectVersion {
            etag: "\"ffff\"",
            ..version(size)
        };
        assert!(
            cache.whole_object(&replaced, BLOCK).is_none(),
            "a new ETag with no blocks on disk was given the old version's file"
        );
        // An identity file naming another version is refused even under the right name.
        let path = dir.path().join(version(size).relative_path());
        fs::write(path.with_extension(ID_EXT), replaced.identity(0)).unwrap();
        assert!(
            cache
                .open_whole(&version(size), &version(size).relative_path())
                .is_none(),
            "an identity file of another version was accepted"
        );
    }

    #[test]
    fn whole_files_count_in_the_bound_and_are_evicted_with_their_identity() {
        let dir = tempfile::tempdir().unwrap();
        let size = 4 * BLOCK;
        // Room for one object (blocks or whole file, with headers), not for two.
        let bound = size + 4 * 200 + 300;
        let cache = DiskCache::open(dir.path(), bound).unwrap();
        let obj = version(size);
        store_blocks(&cache, &obj, &object_bytes(size), &[]);
        assert!(cache.whole_object(&obj, BLOCK).is_some());
        let whole = dir.path().join(obj.relative_path());
        let (bytes, files) = cache.usage();
        assert_eq!(files, 1, "the pair is one entry, the blocks are gone");
        assert!(
            bytes > size,
            "usage {bytes} should count the whole file and its identity"
        );

        drop(cache);
        let cache = DiskCache::open(dir.path(), bound).unwrap();
        assert_eq!(cache.usage(), (bytes, 1), "the scan counts the pair");
        let other = ObjectVersion {
            key: "other.fits",
            ..obj
        };
        store_blocks(&cache, &other, &object_bytes(size), &[]);
        assert!(cache.usage().0 <= cache.capacity(), "usage above the bound");
        // Gone, and its identity with it.
        assert!(!whole.exists(), "the whole-object file was not evicted");
        assert!(
            !whole.with_extension(ID_EXT).exists(),
            "the identity file outlived its object file"
        );
        assert!(
            cache.load(&obj.block(BLOCK, 0), BLOCK).is_none(),
            "a block of an evicted object was served"
        );
    }

    #[test]
    fn blocks_are_read_from_the_whole_file_checked() {
        let dir = tempfile::tempdir().unwrap();
        let cache = DiskCache::open(dir.path(), 1 << 20).unwrap();
        let size = 3 * BLOCK + 10;
        let obj = version(size);
        let data = object_bytes(size);
        store_blocks(&cache, &obj, &data, &[]);
        assert!(cache.whole_object(&obj, BLOCK).is_some());
        for index in 0..4u64 {
            let block = obj.block(BLOCK, index);
            assert!(
                !dir.path().join(block.relative_path()).exists(),
                "block file {index} kept next to the whole file"
            );
            assert!(
                cache.has(&block),
                "block {index} not found in the whole file"
            );
            let start = (index * BLOCK) as usize;
            let end = (start + BLOCK as usize).min(data.len());
            let got = cache
                .load(&block, (end - start) as u64)
                .unwrap_or_else(|| panic!("block {index} from the whole file"));
            assert!(got[..] == data[start..end], "block {index} bytes differ");
        }
        // Another block size cannot be checked against the recorded CRCs: a miss.
        let other_size = DiskBlock {
            block_size: 2 * BLOCK,
            ..obj.block(BLOCK, 0)
        };
        assert!(!cache.has(&other_size));
        assert!(cache.load(&other_size, 2 * BLOCK).is_none());

        // A damaged byte in the whole file: the block is refused and the pair removed.
        let whole = dir.path().join(obj.relative_path());
        let mut raw = fs::read(&whole).unwrap();
        raw[BLOCK as usize + 5] ^= 0x40;
        fs::write(&whole, &raw).unwrap();
        assert!(
            cache.load(&obj.block(BLOCK, 1), BLOCK).is_none(),
            "a damaged block was served from the whole file"
        );
        assert!(!whole.exists(), "the damaged whole file was kept");
        assert!(!whole.with_extension(ID_EXT).exists());
    }

    #[test]
    fn the_scan_removes_half_built_pairs_and_leaves_foreign_files() {
        let dir = tempfile::tempdir().unwrap();
        let objects = dir.path().join(OBJECTS_DIR);
        fs::create_dir_all(&objects).unwrap();
        let orphan = objects.join(format!("{}.obj", "a".repeat(32)));
        fs::write(&orphan, b"bytes without identity").unwrap();
        let foreign = objects.join("notes.txt");
        fs::write(&foreign, b"not ours").unwrap();
        let cache = DiskCache::open(dir.path(), 1 << 20).unwrap();
        assert!(!orphan.exists(), "an .obj without identity was kept");
        assert!(foreign.exists(), "a file not named like ours was removed");
        assert_eq!(cache.usage(), (0, 0), "nothing valid to count");
    }
}
