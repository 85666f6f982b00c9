//! Mount tests: the real `mastfs` binary on a real FUSE mount against the local S3 stand-in.
//! Here the tree, reads, refusals and the daemon's life; path walks in `walks`, open
//! handles in `handles`.

use std::fs;
use std::io::{Read, Seek, SeekFrom, Write};
use std::os::unix::fs::MetadataExt;
use std::time::{Duration, SystemTime};

use crate::support::*;

mod handles;
mod walks;

fn server() -> S3Standin {
    let s3 = S3Standin::start(ServerOptions {
        credentials: vec![("AKIAMASTFSTEST".into(), "mastfs-test-secret".into())],
        ..Default::default()
    })
    .expect("start S3 stand-in");
    s3.create_bucket("stpubdata", true);
    s3
}

fn errno_of(r: std::io::Result<impl Sized>) -> Option<i32> {
    r.err().and_then(|e| e.raw_os_error())
}

#[test]
fn tree_listing_paging_and_names() {
    let s3 = server();
    for i in 0..1205 {
        s3.put_object(
            "stpubdata",
            &format!("roman/flat/r{i:05}_cal.asdf"),
            vec![b'x'; i % 13],
        );
    }
    s3.put_object(
        "stpubdata",
        "hst/public/jbev/jbeveo010/jbeveo010_drz.fits",
        vec![1u8; 10],
    );
    s3.put_object("stpubdata", "clash", b"file".to_vec());
    s3.put_object("stpubdata", "clash/inside", b"in".to_vec());
    for bad in [
        "odd/a//b",
        "odd/..",
        "odd/.",
        "odd/ok",
        &format!("odd/{}", "n".repeat(300)),
    ] {
        s3.put_object("stpubdata", bad, b"1".to_vec());
    }
    let m = Mount::start(&s3.endpoint_url(), &[]);

    let root: Vec<_> = fs::read_dir(m.path(""))
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(
        root,
        vec!["stpubdata", ".mastfs"],
        "root lists the mounted buckets, then the hidden status folder"
    );
    let mut top: Vec<_> = fs::read_dir(m.path("stpubdata"))
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    top.sort();
    assert_eq!(top, vec!["clash", "hst", "odd", "roman"]);

    fs::read_dir(m.path("stpubdata/roman")).unwrap().count();
    s3.reset_stats();
    let entries: Vec<_> = fs::read_dir(m.path("stpubdata/roman/flat"))
        .unwrap()
        .map(|e| e.unwrap())
        .collect();
    assert_eq!(
        entries.len(),
        1205,
        "entries of a 1205-key prefix (continuation tokens followed)"
    );
    for e in &entries {
        let name = e.file_name().into_string().unwrap();
        let i: usize = name[1..6].parse().unwrap();
        assert_eq!(
            e.metadata().unwrap().len(),
            (i % 13) as u64,
            "size of {name}"
        );
    }
    let st = s3.stats();
    assert_eq!(
        (st.requests.list, st.requests.head),
        (2, 0),
        "cold ls -l of 1205 keys (parent listed): 2 LIST pages and no HEAD"
    );
    // hst/ is known from the bucket listing; the lookup of public/ is one LIST of
    // hst/public/ (no HEAD: the listing is not empty), which then serves the readdir, and
    // beside it one LIST of hst/public/'s subtree (one round trip).
    s3.reset_stats();
    assert_eq!(
        fs::read_dir(m.path("stpubdata/hst/public"))
            .unwrap()
            .count(),
        1
    );
    let st = s3.stats();
    assert_eq!(
        (st.requests.list, st.requests.head),
        (2, 0),
        "ls of hst/public: its LIST and its subtree's, no HEAD, for the unlisted component"
    );

    let nested =
        fs::metadata(m.path("stpubdata/hst/public/jbev/jbeveo010/jbeveo010_drz.fits")).unwrap();
    assert_eq!(nested.len(), 10, "nested prefixes without marker objects");
    assert!(
        fs::metadata(m.path("stpubdata/clash")).unwrap().is_dir(),
        "directory wins over file of the same name"
    );
    let mut odd: Vec<_> = fs::read_dir(m.path("stpubdata/odd"))
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    odd.sort();
    assert_eq!(
        odd,
        vec!["a", "ok"],
        "keys that cannot be names are skipped"
    );
    assert_eq!(
        fs::read_dir(m.path("stpubdata/odd/a")).unwrap().count(),
        0,
        "a//b has an empty component"
    );
    assert_eq!(
        errno_of(fs::metadata(m.path("stpubdata/nothing/here"))),
        Some(libc::ENOENT)
    );
    assert_eq!(
        errno_of(fs::metadata(m.path("otherbucket"))),
        Some(libc::ENOENT)
    );
}

