//! Getting blocks: every byte the cache holds arrives through here.
//!
//! A block a reader wants ([`Fetcher::block`]) is a hit, a fetch already under way (single
//! flight: any number of readers wait on one GET), or a new fetch. A new fetch runs as its
//! own task: it looks for the block in the disk cache, else sends one ranged
//! GET (or less, when a format-aware fragment already holds part of the block), hands the
//! bytes to the disk behind the reader's back (write-behind) and moves them into the
//! memory LRU ([`super::memory`]).
//!
//! Read-ahead fetches are claimed by the handles that asked for them ([`Claims`]); when
//! the last of those is closed and no reader has come to wait for the block, the fetch is
//! stopped. The format-aware fragments are fetched here too ([`Fetcher::fragment`]).

use std::ops::Range;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use tracing::Instrument;

use bytes::{Bytes, BytesMut};
use futures::future::FutureExt;
use parking_lot::Mutex;

use super::counters::CacheCounters;
use super::disk::DiskCache;
use super::key::{block_key, BlockKey, ObjectRef};
use super::memory::{shared_fetch, Fetch, InFlight, Memory};
use crate::store::{ObjectStore, StoreError};

static NEXT_FETCH_ID: AtomicU64 = AtomicU64::new(0);

/// Block bytes waiting to be written to disk beyond which a fetch waits for its own write:
/// bounds the memory the write-behind can hold once blocks leave the LRU.
const MAX_PENDING_DISK_WRITES: u64 = 32 << 20;

/// Claims a handle keeps before the ones on finished fetches are pruned (a long
/// sequential read would otherwise collect one per block of the file).
const PRUNE_CLAIMS_AT: usize = 256;

/// The read-ahead fetches one open handle asked for: closing the handle gives them up
/// ([`Fetcher::release_claims`]), and a fetch nobody else asked for and no reader waits
/// for is stopped. Counted per fetch, so a block that two streams read ahead survives the
/// first one's close.
#[derive(Debug, Default)]
pub struct Claims {
    /// (block index, fetch id), in the order asked.
    held: Vec<(u64, u64)>,
}

impl Claims {
    #[cfg(test)]
    pub fn len(&self) -> usize {
        self.held.len()
    }

    pub fn is_empty(&self) -> bool {
        self.held.is_empty()
    }
}

/// Work to start once a fragment's bytes are in (the FITS plan needs the head's headers).
pub type AfterFetch = Box<dyn FnOnce(&Arc<Fetcher>, &ObjectRef, &Bytes) + Send>;

/// The fetching side of one mount's block cache, shared by its handles and fetch tasks.
pub struct Fetcher {
    store: Arc<dyn ObjectStore>,
    block_size: u64,
    pub memory: Mutex<Memory>,
    disk: Option<Arc<DiskCache>>,
    /// Bytes handed to the disk and not yet written.
    pending_disk_bytes: Arc<AtomicU64>,
    pub counters: Arc<CacheCounters>,
}

impl Fetcher {
    pub fn new(
        store: Arc<dyn ObjectStore>,
        block_size: u64,
        capacity: u64,
        disk: Option<Arc<DiskCache>>,
        counters: Arc<CacheCounters>,
    ) -> Fetcher {
        Fetcher {
            store,
            block_size,
            memory: Mutex::new(Memory::new(capacity)),
            disk,
            pending_disk_bytes: Arc::new(AtomicU64::new(0)),
            counters,
        }
    }

    pub fn block_size(&self) -> u64 {
        self.block_size
    }

    pub fn disk(&self) -> Option<&Arc<DiskCache>> {
        self.disk.as_ref()
    }

    /// Bytes of fetched blocks not yet written to the disk cache.
    pub fn pending_disk_bytes(&self) -> u64 {
        self.pending_disk_bytes.load(Ordering::Acquire)
    }

    /// The blocks that hold bytes `range` of `obj`.
    pub fn blocks_of(&self, obj: &ObjectRef, range: Range<u64>) -> Range<u64> {
        let end = range.end.min(obj.size);
        if range.start >= end {
            return 0..0;
        }
        range.start / self.block_size..end.div_ceil(self.block_size)
    }

    /// The future of one block a reader wants: a hit, a fetch already under way (which can
    /// then no longer be stopped), or a new fetch.
    pub fn block(self: &Arc<Self>, obj: &ObjectRef, index: u64) -> Fetch {
        let key = block_key(obj, index);
        let mut memory = self.memory.lock();
        if let Some(data) = memory.blocks.get(&key) {
            self.counters.hits.fetch_add(1, Ordering::Relaxed);
            return futures::future::ready(Ok(data.clone())).boxed().shared();
        }
        if let Some(flight) = memory.in_flight.get_mut(&key) {
            self.counters.joined.fetch_add(1, Ordering::Relaxed);
            flight.wanted = true;
            return flight.fetch.clone();
        }
        self.counters.misses.fetch_add(1, Ordering::Relaxed);
        self.start_fetch(&mut memory, obj, key, true).0
    }

