//! Operations: `mount -t fuse.mastfs` and /etc/fstab through mount.fuse3, the install
//! script, systemd readiness, syslog, SIGHUP, and unmount-then-mount races.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use crate::support::*;

fn server() -> S3Standin {
    public_server()
}

// ---- mount(8), mount.fuse3 and fstab --------------------------------------------------

/// The binary under test under a unique name on the path /bin/sh searches without a PATH
/// (mount.fuse3 runs the file system type's subtype through /bin/sh), so
/// `mount -t fuse.<name>` reaches it exactly as `-t fuse.mastfs` reaches an installed
/// mastfs, without replacing one. Removed on drop.
struct HelperLink {
    name: String,
    path: PathBuf,
}

impl HelperLink {
    fn new() -> HelperLink {
        static NEXT: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
        let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        let name = format!("mastfs-test-{}-{n}", std::process::id());
        let path = Path::new("/usr/local/bin").join(&name);
        std::os::unix::fs::symlink(mastfs_bin(), &path).expect("link the test binary");
        HelperLink { name, path }
    }

    fn fs_type(&self) -> String {
        format!("fuse.{}", self.name)
    }
}

impl Drop for HelperLink {
    fn drop(&mut self) {
        let _ = fs::remove_file(&self.path);
    }
}

/// A mount point that is unmounted (lazily) when dropped, whoever mounted it.
struct MountPoint {
    path: PathBuf,
}

impl MountPoint {
    fn new(dir: &Path, name: &str) -> MountPoint {
        let path = dir.join(name);
        fs::create_dir_all(&path).unwrap();
        MountPoint { path }
    }

    fn umount(&self) {
        let out = Command::new("umount").arg(&self.path).output().unwrap();
        assert!(out.status.success(), "umount: {}", text(&out));
        assert!(!is_mounted(&self.path), "still mounted after umount");
    }
}

impl Drop for MountPoint {
    fn drop(&mut self) {
        if is_mounted(&self.path) {
            let _ = Command::new("umount").arg("-l").arg(&self.path).status();
        }
    }
}

/// `mount` as a system administrator types it: no MASTFS_ or AWS_ settings leak in from
/// the test environment, and the working directory holds nothing mount(8) could take the
/// SOURCE for.
fn mount_command(dir: &Path) -> Command {
    let mut cmd = Command::new("mount");
    for (key, _) in std::env::vars() {
        if key.starts_with("AWS_") || key.starts_with("MASTFS_") || key.starts_with("XDG_") {
            cmd.env_remove(key);
        }
    }
    cmd.env("AWS_EC2_METADATA_DISABLED", "true")
        .env("XDG_RUNTIME_DIR", dir.join("run"))
        .current_dir(dir);
    cmd
}

/// (source, type) of the mount table entry of `mountpoint`.
fn mount_entry(mountpoint: &Path) -> Option<(String, String)> {
    let p = mountpoint.to_string_lossy().to_string();
    fs::read_to_string("/proc/self/mounts")
        .unwrap()
        .lines()
        .map(|l| l.split_whitespace().collect::<Vec<_>>())
        .find(|f| f.get(1) == Some(&p.as_str()))
        .map(|f| (f[0].to_string(), f[2].to_string()))
}

