//! The request counters a store keeps, read by stats, metrics and benchmarks.

/// Counters of the traffic a store generated, for stats and benchmarks.
#[derive(Debug, Default)]
pub struct StoreCounters {
    pub list_requests: std::sync::atomic::AtomicU64,
    pub head_requests: std::sync::atomic::AtomicU64,
    pub get_requests: std::sync::atomic::AtomicU64,
    pub retries: std::sync::atomic::AtomicU64,
    pub bytes_fetched: std::sync::atomic::AtomicU64,
    pub in_flight: std::sync::atomic::AtomicI64,
    /// Block buffers allocated fresh (no free buffer of that size in the pool).
    pub buffers_allocated: std::sync::atomic::AtomicU64,
    /// Block buffers reused from the pool.
    pub buffers_recycled: std::sync::atomic::AtomicU64,
    /// Bytes of free block buffers the pool holds right now: memory beyond the cache.
    pub pooled_bytes: std::sync::atomic::AtomicU64,
}
