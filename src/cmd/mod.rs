//! The commands of `mastfs`, one module each: `mount` (the mount's whole lifecycle, from
//! the mount point checks to the daemon's exit, and `unmount`, which shares those checks),
//! `query`, `get`, `warm`, `views`, and `ask` (`stats`, `drop-caches`: what a running
//! mount's daemon answers). Each takes its parsed arguments from `crate::cli` and builds
//! what it needs from `crate::daemon` and the layers below. Commands do not use each other,
//! except `warm` borrowing `get`'s sources and progress display and `views` asking as `ask`
//! does.

pub mod ask;
pub mod get;
pub mod mount;
pub mod query;
pub mod views;
pub mod warm;
