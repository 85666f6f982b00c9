//! The inode table: stable numbers for (parent, name) pairs and the [`NodeKind`] of each.
//!
//! An inode keeps its number for as long as the kernel may hold it, so a path looked up twice
//! gets the same number (the kernel and tools like `find` rely on it). The table follows the
//! FUSE lookup-count protocol: every reply that hands the kernel an inode (a LOOKUP entry, a
//! READDIRPLUS entry other than `.` and `..`) counts one reference, FORGET gives `n` back,
//! and an inode nobody holds any more (no kernel references, no open directory snapshot
//! listing it) leaves the table. Numbers come from a counter and are never handed out
//! twice, so a forgotten name looked up again gets a fresh number: the kernel can never
//! confuse it with an inode it still holds.

use std::collections::HashMap;
use std::ffi::{OsStr, OsString};
use std::time::Instant;

use super::attr::ROOT_INO;
use crate::namespace::{Dir, NodeKind};

#[derive(Debug)]
pub struct Node {
    pub parent: u64,
    /// The name in `parent` (empty for the root), to drop the name with the inode.
    name: OsString,
    /// References the kernel holds: entries handed to it minus those it forgot.
    pub lookups: u64,
    /// Open directory snapshots listing this inode: their READDIRPLUS replies may still
    /// hand it to the kernel, so it must keep its number until they are released.
    pins: u32,
    pub kind: NodeKind,
    /// The ETag of the last open, to tell the kernel whether its page cache is still valid.
    /// Dropped with the inode on FORGET on purpose: the kernel's page cache belongs to its
    /// inode and is evicted with it, so a fresh inode for the name starts with no pages to
    /// keep (whatever the first open answers, there is nothing stale to serve).
    pub last_open_etag: Option<String>,
    /// For a bucket folder: when the listing its last opendir showed was fetched, to tell
    /// the kernel whether its cached entries are still valid. Like `last_open_etag`, the
    /// kernel's cached entries live in its inode and go with it.
    pub last_listing: Option<Instant>,
    /// Open handles of this file by the ETag each pinned: while any is open, no handle of
    /// another version may read through this inode's page cache.
    open_etags: HashMap<String, u32>,
}

