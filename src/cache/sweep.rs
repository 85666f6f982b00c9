//! Sweeps: the rest of an object fetched in the background for a handle that reads all of
//! it in random order.
//!
//! A handle whose reads keep jumping around one object (fio's `rand_read`, a table read by
//! random rows) ends up wanting most of its blocks, one round trip each: on a 20 ms link a
//! 256 KiB random reader moved 11.6 MB/s where s3fs, which downloads whole files, moved
//! 81.6. A jump counts when it ends a run of one or two reads (a random read; the kernel
//! splits a 256 KiB one in two): a cutout's rows are a longer run, which gets a near
//! window instead, so cutouts never sweep however many are taken, and a header walk jumps
//! a few times. Once the handle's jumps reach a sixteenth of the object's blocks (and at
//! least [`SWEEP_AFTER_JUMPS`]), the object is fetched from its first block on,
//! [`SWEEP_STEP`] bytes further at each of its reads (a reader waiting on a miss still
//! moves the sweep on by more than a link's worth per round trip; a reader served from the
//! sweep moves it faster). The sweep stops with the handle: its unread fetches are given
//! up on close like any read-ahead. Keeping at most 8 MiB of the sweep under way instead
//! halved the slowest of 200 random reads (p99 189 -> 93 ms on the WAN preset) but let the
//! link idle while the reader waited (fio's rand_read 90 -> 76 MB/s); 24 MiB changed
//! neither much (170 ms, 88 MB/s): a read the sweep has not reached shares the link with
//! it either way.
//!
//! Swept blocks wait in the LRU until the reader jumps to them, so a sweep larger than the
//! cache would evict its own blocks: sweeps share [`SweepBudget`], half of the cache; an
//! object is swept only while its whole size fits in what is left of it, and the handle
//! holds its claim until it closes.

use std::ops::Range;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

/// Jumps a handle makes before its object is swept, whatever the object's size.
pub const SWEEP_AFTER_JUMPS: u64 = 16;

/// The share of an object's blocks a handle's jumps must reach before it is swept.
pub const SWEEP_AFTER_SHARE: u64 = 16;

/// Bytes the sweep moves on at each read of the handle.
pub const SWEEP_STEP: u64 = 8 << 20;

/// The share of the cache all sweeps together may hold.
pub const SWEEP_BUDGET_SHARE: u64 = 2;

/// The bytes of the cache that sweeps may still claim.
#[derive(Debug)]
pub struct SweepBudget {
    free: AtomicU64,
}

impl SweepBudget {
    /// The budget of a cache of `cache_capacity` bytes.
    pub fn for_cache(cache_capacity: u64) -> SweepBudget {
        SweepBudget {
            free: AtomicU64::new(cache_capacity / SWEEP_BUDGET_SHARE),
        }
    }

    /// Bytes sweeps may still claim.
    #[cfg(test)]
    pub fn free(&self) -> u64 {
        self.free.load(Ordering::Acquire)
    }

    /// Claims `bytes` if that many are free.
    fn claim(&self, bytes: u64) -> bool {
        self.free
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |free| {
                free.checked_sub(bytes)
            })
            .is_ok()
    }

    fn give_back(&self, bytes: u64) {
        self.free.fetch_add(bytes, Ordering::AcqRel);
    }
}

/// The sweep state of one handle.
#[derive(Debug)]
pub struct Sweep {
    budget: Option<Arc<SweepBudget>>,
    jumps: u64,
    /// The next block to sweep, once sweeping.
    cursor: Option<u64>,
    /// Bytes of the budget this handle holds.
    claimed: u64,
}

impl Sweep {
    /// A handle that sweeps within `budget`; `None`: one that never sweeps.
    pub fn new(budget: Option<Arc<SweepBudget>>) -> Sweep {
        Sweep {
            budget,
            jumps: 0,
            cursor: None,
            claimed: 0,
        }
    }

    /// True once the handle sweeps its object.
    pub fn sweeping(&self) -> bool {
        self.cursor.is_some()
    }

    /// Counts a read that did not go on from the handle's previous reads, which were a
    /// run of one or two reads.
    pub fn on_jump(&mut self) {
        self.jumps = self.jumps.saturating_add(1);
    }

    /// The blocks to fetch at this read of an object of `object_size` bytes cut into
    /// blocks of `block_size`: the next step of the sweep, once the handle sweeps.
    pub fn ahead(&mut self, object_size: u64, block_size: u64) -> Range<u64> {
        let last = object_size.div_ceil(block_size);
        if self.cursor.is_none() && !self.start(object_size, last) {
            return 0..0;
        }
        let from = self.cursor.unwrap_or(last);
        let to = from
            .saturating_add((SWEEP_STEP / block_size).max(1))
            .min(last);
        self.cursor = Some(to);
        from..to
    }

    /// True once the handle sweeps: its jumps reached the threshold and the object fits in
    /// the budget left.
    fn start(&mut self, object_size: u64, blocks: u64) -> bool {
        let Some(budget) = &self.budget else {
            return false;
        };
        let needed = SWEEP_AFTER_JUMPS.max(blocks / SWEEP_AFTER_SHARE);
        if self.jumps < needed || !budget.claim(object_size) {
            return false;
        }
        self.claimed = object_size;
        self.cursor = Some(0);
        true
    }
}

impl Drop for Sweep {
    /// The claim is held until the handle closes: swept blocks the reader has not got to yet
    /// are still in the cache, and another sweep must not push them out.
    fn drop(&mut self) {
        if let Some(budget) = &self.budget {
            budget.give_back(std::mem::take(&mut self.claimed));
        }
    }
}

#[cfg(test)]
#[path = "sweep_tests.rs"]
mod tests;
