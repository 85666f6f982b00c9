//! The kernel's mount table as mastfs sees it: which mastfs mounts exist, where, and which
//! user serves each. Commands find a mount's daemon from this alone, so they work from any
//! shell, user or environment (another `XDG_RUNTIME_DIR`, sudo, systemd, fstab).

use std::ffi::OsString;
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::path::{Path, PathBuf};

use procfs_core::process::MountInfo;

/// One mastfs mount of `/proc/self/mountinfo`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MastfsMount {
    pub mountpoint: PathBuf,
    /// The user whose daemon serves it (the FUSE `user_id=` option).
    pub uid: u32,
}

/// Every mastfs mount visible to this process.
pub fn mastfs_mounts() -> Vec<MastfsMount> {
    mastfs_entries(&mount_table())
}

/// Whether something (of any file system) is mounted at exactly `path`.
pub fn is_mount_point(path: &Path) -> bool {
    mount_table().iter().any(|m| m.mount_point == path)
}

/// This process's mount table, its mount points unescaped.
fn mount_table() -> Vec<MountInfo> {
    parse_mountinfo(&std::fs::read("/proc/self/mountinfo").unwrap_or_default())
}

/// Mount points of mastfs mounts.
pub fn mastfs_mount_points() -> Vec<PathBuf> {
    mastfs_mounts().into_iter().map(|m| m.mountpoint).collect()
}

/// The mastfs mount that `path` is, or is under (the innermost one).
pub fn mount_containing(path: &Path) -> Option<MastfsMount> {
    let mounts = mastfs_mounts();
    let innermost = |p: &Path| {
        mounts
            .iter()
            .filter(|m| p.starts_with(&m.mountpoint))
            .max_by_key(|m| m.mountpoint.as_os_str().len())
            .cloned()
    };
    let absolute = std::path::absolute(path).ok()?;
    if let Some(found) = mounts.iter().find(|m| m.mountpoint == absolute) {
        return Some(found.clone());
    }
    // The parent resolves without asking the mount's daemon (which may be hung).
    if let (Some(parent), Some(name)) = (absolute.parent(), absolute.file_name()) {
        if let Ok(parent) = std::fs::canonicalize(parent) {
            if let Some(found) = mounts.iter().find(|m| m.mountpoint == parent.join(name)) {
                return Some(found.clone());
            }
        }
    }
    std::fs::canonicalize(&absolute)
        .ok()
        .and_then(|c| innermost(&c))
        .or_else(|| innermost(&absolute))
}

/// The path as the mount table will record it once mounted: symlinks in it resolved.
pub fn canonical_mountpoint(path: &Path) -> PathBuf {
    let absolute = std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf());
    match (absolute.parent(), absolute.file_name()) {
        (Some(parent), Some(name)) => std::fs::canonicalize(parent)
            .map(|p| p.join(name))
            .unwrap_or(absolute),
        _ => absolute,
    }
}

/// The entries of a mountinfo text (`ID PARENT MAJ:MIN ROOT MOUNTPOINT OPTIONS
/// [OPTIONAL...] - FSTYPE SOURCE SUPER_OPTIONS`), parsed line by line by procfs so that one
/// line it cannot read (a name that is not UTF-8) hides no other mount.
fn parse_mountinfo(text: &[u8]) -> Vec<MountInfo> {
    text.split(|b| *b == b'\n')
        .filter(|line| !line.is_empty())
        .filter_map(|line| MountInfo::from_line(std::str::from_utf8(line).ok()?).ok())
        .map(|mut m| {
            m.mount_point = unescape_mount_field(m.mount_point.as_os_str().as_bytes());
            m
        })
        .collect()
}

/// The mastfs mounts among `table`, with the user serving each.
fn mastfs_entries(table: &[MountInfo]) -> Vec<MastfsMount> {
    table
        .iter()
        .filter(|m| {
            m.fs_type == "fuse.mastfs"
                || (m.mount_source.as_deref() == Some("mastfs") && m.fs_type.starts_with("fuse"))
        })
        .filter_map(|m| {
            let uid = m.super_options.get("user_id")?.as_deref()?.parse().ok()?;
            Some(MastfsMount {
                mountpoint: m.mount_point.clone(),
                uid,
            })
        })
        .collect()
}

