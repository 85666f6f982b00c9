//! Tests of the read-ahead policy (readahead.rs): runs, windows, the near window, whole-unit
//! readers, budgets and the blocks handed back.

use super::*;

const MB: u64 = 1 << 20;

fn sweeps(cache_capacity: u64) -> Arc<SweepBudget> {
    Arc::new(SweepBudget::for_cache(cache_capacity))
}

/// The widest window, in blocks ahead of the read, of `reads` reads of 1 MiB from the
/// start of a 1000 MiB file.
fn widest_window(ra: &mut ReadAhead, reads: u64) -> u64 {
    let mut widest = 0;
    for i in 0..reads {
        let r = ra.on_read(i * MB, MB, 1000 * MB);
        if !r.is_empty() {
            widest = widest.max(r.end - (i + 1));
        }
    }
    widest
}

#[test]
fn random_reads_never_prefetch() {
    let mut ra = ReadAhead::new(MB, 64 * MB);
    for offset in [50 * MB, 3 * MB, 120 * MB, 7 * MB] {
        let got = ra.on_read(offset, 4096, 200 * MB);
        assert!(got.is_empty(), "random read at {offset} prefetched {got:?}");
    }
}

#[test]
fn a_contiguous_cutout_below_the_trigger_does_not_prefetch() {
    // 100 rows of a 4240-pixel float32 image: 1.7 MB read in 128 KiB kernel requests.
    let mut ra = ReadAhead::new(MB, 64 * MB);
    let start = 33_920_000;
    for i in 0..14 {
        let got = ra.on_read(start + i * 131_072, 131_072, 220 * MB);
        assert!(got.is_empty(), "cutout read {i} prefetched {got:?}");
    }
}

#[test]
fn a_contiguous_cutout_fetches_its_next_two_blocks_once_at_its_third_read() {
    // The W2 cutout: 14 read-around requests of 128 KiB from 33.92 MB, over 3 blocks.
    let mut ra = ReadAhead::new(MB, 64 * MB);
    let start = 33_920_000;
    let mut near = Vec::new();
    for i in 0..14 {
        assert!(ra
            .on_read(start + i * 131_072, 131_072, 220 * MB)
            .is_empty());
        let got = ra.near_ahead(220 * MB);
        if !got.is_empty() {
            near.push((i, got));
        }
    }
    assert_eq!(
        near,
        vec![(2, 33..35)],
        "expected blocks 33 and 34 asked once, at the third read (block 32 being read)"
    );
}

#[test]
fn a_run_from_the_start_of_its_unit_streams_past_its_first_mebibyte_within_the_unit() {
    // The Roman L2's data block: from 250,000 to 67.1 MB, read in 128 KiB requests.
    let unit = 250_000..67_100_000;
    let mut ra = ReadAhead::new(MB, 64 * MB);
    let mut first_window = None;
    let mut widest_end = 0;
    for i in 0..40u64 {
        let offset = unit.start + i * 131_072;
        let got = ra.on_read_in(offset, 131_072, 375 * MB, unit.clone());
        if !got.is_empty() && first_window.is_none() {
            first_window = Some((offset + 131_072, got.clone()));
        }
        widest_end = widest_end.max(got.end);
    }
    let (at, blocks) = first_window.expect("no read-ahead for a whole-unit reader");
    assert!(
        at > unit.start + MB && at <= unit.start + MB + 131_072,
        "streaming should start once the run passes the unit's first MiB, started at {at}"
    );
    assert!(
        blocks.end - blocks.start >= 16,
        "first window {blocks:?}: expected 16 MiB"
    );
    assert!(
        widest_end <= unit.end.div_ceil(MB),
        "read ahead past the unit's end: block {widest_end}"
    );
    // The same run starting 2 MB into the unit is a cutout until the trigger.
    let mut ra = ReadAhead::new(MB, 64 * MB);
    for i in 0..14u64 {
        let got = ra.on_read_in(
            unit.start + 2_000_000 + i * 131_072,
            131_072,
            375 * MB,
            unit.clone(),
        );
        assert!(got.is_empty(), "mid-unit read {i} streamed: {got:?}");
    }
}

