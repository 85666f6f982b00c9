//! mastfs-bench: the "raw" client of the mastfs benchmark harness.
//!
//! The raw client marks the physical limit of a benchmark setup: it issues exactly the
//! byte ranges a workload needs as ranged GETs on kept-alive connections, dependent
//! ranges one after the other and independent ones in parallel, and nothing else (one
//! HEAD for the object size). `scripts/bench` runs it next to the FUSE clients against
//! the same S3 stand-in; the binary is `mastfs-bench-raw`.

pub mod client;
pub mod error;
pub mod offsets;
pub mod report;
pub mod workload;

pub use client::RangeClient;
pub use error::BenchError;
pub use report::{LatencySummary, RawReport, RequestCounts};
pub use workload::{run_random, run_seq, RandomOptions, SeqOptions};