/// The kernel writes space, tab, newline and backslash of a mount point as `\ooo` octal
/// escapes (procfs hands the field over as written).
fn unescape_mount_field(field: &[u8]) -> PathBuf {
    let mut out = Vec::with_capacity(field.len());
    let mut i = 0;
    while i < field.len() {
        let octal = field
            .get(i + 1..i + 4)
            .filter(|d| field[i] == b'\\' && d.iter().all(|c| (b'0'..=b'7').contains(c)))
            .map(|d| d.iter().fold(0u32, |n, c| n * 8 + u32::from(c - b'0')))
            .and_then(|n| u8::try_from(n).ok());
        match octal {
            Some(byte) => {
                out.push(byte);
                i += 4;
            }
            None => {
                out.push(field[i]);
                i += 1;
            }
        }
    }
    PathBuf::from(OsString::from_vec(out))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mountinfo_gives_mastfs_mounts_and_their_users() {
        let text = b"\
36 35 98:0 / /mnt1 rw,noatime master:1 - ext3 /dev/root rw,errors=continue
412 30 0:52 / /home/a/my\\040mast ro,nosuid,nodev,relatime shared:200 - fuse.mastfs mastfs ro,user_id=1000,group_id=1000,default_permissions
413 30 0:53 / /mnt/other rw - fuse.sshfs host: rw,user_id=0,group_id=0
";
        assert_eq!(
            mastfs_entries(&parse_mountinfo(text)),
            vec![MastfsMount {
                mountpoint: PathBuf::from("/home/a/my mast"),
                uid: 1000
            }]
        );
    }

    /// `get` (the mastfs mounts) and `unmount` (any mount point) read one table: a mount
    /// point with a tab and a backslash is found by both.
    #[test]
    fn tab_and_backslash_in_a_mount_point() {
        let text = b"\
412 30 0:52 / /mnt/tab\\011and\\134slash ro,nosuid shared:200 - fuse.mastfs mastfs ro,user_id=0,group_id=0
413 30 0:53 / /mnt/new\\012line\\040x rw - ext4 /dev/sda1 rw
";
        let table = parse_mountinfo(text);
        let points: Vec<&Path> = table.iter().map(|m| m.mount_point.as_path()).collect();
        assert_eq!(
            points,
            vec![
                Path::new("/mnt/tab\tand\\slash"),
                Path::new("/mnt/new\nline x")
            ]
        );
        assert_eq!(
            mastfs_entries(&table),
            vec![MastfsMount {
                mountpoint: PathBuf::from("/mnt/tab\tand\\slash"),
                uid: 0
            }]
        );
    }

    #[test]
    fn mount_table_escapes() {
        assert_eq!(unescape_mount_field(b"/mnt/a\\040b"), Path::new("/mnt/a b"));
        // A literal backslash before digits is itself escaped: `\134` then `040`.
        assert_eq!(
            unescape_mount_field(b"/mnt/a\\134040"),
            Path::new("/mnt/a\\040")
        );
        // Not an escape: kept as written.
        assert_eq!(
            unescape_mount_field(b"/mnt/a\\9x\\"),
            Path::new("/mnt/a\\9x\\")
        );
        assert_eq!(
            unescape_mount_field(b"/mnt/\\303\\251t\\303\\251"),
            Path::new("/mnt/été")
        );
    }

    #[test]
    fn a_line_procfs_cannot_read_hides_no_other_mount() {
        let text = b"\
1 0 0:1 / /mnt/\xff\xfe rw - ext4 /dev/sda1 rw
412 30 0:52 / /mnt/m ro shared:200 - fuse.mastfs mastfs ro,user_id=7,group_id=0
garbage
";
        assert_eq!(
            mastfs_entries(&parse_mountinfo(text)),
            vec![MastfsMount {
                mountpoint: PathBuf::from("/mnt/m"),
                uid: 7
            }]
        );
    }
}
