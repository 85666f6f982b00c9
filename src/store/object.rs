//! The store's interface as the layers above see it: the [`ObjectStore`] trait and what its
//! operations return (object metadata, listing pages).

use std::ops::Range;
use std::time::SystemTime;

use async_trait::async_trait;
use bytes::Bytes;

use super::error::StoreError;

/// What the store knows of one object, from a listing or a HEAD.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ObjectMeta {
    pub key: String,
    pub size: u64,
    /// The ETag exactly as S3 sends it, quotes included; used verbatim in `If-Match`.
    pub etag: String,
    pub last_modified: SystemTime,
}

/// One page of a delimiter listing.
#[derive(Clone, Debug, Default)]
pub struct ListPage {
    pub objects: Vec<ObjectMeta>,
    /// Common prefixes, each ending in the delimiter.
    pub prefixes: Vec<String>,
    pub next_token: Option<String>,
}

/// A read-only view of S3-like buckets.
#[async_trait]
pub trait ObjectStore: Send + Sync + 'static {
    /// One ListObjectsV2 page of `bucket` under `prefix`, with delimiter `/`.
    async fn list_page(
        &self,
        bucket: &str,
        prefix: &str,
        continuation: Option<String>,
    ) -> Result<ListPage, StoreError>;

    /// The first ListObjectsV2 page of `bucket` under `prefix` without a delimiter: up to
    /// a page of the keys of the whole subtree, in key order (`next_token` set when there
    /// are more). One request that may answer several folder levels at once.
    async fn list_subtree_page(&self, bucket: &str, prefix: &str) -> Result<ListPage, StoreError>;

    /// HEAD of one key.
    async fn head(&self, bucket: &str, key: &str) -> Result<ObjectMeta, StoreError>;

    /// The bytes of `range` of the object, only if its ETag still equals `etag`
    /// (otherwise `StoreErrorKind::Changed`). Returns exactly `range.end - range.start` bytes.
    async fn get_range(
        &self,
        bucket: &str,
        key: &str,
        etag: &str,
        range: Range<u64>,
    ) -> Result<Bytes, StoreError>;
}
