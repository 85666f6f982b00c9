//! Request counters and the bounded request log: the public `Stats` /
//! `RequestRecord` types (shared by the Rust API and the JSON control plane)
//! and the collector the HTTP front end feeds.

use std::collections::{BTreeMap, VecDeque};

use parking_lot::Mutex;
use serde::{Deserialize, Serialize};

/// How many request records the log keeps; older ones are dropped (and
/// counted in [`Stats::log_dropped`]).
pub const REQUEST_LOG_CAPACITY: usize = 100_000;

/// The kind of S3 operation a request was, as counted and logged.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Op {
    /// ListObjectsV2 / ListObjects on a bucket.
    List,
    /// HeadObject.
    Head,
    /// GetObject.
    Get,
    /// PutObject.
    Put,
    /// Everything else (ListBuckets, HeadBucket, CreateBucket, DeleteObject, ...).
    Other,
}

/// Number of requests per operation kind.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct OpCounts {
    pub list: u64,
    pub head: u64,
    pub get: u64,
    pub put: u64,
    pub other: u64,
}

impl OpCounts {
    fn bump(&mut self, op: Op) {
        match op {
            Op::List => self.list += 1,
            Op::Head => self.head += 1,
            Op::Get => self.get += 1,
            Op::Put => self.put += 1,
            Op::Other => self.other += 1,
        }
    }

    /// Sum over all operation kinds.
    pub fn total(&self) -> u64 {
        self.list + self.head + self.get + self.put + self.other
    }
}

/// One S3 request as the server answered it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RequestRecord {
    pub op: Op,
    /// Bucket name, empty for service-level requests.
    pub bucket: String,
    /// Object key for object requests, the `prefix` parameter for listings,
    /// empty otherwise.
    pub key: String,
    /// The request's `Range` header, verbatim.
    pub range: Option<String>,
    /// HTTP status sent.
    pub status: u16,
    /// Response body bytes actually sent (less than announced when a fault
    /// cut the body short).
    pub body_bytes: u64,
    /// Name of the injected fault, if one was applied to this request.
    pub fault: Option<String>,
    /// When the request arrived, in microseconds since the server started.
    #[serde(default)]
    pub received_us: u64,
    /// When its response ended (body sent or cut short), on the same clock.
    #[serde(default)]
    pub finished_us: u64,
}

/// Snapshot of the counters (and optionally the request log).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Stats {
    /// Requests by operation kind (control-plane requests are not counted).
    pub requests: OpCounts,
    /// Requests by HTTP status sent.
    pub by_status: BTreeMap<u16, u64>,
    /// Response body bytes sent, all operations.
    pub body_bytes_sent: u64,
    /// Response body bytes sent for GetObject.
    pub get_body_bytes: u64,
    /// Requests a fault was injected into.
    pub faults_injected: u64,
    /// Records dropped from the front of the log because it was full.
    pub log_dropped: u64,
    /// Finished requests, oldest first (empty in `GET /_standin/stats`
    /// unless `?log=1`). A record is added once its body is fully sent or
    /// the response ended.
    pub log: Vec<RequestRecord>,
}

impl Stats {
    /// Log records of one operation kind.
    pub fn records_of(&self, op: Op) -> impl Iterator<Item = &RequestRecord> {
        self.log.iter().filter(move |r| r.op == op)
    }

    /// How many rounds the logged requests came in: requests whose times overlap form one
    /// round, and a request that arrived after every earlier one had ended starts the next.
    /// With the link's latency far above the client's own delays, that is the number of
    /// round trips a client spent, however slow the machine.
    pub fn rounds(&self) -> usize {
        let mut spans: Vec<(u64, u64)> = self
            .log
            .iter()
            .map(|r| (r.received_us, r.finished_us))
            .collect();
        spans.sort_unstable();
        let mut rounds = 0;
        let mut round_end = None;
        for (received, finished) in spans {
            match round_end {
                Some(end) if received < end => round_end = Some(end.max(finished)),
                _ => {
                    rounds += 1;
                    round_end = Some(finished);
                }
            }
        }
        rounds
    }
}

#[derive(Default)]
struct Inner {
    /// Bumped by every reset so that responses still streaming from before
    /// the reset do not leak into the fresh counters.
    epoch: u64,
    requests: OpCounts,
    by_status: BTreeMap<u16, u64>,
    body_bytes_sent: u64,
    get_body_bytes: u64,
    faults_injected: u64,
    log_dropped: u64,
    log: VecDeque<RequestRecord>,
}

/// Thread-safe accumulator behind [`Stats`].
pub(crate) struct StatsCollector {
    inner: Mutex<Inner>,
    /// The clock of the records' times.
    started: std::time::Instant,
}

