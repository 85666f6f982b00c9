//! The format of one disk-cache block file: a header that repeats the block's full identity
//! (bucket, key, ETag, block size, index), the length and a CRC-32 of the bytes, then the
//! bytes. Pure functions over byte slices, with no other part of mastfs, so the fuzz target
//! `disk_block` (fuzz/fuzz_targets/disk_block.rs) compiles this file alone.

use std::ops::Range;

/// First bytes of every block file; the digit is the format version.
pub const MAGIC: &[u8; 8] = b"MASTFSB1";

/// The identity of one cached block.
#[derive(Clone, Copy, Debug)]
pub struct DiskBlock<'a> {
    pub bucket: &'a str,
    pub key: &'a str,
    pub etag: &'a str,
    pub block_size: u64,
    pub index: u64,
}

/// The header written before `data` in the file of `block`.
pub fn header(block: &DiskBlock<'_>, data: &[u8]) -> Vec<u8> {
    let mut h = Vec::with_capacity(64 + block.bucket.len() + block.key.len() + block.etag.len());
    h.extend_from_slice(MAGIC);
    for part in [block.bucket, block.key, block.etag] {
        h.extend_from_slice(&(part.len() as u32).to_le_bytes());
        h.extend_from_slice(part.as_bytes());
    }
    h.extend_from_slice(&block.block_size.to_le_bytes());
    h.extend_from_slice(&block.index.to_le_bytes());
    h.extend_from_slice(&(data.len() as u64).to_le_bytes());
    h.extend_from_slice(&crc32fast::hash(data).to_le_bytes());
    h
}

/// Where the bytes of `block` lie in `raw` (a whole file), when it holds exactly that block,
/// intact, of `expected_len` bytes; `None` for anything else (another identity, a short
/// or damaged file, not a block file at all).
pub fn data_range(raw: &[u8], block: &DiskBlock<'_>, expected_len: u64) -> Option<Range<usize>> {
    let mut cursor = raw;
    let mut take = |n: usize| -> Option<&[u8]> {
        let (head, rest) = (cursor.get(..n)?, cursor.get(n..)?);
        cursor = rest;
        Some(head)
    };
    let u32_of = |b: &[u8]| -> Option<u32> { Some(u32::from_le_bytes(b.try_into().ok()?)) };
    let u64_of = |b: &[u8]| -> Option<u64> { Some(u64::from_le_bytes(b.try_into().ok()?)) };
    if take(MAGIC.len())? != MAGIC {
        return None;
    }
    for part in [block.bucket, block.key, block.etag] {
        let len = usize::try_from(u32_of(take(4)?)?).ok()?;
        if take(len)? != part.as_bytes() {
            return None;
        }
    }
    if u64_of(take(8)?)? != block.block_size || u64_of(take(8)?)? != block.index {
        return None;
    }
    let data_len = u64_of(take(8)?)?;
    let crc = u32_of(take(4)?)?;
    let header_len = raw.len() - cursor.len();
    let intact = data_len == expected_len
        && cursor.len() as u64 == data_len
        && crc32fast::hash(cursor) == crc;
    intact.then_some(header_len..raw.len())
}

#[cfg(test)]
mod tests {
    use super::*;

    const BLOCK: DiskBlock<'static> = DiskBlock {
        bucket: "stpubdata",
        key: "hst/x_drz.fits",
        etag: "\"e\"",
        block_size: 4096,
        index: 2,
    };

    #[test]
    fn a_written_block_reads_back_and_any_cut_is_refused() {
        let data = b"0123456789".to_vec();
        let mut file = header(&BLOCK, &data);
        file.extend_from_slice(&data);
        let range = data_range(&file, &BLOCK, 10).expect("the block as written");
        assert_eq!(&file[range], &data[..], "bytes read back");
        for cut in 0..file.len() {
            assert_eq!(
                data_range(&file[..cut], &BLOCK, 10),
                None,
                "a file cut at {cut} of {} bytes was accepted",
                file.len()
            );
        }
        let other = DiskBlock { index: 3, ..BLOCK };
        assert_eq!(data_range(&file, &other, 10), None, "another block index");
    }
}
