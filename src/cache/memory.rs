//! What the cache holds in memory, within one byte budget: the blocks (one LRU shared by
//! the whole mount), the blocks being fetched (their bytes reserved against the budget),
//! the blocks streamed past, and the *fragments*: exact small ranges of objects fetched on
//! open by the format-aware plans (`plans.rs`: the head of a FITS or ASDF file, the FITS
//! headers after it, the ASDF block index), with the unit maps (ASDF blocks, FITS HDUs)
//! they teach, which bound read-ahead. State only, always used under the cache's one lock;
//! fetching lives in `fetch.rs`.
//!
//! A fetch under way is held as a future any number of readers can wait on ([`Fetch`]):
//! the GET runs as its own task, so it completes (and fills the cache) even when the reader
//! that started it goes away. Fragments are few and short-lived (at most [`MAX_FRAGMENTS`],
//! oldest dropped first); blocks stay the cache's unit of storage, fragments only spare
//! readers whole blocks.

use std::collections::{HashMap, VecDeque};
use std::ops::Range;
use std::sync::atomic::Ordering;
use std::sync::Arc;

use bytes::Bytes;
use futures::future::{BoxFuture, FutureExt, Shared};
use lru::LruCache;

use super::counters::CacheCounters;
use super::hints;
use super::key::{block_key, BlockKey, ObjectRef};
use crate::store::{StoreError, StoreErrorKind};

/// Streamed blocks remembered (a key each: 8192 blocks is 8 GiB of file at 1 MiB blocks).
const STREAMED_REMEMBERED: usize = 8192;

/// A block being fetched.
pub struct InFlight {
    pub fetch: Fetch,
    pub abort: tokio::task::AbortHandle,
    /// A reader waits for it: it is never stopped.
    pub wanted: bool,
    /// Open handles that asked for it ahead of their reads and were not closed since.
    pub claims: u32,
    /// Its bytes, counted in [`Memory::reserved`] until it ends.
    pub reserve: u64,
    /// Tells this fetch from a later fetch of the same block (after it was stopped).
    pub id: u64,
}

/// The cache's memory, guarded by one lock.
pub struct Memory {
    /// Bytes of blocks and fetches together at most (memory bound).
    capacity: u64,
    pub blocks: LruCache<BlockKey, Bytes>,
    pub bytes: u64,
    /// Bytes of blocks being fetched: they count against the budget too, so that the
    /// cache and its fetches together stay within `capacity`.
    pub reserved: u64,
    pub in_flight: HashMap<BlockKey, InFlight>,
    /// Format-aware prefetches.
    pub fragments: Fragments,
    /// Where the units (ASDF blocks, FITS HDUs) of files start, as their plans learnt:
    /// read-ahead stops at the end of the unit being read.
    units: LruCache<ObjectRef, Arc<Vec<u64>>>,
    /// Blocks dropped after a stream read past them: their bytes are in the kernel's page
    /// cache, which answers any later reader of that range without asking mastfs, so
    /// read-ahead skips them (8 readers of 8 parts of a file: each reader's window runs
    /// into the part the next one has just read).
    pub streamed: LruCache<BlockKey, ()>,
}

impl Memory {
    pub fn new(capacity: u64) -> Memory {
        Memory {
            capacity,
            blocks: LruCache::unbounded(),
            bytes: 0,
            reserved: 0,
            in_flight: HashMap::new(),
            fragments: Fragments::default(),
            units: unit_maps(),
            streamed: LruCache::new(
                std::num::NonZeroUsize::new(STREAMED_REMEMBERED)
                    .unwrap_or(std::num::NonZeroUsize::MIN),
            ),
        }
    }

    /// Reserves `bytes` for a fetch starting now, evicting to stay within budget.
    pub fn reserve(&mut self, bytes: u64, counters: &CacheCounters) {
        self.reserved += bytes;
        self.evict_to_budget(counters);
    }

    /// Takes the fetch of `key` off, stopping its task and returning its reservation.
    pub fn stop(&mut self, key: &BlockKey) -> bool {
        match self.in_flight.remove(key) {
            Some(flight) => {
                flight.abort.abort();
                self.reserved -= flight.reserve;
                true
            }
            None => false,
        }
    }

