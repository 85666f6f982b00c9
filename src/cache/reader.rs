//! One open file's reads: the per-handle side of the block cache.
//!
//! A [`Reader`] is made when a file is opened ([`super::BlockCache::open`]) and pins one
//! object version. A read goes, top to bottom:
//!
//! ```text
//! Reader::read(offset, len)
//!   ├─ Fetcher::unit_and_header  the unit (ASDF block, FITS HDU) being read; a header?
//!   ├─ ReadAhead::on_read_in / near_ahead / sweep_ahead / read_past
//!   │                            this handle's read-ahead policy (readahead.rs): blocks
//!   │                            to fetch ahead (a stream's window, or a short run's
//!   │                            near window when no header fragment holds the read, or
//!   │                            a random reader's sweep, sweep.rs), blocks streamed past
//!   ├─ Fetcher::prefetch         start those fetches, claimed by this handle (fetch.rs)
//!   ├─ read_range                the bytes: from a format-aware fragment, else from the
//!   │    └─ Fetcher::block       blocks: hit, join a fetch under way, or a new fetch
//!   │         └─ (task) disk cache, else one ranged GET; write-behind; into the LRU
//!   └─ Fetcher::drop_streamed    hand back blocks the kernel's page cache holds now
//! ```
//!
//! Closing ([`Reader::close`]) gives up the handle's read-ahead claims: fetches nobody else
//! asked for and no reader waits for are stopped, except where another open reader of the
//! same object is heading ([`Readers`], the registry of live readers by object).

use std::collections::HashMap;
use std::ops::Range;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use bytes::{Bytes, BytesMut};
use parking_lot::Mutex;

use super::fetch::{Claims, Fetcher};
use super::key::ObjectRef;
use super::readahead::ReadAhead;
use crate::store::{StoreError, StoreErrorKind};

static NEXT_READER_ID: AtomicU64 = AtomicU64::new(0);

/// The read-ahead state of one reader, shared with the registry so that another reader's
/// close can see where this one is heading.
type Heading = Arc<Mutex<ReadAhead>>;

/// The open readers of each object version, by object.
#[derive(Default)]
pub struct Readers {
    live: Mutex<HashMap<ObjectRef, Vec<(u64, Heading)>>>,
}

impl Readers {
    fn join(&self, obj: &ObjectRef, id: u64, readahead: Heading) {
        self.live
            .lock()
            .entry(obj.clone())
            .or_default()
            .push((id, readahead));
    }

    fn leave(&self, obj: &ObjectRef, id: u64) {
        let mut live = self.live.lock();
        if let Some(readers) = live.get_mut(obj) {
            readers.retain(|(other, _)| *other != id);
            if readers.is_empty() {
                live.remove(obj);
            }
        }
    }

    /// Objects with open readers.
    #[cfg(test)]
    pub(super) fn objects(&self) -> usize {
        self.live.lock().len()
    }

    /// Where the open readers of `obj` are heading: read-ahead there is theirs soon (8
    /// readers of 8 parts of one file).
    fn heading_for(&self, obj: &ObjectRef) -> Vec<Range<u64>> {
        self.live
            .lock()
            .get(obj)
            .map(|readers| {
                readers
                    .iter()
                    .map(|(_, readahead)| readahead.lock().heading_for())
                    .collect()
            })
            .unwrap_or_default()
    }
}

/// The reads of one open file handle: its pinned object version, its read-ahead state and
/// the read-ahead fetches it asked for.
pub struct Reader {
    object: ObjectRef,
    id: u64,
    fetcher: Arc<Fetcher>,
    readahead: Heading,
    /// The read-ahead fetches this handle asked for: given up on close.
    claims: Mutex<Claims>,
    readers: Arc<Readers>,
}

impl Reader {
    pub(super) fn new(
        object: ObjectRef,
        fetcher: Arc<Fetcher>,
        readahead: ReadAhead,
        readers: Arc<Readers>,
    ) -> Reader {
        let id = NEXT_READER_ID.fetch_add(1, Ordering::Relaxed);
        let readahead = Arc::new(Mutex::new(readahead));
        readers.join(&object, id, Arc::clone(&readahead));
        Reader {
            object,
            id,
            fetcher,
            readahead,
            claims: Mutex::new(Claims::default()),
            readers,
        }
    }

    /// The object version this reader pinned.
    pub fn object(&self) -> &ObjectRef {
        &self.object
    }

