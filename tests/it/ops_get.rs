//! `mastfs get`: parallel ranged downloads, resume, verification, never overwriting
//! silently, and mapping mounted paths and view names to objects.

use std::fs;
use std::path::Path;
use std::process::Output;
use std::time::Duration;

use crate::support::*;
use mastfs_s3_standin::{Fault, FaultPlan, OpMatch};

fn server() -> S3Standin {
    public_server()
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

/// One object in the stand-in and where `get` puts it (`x.fits`, with `x.fits.part`).
struct Download {
    s3: S3Standin,
    data: Vec<u8>,
    etag: String,
    dir: tempfile::TempDir,
    uri: String,
    dest: std::path::PathBuf,
    part: std::path::PathBuf,
}

fn download_of(size: usize, seed: u64) -> Download {
    let s3 = server();
    let data = pseudo_random(size, seed);
    let etag = s3.put_object("stpubdata", KEY, data.clone());
    let dir = tempfile::tempdir().unwrap();
    let dest = dir.path().join("x.fits");
    let part = dir.path().join("x.fits.part");
    Download {
        s3,
        data,
        etag,
        dir,
        uri: format!("s3://stpubdata/{KEY}"),
        dest,
        part,
    }
}

#[test]
fn get_resumes_partial_downloads() {
    let size = 6_000_000;
    let Download {
        s3,
        data,
        etag,
        dir,
        uri,
        dest,
        part,
    } = download_of(size, 9);
    let dest_arg = dest.to_str().unwrap();

    // 1. A .part holding the first 2 MB of this version (its recorded ETag) continues
    //    from there.
    fs::write(&part, &data[..2_000_000]).unwrap();
    set_xattr(&part, PART_ETAG, &etag);
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

/// The attribute in which `get` records which version a `.part` holds a prefix of.
const PART_ETAG: &str = "user.mastfs.etag";

fn set_xattr(path: &Path, name: &str, value: &str) {
    use std::os::unix::ffi::OsStrExt;
    let p = std::ffi::CString::new(path.as_os_str().as_bytes()).unwrap();
    let n = std::ffi::CString::new(name).unwrap();
    // SAFETY: valid C strings and a value buffer of the length passed.
    let rc = unsafe {
        libc::setxattr(
            p.as_ptr(),
            n.as_ptr(),
            value.as_ptr().cast(),
            value.len(),
            0,
        )
    };
    assert_eq!(
        rc,
        0,
        "setxattr {name} on {}: {}",
        path.display(),
        std::io::Error::last_os_error()
    );
}

/// Asserts that `get` failed with a message containing `why`.
fn refused(out: &Output, why: &str) {
    assert!(
        !out.status.success() && String::from_utf8_lossy(&out.stderr).contains(why),
        "expected a refusal saying {why:?}, got: {}",
        text(out)
    );
}

#[test]
fn get_never_trusts_a_part_file_it_cannot_vouch_for() {
    let size = 3_000_000;
    let Download {
        s3,
        data,
        etag,
        dir,
        uri,
        dest,
        part,
    } = download_of(size, 31);
    let dest_arg = dest.to_str().unwrap();

    // 1. A symlink planted at NAME.part (a shared scratch folder) is refused, and the file
    //    it points to is left alone.
    let victim = dir.path().join("victim.txt");
    fs::write(&victim, b"precious").unwrap();
    std::os::unix::fs::symlink(&victim, &part).unwrap();
    refused(&get(&s3, dir.path(), &[&uri, dest_arg]), "symbolic link");
    assert_eq!(
        fs::read(&victim).unwrap(),
        b"precious",
        "symlink target untouched"
    );
    fs::remove_file(&part).unwrap();

    // 2. A .part owned by someone else is refused.
    fs::write(&part, &data[..1_000_000]).unwrap();
    std::os::unix::fs::chown(&part, Some(65534), Some(65534)).unwrap();
    refused(&get(&s3, dir.path(), &[&uri, dest_arg]), "owned by");
    fs::remove_file(&part).unwrap();

    // 3. A .part without a recorded ETag, or with another one, starts over: its bytes are
    //    garbage here, and a resume would only be caught by the MD5 check of plain ETags.
    for recorded in [None, Some("\"0123456789abcdef0123456789abcdef-2\"")] {
        let mut garbage = data[..1_000_000].to_vec();
        garbage[10] ^= 0xff;
        fs::write(&part, &garbage).unwrap();
        if let Some(other) = recorded {
            set_xattr(&part, PART_ETAG, other);
        }
        s3.reset_stats();
        let out = get(&s3, dir.path(), &[&uri, dest_arg]);
        assert!(
            out.status.success(),
            "get with a {recorded:?} .part: {}",
            text(&out)
        );
        assert!(
            same_bytes(&dest, &data),
            "file after a {recorded:?} .part differs"
        );
        assert_eq!(
            s3.stats().get_body_bytes,
            size as u64,
            "a .part recorded as {recorded:?} must not be resumed"
        );
        fs::remove_file(&dest).unwrap();
    }

    // 4. With this version's ETag recorded, it resumes.
    fs::write(&part, &data[..1_000_000]).unwrap();
    set_xattr(&part, PART_ETAG, &etag);
    s3.reset_stats();
    let out = get(&s3, dir.path(), &[&uri, dest_arg]);
    assert!(out.status.success(), "resume: {}", text(&out));
    assert!(same_bytes(&dest, &data), "resumed file differs");
    assert_eq!(
        s3.stats().get_body_bytes,
        size as u64 - 1_000_000,
        "resumed at 1 MB"
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
    let cfg = write_seed_view_config(dir.path(), "drz");
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
