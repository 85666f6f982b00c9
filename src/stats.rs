//! Statistics of a running mount: S3 requests by kind, bytes fetched and served, cache hits,
//! misses and evictions, passthrough, requests in flight, memory, open files and the state
//! of each view.
//!
//! One typed [`Snapshot`]: `mastfs stats` (over the control socket) and
//! `MOUNTPOINT/.mastfs/stats.json` print it as JSON ([`Snapshot::to_json`]), the metrics
//! endpoint reads its fields, so a renamed field breaks the build rather than a metric. The
//! store and cache sections are read here from their counters; what only the filesystem
//! core knows (open files, inodes, passthrough, views) it hands over as [`CoreState`].

use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::SystemTime;

use serde::{Serialize, Serializer};
use serde_json::Value;

use crate::cache::BlockCache;
use crate::namespace::views::ViewStatus;
use crate::store::StoreCounters;

/// The mount's statistics, counted since it was mounted. Serialized field names are the
/// keys of `stats.json`.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct Snapshot {
    /// Unix time of the mount.
    pub mounted_at: u64,
    pub requests: Requests,
    pub bytes_fetched: u64,
    pub bytes_served: u64,
    pub cache: CacheStats,
    /// `None` without a disk cache (shown as `{"enabled": false}`).
    #[serde(serialize_with = "disk_section")]
    pub disk_cache: Option<DiskCacheStats>,
    pub passthrough: Passthrough,
    pub buffers: Buffers,
    pub memory: Memory,
    pub open_files: usize,
    pub unsafe_key_names: u64,
    pub inodes: usize,
    pub views: Vec<ViewStats>,
}

/// S3 requests sent, by kind.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct Requests {
    pub list: u64,
    pub head: u64,
    pub get: u64,
    pub retries: u64,
    pub in_flight: i64,
}

/// The block cache in memory.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct CacheStats {
    pub hits: u64,
    pub misses: u64,
    pub joined_in_flight: u64,
    /// Lookups answered without a new fetch (hits and joins) over all lookups.
    pub hit_ratio: f64,
    pub evictions: u64,
    pub prefetched_blocks: u64,
    pub format_hint_fetches: u64,
    pub format_hint_hits: u64,
    pub prefetch_cancelled: u64,
    pub streamed_dropped: u64,
    /// Random readers whose object was fetched whole in the background.
    pub sweeps: u64,
    pub resident_bytes: u64,
    pub capacity_bytes: u64,
    pub block_size: u64,
}

/// The disk cache, when there is one.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct DiskCacheStats {
    pub dir: PathBuf,
    pub capacity_bytes: u64,
    pub used_bytes: u64,
    pub files: usize,
    pub pending_write_bytes: u64,
    pub hits: u64,
    pub misses: u64,
    pub writes: u64,
    pub evictions: u64,
    pub rejected: u64,
    pub errors: u64,
    pub bytes_read: u64,
    pub bytes_written: u64,
    pub whole_files_built: u64,
    pub whole_files_used: u64,
}

/// FUSE passthrough as negotiated with the kernel, and its counters.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct Passthrough {
    pub enabled: bool,
    pub off_reason: Option<String>,
    pub opens: u64,
    pub declined: u64,
}

/// Block buffers of the store's pool.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct Buffers {
    pub allocated: u64,
    pub recycled: u64,
    pub pooled_bytes: u64,
}

/// The daemon's memory, from /proc (`None` where it cannot be read).
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct Memory {
    pub rss_bytes: Option<u64>,
    pub peak_rss_bytes: Option<u64>,
}

/// One view's state.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct ViewStats {
    pub name: String,
    /// Unix time of the listing shown, if the view was ever resolved.
    pub resolved_at: Option<u64>,
    pub entries: usize,
    pub resolving: bool,
    pub last_error: Option<String>,
    pub unsafe_names: usize,
}

/// What only the filesystem core knows, handed to [`Snapshot::collect`].
#[derive(Clone, Debug)]
pub struct CoreState {
    pub mounted_at: SystemTime,
    pub open_files: usize,
    pub inodes: usize,
    pub unsafe_key_names: u64,
    pub passthrough: Passthrough,
    pub views: Vec<ViewStatus>,
}

impl Snapshot {
    /// The numbers now: the store's and the cache's counters, and the core's `state`.
    pub fn collect(store: &StoreCounters, cache: &BlockCache, state: CoreState) -> Snapshot {
        let c = &cache.counters;
        let (hits, misses, joined) = (load(&c.hits), load(&c.misses), load(&c.joined));
        let lookups = hits + misses + joined;
        let hit_ratio = if lookups == 0 {
            0.0
        } else {
            (hits + joined) as f64 / lookups as f64
        };
        Snapshot {
            mounted_at: epoch(state.mounted_at),
            requests: Requests {
                list: load(&store.list_requests),
                head: load(&store.head_requests),
                get: load(&store.get_requests),
                retries: load(&store.retries),
                in_flight: store.in_flight.load(Ordering::Relaxed),
            },
            bytes_fetched: load(&store.bytes_fetched),
            bytes_served: load(&c.bytes_served),
            cache: CacheStats {
                hits,
                misses,
                joined_in_flight: joined,
                hit_ratio,
                evictions: load(&c.evictions),
                prefetched_blocks: load(&c.prefetched),
                format_hint_fetches: load(&c.hint_fetches),
                format_hint_hits: load(&c.hint_hits),
                prefetch_cancelled: load(&c.prefetch_cancelled),
                streamed_dropped: load(&c.streamed_dropped),
                sweeps: load(&c.sweeps),
                resident_bytes: cache.resident_bytes(),
                capacity_bytes: cache.capacity(),
                block_size: cache.block_size(),
            },
            disk_cache: disk_stats(cache),
            passthrough: state.passthrough,
            buffers: Buffers {
                allocated: load(&store.buffers_allocated),
                recycled: load(&store.buffers_recycled),
                pooled_bytes: load(&store.pooled_bytes),
            },
            memory: Memory {
                rss_bytes: proc_status_kib("VmRSS").map(|k| k * 1024),
                peak_rss_bytes: proc_status_kib("VmHWM").map(|k| k * 1024),
            },
            open_files: state.open_files,
            unsafe_key_names: state.unsafe_key_names,
            inodes: state.inodes,
            views: state.views.into_iter().map(view_stats).collect(),
        }
    }

