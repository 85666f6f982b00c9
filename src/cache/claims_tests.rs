//! Tests of read-ahead claims and readers: a handle's close stops the read-ahead nobody
//! else asked for, waits for or is heading to.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;

use super::fetch::Claims;
use super::tests::{obj, pattern};
use super::*;
use crate::store::memory::MemoryStore;

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
