//! Tests of the format-aware side of the cache: FITS and ASDF heads, headers and block
//! indexes fetched on open as small fragments, and read-ahead bounded by the units they
//! teach.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;

use super::fetch::Claims;
use super::tests::{obj, pattern};
use super::*;
use crate::store::memory::MemoryStore;

/// A FITS file of `hdus` image HDUs of `data_len` bytes each after an empty primary HDU.
fn fits_file(hdus: usize, data_len: usize) -> Bytes {
    let card = |text: &str| {
        let mut c = text.as_bytes().to_vec();
        c.resize(80, b' ');
        c
    };
    let header = |cards: &[&str]| {
        let mut h: Vec<u8> = cards.iter().flat_map(|c| card(c)).collect();
        h.extend(card("END"));
        h.resize(h.len().div_ceil(2880) * 2880, b' ');
        h
    };
    let mut out = header(&[
        "SIMPLE  =                    T",
        "BITPIX  =                    8",
        "NAXIS   =                    0",
    ]);
    let naxis1 = format!("NAXIS1  = {:>20}", data_len);
    for i in 0..hdus {
        out.extend(header(&[
            "XTENSION= 'IMAGE   '",
            "BITPIX  =                    8",
            "NAXIS   =                    1",
            &naxis1,
            "PCOUNT  =                    0",
            "GCOUNT  =                    1",
        ]));
        let start = out.len();
        out.resize(start + data_len.div_ceil(2880) * 2880, i as u8);
    }
    out.into()
}

/// A FITS file of four 3 MB image HDUs in a store, opened (format hints started) through a
/// cache of 1 MiB blocks.
struct OpenedFits {
    store: Arc<MemoryStore>,
    data: Bytes,
    cache: Arc<BlockCache>,
    o: ObjectRef,
}

impl OpenedFits {
    fn new() -> OpenedFits {
        let store = Arc::new(MemoryStore::new());
        let data = fits_file(4, 3_000_000);
        store.put("b", "x_drz.fits", "e", data.clone());
        let cache = BlockCache::new(store.clone(), 1 << 20, 64 << 20);
        let o = obj("x_drz.fits", "e", data.len());
        cache.hint_open(&o);
        OpenedFits {
            store,
            data,
            cache,
            o,
        }
    }
}

