//! Unit tests of the block cache against the in-memory reference store, which counts GETs.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;

use super::fetch::Claims;
use super::*;
use crate::store::memory::MemoryStore;
use crate::store::StoreErrorKind;

pub(super) fn pattern(len: usize, seed: u8) -> Bytes {
    (0..len)
        .map(|i| (i as u8).wrapping_mul(31).wrapping_add(seed))
        .collect::<Vec<u8>>()
        .into()
}

pub(super) fn obj(key: &str, etag: &str, size: usize) -> ObjectRef {
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
