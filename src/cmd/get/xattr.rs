//! Reading and writing extended attributes by path (view files name their object in one; a
//! `.part` file records the ETag it holds a prefix of).

use std::ffi::CString;
use std::fs::File;
use std::os::fd::AsRawFd;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

pub(super) fn getxattr(path: &Path, name: &str) -> Option<String> {
    let p = CString::new(path.as_os_str().as_bytes()).ok()?;
    let n = CString::new(name).ok()?;
    let mut buf = vec![0u8; 4096];
    // SAFETY: valid C strings and a buffer of the length passed.
    let len = unsafe { libc::getxattr(p.as_ptr(), n.as_ptr(), buf.as_mut_ptr().cast(), buf.len()) };
    if len < 0 {
        return None;
    }
    buf.truncate(len as usize);
    String::from_utf8(buf).ok()
}

/// The attribute `name` of an open file (no path: nothing to swap underneath).
pub(super) fn fgetxattr(file: &File, name: &str) -> Option<String> {
    let n = CString::new(name).ok()?;
    let mut buf = vec![0u8; 4096];
    // SAFETY: an open descriptor, a valid C string and a buffer of the length passed.
    let len = unsafe {
        libc::fgetxattr(
            file.as_raw_fd(),
            n.as_ptr(),
            buf.as_mut_ptr().cast(),
            buf.len(),
        )
    };
    if len < 0 {
        return None;
    }
    buf.truncate(len as usize);
    String::from_utf8(buf).ok()
}

/// Sets the attribute `name` of an open file. Best effort: a file system without user
/// attributes just does not keep it (and a `.part` there is then never resumed).
pub(super) fn fsetxattr(file: &File, name: &str, value: &str) {
    let Ok(n) = CString::new(name) else {
        return;
    };
    // SAFETY: an open descriptor, a valid C string and a value buffer of the length passed.
    unsafe {
        libc::fsetxattr(
            file.as_raw_fd(),
            n.as_ptr(),
            value.as_ptr().cast(),
            value.len(),
            0,
        )
    };
}
