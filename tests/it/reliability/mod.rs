//! Reliability and security on a real mount: S3 faults absorbed by retries or surfaced as
//! EIO within the documented bound, objects replaced under open handles, MAST failures,
//! SIGKILL during reads; hostile object keys, ownership and mode flags, credentials kept
//! out of logs in `security`. docs/RELIABILITY.md lists which promise each test checks.

use std::fs;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::faultkit::*;
use crate::support::*;
use mastfs_mast_standin::{Endpoint, Fault as MastFault};
use mastfs_s3_standin::{Fault, FaultPlan, OpMatch};

mod security;

fn server() -> S3Standin {
    let s3 = S3Standin::start(ServerOptions::default()).expect("start S3 stand-in");
    s3.create_bucket("stpubdata", true);
    s3
}

/// The worst case of the store's backoff before attempt `n` (100 ms << n, capped at 3.2 s,
/// plus up to 50% jitter), as src/store/s3.rs computes it.
fn max_backoff(n: u32) -> Duration {
    let base = 100u64 << n.min(5);
    Duration::from_millis(base + base / 2)
}

/// How long one block fetch may take before it must fail: attempts × attempt timeout plus
/// the backoff between attempts.
fn retry_bound(attempts: u32, attempt_timeout: Duration) -> Duration {
    attempt_timeout * attempts + (1..attempts).map(max_backoff).sum::<Duration>()
}

#[test]
fn transient_s3_faults_are_absorbed_and_every_byte_is_right() {
    let s3 = server();
    let dir = tempfile::tempdir().unwrap();
    // A short attempt timeout so stalls and slow drips cost seconds, not minutes.
    let cfg = write_config(
        dir.path(),
        "c.toml",
        "[s3]\ntimeout = \"2s\"\nmax_attempts = 5\n",
    );
    let m = Mount::start(
        &s3.endpoint_url(),
        &["--config", &cfg, "--block-size", "32KiB"],
    );
    let faults = [
        Fault::Status500,
        Fault::Slowdown503,
        Fault::ResetMidBody { after_bytes: None },
        Fault::ShortBody { after_bytes: None },
        Fault::Stall {
            duration_ms: 3000,
            after_bytes: None,
        },
        Fault::SlowDrip {
            bytes_per_sec: 4096,
        },
        Fault::FullInsteadOfRange,
    ];
    let reads = Arc::new(AtomicU64::new(0));
    let bytes_checked = Arc::new(AtomicU64::new(0));
    let mut injected = Vec::new();
    for (round, fault) in faults.iter().enumerate() {
        // Fresh objects every round: nothing is cached yet, every block is a GET.
        let files: Vec<(String, bytes::Bytes)> = (0..4)
            .map(|i| {
                let key = format!("round{round}/file{i}.fits");
                let data = fast_bytes((1 << 20) + i * 7777, (round * 10 + i) as u64);
                s3.put_object("stpubdata", &key, data.clone());
                (key, data)
            })
            .collect();
        let before = s3.stats().faults_injected;
        s3.set_faults(FaultPlan {
            seed: round as u64 + 1,
            probability: 0.05,
            count: None,
            op: OpMatch::Any,
            key_contains: None,
            fault: fault.clone(),
        });
        let workers: Vec<_> = files
            .into_iter()
            .enumerate()
            .map(|(i, (key, data))| {
                let path = m.path(&format!("stpubdata/{key}"));
                let (reads, bytes_checked) = (reads.clone(), bytes_checked.clone());
                std::thread::spawn(move || {
                    let f = fs::File::open(&path)
                        .unwrap_or_else(|e| panic!("open {}: {e}", path.display()));
                    let mut rng = Lcg(round as u64 * 31 + i as u64);
                    for _ in 0..12 {
                        let offset = rng.below(data.len() as u64);
                        let len = rng.below(100_000) as usize + 1;
                        let got = read_at(&f, offset, len)
                            .unwrap_or_else(|e| panic!("read {key} at {offset}: {e}"));
                        let end = (offset as usize + len).min(data.len());
                        assert!(
                            got[..] == data[offset as usize..end],
                            "{key}: wrong bytes at offset {offset} (len {len}, got {})",
                            got.len()
                        );
                        reads.fetch_add(1, Ordering::Relaxed);
                        bytes_checked.fetch_add(got.len() as u64, Ordering::Relaxed);
                    }
                    let whole = fs::read(&path).unwrap_or_else(|e| panic!("read {key}: {e}"));
                    assert_eq!(whole.len(), data.len(), "{key}: length of a full read");
                    assert!(whole[..] == data[..], "{key}: a full read differs");
                    reads.fetch_add(1, Ordering::Relaxed);
                    bytes_checked.fetch_add(whole.len() as u64, Ordering::Relaxed);
                })
            })
            .collect();
        with_deadline(
            &format!("round {round} ({})", fault.name()),
            Duration::from_secs(180),
            move || {
                for w in workers {
                    w.join().expect("a reader failed");
                }
            },
        );
        s3.clear_faults();
        injected.push((fault.name(), s3.stats().faults_injected - before));
    }
    let total: u64 = injected.iter().map(|(_, n)| n).sum();
    eprintln!(
        "RELIABILITY-FIGURES transient: faults injected {total} ({injected:?}), reads verified {}, \
         bytes verified {}, mismatches 0",
        reads.load(Ordering::Relaxed),
        bytes_checked.load(Ordering::Relaxed)
    );
    assert!(
        total >= 20,
        "expected at least 20 injected faults at 5% of requests, got {total}: {injected:?}"
    );
    assert!(
        injected.iter().filter(|(_, n)| *n > 0).count() >= 5,
        "expected most fault kinds to be hit at least once, got {injected:?}"
    );
    let log = m.log_text();
    assert!(
        log.contains("retrying"),
        "expected retries in the log, got:\n{log}"
    );
    assert!(!log.contains("panicked"), "the daemon panicked:\n{log}");
}