    /// Starts fetching `blocks` of `obj` in the background for the handle holding `claims`,
    /// skipping cached blocks; a block already in flight gets this handle's claim too.
    pub fn prefetch(self: &Arc<Self>, obj: &ObjectRef, blocks: Range<u64>, claims: &mut Claims) {
        if obj.etag.is_empty() {
            // Not cached (see `Memory::finish`): blocks fetched ahead would be thrown away.
            return;
        }
        let last = obj.size.div_ceil(self.block_size);
        let mut memory = self.memory.lock();
        for index in blocks.start..blocks.end.min(last) {
            let key = block_key(obj, index);
            // Touching a cached block keeps it from being evicted before the reader gets there.
            if memory.blocks.get(&key).is_some() || memory.streamed.contains(&key) {
                continue;
            }
            let id = match memory.in_flight.get_mut(&key) {
                Some(flight) => {
                    flight.claims += 1;
                    flight.id
                }
                None => {
                    self.counters.prefetched.fetch_add(1, Ordering::Relaxed);
                    self.start_fetch(&mut memory, obj, key, false).1
                }
            };
            claims.held.push((index, id));
        }
        if claims.held.len() >= PRUNE_CLAIMS_AT {
            claims.held.retain(|&(index, id)| {
                memory
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
        let mut memory = self.memory.lock();
        for (index, id) in claims.held {
            let key = block_key(obj, index);
            let Some(flight) = memory.in_flight.get_mut(&key) else {
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
            if memory.stop(&key) {
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
        self.memory
            .lock()
            .drop_streamed(obj, blocks, &self.counters);
    }

    /// For a read of `range` of `obj`, in one look at the memory: the unit (an ASDF block,
    /// a FITS HDU) holding its start, as far as the format-aware prefetch learnt (the whole
    /// object when nothing is known), and whether a format-aware fragment holds a byte of
    /// it (a header read, which read-ahead does not count as a run of data).
    pub fn unit_and_header(&self, obj: &ObjectRef, range: &Range<u64>) -> (Range<u64>, bool) {
        let memory = self.memory.lock();
        (
            memory.unit_of(obj, range.start),
            memory.fragments.touch(obj, range),
        )
    }

    /// Starts the fetch of block `key` of `obj` as its own task (for a reader when `wanted`,
    /// else for read-ahead, claimed once); its future and id.
    fn start_fetch(
        self: &Arc<Self>,
        memory: &mut Memory,
        obj: &ObjectRef,
        key: BlockKey,
        wanted: bool,
    ) -> (Fetch, u64) {
        let index = key.index;
        let start = index * self.block_size;
        let range = start..(start + self.block_size).min(obj.size);
        let reserve = range.end - range.start;
        memory.reserve(reserve, &self.counters);
        let fetcher = Arc::clone(self);
        let task_key = key.clone();
        let object = obj.clone();
        let id = NEXT_FETCH_ID.fetch_add(1, Ordering::Relaxed);
        // In the span of the request that asked first (its FUSE request, in the log).
        let task = tokio::spawn(
            async move {
                let result = fetcher.load_block(&task_key, range, &object).await;
                fetcher
                    .memory
                    .lock()
                    .finish(task_key, id, &result, &fetcher.counters);
                result
            }
            .in_current_span(),
        );
        let abort = task.abort_handle();
        let fetch = shared_fetch(task, obj, "block");
        memory.in_flight.insert(
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
        let pending = Arc::clone(&self.pending_disk_bytes);
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

    /// One block from the store. When a format-aware fragment already holds part of it
    /// (a FITS header window, the head), only the rest is fetched and the block is put
    /// together: a full read of a file costs no byte twice.
    async fn fetch_block(&self, key: &BlockKey, range: Range<u64>) -> Result<Bytes, StoreError> {
        let get = |r: Range<u64>| self.store.get_range(&key.bucket, &key.key, &key.etag, r);
        let overlapping = self.memory.lock().fragments.overlapping(key, &range);
        let Some((held, frag_start, fragment)) = overlapping else {
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

    /// The fetch of an exact range of `obj`, started unless already under way or done;
    /// `then` runs on the fetched bytes before any reader sees them.
    pub fn fragment(
        self: &Arc<Self>,
        obj: &ObjectRef,
        range: Range<u64>,
        then: Option<AfterFetch>,
    ) -> Fetch {
        let mut memory = self.memory.lock();
        if let Some(fetch) = memory.fragments.exactly(obj, &range) {
            return fetch;
        }
        self.counters.hint_fetches.fetch_add(1, Ordering::Relaxed);
        let fetcher = Arc::clone(self);
        let (o, r) = (obj.clone(), range.clone());
        // In the span of the request that asked (its FUSE request, in the log).
        let task = tokio::spawn(
            async move {
                let result = fetcher.store.get_range(&o.bucket, &o.key, &o.etag, r).await;
                if let (Ok(bytes), Some(then)) = (&result, then) {
                    then(&fetcher, &o, bytes);
                }
                result
            }
            .in_current_span(),
        );
        let fetch = shared_fetch(task, obj, "range");
        memory.fragments.push(obj.clone(), range, fetch.clone());
        fetch
    }
}
