//! Mount test of inode lifetimes: names the kernel forgets leave the daemon's inode table,
//! so a walk over a large folder does not grow the daemon for the rest of the mount.

use std::fs;
use std::process::Command;
use std::time::{Duration, Instant};

use crate::support::*;

const FILES: usize = 2000;

fn content(i: usize) -> Vec<u8> {
    pseudo_random(16 + i % 50, i as u64 + 1)
}

/// The daemon's inode table size, from `.mastfs/stats.json`.
fn inode_count(m: &Mount) -> u64 {
    let text = fs::read_to_string(m.path(".mastfs/stats.json")).expect("read stats.json");
    let stats: serde_json::Value = serde_json::from_str(&text)
        .unwrap_or_else(|e| panic!("stats.json is not JSON ({e}): {text}"));
    stats["inodes"]
        .as_u64()
        .unwrap_or_else(|| panic!("stats.json has no \"inodes\" count: {text}"))
}

/// Asks the kernel to drop unused dentries and inodes (which sends FORGET for ours).
fn drop_kernel_caches() {
    fs::write("/proc/sys/vm/drop_caches", "2").expect("write /proc/sys/vm/drop_caches (root)");
}

/// `ls -l` of the big folder: every entry listed, with its size.
fn list_long(m: &Mount) {
    let out = Command::new("ls")
        .arg("-l")
        .arg(m.path("stpubdata/big"))
        .output()
        .expect("run ls -l");
    assert!(out.status.success(), "ls -l failed: {}", text(&out));
    let listed = String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter(|l| l.contains(".fits"))
        .count();
    assert_eq!(
        listed, FILES,
        "expected {FILES} files in ls -l, got {listed}"
    );
}

#[test]
fn forgotten_names_leave_the_inode_table_and_stay_readable() {
    let s3 = public_server();
    for i in 0..FILES {
        s3.put_object("stpubdata", &format!("big/f{i:05}.fits"), content(i));
    }
    let m = Mount::start(&s3.endpoint_url(), &[]);
    // The first read makes `.mastfs` and `stats.json` themselves; count from after it.
    inode_count(&m);
    let start = inode_count(&m);

    // `ls -l` hands every entry to the kernel. Another test dropping the caches meanwhile
    // would make the count fall early, so a listing that did not see them all is repeated.
    let mut listed_count = 0;
    for _ in 0..5 {
        list_long(&m);
        listed_count = inode_count(&m);
        if listed_count >= start + FILES as u64 {
            break;
        }
    }
    assert!(
        listed_count >= start + FILES as u64 && listed_count <= start + FILES as u64 + 5,
        "inodes after ls -l: expected {} to {} (start {start} + {FILES} files + the folders), got {listed_count}",
        start + FILES as u64,
        start + FILES as u64 + 5
    );

    // Dropping dentries and inodes makes the kernel send FORGET (or BATCH_FORGET) for each.
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut now = listed_count;
    while now > start + 10 && Instant::now() < deadline {
        drop_kernel_caches();
        std::thread::sleep(Duration::from_millis(300));
        now = inode_count(&m);
    }
    assert!(
        now <= start + 10,
        "inodes after the kernel dropped its caches: expected at most {} (start {start} + 10), got {now} (after ls -l: {listed_count})",
        start + 10
    );

    // The names come back on demand with fresh inodes and the right bytes.
    for i in (0..FILES).step_by(37) {
        let path = m.path(&format!("stpubdata/big/f{i:05}.fits"));
        let got = fs::read(&path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()));
        assert!(
            got == content(i),
            "bytes of f{i:05}: expected {} bytes of its content, got {} bytes that differ",
            content(i).len(),
            got.len()
        );
    }
    let again = names_in(&m.path("stpubdata/big"));
    assert_eq!(again.len(), FILES, "entries listed after the forget");
}
