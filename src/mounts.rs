//! The kernel's mount table as mastfs sees it: which mastfs mounts exist, where, and which
//! user serves each. Commands find a mount's daemon from this alone, so they work from any
//! shell, user or environment (another `XDG_RUNTIME_DIR`, sudo, systemd, fstab).

use std::path::{Path, PathBuf};

/// One mastfs mount of `/proc/self/mountinfo`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MastfsMount {
    pub mountpoint: PathBuf,
    /// The user whose daemon serves it (the FUSE `user_id=` option).
    pub uid: u32,
}

/// Every mastfs mount visible to this process.
pub fn mastfs_mounts() -> Vec<MastfsMount> {
    parse_mountinfo(&std::fs::read_to_string("/proc/self/mountinfo").unwrap_or_default())
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

/// mastfs entries of a mountinfo text: `ID PARENT MAJ:MIN ROOT MOUNTPOINT OPTIONS
/// [OPTIONAL...] - FSTYPE SOURCE SUPER_OPTIONS`.
fn parse_mountinfo(text: &str) -> Vec<MastfsMount> {
    text.lines()
        .filter_map(|line| {
            let (before, after) = line.split_once(" - ")?;
            let mountpoint = before.split(' ').nth(4)?;
            let mut tail = after.split(' ');
            let (fs_type, source, options) = (tail.next()?, tail.next()?, tail.next()?);
            if !(fs_type == "fuse.mastfs" || (source == "mastfs" && fs_type.starts_with("fuse"))) {
                return None;
            }
            let uid = options
                .split(',')
                .find_map(|o| o.strip_prefix("user_id="))
                .and_then(|v| v.parse().ok())?;
            Some(MastfsMount {
                mountpoint: PathBuf::from(unescape_mount_field(mountpoint)),
                uid,
            })
        })
        .collect()
}

/// The mount table writes space, tab, newline and backslash as octal escapes.
pub fn unescape_mount_field(field: &str) -> String {
    field
        .replace("\\040", " ")
        .replace("\\011", "\t")
        .replace("\\012", "\n")
        .replace("\\134", "\\")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mountinfo_gives_mastfs_mounts_and_their_users() {
        let text = "\
36 35 98:0 / /mnt1 rw,noatime master:1 - ext3 /dev/root rw,errors=continue
412 30 0:52 / /home/a/my\\040mast ro,nosuid,nodev,relatime shared:200 - fuse.mastfs mastfs ro,user_id=1000,group_id=1000,default_permissions
413 30 0:53 / /mnt/other rw - fuse.sshfs host: rw,user_id=0,group_id=0
";
        assert_eq!(
            parse_mountinfo(text),
            vec![MastfsMount {
                mountpoint: PathBuf::from("/home/a/my mast"),
                uid: 1000
            }]
        );
    }

    #[test]
    fn mount_table_escapes() {
        assert_eq!(unescape_mount_field("/mnt/a\\040b"), "/mnt/a b");
    }
}
