//! Fuzz target: see `query_args` in fuzz/harness.rs.

#![no_main]

#[path = "../harness.rs"]
mod harness;

libfuzzer_sys::fuzz_target!(|data: &[u8]| harness::query_args(data));