#[test]
fn persistent_s3_faults_are_eio_within_the_bound_and_others_keep_working() {
    let s3 = server();
    let broken = fast_bytes(2 << 20, 1);
    let good = fast_bytes(2 << 20, 2);
    s3.put_object("stpubdata", "broken/a.fits", broken.clone());
    s3.put_object("stpubdata", "good/b.fits", good.clone());
    let dir = tempfile::tempdir().unwrap();
    let (attempts, timeout) = (3, Duration::from_secs(1));
    let cfg = write_config(
        dir.path(),
        "c.toml",
        "[s3]\ntimeout = \"1s\"\nmax_attempts = 3\n",
    );
    let mut m = Mount::start(
        &s3.endpoint_url(),
        &["--config", &cfg, "--block-size", "64KiB"],
    );
    let bound = retry_bound(attempts, timeout);
    let broken_path = m.path("stpubdata/broken/a.fits");
    let good_path = m.path("stpubdata/good/b.fits");
    // Look both up before the faults start: only GETs of broken/ fail from here on.
    assert_eq!(
        fs::metadata(&broken_path).unwrap().len(),
        broken.len() as u64
    );
    assert_eq!(fs::metadata(&good_path).unwrap().len(), good.len() as u64);

    for (what, fault) in [
        ("HTTP 500 on every attempt", Fault::Status500),
        (
            "a stall longer than the attempt timeout",
            Fault::Stall {
                duration_ms: 30_000,
                after_bytes: Some(10),
            },
        ),
    ] {
        s3.set_faults(FaultPlan {
            op: OpMatch::Get,
            key_contains: Some("broken/".into()),
            ..FaultPlan::always(fault)
        });
        // One O_DIRECT read is exactly one FUSE read: it must fail within one retry budget.
        let p = broken_path.clone();
        let offset = (what.len() as u64 % 8) * (128 << 10);
        let failing = std::thread::spawn(move || {
            let f = open_direct(&p).unwrap();
            let start = Instant::now();
            let r = read_at(&f, offset, 4096);
            (errno_of(&r), start.elapsed())
        });
        // Meanwhile another file is served, promptly and correctly.
        std::thread::sleep(Duration::from_millis(100));
        let start = Instant::now();
        let got = with_deadline("read of a healthy file", Duration::from_secs(20), {
            let p = good_path.clone();
            move || fs::read(p).unwrap()
        });
        let healthy = start.elapsed();
        assert!(
            got[..] == good[..],
            "{what}: the healthy file read wrong bytes"
        );
        assert!(
            healthy < Duration::from_secs(5),
            "{what}: the healthy file took {healthy:?}, expected well under 5 s"
        );
        let (errno, took) = with_deadline(what, bound * 3, move || failing.join().unwrap());
        assert_eq!(
            errno,
            Some(libc::EIO),
            "{what}: expected EIO, got {errno:?}"
        );
        assert!(
            took <= bound + Duration::from_secs(2),
            "{what}: EIO after {took:?}, expected within the bound {bound:?} (+2 s slack)"
        );
        eprintln!("RELIABILITY-FIGURES persistent: {what}: EIO after {took:?} (bound {bound:?})");

        // A buffered read may be tried twice by the kernel (read-ahead, then the page
        // itself): at most twice the bound.
        let p = broken_path.clone();
        let (errno, took) = with_deadline(what, bound * 4, move || {
            let start = Instant::now();
            let r = fs::read(p);
            (errno_of(&r), start.elapsed())
        });
        assert_eq!(
            errno,
            Some(libc::EIO),
            "{what}, buffered: expected EIO, got {errno:?}"
        );
        assert!(
            took <= bound * 2 + Duration::from_secs(2),
            "{what}, buffered: EIO after {took:?}, expected within twice the bound {bound:?}"
        );
        s3.clear_faults();
    }
    // The fault is gone: the same file reads correctly, nothing bad was cached.
    let again = with_deadline("read after recovery", Duration::from_secs(20), {
        let p = broken_path.clone();
        move || fs::read(p)
    });
    assert!(
        again.as_deref().ok() == Some(&broken[..]),
        "after the fault cleared: expected the original bytes, got {:?}",
        again.map(|v| v.len())
    );
    let log = m.log_text();
    assert!(
        log.contains("broken/a.fits") && log.contains("gave up after 3 attempts"),
        "expected a log line naming the key and the exhausted retries, got:\n{log}"
    );
    let alive = m.child.as_mut().map(|c| c.try_wait().ok().flatten());
    assert_eq!(
        alive.map(|s| s.is_none()),
        Some(true),
        "the daemon should still run"
    );
}

