//! The options of one mount's filesystem core: ownership, modes, cache lifetimes,
//! read-ahead and passthrough.

use std::time::Duration;

/// Ownership, modes and cache lifetimes of the mount.
#[derive(Clone, Debug)]
pub struct FsOptions {
    pub uid: u32,
    pub gid: u32,
    pub file_mode: u16,
    pub dir_mode: u16,
    pub metadata_ttl: Duration,
    pub max_readahead: u64,
    pub blksize: u32,
    /// Serve objects wholly in the disk cache by FUSE passthrough where the kernel allows.
    pub passthrough: bool,
    /// Largest object whose whole-object file (for passthrough) an open builds and waits
    /// for; larger ones are built in the background for the next open.
    pub build_at_open_max: u64,
}

impl Default for FsOptions {
    fn default() -> Self {
        FsOptions {
            uid: 0,
            gid: 0,
            file_mode: 0o444,
            dir_mode: 0o555,
            metadata_ttl: Duration::from_secs(3600),
            max_readahead: 64 << 20,
            blksize: 64 << 10,
            passthrough: true,
            // About a quarter second of local copying, once per object version.
            build_at_open_max: 256 << 20,
        }
    }
}
