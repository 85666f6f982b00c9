//! Sequential-read detection for one open file: decides which blocks to fetch ahead.
//!
//! A random access (a cutout, a header) fetches only the blocks it touches. A run of reads
//! that continue where the last one ended opens a read-ahead window that doubles with each
//! sequential read, up to a maximum, and collapses as soon as the reader jumps elsewhere.
//! The kernel sends reads of one stream slightly out of order when it issues them in
//! parallel, so "continues" tolerates a small gap either way.

use std::ops::Range;

/// Read-ahead state of one open file handle.
#[derive(Debug)]
pub struct ReadAhead {
    block_size: u64,
    max_window_blocks: u64,
    next_offset: u64,
    streak: u32,
    window_blocks: u64,
    /// Blocks up to here were already asked for; do not ask again.
    requested_until: u64,
}

impl ReadAhead {
    pub fn new(block_size: u64, max_window_bytes: u64) -> ReadAhead {
        ReadAhead {
            block_size,
            max_window_blocks: (max_window_bytes / block_size).max(1),
            next_offset: 0,
            streak: 0,
            window_blocks: 0,
            requested_until: 0,
        }
    }

    /// Records a read of `len` bytes at `offset` and returns the blocks to prefetch.
    pub fn on_read(&mut self, offset: u64, len: u64, object_size: u64) -> Range<u64> {
        let slack = 2 * self.block_size;
        let sequential = offset + slack >= self.next_offset && offset <= self.next_offset + slack;
        let end = offset + len;
        if sequential && self.next_offset > 0 {
            self.streak += 1;
        } else if !sequential {
            self.streak = 0;
            self.window_blocks = 0;
            self.requested_until = 0;
        }
        self.next_offset = self.next_offset.max(end);
        if !sequential {
            self.next_offset = end;
        }
        if self.streak < 2 {
            return 0..0;
        }
        self.window_blocks = (self.window_blocks * 2).clamp(1, self.max_window_blocks);
        let last_block = object_size.div_ceil(self.block_size);
        let from = end.div_ceil(self.block_size).max(self.requested_until);
        let to = (end.div_ceil(self.block_size) + self.window_blocks).min(last_block);
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
    fn window_grows_on_sequential_runs_and_is_capped() {
        let mut ra = ReadAhead::new(MB, 8 * MB);
        let mut windows = Vec::new();
        for i in 0..8 {
            let r = ra.on_read(i * MB, MB, 1000 * MB);
            windows.push(r.end.saturating_sub(i + 1));
        }
        assert_eq!(
            windows,
            vec![0, 0, 1, 2, 4, 8, 8, 8],
            "window (blocks ahead of the read)"
        );
    }

    #[test]
    fn jump_resets_the_window() {
        let mut ra = ReadAhead::new(MB, 64 * MB);
        for i in 0..5 {
            ra.on_read(i * MB, MB, 1000 * MB);
        }
        assert!(ra.on_read(500 * MB, MB, 1000 * MB).is_empty());
    }

    #[test]
    fn never_past_the_end() {
        let mut ra = ReadAhead::new(MB, 64 * MB);
        let mut last = 0..0;
        for i in 0..10 {
            let r = ra.on_read(i * MB, MB, 10 * MB);
            if !r.is_empty() {
                last = r;
            }
        }
        assert!(last.end <= 10, "prefetch beyond the last block: {last:?}");
    }
}
