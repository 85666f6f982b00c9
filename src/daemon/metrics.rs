//! The optional Prometheus endpoint (`--metrics-addr 127.0.0.1:PORT`): `GET /metrics`
//! answers the mount's statistics in the Prometheus text format (version 0.0.4).
//!
//! Any local user can connect, so connections are capped and timed out (see
//! [`MAX_CONNECTIONS`]): an idle flood costs the daemon a few descriptors at most.
//!
//! The numbers are the ones `mastfs stats` shows: the text is made from the same typed
//! snapshot ([`crate::stats::Snapshot`]), read by field, so the two can never disagree and a
//! renamed statistic fails the build instead of dropping a metric.

use std::convert::Infallible;
use std::fmt::Write as _;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use bytes::Bytes;
use http_body_util::Full;
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::sync::Semaphore;

use crate::fs::Fs;
use crate::stats::{Snapshot, ViewStats};

/// Binds `addr` now (so a taken port fails the mount with a clear message) and serves
/// `/metrics` on the current runtime until the process ends. Returns the bound address.
pub fn serve(addr: SocketAddr, fs: Arc<Fs>) -> anyhow::Result<SocketAddr> {
    let listener = std::net::TcpListener::bind(addr)
        .with_context(|| format!("cannot listen for metrics on {addr} (--metrics-addr)"))?;
    listener.set_nonblocking(true)?;
    let bound = listener.local_addr()?;
    if !bound.ip().is_loopback() {
        tracing::warn!(
            "metrics endpoint on {bound} is reachable from other machines; \
             prefer 127.0.0.1:PORT behind your scraper"
        );
    }
    let listener = tokio::net::TcpListener::from_std(listener)?;
    tokio::spawn(accept_loop(listener, fs));
    tracing::info!("metrics on http://{bound}/metrics");
    Ok(bound)
}

/// Connections served at once: a scraper needs one; more are closed at once, so local
/// users cannot take the descriptors that S3 and disk I/O need.
const MAX_CONNECTIONS: usize = 16;
/// The longest a connection may stay open, request or not.
const CONNECTION_TIMEOUT: Duration = Duration::from_secs(10);
/// How long a client may take to send a request's headers.
const HEADER_TIMEOUT: Duration = Duration::from_secs(5);

