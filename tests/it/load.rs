//! Load and memory on a real mount: many concurrent readers stay within the cache budget,
//! and a soak of mixed reads under injected S3 faults returns only right bytes without
//! leaking file descriptors, threads or memory. `MASTFS_SOAK_SECS` lengthens the soak
//! (default 60 s).

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::faultkit::*;
use crate::support::*;
use bytes::Bytes;
use mastfs_s3_standin::{Fault, FaultPlan, OpMatch};

/// The two tests measure the daemon's memory: one at a time, so neither starves the other.
static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());

const MIB: u64 = 1 << 20;

fn server_with(files: &[(String, Bytes)]) -> S3Standin {
    let s3 = S3Standin::start(ServerOptions::default()).expect("start S3 stand-in");
    s3.create_bucket("stpubdata", true);
    for (key, data) in files {
        s3.put_object("stpubdata", key, data.clone());
    }
    s3
}

#[test]
fn sixteen_readers_stay_within_the_cache_budget() {
    let _serial = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let budget = 256 * MIB;
    // 16 × 24 MiB = 384 MiB: more than the budget, so the cache must evict.
    let files: Vec<(String, Bytes)> = (0..16)
        .map(|i| {
            (
                format!("load/file{i:02}.fits"),
                fast_bytes(24 << 20, 100 + i),
            )
        })
        .collect();
    let s3 = server_with(&files);
    let m = Mount::start(&s3.endpoint_url(), &["--cache-size", "256MiB"]);
    let pid = m.pid();
    // The idle daemon's own footprint (a debug build: ~31 MiB here, more with more cores'
    // worker threads) is not the cache's doing: the bound is on what reading adds to it.
    let idle = proc_status(pid, "VmRSS") * 1024;
    let start = Instant::now();
    let readers: Vec<_> = files
        .iter()
        .map(|(key, data)| {
            let (path, data, key) = (
                m.path(&format!("stpubdata/{key}")),
                data.clone(),
                key.clone(),
            );
            std::thread::spawn(move || {
                let f = std::fs::File::open(&path).unwrap();
                let mut offset = 0u64;
                while offset < data.len() as u64 {
                    let got = read_at(&f, offset, 1 << 20)
                        .unwrap_or_else(|e| panic!("{key} at {offset}: {e}"));
                    let end = offset as usize + got.len();
                    assert!(
                        !got.is_empty() && got[..] == data[offset as usize..end],
                        "{key}: wrong bytes at {offset}"
                    );
                    offset = end as u64;
                }
            })
        })
        .collect();
    with_deadline("16 readers", Duration::from_secs(300), move || {
        for r in readers {
            r.join().expect("a reader failed");
        }
    });
    let hwm = proc_status(pid, "VmHWM") * 1024;
    let rss = proc_status(pid, "VmRSS") * 1024;
    eprintln!(
        "RELIABILITY-FIGURES memory: 16 readers × 24 MiB in {:?}, budget {} MiB, idle RSS {} MiB, VmHWM {} MiB, VmRSS {} MiB",
        start.elapsed(),
        budget / MIB,
        idle / MIB,
        hwm / MIB,
        rss / MIB
    );
    assert!(
        hwm <= idle + budget + 64 * MIB,
        "daemon peak RSS {} MiB, expected at most its idle RSS {} MiB + the cache budget {} MiB + 64 MiB",
        hwm / MIB,
        idle / MIB,
        budget / MIB
    );
}

/// What the soak's readers did.
#[derive(Default)]
struct Tally {
    reads: AtomicU64,
    bytes: AtomicU64,
}