    /// The snapshot as `stats.json` and `mastfs stats` show it.
    pub fn to_json(&self) -> Value {
        // Through a `Value`, as ever: its keys come out sorted.
        serde_json::to_value(self).unwrap_or_default()
    }
}

fn load(a: &AtomicU64) -> u64 {
    a.load(Ordering::Relaxed)
}

fn epoch(t: SystemTime) -> u64 {
    t.duration_since(SystemTime::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

fn disk_stats(cache: &BlockCache) -> Option<DiskCacheStats> {
    let d = cache.disk()?;
    let dc = &d.counters;
    let (used_bytes, files) = d.usage();
    Some(DiskCacheStats {
        dir: d.dir().to_path_buf(),
        capacity_bytes: d.capacity(),
        used_bytes,
        files,
        pending_write_bytes: cache.pending_disk_bytes(),
        hits: load(&dc.hits),
        misses: load(&dc.misses),
        writes: load(&dc.writes),
        evictions: load(&dc.evictions),
        rejected: load(&dc.rejected),
        errors: load(&dc.errors),
        bytes_read: load(&dc.bytes_read),
        bytes_written: load(&dc.bytes_written),
        whole_files_built: load(&dc.whole_built),
        whole_files_used: load(&dc.whole_reused),
    })
}

fn view_stats(v: ViewStatus) -> ViewStats {
    ViewStats {
        name: v.name,
        resolved_at: v.resolved_at.map(epoch),
        entries: v.entries,
        resolving: v.resolving,
        last_error: v.last_error,
        unsafe_names: v.unsafe_names,
    }
}

/// `{"enabled": false}` without a disk cache, else `enabled: true` beside the numbers.
fn disk_section<S: Serializer>(
    disk: &Option<DiskCacheStats>,
    serializer: S,
) -> Result<S::Ok, S::Error> {
    #[derive(Serialize)]
    struct Section<'a> {
        enabled: bool,
        #[serde(flatten)]
        stats: Option<&'a DiskCacheStats>,
    }
    Section {
        enabled: disk.is_some(),
        stats: disk.as_ref(),
    }
    .serialize(serializer)
}

/// A `kB` field of /proc/self/status.
fn proc_status_kib(field: &str) -> Option<u64> {
    let text = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = text.lines().find(|l| l.starts_with(field))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    /// The keys and shapes of `stats.json` as scripts and tests read them.
    #[test]
    fn the_json_keeps_its_keys() {
        let snapshot = Snapshot {
            views: vec![ViewStats {
                name: "v".into(),
                ..ViewStats::default()
            }],
            ..Snapshot::default()
        };
        let want = json!({
            "mounted_at": 0,
            "requests": {"list": 0, "head": 0, "get": 0, "retries": 0, "in_flight": 0},
            "bytes_fetched": 0,
            "bytes_served": 0,
            "cache": {
                "hits": 0, "misses": 0, "joined_in_flight": 0, "hit_ratio": 0.0,
                "evictions": 0, "prefetched_blocks": 0, "format_hint_fetches": 0,
                "format_hint_hits": 0, "prefetch_cancelled": 0, "streamed_dropped": 0,
                "sweeps": 0, "resident_bytes": 0, "capacity_bytes": 0, "block_size": 0,
            },
            "disk_cache": {"enabled": false},
            "passthrough": {"enabled": false, "off_reason": null, "opens": 0, "declined": 0},
            "buffers": {"allocated": 0, "recycled": 0, "pooled_bytes": 0},
            "memory": {"rss_bytes": null, "peak_rss_bytes": null},
            "open_files": 0,
            "unsafe_key_names": 0,
            "inodes": 0,
            "views": [{
                "name": "v", "resolved_at": null, "entries": 0, "resolving": false,
                "last_error": null, "unsafe_names": 0,
            }],
        });
        assert_eq!(snapshot.to_json(), want, "stats.json without a disk cache");

        let with_disk = Snapshot {
            disk_cache: Some(DiskCacheStats {
                dir: "/var/cache/mastfs".into(),
                hits: 2,
                ..DiskCacheStats::default()
            }),
            ..Snapshot::default()
        };
        let want = json!({
            "enabled": true, "dir": "/var/cache/mastfs", "capacity_bytes": 0, "used_bytes": 0,
            "files": 0, "pending_write_bytes": 0, "hits": 2, "misses": 0, "writes": 0,
            "evictions": 0, "rejected": 0, "errors": 0, "bytes_read": 0, "bytes_written": 0,
            "whole_files_built": 0, "whole_files_used": 0,
        });
        assert_eq!(
            with_disk.to_json()["disk_cache"],
            want,
            "the disk cache section"
        );
    }
}
