//! The block cache: every byte a reader gets comes through here.
//!
//! Objects are cut into fixed-size blocks keyed by (bucket, key, ETag, index), so two versions
//! of an object can never share a block. Blocks live in one byte-bounded LRU shared by the
//! whole mount. A missing block is fetched by exactly one ranged GET however many readers
//! want it (single flight); the fetch runs as its own task, so it completes and fills the
//! cache even when the reader that started it goes away. Read-ahead fetches are claimed by
//! the handles that asked for them ([`Claims`]); when the last of those is closed and no
//! reader has come to wait for the block, the fetch is stopped.
//!
//! Besides blocks, the cache holds a few *fragments*: exact small ranges fetched on open by
//! the format-aware plans of [`hints`] (the head of a FITS or ASDF file, the FITS headers
//! after it, the ASDF block index). A read wholly inside a fragment is answered from it
//! while its blocks are not cached, so reading headers costs kilobytes, not blocks; that
//! part lives in `fragments.rs`.
//!
//! With a disk cache attached, a missing block is looked for on disk before it is fetched,
//! and every fetched block is written to disk behind the reader's back (write-behind, so a
//! read never waits for the disk unless too many writes are pending).

pub mod block_file;
mod counters;
pub mod disk;
mod fragments;
pub mod hints;
mod key;
mod readahead;

use std::collections::HashMap;
use std::ops::Range;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use tracing::Instrument;

use bytes::{Bytes, BytesMut};
use futures::future::{BoxFuture, FutureExt, Shared};
use lru::LruCache;
use parking_lot::Mutex;

pub use counters::CacheCounters;
pub use disk::{DiskBlock, DiskCache};
pub use key::{ObjectRef, ObjectVersion};
pub use readahead::{ActiveStreams, ReadAhead};

use fragments::Fragments;
use key::{block_key, BlockKey};

use crate::store::{ObjectStore, StoreError, StoreErrorKind};

type Fetch = Shared<BoxFuture<'static, Result<Bytes, StoreError>>>;

struct Inner {
    blocks: LruCache<BlockKey, Bytes>,
    bytes: u64,
    /// Bytes of blocks being fetched: they count against the budget too, so that the
    /// cache and its fetches together stay within `capacity` (memory bound).
    reserved: u64,
    in_flight: HashMap<BlockKey, InFlight>,
    /// Format-aware prefetches (see [`fragments`]).
    fragments: Fragments,
    /// Where the blocks of ASDF files start, from their block indexes: read-ahead stops at
    /// the end of the block being read.
    units: LruCache<ObjectRef, Arc<Vec<u64>>>,
    /// Blocks dropped after a stream read past them: their bytes are in the kernel's page
    /// cache, which answers any later reader of that range without asking mastfs, so
    /// read-ahead skips them (8 readers of 8 parts of a file: each reader's window runs
    /// into the part the next one has just read).
    streamed: LruCache<BlockKey, ()>,
}

/// Streamed blocks remembered (a key each: 8192 blocks is 8 GiB of file at 1 MiB blocks).
const STREAMED_REMEMBERED: usize = 8192;

/// A block being fetched.
struct InFlight {
    fetch: Fetch,
    abort: tokio::task::AbortHandle,
    /// A reader waits for it: it is never stopped.
    wanted: bool,
    /// Open handles that asked for it ahead of their reads and were not closed since.
    claims: u32,
    /// Its bytes, counted in `Inner::reserved` until it ends.
    reserve: u64,
    /// Tells this fetch from a later fetch of the same block (after it was stopped).
    id: u64,
}

static NEXT_FETCH_ID: AtomicU64 = AtomicU64::new(0);

/// The read-ahead fetches one open handle asked for: closing the handle gives them up
/// ([`BlockCache::release_claims`]), and a fetch nobody else asked for and no reader waits
/// for is stopped. Counted per fetch, so a block that two streams read ahead survives the
/// first one's close.
#[derive(Debug, Default)]
pub struct Claims {
    /// (block index, fetch id), in the order asked.
    held: Vec<(u64, u64)>,
}

impl Claims {
    pub fn len(&self) -> usize {
        self.held.len()
    }

