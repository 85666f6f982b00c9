//! Security on a real mount: hostile object keys served or skipped consistently,
//! ownership and mode flags, a mount private unless `allow_other`, credentials kept out of
//! logs and the process list.

use std::fs;
use std::os::unix::fs::MetadataExt;

use super::server;
use crate::faultkit::*;
use crate::support::*;

#[test]
fn hostile_object_keys_are_served_or_skipped_consistently() {
    let s3 = server();
    // 1024 bytes, S3's longest key, in components of at most 255 bytes: reachable.
    let long_key = format!(
        "long/{}/{}/{}/{}",
        "a".repeat(254),
        "b".repeat(254),
        "c".repeat(254),
        "d".repeat(254)
    );
    assert_eq!(long_key.len(), 1024);
    let too_long = format!("toolong/{}", "x".repeat(1016));
    let served: Vec<(String, Vec<u8>)> = vec![
        ("ctl/tab\there".into(), b"tab".to_vec()),
        ("ctl/line\nbreak".into(), b"newline".to_vec()),
        ("ctl/esc\u{1b}[31mred".into(), b"escape".to_vec()),
        ("ctl/bell\u{7}".into(), b"bell".to_vec()),
        ("uni/été 100%.fits".into(), b"unicode".to_vec()),
        ("uni/a+b c%2B.fits".into(), b"plus".to_vec()),
        (long_key.clone(), b"long".to_vec()),
        ("both".into(), b"file".to_vec()),
        ("both/child".into(), b"child".to_vec()),
        ("dots/a/ok".into(), b"ok".to_vec()),
    ];
    let skipped = [
        too_long.as_str(),
        "dots/..",
        "dots/.",
        "dots/../escape",
        "dots/./hidden",
        "dots/a//b",
        "dots/a/../../up",
        "../outside",
        "/leading",
    ];
    for (k, v) in &served {
        s3.put_object("stpubdata", k, v.clone());
    }
    for k in skipped {
        s3.put_object("stpubdata", k, b"must not be reachable".to_vec());
    }
    let mut m = Mount::start(&s3.endpoint_url(), &[]);
    let names = |rel: &str| -> Vec<String> {
        let mut v: Vec<String> = fs::read_dir(m.path(rel))
            .unwrap_or_else(|e| panic!("ls {rel}: {e}"))
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        v.sort();
        v
    };
    let mut root = names("stpubdata");
    root.retain(|n| !n.is_empty());
    assert_eq!(
        root,
        vec!["both", "ctl", "dots", "long", "toolong", "uni"],
        "bucket root: '..', '' and over-long components are not names"
    );
    assert_eq!(
        names("stpubdata/ctl"),
        vec!["bell\u{7}", "esc\u{1b}[31mred", "line\nbreak", "tab\there"],
        "control characters other than NUL are kept"
    );
    assert_eq!(
        names("stpubdata/dots"),
        vec!["a"],
        "'.', '..' and empty components are skipped"
    );
    assert_eq!(names("stpubdata/dots/a"), vec!["ok"]);
    assert_eq!(
        names("stpubdata/uni"),
        vec!["a+b c%2B.fits", "été 100%.fits"],
        "'+', space and '%' survive URL-encoded listings"
    );
    assert_eq!(
        names("stpubdata/toolong"),
        Vec::<String>::new(),
        "a 1016-byte component is skipped"
    );
    for (k, v) in &served {
        if k == "both" {
            continue;
        }
        let got = fs::read(m.path(&format!("stpubdata/{k}")));
        assert_eq!(
            got.as_deref().ok(),
            Some(&v[..]),
            "key {k:?}: expected its bytes, got {got:?}"
        );
    }
    assert!(
        fs::metadata(m.path("stpubdata/both")).unwrap().is_dir(),
        "a key that is both a file and a prefix is a directory"
    );
    for rel in [
        "stpubdata/escape",
        "escape",
        "stpubdata/up",
        "stpubdata/outside",
        "stpubdata/leading",
    ] {
        assert_eq!(
            errno_of(&fs::metadata(m.path(rel))),
            Some(libc::ENOENT),
            "{rel} must not exist"
        );
    }
    let alive = m.child.as_mut().map(|c| c.try_wait().ok().flatten());
    assert_eq!(
        alive.map(|s| s.is_none()),
        Some(true),
        "the daemon should still run"
    );
    assert!(!m.log_text().contains("panicked"), "{}", m.log_text());
}

