//! Fuzz target: the config file parser and validation (`mastfs::config::parse_str`).
//!
//! src/config/mod.rs (and with it the files of src/config/ it declares) is compiled in
//! directly rather than through the `mastfs` crate: it needs only serde, toml, humantime,
//! bytesize, url and thiserror, while the crate would pull the whole AWS SDK into an
//! instrumented build for no extra coverage.

#![no_main]

#[path = "../harness.rs"]
mod harness;

#[allow(dead_code, unused_imports)]
#[path = "../../src/config/mod.rs"]
mod config;

libfuzzer_sys::fuzz_target!(|data: &[u8]| harness::config(data, config::parse_str));
