//! Recycled block buffers: the memory a ranged GET is collected into.
//!
//! A block is about 1 MiB. Above glibc's mmap threshold (mastfs sets it to 128 KiB so the
//! daemon's memory follows the cache) every such buffer is a fresh mapping: 256 page faults
//! and 256 zeroed pages on the way in, an munmap on the way out. When a block leaves the
//! cache and its last reader is gone, its buffer comes back here instead, with its pages
//! still mapped, and the next GET of a similar size reuses it. The pool keeps at most
//! `bound` bytes of such free buffers (the rest are freed as before), so the daemon's memory
//! is at most the cache budget plus that bound. A buffer that has to be allocated anyway is
//! pre-faulted in one system call rather than one fault per page.

use std::sync::atomic::Ordering;
use std::sync::Arc;

use bytes::Bytes;
use parking_lot::Mutex;

use super::counters::StoreCounters;

/// Free buffers kept at most, in bytes, by the store's pool: a few blocks' worth, small
/// next to the 64 MiB the memory bound allows above the cache budget.
pub const DEFAULT_POOL_BOUND: usize = 16 << 20;

/// Buffers smaller than this come from malloc's heap (below the mmap threshold) and are
/// cheap to allocate: not worth pooling.
pub const MIN_POOLED: usize = 128 << 10;

/// A bounded pool of free byte buffers.
pub struct BufferPool {
    bound: usize,
    free: Mutex<FreeList>,
    /// `buffers_allocated`, `buffers_recycled` and `pooled_bytes` are this pool's.
    counters: Arc<StoreCounters>,
}

#[derive(Default)]
struct FreeList {
    buffers: Vec<Vec<u8>>,
    /// Sum of the capacities in `buffers`.
    bytes: usize,
}

impl BufferPool {
    /// A pool keeping at most `bound` bytes of free buffers, counting into `counters`.
    pub fn new(bound: usize, counters: Arc<StoreCounters>) -> Arc<BufferPool> {
        Arc::new(BufferPool {
            bound,
            free: Mutex::new(FreeList::default()),
            counters,
        })
    }

    /// An empty buffer able to hold `capacity` bytes without growing: a recycled one of
    /// about that size when there is one, else a fresh one.
    pub fn take(self: &Arc<Self>, capacity: usize) -> PooledBuf {
        let recycled = if capacity >= MIN_POOLED {
            let mut free = self.free.lock();
            // Close in size only: a 1 MiB buffer must not hold a 200 KiB tail block, the
            // cache counts the bytes of a block, not its buffer's capacity.
            let found = free
                .buffers
                .iter()
                .position(|b| b.capacity() >= capacity && b.capacity() - capacity <= capacity / 8);
            found.map(|i| {
                let buf = free.buffers.swap_remove(i);
                free.bytes -= buf.capacity();
                self.counters
                    .pooled_bytes
                    .store(free.bytes as u64, Ordering::Relaxed);
                buf
            })
        } else {
            None
        };
        let vec = match recycled {
            Some(mut vec) => {
                self.counters
                    .buffers_recycled
                    .fetch_add(1, Ordering::Relaxed);
                vec.clear();
                vec
            }
            None => {
                self.counters
                    .buffers_allocated
                    .fetch_add(1, Ordering::Relaxed);
                let mut vec = Vec::with_capacity(capacity);
                if capacity >= MIN_POOLED {
                    prefault(&mut vec);
                }
                vec
            }
        };
        PooledBuf {
            vec,
            pool: Arc::clone(self),
        }
    }

    /// Bytes of free buffers held right now (memory the daemon holds beyond the cache).
    #[cfg(test)]
    fn free_bytes(&self) -> usize {
        self.free.lock().bytes
    }

    fn give_back(&self, vec: Vec<u8>) {
        let capacity = vec.capacity();
        if capacity < MIN_POOLED {
            return;
        }
        let mut free = self.free.lock();
        // Beyond the bound the buffer is simply freed (unmapped), as without a pool.
        if free.bytes + capacity <= self.bound {
            free.bytes += capacity;
            free.buffers.push(vec);
            self.counters
                .pooled_bytes
                .store(free.bytes as u64, Ordering::Relaxed);
        }
    }
}

/// A buffer from a [`BufferPool`]; it goes back to the pool when dropped, also after
/// [`PooledBuf::freeze`], when the last `Bytes` of it drops.
pub struct PooledBuf {
    vec: Vec<u8>,
    pool: Arc<BufferPool>,
}

impl PooledBuf {
    pub fn extend_from_slice(&mut self, data: &[u8]) {
        self.vec.extend_from_slice(data);
    }

    pub fn len(&self) -> usize {
        self.vec.len()
    }

    #[cfg(test)]
    fn capacity(&self) -> usize {
        self.vec.capacity()
    }

    /// Immutable bytes sharing this buffer, without a copy.
    pub fn freeze(self) -> Bytes {
        Bytes::from_owner(self)
    }
}

impl AsRef<[u8]> for PooledBuf {
    fn as_ref(&self) -> &[u8] {
        &self.vec
    }
}

