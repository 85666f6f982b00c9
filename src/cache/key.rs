//! What the cache keys its bytes by: one version of one object ([`ObjectRef`], pinned by an
//! open), one block of it ([`BlockKey`]), and the borrowed forms the disk cache names its
//! files by ([`ObjectVersion`], [`DiskBlock`]). A block is keyed by (bucket, key, ETag,
//! index), so two versions of an object never share a block.

use std::sync::Arc;

use super::block_file::DiskBlock;

/// One version of one object: what a reader pins when it opens a file.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct ObjectRef {
    pub bucket: Arc<str>,
    pub key: Arc<str>,
    pub etag: Arc<str>,
    pub size: u64,
}

impl ObjectRef {
    /// This version as the disk cache's whole-object files name it.
    pub fn disk_version(&self) -> ObjectVersion<'_> {
        ObjectVersion {
            bucket: &self.bucket,
            key: &self.key,
            etag: &self.etag,
            size: self.size,
        }
    }
}

/// One block of one object version: the unit the memory cache holds and fetches.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct BlockKey {
    pub bucket: Arc<str>,
    pub key: Arc<str>,
    pub etag: Arc<str>,
    pub index: u64,
}

impl BlockKey {
    /// This block as the disk cache names its file, for blocks of `block_size` bytes.
    pub fn on_disk(&self, block_size: u64) -> DiskBlock<'_> {
        DiskBlock {
            bucket: &self.bucket,
            key: &self.key,
            etag: &self.etag,
            block_size,
            index: self.index,
        }
    }
}

/// Block `index` of `obj`.
pub fn block_key(obj: &ObjectRef, index: u64) -> BlockKey {
    BlockKey {
        bucket: obj.bucket.clone(),
        key: obj.key.clone(),
        etag: obj.etag.clone(),
        index,
    }
}

/// One object version, as the whole-object files know it.
#[derive(Clone, Copy, Debug)]
pub struct ObjectVersion<'a> {
    pub bucket: &'a str,
    pub key: &'a str,
    pub etag: &'a str,
    pub size: u64,
}

impl ObjectVersion<'_> {
    /// Block `index` of this version, for blocks of `block_size` bytes.
    pub fn block(&self, block_size: u64, index: u64) -> DiskBlock<'_> {
        DiskBlock {
            bucket: self.bucket,
            key: self.key,
            etag: self.etag,
            block_size,
            index,
        }
    }
}
