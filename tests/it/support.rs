//! The test harness: mounts of the real `mastfs` binary against the local S3 stand-in,
//! with a guard that always unmounts, fresh temp dirs and free ports.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

pub use mastfs_mast_standin::MastStandin;
pub use mastfs_s3_standin::{S3Standin, ServerOptions};

/// The `mastfs` binary under test.
pub fn mastfs_bin() -> &'static str {
    env!("CARGO_BIN_EXE_mastfs")
}

/// A `mastfs` command with a clean environment: no AWS settings or config file of the
/// machine leak in, and the instance metadata service is never asked for credentials.
pub fn mastfs_command(home: &Path) -> Command {
    let mut cmd = Command::new(mastfs_bin());
    for (key, _) in std::env::vars() {
        if key.starts_with("AWS_") || key.starts_with("MASTFS_") {
            cmd.env_remove(key);
        }
    }
    cmd.env("HOME", home)
        .env("XDG_CONFIG_HOME", home.join(".config"))
        .env("XDG_CACHE_HOME", home.join(".cache"))
        .env("XDG_RUNTIME_DIR", home.join("run"))
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .env("AWS_CONFIG_FILE", home.join("aws-config"))
        .env("AWS_SHARED_CREDENTIALS_FILE", home.join("aws-credentials"))
        .env("RUST_LOG", "mastfs=debug");
    cmd
}

/// True when `path` is in the mount table.
pub fn is_mounted(path: &Path) -> bool {
    let p = path.to_string_lossy().to_string();
    std::fs::read_to_string("/proc/self/mounts")
        .unwrap_or_default()
        .lines()
        .any(|l| l.split_whitespace().nth(1) == Some(p.as_str()))
}

/// A live mount. Dropping it unmounts (lazily, so it never hangs) and stops the daemon.
pub struct Mount {
    pub dir: tempfile::TempDir,
    pub mountpoint: PathBuf,
    pub child: Option<Child>,
    pub log: PathBuf,
}

impl Mount {
    /// Starts `mastfs mount --foreground` with `args` against `endpoint` and waits until
    /// the mount is live.
    pub fn start(endpoint: &str, args: &[&str]) -> Mount {
        Mount::start_with(endpoint, args, |_| {})
    }

    pub fn start_with(endpoint: &str, args: &[&str], tweak: impl FnOnce(&mut Command)) -> Mount {
        let dir = tempfile::tempdir().expect("temp dir");
        let mountpoint = dir.path().join("mnt");
        std::fs::create_dir(&mountpoint).expect("mkdir mnt");
        let log = dir.path().join("mastfs.log");
        let log_file = std::fs::File::create(&log).expect("log file");
        let mut cmd = mastfs_command(dir.path());
        cmd.arg("mount")
            .arg(&mountpoint)
            .arg("--foreground")
            .args(["--endpoint-url", endpoint, "--force-path-style"])
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log_file);
        tweak(&mut cmd);
        let child = cmd.spawn().expect("spawn mastfs");
        let mut mount = Mount {
            dir,
            mountpoint,
            child: Some(child),
            log,
        };
        mount.wait_live();
        mount
    }

    fn wait_live(&mut self) {
        let deadline = Instant::now() + Duration::from_secs(30);
        while Instant::now() < deadline {
            if is_mounted(&self.mountpoint) {
                return;
            }
            if let Some(child) = self.child.as_mut() {
                if let Ok(Some(status)) = child.try_wait() {
                    panic!(
                        "mastfs exited with {status} before mounting; log:\n{}",
                        self.log_text()
                    );
                }
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!(
            "mount at {} not live after 30 s; log:\n{}",
            self.mountpoint.display(),
            self.log_text()
        );
    }

    pub fn path(&self, rel: &str) -> PathBuf {
        self.mountpoint.join(rel)
    }

    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    pub fn pid(&self) -> u32 {
        self.child.as_ref().map(|c| c.id()).unwrap_or(0)
    }

    /// The mount's statistics, from its `.mastfs/stats.json`.
    pub fn stats(&self) -> serde_json::Value {
        let text = std::fs::read_to_string(self.path(".mastfs/stats.json")).expect("stats.json");
        serde_json::from_str(&text).expect("stats.json is JSON")
    }

    /// Stops the daemon the way systemd or Ctrl-C does (so it finishes its disk writes)
    /// and checks that it exits cleanly.
    pub fn stop_cleanly(mut self) {
        let status = self.signal_and_wait(libc::SIGTERM);
        assert!(
            status.is_some_and(|s| s.success()),
            "mastfs did not exit cleanly on SIGTERM: {status:?}; log:\n{}",
            self.log_text()
        );
    }

    /// Sends `signal` to the daemon and waits (bounded) for it to exit.
    pub fn signal_and_wait(&mut self, signal: i32) -> Option<std::process::ExitStatus> {
        let child = self.child.as_mut()?;
        unsafe { libc::kill(child.id() as i32, signal) };
        let deadline = Instant::now() + Duration::from_secs(15);
        while Instant::now() < deadline {
            if let Ok(Some(status)) = child.try_wait() {
                self.child = None;
                return Some(status);
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        None
    }
}

impl Drop for Mount {
    fn drop(&mut self) {
        if is_mounted(&self.mountpoint) {
            let _ = Command::new("umount")
                .arg("-l")
                .arg(&self.mountpoint)
                .status();
        }
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
        if is_mounted(&self.mountpoint) {
            let _ = Command::new("fusermount3")
                .arg("-uz")
                .arg(&self.mountpoint)
                .status();
        }
    }
}

/// Deterministic pseudo-random bytes (xorshift), so sources are reproducible.
pub fn pseudo_random(len: usize, seed: u64) -> Vec<u8> {
    let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x >> 24) as u8
        })
        .collect()
}