#[test]
fn replaced_object_is_estale_for_open_handles_and_fresh_after_the_ttl() {
    let s3 = server();
    let old = fast_bytes(4 << 20, 10);
    let new = fast_bytes(4 << 20, 11);
    s3.put_object("stpubdata", "obj/x.fits", old.clone());
    let m = Mount::start(
        &s3.endpoint_url(),
        &["--block-size", "64KiB", "--metadata-ttl", "2s"],
    );
    let path = m.path("stpubdata/obj/x.fits");
    let f = fs::File::open(&path).unwrap();
    // A read in the middle: one from the start would make the whole file stream ahead.
    assert!(
        read_at(&f, 1 << 20, 65536).unwrap()[..] == old[1 << 20..(1 << 20) + 65536],
        "first read"
    );

    s3.put_object("stpubdata", "obj/x.fits", new.clone());
    // A block this handle never read: the version it pinned is gone.
    let r = with_deadline("read after replace", Duration::from_secs(30), {
        let f = f.try_clone().unwrap();
        move || read_at(&f, 3 << 20, 65536)
    });
    match &r {
        Err(e) if e.raw_os_error() == Some(libc::ESTALE) => {}
        other => panic!(
            "open handle after a replace: expected ESTALE, got {:?}",
            other.as_ref().map(|v| v.len())
        ),
    }
    drop(f);

    std::thread::sleep(Duration::from_millis(2500));
    let whole = with_deadline("read after the TTL", Duration::from_secs(30), move || {
        fs::read(path)
    })
    .unwrap();
    assert_eq!(whole.len(), new.len());
    let first_old_block = (0..whole.len() / 65536)
        .find(|b| whole[b * 65536..(b + 1) * 65536] == old[b * 65536..(b + 1) * 65536]);
    assert_eq!(
        first_old_block, None,
        "a new open after the TTL mixed in a block of the old version"
    );
    assert!(
        whole[..] == new[..],
        "a new open after the TTL: not the new object"
    );
    let log = m.log_text();
    assert!(
        log.contains("obj/x.fits"),
        "expected a log line naming the replaced key:\n{log}"
    );
}

