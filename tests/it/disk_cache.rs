//! The persistent disk cache on real mounts: a second mount of a file already read fetches
//! nothing, `mastfs warm` fills the cache through a mount or without one, and the folder
//! stays owner-only.

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::Output;

use crate::support::*;

const KEY: &str = "hst/public/jbev/jbeveo010/jbeveo010_drz.fits";
const SIZE: usize = 5 * 1024 * 1024 + 12_345;

fn run_mastfs(home: &Path, args: &[&str]) -> Output {
    mastfs_command(home)
        .args(args)
        .output()
        .expect("run mastfs")
}

#[test]
fn a_second_mount_reads_a_file_already_read_without_any_get() {
    let (s3, data) = server_with_object(KEY, SIZE, 42);
    let cache = tempfile::tempdir().unwrap();
    let cache_dir = cache.path().join("blocks");
    let cache_arg = cache_dir.to_str().unwrap();

    let first = Mount::start(
        &s3.endpoint_url(),
        &["--cache-dir", cache_arg, "--no-passthrough"],
    );
    let got = fs::read(first.path(&format!("stpubdata/{KEY}"))).unwrap();
    assert_same_bytes(&got, &data, "first read");
    let gets_first = s3.stats().requests.get;
    assert!(
        gets_first >= 6,
        "a 5 MiB file in 1 MiB blocks: {gets_first} GETs"
    );
    first.stop_cleanly();

    let mode = fs::metadata(&cache_dir).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o700, "the disk cache folder must be owner-only");

    let second = Mount::start(
        &s3.endpoint_url(),
        &["--cache-dir", cache_arg, "--no-passthrough"],
    );
    s3.reset_stats();
    let got = fs::read(second.path(&format!("stpubdata/{KEY}"))).unwrap();
    assert_same_bytes(&got, &data, "second mount's read");
    let requests = s3.stats().requests;
    assert_eq!(
        requests.get, 0,
        "GETs in a second mount of a file already read (lookups: {} HEAD, {} LIST)",
        requests.head, requests.list
    );
    let stats = second.stats();
    assert_eq!(stats["disk_cache"]["enabled"], true);
    assert_eq!(
        stats["disk_cache"]["hits"].as_u64(),
        Some(SIZE.div_ceil(1 << 20) as u64),
        "disk hits: one per block; stats: {}",
        stats["disk_cache"]
    );
}

#[test]
fn a_changed_object_is_fetched_again_not_served_from_disk() {
    let (s3, _old) = server_with_object(KEY, SIZE, 42);
    let cache = tempfile::tempdir().unwrap();
    let cache_arg = cache.path().to_str().unwrap();
    let first = Mount::start(
        &s3.endpoint_url(),
        &["--cache-dir", cache_arg, "--no-passthrough"],
    );
    fs::read(first.path(&format!("stpubdata/{KEY}"))).unwrap();
    first.stop_cleanly();

    let newer = pseudo_random(SIZE, 7);
    s3.put_object("stpubdata", KEY, newer.clone());
    let second = Mount::start(
        &s3.endpoint_url(),
        &["--cache-dir", cache_arg, "--no-passthrough"],
    );
    let got = fs::read(second.path(&format!("stpubdata/{KEY}"))).unwrap();
    assert_same_bytes(&got, &newer, "read after the object changed (new ETag)");
}

#[test]
fn warm_through_a_mount_fills_its_disk_cache() {
    let (s3, data) = server_with_object(KEY, SIZE, 42);
    s3.put_object(
        "stpubdata",
        "hst/public/jbev/jbeveo010/small.fits",
        vec![9u8; 3000],
    );
    let cache = tempfile::tempdir().unwrap();
    let cache_arg = cache.path().to_str().unwrap();
    let m = Mount::start(
        &s3.endpoint_url(),
        &["--cache-dir", cache_arg, "--no-passthrough"],
    );
    let folder = m.path("stpubdata/hst/public/jbev");
    let out = run_mastfs(
        m.dir.path(),
        &["warm", folder.to_str().unwrap(), "--no-progress"],
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "mastfs warm failed: {stderr}");
    assert!(
        stderr.contains("2 of 2 file(s) in the disk cache"),
        "warm's summary line; got:\n{stderr}"
    );
    let stats = m.stats();
    assert_eq!(
        stats["disk_cache"]["writes"].as_u64(),
        Some(SIZE.div_ceil(1 << 20) as u64 + 1),
        "blocks written by warming a 5 MiB and a 3 KB file: {}",
        stats["disk_cache"]
    );
    m.stop_cleanly();

    let again = Mount::start(
        &s3.endpoint_url(),
        &["--cache-dir", cache_arg, "--no-passthrough"],
    );
    s3.reset_stats();
    let got = fs::read(again.path(&format!("stpubdata/{KEY}"))).unwrap();
    assert_same_bytes(&got, &data, "read of a warmed file");
    assert_eq!(s3.stats().requests.get, 0, "GETs for a warmed file");
}

#[test]
fn warm_refuses_a_mount_without_disk_cache() {
    let (s3, _) = server_with_object(KEY, SIZE, 42);
    let m = Mount::start(&s3.endpoint_url(), &[]);
    let file = m.path(&format!("stpubdata/{KEY}"));
    let out = run_mastfs(m.dir.path(), &["warm", file.to_str().unwrap()]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success(),
        "warm of a mount without disk cache succeeded"
    );
    assert!(
        stderr.contains("has no disk cache") && stderr.contains("--disk-cache"),
        "the message should say what to do; got: {stderr}"
    );
}

#[test]
fn warm_without_a_mount_prepares_the_next_mount() {
    let (s3, data) = server_with_object(KEY, SIZE, 42);
    let home = tempfile::tempdir().unwrap();
    let cache = tempfile::tempdir().unwrap();
    let cache_arg = cache.path().to_str().unwrap();
    let endpoint = s3.endpoint_url();
    let uri = format!("s3://stpubdata/{KEY}");
    let warm = || {
        run_mastfs(
            home.path(),
            &[
                "warm",
                &uri,
                "--endpoint-url",
                &endpoint,
                "--force-path-style",
                "--cache-dir",
                cache_arg,
                "--no-progress",
            ],
        )
    };
    let out = warm();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "mastfs warm s3:// failed: {stderr}");
    let gets = s3.stats().requests.get;
    assert_eq!(
        gets,
        SIZE.div_ceil(1 << 20) as u64,
        "warm fetches each 1 MiB block once"
    );

    // Warming again finds everything on disk.
    s3.reset_stats();
    let out = warm();
    assert!(out.status.success(), "second warm failed");
    assert_eq!(s3.stats().requests.get, 0, "GETs of a second warm");

    let m = Mount::start(&endpoint, &["--cache-dir", cache_arg, "--no-passthrough"]);
    s3.reset_stats();
    let got = fs::read(m.path(&format!("stpubdata/{KEY}"))).unwrap();
    assert_same_bytes(&got, &data, "read of a file warmed without a mount");
    assert_eq!(
        s3.stats().requests.get,
        0,
        "GETs for a file warmed without a mount"
    );
}
