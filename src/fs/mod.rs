//! The filesystem core: inodes, attributes, directory snapshots, open handles and errnos.
//!
//! Pure logic over the namespace sources and the block cache: no FUSE types here, so it is
//! tested without a mount. Every method is async and may wait on the network; the FUSE
//! adapter runs each call as its own task.

mod error;
mod inode;
mod passthrough;

use std::collections::HashMap;
use std::ffi::{OsStr, OsString};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use bytes::Bytes;
use parking_lot::Mutex;

pub use error::FsError;
use inode::{InodeTable, NodeKind, Origin, PageCache};
pub use passthrough::PassthroughStatus;

use crate::cache::{BlockCache, ObjectRef, Reader};
use crate::config::VIEWS_DIR;
use crate::namespace::buckets::BucketTrees;
use crate::namespace::views::{ViewEntry, ViewListing, Views, MANIFEST_ECSV_NAME, MANIFEST_NAME};
use crate::namespace::Child;
use crate::store::{ObjectMeta, StoreCounters};

/// The hidden folder at the root with the mount's own status files.
pub const STATUS_DIR: &str = ".mastfs";
/// The statistics file in [`STATUS_DIR`].
pub const STATS_FILE: &str = "stats.json";

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

/// The root directory's inode number, as FUSE expects.
pub const ROOT_INO: u64 = 1;

/// Whether an inode is a directory or a regular file.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Dir,
    File,
}

/// Attributes of one inode, in the terms the kernel needs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Attr {
    pub ino: u64,
    pub kind: Kind,
    pub size: u64,
    pub mtime: SystemTime,
    pub perm: u16,
    pub nlink: u32,
    pub uid: u32,
    pub gid: u32,
    /// The block size reported in `st_blksize`; readers size their reads from it.
    pub blksize: u32,
}

/// One entry of a directory snapshot.
#[derive(Clone, Debug)]
pub struct DirEntry {
    pub name: OsString,
    pub attr: Attr,
}

/// Ownership, modes and cache lifetimes of the mount.
#[derive(Clone, Debug)]
pub struct FsOptions {
    pub uid: u32,
    pub gid: u32,
    pub file_mode: u16,
    pub dir_mode: u16,
    pub metadata_ttl: Duration,
    pub max_readahead: u64,
    pub blksize: u32,
    /// Serve objects wholly in the disk cache by FUSE passthrough where the kernel allows.
    pub passthrough: bool,
    /// Largest object whose whole-object file (for passthrough) an open builds and waits
    /// for; larger ones are built in the background for the next open.
    pub build_at_open_max: u64,
}

