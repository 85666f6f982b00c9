//! The object store: the one place that talks to S3.
//!
//! Everything above this module sees buckets as a trait with three operations (list one page
//! under a prefix, HEAD a key, GET a byte range pinned to an ETag). Retries, timeouts, the bound
//! on concurrent requests and request counters live behind the trait, in the implementation.

mod error;
#[cfg(test)]
pub mod failing;
#[cfg(test)]
pub mod memory;
mod pool;
mod s3;
mod sdk_error;

use std::ops::Range;
use std::time::SystemTime;

use async_trait::async_trait;
use bytes::Bytes;

pub use error::{StoreError, StoreErrorKind};
pub use s3::{S3Store, S3StoreOptions};

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

/// Counters of the traffic a store generated, for stats and benchmarks.
#[derive(Debug, Default)]
pub struct StoreCounters {
    pub list_requests: std::sync::atomic::AtomicU64,
    pub head_requests: std::sync::atomic::AtomicU64,
    pub get_requests: std::sync::atomic::AtomicU64,
    pub retries: std::sync::atomic::AtomicU64,
    pub bytes_fetched: std::sync::atomic::AtomicU64,
    pub in_flight: std::sync::atomic::AtomicI64,
    /// Block buffers allocated fresh (no free buffer of that size in the pool).
    pub buffers_allocated: std::sync::atomic::AtomicU64,
    /// Block buffers reused from the pool.
    pub buffers_recycled: std::sync::atomic::AtomicU64,
    /// Bytes of free block buffers the pool holds right now: memory beyond the cache.
    pub pooled_bytes: std::sync::atomic::AtomicU64,
}
