//! Why the namespace cannot answer: an errno for the kernel and a message for the log.

use crate::store::StoreError;

/// A lookup, listing or view resolution that failed.
#[derive(Clone, Debug)]
pub struct NamespaceError {
    pub errno: i32,
    /// Empty for expected outcomes that need no log line (a name that does not exist).
    pub message: String,
}

impl NamespaceError {
    pub fn new(errno: i32, message: impl Into<String>) -> NamespaceError {
        NamespaceError {
            errno,
            message: message.into(),
        }
    }

    /// An error that is a normal answer, not worth a log line.
    pub fn quiet(errno: i32) -> NamespaceError {
        NamespaceError::new(errno, String::new())
    }

    /// A store error, with the errno it maps to (see [`StoreError::errno`]).
    pub fn from_store(e: &StoreError) -> NamespaceError {
        NamespaceError::new(e.errno(), e.to_string())
    }
}
