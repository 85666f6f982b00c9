//! A daemon started in a memory-limited cgroup with no cache size sizes its block cache
//! from the limit (95%, less 64 MiB for the rest of the daemon), as in a Kubernetes
//! container; a size given on the command line still wins. Needs a writable cgroup file
//! system (root); skipped, with a line saying so, where there is none.

use std::ffi::CString;
use std::os::unix::process::CommandExt;
use std::path::PathBuf;

use crate::support::*;

const LIMIT: u64 = 1 << 30;

/// A fresh memory cgroup limited to `LIMIT`, removed on drop.
struct LimitedCgroup {
    dir: PathBuf,
}

impl LimitedCgroup {
    fn create() -> Option<LimitedCgroup> {
        let name = format!("mastfs-test-{}", std::process::id());
        let v1 = PathBuf::from("/sys/fs/cgroup/memory");
        let (dir, limit_file) = if v1.join("memory.limit_in_bytes").exists() {
            (v1.join(name), "memory.limit_in_bytes")
        } else {
            let v2 = PathBuf::from("/sys/fs/cgroup");
            let controllers = std::fs::read_to_string(v2.join("cgroup.subtree_control")).ok()?;
            if !controllers.split_whitespace().any(|c| c == "memory") {
                return None;
            }
            (v2.join(name), "memory.max")
        };
        std::fs::create_dir(&dir).ok()?;
        let cgroup = LimitedCgroup { dir };
        std::fs::write(cgroup.dir.join(limit_file), LIMIT.to_string()).ok()?;
        Some(cgroup)
    }

    /// Makes the command's process join this cgroup before it runs mastfs.
    fn join_on_exec(&self, cmd: &mut std::process::Command) {
        let procs = CString::new(self.dir.join("cgroup.procs").to_string_lossy().as_bytes())
            .expect("no NUL in a cgroup path");
        // SAFETY: only async-signal-safe calls (open, write, close) between fork and exec.
        unsafe {
            cmd.pre_exec(move || {
                let fd = libc::open(procs.as_ptr(), libc::O_WRONLY);
                if fd < 0 {
                    return Err(std::io::Error::last_os_error());
                }
                let written = libc::write(fd, b"0".as_ptr().cast(), 1);
                libc::close(fd);
                if written != 1 {
                    return Err(std::io::Error::last_os_error());
                }
                Ok(())
            });
        }
    }
}

impl Drop for LimitedCgroup {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir(&self.dir);
    }
}

fn cache_capacity(mount: &Mount) -> u64 {
    let text = std::fs::read_to_string(mount.path(".mastfs/stats.json")).expect("stats.json");
    let stats: serde_json::Value = serde_json::from_str(&text).expect("stats JSON");
    stats["cache"]["capacity_bytes"]
        .as_u64()
        .unwrap_or_else(|| panic!("no cache.capacity_bytes in {text}"))
}

#[test]
fn cache_budget_follows_the_cgroup_memory_limit() {
    let Some(cgroup) = LimitedCgroup::create() else {
        eprintln!("skipped: no writable memory cgroup here");
        return;
    };
    let s3 = public_server();
    let expected = LIMIT / 100 * 95 - (64 << 20);
    {
        let mount = Mount::start_with(&s3.endpoint_url(), &[], |cmd| cgroup.join_on_exec(cmd));
        assert_eq!(
            cache_capacity(&mount),
            expected,
            "cache budget in a cgroup limited to {LIMIT} bytes (log:\n{})",
            mount.log_text()
        );
    }
    let mount = Mount::start_with(&s3.endpoint_url(), &["--cache-size", "64MiB"], |cmd| {
        cgroup.join_on_exec(cmd)
    });
    assert_eq!(
        cache_capacity(&mount),
        64 << 20,
        "--cache-size in a limited cgroup"
    );
}
