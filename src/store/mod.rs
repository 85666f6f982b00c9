//! The object store: the one place that talks to S3.
//!
//! Everything above this module sees buckets as a trait with three operations (list one page
//! under a prefix, HEAD a key, GET a byte range pinned to an ETag). Retries, timeouts, the bound
//! on concurrent requests and request counters live behind the trait, in the implementation.

mod counters;
mod error;
#[cfg(test)]
pub mod failing;
#[cfg(test)]
pub mod memory;
mod object;
mod pool;
mod s3;
mod sdk_error;

pub use counters::StoreCounters;
pub use error::{StoreError, StoreErrorKind};
pub use object::{ListPage, ObjectMeta, ObjectStore};
pub use s3::{S3Store, S3StoreOptions};