#[test]
fn failing_mast_gives_eio_with_a_log_line_and_the_mount_keeps_serving() {
    let s3 = server();
    let data = fast_bytes(300_000, 5);
    s3.put_object("stpubdata", "plain/file.fits", data.clone());
    let mast = MastStandin::start().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let view = |name: &str| {
        format!(
            "[[views]]\nname = \"{name}\"\ncriteria = {{ obs_collection = \"HST\", proposal_id = [\"12062\"] }}\n"
        )
    };
    let cfg = write_config(
        dir.path(),
        "c.toml",
        &format!(
            "[mast]\nwait = \"30s\"\ntimeout = \"8s\"\n{}{}",
            view("answers-500"),
            view("answers-garbage")
        ),
    );
    mast.inject(Endpoint::Any, MastFault::Status(500), None);
    let m = Mount::start_with(
        &s3.endpoint_url(),
        &["--config", &cfg, "--mast-url", &mast.base_url()],
        |cmd| {
            cmd.env("XDG_CACHE_HOME", dir.path().join("cache"));
        },
    );
    let cases = [
        ("answers-500", MastFault::Status(500)),
        ("answers-garbage", MastFault::TruncatedJson),
    ];
    for (name, fault) in cases.clone() {
        mast.clear_faults();
        mast.inject(Endpoint::Any, fault.clone(), None);
        let p = m.path(&format!("views/{name}"));
        let r = with_deadline(name, Duration::from_secs(60), move || {
            fs::read_dir(p).map(|d| d.count())
        });
        assert_eq!(
            errno_of(&r),
            Some(libc::EIO),
            "view {name} with MAST answering {fault:?}: expected EIO, got {r:?}"
        );
        let got = fs::read(m.path("stpubdata/plain/file.fits")).unwrap();
        assert!(got[..] == data[..], "the bucket tree keeps serving");
    }
    let log = m.log_text();
    for (name, _) in &cases {
        assert!(
            log.lines()
                .any(|l| l.contains(name) && l.contains("could not be resolved")),
            "expected a log line saying why {name} failed, got:\n{log}"
        );
    }
    assert!(!log.contains("panicked"), "the daemon panicked:\n{log}");
}

#[test]
fn sigkill_during_reads_fails_readers_promptly_and_mount_recovers() {
    let s3 = server();
    let data = fast_bytes(8 << 20, 21);
    s3.put_object("stpubdata", "big/data.fits", data.clone());
    // Slow responses so that reads are in flight when the daemon dies.
    s3.set_link(Duration::from_millis(100), None);
    let mut m = Mount::start(&s3.endpoint_url(), &["--block-size", "256KiB"]);
    let path = m.path("stpubdata/big/data.fits");
    assert_eq!(fs::metadata(&path).unwrap().len(), data.len() as u64);
    let killed_at = Arc::new(parking_lot::Mutex::new(None::<Instant>));
    let readers: Vec<_> = (0..4)
        .map(|i| {
            let (path, killed_at) = (path.clone(), killed_at.clone());
            std::thread::spawn(move || {
                let mut rng = Lcg(i);
                let f = open_direct(&path).unwrap();
                loop {
                    let offset = rng.below(8 << 20) & !4095;
                    if let Err(e) = read_at(&f, offset, 1 << 20) {
                        let since_kill = killed_at.lock().map(|t| t.elapsed());
                        return (e.raw_os_error(), since_kill);
                    }
                }
            })
        })
        .collect();
    std::thread::sleep(Duration::from_millis(1500));
    *killed_at.lock() = Some(Instant::now());
    m.signal_and_wait(libc::SIGKILL).expect("SIGKILL");
    let outcomes = with_deadline(
        "readers of a killed daemon",
        Duration::from_secs(20),
        move || {
            readers
                .into_iter()
                .map(|r| r.join().unwrap())
                .collect::<Vec<_>>()
        },
    );
    for (errno, since_kill) in &outcomes {
        assert!(
            matches!(*errno, Some(libc::ENOTCONN) | Some(libc::ECONNABORTED)),
            "a reader of the killed mount: expected ENOTCONN or ECONNABORTED, got {errno:?}"
        );
        assert!(
            since_kill.is_some_and(|d| d < Duration::from_secs(5)),
            "a reader failed {since_kill:?} after the kill (or before it), expected promptly"
        );
    }
    s3.set_link(Duration::ZERO, None);
    // `mastfs mount` on the same path clears the dead mount and serves again.
    let out = mastfs_command(m.dir.path())
        .arg("mount")
        .arg(&m.mountpoint)
        .args(["--endpoint-url", &s3.endpoint_url(), "--force-path-style"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "remount after SIGKILL: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let got = with_deadline("read after remount", Duration::from_secs(30), {
        let p = path.clone();
        move || fs::read(p).unwrap()
    });
    let unmount = mastfs_command(m.dir.path())
        .arg("unmount")
        .arg(&m.mountpoint)
        .output()
        .unwrap();
    assert!(got[..] == data[..], "bytes after the remount differ");
    assert!(
        unmount.status.success(),
        "unmount: {}",
        String::from_utf8_lossy(&unmount.stderr)
    );
}
