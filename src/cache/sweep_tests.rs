//! Tests of sweeps (sweep.rs): when a handle's reads make it a random reader of a whole
//! object, what it then fetches, the budget the sweeps of one cache share, and a sweep
//! through a real block cache that the handle's close stops.

use std::ops::Range;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use super::*;
use crate::cache::readahead::ReadAhead;
use crate::cache::tests::{obj, pattern};
use crate::cache::{ActiveStreams, BlockCache};
use crate::store::memory::MemoryStore;

const MB: u64 = 1 << 20;

fn handle(budget: &Arc<SweepBudget>) -> ReadAhead {
    ReadAhead::within_budget(
        MB,
        64 * MB,
        512 * MB,
        Arc::new(ActiveStreams::default()),
        Arc::clone(budget),
    )
}

/// What [`crate::cache::Reader::read`] asks of the policy for one read: a stream's
/// window, else a near window, else the sweep.
fn ahead_of(ra: &mut ReadAhead, offset: u64, len: u64, size: u64) -> Range<u64> {
    let ahead = ra.on_read_in(offset, len, size, 0..size);
    if !ahead.is_empty() {
        return ahead;
    }
    let near = ra.near_ahead(size);
    if !near.is_empty() {
        return near;
    }
    ra.sweep_ahead(size)
}

/// fio's rand_read order, in effect: 256 KiB reads at offsets that never continue one
/// another (a stride of 37 reads over a file of `reads` of them).
fn random_offsets(reads: u64) -> impl Iterator<Item = u64> {
    (0..reads).map(move |i| (i * 37 % reads) * 256 * 1024)
}

#[test]
fn random_reads_sweep_the_object_once_their_jumps_reach_a_sixteenth_of_its_blocks() {
    // 480 blocks: a sixteenth is 30 jumps, above the floor of 16; the first read is no jump.
    let size = 480 * MB;
    let budget = Arc::new(SweepBudget::for_cache(1024 * MB));
    let mut ra = handle(&budget);
    let mut asked = Vec::new();
    for (n, offset) in random_offsets(1920).enumerate().take(100) {
        let got = ahead_of(&mut ra, offset, 256 * 1024, size);
        if !got.is_empty() {
            asked.push((n, got));
        }
    }
    let first = asked.first().map(|(n, _)| *n);
    assert_eq!(
        first,
        Some(30),
        "expected the sweep at the 31st read (30 jumps), got {asked:?}"
    );
    let swept: Vec<Range<u64>> = asked.iter().map(|(_, r)| r.clone()).collect();
    let expected: Vec<Range<u64>> = (0..60).map(|i| i * 8..i * 8 + 8).collect();
    assert_eq!(
        swept, expected,
        "expected 8 blocks further at each read from block 0 to the last, nothing after"
    );
    assert_eq!(
        budget.free(),
        512 * MB - size,
        "the sweep holds its object's size"
    );
    drop(ra);
    assert_eq!(
        budget.free(),
        512 * MB,
        "a closed handle gives its claim back"
    );
}

#[test]
fn small_objects_sweep_after_sixteen_random_reads_whole_or_split_in_two() {
    // fio's 256 KiB reads reach the daemon as two 128 KiB requests: one jump each.
    for requests in [1, 2] {
        let size = 40 * MB;
        let budget = Arc::new(SweepBudget::for_cache(512 * MB));
        let mut ra = handle(&budget);
        let len = 256 * 1024 / requests;
        let first = random_offsets(160).position(|offset| {
            (0..requests).any(|i| !ahead_of(&mut ra, offset + i * len, len, size).is_empty())
        });
        assert_eq!(
            first,
            Some(16),
            "expected the sweep at the 17th read ({requests} request(s) per read)"
        );
    }
}

#[test]
fn cutouts_header_walks_and_streams_never_sweep() {
    let size = 210 * MB;
    let budget = Arc::new(SweepBudget::for_cache(512 * MB));
    // info(): the head, then five headers elsewhere, twice over (a second open's reads).
    let mut walk = handle(&budget);
    for offset in [0, 73_224_192, 146_358_272, 219_508_736, 0, 73_224_192] {
        let got = ahead_of(&mut walk, offset, 131_072, size);
        assert!(got.is_empty(), "header read at {offset} fetched {got:?}");
    }
    // 40 cutouts of 100 rows (14 kernel requests of 128 KiB each) at different places:
    // 39 jumps, more than a sweep needs, but each ends a run of 14 reads.
    let mut cutouts = handle(&budget);
    let mut asked = 0;
    for c in 0..40u64 {
        let start = 20 * MB + c * 4 * MB;
        for i in 0..14 {
            let got = ahead_of(&mut cutouts, start + i * 131_072, 131_072, size);
            asked += got.end - got.start;
        }
    }
    assert_eq!(
        asked, 80,
        "expected the near window's 2 blocks per cutout, no sweep"
    );
    // A whole-file copy streams; it never jumps.
    let mut copy = handle(&budget);
    for i in 0..210 {
        ahead_of(&mut copy, i * MB, MB, size);
    }
    assert_eq!(
        budget.free(),
        256 * MB,
        "nothing may claim the sweep budget"
    );
}

