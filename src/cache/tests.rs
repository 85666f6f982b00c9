//! Unit tests of the block cache against the in-memory reference store, which counts GETs.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;

use super::fetch::Claims;
use super::*;
use crate::store::memory::MemoryStore;
use crate::store::StoreErrorKind;

fn pattern(len: usize, seed: u8) -> Bytes {
    (0..len)
        .map(|i| (i as u8).wrapping_mul(31).wrapping_add(seed))
        .collect::<Vec<u8>>()
        .into()
}

fn obj(key: &str, etag: &str, size: usize) -> ObjectRef {
    ObjectRef {
        bucket: "b".into(),
        key: key.into(),
        etag: etag.into(),
        size: size as u64,
    }
}

#[tokio::test]
async fn reads_across_block_boundaries_are_exact() {
    let store = Arc::new(MemoryStore::new());
    let data = pattern(10_000, 7);
    store.put("b", "k", "e1", data.clone());
    let cache = BlockCache::new(store.clone(), 4096, 1 << 20);
    let o = obj("k", "e1", data.len());
    for (offset, len) in [
        (0u64, 10u64),
        (4090, 20),
        (4096, 4096),
        (100, 9000),
        (9990, 100),
        (10_000, 5),
    ] {
        let got = cache.read(&o, offset, len).await.unwrap();
        let end = (offset + len).min(10_000) as usize;
        let want = &data[(offset as usize).min(end)..end];
        assert_eq!(got.len(), want.len(), "length of read({offset}, {len})");
        assert!(
            got[..] == want[..],
            "bytes of read({offset}, {len}) differ from the source"
        );
    }
    assert_eq!(
        store.get_count.load(Ordering::SeqCst),
        3,
        "one GET per 4 KiB block of a 10,000-byte object"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn one_get_per_block_however_many_readers() {
    let store = Arc::new(MemoryStore {
        delay: Duration::from_millis(50),
        ..MemoryStore::new()
    });
    let data = pattern(8 * 4096, 1);
    store.put("b", "k", "e1", data.clone());
    let cache = BlockCache::new(store.clone(), 4096, 1 << 20);
    let o = obj("k", "e1", data.len());
    let mut readers = Vec::new();
    for r in 0..64u64 {
        let cache = cache.clone();
        let o = o.clone();
        readers.push(tokio::spawn(async move {
            let offset = (r * 1000) % (8 * 4096 - 5000);
            (offset, cache.read(&o, offset, 5000).await)
        }));
    }
    for reader in readers {
        let (offset, got) = reader.await.unwrap();
        let got = got.unwrap();
        assert!(
            got[..] == data[offset as usize..offset as usize + 5000],
            "bytes at {offset}"
        );
    }
    let gets = store.gets.lock().clone();
    let mut ranges: Vec<_> = gets.iter().map(|(_, r)| r.start).collect();
    ranges.sort();
    let before = ranges.len();
    ranges.dedup();
    assert_eq!(
        before,
        ranges.len(),
        "some block was fetched twice: {gets:?}"
    );
    assert_eq!(
        store.get_count.load(Ordering::SeqCst),
        8,
        "expected exactly one GET for each of the 8 blocks"
    );
    assert!(
        cache.counters.joined.load(Ordering::Relaxed) > 0,
        "readers should have joined in-flight fetches"
    );
}

#[tokio::test]
async fn eviction_keeps_the_byte_budget() {
    let store = Arc::new(MemoryStore::new());
    let data = pattern(64 * 4096, 3);
    store.put("b", "k", "e1", data.clone());
    let budget = 10 * 4096;
    let cache = BlockCache::new(store.clone(), 4096, budget);
    let o = obj("k", "e1", data.len());
    for i in 0..64u64 {
        cache.read(&o, i * 4096, 4096).await.unwrap();
        assert!(
            cache.resident_bytes() <= budget,
            "resident {} > budget {budget}",
            cache.resident_bytes()
        );
    }
    assert_eq!(cache.resident_bytes(), budget, "cache should be full");
    assert_eq!(
        cache.counters.evictions.load(Ordering::Relaxed),
        54,
        "evictions"
    );
    // The most recent blocks stay, the oldest are gone (LRU order).
    assert!(
        cache.contains(&o, 63) && cache.contains(&o, 54),
        "newest blocks evicted"
    );
    assert!(
        !cache.contains(&o, 0) && !cache.contains(&o, 53),
        "oldest blocks kept"
    );
    let before = store.get_count.load(Ordering::SeqCst);
    cache.read(&o, 60 * 4096, 4096).await.unwrap();
    assert_eq!(
        store.get_count.load(Ordering::SeqCst),
        before,
        "a cached block was fetched again"
    );
    cache.read(&o, 0, 1).await.unwrap();
    assert_eq!(
        store.get_count.load(Ordering::SeqCst),
        before + 1,
        "an evicted block was not refetched"
    );
}

#[tokio::test]
async fn blocks_are_keyed_by_etag() {
    let store = Arc::new(MemoryStore::new());
    let v1 = pattern(8192, 1);
    let v2 = pattern(8192, 2);
    store.put("b", "k", "e1", v1.clone());
    let cache = BlockCache::new(store.clone(), 4096, 1 << 20);
    let o1 = obj("k", "e1", 8192);
    assert!(cache.read(&o1, 0, 8192).await.unwrap()[..] == v1[..]);
    // The object is replaced: a reader pinned to the old ETag may still get its cached
    // blocks (they are the old version's, consistently) but a missing one fails as Changed.
    store.put("b", "k", "e2", v2.clone());
    let o2 = obj("k", "e2", 8192);
    let got = cache.read(&o2, 0, 8192).await.unwrap();
    assert!(
        got[..] == v2[..],
        "the new version must not be served old blocks"
    );
    assert!(
        cache.read(&o1, 0, 100).await.unwrap()[..] == v1[..100],
        "old version's cached block"
    );
    let fresh = BlockCache::new(store.clone(), 4096, 1 << 20);
    let err = fresh.read(&o1, 4096, 10).await.unwrap_err();
    assert_eq!(
        err.kind,
        StoreErrorKind::Changed,
        "reading a replaced object with the old ETag"
    );
}

#[tokio::test]
async fn prefetch_fills_the_cache_without_a_reader() {
    let store = Arc::new(MemoryStore::new());
    let data = pattern(16 * 4096, 5);
    store.put("b", "k", "e1", data.clone());
    let cache = BlockCache::new(store.clone(), 4096, 1 << 20);
    let o = obj("k", "e1", data.len());
    cache.fetcher.prefetch(&o, 2..40, &mut Claims::default());
    for _ in 0..100 {
        if (2..16).all(|i| cache.contains(&o, i)) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    assert!(
        (2..16).all(|i| cache.contains(&o, i)),
        "prefetched blocks missing"
    );
    assert_eq!(
        store.get_count.load(Ordering::SeqCst),
        14,
        "prefetch past the end or twice"
    );
    cache.read(&o, 2 * 4096, 14 * 4096).await.unwrap();
    assert_eq!(
        store.get_count.load(Ordering::SeqCst),
        14,
        "read after prefetch refetched"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_cache_on_the_same_disk_folder_fetches_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(MemoryStore::new());
    let data = pattern(10_000, 3);
    store.put("b", "k", "e1", data.clone());
    let o = obj("k", "e1", data.len());

    let disk = Arc::new(DiskCache::open(dir.path(), 1 << 20).unwrap());
    let first = BlockCache::with_disk(store.clone(), 4096, 1 << 20, Some(disk));
    let got = first.read(&o, 0, 10_000).await.unwrap();
    assert!(got[..] == data[..], "first read differs from the source");
    assert!(
        first.flush_disk(Duration::from_secs(5)).await,
        "disk writes still pending after 5 s"
    );
    assert_eq!(
        store.get_count.load(Ordering::SeqCst),
        3,
        "GETs of the first read"
    );
    drop(first);

    // A new process: fresh memory cache, same folder.
    let disk = Arc::new(DiskCache::open(dir.path(), 1 << 20).unwrap());
    let second = BlockCache::with_disk(store.clone(), 4096, 1 << 20, Some(disk.clone()));
    let got = second.read(&o, 100, 9_000).await.unwrap();
    assert!(
        got[..] == data[100..9_100],
        "read from disk differs from the source"
    );
    assert_eq!(
        store.get_count.load(Ordering::SeqCst),
        3,
        "the second cache fetched from the store instead of the disk"
    );
    assert_eq!(disk.counters.hits.load(Ordering::Relaxed), 3, "disk hits");

    // Another version of the object must not be served from the old version's blocks.
    let newer = pattern(10_000, 9);
    store.put("b", "k", "e2", newer.clone());
    let got = second
        .read(&obj("k", "e2", newer.len()), 0, 10_000)
        .await
        .unwrap();
    assert!(got[..] == newer[..], "new version served old bytes");
    assert_eq!(
        store.get_count.load(Ordering::SeqCst),
        6,
        "GETs after the ETag changed"
    );
}

/// A FITS file of `hdus` image HDUs of `data_len` bytes each after an empty primary HDU.
fn fits_file(hdus: usize, data_len: usize) -> Bytes {
    let card = |text: &str| {
        let mut c = text.as_bytes().to_vec();
        c.resize(80, b' ');
        c
    };
    let header = |cards: &[&str]| {
        let mut h: Vec<u8> = cards.iter().flat_map(|c| card(c)).collect();
        h.extend(card("END"));
        h.resize(h.len().div_ceil(2880) * 2880, b' ');
        h
    };
    let mut out = header(&[
        "SIMPLE  =                    T",
        "BITPIX  =                    8",
        "NAXIS   =                    0",
    ]);
    let naxis1 = format!("NAXIS1  = {:>20}", data_len);
    for i in 0..hdus {
        out.extend(header(&[
            "XTENSION= 'IMAGE   '",
            "BITPIX  =                    8",
            "NAXIS   =                    1",
            &naxis1,
            "PCOUNT  =                    0",
            "GCOUNT  =                    1",
        ]));
        let start = out.len();
        out.resize(start + data_len.div_ceil(2880) * 2880, i as u8);
    }
    out.into()
}

/// A FITS file of four 3 MB image HDUs in a store, opened (format hints started) through a
/// cache of 1 MiB blocks.
struct OpenedFits {
    store: Arc<MemoryStore>,
    data: Bytes,
    cache: Arc<BlockCache>,
    o: ObjectRef,
}

impl OpenedFits {
    fn new() -> OpenedFits {
        let store = Arc::new(MemoryStore::new());
        let data = fits_file(4, 3_000_000);
        store.put("b", "x_drz.fits", "e", data.clone());
        let cache = BlockCache::new(store.clone(), 1 << 20, 64 << 20);
        let o = obj("x_drz.fits", "e", data.len());
        cache.hint_open(&o);
        OpenedFits {
            store,
            data,
            cache,
            o,
        }
    }
}

/// Bytes the store has sent so far.
fn bytes_fetched(store: &MemoryStore) -> u64 {
    store.gets.lock().iter().map(|(_, r)| r.end - r.start).sum()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fits_headers_are_read_from_small_fetches_not_blocks() {
    let OpenedFits {
        store,
        data,
        cache,
        o,
    } = OpenedFits::new();
    // The reader walks the headers as astropy does: 64 KiB reads at each header.
    let header_at = |k: usize| 2880 + k * (2880 + 3_000_000usize.div_ceil(2880) * 2880);
    for k in 0..4 {
        let offset = header_at(k) as u64;
        let got = cache.read(&o, offset, 65536).await.unwrap();
        let end = (offset as usize + 65536).min(data.len());
        assert!(
            got[..] == data[offset as usize..end],
            "header {k} at {offset}: bytes differ from the source"
        );
    }
    let gets = store.get_count.load(Ordering::SeqCst);
    let fetched = bytes_fetched(&store);
    assert!(
        fetched < 1 << 20,
        "reading 5 headers fetched {fetched} bytes in {gets} GETs: whole blocks, not headers: {:?}",
        store.gets.lock()
    );
    assert_eq!(
        cache.counters.hint_hits.load(Ordering::Relaxed),
        4,
        "header reads answered from the prefetched ranges"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn other_files_and_reads_outside_the_hints_use_blocks() {
    let store = Arc::new(MemoryStore::new());
    let data = pattern(5 << 20, 1);
    store.put("b", "table.csv", "e", data.clone());
    store.put("b", "image.fits", "e", data.clone());
    let cache = BlockCache::new(store.clone(), 1 << 20, 64 << 20);
    cache.hint_open(&obj("table.csv", "e", data.len()));
    assert_eq!(
        cache.counters.hint_fetches.load(Ordering::Relaxed),
        0,
        "hints for a CSV"
    );
    // Not FITS inside: only the head is fetched, and a read past it goes to blocks.
    let fits = obj("image.fits", "e", data.len());
    cache.hint_open(&fits);
    let got = cache.read(&fits, 3 << 20, 100_000).await.unwrap();
    assert!(
        got[..] == data[3 << 20..(3 << 20) + 100_000],
        "read past the head differs"
    );
    tokio::time::sleep(Duration::from_millis(50)).await;
    assert_eq!(
        cache.counters.hint_fetches.load(Ordering::Relaxed),
        1,
        "only the head"
    );
    assert!(
        cache.contains(&fits, 3),
        "block 3 cached by the read past the head"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_read_after_the_header_prefetch_fetches_no_byte_twice() {
    let OpenedFits {
        store,
        data,
        cache,
        o,
    } = OpenedFits::new();
    let first = cache.read(&o, 0, 4096).await.unwrap();
    assert!(first[..] == data[..4096], "first header bytes differ");
    tokio::time::sleep(Duration::from_millis(50)).await;
    let mut offset = 0u64;
    while offset < data.len() as u64 {
        let got = cache.read(&o, offset, 1 << 20).await.unwrap();
        let end = offset as usize + got.len();
        assert!(
            got[..] == data[offset as usize..end],
            "bytes at {offset} differ"
        );
        offset += got.len() as u64;
    }
    let fetched = bytes_fetched(&store);
    assert_eq!(
        fetched,
        data.len() as u64,
        "bytes fetched for one full read (header ranges reused in their blocks): {:?}",
        store.gets.lock()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn asdf_read_ahead_stops_at_the_end_of_the_block_being_read() {
    let store = Arc::new(MemoryStore::new());
    let mut file = vec![7u8; 40 << 20];
    let index = b"#ASDF BLOCK INDEX\n%YAML 1.1\n---\n- 4000\n- 20000000\n...\n";
    let index_at = file.len() - index.len();
    file[index_at..].copy_from_slice(index);
    let data = Bytes::from(file);
    store.put("b", "r_cal.asdf", "e", data.clone());
    let cache = BlockCache::new(store.clone(), 1 << 20, 256 << 20);
    let o = obj("r_cal.asdf", "e", data.len());
    cache.hint_open(&o);
    cache.read(&o, 0, 4096).await.unwrap();
    for _ in 0..100 {
        if cache.fetcher.unit_end(&o, 5000) != o.size {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(
        cache.fetcher.unit_end(&o, 5000),
        20_000_000,
        "end of the first ASDF block"
    );
    // asdf reads the first block's array from its start to its end, then stops.
    let mut ra = ReadAhead::new(1 << 20, 64 << 20);
    let mut claims = Claims::default();
    let mut offset = 4000u64;
    while offset < 20_000_000 {
        let len = (1u64 << 20).min(20_000_000 - offset);
        let ahead = ra.on_read_in_unit(offset, len, o.size, cache.fetcher.unit_end(&o, offset));
        cache.fetcher.prefetch(&o, ahead, &mut claims);
        cache.read(&o, offset, len).await.unwrap();
        offset += len;
    }
    tokio::time::sleep(Duration::from_millis(100)).await;
    let beyond = store
        .gets
        .lock()
        .iter()
        .filter(|(_, r)| r.start >= 20 << 20 && r.end <= index_at as u64 - 200_000)
        .count();
    assert_eq!(
        beyond,
        0,
        "blocks fetched past the array's ASDF block: {:?}",
        store.gets.lock()
    );
}

/// A store that answers after 200 ms, one object of 8 blocks of 4 KiB, and its cache.
fn slow_store_with_one_object() -> (Arc<MemoryStore>, Bytes, Arc<BlockCache>, ObjectRef) {
    let store = Arc::new(MemoryStore {
        delay: Duration::from_millis(200),
        ..MemoryStore::new()
    });
    let data = pattern(8 * 4096, 5);
    store.put("b", "k", "e", data.clone());
    let cache = BlockCache::new(store.clone(), 4096, 1 << 20);
    let o = obj("k", "e", data.len());
    (store, data, cache, o)
}

/// Waits until `done` holds, looking every millisecond, for at most `limit`.
async fn wait_until(limit: Duration, mut done: impl FnMut() -> bool) {
    let deadline = tokio::time::Instant::now() + limit;
    while !done() && tokio::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
}

fn cached_blocks(cache: &BlockCache, o: &ObjectRef) -> Vec<u64> {
    (0..8).filter(|i| cache.contains(o, *i)).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn closing_a_handle_stops_read_ahead_nobody_waits_for() {
    let (_store, data, cache, o) = slow_store_with_one_object();
    let mut claims = Claims::default();
    cache.fetcher.prefetch(&o, 0..6, &mut claims);
    assert_eq!(claims.len(), 6, "claims after asking for 6 blocks");
    // A reader wants block 2 while it is being read ahead: that fetch must go on.
    let reader = {
        let (cache, o) = (cache.clone(), o.clone());
        tokio::spawn(async move { cache.read(&o, 2 * 4096, 4096).await })
    };
    wait_until(Duration::from_secs(1), || {
        cache.counters.joined.load(Ordering::Relaxed) == 1
    })
    .await;
    assert_eq!(
        cache.counters.joined.load(Ordering::Relaxed),
        1,
        "the reader joined the fetch of block 2"
    );
    cache.fetcher.release_claims(&o, claims, &[]);
    let got = reader.await.unwrap().unwrap();
    assert!(
        got[..] == data[2 * 4096..3 * 4096],
        "the joined block's bytes differ"
    );
    assert_eq!(
        cache.counters.prefetch_cancelled.load(Ordering::Relaxed),
        5,
        "fetches stopped: blocks 0, 1, 3, 4, 5 (block 2 has a reader)"
    );
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(cached_blocks(&cache, &o), vec![2], "cached blocks");
    // The budget is whole again, and a stopped block is fetched anew when read.
    assert_eq!(
        cache.fetcher.memory.lock().reserved,
        0,
        "bytes still reserved"
    );
    let again = cache.read(&o, 0, 4096).await.unwrap();
    assert!(
        again[..] == data[..4096],
        "re-read of a stopped block differs"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn read_ahead_two_handles_asked_for_survives_the_first_close() {
    let (store, _data, cache, o) = slow_store_with_one_object();
    let (mut first, mut second) = (Claims::default(), Claims::default());
    cache.fetcher.prefetch(&o, 0..4, &mut first);
    cache.fetcher.prefetch(&o, 2..6, &mut second);
    assert_eq!(
        cache.fetcher.memory.lock().in_flight.len(),
        6,
        "fetches in flight (one per block of 0..6; the store answers after 200 ms)"
    );
    cache.fetcher.release_claims(&o, first, &[]);
    assert_eq!(
        cache.counters.prefetch_cancelled.load(Ordering::Relaxed),
        2,
        "only blocks 0 and 1 were the first handle's alone"
    );
    wait_until(Duration::from_secs(5), || {
        cache.fetcher.memory.lock().in_flight.is_empty()
    })
    .await;
    assert_eq!(
        cached_blocks(&cache, &o),
        vec![2, 3, 4, 5],
        "blocks the second handle still wants"
    );
    // Closing after the fetches ended stops nothing and keeps the blocks.
    cache.fetcher.release_claims(&o, second, &[]);
    assert_eq!(
        cache.counters.prefetch_cancelled.load(Ordering::Relaxed),
        2,
        "fetches stopped after the second close"
    );
    assert_eq!(cached_blocks(&cache, &o), vec![2, 3, 4, 5]);
    // Blocks 0 and 1 may have been stopped before their GET went out; none went out twice.
    let asked: Vec<u64> = store
        .gets
        .lock()
        .iter()
        .map(|(_, r)| r.start / 4096)
        .collect();
    for block in 0..6 {
        let times = asked.iter().filter(|b| **b == block).count();
        assert!(
            times <= 1 && (block < 2 || times == 1),
            "block {block} was asked for {times} times (GETs by block: {asked:?})"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fits_read_ahead_stops_at_the_end_of_the_hdu_being_read() {
    let store = Arc::new(MemoryStore::new());
    let data_len = 20_000_000usize;
    let data = fits_file(3, data_len);
    store.put("b", "y_drz.fits", "e", data.clone());
    let cache = BlockCache::new(store.clone(), 1 << 20, 256 << 20);
    let o = obj("y_drz.fits", "e", data.len());
    cache.hint_open(&o);
    cache.read(&o, 0, 4096).await.unwrap();
    let hdu_len = (2880 + data_len.div_ceil(2880) * 2880) as u64;
    let first_data = 2880 + 2880u64;
    let first_end = 2880 + hdu_len;
    for _ in 0..200 {
        if cache.fetcher.unit_end(&o, first_data) == first_end {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(
        cache.fetcher.unit_end(&o, first_data),
        first_end,
        "end of the first extension HDU"
    );
    // fits.getdata(p, 1): the first extension's data from its start to its end.
    let mut ra = ReadAhead::new(1 << 20, 64 << 20);
    let mut claims = Claims::default();
    let mut offset = first_data;
    while offset < first_end {
        let len = (1u64 << 20).min(first_end - offset);
        let ahead = ra.on_read_in_unit(offset, len, o.size, cache.fetcher.unit_end(&o, offset));
        cache.fetcher.prefetch(&o, ahead, &mut claims);
        let got = cache.read(&o, offset, len).await.unwrap();
        assert!(
            got[..] == data[offset as usize..(offset + len) as usize],
            "bytes at {offset} differ"
        );
        offset += len;
    }
    tokio::time::sleep(Duration::from_millis(100)).await;
    // Blocks wholly past the HDU's end (header fragments there are fine: small).
    let past: Vec<_> = store
        .gets
        .lock()
        .iter()
        .filter(|(_, r)| {
            r.start >= first_end.div_ceil(1 << 20) * (1 << 20) && r.end - r.start == 1 << 20
        })
        .cloned()
        .collect();
    assert!(
        past.is_empty(),
        "blocks fetched past the HDU being read: {past:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn read_ahead_another_reader_is_heading_for_is_left_to_it() {
    let (_store, _data, cache, o) = slow_store_with_one_object();
    let mut claims = Claims::default();
    cache.fetcher.prefetch(&o, 0..6, &mut claims);
    // Another open reader of the object is at byte 3 * 4096, streaming on.
    let heading = vec![Range {
        start: 3 * 4096,
        end: u64::MAX,
    }];
    assert_eq!(
        cache.fetcher.release_claims(&o, claims, &heading),
        3,
        "stopped: blocks 0, 1, 2 (3, 4, 5 lie where the other reader is going)"
    );
    wait_until(Duration::from_secs(5), || {
        cache.fetcher.memory.lock().in_flight.is_empty()
    })
    .await;
    assert_eq!(cached_blocks(&cache, &o), vec![3, 4, 5], "cached blocks");
}

#[tokio::test]
async fn objects_without_an_etag_are_read_through_never_cached() {
    let store = Arc::new(MemoryStore::new());
    let data = pattern(3 * 4096, 5);
    store.put("b", "k", "", data.clone());
    let cache = BlockCache::new(store.clone(), 4096, 1 << 20);
    let o = obj("k", "", data.len());
    for _ in 0..2 {
        let got = cache.read(&o, 0, 4096).await.unwrap();
        assert!(got[..] == data[..4096], "bytes of the first block");
    }
    assert_eq!(
        store.get_count.load(Ordering::SeqCst),
        2,
        "each read of an ETag-less object goes to the store"
    );
    assert_eq!(cache.resident_bytes(), 0, "nothing kept in memory");
    let mut claims = Claims::default();
    cache.fetcher.prefetch(&o, 1..3, &mut claims);
    assert!(claims.is_empty(), "no read-ahead for an ETag-less object");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_readers_close_leaves_read_ahead_another_open_reader_is_heading_for() {
    let (_store, data, cache, o) = slow_store_with_one_object();
    let reader = |trigger: u64| {
        Reader::new(
            o.clone(),
            Arc::clone(&cache.fetcher),
            ReadAhead::with_trigger(4096, 6 * 4096, trigger),
            Arc::clone(&cache.readers),
        )
    };
    // B reads block 6 and never reads ahead; it heads on from block 7.
    let b = reader(1 << 30);
    let got = b.read(6 * 4096, 4096).await.unwrap();
    assert!(got[..] == data[6 * 4096..7 * 4096], "B's bytes differ");
    // A streams from the start: reading blocks 0..4, it asks for 4, 5 and 7 ahead (6 is
    // cached), then is closed while those are in flight.
    let a = Arc::new(reader(4096));
    let reading = {
        let a = Arc::clone(&a);
        tokio::spawn(async move { a.read(0, 4 * 4096).await })
    };
    wait_until(Duration::from_secs(1), || {
        cache.counters.prefetched.load(Ordering::Relaxed) == 3
    })
    .await;
    assert_eq!(
        cache.counters.prefetched.load(Ordering::Relaxed),
        3,
        "read-ahead started by A (blocks 4, 5, 7)"
    );
    assert_eq!(
        a.close(),
        2,
        "stopped on A's close: blocks 4 and 5 (B is heading for block 7)"
    );
    let got = reading.await.unwrap().unwrap();
    assert!(got[..] == data[..4 * 4096], "A's bytes differ");
    wait_until(Duration::from_secs(5), || {
        cache.fetcher.memory.lock().in_flight.is_empty()
    })
    .await;
    assert_eq!(
        cached_blocks(&cache, &o),
        vec![2, 3, 6, 7],
        "cached blocks (A streamed past 0 and 1: handed back)"
    );
    drop(b);
    assert!(
        cache.readers.objects() == 0,
        "closed and dropped readers are still registered"
    );
}