#[test]
fn asdf_reading_its_block_index_between_tree_and_block_still_streams_the_block() {
    // The reads asdf 6 sends for the Roman L2 (logged by the daemon): the tree from the
    // start, the block index at the tail, then the `data` block, which starts at 10,486
    // and ends at 66,857,516; the file is 375,796,471 bytes.
    let size = 375_796_471;
    let data = 10_486..66_857_516;
    let unit_of = |offset: u64| {
        if offset < data.start {
            0..data.start
        } else if offset < data.end {
            data.clone()
        } else {
            342_372_694..375_796_236
        }
    };
    let mut ra = ReadAhead::new(MB, 64 * MB);
    let mut asked = Vec::new();
    let mut reads = vec![(0, 131_072), (131_072, 131_072), (262_144, 131_072)];
    reads.push((375_783_424, 16_384));
    reads.extend((3..40u64).map(|i| (i * 131_072, 131_072)));
    for (offset, len) in reads {
        let got = ra.on_read_in(offset, len, size, unit_of(offset));
        if !got.is_empty() {
            asked.push((offset, got));
        }
    }
    let (at, first) = asked
        .first()
        .cloned()
        .expect("the block was never read ahead");
    assert!(at <= 2 * MB, "read-ahead started only at {at}");
    let fetched: u64 = asked.iter().map(|(_, r)| r.end - r.start).sum();
    assert!(
        fetched >= 16,
        "expected a 16 MiB first window, got {asked:?}"
    );
    let last = asked.iter().map(|(_, r)| r.end).max().unwrap_or(0);
    assert!(
        last <= data.end.div_ceil(MB),
        "read ahead past the block's end (block {last}): {asked:?} (first {first:?})"
    );
}

#[test]
fn random_256k_reads_split_in_two_requests_get_no_near_window() {
    // fio's rand_read job: each 256 KiB read reaches the daemon as two 128 KiB requests.
    let mut ra = ReadAhead::new(MB, 64 * MB);
    for block in [50u64, 3, 120, 20, 88] {
        let offset = block * 262_144 + 5 * MB;
        for half in 0..2 {
            ra.on_read(offset + half * 131_072, 131_072, 200 * MB);
            assert_eq!(
                ra.near_ahead(200 * MB),
                0..0,
                "random read at {offset}, request {half}"
            );
        }
    }
}

#[test]
fn a_single_read_or_a_run_from_the_start_gets_no_near_window() {
    let mut ra = ReadAhead::new(MB, 64 * MB);
    for offset in [50 * MB, 3 * MB, 120 * MB] {
        ra.on_read(offset, 131_072, 200 * MB);
        assert_eq!(ra.near_ahead(200 * MB), 0..0, "random read at {offset}");
    }
    let mut ra = ReadAhead::new(MB, 64 * MB);
    for i in 0..4 {
        ra.on_read(i * 131_072, 131_072, 200 * MB);
        assert_eq!(
            ra.near_ahead(200 * MB),
            0..0,
            "header read {i} from the start"
        );
    }
}

#[test]
fn the_near_window_stays_inside_the_unit_and_the_object() {
    let mut ra = ReadAhead::new(MB, 64 * MB);
    let unit_end = 11 * MB + 5;
    for i in 0..3 {
        ra.on_read_in(10 * MB + i * 131_072, 131_072, 200 * MB, 0..unit_end);
    }
    assert_eq!(
        ra.near_ahead(200 * MB),
        11..12,
        "only the unit's last block"
    );
    let mut ra = ReadAhead::new(MB, 64 * MB);
    let size = 20 * MB + 100;
    for i in 0..3 {
        ra.on_read(19 * MB + i * 131_072, 131_072, size);
    }
    assert_eq!(ra.near_ahead(size), 20..21, "only the object's last block");
}

