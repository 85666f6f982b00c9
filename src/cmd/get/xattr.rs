//! Reading and writing extended attributes by path (view files name their object in one; a
//! `.part` file records the ETag it holds a prefix of).

use std::fs::File;
use std::path::Path;

use xattr::FileExt;

/// The attribute `name` of the file at `path`, following symlinks as getxattr(2) does.
pub(super) fn getxattr(path: &Path, name: &str) -> Option<String> {
    let value = xattr::get_deref(path, name).ok()??;
    String::from_utf8(value).ok()
}

/// The attribute `name` of an open file (no path: nothing to swap underneath).
pub(super) fn fgetxattr(file: &File, name: &str) -> Option<String> {
    let value = file.get_xattr(name).ok()??;
    String::from_utf8(value).ok()
}

/// Sets the attribute `name` of an open file. Best effort: a file system without user
/// attributes just does not keep it (and a `.part` there is then never resumed).
pub(super) fn fsetxattr(file: &File, name: &str, value: &str) {
    let _ = file.set_xattr(name, value.as_bytes());
}
