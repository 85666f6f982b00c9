//! The kernel adapter: translates FUSE requests into calls on the filesystem core.
//!
//! Owns no semantics. Each request that may wait on the network is handed, with its reply
//! object, to a task on the tokio runtime and answered from there, so a slow GET never holds
//! up `ls` or reads of other files, and the kernel may keep many reads in flight.
//!
//! With a disk cache, root and Linux >= 6.9, an object wholly on disk is opened by FUSE
//! passthrough: the kernel reads the core's local copy itself (see `backing.rs`; how an
//! open is answered either way is in `open.rs`, the conversions of answers in `reply.rs`).

mod backing;
mod open;
mod reply;

use std::ffi::OsStr;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use fuser::{
    AccessFlags, Errno, FileHandle, Filesystem, FopenFlags, Generation, INodeNo, InitFlags,
    KernelConfig, LockOwner, OpenAccMode, OpenFlags, RenameFlags, ReplyAttr, ReplyCreate,
    ReplyData, ReplyDirectory, ReplyDirectoryPlus, ReplyEmpty, ReplyEntry, ReplyOpen, ReplyStatfs,
    ReplyWrite, ReplyXattr, Request, TimeOrNow, WriteFlags,
};
use tokio::runtime::Handle;
use tracing::Instrument;

use crate::fs::Fs;
use backing::Backings;
use open::{reply_open, reply_ordinary};
use reply::{errno, file_attr, file_type, xattr_reply};

/// The `fuser::Filesystem` of a mount.
pub struct FuseAdapter {
    fs: Arc<Fs>,
    runtime: Handle,
    ttl: Duration,
    backings: Arc<Backings>,
    /// The kernel granted passthrough at init: opens go through [`Backings`] (even once
    /// passthrough is turned off, for the inodes still open that way).
    negotiated: bool,
}

impl FuseAdapter {
    pub fn new(fs: Arc<Fs>, runtime: Handle) -> FuseAdapter {
        let ttl = fs.options().metadata_ttl;
        FuseAdapter {
            fs,
            runtime,
            ttl,
            backings: Arc::default(),
            negotiated: false,
        }
    }

    /// Asks the kernel for passthrough when everything it needs is there; says once, in
    /// the log, whether it is on and if not why.
    fn negotiate_passthrough(&mut self, config: &mut KernelConfig) {
        let status = &self.fs.passthrough;
        let offered = config.capabilities().contains(InitFlags::FUSE_PASSTHROUGH);
        let why_not = if !self.fs.options().passthrough {
            Some("turned off (--no-passthrough)")
        } else if self.fs.cache().disk().is_none() {
            Some("no disk cache (--disk-cache or --cache-dir turns it on)")
        } else if !nix::unistd::geteuid().is_root() {
            Some("not root (the kernel lets only CAP_SYS_ADMIN register backing files)")
        } else if !offered {
            Some("the kernel does not offer it (Linux >= 6.9 with CONFIG_FUSE_PASSTHROUGH)")
        } else {
            None
        };
        let why_not = why_not.or_else(|| {
            // Depth 2: the cache folder may itself be on a stacked file system (overlayfs
            // in a container).
            let granted = config.add_capabilities(InitFlags::FUSE_PASSTHROUGH).is_ok()
                && config.set_max_stack_depth(2).is_ok();
            (!granted).then_some("the kernel refused the capability")
        });
        match why_not {
            None => {
                self.negotiated = true;
                status.enable();
                self.fs.cache().set_whole_files(true);
                tracing::info!(
                    "passthrough on: files wholly in the disk cache are read by the kernel \
                     from local copies"
                );
            }
            Some(reason) => {
                status.disable(reason);
                tracing::info!("passthrough off: {reason}");
            }
        }
    }

    /// Runs `work` on the runtime with its own clone of the core, inside `span`: the log
    /// lines of the request, and of the S3 requests it causes, carry its operation and id.
    fn spawn<F, Fut>(&self, span: tracing::Span, work: F)
    where
        F: FnOnce(Arc<Fs>) -> Fut + Send + 'static,
        Fut: std::future::Future<Output = ()> + Send + 'static,
    {
        let fs = self.fs.clone();
        self.runtime
            .spawn(async move { work(fs).await }.instrument(span));
    }
}