impl Default for FsOptions {
    fn default() -> Self {
        FsOptions {
            uid: 0,
            gid: 0,
            file_mode: 0o444,
            dir_mode: 0o555,
            metadata_ttl: Duration::from_secs(3600),
            max_readahead: 64 << 20,
            blksize: 64 << 10,
            passthrough: true,
            // About a quarter second of local copying, once per object version.
            build_at_open_max: 256 << 20,
        }
    }
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
    buckets: Arc<BucketTrees>,
    views: Option<Arc<Views>>,
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
        buckets: Arc<BucketTrees>,
        views: Option<Arc<Views>>,
        cache: Arc<BlockCache>,
        store_counters: Arc<StoreCounters>,
    ) -> Fs {
        let mut table = InodeTable::new();
        for name in buckets.bucket_names() {
            table.child(
                ROOT_INO,
                OsStr::new(name),
                NodeKind::Dir {
                    bucket: name.as_str().into(),
                    prefix: String::new(),
                },
            );
        }
        Fs {
            opts,
            inodes: Mutex::new(table),
            buckets,
            views,
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
        self.views.as_ref()
    }

    /// Keys and prefixes of the mounted buckets skipped because they cannot be file names.
    pub fn unsafe_key_names(&self) -> u64 {
        self.buckets.unsafe_names()
    }

    pub fn store_counters(&self) -> &StoreCounters {
        &self.store_counters
    }

    pub fn mounted_at(&self) -> SystemTime {
        self.mounted_at
    }

    /// Whether any inode of this mount can carry extended attributes: only view files do,
    /// so a mount without views has none at all.
    pub fn has_xattrs(&self) -> bool {
        self.views.is_some()
    }

    fn attr_of(&self, ino: u64, kind: &NodeKind) -> Attr {
        let (kind, size, mtime) = match kind {
            NodeKind::Root
            | NodeKind::Dir { .. }
            | NodeKind::ViewsRoot
            | NodeKind::View { .. }
            | NodeKind::StatusDir => (Kind::Dir, 0, self.mounted_at),
            NodeKind::File { meta, .. } => (Kind::File, meta.size, meta.last_modified),
            NodeKind::StatsFile => (Kind::File, 0, SystemTime::now()),
            NodeKind::Virtual { data, mtime } => (Kind::File, data.len() as u64, *mtime),
        };
        let (perm, nlink) = match kind {
            Kind::Dir => (self.opts.dir_mode, 2),
            Kind::File => (self.opts.file_mode, 1),
        };
        Attr {
            ino,
            kind,
            size,
            mtime,
            perm,
            nlink,
            uid: self.opts.uid,
            gid: self.opts.gid,
            blksize: self.opts.blksize,
        }
    }

    fn node(&self, ino: u64) -> Result<NodeKind, FsError> {
        self.inodes
            .lock()
            .get(ino)
            .map(|n| n.kind.clone())
            .ok_or_else(|| FsError::new(libc::ENOENT, format!("inode {ino} is not known")))
    }

    /// Registers `name` under `parent` as `child`, held by `hold`, and returns its attributes.
    fn adopt(
        &self,
        parent: u64,
        parent_kind: &NodeKind,
        name: &str,
        child: Child,
        hold: Hold,
    ) -> Attr {
        let kind = match (parent_kind, child) {
            (NodeKind::Dir { bucket, prefix }, Child::Dir) => NodeKind::Dir {
                bucket: bucket.clone(),
                prefix: format!("{prefix}{name}/"),
            },
            (NodeKind::Dir { bucket, .. }, Child::File(meta)) => NodeKind::File {
                bucket: bucket.clone(),
                key: meta.key.as_str().into(),
                meta,
                checked: Instant::now(),
                origin: None,
            },
            (_, Child::Dir) => NodeKind::Dir {
                bucket: name.into(),
                prefix: String::new(),
            },
            (_, Child::File(meta)) => NodeKind::File {
                bucket: "".into(),
                key: meta.key.as_str().into(),
                meta,
                checked: Instant::now(),
                origin: None,
            },
        };
        self.place(parent, name, kind, hold)
    }

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

    /// The current listing of view `view`.
    async fn view_listing(&self, view: &str) -> Result<Arc<ViewListing>, FsError> {
        let views = self
            .views
            .as_ref()
            .ok_or_else(|| FsError::quiet(libc::ENOENT))?;
        views
            .listing(view)
            .await
            .map_err(|e| FsError::new(e.errno, e.message))
    }

    /// The entries of a view directory (or obs folder), as inode kinds, manifest included.
    async fn view_children(
        &self,
        view: &Arc<str>,
        folder: &Option<String>,
    ) -> Result<Vec<(String, NodeKind)>, FsError> {
        let listing = self.view_listing(view).await?;
        let mut out = Vec::new();
        if folder.is_none() {
            out.push((MANIFEST_NAME.to_string(), manifest_node(&listing)));
            if !listing.manifest_ecsv.is_empty() {
                out.push((
                    MANIFEST_ECSV_NAME.to_string(),
                    NodeKind::Virtual {
                        data: Bytes::from(listing.manifest_ecsv.clone().into_bytes()),
                        mtime: listing.resolved_at,
                    },
                ));
            }
        }
        for (name, entry) in listing.entries(folder.as_deref()) {
            let kind = view_node(view, &listing, &name, entry);
            out.push((name, kind));
        }
        Ok(out)
    }

    /// The root's entries: the buckets, then `views` when views are configured.
    fn root_children(&self) -> Vec<(String, NodeKind)> {
        let mut out: Vec<(String, NodeKind)> = self
            .buckets
            .bucket_names()
            .iter()
            .map(|name| {
                (
                    name.clone(),
                    NodeKind::Dir {
                        bucket: name.as_str().into(),
                        prefix: String::new(),
                    },
                )
            })
            .collect();
        if self.views.is_some() {
            out.push((VIEWS_DIR.to_string(), NodeKind::ViewsRoot));
        }
        out.push((STATUS_DIR.to_string(), NodeKind::StatusDir));
        out
    }

    pub async fn lookup(&self, parent: u64, name: &OsStr) -> Result<Attr, FsError> {
        let parent_kind = self.node(parent)?;
        let Some(name) = name.to_str() else {
            return Err(FsError::new(libc::ENOENT, "name is not UTF-8"));
        };
        match &parent_kind {
            NodeKind::Root => match self.root_children().into_iter().find(|(n, _)| n == name) {
                Some((_, kind)) => Ok(self.place(parent, name, kind, Hold::Lookup)),
                None => Err(FsError::new(
                    libc::ENOENT,
                    format!("no bucket '{name}' is mounted"),
                )),
            },
            NodeKind::Dir { bucket, prefix } => {
                match self.buckets.lookup(bucket, prefix, name).await {
                    Ok(Some(child)) => {
                        Ok(self.adopt(parent, &parent_kind, name, child, Hold::Lookup))
                    }
                    Ok(None) => Err(FsError::quiet(libc::ENOENT)),
                    Err(e) => Err(FsError::from_store(&e)),
                }
            }
            NodeKind::ViewsRoot => {
                let known = self.views.as_ref().is_some_and(|v| v.contains(name));
                if known {
                    let kind = NodeKind::View {
                        view: name.into(),
                        folder: None,
                    };
                    Ok(self.place(parent, name, kind, Hold::Lookup))
                } else {
                    Err(FsError::new(
                        libc::ENOENT,
                        format!("no view named '{name}' is configured"),
                    ))
                }
            }
            NodeKind::View { view, folder } => {
                let listing = self.view_listing(view).await?;
                let kind = if folder.is_none() && name == MANIFEST_NAME {
                    manifest_node(&listing)
                } else {
                    match listing.entry(folder.as_deref(), name) {
                        Some(entry) => view_node(view, &listing, name, entry),
                        None => return Err(FsError::quiet(libc::ENOENT)),
                    }
                };
                Ok(self.place(parent, name, kind, Hold::Lookup))
            }
            NodeKind::StatusDir if name == STATS_FILE => {
                Ok(self.place(parent, name, NodeKind::StatsFile, Hold::Lookup))
            }
            NodeKind::StatusDir => Err(FsError::quiet(libc::ENOENT)),
            NodeKind::File { .. } | NodeKind::Virtual { .. } | NodeKind::StatsFile => {
                Err(FsError::new(libc::ENOTDIR, "not a directory"))
            }
        }
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
                attr: self.attr_of(parent, &NodeKind::Root),
            },
        ];
        let mut listing_kept = None;
        let children = match &kind {
            NodeKind::Root => self.root_children(),
            NodeKind::ViewsRoot => self
                .views
                .iter()
                .flat_map(|v| v.names())
                .map(|name| {
                    (
                        name.to_string(),
                        NodeKind::View {
                            view: name.into(),
                            folder: None,
                        },
                    )
                })
                .collect(),
            NodeKind::View { view, folder } => self.view_children(view, folder).await?,
            NodeKind::Dir { bucket, prefix } => {
                let listing = self
                    .buckets
                    .list(bucket, prefix)
                    .await
                    .map_err(|e| FsError::from_store(&e))?;
                listing_kept = Some(self.inodes.lock().note_listing(ino, listing.fetched));
                for (name, child) in &listing.children {
                    let attr = self.adopt(ino, &kind, name, child.clone(), Hold::Snapshot);
                    entries.push(DirEntry {
                        name: name.into(),
                        attr,
                    });
                }
                Vec::new()
            }
            NodeKind::StatusDir => vec![(STATS_FILE.to_string(), NodeKind::StatsFile)],
            NodeKind::File { .. } | NodeKind::Virtual { .. } | NodeKind::StatsFile => {
                return Err(FsError::new(libc::ENOTDIR, "not a directory"))
            }
        };
        for (name, child) in children {
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
            NodeKind::StatsFile => {
                let mut text =
                    serde_json::to_vec_pretty(&crate::stats::snapshot(self)).unwrap_or_default();
                text.push(b'\n');
                return Ok(self.open_memory(Bytes::from(text), true));
            }
            _ => return Err(FsError::new(libc::EISDIR, "is a directory")),
        };
        if checked.elapsed() >= self.opts.metadata_ttl {
            meta = self
                .buckets
                .head(&bucket, &key)
                .await
                .map_err(|e| FsError::from_store(&e))?;
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
        self.buckets.drop_metadata();
    }

    /// The names handed to the kernel so far, (parent, name, inode): what it may still
    /// answer from its own caches after [`Fs::drop_metadata`] unless told to forget.
    pub fn known_entries(&self) -> Vec<(u64, std::ffi::OsString, u64)> {
        self.inodes.lock().entries()
    }
}

