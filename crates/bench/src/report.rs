//! The JSON result of one raw-client run and the latency summary in it.
//!
//! MB/s is decimal (10^6 bytes per second), as `dd` prints it. Percentiles use the
//! nearest-rank rule, the same rule `scripts/bench` applies to the FUSE clients.

use std::time::Duration;

use serde::Serialize;

/// Requests the raw client sent, by kind.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct RequestCounts {
    pub head: u64,
    pub get: u64,
}

/// Latency percentiles of a set of requests or reads, in milliseconds.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct LatencySummary {
    pub count: usize,
    pub p50: f64,
    pub p90: f64,
    pub p99: f64,
    pub min: f64,
    pub max: f64,
    pub mean: f64,
}

/// The nearest-rank percentile `p` (0 < p <= 100) of sorted values.
fn nearest_rank(sorted: &[f64], p: f64) -> f64 {
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

impl LatencySummary {
    /// `None` for no samples.
    pub fn of(latencies_ms: &[f64]) -> Option<LatencySummary> {
        if latencies_ms.is_empty() {
            return None;
        }
        let mut sorted = latencies_ms.to_vec();
        sorted.sort_by(f64::total_cmp);
        Some(LatencySummary {
            count: sorted.len(),
            p50: nearest_rank(&sorted, 50.0),
            p90: nearest_rank(&sorted, 90.0),
            p99: nearest_rank(&sorted, 99.0),
            min: sorted[0],
            max: sorted[sorted.len() - 1],
            mean: sorted.iter().sum::<f64>() / sorted.len() as f64,
        })
    }
}

/// Milliseconds as a float, for reports.
pub fn millis(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

/// One workload run of the raw client, printed as JSON.
#[derive(Debug, Clone, Serialize)]
pub struct RawReport {
    /// `seq` or `random`.
    pub workload: &'static str,
    pub bucket: String,
    pub key: String,
    pub object_size: u64,
    /// Body bytes received.
    pub bytes: u64,
    /// Wall time from the first request (the HEAD) to the last byte.
    pub seconds: f64,
    pub mb_per_s: f64,
    pub requests: RequestCounts,
    /// `seq`: bytes per GET; `random`: bytes per read.
    pub request_size: u64,
    /// GETs in flight at once.
    pub parallel: usize,
    /// `seq`: latency of each ranged GET; `random`: of each read (one GET each).
    pub latency_ms: Option<LatencySummary>,
    /// Every latency sample in issue order (ms), for callers that aggregate themselves.
    pub latencies_ms: Vec<f64>,
    /// `random`: the read offsets, in order (empty for `seq`).
    pub offsets: Vec<u64>,
    pub seed: Option<u64>,
}

impl RawReport {
    pub fn throughput_mb_per_s(bytes: u64, elapsed: Duration) -> f64 {
        let secs = elapsed.as_secs_f64();
        if secs > 0.0 {
            bytes as f64 / secs / 1e6
        } else {
            0.0
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nearest_rank_percentiles() {
        let samples: Vec<f64> = (1..=200).rev().map(f64::from).collect();
        let s = LatencySummary::of(&samples).unwrap();
        assert_eq!(
            (s.p50, s.p90, s.p99, s.min, s.max),
            (100.0, 180.0, 198.0, 1.0, 200.0),
            "expected nearest-rank percentiles of 1..=200"
        );
        assert!((s.mean - 100.5).abs() < 1e-9, "mean: got {}", s.mean);
        let one = LatencySummary::of(&[7.0]).unwrap();
        assert_eq!((one.p50, one.p99), (7.0, 7.0));
        assert_eq!(LatencySummary::of(&[]), None);
    }

    #[test]
    fn throughput_is_decimal_megabytes() {
        let got = RawReport::throughput_mb_per_s(3_000_000, Duration::from_millis(1500));
        assert!((got - 2.0).abs() < 1e-9, "expected 2.0 MB/s, got {got}");
        assert_eq!(RawReport::throughput_mb_per_s(5, Duration::ZERO), 0.0);
    }
}
