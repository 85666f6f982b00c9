//! The memory limit of the cgroup mastfs runs in (a Kubernetes container's
//! `resources.limits.memory`, a systemd `MemoryMax=`), and the block-cache budget derived
//! from it when none is given: like mountpoint-s3, the daemon as a whole aims at 95% of the
//! limit, so the kernel's OOM killer never has to pick it.
//!
//! cgroup v2 (`0::/path` in /proc/self/cgroup, `memory.max`) and v1 (the `memory`
//! controller, `memory.limit_in_bytes`) are both read; every ancestor's limit applies too,
//! so the smallest one along the path wins.

use std::path::{Path, PathBuf};

use procfs_core::{FromRead, ProcessCGroups};

/// What the daemon needs besides the block cache (runtime, inode table, buffers in flight,
/// the binary): the soak run's idle RSS is ~63 MiB (docs/RELIABILITY.md), VmHWM at most
/// cache + 64 MiB.
const DAEMON_OVERHEAD: u64 = 64 << 20;

/// The share of the limit the daemon may use (mountpoint-s3's choice).
const SHARE_PERCENT: u64 = 95;

/// Limits at or above this are "no limit" (cgroup v1 writes `PAGE_COUNTER_MAX` pages,
/// 9223372036854771712 on x86-64, for unlimited).
const UNLIMITED: u64 = 1 << 60;

/// The block-cache budget for a cgroup memory limit of `limit` bytes: 95% of it, less what
/// the daemon needs besides the cache, and never below `floor` (the config's smallest valid
/// cache, 4 blocks).
pub fn cache_budget(limit: u64, floor: u64) -> u64 {
    (limit / 100 * SHARE_PERCENT)
        .saturating_sub(DAEMON_OVERHEAD)
        .max(floor)
}

/// The memory limit of this process's cgroup, if there is one.
pub fn current() -> Option<u64> {
    let membership = std::fs::read_to_string("/proc/self/cgroup").ok()?;
    limit_from(&membership, Path::new("/sys/fs/cgroup"))
}

/// The smallest limit along this process's cgroup path, given the text of
/// /proc/self/cgroup and where the cgroup file systems are mounted.
pub fn limit_from(membership: &str, cgroup_root: &Path) -> Option<u64> {
    let groups = ProcessCGroups::from_read(membership.as_bytes()).ok()?;
    let mut limits = Vec::new();
    for group in &groups {
        let path = group.pathname.as_str();
        if group.controllers.is_empty() {
            limits.extend(smallest_along(
                &cgroup_root.join("unified"),
                path,
                "memory.max",
            ));
            limits.extend(smallest_along(cgroup_root, path, "memory.max"));
        } else if group.controllers.iter().any(|c| c == "memory") {
            limits.extend(smallest_along(
                &cgroup_root.join("memory"),
                path,
                "memory.limit_in_bytes",
            ));
        }
    }
    limits.into_iter().min()
}

/// The smallest limit in `file` of the cgroup at `path` under `root` and of its ancestors.
/// Inside a container the path seen is often `/` or one the container's own mount does not
/// have: the limit at the mount's root is the container's then.
fn smallest_along(root: &Path, path: &str, file: &str) -> Option<u64> {
    let mut dir = PathBuf::from(root);
    let mut found = read_limit(&dir.join(file));
    for part in path.split('/').filter(|p| !p.is_empty()) {
        dir.push(part);
        if !dir.is_dir() {
            break;
        }
        found = match (found, read_limit(&dir.join(file))) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
    }
    found
}

/// A limit file's value; `max` and the v1 "unlimited" value are no limit.
fn read_limit(file: &Path) -> Option<u64> {
    let text = std::fs::read_to_string(file).ok()?;
    let value: u64 = text.trim().parse().ok()?;
    (value < UNLIMITED).then_some(value)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(root: &Path, rel: &str, text: &str) {
        let file = root.join(rel);
        std::fs::create_dir_all(file.parent().unwrap()).unwrap();
        std::fs::write(file, text).unwrap();
    }

    #[test]
    fn v2_takes_the_smallest_limit_along_the_path() {
        let root = tempfile::tempdir().unwrap();
        write(root.path(), "memory.max", "max\n");
        write(root.path(), "kubepods/memory.max", "8589934592\n");
        write(root.path(), "kubepods/pod1/memory.max", "max\n");
        write(
            root.path(),
            "kubepods/pod1/mastfs/memory.max",
            "2147483648\n",
        );
        assert_eq!(
            limit_from("0::/kubepods/pod1/mastfs\n", root.path()),
            Some(2 << 30)
        );
        assert_eq!(
            limit_from("0::/kubepods/pod1\n", root.path()),
            Some(8 << 30)
        );
    }

    #[test]
    fn v2_namespace_root_is_the_containers_limit() {
        let root = tempfile::tempdir().unwrap();
        write(root.path(), "memory.max", "1073741824\n");
        assert_eq!(limit_from("0::/\n", root.path()), Some(1 << 30));
    }

    #[test]
    fn v1_memory_controller_and_unlimited() {
        let root = tempfile::tempdir().unwrap();
        write(
            root.path(),
            "memory/memory.limit_in_bytes",
            "9223372036854771712\n",
        );
        write(
            root.path(),
            "memory/docker/abc/memory.limit_in_bytes",
            "536870912\n",
        );
        let membership = "4:memory:/docker/abc\n3:cpu,cpuacct:/docker/abc\n0::/\n";
        assert_eq!(limit_from(membership, root.path()), Some(512 << 20));
        assert_eq!(limit_from("4:memory:/\n", root.path()), None);
    }

    #[test]
    fn no_cgroup_files_is_no_limit() {
        let root = tempfile::tempdir().unwrap();
        assert_eq!(limit_from("0::/user.slice\n", root.path()), None);
        assert_eq!(limit_from("garbage", root.path()), None);
    }

    #[test]
    fn budget_is_95_percent_less_the_daemon() {
        assert_eq!(
            cache_budget(2 << 30, 4 << 20),
            (2u64 << 30) / 100 * 95 - (64 << 20)
        );
        assert_eq!(cache_budget(32 << 20, 4 << 20), 4 << 20);
    }
}
