//! Counters of the block cache's behaviour, read by stats, the metrics endpoint and tests.

use std::sync::atomic::AtomicU64;

/// Counters of cache behaviour, for stats and tests.
#[derive(Debug, Default)]
pub struct CacheCounters {
    pub hits: AtomicU64,
    pub misses: AtomicU64,
    /// Readers that found their block already being fetched and waited for it.
    pub joined: AtomicU64,
    pub evictions: AtomicU64,
    pub prefetched: AtomicU64,
    pub bytes_served: AtomicU64,
    /// Ranges fetched on open by the format-aware plans.
    pub hint_fetches: AtomicU64,
    /// Reads answered from those ranges.
    pub hint_hits: AtomicU64,
    /// Read-ahead fetches stopped because every handle that asked for them was closed.
    pub prefetch_cancelled: AtomicU64,
    /// Blocks dropped because a streaming reader had read past them.
    pub streamed_dropped: AtomicU64,
    /// Handles that read their object at random and had the rest of it fetched (sweep.rs).
    pub sweeps: AtomicU64,
}