impl Drop for PooledBuf {
    fn drop(&mut self) {
        self.pool.give_back(std::mem::take(&mut self.vec));
    }
}

/// Maps in the pages of a fresh buffer with one madvise instead of a page fault per 4 KiB
/// page while it is filled. Best effort: an older kernel without MADV_POPULATE_WRITE just
/// faults them in as usual.
fn prefault(vec: &mut Vec<u8>) {
    #[cfg(target_os = "linux")]
    {
        let spare = vec.spare_capacity_mut();
        let start = spare.as_mut_ptr() as usize;
        let end = start + spare.len();
        // SAFETY: sysconf has no preconditions.
        let page = unsafe { libc::sysconf(libc::_SC_PAGESIZE) }.max(4096) as usize;
        let aligned_start = start.div_ceil(page) * page;
        let aligned_end = end / page * page;
        if aligned_end > aligned_start {
            // SAFETY: the range lies inside an allocation this Vec owns and nothing else
            // refers to; MADV_POPULATE_WRITE only faults its pages in (as zero pages of
            // anonymous memory) and never changes what the allocator sees.
            unsafe {
                libc::madvise(
                    aligned_start as *mut libc::c_void,
                    aligned_end - aligned_start,
                    libc::MADV_POPULATE_WRITE,
                );
            }
        }
    }
    #[cfg(not(target_os = "linux"))]
    let _ = vec;
}

#[cfg(test)]
mod tests {
    use super::*;

    const MB: usize = 1 << 20;

    fn pool(bound: usize) -> Arc<BufferPool> {
        BufferPool::new(bound, Arc::new(StoreCounters::default()))
    }

    fn count(n: &std::sync::atomic::AtomicU64) -> u64 {
        n.load(Ordering::Relaxed)
    }

    #[test]
    fn a_dropped_block_is_reused_by_the_next_take() {
        let pool = pool(8 * MB);
        let mut buf = pool.take(MB);
        buf.extend_from_slice(&[7u8; 1000]);
        let first_ptr = buf.as_ref().as_ptr();
        let bytes = buf.freeze();
        let slice = bytes.slice(10..20);
        drop(bytes);
        assert_eq!(
            pool.free_bytes(),
            0,
            "a slice still refers to the buffer: it must not be back in the pool"
        );
        assert_eq!(&slice[..], &[7u8; 10]);
        drop(slice);
        assert_eq!(
            pool.free_bytes(),
            MB,
            "expected the buffer back once unreferenced"
        );
        let again = pool.take(MB);
        assert_eq!(
            again.as_ref().as_ptr(),
            first_ptr,
            "expected the same buffer"
        );
        assert!(
            again.as_ref().is_empty(),
            "a recycled buffer must come back empty"
        );
        assert_eq!(count(&pool.counters.buffers_recycled), 1, "recycled");
        assert_eq!(count(&pool.counters.buffers_allocated), 1, "allocated");
        assert_eq!(pool.free_bytes(), 0);
        assert_eq!(
            count(&pool.counters.pooled_bytes),
            0,
            "pooled_bytes counter"
        );
    }

    #[test]
    fn free_buffers_never_exceed_the_bound() {
        let pool = pool(3 * MB);
        let bufs: Vec<_> = (0..6).map(|_| pool.take(MB).freeze()).collect();
        drop(bufs);
        assert_eq!(
            pool.free_bytes(),
            3 * MB,
            "expected 3 of 6 buffers kept under a 3 MiB bound"
        );
        assert_eq!(
            count(&pool.counters.pooled_bytes),
            3 * MB as u64,
            "pooled_bytes counter"
        );
        let again: Vec<_> = (0..6).map(|_| pool.take(MB)).collect();
        assert_eq!(count(&pool.counters.buffers_recycled), 3, "recycled");
        assert_eq!(count(&pool.counters.buffers_allocated), 9, "allocated");
        drop(again);
        assert_eq!(pool.free_bytes(), 3 * MB, "bound after a second round");
    }

    #[test]
    fn a_buffer_much_larger_than_asked_is_not_handed_out() {
        let pool = pool(8 * MB);
        drop(pool.take(MB));
        let tail = pool.take(200 << 10);
        assert_eq!(
            tail.capacity(),
            200 << 10,
            "a tail block got a 1 MiB buffer"
        );
        assert_eq!(pool.free_bytes(), MB, "the 1 MiB buffer stays pooled");
    }

    #[test]
    fn small_buffers_are_not_pooled() {
        let pool = pool(8 * MB);
        drop(pool.take(4096).freeze());
        assert_eq!(pool.free_bytes(), 0);
    }

    #[test]
    fn contents_survive_freeze_and_a_filled_buffer_is_writable_to_its_capacity() {
        let pool = pool(8 * MB);
        let mut buf = pool.take(MB);
        let data: Vec<u8> = (0..MB).map(|i| (i % 251) as u8).collect();
        buf.extend_from_slice(&data);
        assert_eq!(
            buf.capacity(),
            MB,
            "filling to capacity must not reallocate"
        );
        let bytes = buf.freeze();
        assert!(bytes[..] == data[..], "bytes changed through freeze");
    }
}