async fn accept_loop(listener: tokio::net::TcpListener, fs: Arc<Fs>) {
    let slots = Arc::new(Semaphore::new(MAX_CONNECTIONS));
    loop {
        let stream = match listener.accept().await {
            Ok((stream, _)) => stream,
            Err(e) => {
                // Out of descriptors, most likely: give what holds them time to end.
                tracing::warn!("metrics endpoint: accept failed: {e}");
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        let Ok(slot) = slots.clone().try_acquire_owned() else {
            tracing::debug!(
                "metrics endpoint: {MAX_CONNECTIONS} connections open; one more refused"
            );
            drop(stream);
            continue;
        };
        let fs = fs.clone();
        tokio::spawn(async move {
            let service = hyper::service::service_fn(move |req| {
                let fs = fs.clone();
                async move { Ok::<_, Infallible>(respond(&req, &fs)) }
            });
            let connection = hyper::server::conn::http1::Builder::new()
                .timer(TokioTimer::new())
                .header_read_timeout(HEADER_TIMEOUT)
                .serve_connection(TokioIo::new(stream), service);
            let _ = tokio::time::timeout(CONNECTION_TIMEOUT, connection).await;
            drop(slot);
        });
    }
}

fn respond<B>(req: &Request<B>, fs: &Fs) -> Response<Full<Bytes>> {
    let reply = |status: StatusCode, content_type: &str, body: String| {
        let mut response = Response::new(Full::new(Bytes::from(body)));
        *response.status_mut() = status;
        if let Ok(v) = content_type.parse() {
            response
                .headers_mut()
                .insert(hyper::header::CONTENT_TYPE, v);
        }
        response
    };
    match (req.method(), req.uri().path()) {
        (&hyper::Method::GET | &hyper::Method::HEAD, "/metrics") => reply(
            StatusCode::OK,
            "text/plain; version=0.0.4; charset=utf-8",
            prometheus_text(&fs.stats()),
        ),
        (_, "/metrics") => reply(
            StatusCode::METHOD_NOT_ALLOWED,
            "text/plain",
            "only GET /metrics\n".into(),
        ),
        _ => reply(
            StatusCode::NOT_FOUND,
            "text/plain",
            "mastfs serves only /metrics here\n".into(),
        ),
    }
}

/// One metric family: name, type, help and its samples (labels, value).
struct Family<'a> {
    name: String,
    kind: &'a str,
    help: &'a str,
    samples: Vec<(String, f64)>,
}

/// The Prometheus text of a stats snapshot.
pub fn prometheus_text(s: &Snapshot) -> String {
    let one = |name: &str, kind, help, v: f64| Family {
        name: name.to_string(),
        kind,
        help,
        samples: vec![(String::new(), v)],
    };
    let (requests, cache) = (&s.requests, &s.cache);
    let mut families = vec![
        Family {
            name: "mastfs_s3_requests_total".into(),
            kind: "counter",
            help: "S3 requests sent, by kind.",
            samples: [
                ("list", requests.list),
                ("head", requests.head),
                ("get", requests.get),
            ]
            .iter()
            .map(|(k, v)| (format!("kind=\"{k}\""), *v as f64))
            .collect(),
        },
        one(
            "mastfs_s3_retries_total",
            "counter",
            "S3 requests retried after a transient failure.",
            requests.retries as f64,
        ),
        one(
            "mastfs_s3_requests_in_flight",
            "gauge",
            "S3 requests under way.",
            requests.in_flight as f64,
        ),
        one(
            "mastfs_fetched_bytes_total",
            "counter",
            "Bytes received from S3 object bodies.",
            s.bytes_fetched as f64,
        ),
        one(
            "mastfs_served_bytes_total",
            "counter",
            "Bytes handed to readers.",
            s.bytes_served as f64,
        ),
        one(
            "mastfs_cache_hits_total",
            "counter",
            "Block reads answered from memory.",
            cache.hits as f64,
        ),
        one(
            "mastfs_cache_misses_total",
            "counter",
            "Block reads that started a fetch.",
            cache.misses as f64,
        ),
        one(
            "mastfs_cache_joined_total",
            "counter",
            "Block reads that waited for a fetch already under way.",
            cache.joined_in_flight as f64,
        ),
        one(
            "mastfs_cache_evictions_total",
            "counter",
            "Blocks evicted from memory to stay within the budget.",
            cache.evictions as f64,
        ),
        one(
            "mastfs_cache_prefetched_blocks_total",
            "counter",
            "Blocks fetched ahead of sequential readers.",
            cache.prefetched_blocks as f64,
        ),
        one(
            "mastfs_cache_prefetch_cancelled_total",
            "counter",
            "Read-ahead fetches stopped because the files that asked for them were closed.",
            cache.prefetch_cancelled as f64,
        ),
        one(
            "mastfs_cache_streamed_dropped_total",
            "counter",
            "Blocks dropped from memory because a sequential reader had read past them.",
            cache.streamed_dropped as f64,
        ),
        one(
            "mastfs_cache_sweeps_total",
            "counter",
            "Files read at random whose object was then fetched whole in the background.",
            cache.sweeps as f64,
        ),
        one(
            "mastfs_cache_format_hint_fetches_total",
            "counter",
            "Header and index ranges of FITS and ASDF files fetched on open.",
            cache.format_hint_fetches as f64,
        ),
        one(
            "mastfs_cache_format_hint_hits_total",
            "counter",
            "Reads answered from those ranges.",
            cache.format_hint_hits as f64,
        ),
        one(
            "mastfs_cache_resident_bytes",
            "gauge",
            "Bytes of blocks held in memory.",
            cache.resident_bytes as f64,
        ),
        one(
            "mastfs_cache_capacity_bytes",
            "gauge",
            "Memory budget for blocks.",
            cache.capacity_bytes as f64,
        ),
    ];
    if let Some(rss) = s.memory.rss_bytes {
        families.push(one(
            "mastfs_resident_memory_bytes",
            "gauge",
            "Resident memory of the daemon.",
            rss as f64,
        ));
    }
    families.extend([
        one(
            "mastfs_inodes",
            "gauge",
            "Names the daemon holds for the kernel (root included).",
            s.inodes as f64,
        ),
        one(
            "mastfs_open_files",
            "gauge",
            "Files open through the mount.",
            s.open_files as f64,
        ),
        one(
            "mastfs_passthrough_opens_total",
            "counter",
            "Opens served by FUSE passthrough: the kernel reads a local copy.",
            s.passthrough.opens as f64,
        ),
    ]);
    if let Some(disk) = &s.disk_cache {
        for (name, value, kind, help) in [
            ("hits_total", disk.hits, "counter", "Blocks read from disk."),
            (
                "misses_total",
                disk.misses,
                "counter",
                "Blocks not on disk.",
            ),
            ("writes_total", disk.writes, "counter", "Blocks written."),
            (
                "evictions_total",
                disk.evictions,
                "counter",
                "Block files evicted.",
            ),
            (
                "rejected_total",
                disk.rejected,
                "counter",
                "Block files that failed their check.",
            ),
            ("errors_total", disk.errors, "counter", "Disk I/O errors."),
            ("used_bytes", disk.used_bytes, "gauge", "Bytes on disk."),
            (
                "capacity_bytes",
                disk.capacity_bytes,
                "gauge",
                "Disk bound.",
            ),
            (
                "whole_files_built_total",
                disk.whole_files_built,
                "counter",
                "Whole-object files built from blocks, for passthrough.",
            ),
        ] {
            families.push(one(
                &format!("mastfs_disk_cache_{name}"),
                kind,
                help,
                value as f64,
            ));
        }
    }
    let view_label = |v: &ViewStats| format!("view=\"{}\"", escape_label(&v.name));
    families.push(Family {
        name: "mastfs_view_entries".into(),
        kind: "gauge",
        help: "Files in each view's last listing.",
        samples: s
            .views
            .iter()
            .map(|v| (view_label(v), v.entries as f64))
            .collect(),
    });
    families.push(Family {
        name: "mastfs_view_resolved_timestamp_seconds".into(),
        kind: "gauge",
        help: "When each view was last resolved (Unix time).",
        samples: s
            .views
            .iter()
            .filter_map(|v| Some((view_label(v), v.resolved_at? as f64)))
            .collect(),
    });
    families.push(Family {
        name: "mastfs_view_failing".into(),
        kind: "gauge",
        help: "1 when a view's last resolution failed.",
        samples: s
            .views
            .iter()
            .map(|v| (view_label(v), f64::from(u8::from(v.last_error.is_some()))))
            .collect(),
    });
    let mut out = String::new();
    for f in families.iter().filter(|f| !f.samples.is_empty()) {
        let _ = writeln!(out, "# HELP {} {}", f.name, f.help);
        let _ = writeln!(out, "# TYPE {} {}", f.name, f.kind);
        for (labels, value) in &f.samples {
            if labels.is_empty() {
                let _ = writeln!(out, "{} {value}", f.name);
            } else {
                let _ = writeln!(out, "{}{{{labels}}} {value}", f.name);
            }
        }
    }
    out
}

/// Label values escape backslash, double quote and newline.
fn escape_label(v: &str) -> String {
    v.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stats::{CacheStats, DiskCacheStats, Memory, Passthrough, Requests};

    #[test]
    fn text_format_has_help_type_and_labelled_samples() {
        let snapshot = Snapshot {
            requests: Requests {
                list: 2,
                head: 1,
                get: 7,
                ..Requests::default()
            },
            bytes_fetched: 7340032,
            bytes_served: 5000000,
            cache: CacheStats {
                hits: 3,
                misses: 7,
                joined_in_flight: 1,
                prefetched_blocks: 4,
                resident_bytes: 7340032,
                capacity_bytes: 536870912,
                ..CacheStats::default()
            },
            disk_cache: Some(DiskCacheStats {
                hits: 5,
                misses: 2,
                writes: 2,
                used_bytes: 2097300,
                capacity_bytes: 1073741824,
                ..DiskCacheStats::default()
            }),
            memory: Memory {
                rss_bytes: Some(1000),
                peak_rss_bytes: None,
            },
            open_files: 1,
            passthrough: Passthrough {
                enabled: true,
                opens: 3,
                ..Passthrough::default()
            },
            views: vec![
                ViewStats {
                    name: "hst-\"x\"".into(),
                    entries: 4,
                    resolved_at: Some(1700000000),
                    ..ViewStats::default()
                },
                ViewStats {
                    name: "bad".into(),
                    last_error: Some("MAST down".into()),
                    ..ViewStats::default()
                },
            ],
            ..Snapshot::default()
        };
        let text = prometheus_text(&snapshot);
        for want in [
            "# TYPE mastfs_s3_requests_total counter",
            "mastfs_s3_requests_total{kind=\"get\"} 7",
            "mastfs_s3_requests_total{kind=\"list\"} 2",
            "mastfs_fetched_bytes_total 7340032",
            "mastfs_cache_capacity_bytes 536870912",
            "mastfs_resident_memory_bytes 1000",
            "mastfs_disk_cache_hits_total 5",
            "mastfs_passthrough_opens_total 3",
            "# TYPE mastfs_disk_cache_used_bytes gauge",
            "mastfs_view_entries{view=\"hst-\\\"x\\\"\"} 4",
            "mastfs_view_failing{view=\"bad\"} 1",
            "mastfs_view_failing{view=\"hst-\\\"x\\\"\"} 0",
        ] {
            assert!(text.contains(want), "missing line {want:?} in:\n{text}");
        }
        assert!(
            !text.contains("mastfs_view_resolved_timestamp_seconds{view=\"bad\"}"),
            "a view never resolved has no resolution time:\n{text}"
        );
    }

    #[test]
    fn no_disk_section_without_a_disk_cache() {
        let text = prometheus_text(&Snapshot::default());
        assert!(!text.contains("mastfs_disk_cache"), "got:\n{text}");
        assert!(
            !text.contains("mastfs_resident_memory_bytes"),
            "no memory line when /proc cannot be read:\n{text}"
        );
    }
}
