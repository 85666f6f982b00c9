//! Operations and everyday use: `mount -t fuse.mastfs` and /etc/fstab through mount.fuse3,
//! the install script, systemd readiness, syslog, SIGHUP, help/completions/man page, and
//! `mastfs get`.

mod support;

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, Instant};

use mastfs_s3_standin::{Fault, FaultPlan, OpMatch};
use support::*;

fn server() -> S3Standin {
    let s3 = S3Standin::start(ServerOptions::default()).expect("start S3 stand-in");
    s3.create_bucket("stpubdata", true);
    s3
}

fn text(out: &Output) -> String {
    format!(
        "status {}\nstdout:\n{}\nstderr:\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

fn wait_until(what: &str, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while Instant::now() < deadline {
        if done() {
            return;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    panic!("timed out waiting for {what}");
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

fn names_in(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("read_dir {}: {e}", dir.display()))
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    names.sort();
    names
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
    let mast = MastStandin::start().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("views.toml");
    fs::write(
        &cfg,
        r#"
[[views]]
name     = "drz"
criteria = { obs_collection = "HST", filters = "F606W", instrument_name = "ACS/WFC", proposal_id = ["12062"], dataRights = "PUBLIC" }
products = { productSubGroupDescription = "DRZ" }
"#,
    )
    .unwrap();
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
        3,
        "two files and the manifest"
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
    // ...and is after SIGHUP, which also re-resolves the view.
    mast.clear_requests();
    unsafe { libc::kill(m.pid() as i32, libc::SIGHUP) };
    wait_until("the new object after SIGHUP", || {
        names_in(&m.path("stpubdata/hst/public/jbev")).len() == 3
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
        3,
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

// ---- help, completions, man page ----------------------------------------------------

fn mastfs_output(args: &[&str]) -> Output {
    let dir = tempfile::tempdir().unwrap();
    mastfs_command(dir.path()).args(args).output().unwrap()
}

#[test]
fn mount_help_groups_options_and_shows_defaults() {
    let out = mastfs_output(&["mount", "--help"]);
    assert!(out.status.success(), "{}", text(&out));
    let help = String::from_utf8_lossy(&out.stdout);
    let headings: Vec<&str> = help
        .lines()
        .filter(|l| !l.starts_with(' ') && l.ends_with(':'))
        .collect();
    for wanted in ["Buckets:", "S3:", "Cache:", "Views:", "Mount:", "Logging:"] {
        assert!(
            headings.contains(&wanted),
            "heading {wanted} missing; headings: {headings:?}"
        );
    }
    for default in [
        "[default: 512MiB]",
        "[default: 1h]",
        "[env: AWS_ENDPOINT_URL]",
    ] {
        assert!(help.contains(default), "{default} missing from:\n{help}");
    }
}

#[test]
fn completion_scripts_for_bash_zsh_fish() {
    for (shell, marker) in [
        ("bash", "complete -F _mastfs"),
        ("zsh", "#compdef mastfs"),
        ("fish", "complete -c mastfs"),
    ] {
        let out = mastfs_output(&["completions", shell]);
        assert!(out.status.success(), "{shell}: {}", text(&out));
        let script = String::from_utf8_lossy(&out.stdout);
        assert!(
            script.contains(marker) && script.contains("unmount"),
            "{shell} script lacks '{marker}' or the subcommands"
        );
    }
    // The bash script loads and registers a completion for mastfs.
    let dir = tempfile::tempdir().unwrap();
    let script = dir.path().join("mastfs.bash");
    fs::write(&script, mastfs_output(&["completions", "bash"]).stdout).unwrap();
    let out = Command::new("bash")
        .arg("-c")
        .arg(format!("source {} && complete -p mastfs", script.display()))
        .output()
        .unwrap();
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("mastfs"),
        "bash did not register the completion: {}",
        text(&out)
    );
}

#[test]
fn committed_man_page_is_up_to_date() {
    let out = mastfs_output(&["man"]);
    assert!(out.status.success(), "{}", text(&out));
    let committed = Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/mastfs.1");
    let committed = fs::read(&committed).unwrap_or_default();
    assert!(
        committed == out.stdout,
        "docs/mastfs.1 differs from the command-line definitions ({} vs {} bytes); \
         regenerate it: cargo run -- man > docs/mastfs.1",
        committed.len(),
        out.stdout.len()
    );
}

// ---- mastfs get -----------------------------------------------------------------------

const KEY: &str = "hst/public/jbev/jbeveo010/jbeveo010_drz.fits";

/// `mastfs get` against the S3 stand-in, with `extra` arguments.
fn get(s3: &S3Standin, home: &Path, extra: &[&str]) -> Output {
    mastfs_command(home)
        .arg("get")
        .args(["--endpoint-url", &s3.endpoint_url(), "--force-path-style"])
        .args(extra)
        .output()
        .unwrap()
}

fn same_bytes(path: &Path, want: &[u8]) -> bool {
    fs::read(path).map(|got| got == want).unwrap_or(false)
}

#[test]
fn get_downloads_an_s3_uri_in_parallel_ranges_and_never_overwrites_silently() {
    let s3 = server();
    let data = pseudo_random(5_000_123, 7);
    s3.put_object("stpubdata", KEY, data.clone());
    let dir = tempfile::tempdir().unwrap();
    let uri = format!("s3://stpubdata/{KEY}");
    let into = format!("{}/out/", dir.path().display());

    let out = get(
        &s3,
        dir.path(),
        &[&uri, &into, "--part-size", "1MiB", "-j", "4"],
    );
    assert!(out.status.success(), "get: {}", text(&out));
    let file = dir.path().join("out/jbeveo010_drz.fits");
    assert!(same_bytes(&file, &data), "downloaded bytes differ");
    assert!(!dir.path().join("out/jbeveo010_drz.fits.part").exists());
    let gets = s3.stats().requests.get;
    assert!(
        gets >= 5,
        "5 MB in 1 MiB ranges: expected >= 5 GETs, got {gets}"
    );
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("got s3://stpubdata/"),
        "plain progress lines off a terminal: {}",
        text(&out)
    );

    // Again: the file is complete, nothing is fetched.
    s3.reset_stats();
    let out = get(&s3, dir.path(), &[&uri, &into]);
    assert!(out.status.success(), "second get: {}", text(&out));
    assert_eq!(s3.stats().requests.get, 0, "no GET for a complete file");

    // A different file of that name is not overwritten without --force.
    fs::write(&file, b"my own notes").unwrap();
    let out = get(&s3, dir.path(), &[&uri, &into]);
    assert!(
        !out.status.success(),
        "expected a refusal, got: {}",
        text(&out)
    );
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("use --force"),
        "refusal says how to override: {}",
        text(&out)
    );
    assert_eq!(fs::read(&file).unwrap(), b"my own notes", "file untouched");
    let out = get(&s3, dir.path(), &[&uri, &into, "--force"]);
    assert!(out.status.success(), "get --force: {}", text(&out));
    assert!(same_bytes(&file, &data), "--force replaced the file");

    // An explicit file name as DEST.
    let named = dir.path().join("renamed.fits");
    let out = get(&s3, dir.path(), &[&uri, named.to_str().unwrap()]);
    assert!(out.status.success(), "get to a file: {}", text(&out));
    assert!(same_bytes(&named, &data));
}

#[test]
fn get_resumes_partial_downloads() {
    let s3 = server();
    let size = 6_000_000;
    let data = pseudo_random(size, 9);
    s3.put_object("stpubdata", KEY, data.clone());
    let dir = tempfile::tempdir().unwrap();
    let uri = format!("s3://stpubdata/{KEY}");
    let dest = dir.path().join("x.fits");
    let part = dir.path().join("x.fits.part");
    let dest_arg = dest.to_str().unwrap();

    // 1. A .part holding the first 2 MB continues from there.
    fs::write(&part, &data[..2_000_000]).unwrap();
    s3.reset_stats();
    let out = get(&s3, dir.path(), &[&uri, dest_arg, "--part-size", "1MiB"]);
    assert!(out.status.success(), "resume: {}", text(&out));
    assert!(same_bytes(&dest, &data), "resumed file differs");
    let fetched = s3.stats().get_body_bytes;
    assert_eq!(
        fetched,
        (size - 2_000_000) as u64,
        "only the missing part is fetched"
    );
    fs::remove_file(&dest).unwrap();

    // 2. A .part that is not a prefix of the object fails the MD5 check and is redone.
    fs::write(&part, vec![0u8; 3_000_000]).unwrap();
    let out = get(&s3, dir.path(), &[&uri, dest_arg]);
    assert!(
        out.status.success(),
        "redo after a bad .part: {}",
        text(&out)
    );
    assert!(same_bytes(&dest, &data), "file after a bad .part differs");
    fs::remove_file(&dest).unwrap();

    // 3. A persistent fault stops the download with a resumable message; cleared, it ends.
    let config = dir.path().join("fast-fail.toml");
    fs::write(&config, "[s3]\nmax_attempts = 2\n").unwrap();
    s3.set_faults(FaultPlan {
        op: OpMatch::Get,
        ..FaultPlan::always(Fault::Status500)
    });
    let cfg = config.to_str().unwrap();
    let out = get(&s3, dir.path(), &[&uri, dest_arg, "--config", cfg]);
    assert!(!out.status.success(), "a failing S3 must fail the get");
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("run the same command again to resume"),
        "{}",
        text(&out)
    );
    assert!(!dest.exists(), "no half file under the final name");
    s3.clear_faults();
    let out = get(&s3, dir.path(), &[&uri, dest_arg, "--config", cfg]);
    assert!(
        out.status.success(),
        "after the fault cleared: {}",
        text(&out)
    );
    assert!(same_bytes(&dest, &data));
    fs::remove_file(&dest).unwrap();

    // 4. A transfer killed midway (SIGKILL on a slow link) resumes from its .part.
    s3.set_link(Duration::ZERO, Some(1_500_000));
    let mut child = mastfs_command(dir.path())
        .arg("get")
        .args(["--endpoint-url", &s3.endpoint_url(), "--force-path-style"])
        .args([&uri, dest_arg, "--part-size", "256KiB", "-j", "2"])
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    wait_until("1 MiB in the .part file", || {
        fs::metadata(&part).map(|m| m.len()).unwrap_or(0) >= 1 << 20
    });
    child.kill().unwrap();
    child.wait().unwrap();
    let kept = fs::metadata(&part).unwrap().len();
    assert!(
        kept < size as u64,
        "killed before the end: {kept} of {size}"
    );
    assert_eq!(
        fs::read(&part).unwrap(),
        &data[..kept as usize],
        "the .part of a killed transfer is a prefix of the object"
    );
    s3.set_link(Duration::ZERO, None);
    s3.reset_stats();
    let out = get(&s3, dir.path(), &[&uri, dest_arg]);
    assert!(out.status.success(), "resume after kill: {}", text(&out));
    assert!(same_bytes(&dest, &data), "file resumed after kill differs");
    assert_eq!(
        s3.stats().get_body_bytes,
        size as u64 - kept,
        "resumed at the .part's end"
    );
}

#[test]
fn get_maps_mounted_paths_and_view_names_to_objects() {
    let s3 = server();
    let data1 = pseudo_random(1_500_000, 21);
    let data2 = pseudo_random(700_000, 22);
    s3.put_object("stpubdata", KEY, data1.clone());
    s3.put_object(
        "stpubdata",
        "hst/public/jbev/jbevet010/jbevet010_drz.fits",
        data2.clone(),
    );
    let mast = MastStandin::start().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("views.toml");
    fs::write(
        &cfg,
        r#"
[[views]]
name     = "drz"
criteria = { obs_collection = "HST", filters = "F606W", instrument_name = "ACS/WFC", proposal_id = ["12062"], dataRights = "PUBLIC" }
products = { productSubGroupDescription = "DRZ" }
"#,
    )
    .unwrap();
    let cfg = cfg.to_str().unwrap();
    let cache = dir.path().join("cache");
    let m = Mount::start_with(
        &s3.endpoint_url(),
        &["--config", cfg, "--mast-url", &mast.base_url()],
        |cmd| {
            cmd.env("XDG_CACHE_HOME", &cache);
        },
    );

    // A bucket path under the mount: MOUNTPOINT/<bucket>/<key>.
    let out_dir = dir.path().join("from-tree");
    let src = m.path(&format!("stpubdata/{KEY}"));
    let out = get(
        &s3,
        dir.path(),
        &[src.to_str().unwrap(), &format!("{}/", out_dir.display())],
    );
    assert!(
        out.status.success(),
        "get of a mounted path: {}",
        text(&out)
    );
    assert!(same_bytes(&out_dir.join("jbeveo010_drz.fits"), &data1));

    // A view file: its user.mast.s3_uri names the object.
    let out_dir = dir.path().join("from-view-file");
    let src = m.path("views/drz/jbevet010_drz.fits");
    let out = get(
        &s3,
        dir.path(),
        &[src.to_str().unwrap(), &format!("{}/", out_dir.display())],
    );
    assert!(out.status.success(), "get of a view file: {}", text(&out));
    assert!(same_bytes(&out_dir.join("jbevet010_drz.fits"), &data2));
    drop(m);

    // A view name, resolved through MAST without any mount.
    let out_dir = dir.path().join("from-view");
    let out = get(
        &s3,
        dir.path(),
        &[
            "drz",
            out_dir.to_str().unwrap(),
            "--config",
            cfg,
            "--mast-url",
            &mast.base_url(),
        ],
    );
    assert!(out.status.success(), "get of a view: {}", text(&out));
    assert_eq!(
        names_in(&out_dir),
        vec!["jbeveo010_drz.fits", "jbevet010_drz.fits"]
    );
    assert!(same_bytes(&out_dir.join("jbeveo010_drz.fits"), &data1));
    assert!(same_bytes(&out_dir.join("jbevet010_drz.fits"), &data2));
}