/// A public `stpubdata` bucket holding one object of `size` pseudo-random bytes.
pub fn server_with_object(key: &str, size: usize, seed: u64) -> (S3Standin, Vec<u8>) {
    let s3 = S3Standin::start(ServerOptions::default()).expect("start S3 stand-in");
    s3.create_bucket("stpubdata", true);
    let data = pseudo_random(size, seed);
    s3.put_object("stpubdata", key, data.clone());
    (s3, data)
}

/// Panics naming the first differing offset (or the lengths) when `got` is not `want`.
pub fn assert_same_bytes(got: &[u8], want: &[u8], what: &str) {
    assert_eq!(got.len(), want.len(), "{what}: length");
    if let Some(at) = got.iter().zip(want).position(|(a, b)| a != b) {
        panic!("{what}: first differing byte at offset {at}");
    }
}

/// The extended attribute `name` of `path`, if set.
pub fn getxattr(path: &Path, name: &str) -> Option<String> {
    use std::os::unix::ffi::OsStrExt;
    let p = std::ffi::CString::new(path.as_os_str().as_bytes()).ok()?;
    let n = std::ffi::CString::new(name).ok()?;
    let mut buf = vec![0u8; 4096];
    let len = unsafe { libc::getxattr(p.as_ptr(), n.as_ptr(), buf.as_mut_ptr().cast(), buf.len()) };
    if len < 0 {
        return None;
    }
    buf.truncate(len as usize);
    String::from_utf8(buf).ok()
}

/// The project's Python venv interpreter, when `scripts/setup-python.sh` has made it.
pub fn venv_python() -> Option<PathBuf> {
    let p = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(".venv/bin/python");
    p.exists().then_some(p)
}

/// Skips (returns false) when a tool is missing, or fails when `MASTFS_REQUIRE_TOOLS` is set.
pub fn tool_available(what: &str, present: bool) -> bool {
    if !present {
        assert!(
            std::env::var_os("MASTFS_REQUIRE_TOOLS").is_none(),
            "{what} is required (MASTFS_REQUIRE_TOOLS is set) but missing"
        );
        eprintln!("skipped: {what} not available");
    }
    present
}

/// A stand-in with the public bucket `stpubdata`.
pub fn public_server() -> S3Standin {
    let s3 = S3Standin::start(ServerOptions::default()).expect("start S3 stand-in");
    s3.create_bucket("stpubdata", true);
    s3
}

/// The notebook's view (proposal 12062, F606W, ACS/WFC, public DRZ products) as config text,
/// named `name`; the MAST stand-in's seed scenario answers it with two files.
pub fn seed_view_config(name: &str) -> String {
    format!(
        r#"
[[views]]
name     = "{name}"
criteria = {{ obs_collection = "HST", filters = "F606W", instrument_name = "ACS/WFC", proposal_id = ["12062"], dataRights = "PUBLIC" }}
products = {{ productSubGroupDescription = "DRZ" }}
"#
    )
}

/// [`seed_view_config`] written to `dir/views.toml`; its path.
pub fn write_seed_view_config(dir: &Path, name: &str) -> PathBuf {
    let path = dir.join("views.toml");
    std::fs::write(&path, seed_view_config(name))
        .unwrap_or_else(|e| panic!("write {}: {e}", path.display()));
    path
}

/// Status and both output streams of a finished command, for assertion messages.
pub fn text(out: &Output) -> String {
    format!(
        "status {}\nstdout:\n{}\nstderr:\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// Polls `done` every 50 ms for up to 20 s; panics naming `what` on timeout.
pub fn wait_until(what: &str, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while Instant::now() < deadline {
        if done() {
            return;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    panic!("timed out waiting for {what}");
}

/// The sorted names in a folder.
pub fn names_in(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("read_dir {}: {e}", dir.display()))
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    names.sort();
    names
}
