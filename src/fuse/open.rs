//! How an open is answered: the ordinary way (reads come to the daemon), or by passthrough
//! when the disk cache holds the object and the inode's other handles allow it.

use std::sync::atomic::Ordering;
use std::time::Duration;

use fuser::{FileHandle, FopenFlags, ReplyOpen};

use super::backing::{Answer, Backings};
use super::reply::errno;
use crate::fs::{Fs, FsError, Opened};

/// How many times (10 ms apart) an open that conflicts with a passthrough handle of another
/// object version is tried again before it is refused.
const CONFLICT_RETRIES: usize = 20;

/// Answers an open the ordinary way: reads come to the daemon.
pub(super) fn reply_ordinary(opened: &Opened, reply: ReplyOpen) {
    let mut flags = FopenFlags::empty();
    if opened.keep_cache {
        flags |= FopenFlags::FOPEN_KEEP_CACHE;
    }
    if opened.direct_io {
        flags |= FopenFlags::FOPEN_DIRECT_IO;
    }
    reply.opened(FileHandle(opened.fh), flags)
}

/// Answers an open on a mount with passthrough on: by passthrough when the inode's other
/// handles allow it (see [`Backings`]), else the ordinary way.
pub(super) async fn reply_open(
    fs: &Fs,
    backings: &Backings,
    ino: u64,
    opened: Opened,
    reply: ReplyOpen,
) {
    let etag = opened.object.as_ref().map(|o| &o.etag);
    let admit = || {
        backings.admit(ino, opened.fh, etag, opened.backing.as_ref(), |file| {
            reply.open_backing(file)
        })
    };
    let (mut answer, mut refused) = admit();
    // A conflict with handles just closed: the kernel sends RELEASE in the background, so
    // it may reach us after this open. Give it a moment before refusing.
    for _ in 0..CONFLICT_RETRIES {
        if !matches!(answer, Answer::Conflict { .. }) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
        (answer, refused) = admit();
    }
    if let Some(e) = refused {
        // EPERM (no CAP_SYS_ADMIN in the initial namespace), ELOOP (cache folder too deeply
        // stacked)...: the same for every file, so stop trying.
        if fs.passthrough.enabled() {
            tracing::warn!(
                "passthrough off: the kernel refused a backing file from the disk cache \
                 ({e}); files are served the ordinary way"
            );
        }
        fs.passthrough
            .disable(format!("the kernel refused a backing file: {e}"));
    }
    match answer {
        Answer::Passthrough(id) => {
            fs.passthrough.opens.fetch_add(1, Ordering::Relaxed);
            reply.opened_passthrough(FileHandle(opened.fh), FopenFlags::empty(), &id)
        }
        Answer::Ordinary => {
            if opened.backing.is_some() {
                fs.passthrough.declined.fetch_add(1, Ordering::Relaxed);
            }
            reply_ordinary(&opened, reply)
        }
        Answer::Conflict { open_etag } => {
            fs.release(opened.fh);
            let (name, etag) = match &opened.object {
                Some(o) => (format!("s3://{}/{}", o.bucket, o.key), o.etag.to_string()),
                None => (format!("inode {ino}"), String::new()),
            };
            let e = FsError::new(
                libc::EBUSY,
                format!(
                    "{name} changed (ETag {etag} now, {open_etag} still open by \
                     passthrough): the kernel serves one version of a file while it is open \
                     that way; close the other readers and open it again"
                ),
            );
            reply.error(errno("open", &e))
        }
    }
}
