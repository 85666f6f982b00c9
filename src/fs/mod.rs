//! The filesystem core: inodes, directory snapshots, open handles and errnos.
//!
//! Pure logic over the namespace and the block cache: no FUSE types here, so it is tested
//! without a mount. What a name is and what a directory holds is asked of
//! [`Namespace`], whichever source answers; attributes come from `attr.rs`. Every
//! method is async and may wait on the network; the FUSE adapter runs each call as its own
//! task.

mod attr;
mod error;
mod inode;
mod options;
mod passthrough;

use std::collections::HashMap;
use std::ffi::OsStr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Instant, SystemTime};

use bytes::Bytes;
use parking_lot::Mutex;

pub use attr::{Attr, DirEntry, Kind, ROOT_INO};
pub use error::FsError;
use inode::{InodeTable, PageCache};
pub use options::FsOptions;
pub use passthrough::PassthroughStatus;

use crate::cache::{BlockCache, ObjectRef, Reader};
use crate::namespace::views::Views;
use crate::namespace::{Dir, Namespace, NodeKind, StatusFile};
use crate::stats::{self, CoreState, Snapshot};
use crate::store::{ObjectMeta, StoreCounters};

/// What an open answers: the handle and how the kernel may cache the file.
#[derive(Debug)]
pub struct Opened {
    pub fh: u64,
    /// The kernel may keep cached pages from earlier opens (same object version).
    pub keep_cache: bool,
    /// Bypass the page cache: for files whose size is only known once made.
    pub direct_io: bool,
    /// The object version pinned (`None` for files made in memory).
    pub object: Option<ObjectRef>,
    /// A local file holding exactly this version's bytes, when one was asked for and the
    /// object is wholly on disk and verified: the kernel may read it directly.
    pub backing: Option<std::fs::File>,
}

/// What an opendir answers: the handle and how the kernel may cache the entries.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct OpenedDir {
    pub fh: u64,
    /// The kernel may cache the entries (a bucket folder: they come from a listing that
    /// stays valid for the metadata TTL).
    pub cache_entries: bool,
    /// The kernel may keep the entries it cached at an earlier open: this open shows the
    /// very same listing (not refetched since, not dropped by SIGHUP).
    pub keep_cache: bool,
}

/// What keeps a newly placed inode in the table: the kernel's reference from a LOOKUP
/// reply, or the directory snapshot that lists it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Hold {
    Lookup,
    Snapshot,
}

/// An open directory: the entries its opendir saw, and the inodes it holds in the table
/// (every entry but `.` and `..`) so READDIRPLUS may still hand them out.
struct DirHandle {
    entries: Arc<Vec<DirEntry>>,
    pinned: Vec<u64>,
}

/// An open file: the cache's reader of the object version pinned at open (its read-ahead
/// state and claims), or bytes made in memory.
enum OpenFile {
    Object { ino: u64, reader: Reader },
    Memory(Bytes),
}

/// The filesystem core of one mount.
pub struct Fs {
    opts: FsOptions,
    inodes: Mutex<InodeTable>,
    namespace: Namespace,
    cache: Arc<BlockCache>,
    store_counters: Arc<StoreCounters>,
    files: Mutex<HashMap<u64, Arc<OpenFile>>>,
    dirs: Mutex<HashMap<u64, DirHandle>>,
    next_handle: AtomicU64,
    mounted_at: SystemTime,
    pub passthrough: PassthroughStatus,
}

impl Fs {
    pub fn new(
        opts: FsOptions,
        namespace: Namespace,
        cache: Arc<BlockCache>,
        store_counters: Arc<StoreCounters>,
    ) -> Fs {
        let mut table = InodeTable::new();
        for (name, kind) in namespace.bucket_roots() {
            table.child(ROOT_INO, OsStr::new(&name), kind);
        }
        Fs {
            opts,
            inodes: Mutex::new(table),
            namespace,
            cache,
            store_counters,
            files: Mutex::new(HashMap::new()),
            dirs: Mutex::new(HashMap::new()),
            next_handle: AtomicU64::new(1),
            mounted_at: SystemTime::now(),
            passthrough: PassthroughStatus::default(),
        }
    }

    pub fn options(&self) -> &FsOptions {
        &self.opts
    }

    pub fn cache(&self) -> &Arc<BlockCache> {
        &self.cache
    }

    pub fn views(&self) -> Option<&Arc<Views>> {
        self.namespace.views()
    }