/// The span of one FUSE request: its operation, the kernel's request id and the caller.
fn request_span(op: &'static str, req: &Request) -> tracing::Span {
    tracing::debug_span!("fuse", op, req = req.unique().0, pid = req.pid())
}

impl Filesystem for FuseAdapter {
    fn init(&mut self, _req: &Request, config: &mut KernelConfig) -> std::io::Result<()> {
        // The kernel's own read-ahead stays small (it also sizes the read-around of mmap
        // faults, which would turn a cutout into megabytes); mastfs's read-ahead streams
        // sequential readers instead. Many background requests keep reads in flight;
        // readdirplus answers `ls -l` with attributes, no lookup per entry.
        let _ = config.set_max_readahead(128 << 10);
        let _ = config.set_max_background(128);
        let _ = config.set_congestion_threshold(96);
        let wanted = InitFlags::FUSE_DO_READDIRPLUS | InitFlags::FUSE_PARALLEL_DIROPS;
        let _ = config.add_capabilities(wanted & config.capabilities());
        self.negotiate_passthrough(config);
        Ok(())
    }

    fn lookup(&self, req: &Request, parent: INodeNo, name: &OsStr, reply: ReplyEntry) {
        let name = name.to_os_string();
        let ttl = self.ttl;
        self.spawn(request_span("lookup", req), move |fs| async move {
            match fs.lookup(parent.0, &name).await {
                Ok(a) => reply.entry(&ttl, &file_attr(&a), Generation(0)),
                Err(e) => reply.error(errno("lookup", &e)),
            }
        });
    }

    // BATCH_FORGET: fuser's default `batch_forget` calls this once per inode (fuser 0.18
    // keeps its `ForgetOne` type private, so it cannot be overridden anyway).
    fn forget(&self, _req: &Request, ino: INodeNo, nlookup: u64) {
        self.fs.forget(ino.0, nlookup);
    }

    fn getattr(&self, req: &Request, ino: INodeNo, _fh: Option<FileHandle>, reply: ReplyAttr) {
        let ttl = self.ttl;
        self.spawn(request_span("getattr", req), move |fs| async move {
            match fs.getattr(ino.0).await {
                Ok(a) => reply.attr(&ttl, &file_attr(&a)),
                Err(e) => reply.error(errno("getattr", &e)),
            }
        });
    }

    fn open(&self, req: &Request, ino: INodeNo, flags: OpenFlags, reply: ReplyOpen) {
        if flags.acc_mode() != OpenAccMode::O_RDONLY || flags.0 & libc::O_TRUNC != 0 {
            reply.error(Errno::EROFS);
            return;
        }
        let backings = self.backings.clone();
        self.spawn(request_span("open", req), move |fs| async move {
            let passthrough = fs.passthrough.enabled();
            match fs.open_with(ino.0, passthrough).await {
                Ok(opened) if passthrough => reply_open(&fs, &backings, ino.0, opened, reply).await,
                Ok(opened) => reply_ordinary(&opened, reply),
                Err(e) => reply.error(errno("open", &e)),
            }
        });
    }

    fn read(
        &self,
        req: &Request,
        _ino: INodeNo,
        fh: FileHandle,
        offset: u64,
        size: u32,
        _flags: OpenFlags,
        _lock_owner: Option<LockOwner>,
        reply: ReplyData,
    ) {
        self.spawn(request_span("read", req), move |fs| async move {
            match fs.read(fh.0, offset, size).await {
                Ok(data) => reply.data(&data),
                Err(e) => reply.error(errno("read", &e)),
            }
        });
    }

    fn release(
        &self,
        _req: &Request,
        _ino: INodeNo,
        fh: FileHandle,
        _flags: OpenFlags,
        _lock_owner: Option<LockOwner>,
        _flush: bool,
        reply: ReplyEmpty,
    ) {
        self.fs.release(fh.0);
        self.backings.release(fh.0);
        reply.ok();
    }

