//! `mastfs mount /dev/fd/N`: a privileged helper (here, the test itself, as a CSI node
//! plugin would) opens /dev/fuse, mounts it with `fd=N`, and hands the descriptor to
//! mastfs, which serves the mount without mounting anything itself.

use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use crate::support::*;

/// What the helper gives mastfs: an open /dev/fuse already mounted at `mountpoint`.
fn helper_mount(mountpoint: &Path) -> OwnedFd {
    let fuse = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open("/dev/fuse")
        .expect("open /dev/fuse");
    let fd = OwnedFd::from(fuse);
    let data = format!(
        "fd={},rootmode=40000,user_id={},group_id={}",
        fd.as_raw_fd(),
        nix::unistd::geteuid(),
        nix::unistd::getegid()
    );
    nix::mount::mount(
        Some("mastfs"),
        mountpoint,
        Some("fuse.mastfs"),
        nix::mount::MsFlags::MS_RDONLY
            | nix::mount::MsFlags::MS_NODEV
            | nix::mount::MsFlags::MS_NOSUID,
        Some(data.as_str()),
    )
    .expect("the helper's mount(2) with fd=N");
    fd
}

/// Starts `mastfs mount /dev/fd/3 --foreground` with `fd` as its descriptor 3.
fn serve_fd(home: &Path, endpoint: &str, fd: &OwnedFd, log: &Path) -> Child {
    let raw = fd.as_raw_fd();
    let mut cmd = mastfs_command(home);
    cmd.args([
        "mount",
        "/dev/fd/3",
        "--foreground",
        "--endpoint-url",
        endpoint,
    ])
    .arg("--force-path-style")
    .stdin(Stdio::null())
    .stdout(Stdio::null())
    .stderr(std::fs::File::create(log).expect("log file"));
    // SAFETY: only async-signal-safe calls between fork and exec.
    unsafe {
        cmd.pre_exec(move || {
            // dup2 onto itself keeps close-on-exec: clear it then.
            let done = if raw == 3 {
                libc::fcntl(3, libc::F_SETFD, 0)
            } else {
                libc::dup2(raw, 3)
            };
            if done < 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    cmd.spawn().expect("spawn mastfs")
}

/// A helper's mount served by mastfs. Dropping it unmounts (as the helper would) on every
/// path; the daemon then exits by itself.
struct FdServed {
    _dir: tempfile::TempDir,
    mountpoint: std::path::PathBuf,
    log: std::path::PathBuf,
    child: Child,
    _unmount_on_drop: HelperMount,
}

struct HelperMount(std::path::PathBuf);

impl Drop for HelperMount {
    fn drop(&mut self) {
        if is_mounted(&self.0) {
            let _ = nix::mount::umount2(&self.0, nix::mount::MntFlags::MNT_DETACH);
        }
    }
}

impl FdServed {
    fn start(s3: &S3Standin) -> FdServed {
        let dir = tempfile::tempdir().expect("temp dir");
        let mountpoint = dir.path().join("mnt");
        std::fs::create_dir(&mountpoint).expect("mkdir");
        let fd = helper_mount(&mountpoint);
        let guard = HelperMount(mountpoint.clone());
        let log = dir.path().join("mastfs.log");
        let child = serve_fd(dir.path(), &s3.endpoint_url(), &fd, &log);
        // The helper keeps no reference: the daemon alone serves the device.
        drop(fd);
        FdServed {
            _dir: dir,
            mountpoint,
            log,
            child,
            _unmount_on_drop: guard,
        }
    }
}

#[test]
fn serves_a_mount_made_by_a_helper_from_its_fd() {
    let s3 = public_server();
    s3.put_object("stpubdata", "hst/a.fits", pseudo_random(3 << 20, 7));
    let served = FdServed::start(&s3);
    let (mountpoint, log) = (served.mountpoint.clone(), served.log.clone());
    let mut child = served.child;

    let file = mountpoint.join("stpubdata/hst/a.fits");
    let deadline = Instant::now() + Duration::from_secs(30);
    let read = loop {
        match std::fs::read(&file) {
            Ok(bytes) => break bytes,
            Err(e) if Instant::now() > deadline => panic!(
                "reading {} through the fd mount: {e}; log:\n{}",
                file.display(),
                std::fs::read_to_string(&log).unwrap_or_default()
            ),
            Err(_) => std::thread::sleep(Duration::from_millis(100)),
        }
    };
    assert!(
        read == pseudo_random(3 << 20, 7),
        "bytes read through the fd mount differ from the object ({} bytes read)",
        read.len()
    );
    let stats = std::fs::read_to_string(mountpoint.join(".mastfs/stats.json")).expect("stats");
    assert!(stats.contains("bytes_fetched"), "stats.json: {stats}");

    // The helper owns the mount: its unmount ends the session and mastfs exits cleanly.
    nix::mount::umount2(&mountpoint, nix::mount::MntFlags::empty()).expect("helper unmount");
    let deadline = Instant::now() + Duration::from_secs(15);
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait") {
            break status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("mastfs still running 15 s after the helper unmounted");
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(
        status.success(),
        "mastfs exit status after unmount: {status}"
    );
}

#[test]
fn sigterm_leaves_the_helpers_mount_to_the_helper() {
    let s3 = public_server();
    let served = FdServed::start(&s3);
    let (mountpoint, log) = (served.mountpoint.clone(), served.log.clone());
    let mut child = served.child;
    wait_until("the fd mount answers", || {
        std::fs::read_dir(&mountpoint).is_ok_and(|mut d| d.next().is_some())
    });
    unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
    let deadline = Instant::now() + Duration::from_secs(15);
    while child.try_wait().expect("wait").is_none() {
        assert!(
            Instant::now() < deadline,
            "mastfs did not exit on SIGTERM; log:\n{}",
            std::fs::read_to_string(&log).unwrap_or_default()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    // Still in the mount table (the helper's), answering ENOTCONN until the helper unmounts.
    assert!(
        is_mounted(&mountpoint),
        "mastfs unmounted the helper's mount"
    );
    let err = std::fs::read_dir(&mountpoint)
        .err()
        .map(|e| e.raw_os_error());
    assert_eq!(
        err,
        Some(Some(libc::ENOTCONN)),
        "listing after the daemon exited"
    );
}

#[test]
fn refuses_a_descriptor_that_is_not_dev_fuse() {
    let dir = tempfile::tempdir().expect("temp dir");
    let out = mastfs_command(dir.path())
        .args(["mount", "/dev/fd/0", "--foreground"])
        .stdin(std::fs::File::open("/dev/null").expect("/dev/null"))
        .output()
        .expect("run mastfs");
    let err = text(&out);
    assert!(
        !out.status.success() && err.contains("/dev/fd/0 is not /dev/fuse"),
        "expected a refusal naming /dev/fd/0, got {:?}: {err}",
        out.status
    );
    let out = mastfs_command(dir.path())
        .args(["mount", "/dev/fd/57", "--foreground"])
        .output()
        .expect("run mastfs");
    let err = text(&out);
    assert!(
        !out.status.success() && err.contains("not an open file descriptor"),
        "expected a refusal of a closed descriptor, got {:?}: {err}",
        out.status
    );
}