/// What an open of a file inode may do with the kernel's page cache of that inode.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PageCache {
    /// The pages hold this version (or none): keep them.
    Keep,
    /// The pages may hold another version and no handle of it is open: drop them.
    Drop,
    /// A handle of another version is open and may refill the pages with its bytes: this
    /// version must get an inode of its own.
    OtherVersionOpen,
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
                name: OsString::new(),
                lookups: 0,
                pins: 0,
                kind: NodeKind::Dir(Dir::Root),
                last_open_etag: None,
                last_listing: None,
                open_etags: HashMap::new(),
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
                let same_type = node.kind.same_sort(&kind);
                // A new version of a file that is open at another version gets a new number:
                // the kernel's page cache belongs to the inode, and the open handles could
                // refill it with the old bytes.
                let other_version_open = match (&node.kind, &kind) {
                    (NodeKind::File { meta: old, .. }, NodeKind::File { meta: new, .. }) => {
                        old.etag != new.etag && node.open_etags.keys().any(|e| *e != new.etag)
                    }
                    _ => false,
                };
                if same_type && !other_version_open {
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
                name: name.to_os_string(),
                lookups: 0,
                pins: 0,
                kind,
                last_open_etag: None,
                last_listing: None,
                open_etags: HashMap::new(),
            },
        );
        self.by_name.insert(key, ino);
        ino
    }

    /// Like [`InodeTable::child`], and counts the reference a LOOKUP reply hands the kernel.
    pub fn looked_up(&mut self, parent: u64, name: &OsStr, kind: NodeKind) -> u64 {
        let ino = self.child(parent, name, kind);
        if let Some(node) = self.nodes.get_mut(&ino) {
            node.lookups += 1;
        }
        ino
    }

    /// Like [`InodeTable::child`], and keeps the inode while a directory snapshot lists it
    /// (until [`InodeTable::unpin`]).
    pub fn pinned_child(&mut self, parent: u64, name: &OsStr, kind: NodeKind) -> u64 {
        let ino = self.child(parent, name, kind);
        if let Some(node) = self.nodes.get_mut(&ino) {
            node.pins += 1;
        }
        ino
    }

    /// Counts one reference the kernel took on `ino` (a READDIRPLUS entry). False when
    /// `ino` is not in the table.
    pub fn remember(&mut self, ino: u64) -> bool {
        match self.nodes.get_mut(&ino) {
            Some(node) => {
                node.lookups += 1;
                true
            }
            None => false,
        }
    }

    /// Releases one directory snapshot's hold on `ino`.
    pub fn unpin(&mut self, ino: u64) {
        if let Some(node) = self.nodes.get_mut(&ino) {
            node.pins = node.pins.saturating_sub(1);
        }
        self.drop_if_unused(ino);
    }

    /// The kernel dropped `nlookup` references to `ino`. False when `ino` is not in the
    /// table (the kernel forgetting more than it was handed: a counting bug to log).
    pub fn forget(&mut self, ino: u64, nlookup: u64) -> bool {
        let Some(node) = self.nodes.get_mut(&ino) else {
            return false;
        };
        node.lookups = node.lookups.saturating_sub(nlookup);
        self.drop_if_unused(ino);
        true
    }

    /// Removes `ino` (and its name, unless the name now means a newer inode) once neither
    /// the kernel nor a directory snapshot holds it. The root stays for the whole mount.
    fn drop_if_unused(&mut self, ino: u64) {
        if ino == ROOT_INO {
            return;
        }
        let unused = self
            .nodes
            .get(&ino)
            .is_some_and(|n| n.lookups == 0 && n.pins == 0);
        if !unused {
            return;
        }
        let Some(node) = self.nodes.remove(&ino) else {
            return;
        };
        let key = (node.parent, node.name);
        if self.by_name.get(&key) == Some(&ino) {
            self.by_name.remove(&key);
        }
    }

    /// Inodes in the table, the root included.
    pub fn count(&self) -> usize {
        self.nodes.len()
    }

    /// Records an opendir of `ino` showing the listing fetched at `fetched`; true when it
    /// is the same listing as the last opendir showed (the kernel may keep its entries).
    pub fn note_listing(&mut self, ino: u64, fetched: Instant) -> bool {
        let Some(node) = self.nodes.get_mut(&ino) else {
            return false;
        };
        node.last_listing.replace(fetched) == Some(fetched)
    }

    /// Records an open of `ino` at `etag` and says what becomes of the kernel's cached
    /// pages: kept for the same version as the last open (or the first), dropped for
    /// another, and refused while a handle of another version is open (the caller gives
    /// the name a new inode with [`InodeTable::detach_name`]). An open that is not refused
    /// must be given back with [`InodeTable::note_close`].
    pub fn note_open(&mut self, ino: u64, etag: &str) -> PageCache {
        let Some(node) = self.nodes.get_mut(&ino) else {
            return PageCache::Drop;
        };
        if node.open_etags.keys().any(|e| e != etag) {
            return PageCache::OtherVersionOpen;
        }
        *node.open_etags.entry(etag.to_string()).or_default() += 1;
        let keep = node.last_open_etag.as_deref().is_none_or(|e| e == etag);
        node.last_open_etag = Some(etag.to_string());
        if keep {
            PageCache::Keep
        } else {
            PageCache::Drop
        }
    }

    /// A handle opened at `etag` was closed.
    pub fn note_close(&mut self, ino: u64, etag: &str) {
        let Some(node) = self.nodes.get_mut(&ino) else {
            return;
        };
        if let Some(count) = node.open_etags.get_mut(etag) {
            *count -= 1;
            if *count == 0 {
                node.open_etags.remove(etag);
            }
        }
    }

    /// Unbinds `ino` from its name, so the next lookup of the name makes a new inode; `ino`
    /// itself stays while the kernel or a snapshot holds it.
    pub fn detach_name(&mut self, ino: u64) {
        let Some(node) = self.nodes.get(&ino) else {
            return;
        };
        let key = (node.parent, node.name.clone());
        if self.by_name.get(&key) == Some(&ino) {
            self.by_name.remove(&key);
        }
    }
}

/// The inode table against a reference model of the FUSE lookup-count protocol (as in
/// mountpoint-s3's reference-model tests): random LOOKUPs, FORGETs, directory snapshots
/// pinning and releasing entries; after every step the table holds exactly the inodes the
/// model says are held, with the same counts, and never hands a number out twice.
#[cfg(test)]
mod model_tests {
    use std::collections::{HashMap, HashSet};

    use proptest::prelude::*;

    use super::*;