#[test]
fn a_run_that_streams_later_does_not_ask_the_near_blocks_again() {
    let mut ra = ReadAhead::new(MB, 64 * MB);
    let mut asked = Vec::new();
    for i in 0..40u64 {
        let mut got = ra.on_read(100 * MB + i * 262_144, 262_144, 1000 * MB);
        if got.is_empty() {
            got = ra.near_ahead(1000 * MB);
        }
        asked.extend(got);
    }
    let mut sorted = asked.clone();
    sorted.sort_unstable();
    sorted.dedup();
    assert_eq!(sorted.len(), asked.len(), "a block asked twice: {asked:?}");
    assert_eq!(asked.first(), Some(&101), "near window first: {asked:?}");
}

#[test]
fn window_follows_the_run_length_up_to_the_maximum() {
    // A stream that starts mid-file (one of several readers of parts of a file).
    let mut ra = ReadAhead::new(MB, 16 * MB);
    let base = 100;
    let mut ahead = Vec::new();
    for i in 0..40 {
        let r = ra.on_read((base + i) * MB, MB, 1000 * MB);
        if !r.is_empty() {
            ahead.push((i, r.end - (base + i + 1)));
        }
    }
    assert_eq!(
        ahead.first(),
        Some(&(3, 4)),
        "read-ahead starts once 4 MiB were read in a row, 4 blocks ahead"
    );
    assert!(
        ahead.iter().all(|(_, w)| *w <= 16),
        "window above the maximum: {ahead:?}"
    );
    assert_eq!(
        ahead.last().map(|(_, w)| *w),
        Some(16),
        "window reaches the maximum: {ahead:?}"
    );
}

#[test]
fn window_stays_within_an_eighth_of_the_cache_budget() {
    let mut ra = ReadAhead::within_budget(MB, 64 * MB, 64 * MB, Arc::default(), sweeps(64 * MB));
    let widest = widest_window(&mut ra, 200);
    assert_eq!(
        widest, 8,
        "expected the window capped at 8 blocks (64 MiB budget / 8), got {widest}"
    );
}

#[test]
fn a_large_budget_leaves_the_maximum_window() {
    let mut ra = ReadAhead::within_budget(MB, 64 * MB, 512 * MB, Arc::default(), sweeps(512 * MB));
    let widest = widest_window(&mut ra, 200);
    assert_eq!(
        widest, 64,
        "expected the 64 MiB maximum window, got {widest} blocks"
    );
}

#[test]
fn a_tiny_budget_still_reads_one_block_ahead() {
    // 4 blocks is the smallest cache the configuration allows.
    let mut ra = ReadAhead::within_budget(MB, 64 * MB, 4 * MB, Arc::default(), sweeps(4 * MB));
    let widest = widest_window(&mut ra, 20);
    assert_eq!(widest, 1, "expected a one-block window, got {widest}");
}

#[test]
fn a_reader_from_the_start_streams_once_past_the_first_block() {
    // dd/cat: 128 KiB kernel requests from offset 0.
    let mut ra = ReadAhead::new(MB, 64 * MB);
    let chunk = 128 << 10;
    let mut first = None;
    for i in 0..32 {
        let r = ra.on_read(i * chunk, chunk, 200 * MB);
        if !r.is_empty() && first.is_none() {
            first = Some((i * chunk, r));
        }
    }
    assert_eq!(
        first,
        Some((MB, 2..18)),
        "expected 16 blocks fetched ahead on the first read past block 0"
    );
}

#[test]
fn with_small_blocks_a_reader_from_the_start_streams_after_a_mebibyte() {
    let block = 64 << 10;
    let mut ra = ReadAhead::new(block, 64 * MB);
    let chunk = 128 << 10;
    let first = (0..16)
        .map(|i| (i * chunk, ra.on_read(i * chunk, chunk, 200 * MB)))
        .find(|(_, r)| !r.is_empty());
    // Reads end at 128 KiB, 256 KiB, ...: the first ending past 1 MiB starts at 1 MiB.
    assert_eq!(
        first,
        Some((MB, (MB + chunk) / block..(MB + chunk + 16 * MB) / block)),
        "(offset of the first read with read-ahead, blocks asked for)"
    );
}