#[test]
fn stat_and_reads_match_the_source() {
    let s3 = server();
    let data = pseudo_random(5 * 1024 * 1024 + 12_345, 42);
    let mtime = SystemTime::UNIX_EPOCH + Duration::from_secs(1_600_000_000);
    s3.put_object_with_mtime("stpubdata", "hst/public/x/data.fits", data.clone(), mtime);
    let m = Mount::start(&s3.endpoint_url(), &["--block-size", "64KiB"]);
    let p = m.path("stpubdata/hst/public/x/data.fits");
    let meta = fs::metadata(&p).unwrap();
    assert_eq!(meta.len(), data.len() as u64, "st_size");
    assert_eq!(meta.mtime(), 1_600_000_000, "st_mtime from LastModified");
    assert_eq!(meta.mode() & 0o777, 0o444, "file mode");

    let mut f = fs::File::open(&p).unwrap();
    let mut x: u64 = 7;
    for n in 0..300 {
        x = x
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        let len = (x >> 40) as usize % 200_000 + 1;
        let offset = if n % 3 == 0 {
            // straddle a 64 KiB block boundary
            (((x >> 20) % 80) * 65536).saturating_sub(len as u64 / 2)
        } else {
            (x >> 16) % data.len() as u64
        };
        f.seek(SeekFrom::Start(offset)).unwrap();
        let mut buf = vec![0u8; len];
        let mut got = 0;
        while got < len {
            let k = f.read(&mut buf[got..]).unwrap();
            if k == 0 {
                break;
            }
            got += k;
        }
        let end = (offset as usize + len).min(data.len());
        assert_eq!(got, end - offset as usize, "bytes read at offset {offset}");
        assert!(
            buf[..got] == data[offset as usize..end],
            "bytes differ at offset {offset}, len {len}"
        );
    }
    let whole = fs::read(&p).unwrap();
    assert!(
        whole == data,
        "a full sequential read differs from the source"
    );
}

#[test]
fn writes_answer_erofs() {
    let s3 = server();
    s3.put_object("stpubdata", "dir/file.txt", b"hello".to_vec());
    let m = Mount::start(&s3.endpoint_url(), &[]);
    let file = m.path("stpubdata/dir/file.txt");
    assert_eq!(fs::read(&file).unwrap(), b"hello");
    let cases: Vec<(&str, Option<i32>)> = vec![
        (
            "write",
            errno_of(
                fs::OpenOptions::new()
                    .write(true)
                    .open(&file)
                    .and_then(|mut f| f.write_all(b"x")),
            ),
        ),
        (
            "create",
            errno_of(fs::File::create(m.path("stpubdata/dir/new.txt"))),
        ),
        (
            "mkdir",
            errno_of(fs::create_dir(m.path("stpubdata/dir/sub"))),
        ),
        ("unlink", errno_of(fs::remove_file(&file))),
        ("rmdir", errno_of(fs::remove_dir(m.path("stpubdata/dir")))),
        (
            "rename",
            errno_of(fs::rename(&file, m.path("stpubdata/dir/moved.txt"))),
        ),
        (
            "truncate",
            errno_of(
                fs::OpenOptions::new()
                    .write(true)
                    .truncate(true)
                    .open(&file),
            ),
        ),
        (
            "setattr",
            errno_of(fs::set_permissions(
                &file,
                std::os::unix::fs::PermissionsExt::from_mode(0o644),
            )),
        ),
        (
            "symlink",
            errno_of(std::os::unix::fs::symlink(
                "x",
                m.path("stpubdata/dir/link"),
            )),
        ),
    ];
    for (op, errno) in cases {
        assert_eq!(errno, Some(libc::EROFS), "{op} should answer EROFS");
    }
    assert_eq!(fs::read(&file).unwrap(), b"hello", "file unchanged");
}

