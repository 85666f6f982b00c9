//! What a node of the tree is, in the terms the filesystem core needs: a directory (which
//! one is only the namespace's business, handed back to it for lookups and listings), a
//! file backed by an S3 object, a file made in memory, or one of the mount's status files.

use std::sync::Arc;
use std::time::{Instant, SystemTime};

use bytes::Bytes;

use crate::store::ObjectMeta;

/// The hidden folder at the root with the mount's own status files.
pub const STATUS_DIR: &str = ".mastfs";
/// The statistics file in [`STATUS_DIR`].
pub const STATS_FILE: &str = "stats.json";

/// What an inode stands for.
#[derive(Clone, Debug)]
pub enum NodeKind {
    /// A directory of any source.
    Dir(Dir),
    /// One object, with the metadata last seen and when it was last checked.
    File {
        bucket: Arc<str>,
        key: Arc<str>,
        meta: ObjectMeta,
        checked: Instant,
        /// Where a view's file came from (its extended attributes).
        origin: Option<Arc<Origin>>,
    },
    /// A file made in memory (a view's manifest).
    Virtual { data: Bytes, mtime: SystemTime },
    /// A file of [`STATUS_DIR`], made anew at every open from the mount's state.
    Status(StatusFile),
}

impl NodeKind {
    /// Whether `self` and `other` are the same sort of node (a bucket folder and a view
    /// folder are not): a name that changes sort gets a new inode.
    pub fn same_sort(&self, other: &NodeKind) -> bool {
        match (self, other) {
            (NodeKind::Dir(a), NodeKind::Dir(b)) => {
                std::mem::discriminant(a) == std::mem::discriminant(b)
            }
            _ => std::mem::discriminant(self) == std::mem::discriminant(other),
        }
    }
}

/// A directory, as the source that answers for it knows it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Dir {
    Root,
    /// A directory of a bucket tree: all keys under `prefix` ("" for the bucket's top).
    Bucket {
        bucket: Arc<str>,
        prefix: String,
    },
    /// `MOUNTPOINT/views`.
    ViewsRoot,
    /// A view's directory, or one obs_id folder of it (`by-obs` layout).
    View {
        view: Arc<str>,
        folder: Option<String>,
    },
    /// [`STATUS_DIR`].
    Status,
}

/// The files of [`STATUS_DIR`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StatusFile {
    /// [`STATS_FILE`].
    Stats,
}

/// The MAST identity of a view file, shown as `user.mast.*` extended attributes.
#[derive(Debug, PartialEq, Eq)]
pub struct Origin {
    pub data_uri: String,
    pub s3_uri: String,
    pub obsid: String,
}

impl Origin {
    pub fn xattrs(&self) -> [(&'static str, &str); 3] {
        [
            ("user.mast.data_uri", &self.data_uri),
            ("user.mast.obsid", &self.obsid),
            ("user.mast.s3_uri", &self.s3_uri),
        ]
    }
}