    fn opendir(&self, req: &Request, ino: INodeNo, _flags: OpenFlags, reply: ReplyOpen) {
        self.spawn(request_span("opendir", req), move |fs| async move {
            match fs.opendir(ino.0).await {
                Ok(opened) => {
                    // A bucket folder's entries may stay in the kernel's cache: a repeated
                    // `ls` then costs no READDIRPLUS at all. They are kept across opens only
                    // while the listing behind them is the same (TTL, SIGHUP).
                    let mut flags = FopenFlags::empty();
                    if opened.cache_entries {
                        flags |= FopenFlags::FOPEN_CACHE_DIR;
                    }
                    if opened.keep_cache {
                        flags |= FopenFlags::FOPEN_KEEP_CACHE;
                    }
                    reply.opened(FileHandle(opened.fh), flags)
                }
                Err(e) => reply.error(errno("opendir", &e)),
            }
        });
    }

    fn readdir(
        &self,
        _req: &Request,
        _ino: INodeNo,
        fh: FileHandle,
        offset: u64,
        mut reply: ReplyDirectory,
    ) {
        let Some(entries) = self.fs.dir_entries(fh.0) else {
            reply.error(Errno::EBADF);
            return;
        };
        for (i, e) in entries.iter().enumerate().skip(offset as usize) {
            let kind = file_type(e.attr.kind);
            if reply.add(INodeNo(e.attr.ino), i as u64 + 1, kind, &e.name) {
                break;
            }
        }
        reply.ok();
    }

    fn readdirplus(
        &self,
        _req: &Request,
        _ino: INodeNo,
        fh: FileHandle,
        offset: u64,
        mut reply: ReplyDirectoryPlus,
    ) {
        let Some(entries) = self.fs.dir_entries(fh.0) else {
            reply.error(Errno::EBADF);
            return;
        };
        for (i, e) in entries.iter().enumerate().skip(offset as usize) {
            let attr = file_attr(&e.attr);
            if reply.add(
                INodeNo(e.attr.ino),
                i as u64 + 1,
                &e.name,
                &self.ttl,
                &attr,
                Generation(0),
            ) {
                break;
            }
            // The entry is in the reply: the kernel takes a reference on it.
            self.fs.note_plus_entry(e);
        }
        reply.ok();
    }

    fn releasedir(
        &self,
        _req: &Request,
        _ino: INodeNo,
        fh: FileHandle,
        _flags: OpenFlags,
        reply: ReplyEmpty,
    ) {
        self.fs.releasedir(fh.0);
        reply.ok();
    }

    fn statfs(&self, _req: &Request, _ino: INodeNo, reply: ReplyStatfs) {
        reply.statfs(0, 0, 0, 0, 0, 4096, 255, 4096);
    }

    fn access(&self, _req: &Request, _ino: INodeNo, mask: AccessFlags, reply: ReplyEmpty) {
        if mask.contains(AccessFlags::W_OK) {
            reply.error(Errno::EROFS);
        } else {
            reply.ok();
        }
    }

    fn getxattr(&self, _req: &Request, ino: INodeNo, name: &OsStr, size: u32, reply: ReplyXattr) {
        // `ls -l` asks every entry for `security.selinux` and `system.posix_acl_access`:
        // two round trips through the daemon per file, which made a warm `ls -l` of 1000
        // entries 4-5x slower than a local one. Without views no inode has extended
        // attributes, and ENOSYS makes the kernel stop asking for the rest of the mount
        // (callers then get EOPNOTSUPP without a round trip).
        if !self.fs.has_xattrs() {
            reply.error(Errno::ENOSYS);
            return;
        }
        let attrs = self.fs.xattrs(ino.0);
        let Some((_, value)) = attrs.iter().find(|(k, _)| OsStr::new(k) == name) else {
            reply.error(Errno::from_i32(libc::ENODATA));
            return;
        };
        xattr_reply(reply, size, value);
    }

