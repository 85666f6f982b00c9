//! Open handles on a mount: closing one stops its read-ahead, and handles opened before
//! and after an object is replaced never mix the two versions.

use std::fs;
use std::io::{Read, Seek, SeekFrom};
use std::os::unix::fs::MetadataExt;
use std::time::Duration;

use super::server;
use crate::support::*;

#[test]
fn closing_a_file_stops_its_read_ahead() {
    // A slow link (4 MB/s), so that read-ahead is still under way when the file is closed.
    let s3 = S3Standin::start(ServerOptions {
        latency: Duration::from_millis(20),
        bandwidth: Some(4_000_000),
        ..Default::default()
    })
    .expect("start S3 stand-in");
    s3.create_bucket("stpubdata", true);
    let data = pseudo_random(64 << 20, 9);
    s3.put_object("stpubdata", "big.bin", data.clone());
    let m = Mount::start(&s3.endpoint_url(), &[]);
    let path = m.path("stpubdata/big.bin");
    // A sequential run from 2 MiB: once it covers 4 MiB, blocks are asked for ahead of it.
    let mut file = fs::File::open(&path).unwrap();
    file.seek(SeekFrom::Start(2 << 20)).unwrap();
    let mut run = vec![0u8; 8 << 20];
    file.read_exact(&mut run).unwrap();
    assert!(
        run == data[2 << 20..10 << 20],
        "bytes 2..10 MiB differ from the source"
    );
    let stats = || -> serde_json::Value {
        let text = fs::read_to_string(m.path(".mastfs/stats.json")).expect("read stats.json");
        serde_json::from_str(&text).unwrap_or_else(|e| panic!("stats.json: {e}: {text}"))
    };
    let prefetched = stats()["cache"]["prefetched_blocks"].as_u64().unwrap_or(0);
    assert!(
        prefetched >= 8,
        "read-ahead blocks asked for after an 8 MiB run: {prefetched}"
    );
    drop(file);
    wait_until("read-ahead stopped after close", || {
        stats()["cache"]["prefetch_cancelled"].as_u64().unwrap_or(0) > 0
    });
    let at_close = s3.stats().get_body_bytes;
    std::thread::sleep(Duration::from_secs(3));
    let later = s3.stats().get_body_bytes;
    // Without the stop, the window ahead of the run would go on arriving at 4 MB/s.
    assert!(
        later <= at_close + (1 << 20),
        "GET bytes sent went on after close: {at_close} at the stop, {later} 3 s later"
    );
    let now = stats();
    assert_eq!(
        now["requests"]["in_flight"], 0,
        "S3 requests counted in flight 3 s after the stop: {now}"
    );
    // The stopped blocks are fetched again when someone reads them.
    let mut again = fs::File::open(&path).unwrap();
    again.seek(SeekFrom::Start(12 << 20)).unwrap();
    let mut part = vec![0u8; 1 << 20];
    again.read_exact(&mut part).unwrap();
    assert!(
        part == data[12 << 20..13 << 20],
        "bytes at 12 MiB after the stop differ from the source"
    );
}

#[test]
fn a_replaced_object_never_mixes_versions_between_open_handles() {
    use std::os::unix::fs::FileExt;
    let s3 = server();
    let size = 3 << 20;
    s3.put_object("stpubdata", "v.bin", vec![1u8; size]);
    let m = Mount::start(&s3.endpoint_url(), &["--metadata-ttl", "1s"]);
    let path = m.path("stpubdata/v.bin");
    let old = fs::File::open(&path).unwrap();
    let mut all = vec![0u8; size];
    old.read_exact_at(&mut all, 0).unwrap();
    assert!(all.iter().all(|&b| b == 1), "first version read back");

    s3.put_object("stpubdata", "v.bin", vec![2u8; size]);
    std::thread::sleep(Duration::from_millis(1500));
    let new = fs::File::open(&path).unwrap();
    // The old handle reads again (from the daemon's block cache, the old version's bytes),
    // then the new handle reads the same range.
    let mut chunk = vec![0u8; 64 << 10];
    old.read_exact_at(&mut chunk, 1 << 20).unwrap();
    assert!(chunk.iter().all(|&b| b == 1), "old handle, old bytes");
    new.read_exact_at(&mut chunk, 1 << 20).unwrap();
    let wrong = chunk.iter().filter(|&&b| b != 2).count();
    assert_eq!(
        wrong,
        0,
        "new handle after the replacement: {wrong} of {} bytes are not the new version's (first byte {})",
        chunk.len(),
        chunk[0]
    );
    assert_ne!(
        fs::metadata(&path).unwrap().ino(),
        old.metadata().unwrap().ino(),
        "the new version should have an inode of its own while the old one is open"
    );
}

#[test]
fn a_file_read_at_random_is_fetched_whole_once_and_reads_stay_exact() {
    use std::os::unix::fs::{FileExt, OpenOptionsExt};
    let s3 = S3Standin::start(ServerOptions {
        latency: Duration::from_millis(5),
        ..Default::default()
    })
    .expect("start S3 stand-in");
    s3.create_bucket("stpubdata", true);
    let size = 48usize << 20;
    let data = pseudo_random(size, 4);
    s3.put_object("stpubdata", "table.bin", data.clone());
    let m = Mount::start(&s3.endpoint_url(), &[]);
    // O_DIRECT: every read reaches the daemon, a read of a page read before too.
    let file = fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_DIRECT)
        .open(m.path("stpubdata/table.bin"))
        .unwrap();
    let sweeps = || m.stats()["cache"]["sweeps"].as_u64().unwrap_or(0);
    let mut aligned = vec![0u8; 2 * 4096];
    let skip = aligned.as_ptr().align_offset(4096);
    let buf = &mut aligned[skip..skip + 4096];
    // 4 KiB reads 7 MiB apart in 22 of the 48 blocks of 1 MiB: each a jump. The 17th read is
    // the 16th jump; from there each read asks for blocks until 8 MiB are under way. The
    // reads go round the 22 places until all 48 blocks are in: 26 never read.
    let offsets: Vec<usize> = (0..22).map(|i| ((i * 7 % 48) << 20) + 8192).collect();
    let mut reads = 0;
    for (i, &offset) in offsets.iter().cycle().enumerate() {
        file.read_exact_at(buf, offset as u64).unwrap();
        assert!(
            buf[..] == data[offset..offset + 4096],
            "bytes of random read {i} at {offset} differ from the source"
        );
        match i {
            15 => assert_eq!(sweeps(), 0, "sweeps after 15 jumps"),
            16 => assert_eq!(sweeps(), 1, "sweeps after 16 jumps"),
            _ => {}
        }
        reads += 1;
        if i >= 21 && s3.stats().get_body_bytes >= size as u64 || reads > 2000 {
            break;
        }
        if i >= 21 {
            std::thread::sleep(Duration::from_millis(2));
        }
    }
    let after_reads = s3.stats();
    assert_eq!(
        after_reads.get_body_bytes, size as u64,
        "GET bytes after {reads} random reads: expected the whole object, each byte once"
    );
    let mut whole = Vec::with_capacity(size);
    fs::File::open(m.path("stpubdata/table.bin"))
        .unwrap()
        .read_to_end(&mut whole)
        .unwrap();
    assert!(
        whole == data,
        "the file read after the sweep differs from the source"
    );
    let after = s3.stats();
    assert_eq!(
        (after.requests.get, after.get_body_bytes),
        (after_reads.requests.get, size as u64),
        "GETs and GET bytes of a whole-file read after the sweep: expected none"
    );
}