#[test]
fn sweeps_share_half_the_cache_and_larger_objects_are_never_swept() {
    let budget = Arc::new(SweepBudget::for_cache(256 * MB));
    let sweeps_after = |ra: &mut ReadAhead, size: u64| {
        random_offsets(400)
            .take(100)
            .position(|offset| !ahead_of(ra, offset, 256 * 1024, size).is_empty())
    };
    let mut first = handle(&budget);
    assert_eq!(sweeps_after(&mut first, 100 * MB), Some(16), "first handle");
    let mut second = handle(&budget);
    assert_eq!(
        sweeps_after(&mut second, 100 * MB),
        None,
        "a second 100 MiB sweep does not fit in the 28 MiB left of 128"
    );
    drop(first);
    assert_eq!(
        ahead_of(&mut second, 99 * MB, 4096, 100 * MB),
        0..8,
        "once the first handle closed, the second one's next read sweeps"
    );
    let mut large = handle(&Arc::new(SweepBudget::for_cache(256 * MB)));
    assert_eq!(
        sweeps_after(&mut large, 129 * MB),
        None,
        "an object larger than half the cache"
    );
}

#[test]
fn a_handle_without_a_budget_never_sweeps() {
    let mut ra = ReadAhead::new(MB, 64 * MB);
    for offset in random_offsets(400) {
        let got = ahead_of(&mut ra, offset, 256 * 1024, 100 * MB);
        assert!(got.is_empty(), "read at {offset} fetched {got:?}");
    }
}

/// A store whose GETs take `delay`, one object of 64 blocks of 64 KiB, its cache (64 MiB,
/// so the sweep budget holds the object) and an open handle of it that has made 15 jumps
/// (16 reads of 16 KiB, 3 blocks apart): its next jump starts the sweep.
async fn a_handle_one_jump_from_its_sweep(
    delay: Duration,
) -> (
    Arc<MemoryStore>,
    bytes::Bytes,
    Arc<BlockCache>,
    crate::cache::Reader,
) {
    let store = Arc::new(MemoryStore {
        delay,
        ..MemoryStore::new()
    });
    let data = pattern((BLOCK * BLOCKS) as usize, 3);
    store.put("b", "k", "e", data.clone());
    let cache = BlockCache::new(store.clone(), BLOCK, 64 << 20);
    let reader = cache.open(&obj("k", "e", data.len()), 64 << 20);
    for i in 0..16u64 {
        let offset = i * 3 * BLOCK + 1000;
        let got = reader.read(offset, 16 * 1024).await.unwrap();
        assert!(
            got[..] == data[offset as usize..(offset + 16 * 1024) as usize],
            "bytes of the read at {offset}"
        );
    }
    assert_eq!(
        store.get_count.load(Ordering::SeqCst),
        16,
        "one GET per read before the sweep"
    );
    (store, data, cache, reader)
}

const BLOCK: u64 = 64 * 1024;
const BLOCKS: u64 = 64;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_random_readers_sweep_fetches_each_block_it_lacks_once() {
    let (store, data, cache, reader) =
        a_handle_one_jump_from_its_sweep(Duration::from_millis(20)).await;
    let o = reader.object().clone();
    assert_eq!(cache.counters.sweeps.load(Ordering::Relaxed), 0, "before");
    // The 16th jump: the sweep asks for every block (8 MiB steps of 64 KiB blocks).
    reader.read(50 * BLOCK, 4096).await.unwrap();
    assert_eq!(cache.counters.sweeps.load(Ordering::Relaxed), 1, "sweeps");
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    while (0..BLOCKS).any(|i| !cache.contains(&o, i)) && tokio::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let missing: Vec<u64> = (0..BLOCKS).filter(|i| !cache.contains(&o, *i)).collect();
    assert!(
        missing.is_empty(),
        "blocks the sweep did not fetch: {missing:?}"
    );
    assert_eq!(
        store.get_count.load(Ordering::SeqCst),
        BLOCKS,
        "every block fetched once (16 by the reads, the rest by the sweep)"
    );
    for i in 0..BLOCKS {
        let got = reader.read(i * BLOCK, BLOCK).await.unwrap();
        assert!(
            got[..] == data[(i * BLOCK) as usize..((i + 1) * BLOCK) as usize],
            "bytes of block {i} from the sweep"
        );
    }
    assert_eq!(
        store.get_count.load(Ordering::SeqCst),
        BLOCKS,
        "reads after the sweep are hits"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn closing_a_sweeping_handle_stops_its_sweep() {
    let (_store, _data, cache, reader) =
        a_handle_one_jump_from_its_sweep(Duration::from_millis(300)).await;
    let o = reader.object().clone();
    // The 16th jump goes back to a cached block: it returns while the sweep is under way.
    reader.read(5000, 4096).await.unwrap();
    let stopped = reader.close();
    assert_eq!(
        stopped as u64,
        BLOCKS - 16,
        "the sweep's fetches nobody read (all but the 16 blocks read before)"
    );
    tokio::time::sleep(Duration::from_millis(400)).await;
    let cached = (0..BLOCKS).filter(|i| cache.contains(&o, *i)).count();
    assert_eq!(cached, 16, "cached blocks: the reads' own");
}