    fn listxattr(&self, _req: &Request, ino: INodeNo, size: u32, reply: ReplyXattr) {
        let mut names = Vec::new();
        for (k, _) in self.fs.xattrs(ino.0) {
            names.extend_from_slice(k.as_bytes());
            names.push(0);
        }
        xattr_reply(reply, size, &names);
    }

    // ---- every write-type operation: read-only file system ----

    fn setattr(
        &self,
        _req: &Request,
        _ino: INodeNo,
        _mode: Option<u32>,
        _uid: Option<u32>,
        _gid: Option<u32>,
        _size: Option<u64>,
        _atime: Option<TimeOrNow>,
        _mtime: Option<TimeOrNow>,
        _ctime: Option<SystemTime>,
        _fh: Option<FileHandle>,
        _crtime: Option<SystemTime>,
        _chgtime: Option<SystemTime>,
        _bkuptime: Option<SystemTime>,
        _flags: Option<fuser::BsdFileFlags>,
        reply: ReplyAttr,
    ) {
        reply.error(Errno::EROFS);
    }

    fn mknod(
        &self,
        _req: &Request,
        _parent: INodeNo,
        _name: &OsStr,
        _mode: u32,
        _umask: u32,
        _rdev: u32,
        reply: ReplyEntry,
    ) {
        reply.error(Errno::EROFS);
    }

    fn mkdir(
        &self,
        _req: &Request,
        _parent: INodeNo,
        _name: &OsStr,
        _mode: u32,
        _umask: u32,
        reply: ReplyEntry,
    ) {
        reply.error(Errno::EROFS);
    }

    fn unlink(&self, _req: &Request, _parent: INodeNo, _name: &OsStr, reply: ReplyEmpty) {
        reply.error(Errno::EROFS);
    }

    fn rmdir(&self, _req: &Request, _parent: INodeNo, _name: &OsStr, reply: ReplyEmpty) {
        reply.error(Errno::EROFS);
    }

    fn symlink(
        &self,
        _req: &Request,
        _parent: INodeNo,
        _link_name: &OsStr,
        _target: &Path,
        reply: ReplyEntry,
    ) {
        reply.error(Errno::EROFS);
    }

    fn rename(
        &self,
        _req: &Request,
        _parent: INodeNo,
        _name: &OsStr,
        _newparent: INodeNo,
        _newname: &OsStr,
        _flags: RenameFlags,
        reply: ReplyEmpty,
    ) {
        reply.error(Errno::EROFS);
    }

    fn link(
        &self,
        _req: &Request,
        _ino: INodeNo,
        _newparent: INodeNo,
        _newname: &OsStr,
        reply: ReplyEntry,
    ) {
        reply.error(Errno::EROFS);
    }

    fn write(
        &self,
        _req: &Request,
        _ino: INodeNo,
        _fh: FileHandle,
        _offset: u64,
        _data: &[u8],
        _write_flags: WriteFlags,
        _flags: OpenFlags,
        _lock_owner: Option<LockOwner>,
        reply: ReplyWrite,
    ) {
        reply.error(Errno::EROFS);
    }

    fn create(
        &self,
        _req: &Request,
        _parent: INodeNo,
        _name: &OsStr,
        _mode: u32,
        _umask: u32,
        _flags: i32,
        reply: ReplyCreate,
    ) {
        reply.error(Errno::EROFS);
    }

    fn setxattr(
        &self,
        _req: &Request,
        _ino: INodeNo,
        _name: &OsStr,
        _value: &[u8],
        _flags: i32,
        _position: u32,
        reply: ReplyEmpty,
    ) {
        reply.error(Errno::EROFS);
    }

    fn removexattr(&self, _req: &Request, _ino: INodeNo, _name: &OsStr, reply: ReplyEmpty) {
        reply.error(Errno::EROFS);
    }

    fn fallocate(
        &self,
        _req: &Request,
        _ino: INodeNo,
        _fh: FileHandle,
        _offset: u64,
        _length: u64,
        _mode: i32,
        reply: ReplyEmpty,
    ) {
        reply.error(Errno::EROFS);
    }
}