    pub fn is_empty(&self) -> bool {
        self.held.is_empty()
    }
}

/// Claims a handle keeps before the ones on finished fetches are pruned (a long
/// sequential read would otherwise collect one per block of the file).
const PRUNE_CLAIMS_AT: usize = 256;

/// Block bytes waiting to be written to disk beyond which a fetch waits for its own write:
/// bounds the memory the write-behind can hold once blocks leave the LRU.
const MAX_PENDING_DISK_WRITES: u64 = 32 << 20;

/// The mount-wide block cache.
pub struct BlockCache {
    store: Arc<dyn ObjectStore>,
    block_size: u64,
    capacity: u64,
    inner: Mutex<Inner>,
    disk: Option<Arc<DiskCache>>,
    /// Bytes handed to the disk and not yet written.
    pending_disk_bytes: Arc<AtomicU64>,
    /// Handles streaming through this cache: they share its read-ahead budget.
    streams: Arc<ActiveStreams>,
    pub counters: CacheCounters,
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
        Arc::new(BlockCache {
            store,
            block_size: block_size.max(4096),
            capacity,
            inner: Mutex::new(Inner {
                blocks: LruCache::unbounded(),
                bytes: 0,
                reserved: 0,
                in_flight: HashMap::new(),
                fragments: Fragments::default(),
                units: fragments::unit_maps(),
                streamed: LruCache::new(
                    std::num::NonZeroUsize::new(STREAMED_REMEMBERED)
                        .unwrap_or(std::num::NonZeroUsize::MIN),
                ),
            }),
            disk,
            pending_disk_bytes: Arc::new(AtomicU64::new(0)),
            streams: Arc::new(ActiveStreams::default()),
            counters: CacheCounters::default(),
        })
    }

    pub fn block_size(&self) -> u64 {
        self.block_size
    }

    pub fn capacity(&self) -> u64 {
        self.capacity
    }

    /// The counter of handles streaming through this cache (see [`ReadAhead::for_cache`]).
    pub fn streams(&self) -> Arc<ActiveStreams> {
        Arc::clone(&self.streams)
    }

    pub fn disk(&self) -> Option<&Arc<DiskCache>> {
        self.disk.as_ref()
    }

    /// Bytes of fetched blocks not yet written to the disk cache.
    pub fn pending_disk_bytes(&self) -> u64 {
        self.pending_disk_bytes.load(Ordering::Acquire)
    }

    /// Waits (at most `limit`) until every block handed to the disk is written: before
    /// unmounting, so that the next mount finds what this one fetched.
    pub async fn flush_disk(&self, limit: std::time::Duration) -> bool {
        let deadline = tokio::time::Instant::now() + limit;
        while self.pending_disk_bytes.load(Ordering::Acquire) > 0 {
            if tokio::time::Instant::now() >= deadline {
                return false;
            }
            tokio::time::sleep(std::time::Duration::from_millis(5)).await;
        }
        true
    }

    /// Bytes of block data held right now.
    pub fn resident_bytes(&self) -> u64 {
        self.inner.lock().bytes
    }

    /// The blocks that hold bytes `range` of `obj`.
    pub fn blocks_of(&self, obj: &ObjectRef, range: Range<u64>) -> Range<u64> {
        let end = range.end.min(obj.size);
        if range.start >= end {
            return 0..0;
        }
        range.start / self.block_size..end.div_ceil(self.block_size)
    }

    /// Reads up to `len` bytes at `offset` (fewer at the end of the object).
    pub async fn read(
        self: &Arc<Self>,
        obj: &ObjectRef,
        offset: u64,
        len: u64,
    ) -> Result<Bytes, StoreError> {
        let end = offset.saturating_add(len).min(obj.size);
        if offset >= end {
            return Ok(Bytes::new());
        }
        let blocks = self.blocks_of(obj, offset..end);
        if let Some((start, fetch)) = self.fragment_for(obj, offset..end, blocks.clone()) {
            if let Ok(data) = fetch.await {
                let from = (offset - start) as usize;
                if let Ok(out) = slice_checked(&data, from, (end - offset) as usize, obj) {
                    self.counters.hint_hits.fetch_add(1, Ordering::Relaxed);
                    self.counters
                        .bytes_served
                        .fetch_add(out.len() as u64, Ordering::Relaxed);
                    return Ok(out);
                }
            }
            // A failed fragment is no answer: the blocks are.
        }
        let fetches: Vec<_> = blocks.clone().map(|i| self.block(obj, i)).collect();
        let datas = futures::future::try_join_all(fetches).await?;
        let out = if datas.len() == 1 {
            let start = (offset - blocks.start * self.block_size) as usize;
            slice_checked(&datas[0], start, (end - offset) as usize, obj)?
        } else {
            let mut buf = BytesMut::with_capacity((end - offset) as usize);
            for (i, data) in blocks.clone().zip(datas.iter()) {
                let block_start = i * self.block_size;
                let from = offset.max(block_start) - block_start;
                let to = end.min(block_start + self.block_size) - block_start;
                buf.extend_from_slice(&slice_checked(
                    data,
                    from as usize,
                    (to - from) as usize,
                    obj,
                )?);
            }
            buf.freeze()
        };
        self.counters
            .bytes_served
            .fetch_add(out.len() as u64, Ordering::Relaxed);
        Ok(out)
    }

    /// Starts fetching `blocks` of `obj` in the background for the handle holding `claims`,
    /// skipping cached blocks; a block already in flight gets this handle's claim too.
    pub fn prefetch(self: &Arc<Self>, obj: &ObjectRef, blocks: Range<u64>, claims: &mut Claims) {
        if obj.etag.is_empty() {
            // Not cached (see `finish`): blocks fetched ahead would be thrown away.
            return;
        }
        let last = obj.size.div_ceil(self.block_size);
        let mut inner = self.inner.lock();
        for index in blocks.start..blocks.end.min(last) {
            let key = block_key(obj, index);
            // Touching a cached block keeps it from being evicted before the reader gets there.
            if inner.blocks.get(&key).is_some() || inner.streamed.contains(&key) {
                continue;
            }
            let id = match inner.in_flight.get_mut(&key) {
                Some(flight) => {
                    flight.claims += 1;
                    flight.id
                }
                None => {
                    self.counters.prefetched.fetch_add(1, Ordering::Relaxed);
                    self.start_fetch(&mut inner, obj, key, false).1
                }
            };
            claims.held.push((index, id));
        }
        if claims.held.len() >= PRUNE_CLAIMS_AT {
            claims.held.retain(|&(index, id)| {
                inner
                    .in_flight
                    .get(&block_key(obj, index))
                    .is_some_and(|f| f.id == id)
            });
        }
    }

    /// Gives up a closed handle's claims: read-ahead that no other handle asked for and no
    /// reader waits for is stopped (its partial bytes are dropped, its budget returned),
    /// unless it lies in `wanted_soon` (byte ranges other open readers of the object are
    /// heading for: a reader that finished its part of a file leaves the read-ahead that
    /// ran into the next reader's part to that reader). Returns how many were stopped.
    pub fn release_claims(
        &self,
        obj: &ObjectRef,
        claims: Claims,
        wanted_soon: &[Range<u64>],
    ) -> usize {
        let mut stopped = 0;
        if claims.held.is_empty() {
            return stopped;
        }
        let mut inner = self.inner.lock();
        for (index, id) in claims.held {
            let key = block_key(obj, index);
            let Some(flight) = inner.in_flight.get_mut(&key) else {
                continue;
            };
            if flight.id != id {
                continue;
            }
            flight.claims = flight.claims.saturating_sub(1);
            if flight.claims > 0 || flight.wanted {
                continue;
            }
            let start = index * self.block_size;
            if wanted_soon.iter().any(|r| r.contains(&start)) {
                continue;
            }
            // Under the lock: a reader either joined before (wanted) or finds no fetch and
            // starts its own.
            if let Some(flight) = inner.in_flight.remove(&key) {
                flight.abort.abort();
                inner.reserved -= flight.reserve;
                self.counters
                    .prefetch_cancelled
                    .fetch_add(1, Ordering::Relaxed);
                stopped += 1;
            }
        }
        stopped
    }

    /// Drops `blocks` of `obj` that a streaming reader has read past: its bytes are in the
    /// kernel's page cache now, and holding them here too would grow the daemon by the
    /// size of every file streamed.
    pub fn drop_streamed(&self, obj: &ObjectRef, blocks: Range<u64>) {
        if blocks.is_empty() {
            return;
        }
        let mut inner = self.inner.lock();
        for index in blocks {
            let key = block_key(obj, index);
            if let Some(data) = inner.blocks.pop(&key) {
                inner.bytes -= data.len() as u64;
                self.counters
                    .streamed_dropped
                    .fetch_add(1, Ordering::Relaxed);
            }
            inner.streamed.put(key, ());
        }
    }

    /// Drops every cached block and fragment (fetches in flight still complete and are kept).
    pub fn clear(&self) {
        let mut inner = self.inner.lock();
        inner.blocks.clear();
        inner.fragments.clear();
        inner.units.clear();
        inner.streamed.clear();
        inner.bytes = 0;
    }

    /// True when block `index` of `obj` is cached (does not touch LRU order).
    pub fn contains(&self, obj: &ObjectRef, index: u64) -> bool {
        self.inner.lock().blocks.contains(&block_key(obj, index))
    }

    /// The future of one block a reader wants: a hit, a fetch already under way (which can
    /// then no longer be stopped), or a new fetch.
    fn block(self: &Arc<Self>, obj: &ObjectRef, index: u64) -> Fetch {
        let key = block_key(obj, index);
        let mut inner = self.inner.lock();
        if let Some(data) = inner.blocks.get(&key) {
            self.counters.hits.fetch_add(1, Ordering::Relaxed);
            return futures::future::ready(Ok(data.clone())).boxed().shared();
        }
        if let Some(flight) = inner.in_flight.get_mut(&key) {
            self.counters.joined.fetch_add(1, Ordering::Relaxed);
            flight.wanted = true;
            return flight.fetch.clone();
        }
        self.counters.misses.fetch_add(1, Ordering::Relaxed);
        self.start_fetch(&mut inner, obj, key, true).0
    }

    /// Starts the fetch of block `key` of `obj` as its own task (for a reader when `wanted`,
    /// else for read-ahead, claimed once); its future and id.
    fn start_fetch(
        self: &Arc<Self>,
        inner: &mut Inner,
        obj: &ObjectRef,
        key: BlockKey,
        wanted: bool,
    ) -> (Fetch, u64) {
        let index = key.index;
        let start = index * self.block_size;
        let range = start..(start + self.block_size).min(obj.size);
        let reserve = range.end - range.start;
        inner.reserved += reserve;
        self.evict_to_budget(inner);
        let cache = Arc::clone(self);
        let task_key = key.clone();
        let object = obj.clone();
        let id = NEXT_FETCH_ID.fetch_add(1, Ordering::Relaxed);
        // In the span of the request that asked first (its FUSE request, in the log).
        let task = tokio::spawn(
            async move {
                let result = cache.load_block(&task_key, range, &object).await;
                cache.finish(task_key, id, &result);
                result
            }
            .in_current_span(),
        );
        let abort = task.abort_handle();
        let fetch = shared_fetch(task, obj, "block");
        inner.in_flight.insert(
            key,
            InFlight {
                fetch: fetch.clone(),
                abort,
                wanted,
                claims: u32::from(!wanted),
                reserve,
                id,
            },
        );
        (fetch, id)
    }

    /// One block from the disk cache, else from the store (then written to disk).
    async fn load_block(
        &self,
        key: &BlockKey,
        range: Range<u64>,
        object: &ObjectRef,
    ) -> Result<Bytes, StoreError> {
        let Some(disk) = self.disk.clone() else {
            return self.fetch_block(key, range).await;
        };
        let expected = range.end - range.start;
        let (owned_key, block_size) = (key.clone(), self.block_size);
        let on_disk = tokio::task::spawn_blocking(move || {
            disk.load(&owned_key.on_disk(block_size), expected)
        })
        .await
        .ok()
        .flatten();
        if let Some(data) = on_disk {
            return Ok(data);
        }
        let data = self.fetch_block(key, range).await?;
        self.write_behind(key, &data, object).await;
        Ok(data)
    }

    /// Hands a fetched block to the disk; waits for the write only when too much is pending.
    /// The disk builds the object's whole-object file once its last block is written (see
    /// [`DiskCache::begin_write`]).
    async fn write_behind(&self, key: &BlockKey, data: &Bytes, object: &ObjectRef) {
        let Some(disk) = self.disk.clone() else {
            return;
        };
        let len = data.len() as u64;
        let pending = self.pending_disk_bytes.clone();
        let before = pending.fetch_add(len, Ordering::AcqRel);
        let write = disk.begin_write(object, key.index, self.block_size);
        let data = data.clone();
        let written = tokio::task::spawn_blocking(move || {
            disk.write(write, &data);
            pending.fetch_sub(len, Ordering::AcqRel);
        });
        if before + len > MAX_PENDING_DISK_WRITES {
            let _ = written.await;
        }
    }

    /// Builds whole-object files as objects are completed on disk (on while passthrough
    /// is: without it nobody opens them).
    pub fn set_whole_files(&self, on: bool) {
        if let Some(disk) = &self.disk {
            disk.set_whole_files(on);
        }
    }

    /// Moves a finished fetch from in-flight into the LRU, evicting to stay within budget.
    fn finish(&self, key: BlockKey, id: u64, result: &Result<Bytes, StoreError>) {
        let mut inner = self.inner.lock();
        // A stopped fetch that got its bytes anyway was already taken off (and its
        // reservation returned), and a later fetch of the same block may be in its place.
        if inner.in_flight.get(&key).is_some_and(|f| f.id == id) {
            if let Some(flight) = inner.in_flight.remove(&key) {
                inner.reserved -= flight.reserve;
            }
        }
        let Ok(data) = result else { return };
        let len = data.len() as u64;
        // Without an ETag nothing pins the version: a block kept here could be handed out
        // beside a block of a newer version. Such objects are read through, never cached.
        if len > self.capacity || key.etag.is_empty() {
            return;
        }
        if let Some(old) = inner.blocks.put(key, data.clone()) {
            inner.bytes -= old.len() as u64;
        }
        inner.bytes += len;
        self.evict_to_budget(&mut inner);
    }

    /// Evicts least recently used blocks until cached plus in-flight bytes fit the budget.
    fn evict_to_budget(&self, inner: &mut Inner) {
        while inner.bytes + inner.reserved > self.capacity {
            match inner.blocks.pop_lru() {
                Some((_, evicted)) => {
                    inner.bytes -= evicted.len() as u64;
                    self.counters.evictions.fetch_add(1, Ordering::Relaxed);
                }
                None => break,
            }
        }
    }
}

