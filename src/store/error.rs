//! Store errors: what went wrong, on which bucket and key, and whether a retry can help.

use std::fmt;

/// The kinds of failure the layers above need to tell apart (each maps to one errno).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StoreErrorKind {
    /// 404: no such key or bucket.
    NotFound,
    /// 403, or a signed bucket without usable credentials.
    AccessDenied,
    /// 412 on If-Match: the object was replaced since it was opened.
    Changed,
    /// Retries exhausted on 5xx, throttling, timeouts or broken connections.
    Unavailable,
    /// Anything else the server answered that we cannot use (4xx other than the above,
    /// malformed answers).
    Invalid,
}

/// A failed store operation.
#[derive(Clone, Debug)]
pub struct StoreError {
    pub kind: StoreErrorKind,
    pub bucket: String,
    pub key: String,
    pub message: String,
}

impl StoreError {
    pub fn new(kind: StoreErrorKind, bucket: &str, key: &str, message: impl Into<String>) -> Self {
        StoreError {
            kind,
            bucket: bucket.to_string(),
            key: key.to_string(),
            message: message.into(),
        }
    }

    /// The errno the filesystem answers for this error.
    pub fn errno(&self) -> i32 {
        match self.kind {
            StoreErrorKind::NotFound => libc::ENOENT,
            StoreErrorKind::AccessDenied => libc::EACCES,
            StoreErrorKind::Changed => libc::ESTALE,
            StoreErrorKind::Unavailable | StoreErrorKind::Invalid => libc::EIO,
        }
    }
}

impl fmt::Display for StoreError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let what = match self.kind {
            StoreErrorKind::NotFound => "not found",
            StoreErrorKind::AccessDenied => "access denied",
            StoreErrorKind::Changed => "object changed since it was opened",
            StoreErrorKind::Unavailable => "unavailable",
            StoreErrorKind::Invalid => "invalid response",
        };
        write!(
            f,
            "s3://{}/{}: {}: {}",
            self.bucket, self.key, what, self.message
        )
    }
}

impl std::error::Error for StoreError {}