    /// The mount's statistics now (`stats.json`, `mastfs stats`, the metrics endpoint).
    pub fn stats(&self) -> Snapshot {
        let passthrough = stats::Passthrough {
            enabled: self.passthrough.enabled(),
            off_reason: self.passthrough.reason(),
            opens: self.passthrough.opens.load(Ordering::Relaxed),
            declined: self.passthrough.declined.load(Ordering::Relaxed),
        };
        let state = CoreState {
            mounted_at: self.mounted_at,
            open_files: self.open_files(),
            inodes: self.inode_count(),
            unsafe_key_names: self.namespace.unsafe_key_names(),
            passthrough,
            views: self.views().map(|v| v.status()).unwrap_or_default(),
        };
        Snapshot::collect(&self.store_counters, &self.cache, state)
    }

    /// Whether any inode of this mount can carry extended attributes: only view files do,
    /// so a mount without views has none at all.
    pub fn has_xattrs(&self) -> bool {
        self.namespace.has_xattrs()
    }

    fn attr_of(&self, ino: u64, kind: &NodeKind) -> Attr {
        attr::attr_of(&self.opts, self.mounted_at, ino, kind)
    }

    fn node(&self, ino: u64) -> Result<NodeKind, FsError> {
        self.inodes
            .lock()
            .get(ino)
            .map(|n| n.kind.clone())
            .ok_or_else(|| FsError::new(libc::ENOENT, format!("inode {ino} is not known")))
    }

    /// Registers `name` under `parent` as `kind`, held by `hold`, and returns its attributes.
    fn place(&self, parent: u64, name: &str, kind: NodeKind, hold: Hold) -> Attr {
        let name = OsStr::new(name);
        let mut table = self.inodes.lock();
        let ino = match hold {
            Hold::Lookup => table.looked_up(parent, name, kind.clone()),
            Hold::Snapshot => table.pinned_child(parent, name, kind.clone()),
        };
        drop(table);
        self.attr_of(ino, &kind)
    }

    pub async fn lookup(&self, parent: u64, name: &OsStr) -> Result<Attr, FsError> {
        let parent_kind = self.node(parent)?;
        let Some(name) = name.to_str() else {
            return Err(FsError::new(libc::ENOENT, "name is not UTF-8"));
        };
        let NodeKind::Dir(dir) = &parent_kind else {
            return Err(FsError::new(libc::ENOTDIR, "not a directory"));
        };
        let kind = self.namespace.lookup(dir, name).await?;
        Ok(self.place(parent, name, kind, Hold::Lookup))
    }

    pub async fn getattr(&self, ino: u64) -> Result<Attr, FsError> {
        let kind = self.node(ino)?;
        Ok(self.attr_of(ino, &kind))
    }

    /// Takes a snapshot of a directory's entries (`.` and `..` first) and returns its handle.
    pub async fn opendir(&self, ino: u64) -> Result<OpenedDir, FsError> {
        let kind = self.node(ino)?;
        let parent = self
            .inodes
            .lock()
            .get(ino)
            .map(|n| n.parent)
            .unwrap_or(ROOT_INO);
        let mut entries = vec![
            DirEntry {
                name: ".".into(),
                attr: self.attr_of(ino, &kind),
            },
            DirEntry {
                name: "..".into(),
                attr: self.attr_of(parent, &NodeKind::Dir(Dir::Root)),
            },
        ];
        let NodeKind::Dir(dir) = &kind else {
            return Err(FsError::new(libc::ENOTDIR, "not a directory"));
        };
        let listing = self.namespace.list(dir).await?;
        let listing_kept = listing
            .fetched
            .map(|fetched| self.inodes.lock().note_listing(ino, fetched));
        for (name, child) in listing.entries {
            let attr = self.place(ino, &name, child, Hold::Snapshot);
            entries.push(DirEntry {
                name: name.into(),
                attr,
            });
        }
        let pinned = entries.iter().skip(2).map(|e| e.attr.ino).collect();
        let fh = self.next_handle.fetch_add(1, Ordering::Relaxed);
        let handle = DirHandle {
            entries: Arc::new(entries),
            pinned,
        };
        self.dirs.lock().insert(fh, handle);
        Ok(OpenedDir {
            fh,
            cache_entries: listing_kept.is_some(),
            keep_cache: listing_kept == Some(true),
        })
    }