/// A fetch task as a future any number of readers can wait on. A task that panicked or was
/// cancelled becomes an `Unavailable` error naming the object (`what`: "block", "range").
fn shared_fetch(
    task: tokio::task::JoinHandle<Result<Bytes, StoreError>>,
    obj: &ObjectRef,
    what: &'static str,
) -> Fetch {
    let (bucket, key) = (obj.bucket.clone(), obj.key.clone());
    task.map(move |joined| {
        joined.unwrap_or_else(|e| {
            Err(StoreError::new(
                StoreErrorKind::Unavailable,
                &bucket,
                &key,
                format!("{what} fetch task failed: {e}"),
            ))
        })
    })
    .boxed()
    .shared()
}

/// A sub-slice of a block, or an error if the block is shorter than the object said it is
/// (the object changed size without changing ETag: never hand out wrong bytes).
fn slice_checked(
    data: &Bytes,
    start: usize,
    len: usize,
    obj: &ObjectRef,
) -> Result<Bytes, StoreError> {
    if start + len > data.len() {
        return Err(StoreError::new(
            StoreErrorKind::Invalid,
            &obj.bucket,
            &obj.key,
            format!("block holds {} bytes, needed {}", data.len(), start + len),
        ));
    }
    Ok(data.slice(start..start + len))
}

#[cfg(test)]
mod model_tests;
#[cfg(test)]
mod tests;