    #[derive(Clone, Debug)]
    enum Op {
        /// LOOKUP of name `name` under the `parent`-th live directory (root included).
        Lookup { parent: usize, name: u8 },
        /// A directory snapshot listing that name (pins it).
        Pin { parent: usize, name: u8 },
        /// FORGET of `n` references to the `target`-th live inode.
        Forget { target: usize, n: u64 },
        /// A snapshot released: one pin of the `target`-th live inode given back.
        Unpin { target: usize },
    }

    fn op() -> impl Strategy<Value = Op> {
        prop_oneof![
            (0..8usize, 0..4u8).prop_map(|(parent, name)| Op::Lookup { parent, name }),
            (0..8usize, 0..4u8).prop_map(|(parent, name)| Op::Pin { parent, name }),
            (0..8usize, 1..3u64).prop_map(|(target, n)| Op::Forget { target, n }),
            (0..8usize).prop_map(|target| Op::Unpin { target }),
        ]
    }

    #[derive(Default)]
    struct Model {
        by_name: HashMap<(u64, String), u64>,
        lookups: HashMap<u64, u64>,
        pins: HashMap<u64, u32>,
        names: HashMap<u64, (u64, String)>,
        handed_out: HashSet<u64>,
    }

    impl Model {
        /// Live inodes, the root first.
        fn live(&self) -> Vec<u64> {
            let mut live: Vec<u64> = self.names.keys().copied().collect();
            live.sort();
            live.insert(0, ROOT_INO);
            live
        }

        fn drop_if_unused(&mut self, ino: u64) {
            let lookups = self.lookups.get(&ino).copied().unwrap_or(0);
            let pins = self.pins.get(&ino).copied().unwrap_or(0);
            if ino == ROOT_INO || lookups > 0 || pins > 0 {
                return;
            }
            if let Some(key) = self.names.remove(&ino) {
                if self.by_name.get(&key) == Some(&ino) {
                    self.by_name.remove(&key);
                }
            }
            self.lookups.remove(&ino);
            self.pins.remove(&ino);
        }
    }

    fn dir(name: &str) -> NodeKind {
        NodeKind::Dir(Dir::Bucket {
            bucket: "b".into(),
            prefix: format!("{name}/"),
        })
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(256))]
        #[test]
        fn the_table_follows_the_lookup_count_model(ops in proptest::collection::vec(op(), 1..120)) {
            let mut table = InodeTable::new();
            let mut model = Model::default();
            for op in ops {
                let live = model.live();
                match op {
                    Op::Lookup { parent, name } | Op::Pin { parent, name } => {
                        let parent = live[parent % live.len()];
                        let name = format!("n{name}");
                        let pin = matches!(op, Op::Pin { .. });
                        let ino = if pin {
                            table.pinned_child(parent, OsStr::new(&name), dir(&name))
                        } else {
                            table.looked_up(parent, OsStr::new(&name), dir(&name))
                        };
                        let key = (parent, name.clone());
                        match model.by_name.get(&key) {
                            Some(&known) => prop_assert_eq!(ino, known, "{:?}: the same name, the same inode", op),
                            None => {
                                prop_assert!(model.handed_out.insert(ino), "{:?}: inode {} handed out twice", op, ino);
                                model.by_name.insert(key.clone(), ino);
                                model.names.insert(ino, key);
                            }
                        }
                        if pin {
                            *model.pins.entry(ino).or_default() += 1;
                        } else {
                            *model.lookups.entry(ino).or_default() += 1;
                        }
                    }
                    Op::Forget { target, n } => {
                        let ino = live[target % live.len()];
                        prop_assert!(table.forget(ino, n), "forget of live inode {} refused", ino);
                        if let Some(l) = model.lookups.get_mut(&ino) {
                            *l = l.saturating_sub(n);
                        }
                        model.drop_if_unused(ino);
                    }
                    Op::Unpin { target } => {
                        let ino = live[target % live.len()];
                        table.unpin(ino);
                        if let Some(p) = model.pins.get_mut(&ino) {
                            *p = p.saturating_sub(1);
                        }
                        model.drop_if_unused(ino);
                    }
                }
                prop_assert_eq!(table.count(), model.live().len(), "inodes in the table after {:?}", op);
                for ino in model.live().into_iter().skip(1) {
                    let node = table.get(ino);
                    prop_assert!(node.is_some(), "inode {} held by the model is gone after {:?}", ino, op);
                    let want = model.lookups.get(&ino).copied().unwrap_or(0);
                    prop_assert_eq!(node.map(|n| n.lookups), Some(want), "lookups of {} after {:?}", ino, op);
                }
            }
        }
    }
}
