//! The integration tests, in one binary: each module is a topic, run on the real `mastfs`
//! binary against the local S3 and MAST stand-ins, most on real FUSE mounts. One binary
//! links the crate and the stand-ins once, instead of once per topic.
//!
//! `cargo test --test it views::` runs one topic; `support` and `faultkit` are the shared
//! harness.

mod faultkit;
mod support;

mod cgroup_budget;
mod disk_cache;
mod everyday;
mod fd_mount;
mod forget;
mod fuzz_regressions;
mod load;
mod metrics;
mod mount;
mod ops_cli;
mod ops_get;
mod ops_mount;
mod passthrough;
mod query_formats;
mod reliability;
mod store;
mod views;
