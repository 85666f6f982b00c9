//! The inode table: stable numbers for (parent, name) pairs and what each inode is.
//!
//! An inode keeps its number for the life of the mount, so a path looked up twice gets the
//! same number (the kernel and tools like `find` rely on it). Inodes are not reclaimed on
//! FORGET: the table grows with the number of distinct names visited.

use std::collections::HashMap;
use std::ffi::{OsStr, OsString};
use std::sync::Arc;
use std::time::{Instant, SystemTime};

use bytes::Bytes;

use crate::store::ObjectMeta;

use super::ROOT_INO;

/// What an inode stands for.
#[derive(Clone, Debug)]
pub enum NodeKind {
    Root,
    /// A directory of a bucket tree: all keys under `prefix` ("" for the bucket's top).
    Dir {
        bucket: Arc<str>,
        prefix: String,
    },
    /// One object, with the metadata last seen and when it was last checked.
    File {
        bucket: Arc<str>,
        key: Arc<str>,
        meta: ObjectMeta,
        checked: Instant,
        /// Where a view's file came from (its extended attributes).
        origin: Option<Arc<Origin>>,
    },
    /// `MOUNTPOINT/views`.
    ViewsRoot,
    /// A view's directory, or one obs_id folder of it (`by-obs` layout).
    View {
        view: Arc<str>,
        folder: Option<String>,
    },
    /// A file made in memory (a view's manifest).
    Virtual {
        data: Bytes,
        mtime: SystemTime,
    },
    /// `MOUNTPOINT/.mastfs`: the mount's own status files.
    StatusDir,
    /// `MOUNTPOINT/.mastfs/stats.json`: made anew at every open.
    StatsFile,
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

#[derive(Debug)]
pub struct Node {
    pub parent: u64,
    pub kind: NodeKind,
    /// The ETag of the last open, to tell the kernel whether its page cache is still valid.
    pub last_open_etag: Option<String>,
    /// For a bucket folder: when the listing its last opendir showed was fetched, to tell
    /// the kernel whether its cached entries are still valid.
    pub last_listing: Option<Instant>,
}

pub struct InodeTable {
    nodes: HashMap<u64, Node>,
    by_name: HashMap<(u64, OsString), u64>,
    next: u64,
}

impl InodeTable {
    /// Every (parent, name) → inode the kernel may have cached as a directory entry.
    pub fn entries(&self) -> Vec<(u64, OsString, u64)> {
        self.by_name
            .iter()
            .map(|((parent, name), ino)| (*parent, name.clone(), *ino))
            .collect()
    }

    pub fn new() -> InodeTable {
        let mut nodes = HashMap::new();
        nodes.insert(
            ROOT_INO,
            Node {
                parent: ROOT_INO,
                kind: NodeKind::Root,
                last_open_etag: None,
                last_listing: None,
            },
        );
        InodeTable {
            nodes,
            by_name: HashMap::new(),
            next: ROOT_INO + 1,
        }
    }

    pub fn get(&self, ino: u64) -> Option<&Node> {
        self.nodes.get(&ino)
    }

    pub fn get_mut(&mut self, ino: u64) -> Option<&mut Node> {
        self.nodes.get_mut(&ino)
    }

    /// The inode of `name` in `parent`, created or updated to be `kind`. A file whose
    /// metadata changed keeps its number; a name that changed between file and directory
    /// gets a new number (so the kernel does not mix the two).
    pub fn child(&mut self, parent: u64, name: &OsStr, kind: NodeKind) -> u64 {
        let key = (parent, name.to_os_string());
        if let Some(&ino) = self.by_name.get(&key) {
            if let Some(node) = self.nodes.get_mut(&ino) {
                let same_type = std::mem::discriminant(&node.kind) == std::mem::discriminant(&kind);
                if same_type {
                    node.kind = kind;
                    return ino;
                }
            }
        }
        let ino = self.next;
        self.next += 1;
        self.nodes.insert(
            ino,
            Node {
                parent,
                kind,
                last_open_etag: None,
                last_listing: None,
            },
        );
        self.by_name.insert(key, ino);
        ino
    }

    /// Records an opendir of `ino` showing the listing fetched at `fetched`; true when it
    /// is the same listing as the last opendir showed (the kernel may keep its entries).
    pub fn note_listing(&mut self, ino: u64, fetched: Instant) -> bool {
        let Some(node) = self.nodes.get_mut(&ino) else {
            return false;
        };
        node.last_listing.replace(fetched) == Some(fetched)
    }

    /// Records an open of `ino` at `etag`; true when the kernel may keep cached pages
    /// (first open, or the same version as the last open).
    pub fn note_open(&mut self, ino: u64, etag: &str) -> bool {
        let Some(node) = self.nodes.get_mut(&ino) else {
            return false;
        };
        let keep = node.last_open_etag.as_deref().is_none_or(|e| e == etag);
        node.last_open_etag = Some(etag.to_string());
        keep
    }
}