    /// The snapshot taken by [`Fs::opendir`].
    pub fn dir_entries(&self, fh: u64) -> Option<Arc<Vec<DirEntry>>> {
        self.dirs.lock().get(&fh).map(|d| d.entries.clone())
    }

    /// Counts the reference the kernel takes on an entry of a READDIRPLUS reply: every
    /// entry but `.` and `..` (the kernel skips those, see `fuse_direntplus_link`). Call it
    /// only for entries that made it into the reply.
    pub fn note_plus_entry(&self, entry: &DirEntry) {
        if entry.name == "." || entry.name == ".." {
            return;
        }
        if !self.inodes.lock().remember(entry.attr.ino) {
            // Cannot happen while the snapshot's handle pins the entry; worth a line if it does.
            tracing::warn!(
                ino = entry.attr.ino,
                "readdirplus entry is not in the inode table"
            );
        }
    }

    pub fn releasedir(&self, fh: u64) {
        let Some(handle) = self.dirs.lock().remove(&fh) else {
            return;
        };
        let mut table = self.inodes.lock();
        for ino in handle.pinned {
            table.unpin(ino);
        }
    }

    /// The kernel dropped `nlookup` references to `ino` (FORGET): once it holds none and no
    /// open directory lists it, the inode leaves the table, so memory follows what the
    /// kernel caches rather than every name ever visited.
    pub fn forget(&self, ino: u64, nlookup: u64) {
        if !self.inodes.lock().forget(ino, nlookup) {
            tracing::debug!(ino, nlookup, "forget of an inode not in the table");
        }
    }

    /// Inodes in the table right now, the root included (for stats).
    pub fn inode_count(&self) -> usize {
        self.inodes.lock().count()
    }

    /// Opens a file: pins its current version (revalidated by HEAD once the metadata TTL
    /// has passed). Returns the handle and whether the kernel may keep its page cache.
    pub async fn open(&self, ino: u64) -> Result<Opened, FsError> {
        self.open_with(ino, false).await
    }

    /// [`Fs::open`], also looking for a backing file when `want_backing`: a local file with
    /// exactly the pinned version's bytes, built from the disk cache if every block is
    /// there and intact (see [`crate::cache::disk::ObjectVersion`]). The handle works the
    /// ordinary way either way, so the caller may still decline the file.
    pub async fn open_with(&self, ino: u64, want_backing: bool) -> Result<Opened, FsError> {
        let (bucket, key, mut meta, checked) = match self.node(ino)? {
            NodeKind::File {
                bucket,
                key,
                meta,
                checked,
                ..
            } => (bucket, key, meta, checked),
            NodeKind::Virtual { data, .. } => return Ok(self.open_memory(data, false)),
            NodeKind::Status(file) => return Ok(self.open_status(file)),
            _ => return Err(FsError::new(libc::EISDIR, "is a directory")),
        };
        if checked.elapsed() >= self.opts.metadata_ttl {
            meta = self.namespace.head(&bucket, &key).await?;
            self.update_meta(ino, meta.clone());
        }
        let page_cache = self.inodes.lock().note_open(ino, &meta.etag);
        let keep_cache = match page_cache {
            // Without an ETag nothing tells two versions apart: never keep pages.
            PageCache::Keep => !meta.etag.is_empty(),
            PageCache::Drop => false,
            PageCache::OtherVersionOpen => {
                // The object was replaced while a handle of the old version is open: the
                // name gets a new inode, and ESTALE makes the kernel walk the path again
                // (LOOKUP_REVAL) and open that one, so the two versions never share pages.
                self.inodes.lock().detach_name(ino);
                return Err(FsError::new(
                    libc::ESTALE,
                    format!(
                        "s3://{bucket}/{key} was replaced (ETag {}) while the old version is open; the name now has a new inode",
                        meta.etag
                    ),
                ));
            }
        };
        let object = ObjectRef {
            bucket,
            key,
            etag: meta.etag.as_str().into(),
            size: meta.size,
        };
        let backing = if want_backing {
            self.backing_file(&object).await
        } else {
            None
        };
        // FITS and ASDF: the cache fetches the head and the header/index ranges that come
        // next now.
        let reader = self.cache.open(&object, self.opts.max_readahead);
        let pinned = Some(object);
        let file = OpenFile::Object { ino, reader };
        let fh = self.next_handle.fetch_add(1, Ordering::Relaxed);
        self.files.lock().insert(fh, Arc::new(file));
        Ok(Opened {
            fh,
            keep_cache,
            direct_io: false,
            object: pinned,
            backing,
        })
    }

