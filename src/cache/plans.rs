//! The format-aware plans run when a file is opened: for a FITS or ASDF file, its head is
//! fetched as a small fragment instead of a whole block, then the header or index ranges
//! its format says come next (the parsing is in [`super::hints`]). A read wholly inside a
//! fragment is answered from it while its blocks are not cached, so reading headers costs
//! kilobytes, not blocks; what the headers say of the file's units (ASDF blocks, FITS HDUs)
//! bounds read-ahead.

use std::sync::Arc;

use super::fetch::{AfterFetch, Fetcher};
use super::hints;
use super::key::{block_key, ObjectRef};

/// Starts the plan of `obj`'s format. Nothing happens for other files, small files, files
/// whose first block is cached or on disk already, or a second open.
pub fn hint_open(fetcher: &Arc<Fetcher>, obj: &ObjectRef) {
    let Some(format) = hints::format_of(&obj.key) else {
        return;
    };
    if obj.size <= hints::HEAD_LEN || obj.size <= fetcher.block_size() {
        return;
    }
    let first = block_key(obj, 0);
    {
        let memory = fetcher.memory.lock();
        if memory.blocks.contains(&first)
            || memory.in_flight.contains_key(&first)
            || memory.fragments.any_of(obj)
        {
            return;
        }
    }
    if let Some(disk) = fetcher.disk() {
        if disk.has(&first.on_disk(fetcher.block_size())) {
            return;
        }
    }
    match format {
        hints::Format::Asdf => {
            drop(fetcher.fragment(obj, 0..hints::HEAD_LEN, None));
            if let Some(tail) = hints::asdf_tail(obj.size) {
                let tail_start = tail.start;
                let units: AfterFetch = Box::new(move |fetcher: &Arc<Fetcher>, obj, tail| {
                    let units = hints::asdf_units(tail, tail_start, obj.size);
                    fetcher.memory.lock().set_units(obj, units);
                });
                drop(fetcher.fragment(obj, tail, Some(units)));
            }
        }
        hints::Format::Fits => {
            // The plan is started before the head is handed to anyone, so a reader that
            // goes straight on to the next header finds its fetch under way.
            let plan: AfterFetch = Box::new(|fetcher: &Arc<Fetcher>, obj, head| {
                let (known, to_check) = hints::fits_units(head, obj.size);
                fetcher.memory.lock().add_units(obj, &known);
                let to_check = Arc::new(to_check);
                for range in hints::fits_plan(head, obj.size) {
                    let (to_check, from) = (Arc::clone(&to_check), range.start);
                    let confirm: AfterFetch = Box::new(move |fetcher, obj, bytes| {
                        let found = hints::fits_units_at(bytes, from, &to_check, obj.size);
                        fetcher.memory.lock().add_units(obj, &found);
                    });
                    drop(fetcher.fragment(obj, range, Some(confirm)));
                }
            });
            drop(fetcher.fragment(obj, 0..hints::HEAD_LEN, Some(plan)));
        }
    }
}
