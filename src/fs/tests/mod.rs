//! Tests of the filesystem core over the in-memory reference store: no FUSE, no network.
//! One file per topic: the bucket tree (`tree.rs`), what a path walk costs in round trips
//! (`round_trips.rs`), the inode lifecycle (`forget.rs`), opens and versions (`open.rs`).

mod forget;
mod open;
mod round_trips;
mod tree;

use std::ffi::OsStr;
use std::sync::Arc;
use std::time::Duration;

use super::*;
use crate::cache::BlockCache;
use crate::config::BucketConfig;
use crate::namespace::buckets::BucketTrees;
use crate::store::memory::MemoryStore;

fn fs_over(store: Arc<MemoryStore>, buckets: &[(&str, Option<&str>)]) -> Fs {
    let buckets: Vec<BucketConfig> = buckets
        .iter()
        .map(|(n, p)| BucketConfig {
            name: n.to_string(),
            prefix: p.map(str::to_string),
            signed: false,
        })
        .collect();
    let trees = Arc::new(BucketTrees::new(
        store.clone(),
        &buckets,
        Duration::from_secs(60),
        Duration::from_secs(60),
    ));
    let cache = BlockCache::new(store, 4096, 1 << 20);
    Fs::new(
        FsOptions::default(),
        Namespace::new(trees, None),
        cache,
        Default::default(),
    )
}

async fn names(fs: &Fs, ino: u64) -> Vec<String> {
    let fh = fs.opendir(ino).await.unwrap().fh;
    let entries = fs.dir_entries(fh).unwrap();
    fs.releasedir(fh);
    entries
        .iter()
        .skip(2)
        .map(|e| e.name.to_string_lossy().into_owned())
        .collect()
}

async fn walk(fs: &Fs, path: &str) -> Result<Attr, FsError> {
    let mut attr = fs.getattr(ROOT_INO).await?;
    for part in path.split('/').filter(|p| !p.is_empty()) {
        attr = fs.lookup(attr.ino, OsStr::new(part)).await?;
    }
    Ok(attr)
}

/// The tree of bucket `b1` (whole bucket, 60 s TTLs) over `store`.
fn bucket_b1(store: Arc<dyn crate::store::ObjectStore>) -> Arc<BucketTrees> {
    Arc::new(BucketTrees::new(
        store,
        &[BucketConfig {
            name: "b1".into(),
            prefix: None,
            signed: false,
        }],
        Duration::from_secs(60),
        Duration::from_secs(60),
    ))
}
/// The kernel's reference count on `ino` as the table has it; None once it left the table.
fn lookups(fs: &Fs, ino: u64) -> Option<u64> {
    fs.inodes.lock().get(ino).map(|n| n.lookups)
}
/// A core over `store` with a disk cache in `dir` (blocks of 4 KiB).
fn fs_with_disk(store: Arc<MemoryStore>, dir: &std::path::Path) -> Fs {
    fs_with_disk_opts(store, dir, FsOptions::default())
}

fn fs_with_disk_opts(store: Arc<MemoryStore>, dir: &std::path::Path, opts: FsOptions) -> Fs {
    let trees = bucket_b1(store.clone());
    let disk = Arc::new(crate::cache::DiskCache::open(dir, 1 << 20).unwrap());
    let cache = BlockCache::with_disk(store, 4096, 1 << 20, Some(disk));
    Fs::new(opts, Namespace::new(trees, None), cache, Default::default())
}

fn fs_with_ttl(store: Arc<dyn crate::store::ObjectStore>, ttl: Duration) -> Fs {
    let trees = Arc::new(BucketTrees::new(
        store.clone(),
        &[BucketConfig {
            name: "b1".into(),
            prefix: None,
            signed: false,
        }],
        ttl,
        ttl,
    ));
    let cache = BlockCache::new(store, 4096, 1 << 20);
    let opts = FsOptions {
        metadata_ttl: ttl,
        ..FsOptions::default()
    };
    Fs::new(opts, Namespace::new(trees, None), cache, Default::default())
}
