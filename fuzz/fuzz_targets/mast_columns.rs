//! Fuzz target: see `mast_columns` in fuzz/harness.rs.

#![no_main]

#[path = "../harness.rs"]
mod harness;

libfuzzer_sys::fuzz_target!(|data: &[u8]| harness::mast_columns(data));