    /// The whole-object file of `object` from the disk cache, if it is wholly there. One
    /// not yet built is built now up to [`FsOptions::build_at_open_max`] bytes (a local
    /// copy, once per version); a larger one is built in the background for the next open,
    /// so this open does not wait seconds.
    async fn backing_file(&self, object: &ObjectRef) -> Option<std::fs::File> {
        let disk = self.cache.disk()?.clone();
        let (object, block_size) = (object.clone(), self.cache.block_size());
        let build_now = object.size <= self.opts.build_at_open_max;
        let (found_disk, found_object) = (disk.clone(), object.clone());
        let found = tokio::task::spawn_blocking(move || {
            if build_now {
                found_disk.whole_object(&found_object.disk_version(), block_size)
            } else {
                found_disk.built_whole_object(&found_object.disk_version())
            }
        })
        .await
        .ok()
        .flatten();
        if found.is_none() && !build_now {
            tokio::task::spawn_blocking(move || {
                disk.whole_object(&object.disk_version(), block_size);
            });
        }
        found
    }

    /// A status file, made now from the mount's state; its size is only known once made.
    fn open_status(&self, file: StatusFile) -> Opened {
        let text = match file {
            StatusFile::Stats => {
                let mut text =
                    serde_json::to_vec_pretty(&self.stats().to_json()).unwrap_or_default();
                text.push(b'\n');
                text
            }
        };
        self.open_memory(Bytes::from(text), true)
    }

    fn open_memory(&self, data: Bytes, direct_io: bool) -> Opened {
        let fh = self.next_handle.fetch_add(1, Ordering::Relaxed);
        self.files
            .lock()
            .insert(fh, Arc::new(OpenFile::Memory(data)));
        Opened {
            fh,
            keep_cache: false,
            direct_io,
            object: None,
            backing: None,
        }
    }

    /// The extended attributes of an inode (view files carry their MAST identity).
    pub fn xattrs(&self, ino: u64) -> Vec<(&'static str, Vec<u8>)> {
        match self.inodes.lock().get(ino).map(|n| &n.kind) {
            Some(NodeKind::File {
                origin: Some(origin),
                ..
            }) => origin
                .xattrs()
                .iter()
                .map(|(k, v)| (*k, v.as_bytes().to_vec()))
                .collect(),
            _ => Vec::new(),
        }
    }

    fn update_meta(&self, ino: u64, fresh: ObjectMeta) {
        if let Some(node) = self.inodes.lock().get_mut(ino) {
            if let NodeKind::File { meta, checked, .. } = &mut node.kind {
                *meta = fresh;
                *checked = Instant::now();
            }
        }
    }

    pub async fn read(&self, fh: u64, offset: u64, size: u32) -> Result<Bytes, FsError> {
        let file =
            self.files.lock().get(&fh).cloned().ok_or_else(|| {
                FsError::new(libc::EBADF, format!("file handle {fh} is not open"))
            })?;
        match &*file {
            OpenFile::Memory(data) => {
                let start = (offset as usize).min(data.len());
                let end = start.saturating_add(size as usize).min(data.len());
                Ok(data.slice(start..end))
            }
            OpenFile::Object { reader, .. } => reader
                .read(offset, size as u64)
                .await
                .map_err(|e| FsError::from_store(&e)),
        }
    }

    /// Closes a handle: its read-ahead that no other handle asked for and no reader waits
    /// for is stopped (see [`Reader::close`]).
    pub fn release(&self, fh: u64) {
        let Some(file) = self.files.lock().remove(&fh) else {
            return;
        };
        if let OpenFile::Object { ino, reader } = &*file {
            self.inodes.lock().note_close(*ino, &reader.object().etag);
            reader.close();
        }
    }

    /// Open file handles right now (for stats and leak checks).
    pub fn open_files(&self) -> usize {
        self.files.lock().len()
    }

    /// Drops cached listings and attributes (SIGHUP): later lookups ask S3 again.
    pub fn drop_metadata(&self) {
        self.namespace.drop_metadata();
    }

    /// The names handed to the kernel so far, (parent, name, inode): what it may still
    /// answer from its own caches after [`Fs::drop_metadata`] unless told to forget.
    pub fn known_entries(&self) -> Vec<(u64, std::ffi::OsString, u64)> {
        self.inodes.lock().entries()
    }
}

#[cfg(test)]
mod tests;
