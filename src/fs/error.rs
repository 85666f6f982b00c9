//! Filesystem errors: an errno for the kernel and a message for the log.

use crate::namespace::NamespaceError;
use crate::store::StoreError;

/// A failed filesystem operation.
#[derive(Debug, Clone)]
pub struct FsError {
    pub errno: i32,
    /// Empty for expected outcomes that need no log line (a name that does not exist).
    pub message: String,
}

impl FsError {
    pub fn new(errno: i32, message: impl Into<String>) -> FsError {
        FsError {
            errno,
            message: message.into(),
        }
    }

    /// An error that is a normal answer, not worth a log line.
    pub fn quiet(errno: i32) -> FsError {
        FsError {
            errno,
            message: String::new(),
        }
    }

    /// The one place store errors become errnos: 404 ENOENT, 403 EACCES, a changed object
    /// ESTALE, exhausted retries EIO.
    pub fn from_store(e: &StoreError) -> FsError {
        FsError::new(e.errno(), e.to_string())
    }
}

impl From<NamespaceError> for FsError {
    fn from(e: NamespaceError) -> FsError {
        FsError::new(e.errno, e.message)
    }
}

impl std::fmt::Display for FsError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} (errno {})", self.message, self.errno)
    }
}
