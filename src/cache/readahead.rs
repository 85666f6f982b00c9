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
//! A handle whose runs are all one or two reads long, jumping from one to the next (fio's
//! rand_read, a table read by random rows), is a random reader of the whole object: after
//! enough jumps the rest of the object is fetched in the background
//! ([`ReadAhead::sweep_ahead`], `sweep.rs`).
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
//! The streams of one cache share an eighth of it: each gets that divided by the number
//! of streams running at the time. With the 512 MiB default that is 64 MiB, the largest
//! window one stream opens anyway; eight streams get 8 MiB each, still above a 20 ms,
//! 1 Gbit/s link's 2.5 MB in flight, and the daemon stays under 128 MiB (a quarter let
//! eight readers fill 128 MiB of windows on top of the daemon's own memory).
//!
//! Blocks a stream has read past are handed back ([`ReadAhead::read_past`]): the kernel's
//! page cache holds what the reader got, and keeping a whole streamed file in the block
//! cache too made the daemon's memory grow by the file's size (232 MiB RSS for one
//! sequential read of a 220 MB file).

use std::ops::Range;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use super::sweep::{Sweep, SweepBudget};

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
    /// The background fetch of the whole object for a reader that jumps all over it.
    sweep: Sweep,
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
/// about as many already read: with an eighth of the budget, a block is read long before
/// it reaches the LRU end.
pub const BUDGET_SHARE: u64 = 8;

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
    /// A random reader of a whole object sweeps it within `sweeps` (see `sweep.rs`).
    pub fn within_budget(
        block_size: u64,
        max_window: u64,
        cache_capacity: u64,
        streams: Arc<ActiveStreams>,
        sweeps: Arc<SweepBudget>,
    ) -> ReadAhead {
        let mut ra = ReadAhead::new(block_size, max_window);
        ra.shared = Some((cache_capacity / BUDGET_SHARE, streams));
        ra.sweep = Sweep::new(Some(sweeps));
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
            unit_end: u64::MAX,
            shared: None,
            streaming: false,
            released_until: 0,
            run_reads: 0,
            interrupted: None,
            sweep: Sweep::new(None),
        }
    }

    /// No read yet: the first one starts a run wherever it is.
    fn fresh(&self) -> bool {
        self.run_reads == 0
    }

    /// True when `offset` goes on from `next_offset`, within the reordering slack either way.
    fn goes_on_from(&self, offset: u64, next_offset: u64) -> bool {
        let slack = 2 * self.block_size;
        offset + slack >= next_offset && offset <= next_offset + slack
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
        self.on_read_in(offset, len, object_size, 0..object_size)
    }

    /// [`ReadAhead::on_read`] for a read inside `unit` of the file (an ASDF block, a FITS
    /// HDU): nothing past the unit's end is read ahead (asdf reads one array's block and
    /// stops); a reader that goes on into the next unit continues its run, so its window
    /// grows on where it left off. A run that began at the start of its unit (asdf reading
    /// one array's block from its header on, `fits.getdata` of one HDU) reads the whole
    /// unit, and streams once past the unit's first block as a reader from the start of
    /// the file does, within the unit.
    pub fn on_read_in(
        &mut self,
        offset: u64,
        len: u64,
        object_size: u64,
        unit: Range<u64>,
    ) -> Range<u64> {
        let unit_end = unit.end;
        let end = offset.saturating_add(len);
        let in_sequence = !self.fresh() && self.goes_on_from(offset, self.next_offset);
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
        let resumes = self
            .interrupted
            .filter(|run| !continues && self.goes_on_from(offset, run.next_offset));
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
            self.interrupted = (!self.fresh()).then_some(Interrupted {
                run_start: self.run_start,
                next_offset: self.next_offset,
                requested_until: self.requested_until,
                run_reads: self.run_reads,
            });
            // A run of a read or two (one random read, split by the kernel) ends in a jump
            // that marks a random reader; a cutout's rows or a stream do not.
            if !self.fresh() && self.run_reads < NEAR_AFTER_READS {
                self.sweep.on_jump();
            }
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
    /// The near window of a short run, asked after [`ReadAhead::on_read_in`] gave
    /// nothing, for a read that no format-aware fragment holds: the [`NEAR_BLOCKS`] blocks
    /// after the one the run has reached, once [`NEAR_AFTER_READS`] reads continued one
    /// another away from the start of the file, within the unit being read; once per run
    /// (a cutout of two blocks wastes one block, not one per block it reads; a longer run
    /// streams at the trigger). Empty for a streaming reader (its window is wider) and for
    /// a run from the start of the file (a header walk, or a whole-file reader that
    /// streams once past its first block).
    pub fn near_ahead(&mut self, object_size: u64) -> Range<u64> {
        if self.fresh()
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

    /// The next blocks of the sweep of a handle that reads the whole object in random
    /// order (see `sweep.rs`), asked when neither a stream's window nor a near window
    /// fetches anything for the read. Empty until its jumps make it a random reader of
    /// the object.
    pub fn sweep_ahead(&mut self, object_size: u64) -> Range<u64> {
        self.sweep.ahead(object_size, self.block_size)
    }

    /// True once this handle sweeps its object.
    pub fn sweeping(&self) -> bool {
        self.sweep.sweeping()
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
        if self.fresh() {
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
#[path = "readahead_tests.rs"]
mod tests;