#[test]
fn private_bucket_needs_credentials() {
    let s3 = server();
    s3.create_bucket("private-sandbox", false);
    s3.put_object(
        "private-sandbox",
        "romanisim/test.asdf",
        b"#ASDF 1.0.0\n".to_vec(),
    );
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("config.toml");
    fs::write(&config, "[[buckets]]\nname = \"private-sandbox\"\nsigned = true\n[[buckets]]\nname = \"stpubdata\"\n").unwrap();
    let cfg = config.to_str().unwrap();

    let anon = Mount::start(&s3.endpoint_url(), &["--config", cfg]);
    let err = fs::read_dir(anon.path("private-sandbox/romanisim"));
    assert_eq!(
        errno_of(err),
        Some(libc::EACCES),
        "signed bucket without credentials"
    );
    assert!(
        anon.log_text().contains("credentials"),
        "log should say which credentials were missing:\n{}",
        anon.log_text()
    );
    assert!(
        fs::read_dir(anon.path("stpubdata")).is_ok(),
        "the public bucket keeps working"
    );
    drop(anon);

    let signed = Mount::start_with(&s3.endpoint_url(), &["--config", cfg], |cmd| {
        cmd.env("AWS_ACCESS_KEY_ID", "AKIAMASTFSTEST")
            .env("AWS_SECRET_ACCESS_KEY", "mastfs-test-secret");
    });
    let names: Vec<_> = fs::read_dir(signed.path("private-sandbox/romanisim"))
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(names, vec!["test.asdf"]);
    assert_eq!(
        fs::read(signed.path("private-sandbox/romanisim/test.asdf")).unwrap(),
        b"#ASDF 1.0.0\n"
    );
    assert!(
        !signed.log_text().contains("mastfs-test-secret"),
        "the secret appeared in the log"
    );
}

#[test]
fn sigterm_unmounts_cleanly() {
    let s3 = server();
    s3.put_object("stpubdata", "a.txt", b"a".to_vec());
    let mut m = Mount::start(&s3.endpoint_url(), &[]);
    assert_eq!(fs::read(m.path("stpubdata/a.txt")).unwrap(), b"a");
    let status = m
        .signal_and_wait(libc::SIGTERM)
        .expect("daemon did not exit within 15 s of SIGTERM");
    assert!(status.success(), "exit status after SIGTERM: {status}");
    assert!(!is_mounted(&m.mountpoint), "still mounted after SIGTERM");
}

#[test]
fn daemon_mode_and_stale_mount_recovery() {
    let s3 = server();
    s3.put_object("stpubdata", "a.txt", b"abc".to_vec());
    // A foreground daemon killed with SIGKILL leaves a dead mount behind.
    let mut m = Mount::start(&s3.endpoint_url(), &[]);
    m.signal_and_wait(libc::SIGKILL).expect("SIGKILL");
    assert_eq!(
        errno_of(fs::metadata(m.path("stpubdata"))),
        Some(libc::ENOTCONN),
        "readers of a dead mount get an error, not a hang"
    );

    // `mastfs mount` on the same path recovers without manual fusermount3 -u.
    let out = mastfs_command(m.dir.path())
        .arg("mount")
        .arg(&m.mountpoint)
        .args(["--endpoint-url", &s3.endpoint_url(), "--force-path-style"])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "daemon mount failed: {}\n{}",
        stdout,
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        stdout.contains("mounted s3://stpubdata/")
            && stdout.contains(m.mountpoint.to_str().unwrap()),
        "readiness line: {stdout}"
    );
    assert!(
        is_mounted(&m.mountpoint),
        "the daemon returned before the mount was live"
    );
    assert_eq!(fs::read(m.path("stpubdata/a.txt")).unwrap(), b"abc");

    let out = mastfs_command(m.dir.path())
        .arg("unmount")
        .arg(&m.mountpoint)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "unmount: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        !is_mounted(&m.mountpoint),
        "still mounted after mastfs unmount"
    );
}