    /// Reads up to `len` bytes at `offset` (fewer at the end of the object), fetching ahead
    /// when this handle streams.
    pub async fn read(&self, offset: u64, len: u64) -> Result<Bytes, StoreError> {
        let object = &self.object;
        let (unit, header_read) = self
            .fetcher
            .unit_and_header(object, &(offset..offset.saturating_add(len)));
        let (ahead, behind) = {
            let mut ra = self.readahead.lock();
            let mut ahead = ra.on_read_in(offset, len, object.size, unit.clone());
            if ahead.is_empty() && !header_read {
                ahead = ra.near_ahead(object.size);
            }
            if ahead.is_empty() {
                let was_sweeping = ra.sweeping();
                ahead = ra.sweep_ahead(object.size);
                if !was_sweeping && ra.sweeping() {
                    self.fetcher.counters.sweeps.fetch_add(1, Ordering::Relaxed);
                    tracing::debug!(
                        key = %object.key,
                        bytes = object.size,
                        "random reader: the rest of the object is fetched in the background"
                    );
                }
            }
            (ahead, ra.read_past())
        };
        if !ahead.is_empty() {
            self.fetcher
                .prefetch(object, ahead, &mut self.claims.lock());
        }
        let data = read_range(&self.fetcher, object, offset, len).await?;
        self.fetcher.drop_streamed(object, behind);
        Ok(data)
    }

    /// Closes the handle: its read-ahead that no other handle asked for, no reader waits
    /// for and no other open reader of the object is heading for is stopped. Returns how
    /// many fetches were stopped.
    pub fn close(&self) -> usize {
        self.readers.leave(&self.object, self.id);
        // Most closes (header walks, cutouts) hold no read-ahead: nothing to give up, and no
        // reason to look at the other readers.
        let claims = std::mem::take(&mut *self.claims.lock());
        if claims.is_empty() {
            return 0;
        }
        let others = self.readers.heading_for(&self.object);
        let stopped = self.fetcher.release_claims(&self.object, claims, &others);
        if stopped > 0 {
            tracing::debug!(key = %self.object.key, stopped, "closed: read-ahead stopped");
        }
        stopped
    }
}

impl Drop for Reader {
    fn drop(&mut self) {
        self.readers.leave(&self.object, self.id);
    }
}

/// Reads up to `len` bytes of `obj` at `offset` (fewer at the end of the object): from a
/// format-aware fragment that holds them all while their blocks are not cached, else from
/// the blocks.
pub(super) async fn read_range(
    fetcher: &Arc<Fetcher>,
    obj: &ObjectRef,
    offset: u64,
    len: u64,
) -> Result<Bytes, StoreError> {
    let end = offset.saturating_add(len).min(obj.size);
    if offset >= end {
        return Ok(Bytes::new());
    }
    let counters = &fetcher.counters;
    let blocks = fetcher.blocks_of(obj, offset..end);
    let fragment = fetcher
        .memory
        .lock()
        .fragment_for(obj, offset..end, blocks.clone());
    if let Some((start, fetch)) = fragment {
        if let Ok(data) = fetch.await {
            let from = (offset - start) as usize;
            if let Ok(out) = slice_checked(&data, from, (end - offset) as usize, obj) {
                counters.hint_hits.fetch_add(1, Ordering::Relaxed);
                counters
                    .bytes_served
                    .fetch_add(out.len() as u64, Ordering::Relaxed);
                return Ok(out);
            }
        }
        // A failed fragment is no answer: the blocks are.
    }
    let block_size = fetcher.block_size();
    let fetches: Vec<_> = blocks.clone().map(|i| fetcher.block(obj, i)).collect();
    let datas = futures::future::try_join_all(fetches).await?;
    let out = if datas.len() == 1 {
        let start = (offset - blocks.start * block_size) as usize;
        slice_checked(&datas[0], start, (end - offset) as usize, obj)?
    } else {
        let mut buf = BytesMut::with_capacity((end - offset) as usize);
        for (i, data) in blocks.clone().zip(datas.iter()) {
            let block_start = i * block_size;
            let from = offset.max(block_start) - block_start;
            let to = end.min(block_start + block_size) - block_start;
            buf.extend_from_slice(&slice_checked(
                data,
                from as usize,
                (to - from) as usize,
                obj,
            )?);
        }
        buf.freeze()
    };
    counters
        .bytes_served
        .fetch_add(out.len() as u64, Ordering::Relaxed);
    Ok(out)
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