#[test]
fn mount_t_fuse_mastfs_and_fstab_lines_mount_through_mount_fuse3() {
    if !tool_available("mount.fuse3", Path::new("/sbin/mount.fuse3").exists()) {
        return;
    }
    let s3 = server();
    s3.put_object("stpubdata", "roman/a.txt", b"roman bytes".to_vec());
    s3.put_object("stpubdata", "hst/b.txt", b"hst bytes".to_vec());
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("mastfs.toml");
    fs::write(
        &config,
        format!(
            "[s3]\nendpoint_url = \"{}\"\nforce_path_style = true\n",
            s3.endpoint_url()
        ),
    )
    .unwrap();
    let helper = HelperLink::new();

    // 1. mount -t fuse.mastfs BUCKET DIR -o ro,config=FILE plus fstab-only options.
    let mp = MountPoint::new(dir.path(), "mnt");
    let out = mount_command(dir.path())
        .args(["-t", &helper.fs_type(), "stpubdata"])
        .arg(&mp.path)
        .arg("-o")
        .arg(format!(
            "ro,config={},_netdev,nofail,x-systemd.automount,x-systemd.mount-timeout=30,defaults",
            config.display()
        ))
        .output()
        .unwrap();
    assert!(out.status.success(), "mount -t: {}", text(&out));
    assert!(
        is_mounted(&mp.path),
        "mount returned but nothing is mounted"
    );
    let (source, fs_type) = mount_entry(&mp.path).expect("a mount table entry");
    assert!(
        source == "mastfs" && fs_type.starts_with("fuse"),
        "expected a FUSE mount of mastfs, got {source} of type {fs_type}"
    );
    let visible: Vec<String> = names_in(&mp.path)
        .into_iter()
        .filter(|n| !n.starts_with('.'))
        .collect();
    assert_eq!(visible, vec!["stpubdata"], "the bucket named as SOURCE");
    assert_eq!(
        fs::read(mp.path.join("stpubdata/roman/a.txt")).unwrap(),
        b"roman bytes"
    );
    mp.umount();

    // 2. An s3:// source with a prefix shows only that part.
    let out = mount_command(dir.path())
        .args(["-t", &helper.fs_type(), "s3://stpubdata/roman"])
        .arg(&mp.path)
        .arg("-o")
        .arg(format!("config={}", config.display()))
        .output()
        .unwrap();
    assert!(out.status.success(), "mount -t s3://: {}", text(&out));
    assert_eq!(names_in(&mp.path.join("stpubdata")), vec!["roman"]);
    mp.umount();

    // 3. An fstab line, mounted by its mount point as `mount /mnt/mast` does.
    let fstab = dir.path().join("fstab");
    fs::write(
        &fstab,
        format!(
            "# mastfs\nstpubdata {} {} ro,noauto,nofail,_netdev,user,config={},cache_size=64MiB,x-systemd.automount 0 0\n",
            mp.path.display(),
            helper.fs_type(),
            config.display()
        ),
    )
    .unwrap();
    let out = mount_command(dir.path())
        .arg("-T")
        .arg(&fstab)
        .arg(&mp.path)
        .output()
        .unwrap();
    assert!(out.status.success(), "mount from fstab: {}", text(&out));
    assert_eq!(
        fs::read(mp.path.join("stpubdata/hst/b.txt")).unwrap(),
        b"hst bytes"
    );
    mp.umount();

    // 4. A mistake in the options fails the mount with mastfs's message.
    let out = mount_command(dir.path())
        .args(["-t", &helper.fs_type(), "stpubdata"])
        .arg(&mp.path)
        .args(["-o", "cache_sise=1GiB"])
        .output()
        .unwrap();
    assert!(!out.status.success(), "a bad option must fail the mount");
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("unknown mount option 'cache_sise'"),
        "expected mastfs's message on stderr, got: {}",
        text(&out)
    );
    assert!(!is_mounted(&mp.path));
}

// ---- systemd readiness, syslog, SIGHUP ----------------------------------------------

/// A datagram socket standing in for systemd's notify socket or for /dev/log.
struct DatagramSink {
    socket: std::os::unix::net::UnixDatagram,
    path: PathBuf,
}

impl DatagramSink {
    fn bind(dir: &Path, name: &str) -> DatagramSink {
        let path = dir.join(name);
        let socket = std::os::unix::net::UnixDatagram::bind(&path).unwrap();
        socket
            .set_read_timeout(Some(Duration::from_millis(200)))
            .unwrap();
        DatagramSink { socket, path }
    }

    /// Datagrams received until one satisfies `wanted` (returned last) or 20 s pass.
    fn until(&self, what: &str, wanted: impl Fn(&str) -> bool) -> Vec<String> {
        let deadline = Instant::now() + Duration::from_secs(20);
        let mut seen = Vec::new();
        let mut buf = vec![0u8; 65536];
        while Instant::now() < deadline {
            if let Ok(n) = self.socket.recv(&mut buf) {
                let msg = String::from_utf8_lossy(&buf[..n]).to_string();
                let done = wanted(&msg);
                seen.push(msg);
                if done {
                    return seen;
                }
            }
        }
        panic!("no datagram with {what} within 20 s; received:\n{seen:#?}");
    }
}