#[test]
fn bad_mount_points_are_refused_before_mounting() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("nope");
    let out = mastfs_command(dir.path())
        .arg("mount")
        .arg(&missing)
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success() && err.contains("does not exist"),
        "missing mount point: {err}"
    );
    let full = dir.path().join("full");
    fs::create_dir(&full).unwrap();
    fs::write(full.join("x"), b"x").unwrap();
    let out = mastfs_command(dir.path())
        .arg("mount")
        .arg(&full)
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success() && err.contains("not empty"),
        "non-empty mount point: {err}"
    );
    let out = mastfs_command(dir.path())
        .args(["mount", "--bucket", "views"])
        .arg(dir.path().join("x"))
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success() && err.contains("views"),
        "bucket named views: {err}"
    );
}

#[test]
fn stats_move_as_reads_happen() {
    let s3 = server();
    s3.put_object("stpubdata", "d/x.bin", pseudo_random(3 * 1024 * 1024, 5));
    let m = Mount::start(&s3.endpoint_url(), &[]);
    let read_stats = || -> serde_json::Value {
        let text =
            fs::read_to_string(m.path(".mastfs/stats.json")).expect("read .mastfs/stats.json");
        serde_json::from_str(&text)
            .unwrap_or_else(|e| panic!("stats.json is not JSON ({e}): {text}"))
    };
    let before = read_stats();
    assert_eq!(
        before["requests"]["get"], 0,
        "no GET before any read: {before}"
    );
    let data = fs::read(m.path("stpubdata/d/x.bin")).unwrap();
    assert_eq!(data.len(), 3 * 1024 * 1024);
    let after = read_stats();
    assert_eq!(
        after["bytes_fetched"],
        3 * 1024 * 1024,
        "bytes fetched after one full read: {after}"
    );
    assert_eq!(
        after["bytes_served"],
        3 * 1024 * 1024,
        "bytes served: {after}"
    );
    assert_eq!(
        after["requests"]["get"],
        s3.stats().requests.get,
        "GET count agrees with the server's: {after}"
    );
    assert!(
        after["cache"]["misses"].as_u64().unwrap() >= 1,
        "cache misses counted: {after}"
    );
    let out = mastfs_command(m.dir.path())
        .arg("stats")
        .arg(&m.mountpoint)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "mastfs stats: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let cli: serde_json::Value =
        serde_json::from_slice(&out.stdout).expect("mastfs stats prints JSON");
    assert_eq!(
        cli["bytes_fetched"], after["bytes_fetched"],
        "mastfs stats and stats.json agree"
    );
    assert_eq!(
        fs::read_dir(m.path(".mastfs")).unwrap().count(),
        1,
        ".mastfs holds stats.json"
    );
}

/// errno of getxattr(2) on `path`, or None when it succeeded.
fn getxattr_errno(path: &std::path::Path, name: &str) -> Option<i32> {
    use std::os::unix::ffi::OsStrExt;
    let p = std::ffi::CString::new(path.as_os_str().as_bytes()).unwrap();
    let n = std::ffi::CString::new(name).unwrap();
    let mut buf = vec![0u8; 256];
    let len = unsafe { libc::getxattr(p.as_ptr(), n.as_ptr(), buf.as_mut_ptr().cast(), buf.len()) };
    (len < 0).then(|| std::io::Error::last_os_error().raw_os_error().unwrap_or(0))
}

