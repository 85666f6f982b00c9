//! The emulated network link: a per-request latency and one bandwidth limit
//! shared by every connection (like a single network link), both changeable
//! at runtime.

use std::time::{Duration, Instant};

use parking_lot::Mutex;
use serde::{Deserialize, Serialize};

/// Largest slice of a body handed to a connection at once.
pub(crate) const MAX_CHUNK: usize = 256 * 1024;

/// The link settings as the control plane reads and writes them.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct LinkSettings {
    /// Delay before each response head, milliseconds.
    #[serde(default)]
    pub latency_ms: u64,
    /// Shared bandwidth limit; `null` = unlimited.
    #[serde(default)]
    pub bandwidth_bytes_per_sec: Option<u64>,
}

struct State {
    latency: Duration,
    bandwidth: Option<u64>,
    /// When the link is next free: bytes reserved by any connection occupy
    /// it back to back, so parallel transfers share the rate.
    next_free: Instant,
}

pub(crate) struct Link {
    state: Mutex<State>,
}

impl Link {
    pub(crate) fn new(latency: Duration, bandwidth: Option<u64>) -> Link {
        Link {
            state: Mutex::new(State {
                latency,
                bandwidth: bandwidth.filter(|b| *b > 0),
                next_free: Instant::now(),
            }),
        }
    }

    pub(crate) fn set(&self, latency: Duration, bandwidth: Option<u64>) {
        let mut s = self.state.lock();
        s.latency = latency;
        s.bandwidth = bandwidth.filter(|b| *b > 0);
        s.next_free = Instant::now();
    }

    pub(crate) fn settings(&self) -> LinkSettings {
        let s = self.state.lock();
        LinkSettings {
            latency_ms: u64::try_from(s.latency.as_millis()).unwrap_or(u64::MAX),
            bandwidth_bytes_per_sec: s.bandwidth,
        }
    }

    pub(crate) fn latency(&self) -> Duration {
        self.state.lock().latency
    }

    /// How big a slice to send at once: about 10 ms worth of the link, so
    /// parallel transfers interleave finely, within [4 KiB, 256 KiB].
    pub(crate) fn chunk_size(&self) -> usize {
        match self.state.lock().bandwidth {
            None => MAX_CHUNK,
            Some(rate) => usize::try_from(rate / 100)
                .unwrap_or(MAX_CHUNK)
                .clamp(4096, MAX_CHUNK),
        }
    }

    /// Reserves the link for `bytes`; returns when they have "arrived", or
    /// `None` when the link is unlimited.
    pub(crate) fn reserve(&self, bytes: usize) -> Option<Instant> {
        let mut s = self.state.lock();
        let rate = s.bandwidth?;
        let now = Instant::now();
        let start = s.next_free.max(now);
        let end = start + Duration::from_secs_f64(bytes as f64 / rate as f64);
        s.next_free = end;
        Some(end)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reservations_queue_back_to_back() {
        let link = Link::new(Duration::ZERO, Some(1_000_000));
        let t0 = Instant::now();
        let a = link.reserve(100_000).unwrap();
        let b = link.reserve(100_000).unwrap();
        let first = a.duration_since(t0);
        let second = b.duration_since(t0);
        assert!(
            first >= Duration::from_millis(100) && first < Duration::from_millis(150),
            "first 100 kB at 1 MB/s should take ~100 ms, got {first:?}"
        );
        assert!(
            second >= Duration::from_millis(200) && second < Duration::from_millis(250),
            "second reservation queues behind the first: expected ~200 ms, got {second:?}"
        );
        link.set(Duration::ZERO, None);
        assert_eq!(link.reserve(100), None, "unlimited link reserves nothing");
    }
}