#[test]
fn a_stream_hands_back_the_blocks_it_read_past_once() {
    let mut ra = ReadAhead::new(MB, 64 * MB);
    let chunk = 128 << 10;
    let mut handed = Vec::new();
    for i in 0..80 {
        ra.on_read(i * chunk, chunk, 200 * MB);
        let past = ra.read_past();
        handed.extend(past);
    }
    // Reads end at 10 MiB; two blocks of slack: blocks 0..8 are behind for good.
    assert_eq!(handed, (0..8).collect::<Vec<u64>>(), "blocks handed back");
}

#[test]
fn a_cutout_hands_back_nothing() {
    let mut ra = ReadAhead::new(MB, 64 * MB);
    let chunk = 128 << 10;
    for i in 0..14 {
        ra.on_read(33_920_000 + i * chunk, chunk, 220 * MB);
        assert!(ra.read_past().is_empty(), "a cutout's blocks are kept");
    }
}

#[test]
fn a_header_walk_then_a_cutout_fetches_nothing_ahead() {
    // astropy: the headers at the start of the file (the kernel reads 256 KiB of
    // it), then the 100 rows of a cutout, 1.7 MB from 33.9 MB on.
    let mut ra = ReadAhead::new(MB, 64 * MB);
    let chunk = 128 << 10;
    let mut fetched = Vec::new();
    for offset in [0, chunk] {
        fetched.push(ra.on_read(offset, chunk, 220 * MB));
    }
    for i in 0..14 {
        fetched.push(ra.on_read(33_920_000 + i * chunk, chunk, 220 * MB));
    }
    assert!(
        fetched.iter().all(|r| r.is_empty()),
        "expected no read-ahead, got {fetched:?}"
    );
}

#[test]
fn the_first_read_starts_its_own_run() {
    // A first read near (not at) the start of the file is not a run from offset 0.
    let mut ra = ReadAhead::new(MB, 64 * MB);
    let got: Vec<_> = (0..3)
        .map(|i| ra.on_read(MB + i * MB / 2, MB / 2, 200 * MB))
        .collect();
    assert!(
        got.iter().all(|r| r.is_empty()),
        "expected no read-ahead for 1.5 MiB read from 1 MiB on, got {got:?}"
    );
}

#[test]
fn concurrent_streams_share_the_budget() {
    // W6: 8 readers of parts of one file through a 128 MiB cache: together they may
    // hold 16 MiB ahead, 2 MiB each.
    let streams = Arc::new(ActiveStreams::default());
    let mut readers: Vec<_> = (0..8)
        .map(|_| {
            ReadAhead::within_budget(
                MB,
                64 * MB,
                128 * MB,
                Arc::clone(&streams),
                sweeps(128 * MB),
            )
        })
        .collect();
    let mut widest = 0;
    for i in 0..30 {
        for (n, ra) in readers.iter_mut().enumerate() {
            let at = n as u64 * 100 + i;
            let r = ra.on_read(at * MB, MB, 1000 * MB);
            if !r.is_empty() && i > 10 {
                widest = widest.max(r.end - (at + 1));
            }
        }
    }
    assert_eq!(streams.count(), 8, "expected 8 streams counted");
    assert_eq!(widest, 2, "expected 2-block windows, got {widest}");
    readers.truncate(1);
    assert_eq!(streams.count(), 1, "closed handles must stop counting");
    let mut last = 0..0;
    for i in 30..60 {
        let r = readers[0].on_read(i * MB, MB, 1000 * MB);
        if !r.is_empty() {
            last = r;
        }
    }
    assert_eq!(
        last.end - 60,
        16,
        "a stream alone gets the whole 16 MiB share again, got {last:?}"
    );
    readers[0].on_read(900 * MB, 4096, 1000 * MB);
    assert_eq!(streams.count(), 0, "a jump ends the stream");
}

