//! Sequential-read detection for one open file: decides which blocks to fetch ahead.
//!
//! A random access (a cutout, a header) fetches only the blocks it touches, even when it
//! reads a few contiguous megabytes (the rows of a cutout are contiguous). Once a run of
//! reads that continue one another has covered `trigger` bytes, the reader is streaming:
//! blocks are fetched ahead of it, as far ahead as the run is long (so the window doubles
//! as the run doubles), up to a maximum. A jump elsewhere ends the run. The kernel sends
//! the reads of one stream slightly out of order when it issues them in parallel, so
//! "continue" tolerates a small gap either way.
//!
//! A run that starts at the start of a unit the format-aware prefetch knows (asdf reading
//! one array's block from its header on, `fits.getdata` of one HDU) is read the same way
//! within that unit ([`ReadAhead::on_read_in`]): it reads the whole unit.
//!
//! A run broken by one read elsewhere (asdf reads the block index at the tail between
//! the tree and the block it then reads on with) resumes when the reader comes back to
//! where it was, as a reader of the unit it is in (a whole-file copy never jumps).
//!
//! A short run away from the start of the file (the rows of a memmap cutout: the kernel
//! sends its 128 KiB read-around requests one page fault after another) gets a near
//! window instead ([`ReadAhead::near_ahead`]): once three reads continue one another, the
//! next [`NEAR_BLOCKS`] blocks are fetched together, so a 1.8 MB cutout over three blocks
//! waits for two round trips, not three. Header reads do not count (the reader asks only
//! for reads that no format-aware fragment holds): a header walk reads on for a few
//! hundred KiB and then jumps.
//!
//! A run that starts at the beginning of the file streams as soon as it leaves the first
//! block (and its first MiB, for small blocks): header walks and cutouts read the start of a file and then jump; only whole-file
//! readers (cp, cat, checksums, a full load) continue, and for them the first round trips
//! are what shows (on a 20 ms link, one block per round trip until the run reached 4 MiB),
//! so its first window is 16 MiB.
//!
//! The window is also capped by the cache budget: read-ahead blocks wait in the LRU until
//! the reader gets to them, and windows close to the budget have them evicted before that
//! (with a 64 MiB cache and a 64 MiB window, a sequential read fetched 1.8× the file).
//! The streams of one cache share a quarter of it: each gets that divided by the number
//! of streams running at the time.
//!
//! Blocks a stream has read past are handed back ([`ReadAhead::read_past`]): the kernel's
//! page cache holds what the reader got, and keeping a whole streamed file in the block
//! cache too made the daemon's memory grow by the file's size (232 MiB RSS for one
//! sequential read of a 220 MB file).

use std::ops::Range;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

/// Read-ahead state of one open file handle.
#[derive(Debug)]
pub struct ReadAhead {
    block_size: u64,
    trigger: u64,
    max_window: u64,
    run_start: u64,
    next_offset: u64,
    /// Blocks up to here were already asked for; do not ask again.
    requested_until: u64,
    /// No read yet: the first one starts a run wherever it is.
    fresh: bool,
    /// The end of the unit (ASDF block) the run is in; entering another starts a new run.
    unit_end: u64,
    /// The read-ahead bytes all streams of this cache share, and how many there are.
    shared: Option<(u64, Arc<ActiveStreams>)>,
    /// This handle counts in `shared`'s streams right now.
    streaming: bool,
    /// Blocks below this were already handed back by [`ReadAhead::read_past`].
    released_until: u64,
    /// Reads in the current run.
    run_reads: u32,
    /// The run before the current one, which a reader may go on with after a read
    /// elsewhere.
    interrupted: Option<Interrupted>,
}

/// Where a run broken by a read elsewhere had got to.
#[derive(Debug, Clone, Copy)]
struct Interrupted {
    run_start: u64,
    next_offset: u64,
    requested_until: u64,
    run_reads: u32,
}

/// The number of handles streaming through one cache right now.
#[derive(Debug, Default)]
pub struct ActiveStreams(AtomicU64);

impl ActiveStreams {
    pub fn count(&self) -> u64 {
        self.0.load(Ordering::Relaxed)
    }
}

/// Bytes a sequential run must cover before read-ahead starts: more than a cutout reads.
pub const DEFAULT_TRIGGER: u64 = 4 << 20;

/// The first window of a reader that read on from the start of the file past its first block.
pub const WHOLE_FILE_FIRST_WINDOW: u64 = 16 << 20;

