//! Core answers in the kernel's terms: attributes, xattr values within the caller's
//! buffer, errors as errnos (logged when they carry a message).

use fuser::{Errno, FileAttr, FileType, INodeNo, ReplyXattr};

use crate::fs::{Attr, FsError, Kind};

/// The kernel's attributes of a core inode (times are the object's mtime).
pub(super) fn file_attr(a: &Attr) -> FileAttr {
    FileAttr {
        ino: INodeNo(a.ino),
        size: a.size,
        blocks: a.size.div_ceil(512),
        atime: a.mtime,
        mtime: a.mtime,
        ctime: a.mtime,
        crtime: a.mtime,
        kind: file_type(a.kind),
        perm: a.perm,
        nlink: a.nlink,
        uid: a.uid,
        gid: a.gid,
        rdev: 0,
        blksize: a.blksize,
        flags: 0,
    }
}

pub(super) fn file_type(kind: Kind) -> FileType {
    match kind {
        Kind::Dir => FileType::Directory,
        Kind::File => FileType::RegularFile,
    }
}

/// Answers an xattr query: the length when asked for it (size 0), the bytes when they
/// fit, ERANGE when they do not.
pub(super) fn xattr_reply(reply: ReplyXattr, size: u32, value: &[u8]) {
    if size == 0 {
        reply.size(value.len() as u32);
    } else if value.len() <= size as usize {
        reply.data(value);
    } else {
        reply.error(Errno::ERANGE);
    }
}

/// Logs an error worth a line and converts it for the kernel.
pub(super) fn errno(op: &str, e: &FsError) -> Errno {
    if !e.message.is_empty() {
        if e.errno == libc::ENOENT {
            tracing::debug!(op, errno = e.errno, "{}", e.message);
        } else {
            tracing::warn!(op, errno = e.errno, "{}", e.message);
        }
    }
    Errno::from_i32(e.errno)
}
