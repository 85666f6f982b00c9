//! The block cache: every byte a reader gets comes through here.
//!
//! Objects are cut into fixed-size blocks keyed by (bucket, key, ETag, index), so two versions
//! of an object can never share a block. Blocks live in one byte-bounded LRU shared by the
//! whole mount. A missing block is fetched by exactly one ranged GET however many readers
//! want it (single flight); the fetch runs as its own task, so it completes and fills the
//! cache even when the reader that started it goes away. With a disk cache attached, a
//! missing block is looked for on disk before it is fetched, and every fetched block is
//! written to disk behind the reader's back (write-behind, so a read never waits for the
//! disk unless too many writes are pending).
//!
//! The filesystem opens one [`Reader`] per file handle ([`BlockCache::open`]) and makes one
//! call per read ([`Reader::read`]) and one per close ([`Reader::close`]). The modules, top
//! down (each uses only those below it):
//!
//! ```text
//! mod.rs        BlockCache: the mount's cache, opens readers
//!  reader.rs    Reader: one handle's reads, read-ahead and cancel-on-close; live readers
//!  plans.rs     format-aware fetches on open (FITS/ASDF heads, headers, block index)
//!  fetch.rs     Fetcher: single-flight block fetches, ranged GETs, write-behind, claims
//!  memory.rs    the LRU of blocks, fetches in flight, fragments, unit maps, the budget
//!  readahead.rs the read-ahead policy         hints.rs     FITS/ASDF parsing
//!   sweep.rs    random readers of whole objects: the rest fetched in the background
//!  disk.rs      the persistent disk cache and its whole-object files (disk/)
//!  key.rs       ObjectRef, BlockKey            counters.rs  CacheCounters
//! ```

pub mod block_file;
mod counters;
pub mod disk;
mod fetch;
pub mod hints;
mod key;
mod memory;
mod plans;
mod readahead;
mod reader;
mod sweep;

use std::ops::Range;
use std::sync::Arc;

use bytes::Bytes;

pub use counters::CacheCounters;
pub use disk::{DiskBlock, DiskCache};
pub use key::{ObjectRef, ObjectVersion};
pub use readahead::{ActiveStreams, ReadAhead};
pub use reader::Reader;
pub use sweep::SweepBudget;

use fetch::Fetcher;
use reader::Readers;

use crate::store::{ObjectStore, StoreError};

/// The mount-wide block cache.
pub struct BlockCache {
    fetcher: Arc<Fetcher>,
    block_size: u64,
    capacity: u64,
    /// Handles streaming through this cache: they share its read-ahead budget.
    streams: Arc<ActiveStreams>,
    /// What random readers of whole objects may sweep into this cache.
    sweeps: Arc<SweepBudget>,
    /// The open readers, by object.
    readers: Arc<Readers>,
    pub counters: Arc<CacheCounters>,
}

impl BlockCache {
    /// A cache of at most `capacity` bytes of blocks of `block_size` bytes.
    pub fn new(store: Arc<dyn ObjectStore>, block_size: u64, capacity: u64) -> Arc<BlockCache> {
        BlockCache::with_disk(store, block_size, capacity, None)
    }

    /// The same, backed by a persistent disk cache when `disk` is given.
    pub fn with_disk(
        store: Arc<dyn ObjectStore>,
        block_size: u64,
        capacity: u64,
        disk: Option<Arc<DiskCache>>,
    ) -> Arc<BlockCache> {
        let block_size = block_size.max(4096);
        let counters = Arc::new(CacheCounters::default());
        let fetcher = Fetcher::new(store, block_size, capacity, disk, Arc::clone(&counters));
        Arc::new(BlockCache {
            fetcher: Arc::new(fetcher),
            block_size,
            capacity,
            streams: Arc::new(ActiveStreams::default()),
            sweeps: Arc::new(SweepBudget::for_cache(capacity)),
            readers: Arc::new(Readers::default()),
            counters,
        })
    }