/// A run from the start of the file marks a whole-file reader only past this many bytes
/// (or the first block, if larger): with small blocks (`--block-size 64KiB`) a header walk
/// covers the first block.
pub const WHOLE_FILE_AFTER: u64 = 1 << 20;

/// The share of the cache budget one stream may fill ahead of its reader. Between the
/// fetch of a block and its read, the stream inserts a window of newer blocks and touches
/// about as many already read: with a quarter of the budget, a block is read long before
/// it reaches the LRU end.
pub const BUDGET_SHARE: u64 = 4;

/// How far into its unit a run may start and still be read as the whole unit: the unit's
/// first byte arrives in the first read at or after the unit's start (the read that holds
/// it and starts before it counts in the unit before), at most one kernel read later.
pub const UNIT_START_SLACK: u64 = 256 << 10;

/// Blocks a short run fetches ahead of its reads ([`ReadAhead::near_ahead`]).
pub const NEAR_BLOCKS: u64 = 2;

/// Reads in a row that make a short run worth a near window. Not two: the kernel splits
/// one 256 KiB random read into two 128 KiB requests, and a near window there fetched
/// 2 MiB ahead of every random read (fio's rand_read job: 8x the bytes it needs when the
/// reads are sparse).
const NEAR_AFTER_READS: u32 = 3;

impl ReadAhead {
    /// Read-ahead for a handle reading through a cache of `cache_capacity` bytes whose
    /// streams are counted in `streams`: the window grows up to `max_window` but never past
    /// `cache_capacity / BUDGET_SHARE` divided among the streams running at the time.
    pub fn within_budget(
        block_size: u64,
        max_window: u64,
        cache_capacity: u64,
        streams: Arc<ActiveStreams>,
    ) -> ReadAhead {
        let mut ra = ReadAhead::new(block_size, max_window);
        ra.shared = Some((cache_capacity / BUDGET_SHARE, streams));
        ra
    }

    pub fn new(block_size: u64, max_window: u64) -> ReadAhead {
        ReadAhead::with_trigger(block_size, max_window, DEFAULT_TRIGGER)
    }

    pub fn with_trigger(block_size: u64, max_window: u64, trigger: u64) -> ReadAhead {
        ReadAhead {
            block_size,
            trigger: trigger.max(block_size),
            max_window: max_window.max(block_size),
            run_start: 0,
            next_offset: 0,
            requested_until: 0,
            fresh: true,
            unit_end: u64::MAX,
            shared: None,
            streaming: false,
            released_until: 0,
            run_reads: 0,
            interrupted: None,
        }
    }

    /// No run yet: the handle's first read is being recorded.
    fn fresh_run(&self) -> bool {
        self.run_reads == 0
    }

    /// Counts this handle among its cache's streams, or stops counting it.
    fn set_streaming(&mut self, on: bool) {
        if self.streaming == on {
            return;
        }
        self.streaming = on;
        if let Some((_, streams)) = &self.shared {
            if on {
                streams.0.fetch_add(1, Ordering::Relaxed);
            } else {
                streams.0.fetch_sub(1, Ordering::Relaxed);
            }
        }
    }

    /// The largest window right now: the maximum, within this stream's share of the cache.
    fn window_cap(&self) -> u64 {
        let cap = match &self.shared {
            Some((budget, streams)) => self.max_window.min(budget / streams.count().max(1)),
            None => self.max_window,
        };
        cap.max(self.block_size)
    }

    /// Records a read of `len` bytes at `offset` and returns the blocks to prefetch.
    pub fn on_read(&mut self, offset: u64, len: u64, object_size: u64) -> Range<u64> {
        self.on_read_in_unit(offset, len, object_size, object_size)
    }

    /// [`ReadAhead::on_read`] for a read inside a unit of the file (an ASDF block) ending
    /// at `unit_end`: nothing past the unit is read ahead (asdf reads one array's block
    /// and stops). A reader that goes on into the next unit continues its run, so its
    /// window grows on where it left off.
    pub fn on_read_in_unit(
        &mut self,
        offset: u64,
        len: u64,
        object_size: u64,
        unit_end: u64,
    ) -> Range<u64> {
        self.on_read_in(offset, len, object_size, 0..unit_end)
    }

