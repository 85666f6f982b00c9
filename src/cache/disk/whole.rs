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

use super::folder::{
    identity_header, remove_companion, whole_path, DiskCache, ID_EXT, OBJECTS_DIR, OBJECT_EXT,
    STALE_TEMP_AGE, TEMP_SEQ,
};
use crate::cache::block_file::DiskBlock;
use crate::cache::key::ObjectVersion;

/// First bytes of every identity file; the digit is the format version.
const ID_MAGIC: &[u8; 8] = b"MASTFSO1";

impl ObjectVersion<'_> {
    /// `objects/<digest>.obj`, relative to the cache folder.
    pub(super) fn relative_path(&self) -> PathBuf {
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

impl DiskCache {
    /// The whole-object file of `obj` if it is already built (nothing is built here).
    pub fn built_whole_object(&self, obj: &ObjectVersion<'_>) -> Option<File> {
        if obj.size == 0 {
            return None;
        }
        self.open_whole(obj, &obj.relative_path())
    }

    /// The built file of `obj`, if its identity file names exactly this version and the
    /// object file has its length.
    pub(super) fn open_whole(&self, obj: &ObjectVersion<'_>, relative: &Path) -> Option<File> {
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

    /// Copies the blocks of `obj`, as `load` reads them, into its whole-object file;
    /// `Ok(false)` when a block turned out missing or damaged.
    pub(super) fn build_whole(
        &self,
        obj: &ObjectVersion<'_>,
        relative: &Path,
        block_size: u64,
        load: &dyn Fn(&DiskBlock<'_>, u64) -> Option<Bytes>,
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
            let Some(data) = load(&obj.block(block_size, index), len) else {
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
mod tests;