impl Default for StatsCollector {
    fn default() -> StatsCollector {
        StatsCollector {
            inner: Mutex::default(),
            started: std::time::Instant::now(),
        }
    }
}

impl StatsCollector {
    /// Microseconds since the server started: the clock of the request log.
    pub(crate) fn now_us(&self) -> u64 {
        self.started.elapsed().as_micros() as u64
    }

    /// Counts a request whose response head is about to be sent; returns the
    /// epoch to pass to the later calls for this request.
    pub(crate) fn count_response(&self, op: Op, status: u16, fault_injected: bool) -> u64 {
        let mut inner = self.inner.lock();
        inner.requests.bump(op);
        *inner.by_status.entry(status).or_insert(0) += 1;
        if fault_injected {
            inner.faults_injected += 1;
        }
        inner.epoch
    }

    /// Counts body bytes as they are handed to the connection.
    pub(crate) fn count_body_bytes(&self, epoch: u64, op: Op, bytes: u64) {
        let mut inner = self.inner.lock();
        if inner.epoch != epoch {
            return;
        }
        inner.body_bytes_sent += bytes;
        if op == Op::Get {
            inner.get_body_bytes += bytes;
        }
    }

    /// Appends a finished request to the log.
    pub(crate) fn log(&self, epoch: u64, record: RequestRecord) {
        let mut inner = self.inner.lock();
        if inner.epoch != epoch {
            return;
        }
        if inner.log.len() >= REQUEST_LOG_CAPACITY {
            inner.log.pop_front();
            inner.log_dropped += 1;
        }
        inner.log.push_back(record);
    }

    pub(crate) fn snapshot(&self, with_log: bool) -> Stats {
        let inner = self.inner.lock();
        Stats {
            requests: inner.requests,
            by_status: inner.by_status.clone(),
            body_bytes_sent: inner.body_bytes_sent,
            get_body_bytes: inner.get_body_bytes,
            faults_injected: inner.faults_injected,
            log_dropped: inner.log_dropped,
            log: if with_log {
                inner.log.iter().cloned().collect()
            } else {
                Vec::new()
            },
        }
    }

    pub(crate) fn reset(&self) {
        let mut inner = self.inner.lock();
        let epoch = inner.epoch + 1;
        *inner = Inner {
            epoch,
            ..Inner::default()
        };
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(status: u16) -> RequestRecord {
        RequestRecord {
            op: Op::Get,
            bucket: "b".into(),
            key: "k".into(),
            range: None,
            status,
            body_bytes: 3,
            fault: None,
            received_us: 0,
            finished_us: 0,
        }
    }

    fn span(received_us: u64, finished_us: u64) -> RequestRecord {
        RequestRecord {
            received_us,
            finished_us,
            ..record(200)
        }
    }

    #[test]
    fn overlapping_requests_are_one_round() {
        let stats = Stats {
            // Two together, one after both, then two that overlap only with each other.
            log: vec![
                span(0, 150),
                span(2, 151),
                span(160, 310),
                span(320, 470),
                span(469, 620),
            ],
            ..Stats::default()
        };
        assert_eq!(stats.rounds(), 3, "rounds of {:?}", stats.log);
        assert_eq!(Stats::default().rounds(), 0, "rounds of an empty log");
    }

    #[test]
    fn reset_discards_late_updates_from_before_the_reset() {
        let stats = StatsCollector::default();
        let old_epoch = stats.count_response(Op::Get, 200, false);
        stats.reset();
        stats.count_body_bytes(old_epoch, Op::Get, 10);
        stats.log(old_epoch, record(200));
        let snap = stats.snapshot(true);
        assert_eq!(
            snap,
            Stats::default(),
            "a reset must hide requests begun before it"
        );

        let epoch = stats.count_response(Op::Get, 206, true);
        stats.count_body_bytes(epoch, Op::Get, 10);
        stats.log(epoch, record(206));
        let snap = stats.snapshot(true);
        assert_eq!(snap.requests.get, 1);
        assert_eq!(snap.by_status.get(&206), Some(&1));
        assert_eq!(snap.get_body_bytes, 10);
        assert_eq!(snap.faults_injected, 1);
        assert_eq!(snap.log.len(), 1);
        assert!(stats.snapshot(false).log.is_empty(), "log only on request");
    }

    #[test]
    fn stats_json_round_trips() {
        let stats = StatsCollector::default();
        let epoch = stats.count_response(Op::List, 200, false);
        stats.log(epoch, record(200));
        let snap = stats.snapshot(true);
        let json = serde_json::to_string(&snap).unwrap();
        let back: Stats = serde_json::from_str(&json).unwrap();
        assert_eq!(back, snap);
    }
}