    pub fn block_size(&self) -> u64 {
        self.block_size
    }

    pub fn capacity(&self) -> u64 {
        self.capacity
    }

    /// The counter of handles streaming through this cache (see [`BlockCache::readahead`]).
    pub fn streams(&self) -> Arc<ActiveStreams> {
        Arc::clone(&self.streams)
    }

    /// Read-ahead for a handle reading through this cache, within its budget and sharing it
    /// with the cache's other streams (see [`ReadAhead::within_budget`]).
    pub fn readahead(&self, max_window: u64) -> ReadAhead {
        ReadAhead::within_budget(
            self.block_size,
            max_window,
            self.capacity,
            self.streams(),
            Arc::clone(&self.sweeps),
        )
    }

    /// Opens `obj` for one file handle: starts the format-aware fetches of its format (see
    /// `plans.rs`) and returns the handle's reader, reading ahead at most `max_window` bytes.
    pub fn open(&self, obj: &ObjectRef, max_window: u64) -> Reader {
        self.hint_open(obj);
        Reader::new(
            obj.clone(),
            Arc::clone(&self.fetcher),
            self.readahead(max_window),
            Arc::clone(&self.readers),
        )
    }

    /// For a FITS or ASDF file, fetches its head as a small fragment instead of a whole
    /// block, then the header or index ranges its format says come next (see `plans.rs`).
    pub fn hint_open(&self, obj: &ObjectRef) {
        plans::hint_open(&self.fetcher, obj);
    }

    pub fn disk(&self) -> Option<&Arc<DiskCache>> {
        self.fetcher.disk()
    }

    /// Bytes of fetched blocks not yet written to the disk cache.
    pub fn pending_disk_bytes(&self) -> u64 {
        self.fetcher.pending_disk_bytes()
    }

    /// Waits (at most `limit`) until every block handed to the disk is written: before
    /// unmounting, so that the next mount finds what this one fetched.
    pub async fn flush_disk(&self, limit: std::time::Duration) -> bool {
        let deadline = tokio::time::Instant::now() + limit;
        while self.pending_disk_bytes() > 0 {
            if tokio::time::Instant::now() >= deadline {
                return false;
            }
            tokio::time::sleep(std::time::Duration::from_millis(5)).await;
        }
        true
    }

    /// Builds whole-object files as objects are completed on disk (on while passthrough
    /// is: without it nobody opens them).
    pub fn set_whole_files(&self, on: bool) {
        if let Some(disk) = self.disk() {
            disk.set_whole_files(on);
        }
    }

    /// Bytes of block data held right now.
    pub fn resident_bytes(&self) -> u64 {
        self.fetcher.memory.lock().bytes
    }

    /// The blocks that hold bytes `range` of `obj`.
    pub fn blocks_of(&self, obj: &ObjectRef, range: Range<u64>) -> Range<u64> {
        self.fetcher.blocks_of(obj, range)
    }

    /// Reads up to `len` bytes at `offset` (fewer at the end of the object), without a
    /// handle (no read-ahead): `mastfs warm` and tests.
    pub async fn read(&self, obj: &ObjectRef, offset: u64, len: u64) -> Result<Bytes, StoreError> {
        reader::read_range(&self.fetcher, obj, offset, len).await
    }

    /// Drops every cached block and fragment (fetches in flight still complete and are kept).
    pub fn clear(&self) {
        self.fetcher.memory.lock().clear();
    }

    /// True when block `index` of `obj` is cached (does not touch LRU order).
    pub fn contains(&self, obj: &ObjectRef, index: u64) -> bool {
        self.fetcher
            .memory
            .lock()
            .blocks
            .contains(&key::block_key(obj, index))
    }
}

#[cfg(test)]
mod claims_tests;
#[cfg(test)]
mod hint_tests;
#[cfg(test)]
mod model_tests;
#[cfg(test)]
mod tests;
