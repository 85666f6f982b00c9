//! The block cache: every byte a reader gets comes through here.
//!
//! Objects are cut into fixed-size blocks keyed by (bucket, key, ETag, index), so two versions
//! of an object can never share a block. Blocks live in one byte-bounded LRU shared by the
//! whole mount. A missing block is fetched by exactly one ranged GET however many readers
//! want it (single flight); the fetch runs as its own task, so it completes and fills the
//! cache even when the reader that started it goes away (that is also how read-ahead works).
//!
//! Besides blocks, the cache holds a few *fragments*: exact small ranges fetched on open by
//! the format-aware plans of [`hints`] (the head of a FITS or ASDF file, the FITS headers
//! after it, the ASDF block index). A read wholly inside a fragment is answered from it
//! while its blocks are not cached, so reading headers costs kilobytes, not blocks.
//!
//! With a disk cache attached, a missing block is looked for on disk before it is fetched,
//! and every fetched block is written to disk behind the reader's back (write-behind, so a
//! read never waits for the disk unless too many writes are pending).

pub mod disk;
pub mod hints;
mod readahead;

use std::collections::HashMap;
use std::ops::Range;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use bytes::{Bytes, BytesMut};
use futures::future::{BoxFuture, FutureExt, Shared};
use lru::LruCache;
use parking_lot::Mutex;

pub use disk::{DiskBlock, DiskCache};
pub use readahead::{ActiveStreams, ReadAhead};

use crate::store::{ObjectStore, StoreError, StoreErrorKind};

/// One version of one object: what a reader pins when it opens a file.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct ObjectRef {
    pub bucket: Arc<str>,
    pub key: Arc<str>,
    pub etag: Arc<str>,
    pub size: u64,
}

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
struct BlockKey {
    bucket: Arc<str>,
    key: Arc<str>,
    etag: Arc<str>,
    index: u64,
}

type Fetch = Shared<BoxFuture<'static, Result<Bytes, StoreError>>>;

struct Inner {
    blocks: LruCache<BlockKey, Bytes>,
    bytes: u64,
    /// Bytes of blocks being fetched: they count against the budget too, so that the
    /// cache and its fetches together stay within `capacity` (memory bound).
    reserved: u64,
    in_flight: HashMap<BlockKey, Fetch>,
    /// Format-aware prefetches, oldest first; bounded by [`MAX_FRAGMENTS`].
    fragments: std::collections::VecDeque<Fragment>,
    /// Where the blocks of ASDF files start, from their block indexes: read-ahead stops at
    /// the end of the block being read.
    units: LruCache<ObjectRef, Arc<Vec<u64>>>,
}

/// Files whose unit starts are remembered.
const MAX_UNIT_MAPS: usize = 256;

/// An exact byte range of one object version, fetched (or being fetched) on open.
struct Fragment {
    object: ObjectRef,
    range: Range<u64>,
    fetch: Fetch,
}

/// Work to start once a fragment's bytes are in (the FITS plan needs the head's headers).
type AfterFetch = Box<dyn FnOnce(&Arc<BlockCache>, &ObjectRef, &Bytes) + Send>;