    /// Moves a finished fetch from in-flight into the LRU, evicting to stay within budget.
    pub fn finish(
        &mut self,
        key: BlockKey,
        id: u64,
        result: &Result<Bytes, StoreError>,
        counters: &CacheCounters,
    ) {
        // A stopped fetch that got its bytes anyway was already taken off (and its
        // reservation returned), and a later fetch of the same block may be in its place.
        if self.in_flight.get(&key).is_some_and(|f| f.id == id) {
            if let Some(flight) = self.in_flight.remove(&key) {
                self.reserved -= flight.reserve;
            }
        }
        let Ok(data) = result else { return };
        let len = data.len() as u64;
        // Without an ETag nothing pins the version: a block kept here could be handed out
        // beside a block of a newer version. Such objects are read through, never cached.
        if len > self.capacity || key.etag.is_empty() {
            return;
        }
        if let Some(old) = self.blocks.put(key, data.clone()) {
            self.bytes -= old.len() as u64;
        }
        self.bytes += len;
        self.evict_to_budget(counters);
    }

    /// Evicts least recently used blocks until cached plus in-flight bytes fit the budget.
    fn evict_to_budget(&mut self, counters: &CacheCounters) {
        while self.bytes + self.reserved > self.capacity {
            match self.blocks.pop_lru() {
                Some((_, evicted)) => {
                    self.bytes -= evicted.len() as u64;
                    counters.evictions.fetch_add(1, Ordering::Relaxed);
                }
                None => break,
            }
        }
    }

    /// A fragment holding all of `range` of `obj` (where it starts, and its fetch), when
    /// some of the `blocks` of that range would have to be fetched.
    pub fn fragment_for(
        &self,
        obj: &ObjectRef,
        range: Range<u64>,
        blocks: Range<u64>,
    ) -> Option<(u64, Fetch)> {
        if self.fragments.is_empty() {
            return None;
        }
        let all_there = blocks.clone().all(|i| {
            let key = block_key(obj, i);
            self.blocks.contains(&key) || self.in_flight.contains_key(&key)
        });
        if all_there {
            return None;
        }
        self.fragments.holding(obj, &range)
    }

    pub fn set_units(&mut self, obj: &ObjectRef, units: Vec<u64>) {
        if !units.is_empty() {
            self.units.put(obj.clone(), Arc::new(units));
        }
    }

    /// Adds unit starts to what is known of `obj` (FITS headers arrive one fragment at a
    /// time).
    pub fn add_units(&mut self, obj: &ObjectRef, starts: &[u64]) {
        if starts.is_empty() {
            return;
        }
        let mut units: Vec<u64> = self.units.peek(obj).map(|u| u.to_vec()).unwrap_or_default();
        units.extend_from_slice(starts);
        units.sort_unstable();
        units.dedup();
        self.units.put(obj.clone(), Arc::new(units));
    }

    /// The unit holding `offset` of `obj` as its plan learnt; the whole object when
    /// nothing is known.
    pub fn unit_of(&self, obj: &ObjectRef, offset: u64) -> Range<u64> {
        match self.units.peek(obj) {
            Some(units) => hints::unit_of(units, offset, obj.size),
            None => 0..obj.size,
        }
    }

    /// Drops `blocks` of `obj` that a streaming reader has read past (see
    /// [`Memory::streamed`]).
    pub fn drop_streamed(&mut self, obj: &ObjectRef, blocks: Range<u64>, counters: &CacheCounters) {
        for index in blocks {
            let key = block_key(obj, index);
            if let Some(data) = self.blocks.pop(&key) {
                self.bytes -= data.len() as u64;
                counters.streamed_dropped.fetch_add(1, Ordering::Relaxed);
            }
            self.streamed.put(key, ());
        }
    }

    /// Drops every cached block and fragment (fetches in flight still complete and are kept).
    pub fn clear(&mut self) {
        self.blocks.clear();
        self.fragments.clear();
        self.units.clear();
        self.streamed.clear();
        self.bytes = 0;
    }
}

