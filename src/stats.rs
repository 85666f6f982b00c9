//! Statistics of a running mount: S3 requests by kind, bytes fetched and served, cache hits,
//! misses and evictions, passthrough, requests in flight, memory, open files and the state
//! of each view.
//! Read by `mastfs stats` (over the control socket) and `MOUNTPOINT/.mastfs/stats.json`.

use std::sync::atomic::Ordering;
use std::time::SystemTime;

use serde_json::{json, Value};

use crate::fs::Fs;

/// The mount's statistics as JSON, counted since it was mounted.
pub fn snapshot(fs: &Fs) -> Value {
    let s = fs.store_counters();
    let c = &fs.cache().counters;
    let load = |a: &std::sync::atomic::AtomicU64| a.load(Ordering::Relaxed);
    let (hits, misses, joined) = (load(&c.hits), load(&c.misses), load(&c.joined));
    let lookups = hits + misses + joined;
    let hit_ratio = if lookups == 0 {
        0.0
    } else {
        (hits + joined) as f64 / lookups as f64
    };
    let epoch = |t: SystemTime| {
        t.duration_since(SystemTime::UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0)
    };
    let views: Vec<Value> = fs
        .views()
        .map(|v| v.status())
        .unwrap_or_default()
        .into_iter()
        .map(|v| {
            json!({
                "name": v.name,
                "resolved_at": v.resolved_at.map(epoch),
                "entries": v.entries,
                "resolving": v.resolving,
                "last_error": v.last_error,
                "unsafe_names": v.unsafe_names,
            })
        })
        .collect();
    let disk = match fs.cache().disk() {
        None => json!({ "enabled": false }),
        Some(d) => {
            let dc = &d.counters;
            let (bytes, files) = d.usage();
            json!({
                "enabled": true,
                "dir": d.dir(),
                "capacity_bytes": d.capacity(),
                "used_bytes": bytes,
                "files": files,
                "pending_write_bytes": fs.cache().pending_disk_bytes(),
                "hits": load(&dc.hits),
                "misses": load(&dc.misses),
                "writes": load(&dc.writes),
                "evictions": load(&dc.evictions),
                "rejected": load(&dc.rejected),
                "errors": load(&dc.errors),
                "bytes_read": load(&dc.bytes_read),
                "bytes_written": load(&dc.bytes_written),
                "whole_files_built": load(&dc.whole_built),
                "whole_files_used": load(&dc.whole_reused),
            })
        }
    };
    json!({
        "mounted_at": epoch(fs.mounted_at()),
        "requests": {
            "list": load(&s.list_requests),
            "head": load(&s.head_requests),
            "get": load(&s.get_requests),
            "retries": load(&s.retries),
            "in_flight": s.in_flight.load(Ordering::Relaxed),
        },
        "bytes_fetched": load(&s.bytes_fetched),
        "bytes_served": load(&c.bytes_served),
        "cache": {
            "hits": hits,
            "misses": misses,
            "joined_in_flight": joined,
            "hit_ratio": hit_ratio,
            "evictions": load(&c.evictions),
            "prefetched_blocks": load(&c.prefetched),
            "format_hint_fetches": load(&c.hint_fetches),
            "format_hint_hits": load(&c.hint_hits),
            "prefetch_cancelled": load(&c.prefetch_cancelled),
            "streamed_dropped": load(&c.streamed_dropped),
            "resident_bytes": fs.cache().resident_bytes(),
            "capacity_bytes": fs.cache().capacity(),
            "block_size": fs.cache().block_size(),
        },
        "disk_cache": disk,
        "passthrough": {
            "enabled": fs.passthrough.enabled(),
            "off_reason": fs.passthrough.reason(),
            "opens": load(&fs.passthrough.opens),
            "declined": load(&fs.passthrough.declined),
        },
        "buffers": {
            "allocated": load(&s.buffers_allocated),
            "recycled": load(&s.buffers_recycled),
            "pooled_bytes": load(&s.pooled_bytes),
        },
        "memory": {
            "rss_bytes": proc_status_kib("VmRSS").map(|k| k * 1024),
            "peak_rss_bytes": proc_status_kib("VmHWM").map(|k| k * 1024),
        },
        "open_files": fs.open_files(),
        "unsafe_key_names": fs.unsafe_key_names(),
        "inodes": fs.inode_count(),
        "views": views,
    })
}

/// A `kB` field of /proc/self/status.
fn proc_status_kib(field: &str) -> Option<u64> {
    let text = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = text.lines().find(|l| l.starts_with(field))?;
    line.split_whitespace().nth(1)?.parse().ok()
}
