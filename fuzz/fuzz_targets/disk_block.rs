//! Fuzz target: the disk-cache block file reader (`src/cache/block_file.rs`): any file
//! found in the cache folder is refused or read back exactly as written.
//!
//! block_file.rs is compiled in directly (it needs only crc32fast).

#![no_main]

#[path = "../harness.rs"]
mod harness;

#[allow(dead_code)]
#[path = "../../src/cache/block_file.rs"]
mod block_file;

const BLOCK: block_file::DiskBlock<'static> = block_file::DiskBlock {
    bucket: "stpubdata",
    key: "hst/public/jbev/jbeveo010/jbeveo010_drz.fits",
    etag: "\"0123abcd\"",
    block_size: 1 << 20,
    index: 7,
};

libfuzzer_sys::fuzz_target!(|data: &[u8]| harness::disk_block(
    data,
    &|bytes| block_file::header(&BLOCK, bytes),
    &|raw, expected| block_file::data_range(raw, &BLOCK, expected),
));
