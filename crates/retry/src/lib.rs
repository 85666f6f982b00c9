//! The retry policy shared by mastfs's two network clients, the S3 store and the MAST
//! client: how many attempts a request gets and how long to pause before each retry
//! (exponential backoff, capped, with random jitter so that clients failing together do not
//! retry together). What counts as retryable, and what bounds each attempt, stays with each
//! protocol's own loop.

use std::time::{Duration, SystemTime};

/// How often to try, and how long to wait in between.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Attempts per request, the first included (at least 1).
    pub max_attempts: u32,
    /// The pause before the first retry; each later one is twice the one before.
    pub initial_backoff: Duration,
    /// No pause (before jitter) is longer than this.
    pub max_backoff: Duration,
    /// Up to this percentage of each pause is added at random.
    pub jitter_percent: u32,
}

impl RetryPolicy {
    /// Whether a request that failed `attempts_made` times (retryably) may be tried again.
    pub fn allows_retry(&self, attempts_made: u32) -> bool {
        attempts_made < self.max_attempts.max(1)
    }

    /// The pause before retry number `retry` (1 for the first retry, after the first attempt).
    pub fn backoff(&self, retry: u32) -> Duration {
        let base = self.base_backoff(retry);
        let spread = base.as_nanos() * u128::from(self.jitter_percent) / 100;
        let jitter = entropy() % (spread + 1);
        base + Duration::from_nanos(u64::try_from(jitter).unwrap_or(u64::MAX))
    }

    /// The pause before retry number `retry`, jitter left out.
    pub fn base_backoff(&self, retry: u32) -> Duration {
        let doublings = retry.saturating_sub(1).min(31);
        self.initial_backoff
            .saturating_mul(1 << doublings)
            .min(self.max_backoff)
    }
}

/// A few varying bits for jitter: the clock's nanoseconds are random enough to spread
/// retries, and need no generator crate or seed.
fn entropy() -> u128 {
    SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy(jitter_percent: u32) -> RetryPolicy {
        RetryPolicy {
            max_attempts: 5,
            initial_backoff: Duration::from_millis(200),
            max_backoff: Duration::from_millis(3200),
            jitter_percent,
        }
    }

    #[test]
    fn backoff_doubles_up_to_the_cap() {
        let p = policy(0);
        let got: Vec<u128> = (1..=7).map(|n| p.backoff(n).as_millis()).collect();
        assert_eq!(got, [200, 400, 800, 1600, 3200, 3200, 3200]);
        assert_eq!(p.base_backoff(u32::MAX), Duration::from_millis(3200));
    }

    #[test]
    fn jitter_adds_at_most_its_share() {
        let p = policy(50);
        for n in 1..=6 {
            let base = p.base_backoff(n);
            for _ in 0..100 {
                let got = p.backoff(n);
                assert!(
                    got >= base && got <= base + base / 2,
                    "retry {n}: expected {base:?} to {:?}, got {got:?}",
                    base + base / 2
                );
            }
        }
    }

    #[test]
    fn attempts_are_counted_with_the_first() {
        let p = policy(0);
        assert!(p.allows_retry(4));
        assert!(!p.allows_retry(5));
        let once = RetryPolicy {
            max_attempts: 0,
            ..p
        };
        assert!(!once.allows_retry(1), "0 attempts means 1");
    }
}