#[test]
fn mount_without_views_tells_the_kernel_it_has_no_xattrs() {
    // `ls -l` asks every entry for two extended attributes; a mount without views answers
    // ENOSYS once, and the kernel answers every later getxattr itself: EOPNOTSUPP, or
    // "no ACL" (ENODATA) for the POSIX ACL names. An ENODATA for a security.* or user.*
    // name would mean each one still went through the daemon.
    let s3 = server();
    s3.put_object("stpubdata", "dir/a.fits", b"a".to_vec());
    s3.put_object("stpubdata", "dir/b.fits", b"b".to_vec());
    let m = Mount::start(&s3.endpoint_url(), &[]);
    for (path, attr, errno) in [
        ("stpubdata/dir/a.fits", "security.selinux", libc::EOPNOTSUPP),
        (
            "stpubdata/dir/a.fits",
            "system.posix_acl_access",
            libc::ENODATA,
        ),
        ("stpubdata/dir/b.fits", "user.mast.s3_uri", libc::EOPNOTSUPP),
        ("stpubdata/dir", "security.selinux", libc::EOPNOTSUPP),
    ] {
        assert_eq!(
            getxattr_errno(&m.path(path), attr),
            Some(errno),
            "getxattr({path}, {attr}): expected errno {errno} (no xattrs on this mount)"
        );
    }
    let ls = std::process::Command::new("ls")
        .arg("-l")
        .arg(m.path("stpubdata/dir"))
        .output()
        .unwrap();
    assert!(ls.status.success(), "ls -l failed: {ls:?}");
    assert_eq!(
        String::from_utf8_lossy(&ls.stdout).lines().count(),
        3,
        "ls -l lists a total line and both files: {ls:?}"
    );
}

/// The mount table escapes a tab as `\011` and a backslash as `\134`: `mastfs stats` (which
/// finds the mount's daemon) and `mastfs unmount` must both read them back.
#[test]
fn a_mount_point_with_a_tab_and_a_backslash_is_found_and_unmounted() {
    let s3 = server();
    s3.put_object("stpubdata", "a.txt", b"abc".to_vec());
    let dir = tempfile::tempdir().unwrap();
    let mountpoint = dir.path().join("tab\there back\\slash");
    fs::create_dir(&mountpoint).unwrap();
    let out = mastfs_command(dir.path())
        .arg("mount")
        .arg(&mountpoint)
        .args(["--endpoint-url", &s3.endpoint_url(), "--force-path-style"])
        .output()
        .unwrap();
    assert!(out.status.success(), "mount: {}", text(&out));
    let guard = unmount_on_drop(&mountpoint);
    assert_eq!(
        fs::read(mountpoint.join("stpubdata/a.txt")).unwrap(),
        b"abc"
    );

    let out = mastfs_command(dir.path())
        .arg("stats")
        .arg(&mountpoint)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "stats finds the mount: expected success, got {}",
        text(&out)
    );
    let out = mastfs_command(dir.path())
        .arg("unmount")
        .arg(&mountpoint)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "unmount finds the mount: expected success, got {}",
        text(&out)
    );
    assert!(
        fs::read_dir(&mountpoint).unwrap().next().is_none(),
        "expected the empty mount point after mastfs unmount, got its mounted contents"
    );
    drop(guard);
}

/// Detaches `path` when dropped, so a failed assertion leaves no mount behind.
fn unmount_on_drop(path: &std::path::Path) -> impl Drop + '_ {
    struct Detach<'a>(&'a std::path::Path);
    impl Drop for Detach<'_> {
        fn drop(&mut self) {
            let _ = std::process::Command::new("umount")
                .arg("-l")
                .arg(self.0)
                .stderr(std::process::Stdio::null())
                .status();
        }
    }
    Detach(path)
}
