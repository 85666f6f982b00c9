//! The commands of `mastfs`, one module each: `mount` (the mount's whole lifecycle, from
//! the mount point checks to the daemon's exit), `query`, `get`, `warm`. Each takes its
//! parsed arguments from `crate::cli` and builds what it needs from `crate::daemon::setup`
//! and the layers below; commands do not use each other, except `warm` borrowing `get`'s
//! sources and progress display.

pub mod get;
pub mod mount;
pub mod query;
pub mod warm;
