//! The format-aware side of the block cache: *fragments* (exact small ranges fetched on
//! open by the plans of [`super::hints`]: the head of a FITS or ASDF file, the FITS headers
//! after it, the ASDF block index), reads answered from them, blocks put together from a
//! fragment and the rest of their range, and the unit maps (ASDF blocks, FITS HDUs) that
//! bound read-ahead.
//!
//! Fragments are few and short-lived (at most [`MAX_FRAGMENTS`], oldest dropped first);
//! blocks stay the cache's unit of storage, fragments only spare readers whole blocks.

use std::collections::VecDeque;
use std::ops::Range;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use tracing::Instrument;

use bytes::{Bytes, BytesMut};
use lru::LruCache;

use super::key::{block_key, BlockKey, ObjectRef};
use super::{hints, shared_fetch, BlockCache, Fetch};
use crate::store::StoreError;

/// Fragments kept at most (each at most a few hundred KiB: a few MiB in all).
const MAX_FRAGMENTS: usize = 24;

/// Files whose unit starts are remembered.
const MAX_UNIT_MAPS: usize = 256;

/// The empty map of ASDF unit starts, bounded to [`MAX_UNIT_MAPS`] files.
pub(super) fn unit_maps() -> LruCache<ObjectRef, Arc<Vec<u64>>> {
    LruCache::new(std::num::NonZeroUsize::new(MAX_UNIT_MAPS).unwrap_or(std::num::NonZeroUsize::MIN))
}

/// Work to start once a fragment's bytes are in (the FITS plan needs the head's headers).
type AfterFetch = Box<dyn FnOnce(&Arc<BlockCache>, &ObjectRef, &Bytes) + Send>;

/// An exact byte range of one object version, fetched (or being fetched) on open.
struct Fragment {
    object: ObjectRef,
    range: Range<u64>,
    fetch: Fetch,
}

/// The fragments held, oldest first.
#[derive(Default)]
pub(super) struct Fragments {
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

    fn push(&mut self, fragment: Fragment) {
        self.held.push_back(fragment);
        while self.held.len() > MAX_FRAGMENTS {
            self.held.pop_front();
        }
    }

    pub(super) fn is_empty(&self) -> bool {
        self.held.is_empty()
    }

    pub(super) fn clear(&mut self) {
        self.held.clear();
    }
}

impl BlockCache {
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
                || inner.fragments.of_object(obj).next().is_some()
            {
                return;
            }
        }
        if let Some(disk) = &self.disk {
            if disk.has(&block_key(obj, 0).on_disk(self.block_size)) {
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
                    let (known, to_check) = hints::fits_units(head, obj.size);
                    cache.add_units(obj, &known);
                    let to_check = Arc::new(to_check);
                    for range in hints::fits_plan(head, obj.size) {
                        let (to_check, from) = (Arc::clone(&to_check), range.start);
                        let confirm: AfterFetch = Box::new(move |cache, obj, bytes| {
                            let found = hints::fits_units_at(bytes, from, &to_check, obj.size);
                            cache.add_units(obj, &found);
                        });
                        drop(cache.fragment(obj, range, Some(confirm)));
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

    /// Adds unit starts to what is known of `obj` (FITS headers arrive one fragment at a
    /// time).
    fn add_units(&self, obj: &ObjectRef, starts: &[u64]) {
        if starts.is_empty() {
            return;
        }
        let mut inner = self.inner.lock();
        let mut units: Vec<u64> = inner
            .units
            .peek(obj)
            .map(|u| u.to_vec())
            .unwrap_or_default();
        units.extend_from_slice(starts);
        units.sort_unstable();
        units.dedup();
        inner.units.put(obj.clone(), Arc::new(units));
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
        if let Some(f) = inner.fragments.of_object(obj).find(|f| f.range == range) {
            return f.fetch.clone();
        }
        self.counters.hint_fetches.fetch_add(1, Ordering::Relaxed);
        let cache = Arc::clone(self);
        let (o, r) = (obj.clone(), range.clone());
        // In the span of the request that asked (its FUSE request, in the log).
        let task = tokio::spawn(
            async move {
                let result = cache.store.get_range(&o.bucket, &o.key, &o.etag, r).await;
                if let (Ok(bytes), Some(then)) = (&result, then) {
                    then(&cache, &o, bytes);
                }
                result
            }
            .in_current_span(),
        );
        let fetch = shared_fetch(task, obj, "range");
        inner.fragments.push(Fragment {
            object: obj.clone(),
            range,
            fetch: fetch.clone(),
        });
        fetch
    }

    /// A fragment holding all of `range` (where it starts, and its fetch), when some of
    /// the `blocks` of that range would have to be fetched.
    pub(super) fn fragment_for(
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
        let holding = inner
            .fragments
            .of_object(obj)
            .find(|f| f.range.start <= range.start && range.end <= f.range.end)
            .map(|f| (f.range.start, f.fetch.clone()));
        holding
    }

    /// One block from the store. When a format-aware fragment already holds part of it
    /// (a FITS header window, the head), only the rest is fetched and the block is put
    /// together: a full read of a file costs no byte twice.
    pub(super) async fn fetch_block(
        &self,
        key: &BlockKey,
        range: Range<u64>,
    ) -> Result<Bytes, StoreError> {
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
        let widest = inner
            .fragments
            .of(&key.bucket, &key.key, &key.etag)
            .filter(|f| f.range.start < range.end && range.start < f.range.end)
            .map(|f| {
                let held = f.range.start.max(range.start)..f.range.end.min(range.end);
                (held, f.range.start, f.fetch.clone())
            })
            .max_by_key(|(held, _, _)| held.end - held.start);
        widest
    }
}