/// The manifest file of a view.
fn manifest_node(listing: &ViewListing) -> NodeKind {
    NodeKind::Virtual {
        data: Bytes::from(listing.manifest.clone().into_bytes()),
        mtime: listing.resolved_at,
    }
}

/// The inode kind of one entry of a view's listing.
fn view_node(view: &Arc<str>, listing: &ViewListing, name: &str, entry: ViewEntry) -> NodeKind {
    match entry {
        ViewEntry::Folder => NodeKind::View {
            view: view.clone(),
            folder: Some(name.to_string()),
        },
        ViewEntry::File(i) => {
            let f = &listing.files[i];
            // The listing's metadata is as old as its resolution (views refresh daily): an
            // open past the metadata TTL checks the object again, as for bucket files.
            let age = listing.resolved_at.elapsed().unwrap_or_default();
            let checked = Instant::now().checked_sub(age).unwrap_or_else(Instant::now);
            NodeKind::File {
                bucket: f.bucket.as_str().into(),
                key: f.key.as_str().into(),
                meta: f.meta(),
                checked,
                origin: Some(Arc::new(Origin {
                    data_uri: f.data_uri.clone(),
                    s3_uri: f.s3_uri(),
                    obsid: f.obsid.clone(),
                })),
            }
        }
    }
}

#[cfg(test)]
mod tests;