    /// [`ReadAhead::on_read_in_unit`] knowing where the unit starts too: a run that began
    /// at the start of its unit (asdf reading one array's block from its header on,
    /// `fits.getdata` of one HDU) reads the whole unit, and streams once past the unit's
    /// first block as a reader from the start of the file does, within the unit.
    pub fn on_read_in(
        &mut self,
        offset: u64,
        len: u64,
        object_size: u64,
        unit: Range<u64>,
    ) -> Range<u64> {
        let unit_end = unit.end;
        let slack = 2 * self.block_size;
        let end = offset.saturating_add(len);
        let in_sequence =
            !self.fresh && offset + slack >= self.next_offset && offset <= self.next_offset + slack;
        // A reader that has read from the start of the file on reads all of it: units are
        // no boundary for it (each would cost a round trip without read-ahead).
        let from_the_start = in_sequence && self.run_start == 0;
        let unit_end = if from_the_start {
            object_size
        } else {
            unit_end
        };
        // A read that spills into the next unit (asdf's buffered reads overshoot the array
        // by a few KiB) is not a reason to stream that unit: it starts a new run.
        let same_unit = unit_end == self.unit_end;
        self.unit_end = unit_end;
        let continues = in_sequence && (same_unit || from_the_start);
        self.fresh = false;
        let resumes = self.interrupted.filter(|run| {
            !continues && offset + slack >= run.next_offset && offset <= run.next_offset + slack
        });
        if continues {
            self.next_offset = self.next_offset.max(end);
            self.run_start = self.run_start.min(offset);
            self.run_reads = self.run_reads.saturating_add(1);
        } else if let Some(run) = resumes {
            // One read elsewhere (asdf's block index at the tail, the next header) broke a
            // run the reader now goes on with. It goes on as a reader of the unit it is in
            // now, not of the whole file: a whole-file copy never jumps.
            self.interrupted = None;
            self.run_start = run.run_start.max(unit.start);
            self.next_offset = run.next_offset.max(end);
            self.requested_until = run.requested_until;
            self.run_reads = run.run_reads.saturating_add(1);
            self.unit_end = unit.end;
        } else {
            self.interrupted = (!self.fresh_run()).then_some(Interrupted {
                run_start: self.run_start,
                next_offset: self.next_offset,
                requested_until: self.requested_until,
                run_reads: self.run_reads,
            });
            self.run_start = offset;
            self.next_offset = end;
            self.requested_until = 0;
            self.run_reads = 1;
            self.set_streaming(false);
        }
        let run = self.next_offset - self.run_start;
        let whole_file_reader =
            self.run_start == 0 && self.next_offset > self.block_size.max(WHOLE_FILE_AFTER);
        let whole_unit_reader = unit.start > 0
            && self.run_start >= unit.start
            && self.run_start <= unit.start + UNIT_START_SLACK
            && self.next_offset > unit.start + self.block_size.max(WHOLE_FILE_AFTER);
        let whole_file_reader = whole_file_reader || whole_unit_reader;
        if run < self.trigger && !whole_file_reader {
            return 0..0;
        }
        self.set_streaming(true);
        // A whole-file reader starts with a wide window: blocks fetched together arrive
        // together, and each time the reader drains a batch the link idles for a round
        // trip; fewer, larger batches while the window grows (20 ms link: 0.905 -> 0.92).
        let floor = if whole_file_reader {
            WHOLE_FILE_FIRST_WINDOW.max(self.trigger)
        } else {
            self.trigger
        };
        let window = run.max(floor).min(self.window_cap());
        let last_block = object_size.div_ceil(self.block_size);
        let from = self
            .next_offset
            .div_ceil(self.block_size)
            .max(self.requested_until);
        let limit = unit_end.clamp(self.next_offset.min(object_size), object_size);
        let to = (self.next_offset + window)
            .min(limit)
            .div_ceil(self.block_size)
            .min(last_block);
        if from >= to {
            return 0..0;
        }
        self.requested_until = to;
        from..to
    }
}

