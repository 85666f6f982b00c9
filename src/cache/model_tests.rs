//! The block cache against a reference model (as in mountpoint-s3's reference-model
//! tests): random sequences of reads, bursts of concurrent readers and read-ahead given up
//! on close, over a few objects of the in-memory store. After every step: each read
//! returned exactly the model object's bytes, the cache stays within its byte budget, a
//! burst of readers cost at most one GET per block (single flight), and read-ahead nobody
//! else wanted was stopped when its handle closed.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use proptest::prelude::*;

use super::fetch::Claims;
use super::*;
use crate::store::memory::MemoryStore;

const BLOCK: u64 = 4096;
/// Six blocks: small enough that the objects below do not all fit.
const CAPACITY: u64 = 6 * BLOCK;
const SIZES: [u64; 3] = [5 * BLOCK + 123, 3 * BLOCK, 1000];

#[derive(Clone, Debug)]
enum Op {
    Read {
        obj: usize,
        offset: u64,
        len: u64,
    },
    Burst {
        obj: usize,
        offset: u64,
        len: u64,
        readers: usize,
    },
    PrefetchThenClose {
        obj: usize,
        first: u64,
        count: u64,
    },
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        (0..3usize, 0..7 * BLOCK, 1..3 * BLOCK).prop_map(|(obj, offset, len)| Op::Read {
            obj,
            offset,
            len
        }),
        (0..3usize, 0..7 * BLOCK, 1..3 * BLOCK, 2..6usize).prop_map(
            |(obj, offset, len, readers)| Op::Burst {
                obj,
                offset,
                len,
                readers
            }
        ),
        (0..3usize, 0..6u64, 1..4u64).prop_map(|(obj, first, count)| Op::PrefetchThenClose {
            obj,
            first,
            count
        }),
    ]
}

fn content(i: usize) -> Bytes {
    (0..SIZES[i])
        .map(|b| (b as u8).wrapping_mul(13).wrapping_add(i as u8 * 71))
        .collect::<Vec<u8>>()
        .into()
}

fn object(i: usize) -> ObjectRef {
    ObjectRef {
        bucket: "b".into(),
        key: format!("k{i}").into(),
        etag: "e".into(),
        size: SIZES[i],
    }
}

/// The model's answer to a read: the object's bytes in the range, clipped to its size.
fn expected(model: &[Bytes], obj: usize, offset: u64, len: u64) -> Bytes {
    let data = &model[obj];
    let start = offset.min(data.len() as u64) as usize;
    let end = offset.saturating_add(len).min(data.len() as u64) as usize;
    data.slice(start..end)
}

async fn run(ops: Vec<Op>) -> Result<(), TestCaseError> {
    let store = Arc::new(MemoryStore {
        delay: Duration::from_millis(2),
        ..MemoryStore::new()
    });
    let model: Vec<Bytes> = (0..SIZES.len()).map(content).collect();
    for (i, data) in model.iter().enumerate() {
        store.put("b", &format!("k{i}"), "e", data.clone());
    }
    let cache = BlockCache::new(store.clone(), BLOCK, CAPACITY);
    for op in ops {
        match op.clone() {
            Op::Read { obj, offset, len } => {
                let got = cache.read(&object(obj), offset, len).await;
                let got = got.map_err(|e| TestCaseError::fail(format!("{op:?}: {e}")))?;
                prop_assert_eq!(got, expected(&model, obj, offset, len), "{:?}", op);
            }
            Op::Burst {
                obj,
                offset,
                len,
                readers,
            } => {
                let before = store.get_count.load(Ordering::SeqCst);
                let o = object(obj);
                let blocks = cache.blocks_of(&o, offset..offset.saturating_add(len));
                let reads: Vec<_> = (0..readers)
                    .map(|_| {
                        let (cache, o) = (cache.clone(), o.clone());
                        tokio::spawn(async move { cache.read(&o, offset, len).await })
                    })
                    .collect();
                for read in reads {
                    let got = read
                        .await
                        .map_err(|e| TestCaseError::fail(format!("{op:?}: {e}")))?
                        .map_err(|e| TestCaseError::fail(format!("{op:?}: {e}")))?;
                    prop_assert_eq!(got, expected(&model, obj, offset, len), "{:?}", op);
                }
                let gets = store.get_count.load(Ordering::SeqCst) - before;
                let distinct = blocks.end - blocks.start;
                prop_assert!(
                    gets <= distinct,
                    "{:?}: {} readers of {} blocks cost {} GETs",
                    op,
                    readers,
                    distinct,
                    gets
                );
            }
            Op::PrefetchThenClose { obj, first, count } => {
                let o = object(obj);
                let mut claims = Claims::default();
                cache
                    .fetcher
                    .prefetch(&o, first..first + count, &mut claims);
                let claimed = claims.len();
                let stopped = cache.fetcher.release_claims(&o, claims, &[]);
                // Nobody else reads or claims now: all of it was stopped.
                prop_assert_eq!(
                    stopped,
                    claimed,
                    "{:?}: read-ahead left running after close",
                    op
                );
            }
        }
        prop_assert!(
            cache.resident_bytes() <= CAPACITY,
            "after {:?}: {} bytes resident, budget {}",
            op,
            cache.resident_bytes(),
            CAPACITY
        );
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]
    #[test]
    fn the_block_cache_follows_the_model(ops in proptest::collection::vec(op(), 1..40)) {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .build()
            .map_err(|e| TestCaseError::fail(e.to_string()))?;
        runtime.block_on(run(ops))?;
    }
}