#[test]
fn ownership_and_mode_flags_apply_and_write_bits_are_refused() {
    let s3 = server();
    s3.put_object("stpubdata", "d/f.txt", b"x".to_vec());
    let check = |m: &Mount, uid: u32, gid: u32, file: u32, dir: u32| {
        for (rel, mode) in [
            ("", dir),
            ("stpubdata", dir),
            ("stpubdata/d", dir),
            ("stpubdata/d/f.txt", file),
        ] {
            let st = fs::metadata(m.path(rel)).unwrap();
            assert_eq!(
                (st.uid(), st.gid(), st.mode() & 0o7777),
                (uid, gid, mode),
                "owner, group, mode of /{rel}"
            );
        }
    };
    let m = Mount::start(&s3.endpoint_url(), &[]);
    let (me, my_group) = (unsafe { libc::getuid() }, unsafe { libc::getgid() });
    check(&m, me, my_group, 0o444, 0o555);
    drop(m);
    let m = Mount::start(
        &s3.endpoint_url(),
        &[
            "--uid",
            "1234",
            "--gid",
            "4321",
            "--file-mode",
            "0440",
            "--dir-mode",
            "0550",
        ],
    );
    check(&m, 1234, 4321, 0o440, 0o550);
    drop(m);
    let m = Mount::start(
        &s3.endpoint_url(),
        &["-o", "ro,uid=2345,gid=5432,file_mode=400,dir_mode=0o500"],
    );
    check(&m, 2345, 5432, 0o400, 0o500);
    drop(m);

    let dir = tempfile::tempdir().unwrap();
    fs::create_dir(dir.path().join("mnt")).unwrap();
    for (flag, value, needle) in [
        ("--file-mode", "0644", "write bits"),
        ("--dir-mode", "0999", "not an octal mode"),
        ("--uid", "-1", "-1"),
    ] {
        let out = mastfs_command(dir.path())
            .arg("mount")
            .arg(dir.path().join("mnt"))
            .args([flag, value])
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(
            !out.status.success() && err.contains(needle),
            "{flag} {value}: expected a refusal mentioning {needle:?}, got {err}"
        );
        assert!(
            !is_mounted(&dir.path().join("mnt")),
            "{flag} {value} mounted"
        );
    }
}

#[test]
fn mount_is_private_unless_allow_other() {
    let s3 = server();
    s3.put_object("stpubdata", "f.txt", b"x".to_vec());
    let setpriv = std::path::Path::new("/usr/bin/setpriv");
    if !tool_available("setpriv (util-linux)", setpriv.exists()) {
        return;
    }
    let as_nobody = |path: &std::path::Path| {
        std::process::Command::new(setpriv)
            .args(["--reuid=65534", "--regid=65534", "--clear-groups", "cat"])
            .arg(path)
            .output()
            .unwrap()
    };
    let m = Mount::start(&s3.endpoint_url(), &[]);
    let out = as_nobody(&m.path("stpubdata/f.txt"));
    assert!(
        !out.status.success(),
        "another user read a private mount: {}",
        String::from_utf8_lossy(&out.stdout)
    );
    let mountinfo = fs::read_to_string("/proc/self/mountinfo").unwrap();
    let line = mountinfo
        .lines()
        .find(|l| l.contains(m.mountpoint.to_str().unwrap()))
        .unwrap();
    assert!(
        !line.contains("allow_other") && line.contains(" ro") && line.contains("nodev"),
        "mount options of a default mount: {line}"
    );
    drop(m);
    let m = Mount::start(&s3.endpoint_url(), &["--allow-other"]);
    // The mount point's parent is a private temp dir: open it up for this check.
    use std::os::unix::fs::PermissionsExt;
    fs::set_permissions(m.dir.path(), fs::Permissions::from_mode(0o755)).unwrap();
    let out = as_nobody(&m.path("stpubdata/f.txt"));
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "x",
        "with --allow-other another user reads the file (stderr: {})",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn credentials_never_reach_logs_or_the_process_list() {
    let s3 = S3Standin::start(ServerOptions {
        credentials: vec![("AKIARELIABILITY".into(), "reliability-secret-value".into())],
        ..Default::default()
    })
    .unwrap();
    s3.create_bucket("private-data", false);
    s3.put_object("private-data", "f.txt", b"secret-bytes".to_vec());
    let dir = tempfile::tempdir().unwrap();
    let cfg = write_config(
        dir.path(),
        "c.toml",
        "[[buckets]]\nname = \"private-data\"\nsigned = true\n",
    );
    let m = Mount::start_with(&s3.endpoint_url(), &["--config", &cfg], |cmd| {
        cmd.env("AWS_ACCESS_KEY_ID", "AKIARELIABILITY")
            .env("AWS_SECRET_ACCESS_KEY", "reliability-secret-value")
            .env("RUST_LOG", "trace");
    });
    assert_eq!(
        fs::read(m.path("private-data/f.txt")).unwrap(),
        b"secret-bytes"
    );
    let cmdline = fs::read(format!("/proc/{}/cmdline", m.pid())).unwrap();
    let log = m.log_text();
    assert!(
        !String::from_utf8_lossy(&cmdline).contains("reliability-secret-value"),
        "the secret is on the command line"
    );
    assert!(
        !log.contains("reliability-secret-value"),
        "the secret key appeared in a trace-level log"
    );
}