/// The bytes of a block or range being fetched, shared by whoever waits for them.
pub type Fetch = Shared<BoxFuture<'static, Result<Bytes, StoreError>>>;

/// A fetch task as a future any number of readers can wait on. A task that panicked or was
/// cancelled becomes an `Unavailable` error naming the object (`what`: "block", "range").
pub fn shared_fetch(
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

/// Fragments kept at most (each at most a few hundred KiB: a few MiB in all).
const MAX_FRAGMENTS: usize = 24;

/// Files whose unit starts are remembered.
const MAX_UNIT_MAPS: usize = 256;

/// The empty map of unit starts, bounded to [`MAX_UNIT_MAPS`] files.
fn unit_maps() -> LruCache<ObjectRef, Arc<Vec<u64>>> {
    LruCache::new(std::num::NonZeroUsize::new(MAX_UNIT_MAPS).unwrap_or(std::num::NonZeroUsize::MIN))
}

/// An exact byte range of one object version, fetched (or being fetched) on open.
struct Fragment {
    object: ObjectRef,
    range: Range<u64>,
    fetch: Fetch,
}

impl Fragment {
    fn overlaps(&self, range: &Range<u64>) -> bool {
        self.range.start < range.end && range.start < self.range.end
    }
}

/// The fragments held, oldest first.
#[derive(Default)]
pub struct Fragments {
    held: VecDeque<Fragment>,
}

impl Fragments {
    /// The fragments of one object version.
    fn of<'a>(
        &'a self,
        bucket: &'a str,
        key: &'a str,
        etag: &'a str,
    ) -> impl Iterator<Item = &'a Fragment> + 'a {
        self.held.iter().filter(move |f| {
            &*f.object.etag == etag && &*f.object.key == key && &*f.object.bucket == bucket
        })
    }

    fn of_object<'a>(&'a self, obj: &'a ObjectRef) -> impl Iterator<Item = &'a Fragment> + 'a {
        self.of(&obj.bucket, &obj.key, &obj.etag)
    }

    /// True when some fragment of `obj` is held.
    pub fn any_of(&self, obj: &ObjectRef) -> bool {
        self.of_object(obj).next().is_some()
    }

    /// The fetch of exactly `range` of `obj`, if held.
    pub fn exactly(&self, obj: &ObjectRef, range: &Range<u64>) -> Option<Fetch> {
        self.of_object(obj)
            .find(|f| f.range == *range)
            .map(|f| f.fetch.clone())
    }

    /// A fragment holding all of `range` of `obj`: where it starts, and its fetch.
    pub fn holding(&self, obj: &ObjectRef, range: &Range<u64>) -> Option<(u64, Fetch)> {
        self.of_object(obj)
            .find(|f| f.range.start <= range.start && range.end <= f.range.end)
            .map(|f| (f.range.start, f.fetch.clone()))
    }

    /// True when some fragment of `obj` holds a byte of `range` (a header read).
    pub fn touch(&self, obj: &ObjectRef, range: &Range<u64>) -> bool {
        self.of_object(obj).any(|f| f.overlaps(range))
    }

    /// The widest part of `range` a fragment of the block's object holds, where that
    /// fragment starts, and its fetch.
    pub fn overlapping(
        &self,
        key: &BlockKey,
        range: &Range<u64>,
    ) -> Option<(Range<u64>, u64, Fetch)> {
        self.of(&key.bucket, &key.key, &key.etag)
            .filter(|f| f.overlaps(range))
            .map(|f| {
                let held = f.range.start.max(range.start)..f.range.end.min(range.end);
                (held, f.range.start, f.fetch.clone())
            })
            .max_by_key(|(held, _, _)| held.end - held.start)
    }

    pub fn push(&mut self, object: ObjectRef, range: Range<u64>, fetch: Fetch) {
        self.held.push_back(Fragment {
            object,
            range,
            fetch,
        });
        while self.held.len() > MAX_FRAGMENTS {
            self.held.pop_front();
        }
    }

    pub fn is_empty(&self) -> bool {
        self.held.is_empty()
    }

    pub fn clear(&mut self) {
        self.held.clear();
    }
}