#[test]
fn soak_mixed_reads_under_faults_no_mismatch_no_leak() {
    let _serial = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let secs: u64 = std::env::var("MASTFS_SOAK_SECS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(60);
    let files: Vec<(String, Bytes)> = (0..8)
        .map(|i| {
            (
                format!("soak/file{i}.fits"),
                fast_bytes((8 << 20) + i as usize * 4099, 200 + i),
            )
        })
        .collect();
    let s3 = Arc::new(server_with(&files));
    let dir = tempfile::tempdir().unwrap();
    // A cache smaller than the data keeps blocks coming from S3 (and meeting faults); a
    // short attempt timeout keeps stalls cheap; few connections bound the socket count.
    let cfg = write_config(
        dir.path(),
        "c.toml",
        "[s3]\ntimeout = \"2s\"\nmax_attempts = 5\nmax_concurrent_requests = 16\n",
    );
    let cache = 32 * MIB;
    let m = Mount::start(
        &s3.endpoint_url(),
        &[
            "--config",
            &cfg,
            "--block-size",
            "128KiB",
            "--cache-size",
            "32MiB",
        ],
    );
    let pid = m.pid();
    let tally = Arc::new(Tally::default());
    let stop = Arc::new(AtomicBool::new(false));
    let readers: Vec<_> = files
        .iter()
        .enumerate()
        .map(|(i, (key, data))| {
            let path = m.path(&format!("stpubdata/{key}"));
            let (data, key) = (data.clone(), key.clone());
            let (tally, stop) = (tally.clone(), stop.clone());
            std::thread::spawn(move || {
                let mut rng = Lcg(i as u64 + 1);
                let size = data.len() as u64;
                let check = |offset: u64, got: &[u8]| {
                    let end = offset as usize + got.len();
                    assert!(
                        got[..] == data[offset as usize..end],
                        "{key}: wrong bytes at offset {offset} (len {})",
                        got.len()
                    );
                    tally.reads.fetch_add(1, Ordering::Relaxed);
                    tally.bytes.fetch_add(got.len() as u64, Ordering::Relaxed);
                };
                while !stop.load(Ordering::Relaxed) {
                    // O_DIRECT: every read reaches the daemon, none the page cache.
                    let f = open_direct(&path).unwrap_or_else(|e| panic!("open {key}: {e}"));
                    if rng.below(2) == 0 {
                        // Random cutouts: 4 KiB to 256 KiB anywhere.
                        for _ in 0..16 {
                            let offset = rng.below(size);
                            let len = rng.below(256 << 10) as usize + 4096;
                            let got = read_at(&f, offset, len)
                                .unwrap_or_else(|e| panic!("{key} at {offset}: {e}"));
                            check(offset, &got);
                        }
                    } else {
                        // A sequential run from a random start, in 1 MiB reads.
                        let mut offset = rng.below(size / 2);
                        let end = (offset + rng.below(size / 2) + (1 << 20)).min(size);
                        while offset < end && !stop.load(Ordering::Relaxed) {
                            let got = read_at(&f, offset, 1 << 20)
                                .unwrap_or_else(|e| panic!("{key} at {offset}: {e}"));
                            check(offset, &got);
                            offset += got.len() as u64;
                        }
                    }
                }
            })
        })
        .collect();

    // Faults come and go: each period one kind at 3% of requests, then a quiet period.
    let faults = [
        Fault::Status500,
        Fault::ResetMidBody { after_bytes: None },
        Fault::Slowdown503,
        Fault::ShortBody { after_bytes: None },
        Fault::Stall {
            duration_ms: 2500,
            after_bytes: None,
        },
        Fault::FullInsteadOfRange,
        Fault::SlowDrip {
            bytes_per_sec: 8192,
        },
    ];
    let started = Instant::now();
    let deadline = started + Duration::from_secs(secs);
    let warm_at = started + Duration::from_secs(secs / 4);
    let mut baseline = None;
    let mut samples = Vec::new();
    let mut period = 0u64;
    while Instant::now() < deadline {
        if period.is_multiple_of(2) {
            let fault = faults[(period / 2) as usize % faults.len()].clone();
            s3.set_faults(FaultPlan {
                seed: period,
                probability: 0.03,
                count: None,
                op: OpMatch::Any,
                key_contains: None,
                fault,
            });
        } else {
            s3.clear_faults();
        }
        period += 1;
        std::thread::sleep(Duration::from_secs(4).min(deadline - Instant::now().min(deadline)));
        let rss = proc_status(pid, "VmRSS") * 1024;
        samples.push(rss);
        if baseline.is_none() && Instant::now() >= warm_at {
            baseline = Some((rss, fd_count(pid), proc_status(pid, "Threads")));
        }
        assert!(
            readers.iter().all(|r| !r.is_finished()),
            "a reader stopped early (it failed; see its panic above)"
        );
    }
    s3.clear_faults();
    stop.store(true, Ordering::Relaxed);
    with_deadline("soak readers to stop", Duration::from_secs(60), move || {
        for r in readers {
            r.join().expect("a soak reader failed");
        }
    });
    let (base_rss, base_fds, base_threads) = baseline.expect("a baseline sample");
    let (end_rss, end_fds, end_threads) = (
        proc_status(pid, "VmRSS") * 1024,
        fd_count(pid),
        proc_status(pid, "Threads"),
    );
    let hwm = proc_status(pid, "VmHWM") * 1024;
    let late_max = samples[samples.len() / 4..]
        .iter()
        .copied()
        .max()
        .unwrap_or(0);
    let stats = s3.stats();
    eprintln!(
        "RELIABILITY-FIGURES soak: {secs} s, reads verified {}, bytes verified {}, mismatches 0, \
         S3 requests {}, faults injected {}, fds {base_fds} -> {end_fds}, threads {base_threads} -> \
         {end_threads}, RSS {} -> {} MiB (max after warm-up {} MiB, VmHWM {} MiB, cache {} MiB)",
        tally.reads.load(Ordering::Relaxed),
        tally.bytes.load(Ordering::Relaxed),
        stats.requests.total(),
        stats.faults_injected,
        base_rss / MIB,
        end_rss / MIB,
        late_max / MIB,
        hwm / MIB,
        cache / MIB
    );
    assert!(
        stats.faults_injected >= 20,
        "expected at least 20 injected faults during the soak, got {}",
        stats.faults_injected
    );
    assert!(
        tally.reads.load(Ordering::Relaxed) >= 200,
        "expected at least 200 verified reads, got {}",
        tally.reads.load(Ordering::Relaxed)
    );
    // Pooled connections come and go (at most max_concurrent_requests of them); a leak per
    // request or per open would be thousands.
    assert!(
        end_fds <= base_fds + 16,
        "file descriptors grew from {base_fds} to {end_fds}: a leak"
    );
    assert!(
        end_threads <= base_threads + 4,
        "threads grew from {base_threads} to {end_threads}: a leak"
    );
    assert!(
        late_max <= base_rss + 48 * MIB,
        "RSS not flat: {} MiB after warm-up, up to {} MiB later",
        base_rss / MIB,
        late_max / MIB
    );
    assert!(
        hwm <= cache + 64 * MIB,
        "peak RSS {} MiB, expected at most the cache {} MiB + 64 MiB",
        hwm / MIB,
        cache / MIB
    );
    let log = m.log_text();
    assert!(!log.contains("panicked"), "the daemon panicked:\n{log}");
}