#[test]
fn foreground_mount_notifies_systemd_ready_and_stopping() {
    let s3 = server();
    s3.put_object("stpubdata", "a.txt", b"a".to_vec());
    let dir = tempfile::tempdir().unwrap();
    let notify = DatagramSink::bind(dir.path(), "notify.sock");
    let mut m = Mount::start_with(&s3.endpoint_url(), &[], |cmd| {
        cmd.env("NOTIFY_SOCKET", &notify.path);
    });
    let ready = notify.until("READY=1", |m| m.lines().any(|l| l == "READY=1"));
    let ready = ready.last().unwrap();
    assert!(
        ready.contains(&format!("MAINPID={}", m.pid()))
            && ready.contains("STATUS=mastfs: mounted s3://stpubdata/"),
        "READY carries the daemon's pid and what is mounted, got: {ready}"
    );
    assert!(
        is_mounted(&m.mountpoint),
        "READY=1 is sent only once the mount is live"
    );
    let status = m
        .signal_and_wait(libc::SIGTERM)
        .expect("exit after SIGTERM");
    assert!(status.success(), "SIGTERM exit: {status}\n{}", m.log_text());
    let stopping = notify.until("STOPPING=1", |m| m.lines().any(|l| l == "STOPPING=1"));
    assert!(
        stopping.last().unwrap().contains("SIGTERM"),
        "STOPPING says why: {stopping:?}"
    );
}

#[test]
fn daemonized_mount_logs_to_syslog_as_mastfs() {
    let s3 = server();
    let dir = tempfile::tempdir().unwrap();
    let syslog = DatagramSink::bind(dir.path(), "log.sock");
    let mp = MountPoint::new(dir.path(), "mnt");
    let out = mastfs_command(dir.path())
        .env("MASTFS_SYSLOG_SOCKET", &syslog.path)
        .arg("mount")
        .arg(&mp.path)
        .args(["--endpoint-url", &s3.endpoint_url(), "--force-path-style"])
        .output()
        .unwrap();
    assert!(out.status.success(), "daemonized mount: {}", text(&out));
    let lines = syslog.until("the 'mounted' line", |m| m.contains("mastfs: mounted"));
    let line = lines.last().unwrap();
    // <30> = facility daemon (3) * 8 + severity info (6).
    let shape = line.starts_with("<30>")
        && line.contains(" mastfs[")
        && line.contains(&format!("at {}", mp.path.display()));
    assert!(shape, "an RFC 3164 info line from mastfs[PID], got: {line}");
    mp.umount();
    syslog.until("the unmount line", |m| m.contains("unmounting"));
}

