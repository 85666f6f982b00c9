//! mastfs: astronomy archive data in S3, mounted as a read-only directory tree.
//!
//! The crate is layered as `docs/ARCHITECTURE.md` describes: `store` talks to S3,
//! `cache` turns reads into cached blocks, `namespace` decides what the tree contains,
//! `fs` is the filesystem core (inodes, handles, errnos), `fuse` adapts it to the kernel.
//! Above the layers: `cli` parses the command line, `cmd` holds one module per command
//! (`cmd::mount` owns a mount's lifecycle), and `daemon` what a mount's daemon runs besides
//! the file system (assembling the layers, control socket, metrics, logging). `config` turns
//! flags, environment and files into one validated configuration.

pub mod cache;
pub mod cli;
pub mod cmd;
pub mod config;
pub mod daemon;
pub mod fs;
pub mod fuse;
pub mod mounts;
pub mod namespace;
pub mod paths;
pub mod stats;
pub mod store;
pub mod tables;