#[test]
fn one_counter_per_cache() {
    let store: Arc<dyn crate::store::ObjectStore> =
        Arc::new(crate::store::memory::MemoryStore::new());
    let a = crate::cache::BlockCache::new(Arc::clone(&store), MB, 64 * MB);
    let b = crate::cache::BlockCache::new(store, MB, 64 * MB);
    assert!(Arc::ptr_eq(&a.streams(), &a.streams()));
    assert!(!Arc::ptr_eq(&a.streams(), &b.streams()));
    // Handles opened on one cache count in its counter.
    let mut reader = a.readahead(64 * MB);
    for i in 0..8 {
        reader.on_read(i * MB, MB, 1000 * MB);
    }
    assert_eq!(a.streams().count(), 1, "a streaming handle of cache a");
    assert_eq!(b.streams().count(), 0, "cache b has no streams");
}

#[test]
fn a_reader_inside_a_unit_is_not_read_ahead_past_its_end() {
    // asdf reads a 64 MiB block from 10 MiB on; the next unit starts at 74.5 MiB.
    let unit_end = 74 * MB + MB / 2;
    let mut ra = ReadAhead::new(MB, 64 * MB);
    let mut furthest = 0;
    for i in 10..80 {
        let r = ra.on_read_in(
            i * MB,
            MB,
            1000 * MB,
            if i * MB < unit_end {
                0..unit_end
            } else {
                0..1000 * MB
            },
        );
        if i * MB < unit_end {
            furthest = furthest.max(r.end);
        }
    }
    assert_eq!(
        furthest, 75,
        "prefetch stays within the unit's blocks (up to block 74)"
    );
    // A small read spilling into the next unit does not stream it.
    let mut spill = ReadAhead::new(MB, 64 * MB);
    for i in 10..74 {
        spill.on_read_in(i * MB, MB, 1000 * MB, 0..unit_end);
    }
    let r = spill.on_read_in(unit_end - 4096, 8192, 1000 * MB, 0..200 * MB);
    assert!(r.is_empty(), "8 KiB into the next unit prefetched {r:?}");
}

#[test]
fn a_reader_from_the_start_is_read_ahead_across_units() {
    // cat of a FITS file whose HDUs start every 30 MiB: the window runs on past each.
    let unit_end = |offset: u64| (offset / (30 * MB) + 1) * 30 * MB;
    let mut ra = ReadAhead::new(MB, 64 * MB);
    let chunk = 128 << 10;
    let mut asked_until = 0;
    let mut offset = 0;
    while offset < 100 * MB {
        let r = ra.on_read_in(offset, chunk, 200 * MB, 0..unit_end(offset));
        asked_until = asked_until.max(r.end);
        if (29 * MB..30 * MB).contains(&offset) {
            assert!(
                asked_until > 31,
                "at {offset}, 1 MiB before the next unit, blocks asked for up to {asked_until}"
            );
        }
        offset += chunk;
    }
    assert!(
        asked_until >= 164,
        "a 64 MiB window ahead of the reader at 100 MiB, got blocks up to {asked_until}"
    );
}

#[test]
fn jump_ends_the_run() {
    let mut ra = ReadAhead::new(MB, 64 * MB);
    for i in 0..10 {
        ra.on_read(i * MB, MB, 1000 * MB);
    }
    assert!(ra.on_read(500 * MB, MB, 1000 * MB).is_empty());
}

#[test]
fn never_past_the_end() {
    let mut ra = ReadAhead::new(MB, 64 * MB);
    for i in 0..10 {
        let r = ra.on_read(i * MB, MB, 10 * MB);
        assert!(r.end <= 10, "prefetch beyond the last block: {r:?}");
    }
}