#[test]
fn sighup_drops_cached_listings_and_refreshes_views() {
    let s3 = server();
    let key = "hst/public/jbev/jbeveo010/jbeveo010_drz.fits";
    s3.put_object("stpubdata", key, pseudo_random(10_000, 1));
    s3.put_object(
        "stpubdata",
        "hst/public/jbev/jbevet010/jbevet010_drz.fits",
        pseudo_random(20_000, 2),
    );
    s3.put_object(
        "stpubdata",
        "hst/public/jbev/jbeveo010/jbeveo010_flt.fits",
        pseudo_random(20_000, 4),
    );
    let mast = MastStandin::start().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let cfg = write_seed_view_config(dir.path(), "drz");
    let cache = dir.path().join("cache");
    let mut m = Mount::start_with(
        &s3.endpoint_url(),
        &[
            "--config",
            cfg.to_str().unwrap(),
            "--mast-url",
            &mast.base_url(),
        ],
        |cmd| {
            cmd.env("XDG_CACHE_HOME", &cache);
        },
    );
    assert_eq!(
        names_in(&m.path("views/drz")).len(),
        4,
        "two files and the manifests (CSV and ECSV)"
    );
    assert_eq!(names_in(&m.path("stpubdata/hst/public/jbev")).len(), 2);

    // A new object is not seen while the listing is trusted (metadata_ttl 1h)...
    s3.put_object(
        "stpubdata",
        "hst/public/jbev/jbnew0010/x.fits",
        b"new".to_vec(),
    );
    assert_eq!(
        names_in(&m.path("stpubdata/hst/public/jbev")).len(),
        2,
        "the cached listing is used before SIGHUP"
    );
    // Paths the kernel knows: a replaced object keeps its old size and a deleted one stays
    // visible while trusted (the kernel's own entry and attribute caches included)...
    let replaced = m.path(&format!("stpubdata/{key}"));
    let deleted = m.path("stpubdata/hst/public/jbev/jbeveo010/jbeveo010_flt.fits");
    assert_eq!(fs::metadata(&replaced).unwrap().len(), 10_000);
    assert_eq!(fs::metadata(&deleted).unwrap().len(), 20_000);
    s3.put_object("stpubdata", key, pseudo_random(30_000, 3));
    s3.delete_object("stpubdata", "hst/public/jbev/jbeveo010/jbeveo010_flt.fits");
    assert_eq!(
        fs::metadata(&replaced).unwrap().len(),
        10_000,
        "the cached size is used before SIGHUP"
    );
    // ...and after SIGHUP, which also re-resolves the view, they are looked up again.
    mast.clear_requests();
    unsafe { libc::kill(m.pid() as i32, libc::SIGHUP) };
    wait_until("the new object after SIGHUP", || {
        names_in(&m.path("stpubdata/hst/public/jbev")).len() == 3
    });
    wait_until("the replaced object's new size after SIGHUP", || {
        fs::metadata(&replaced).map(|md| md.len()).ok() == Some(30_000)
    });
    wait_until("the deleted object gone after SIGHUP", || {
        fs::metadata(&deleted).is_err_and(|e| e.kind() == std::io::ErrorKind::NotFound)
    });
    wait_until("a view refresh after SIGHUP", || {
        !mast.invoke_requests().is_empty()
    });

    // MAST down: SIGHUP's refresh fails, the view keeps its last listing, the daemon lives.
    mast.stop();
    unsafe { libc::kill(m.pid() as i32, libc::SIGHUP) };
    wait_until("the failed refresh in the log", || {
        m.log_text().contains("keeping the last listing")
    });
    assert_eq!(
        names_in(&m.path("views/drz")).len(),
        4,
        "the last listing is kept after a failed refresh"
    );
    let status = m
        .signal_and_wait(libc::SIGTERM)
        .expect("exit after SIGTERM");
    assert!(status.success(), "exit: {status}");
}
#[test]
fn umount_then_mount_again_at_once_keeps_the_new_mount() {
    if !tool_available("mount.fuse3", Path::new("/sbin/mount.fuse3").exists()) {
        return;
    }
    let s3 = server();
    s3.put_object("stpubdata", "a.txt", b"a".to_vec());
    let dir = tempfile::tempdir().unwrap();
    let helper = HelperLink::new();
    let mp = MountPoint::new(dir.path(), "mnt");
    let options = format!("endpoint_url={},force_path_style", s3.endpoint_url());
    let mount = || {
        let out = mount_command(dir.path())
            .args(["-t", &helper.fs_type(), "stpubdata"])
            .arg(&mp.path)
            .args(["-o", &options])
            .output()
            .unwrap();
        assert!(out.status.success(), "mount: {}", text(&out));
    };
    for round in 0..3 {
        mount();
        mp.umount();
        // The daemon of the mount just unmounted is still exiting while the next starts.
        mount();
        std::thread::sleep(Duration::from_millis(800));
        assert!(
            is_mounted(&mp.path),
            "round {round}: the new mount was taken down by the old daemon's exit"
        );
        let status = mastfs_command(dir.path())
            .args(["views", "status"])
            .arg(&mp.path)
            .output()
            .unwrap();
        assert!(
            status.status.success(),
            "round {round}: the new mount's control socket is gone: {}",
            text(&status)
        );
        mp.umount();
    }
}

#[test]
fn install_script_installs_binary_man_page_and_completions() {
    let dir = tempfile::tempdir().unwrap();
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/install.sh");
    let out = Command::new("bash")
        .arg(&script)
        .arg("--destdir")
        .arg(dir.path())
        .args(["--prefix", "/usr/local", "--binary", mastfs_bin()])
        .output()
        .unwrap();
    assert!(out.status.success(), "install.sh: {}", text(&out));
    let root = dir.path().join("usr/local");
    let installed = root.join("bin/mastfs");
    assert_eq!(
        fs::read(&installed).unwrap(),
        fs::read(mastfs_bin()).unwrap(),
        "the installed binary is the one given"
    );
    let version = Command::new(&installed).arg("--version").output().unwrap();
    assert!(
        String::from_utf8_lossy(&version.stdout).starts_with("mastfs "),
        "installed binary runs: {}",
        text(&version)
    );
    for file in [
        "share/man/man1/mastfs.1",
        "share/bash-completion/completions/mastfs",
        "share/zsh/site-functions/_mastfs",
        "share/fish/vendor_completions.d/mastfs.fish",
    ] {
        let len = fs::metadata(root.join(file)).map(|m| m.len()).unwrap_or(0);
        assert!(
            len > 100,
            "{file}: expected a non-trivial file, got {len} bytes"
        );
    }
}
