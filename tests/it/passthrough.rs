//! FUSE passthrough on real mounts: a file wholly in the disk cache is opened by passthrough
//! on the next mount (its reads reach neither the daemon nor S3), a partly cached one is not,
//! and `--no-passthrough` turns it off. As root on Linux >= 6.9 passthrough must be on;
//! elsewhere the tests check that the mount says why it is off and serves files as before.

use std::fs;
use std::io::{Read, Seek, SeekFrom};
use std::path::Path;

use crate::support::*;

const KEY: &str = "hst/public/jbev/jbeveo010/jbeveo010_drz.fits";
const SIZE: usize = 5 * 1024 * 1024 + 12_345;

/// Root on Linux >= 6.9: FUSE passthrough must work here.
fn machine_allows_passthrough() -> bool {
    let release = fs::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_default();
    let mut parts = release
        .trim()
        .split(['.', '-'])
        .map(|p| p.parse::<u32>().unwrap_or(0));
    let version = (parts.next().unwrap_or(0), parts.next().unwrap_or(0));
    let root = unsafe { libc::geteuid() } == 0;
    root && version >= (6, 9)
}

/// Whether the mount turned passthrough on; required where the machine allows it.
fn passthrough_on(m: &Mount) -> bool {
    let stats = m.stats();
    let on = stats["passthrough"]["enabled"] == serde_json::Value::Bool(true);
    assert!(
        on || !machine_allows_passthrough(),
        "root on Linux >= 6.9, yet passthrough is off: {}; log:\n{}",
        stats["passthrough"],
        m.log_text()
    );
    if !on {
        let reason = stats["passthrough"]["off_reason"].clone();
        eprintln!("passthrough is off on this machine ({reason}); checking the fallback only");
        assert!(
            m.log_text().contains("passthrough off:"),
            "passthrough is off but the log does not say why; log:\n{}",
            m.log_text()
        );
    }
    on
}

fn mount_with_cache(s3: &S3Standin, cache: &Path, extra: &[&str]) -> Mount {
    let mut args = vec!["--cache-dir", cache.to_str().expect("utf-8 temp path")];
    args.extend_from_slice(extra);
    Mount::start(&s3.endpoint_url(), &args)
}

/// The file's bytes as seen through a read-only shared memory map.
fn map_whole(file: &fs::File) -> Vec<u8> {
    use std::os::fd::AsRawFd;
    let len = file.metadata().unwrap().len() as usize;
    // SAFETY: a fresh read-only mapping of `len` bytes of an open file, copied out and
    // unmapped before returning.
    unsafe {
        let at = libc::mmap(
            std::ptr::null_mut(),
            len,
            libc::PROT_READ,
            libc::MAP_SHARED,
            file.as_raw_fd(),
            0,
        );
        assert!(
            at != libc::MAP_FAILED,
            "mmap: {}",
            std::io::Error::last_os_error()
        );
        let bytes = std::slice::from_raw_parts(at as *const u8, len).to_vec();
        libc::munmap(at, len);
        bytes
    }
}

fn num(v: &serde_json::Value) -> u64 {
    v.as_u64().unwrap_or(u64::MAX)
}

/// Reads the file whole through `m`, checks its bytes, and returns the mount's stats and
/// the GETs the read cost.
fn read_whole(s3: &S3Standin, m: &Mount, want: &[u8], what: &str) -> (serde_json::Value, u64) {
    s3.reset_stats();
    let got = fs::read(m.path(&format!("stpubdata/{KEY}"))).unwrap();
    assert_same_bytes(&got, want, what);
    (m.stats(), s3.stats().requests.get)
}

