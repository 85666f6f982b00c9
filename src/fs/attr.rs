//! Attributes in the terms the kernel needs: what a node's kind, size, times, modes and
//! owner are, from its [`NodeKind`] and the mount's options.

use std::ffi::OsString;
use std::time::SystemTime;

use super::options::FsOptions;
use crate::namespace::NodeKind;

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

/// The attributes of inode `ino` of kind `kind` on a mount with `opts`, mounted at
/// `mounted_at` (the time directories show).
pub fn attr_of(opts: &FsOptions, mounted_at: SystemTime, ino: u64, kind: &NodeKind) -> Attr {
    let (kind, size, mtime) = match kind {
        NodeKind::Dir(_) => (Kind::Dir, 0, mounted_at),
        NodeKind::File { meta, .. } => (Kind::File, meta.size, meta.last_modified),
        NodeKind::Status(_) => (Kind::File, 0, SystemTime::now()),
        NodeKind::Virtual { data, mtime } => (Kind::File, data.len() as u64, *mtime),
    };
    let (perm, nlink) = match kind {
        Kind::Dir => (opts.dir_mode, 2),
        Kind::File => (opts.file_mode, 1),
    };
    Attr {
        ino,
        kind,
        size,
        mtime,
        perm,
        nlink,
        uid: opts.uid,
        gid: opts.gid,
        blksize: opts.blksize,
    }
}