impl ReadAhead {
    /// The near window of a short run, asked after [`ReadAhead::on_read_in_unit`] gave
    /// nothing, for a read that no format-aware fragment holds: the [`NEAR_BLOCKS`] blocks
    /// after the one the run has reached, once [`NEAR_AFTER_READS`] reads continued one
    /// another away from the start of the file, within the unit being read; once per run
    /// (a cutout of two blocks wastes one block, not one per block it reads; a longer run
    /// streams at the trigger). Empty for a streaming reader (its window is wider) and for
    /// a run from the start of the file (a header walk, or a whole-file reader that
    /// streams once past its first block).
    pub fn near_ahead(&mut self, object_size: u64) -> Range<u64> {
        if self.fresh
            || self.streaming
            || self.run_start == 0
            || self.run_reads < NEAR_AFTER_READS
            || self.requested_until > 0
        {
            return 0..0;
        }
        let limit = self
            .unit_end
            .clamp(self.next_offset.min(object_size), object_size);
        let from = self.next_offset.div_ceil(self.block_size);
        let to = (from + NEAR_BLOCKS).min(limit.div_ceil(self.block_size));
        if from >= to {
            return 0..0;
        }
        self.requested_until = to;
        from..to
    }

    /// The blocks a streaming reader has read past and will not come back to, not handed
    /// back before: wholly inside its run and more than the reordering slack behind its
    /// reads. Empty while it is not streaming (a cutout or a header walk keeps its blocks).
    pub fn read_past(&mut self) -> Range<u64> {
        if !self.streaming {
            return 0..0;
        }
        let slack = 2 * self.block_size;
        let from = self
            .run_start
            .div_ceil(self.block_size)
            .max(self.released_until);
        let to = self.next_offset.saturating_sub(slack) / self.block_size;
        if from >= to {
            return 0..0;
        }
        self.released_until = to;
        from..to
    }

    /// The bytes this reader is heading for: from where its reads got to, as far as its
    /// largest window. Empty before its first read.
    pub fn heading_for(&self) -> Range<u64> {
        if self.fresh {
            return 0..0;
        }
        self.next_offset..self.next_offset.saturating_add(self.max_window)
    }
}

impl Drop for ReadAhead {
    fn drop(&mut self) {
        self.set_streaming(false);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MB: u64 = 1 << 20;

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
            ra.on_read_in_unit(10 * MB + i * 131_072, 131_072, 200 * MB, unit_end);
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
    fn window_stays_within_a_quarter_of_the_cache_budget() {
        let mut ra = ReadAhead::within_budget(MB, 64 * MB, 64 * MB, Arc::default());
        let mut widest = 0;
        for i in 0..200 {
            let r = ra.on_read(i * MB, MB, 1000 * MB);
            if !r.is_empty() {
                widest = widest.max(r.end - (i + 1));
            }
        }
        assert_eq!(
            widest, 16,
            "expected the window capped at 16 blocks (64 MiB budget / 4), got {widest}"
        );
    }

    #[test]
    fn a_large_budget_leaves_the_maximum_window() {
        let mut ra = ReadAhead::within_budget(MB, 64 * MB, 512 * MB, Arc::default());
        let mut widest = 0;
        for i in 0..200 {
            let r = ra.on_read(i * MB, MB, 1000 * MB);
            if !r.is_empty() {
                widest = widest.max(r.end - (i + 1));
            }
        }
        assert_eq!(
            widest, 64,
            "expected the 64 MiB maximum window, got {widest} blocks"
        );
    }

    #[test]
    fn a_tiny_budget_still_reads_one_block_ahead() {
        // 4 blocks is the smallest cache the configuration allows.
        let mut ra = ReadAhead::within_budget(MB, 64 * MB, 4 * MB, Arc::default());
        let mut widest = 0;
        for i in 0..20 {
            let r = ra.on_read(i * MB, MB, 1000 * MB);
            if !r.is_empty() {
                widest = widest.max(r.end - (i + 1));
            }
        }
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
        // W6: 8 readers of parts of one file through a 64 MiB cache: together they may
        // hold 16 MiB ahead, 2 MiB each.
        let streams = Arc::new(ActiveStreams::default());
        let mut readers: Vec<_> = (0..8)
            .map(|_| ReadAhead::within_budget(MB, 64 * MB, 64 * MB, Arc::clone(&streams)))
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
            let r = ra.on_read_in_unit(
                i * MB,
                MB,
                1000 * MB,
                if i * MB < unit_end {
                    unit_end
                } else {
                    1000 * MB
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
            spill.on_read_in_unit(i * MB, MB, 1000 * MB, unit_end);
        }
        let r = spill.on_read_in_unit(unit_end - 4096, 8192, 1000 * MB, 200 * MB);
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
            let r = ra.on_read_in_unit(offset, chunk, 200 * MB, unit_end(offset));
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
}