#[test]
fn a_file_wholly_on_disk_is_reread_by_passthrough_without_the_daemon() {
    let (s3, data) = server_with_object(KEY, SIZE, 7);
    let cache = tempfile::tempdir().unwrap();
    let cache_dir = cache.path().join("blocks");

    let first = mount_with_cache(&s3, &cache_dir, &[]);
    let first_on = passthrough_on(&first);
    let (first_stats, _) = read_whole(&s3, &first, &data, "first read");
    assert_eq!(
        num(&first_stats["passthrough"]["opens"]),
        0,
        "nothing was on disk at the first open, yet it was opened by passthrough"
    );
    first.stop_cleanly();
    if first_on {
        // The whole-object file is built as the last block lands, in the first mount: the
        // next mount's open finds it ready instead of copying the object first.
        let objects: Vec<String> = fs::read_dir(cache_dir.join("objects"))
            .map(|d| {
                d.flatten()
                    .map(|e| e.file_name().to_string_lossy().into_owned())
                    .filter(|n| n.ends_with(".obj"))
                    .collect()
            })
            .unwrap_or_default();
        assert_eq!(
            objects.len(),
            1,
            "whole-object files left by the mount that read the file: {objects:?}"
        );
    }

    let second = mount_with_cache(&s3, &cache_dir, &[]);
    let on = passthrough_on(&second);
    assert!(
        second.log_text().contains(if on {
            "passthrough on"
        } else {
            "passthrough off"
        }),
        "the mount's log does not say whether passthrough is on; log:\n{}",
        second.log_text()
    );
    let (_, gets) = read_whole(&s3, &second, &data, "re-read on the second mount");
    // Random access too (what a memmap cutout does).
    let mut file = fs::File::open(second.path(&format!("stpubdata/{KEY}"))).unwrap();
    for offset in [3 * 1024 * 1024 + 17, 11, SIZE as u64 - 100] {
        file.seek(SeekFrom::Start(offset)).unwrap();
        let mut buf = vec![0u8; 100];
        let n = file.read(&mut buf).unwrap();
        let at = offset as usize;
        assert_same_bytes(
            &buf[..n],
            &data[at..at + n],
            &format!("100 bytes at {offset}"),
        );
    }
    // And a memory map (what numpy's memmap and astropy's fits.open do).
    let mapped = map_whole(&file);
    assert_same_bytes(&mapped, &data, "memory-mapped file");
    drop(file);
    let gets = gets + s3.stats().requests.get;
    assert_eq!(gets, 0, "GETs for a file wholly on disk");
    let stats = second.stats();
    if on {
        assert_eq!(
            num(&stats["passthrough"]["opens"]),
            2,
            "opens served by passthrough; stats: {stats}"
        );
        assert_eq!(
            num(&stats["bytes_served"]),
            0,
            "reads reached the daemon although the file was opened by passthrough"
        );
        assert_eq!(
            num(&stats["disk_cache"]["whole_files_built"]),
            0,
            "the second mount found the whole-object file built"
        );
        assert_eq!(
            num(&stats["disk_cache"]["files"]),
            1,
            "the object should be kept once, as its whole file: {}",
            stats["disk_cache"]
        );
    }
    second.stop_cleanly();

    // --no-passthrough turns it off; the blocks are then read from the whole file.
    let third = mount_with_cache(&s3, &cache_dir, &["--no-passthrough"]);
    let (stats, gets) = read_whole(&s3, &third, &data, "read with --no-passthrough");
    assert_eq!(
        num(&stats["passthrough"]["opens"]),
        0,
        "opens with --no-passthrough"
    );
    assert_eq!(
        stats["passthrough"]["off_reason"].as_str(),
        Some("turned off (--no-passthrough)"),
        "stats: {stats}"
    );
    assert!(
        num(&stats["bytes_served"]) >= SIZE as u64,
        "with passthrough off, reads go through the daemon"
    );
    assert_eq!(gets, 0, "the blocks are still on disk");
    third.stop_cleanly();
}

#[test]
fn a_partly_cached_file_is_not_opened_by_passthrough() {
    let (s3, data) = server_with_object(KEY, SIZE, 7);
    let cache = tempfile::tempdir().unwrap();
    let cache_dir = cache.path().join("blocks");

    let first = mount_with_cache(&s3, &cache_dir, &[]);
    let mut head = vec![0u8; 4096];
    fs::File::open(first.path(&format!("stpubdata/{KEY}")))
        .unwrap()
        .read_exact(&mut head)
        .unwrap();
    assert_same_bytes(&head, &data[..4096], "head");
    first.stop_cleanly();

    let second = mount_with_cache(&s3, &cache_dir, &[]);
    let on = passthrough_on(&second);
    let (stats, gets) = read_whole(&s3, &second, &data, "read of a partly cached file");
    assert_eq!(
        num(&stats["passthrough"]["opens"]),
        0,
        "a file with blocks missing from disk was opened by passthrough"
    );
    assert!(gets > 0, "the missing blocks must come from S3");
    second.stop_cleanly();

    // Now wholly on disk: the next mount opens it by passthrough.
    let third = mount_with_cache(&s3, &cache_dir, &[]);
    let (stats, gets) = read_whole(&s3, &third, &data, "read once completed");
    if on {
        assert_eq!(num(&stats["passthrough"]["opens"]), 1, "stats: {stats}");
    }
    assert_eq!(gets, 0, "GETs once the file is wholly on disk");
    third.stop_cleanly();
}

#[test]
fn a_replaced_object_is_never_served_from_the_old_versions_file() {
    let (s3, old) = server_with_object(KEY, SIZE, 7);
    let cache = tempfile::tempdir().unwrap();
    let cache_dir = cache.path().join("blocks");
    let first = mount_with_cache(&s3, &cache_dir, &[]);
    read_whole(&s3, &first, &old, "first read");
    first.stop_cleanly();

    let m = mount_with_cache(&s3, &cache_dir, &["--metadata-ttl", "1s"]);
    let on = passthrough_on(&m);
    let mut held = fs::File::open(m.path(&format!("stpubdata/{KEY}"))).unwrap();
    let new = pseudo_random(SIZE, 8);
    s3.put_object("stpubdata", KEY, new.clone());
    std::thread::sleep(std::time::Duration::from_millis(1500));

    // A new version gets an inode of its own (the open that finds the new ETag answers
    // ESTALE and the kernel walks the path again), so the kernel's one backing file per
    // inode never stands between them: the new version opens, and reads new bytes.
    let meanwhile = fs::read(m.path(&format!("stpubdata/{KEY}")))
        .unwrap_or_else(|e| panic!("open of the new version while the old is open: {e}"));
    assert_same_bytes(&meanwhile, &new, "the new version, the old one still open");
    // The handle opened before keeps the version it pinned.
    let mut got = Vec::new();
    held.read_to_end(&mut got).unwrap();
    assert_same_bytes(&got, &old, "the handle opened before the change");
    drop(held);

    let (stats, _) = read_whole(&s3, &m, &new, "the new version once the old is closed");
    assert_eq!(
        num(&stats["disk_cache"]["whole_files_built"]),
        u64::from(on),
        "this mount built the new version's whole file (the old one was built by the first)"
    );
    m.stop_cleanly();
}
