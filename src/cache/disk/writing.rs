//! Which objects are being written to the disk cache, so that an object's whole-object file
//! (for passthrough) is built as soon as it is wholly on disk: when the last of its writes
//! under way lands, once its last block is among them (read-ahead may write the last block
//! before blocks in the middle). Then the next open (often in a later mount) is served by
//! passthrough at once instead of copying the object first. Only bookkeeping here; the
//! writes and the build are [`super::DiskCache::write`]'s.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};

use parking_lot::Mutex;

use crate::cache::key::ObjectRef;

/// Objects whose disk writes are tracked for whole-object files before finished ones are
/// forgotten (an object read in part keeps its entry until then).
const MAX_OBJECTS_WRITING: usize = 4096;

/// A block handed to the disk and not yet written ([`super::DiskCache::begin_write`]).
#[derive(Debug)]
pub struct PendingWrite {
    pub(super) object: ObjectRef,
    pub(super) index: u64,
    pub(super) block_size: u64,
    /// Counted for its object's whole-object file.
    whole: bool,
}

/// Disk writes under way per object version, and whether its last block is among those
/// written since the count was last zero.
#[derive(Default)]
pub struct WholeWrites {
    /// Build whole-object files at all (on while passthrough is: without it nobody opens
    /// them).
    on: AtomicBool,
    writing: Mutex<HashMap<ObjectRef, (u32, bool)>>,
}

impl WholeWrites {
    pub fn set(&self, on: bool) {
        self.on.store(on, Ordering::Release);
    }

    /// Counts a write of block `index` of `object` about to be handed to the disk.
    pub fn begin(&self, object: &ObjectRef, index: u64, block_size: u64) -> PendingWrite {
        let whole = self.on.load(Ordering::Acquire);
        if whole {
            let last_block = object.size.div_ceil(block_size).saturating_sub(1);
            let mut writing = self.writing.lock();
            let entry = writing.entry(object.clone()).or_insert((0, false));
            entry.0 += 1;
            entry.1 |= index == last_block;
        }
        PendingWrite {
            object: object.clone(),
            index,
            block_size,
            whole,
        }
    }

    /// Counts `write` as written; true when it was the last of its object's writes under
    /// way and the object's last block has been written: time to try the whole-object
    /// file. A try that finds a block missing keeps the object's entry, so the write that
    /// brings the missing block tries again.
    pub fn end(&self, write: &PendingWrite) -> bool {
        if !write.whole {
            return false;
        }
        let mut writing = self.writing.lock();
        let (under_way, last_written) = match writing.get_mut(&write.object) {
            Some(entry) => {
                entry.0 = entry.0.saturating_sub(1);
                *entry
            }
            None => (1, false),
        };
        if under_way == 0 && !last_written {
            writing.remove(&write.object);
        }
        under_way == 0 && last_written
    }

    /// Records the outcome of a try: a built object is forgotten.
    pub fn tried(&self, object: &ObjectRef, built: bool) {
        let mut writing = self.writing.lock();
        if built {
            writing.remove(object);
        }
        // Objects read in part keep an entry; a bound keeps those few.
        if writing.len() > MAX_OBJECTS_WRITING {
            writing.retain(|_, (under_way, _)| *under_way > 0);
        }
    }
}