/// Fragments kept at most (each at most a few hundred KiB: a few MiB in all).
const MAX_FRAGMENTS: usize = 24;

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
}

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
                fragments: std::collections::VecDeque::new(),
                units: LruCache::new(
                    std::num::NonZeroUsize::new(MAX_UNIT_MAPS)
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
        let fetches: Vec<_> = blocks.clone().map(|i| self.block(obj, i, false)).collect();
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

    /// Starts fetching `blocks` of `obj` in the background, skipping those cached or in flight.
    pub fn prefetch(self: &Arc<Self>, obj: &ObjectRef, blocks: Range<u64>) {
        let last = obj.size.div_ceil(self.block_size);
        for index in blocks.start..blocks.end.min(last) {
            // Dropping the shared future is fine: the fetch task runs to completion anyway.
            drop(self.block(obj, index, true));
        }
    }

    /// Drops every cached block and fragment (fetches in flight still complete and are kept).
    pub fn clear(&self) {
        let mut inner = self.inner.lock();
        inner.blocks.clear();
        inner.fragments.clear();
        inner.units.clear();
        inner.bytes = 0;
    }

    /// Called on open: for a FITS or ASDF file, fetch its head as a small fragment instead
    /// of a whole block, then the header or index ranges its format says come next (see
    /// [`hints`]). Nothing happens for other files, small files, files whose first block
    /// is cached or on disk already, or a second open.
    pub fn hint_open(self: &Arc<Self>, obj: &ObjectRef) {
        let Some(format) = hints::format_of(&obj.key) else {
            return;
        };
        if obj.size <= hints::HEAD_LEN || obj.size <= self.block_size {
            return;
        }
        {
            let inner = self.inner.lock();
            let first = block_key(obj, 0);
            if inner.blocks.contains(&first)
                || inner.in_flight.contains_key(&first)
                || inner.fragments.iter().any(|f| f.object == *obj)
            {
                return;
            }
        }
        if let Some(disk) = &self.disk {
            if disk.has(&disk_block(&block_key(obj, 0), self.block_size)) {
                return;
            }
        }
        match format {
            hints::Format::Asdf => {
                drop(self.fragment(obj, 0..hints::HEAD_LEN, None));
                if let Some(tail) = hints::asdf_tail(obj.size) {
                    let tail_start = tail.start;
                    let units: AfterFetch = Box::new(move |cache: &Arc<BlockCache>, obj, tail| {
                        cache.set_units(obj, hints::asdf_units(tail, tail_start, obj.size));
                    });
                    drop(self.fragment(obj, tail, Some(units)));
                }
            }
            hints::Format::Fits => {
                // The plan is started before the head is handed to anyone, so a reader
                // that goes straight on to the next header finds its fetch under way.
                let plan: AfterFetch = Box::new(|cache: &Arc<BlockCache>, obj, head| {
                    for range in hints::fits_plan(head, obj.size) {
                        drop(cache.fragment(obj, range, None));
                    }
                });
                drop(self.fragment(obj, 0..hints::HEAD_LEN, Some(plan)));
            }
        }
    }

    fn set_units(&self, obj: &ObjectRef, units: Vec<u64>) {
        if !units.is_empty() {
            self.inner.lock().units.put(obj.clone(), Arc::new(units));
        }
    }

    /// Where the unit (an ASDF block) holding `offset` ends, as far as the format-aware
    /// prefetch learnt; the object's size when nothing is known.
    pub fn unit_end(&self, obj: &ObjectRef, offset: u64) -> u64 {
        let units = self.inner.lock().units.peek(obj).cloned();
        match units {
            Some(units) => hints::unit_end(&units, offset, obj.size),
            None => obj.size,
        }
    }

    /// The fetch of an exact range of `obj`, started unless already under way or done;
    /// `then` runs on the fetched bytes before any reader sees them.
    fn fragment(
        self: &Arc<Self>,
        obj: &ObjectRef,
        range: Range<u64>,
        then: Option<AfterFetch>,
    ) -> Fetch {
        let mut inner = self.inner.lock();
        if let Some(f) = inner
            .fragments
            .iter()
            .find(|f| f.object == *obj && f.range == range)
        {
            return f.fetch.clone();
        }
        self.counters.hint_fetches.fetch_add(1, Ordering::Relaxed);
        let cache = Arc::clone(self);
        let (o, r) = (obj.clone(), range.clone());
        let task = tokio::spawn(async move {
            let result = cache.store.get_range(&o.bucket, &o.key, &o.etag, r).await;
            if let (Ok(bytes), Some(then)) = (&result, then) {
                then(&cache, &o, bytes);
            }
            result
        });
        let (bucket, key) = (obj.bucket.clone(), obj.key.clone());
        let fetch = task
            .map(move |joined| {
                joined.unwrap_or_else(|e| {
                    Err(StoreError::new(
                        StoreErrorKind::Unavailable,
                        &bucket,
                        &key,
                        format!("range fetch task failed: {e}"),
                    ))
                })
            })
            .boxed()
            .shared();
        inner.fragments.push_back(Fragment {
            object: obj.clone(),
            range,
            fetch: fetch.clone(),
        });
        while inner.fragments.len() > MAX_FRAGMENTS {
            inner.fragments.pop_front();
        }
        fetch
    }

    /// A fragment holding all of `range`, when some of its `blocks` would have to be fetched.
    fn fragment_for(
        &self,
        obj: &ObjectRef,
        range: Range<u64>,
        blocks: Range<u64>,
    ) -> Option<(u64, Fetch)> {
        let inner = self.inner.lock();
        if inner.fragments.is_empty() {
            return None;
        }
        let all_there = blocks.clone().all(|i| {
            let key = block_key(obj, i);
            inner.blocks.contains(&key) || inner.in_flight.contains_key(&key)
        });
        if all_there {
            return None;
        }
        inner
            .fragments
            .iter()
            .find(|f| f.object == *obj && f.range.start <= range.start && range.end <= f.range.end)
            .map(|f| (f.range.start, f.fetch.clone()))
    }

    /// True when block `index` of `obj` is cached (does not touch LRU order).
    pub fn contains(&self, obj: &ObjectRef, index: u64) -> bool {
        self.inner.lock().blocks.contains(&block_key(obj, index))
    }

    /// The future of one block: a hit, a fetch already under way, or a new fetch.
    fn block(self: &Arc<Self>, obj: &ObjectRef, index: u64, prefetch: bool) -> Fetch {
        let key = block_key(obj, index);
        let mut inner = self.inner.lock();
        if let Some(data) = inner.blocks.get(&key) {
            if !prefetch {
                self.counters.hits.fetch_add(1, Ordering::Relaxed);
            }
            return futures::future::ready(Ok(data.clone())).boxed().shared();
        }
        if let Some(fetch) = inner.in_flight.get(&key) {
            if !prefetch {
                self.counters.joined.fetch_add(1, Ordering::Relaxed);
            }
            return fetch.clone();
        }
        if prefetch {
            self.counters.prefetched.fetch_add(1, Ordering::Relaxed);
        } else {
            self.counters.misses.fetch_add(1, Ordering::Relaxed);
        }
        let start = index * self.block_size;
        let range = start..(start + self.block_size).min(obj.size);
        let reserve = range.end - range.start;
        inner.reserved += reserve;
        self.evict_to_budget(&mut inner);
        let cache = Arc::clone(self);
        let task_key = key.clone();
        let task = tokio::spawn(async move {
            let result = cache.load_block(&task_key, range).await;
            cache.finish(task_key, reserve, &result);
            result
        });
        let (bucket, obj_key) = (obj.bucket.clone(), obj.key.clone());
        let fetch = task
            .map(move |joined| {
                joined.unwrap_or_else(|e| {
                    Err(StoreError::new(
                        StoreErrorKind::Unavailable,
                        &bucket,
                        &obj_key,
                        format!("block fetch task failed: {e}"),
                    ))
                })
            })
            .boxed()
            .shared();
        inner.in_flight.insert(key, fetch.clone());
        fetch
    }

    /// One block from the disk cache, else from the store (then written to disk).
    async fn load_block(&self, key: &BlockKey, range: Range<u64>) -> Result<Bytes, StoreError> {
        let Some(disk) = self.disk.clone() else {
            return self.fetch_block(key, range).await;
        };
        let expected = range.end - range.start;
        let (owned_key, block_size) = (key.clone(), self.block_size);
        let on_disk = tokio::task::spawn_blocking(move || {
            disk.load(&disk_block(&owned_key, block_size), expected)
        })
        .await
        .ok()
        .flatten();
        if let Some(data) = on_disk {
            return Ok(data);
        }
        let data = self.fetch_block(key, range).await?;
        self.write_behind(key, &data).await;
        Ok(data)
    }

    /// One block from the store. When a format-aware fragment already holds part of it
    /// (a FITS header window, the head), only the rest is fetched and the block is put
    /// together: a full read of a file costs no byte twice.
    async fn fetch_block(&self, key: &BlockKey, range: Range<u64>) -> Result<Bytes, StoreError> {
        let get = |r: Range<u64>| self.store.get_range(&key.bucket, &key.key, &key.etag, r);
        let Some((held, frag_start, fragment)) = self.fragment_overlapping(key, &range) else {
            return get(range).await;
        };
        let before = range.start..held.start;
        let after = held.end..range.end;
        let gaps: Vec<Range<u64>> = [before.clone(), after.clone()]
            .into_iter()
            .filter(|g| !g.is_empty())
            .collect();
        let (fragment, gap_data) = futures::join!(
            fragment,
            futures::future::try_join_all(gaps.iter().cloned().map(get))
        );
        let (Ok(fragment), Ok(gap_data)) = (fragment, gap_data) else {
            return get(range).await;
        };
        let mut parts = gap_data.into_iter();
        let mut block = BytesMut::with_capacity((range.end - range.start) as usize);
        if !before.is_empty() {
            block.extend_from_slice(&parts.next().unwrap_or_default());
        }
        let from = (held.start - frag_start) as usize;
        let to = (held.end - frag_start) as usize;
        match fragment.get(from..to) {
            Some(middle) => block.extend_from_slice(middle),
            None => return get(range).await,
        }
        if !after.is_empty() {
            block.extend_from_slice(&parts.next().unwrap_or_default());
        }
        if block.len() as u64 != range.end - range.start {
            return get(range).await;
        }
        Ok(block.freeze())
    }

    /// The part of `range` a fragment of the block's object holds, where that fragment
    /// starts, and its fetch.
    fn fragment_overlapping(
        &self,
        key: &BlockKey,
        range: &Range<u64>,
    ) -> Option<(Range<u64>, u64, Fetch)> {
        let inner = self.inner.lock();
        inner
            .fragments
            .iter()
            .filter(|f| {
                f.object.bucket == key.bucket
                    && f.object.key == key.key
                    && f.object.etag == key.etag
                    && f.range.start < range.end
                    && range.start < f.range.end
            })
            .map(|f| {
                let held = f.range.start.max(range.start)..f.range.end.min(range.end);
                (held, f.range.start, f.fetch.clone())
            })
            .max_by_key(|(held, _, _)| held.end - held.start)
    }

    /// Hands a fetched block to the disk; waits for the write only when too much is pending.
    async fn write_behind(&self, key: &BlockKey, data: &Bytes) {
        let Some(disk) = self.disk.clone() else {
            return;
        };
        let len = data.len() as u64;
        let pending = self.pending_disk_bytes.clone();
        let before = pending.fetch_add(len, Ordering::AcqRel);
        let (owned_key, block_size, owned_data) = (key.clone(), self.block_size, data.clone());
        let write = tokio::task::spawn_blocking(move || {
            disk.store(&disk_block(&owned_key, block_size), &owned_data);
            pending.fetch_sub(len, Ordering::AcqRel);
        });
        if before + len > MAX_PENDING_DISK_WRITES {
            let _ = write.await;
        }
    }

    /// Moves a finished fetch from in-flight into the LRU, evicting to stay within budget.
    fn finish(&self, key: BlockKey, reserved: u64, result: &Result<Bytes, StoreError>) {
        let mut inner = self.inner.lock();
        inner.in_flight.remove(&key);
        inner.reserved -= reserved;
        let Ok(data) = result else { return };
        let len = data.len() as u64;
        if len > self.capacity {
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

fn disk_block(key: &BlockKey, block_size: u64) -> DiskBlock<'_> {
    DiskBlock {
        bucket: &key.bucket,
        key: &key.key,
        etag: &key.etag,
        block_size,
        index: key.index,
    }
}

fn block_key(obj: &ObjectRef, index: u64) -> BlockKey {
    BlockKey {
        bucket: obj.bucket.clone(),
        key: obj.key.clone(),
        etag: obj.etag.clone(),
        index,
    }
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
mod tests;
