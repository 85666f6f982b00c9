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
//! The window is also capped by the cache budget: read-ahead blocks wait in the LRU until
//! the reader gets to them, and a window close to the budget has them evicted before that
//! (with a 64 MiB cache and a 64 MiB window, a sequential read fetched 1.8× the file).

use std::ops::Range;

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
}

/// Bytes a sequential run must cover before read-ahead starts: more than a cutout reads.
pub const DEFAULT_TRIGGER: u64 = 4 << 20;

/// The share of the cache budget one stream may fill ahead of its reader. Between the
/// fetch of a block and its read, the stream inserts a window of newer blocks and touches
/// about as many already read: with a quarter of the budget, a block is read long before
/// it reaches the LRU end.
pub const BUDGET_SHARE: u64 = 4;

impl ReadAhead {
    /// Read-ahead for a handle reading through a cache of `cache_capacity` bytes: the
    /// window grows up to `max_window` but never past `cache_capacity / BUDGET_SHARE`.
    pub fn within_budget(block_size: u64, max_window: u64, cache_capacity: u64) -> ReadAhead {
        ReadAhead::new(block_size, max_window.min(cache_capacity / BUDGET_SHARE))
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
        }
    }

    /// Records a read of `len` bytes at `offset` and returns the blocks to prefetch.
    pub fn on_read(&mut self, offset: u64, len: u64, object_size: u64) -> Range<u64> {
        let slack = 2 * self.block_size;
        let end = offset.saturating_add(len);
        let continues = offset + slack >= self.next_offset && offset <= self.next_offset + slack;
        if continues {
            self.next_offset = self.next_offset.max(end);
            self.run_start = self.run_start.min(offset);
        } else {
            self.run_start = offset;
            self.next_offset = end;
            self.requested_until = 0;
        }
        let run = self.next_offset - self.run_start;
        if run < self.trigger {
            return 0..0;
        }
        let window = run.min(self.max_window);
        let last_block = object_size.div_ceil(self.block_size);
        let from = self
            .next_offset
            .div_ceil(self.block_size)
            .max(self.requested_until);
        let to = (self.next_offset + window)
            .div_ceil(self.block_size)
            .min(last_block);
        if from >= to {
            return 0..0;
        }
        self.requested_until = to;
        from..to
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
    fn window_follows_the_run_length_up_to_the_maximum() {
        let mut ra = ReadAhead::new(MB, 16 * MB);
        let mut ahead = Vec::new();
        for i in 0..40 {
            let r = ra.on_read(i * MB, MB, 1000 * MB);
            if !r.is_empty() {
                ahead.push((i, r.end - (i + 1)));
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
        let mut ra = ReadAhead::within_budget(MB, 64 * MB, 64 * MB);
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
        let mut ra = ReadAhead::within_budget(MB, 64 * MB, 512 * MB);
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
        let mut ra = ReadAhead::within_budget(MB, 64 * MB, 4 * MB);
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