/// Bytes the store has sent so far.
fn bytes_fetched(store: &MemoryStore) -> u64 {
    store.gets.lock().iter().map(|(_, r)| r.end - r.start).sum()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fits_headers_are_read_from_small_fetches_not_blocks() {
    let OpenedFits {
        store,
        data,
        cache,
        o,
    } = OpenedFits::new();
    // The reader walks the headers as astropy does: 64 KiB reads at each header.
    let header_at = |k: usize| 2880 + k * (2880 + 3_000_000usize.div_ceil(2880) * 2880);
    for k in 0..4 {
        let offset = header_at(k) as u64;
        let got = cache.read(&o, offset, 65536).await.unwrap();
        let end = (offset as usize + 65536).min(data.len());
        assert!(
            got[..] == data[offset as usize..end],
            "header {k} at {offset}: bytes differ from the source"
        );
    }
    let gets = store.get_count.load(Ordering::SeqCst);
    let fetched = bytes_fetched(&store);
    assert!(
        fetched < 1 << 20,
        "reading 5 headers fetched {fetched} bytes in {gets} GETs: whole blocks, not headers: {:?}",
        store.gets.lock()
    );
    assert_eq!(
        cache.counters.hint_hits.load(Ordering::Relaxed),
        4,
        "header reads answered from the prefetched ranges"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn other_files_and_reads_outside_the_hints_use_blocks() {
    let store = Arc::new(MemoryStore::new());
    let data = pattern(5 << 20, 1);
    store.put("b", "table.csv", "e", data.clone());
    store.put("b", "image.fits", "e", data.clone());
    let cache = BlockCache::new(store.clone(), 1 << 20, 64 << 20);
    cache.hint_open(&obj("table.csv", "e", data.len()));
    assert_eq!(
        cache.counters.hint_fetches.load(Ordering::Relaxed),
        0,
        "hints for a CSV"
    );
    // Not FITS inside: only the head is fetched, and a read past it goes to blocks.
    let fits = obj("image.fits", "e", data.len());
    cache.hint_open(&fits);
    let got = cache.read(&fits, 3 << 20, 100_000).await.unwrap();
    assert!(
        got[..] == data[3 << 20..(3 << 20) + 100_000],
        "read past the head differs"
    );
    tokio::time::sleep(Duration::from_millis(50)).await;
    assert_eq!(
        cache.counters.hint_fetches.load(Ordering::Relaxed),
        1,
        "only the head"
    );
    assert!(
        cache.contains(&fits, 3),
        "block 3 cached by the read past the head"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_read_after_the_header_prefetch_fetches_no_byte_twice() {
    let OpenedFits {
        store,
        data,
        cache,
        o,
    } = OpenedFits::new();
    let first = cache.read(&o, 0, 4096).await.unwrap();
    assert!(first[..] == data[..4096], "first header bytes differ");
    tokio::time::sleep(Duration::from_millis(50)).await;
    let mut offset = 0u64;
    while offset < data.len() as u64 {
        let got = cache.read(&o, offset, 1 << 20).await.unwrap();
        let end = offset as usize + got.len();
        assert!(
            got[..] == data[offset as usize..end],
            "bytes at {offset} differ"
        );
        offset += got.len() as u64;
    }
    let fetched = bytes_fetched(&store);
    assert_eq!(
        fetched,
        data.len() as u64,
        "bytes fetched for one full read (header ranges reused in their blocks): {:?}",
        store.gets.lock()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn asdf_read_ahead_stops_at_the_end_of_the_block_being_read() {
    let store = Arc::new(MemoryStore::new());
    let mut file = vec![7u8; 40 << 20];
    let index = b"#ASDF BLOCK INDEX\n%YAML 1.1\n---\n- 4000\n- 20000000\n...\n";
    let index_at = file.len() - index.len();
    file[index_at..].copy_from_slice(index);
    let data = Bytes::from(file);
    store.put("b", "r_cal.asdf", "e", data.clone());
    let cache = BlockCache::new(store.clone(), 1 << 20, 256 << 20);
    let o = obj("r_cal.asdf", "e", data.len());
    cache.hint_open(&o);
    cache.read(&o, 0, 4096).await.unwrap();
    for _ in 0..100 {
        if cache.fetcher.memory.lock().unit_of(&o, 5000).end != o.size {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(
        cache.fetcher.memory.lock().unit_of(&o, 5000).end,
        20_000_000,
        "end of the first ASDF block"
    );
    // asdf reads the first block's array from its start to its end, then stops.
    let mut ra = ReadAhead::new(1 << 20, 64 << 20);
    let mut claims = Claims::default();
    let mut offset = 4000u64;
    while offset < 20_000_000 {
        let len = (1u64 << 20).min(20_000_000 - offset);
        let ahead = ra.on_read_in(
            offset,
            len,
            o.size,
            0..cache.fetcher.memory.lock().unit_of(&o, offset).end,
        );
        cache.fetcher.prefetch(&o, ahead, &mut claims);
        cache.read(&o, offset, len).await.unwrap();
        offset += len;
    }
    tokio::time::sleep(Duration::from_millis(100)).await;
    let beyond = store
        .gets
        .lock()
        .iter()
        .filter(|(_, r)| r.start >= 20 << 20 && r.end <= index_at as u64 - 200_000)
        .count();
    assert_eq!(
        beyond,
        0,
        "blocks fetched past the array's ASDF block: {:?}",
        store.gets.lock()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fits_read_ahead_stops_at_the_end_of_the_hdu_being_read() {
    let store = Arc::new(MemoryStore::new());
    let data_len = 20_000_000usize;
    let data = fits_file(3, data_len);
    store.put("b", "y_drz.fits", "e", data.clone());
    let cache = BlockCache::new(store.clone(), 1 << 20, 256 << 20);
    let o = obj("y_drz.fits", "e", data.len());
    cache.hint_open(&o);
    cache.read(&o, 0, 4096).await.unwrap();
    let hdu_len = (2880 + data_len.div_ceil(2880) * 2880) as u64;
    let first_data = 2880 + 2880u64;
    let first_end = 2880 + hdu_len;
    for _ in 0..200 {
        if cache.fetcher.memory.lock().unit_of(&o, first_data).end == first_end {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(
        cache.fetcher.memory.lock().unit_of(&o, first_data).end,
        first_end,
        "end of the first extension HDU"
    );
    // fits.getdata(p, 1): the first extension's data from its start to its end.
    let mut ra = ReadAhead::new(1 << 20, 64 << 20);
    let mut claims = Claims::default();
    let mut offset = first_data;
    while offset < first_end {
        let len = (1u64 << 20).min(first_end - offset);
        let ahead = ra.on_read_in(
            offset,
            len,
            o.size,
            0..cache.fetcher.memory.lock().unit_of(&o, offset).end,
        );
        cache.fetcher.prefetch(&o, ahead, &mut claims);
        let got = cache.read(&o, offset, len).await.unwrap();
        assert!(
            got[..] == data[offset as usize..(offset + len) as usize],
            "bytes at {offset} differ"
        );
        offset += len;
    }
    tokio::time::sleep(Duration::from_millis(100)).await;
    // Blocks wholly past the HDU's end (header fragments there are fine: small).
    let past: Vec<_> = store
        .gets
        .lock()
        .iter()
        .filter(|(_, r)| {
            r.start >= first_end.div_ceil(1 << 20) * (1 << 20) && r.end - r.start == 1 << 20
        })
        .cloned()
        .collect();
    assert!(
        past.is_empty(),
        "blocks fetched past the HDU being read: {past:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cutout_run_reads_its_next_blocks_together_and_header_reads_do_not() {
    let store = Arc::new(MemoryStore::new());
    let data_len = 8_000_000usize;
    let data = fits_file(2, data_len);
    store.put("b", "z_drz.fits", "e", data.clone());
    let cache = BlockCache::new(store.clone(), 1 << 20, 64 << 20);
    let o = obj("z_drz.fits", "e", data.len());
    cache.hint_open(&o);
    // Wait for the head's header windows, so header reads are fragment reads.
    let reader = cache.open(&o, 64 << 20);
    reader.read(0, 131_072).await.unwrap();
    for _ in 0..200 {
        if cache.counters.hint_fetches.load(Ordering::Relaxed) >= 2 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let header_at = 2880 + (2880 + data_len.div_ceil(2880) * 2880) as u64;
    for k in 0..3 {
        let offset = header_at + k * 4096;
        reader.read(offset, 4096).await.unwrap();
    }
    assert_eq!(
        cache.counters.prefetched.load(Ordering::Relaxed),
        0,
        "header reads fetched blocks ahead: {:?}",
        store.gets.lock()
    );
    // Rows of a cutout in the second extension's data: 128 KiB read-around requests in a
    // row from 2.6 MB into the data, over three blocks, the first three in the first block.
    let start = header_at + 2880 + 2_600_000;
    let misses_before = cache.counters.misses.load(Ordering::Relaxed);
    assert_eq!((start >> 20, (start + 20 * 131_072 - 1) >> 20), (10, 12));
    for i in 0..20u64 {
        let offset = start + i * 131_072;
        let got = reader.read(offset, 131_072).await.unwrap();
        assert!(
            got[..] == data[offset as usize..offset as usize + 131_072],
            "bytes of cutout read {i} at {offset} differ"
        );
        if i == 2 {
            assert_eq!(
                cache.counters.prefetched.load(Ordering::Relaxed),
                2,
                "expected the two blocks after the cutout's first asked at its third read"
            );
        }
    }
    let misses = cache.counters.misses.load(Ordering::Relaxed) - misses_before;
    assert_eq!(
        misses, 1,
        "expected one block waited for (the first), the others fetched ahead together"
    );
    assert_eq!(
        reader.close(),
        0,
        "nothing left to stop: the reads used both"
    );
}
