//! Fault injection: the public `FaultPlan` / `Fault` types (shared by the Rust
//! API and the JSON control plane) and the deterministic injector that decides,
//! request by request, whether a fault applies.

use rand::rngs::StdRng;
use rand::{RngExt, SeedableRng};
use serde::{Deserialize, Serialize};

use parking_lot::Mutex;

use crate::stats::Op;

/// Which requests a fault plan applies to.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OpMatch {
    /// Every S3 request.
    #[default]
    Any,
    /// GetObject only.
    Get,
    /// HeadObject only.
    Head,
    /// ListObjects(V2) only.
    List,
    /// PutObject only.
    Put,
}

impl OpMatch {
    fn matches(self, op: Op) -> bool {
        match self {
            OpMatch::Any => true,
            OpMatch::Get => op == Op::Get,
            OpMatch::Head => op == Op::Head,
            OpMatch::List => op == Op::List,
            OpMatch::Put => op == Op::Put,
        }
    }
}

/// What goes wrong. Variants without fields are written as plain strings in
/// JSON (`"status500"`), the others as objects (`{"stall": {"duration_ms": 3000}}`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Fault {
    /// 500 InternalError, S3 XML error body.
    Status500,
    /// 503 with S3 error code SlowDown.
    Slowdown503,
    /// Send the head and `after_bytes` of the body (default: half of it),
    /// then reset the TCP connection.
    ResetMidBody {
        #[serde(default)]
        after_bytes: Option<u64>,
    },
    /// Announce the full Content-Length, send only `after_bytes` (default:
    /// half; always at least one byte short), then close the connection.
    ShortBody {
        #[serde(default)]
        after_bytes: Option<u64>,
    },
    /// After `after_bytes` of the body (default: half of it) send nothing for
    /// `duration_ms`, then carry on normally.
    Stall {
        duration_ms: u64,
        #[serde(default)]
        after_bytes: Option<u64>,
    },
    /// Send the body at `bytes_per_sec` (default 4096) on this connection.
    SlowDrip {
        #[serde(default = "default_drip_rate")]
        bytes_per_sec: u64,
    },
    /// Answer a ranged GET with 200 and the whole object (only requests that
    /// carry a Range header match).
    FullInsteadOfRange,
}

fn default_drip_rate() -> u64 {
    4096
}

impl Fault {
    /// The snake_case name used in JSON and in the request log.
    pub fn name(&self) -> &'static str {
        match self {
            Fault::Status500 => "status500",
            Fault::Slowdown503 => "slowdown503",
            Fault::ResetMidBody { .. } => "reset_mid_body",
            Fault::ShortBody { .. } => "short_body",
            Fault::Stall { .. } => "stall",
            Fault::SlowDrip { .. } => "slow_drip",
            Fault::FullInsteadOfRange => "full_instead_of_range",
        }
    }

    /// Whether this fault can be applied to a request at all; requests it
    /// cannot apply to do not consume the plan's `count`.
    fn applies_to(&self, req: &FaultTarget<'_>) -> bool {
        match self {
            Fault::Status500 | Fault::Slowdown503 => true,
            Fault::ResetMidBody { .. }
            | Fault::ShortBody { .. }
            | Fault::Stall { .. }
            | Fault::SlowDrip { .. } => req.has_response_body,
            Fault::FullInsteadOfRange => req.op == Op::Get && req.has_range,
        }
    }
}

/// A fault plan: which requests fail, how often, and how.
///
/// A matching request gets the fault with probability `probability`
/// (drawn from a generator seeded with `seed`, so runs repeat exactly), and at
/// most `count` requests get it in total (`None` = unlimited). "The next N
/// matching requests" is `{"count": N}` with the default probability 1.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FaultPlan {
    #[serde(default)]
    pub seed: u64,
    #[serde(default = "default_probability")]
    pub probability: f64,
    #[serde(default)]
    pub count: Option<u64>,
    #[serde(default)]
    pub op: OpMatch,
    /// Only requests whose key (the prefix, for listings) contains this.
    #[serde(default)]
    pub key_contains: Option<String>,
    pub fault: Fault,
}

fn default_probability() -> f64 {
    1.0
}

impl FaultPlan {
    /// A plan that gives every request `fault`; narrow it with the fields.
    pub fn always(fault: Fault) -> FaultPlan {
        FaultPlan {
            seed: 0,
            probability: 1.0,
            count: None,
            op: OpMatch::Any,
            key_contains: None,
            fault,
        }
    }

    /// A plan that gives the next `n` requests matching `op` the fault.
    pub fn next(n: u64, op: OpMatch, fault: Fault) -> FaultPlan {
        FaultPlan {
            count: Some(n),
            op,
            ..FaultPlan::always(fault)
        }
    }
}

/// What the injector needs to know about a request.
pub(crate) struct FaultTarget<'a> {
    pub op: Op,
    pub key: &'a str,
    pub has_range: bool,
    pub has_response_body: bool,
}

struct ActivePlan {
    plan: FaultPlan,
    rng: StdRng,
    remaining: Option<u64>,
}

/// Holds the current plan and decides per request.
#[derive(Default)]
pub(crate) struct FaultInjector {
    active: Mutex<Option<ActivePlan>>,
}

impl FaultInjector {
    pub(crate) fn set(&self, plan: FaultPlan) {
        let rng = StdRng::seed_from_u64(plan.seed);
        let remaining = plan.count;
        *self.active.lock() = Some(ActivePlan {
            plan,
            rng,
            remaining,
        });
    }

    pub(crate) fn clear(&self) {
        *self.active.lock() = None;
    }

    pub(crate) fn current(&self) -> Option<FaultPlan> {
        self.active.lock().as_ref().map(|a| a.plan.clone())
    }

    /// The fault to inject into this request, if any.
    pub(crate) fn decide(&self, target: &FaultTarget<'_>) -> Option<Fault> {
        let mut guard = self.active.lock();
        let active = guard.as_mut()?;
        let plan = &active.plan;
        if !plan.op.matches(target.op) || !plan.fault.applies_to(target) {
            return None;
        }
        if let Some(needle) = &plan.key_contains {
            if !target.key.contains(needle.as_str()) {
                return None;
            }
        }
        if active.remaining == Some(0) {
            return None;
        }
        let hit = plan.probability >= 1.0
            || (plan.probability > 0.0 && active.rng.random::<f64>() < plan.probability);
        if !hit {
            return None;
        }
        if let Some(left) = active.remaining.as_mut() {
            *left -= 1;
        }
        Some(plan.fault.clone())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn get(key: &str) -> FaultTarget<'_> {
        FaultTarget {
            op: Op::Get,
            key,
            has_range: true,
            has_response_body: true,
        }
    }

    #[test]
    fn next_n_faults_exactly_n_matching_requests() {
        let inj = FaultInjector::default();
        let mut plan = FaultPlan::next(2, OpMatch::Get, Fault::Status500);
        plan.key_contains = Some("fits".into());
        inj.set(plan);
        let head = FaultTarget {
            op: Op::Head,
            key: "a.fits",
            has_range: false,
            has_response_body: false,
        };
        assert_eq!(inj.decide(&head), None, "HEAD does not match op=get");
        assert_eq!(inj.decide(&get("a.txt")), None, "key filter");
        assert_eq!(inj.decide(&get("a.fits")), Some(Fault::Status500));
        assert_eq!(inj.decide(&get("b.fits")), Some(Fault::Status500));
        assert_eq!(inj.decide(&get("c.fits")), None, "count exhausted");
    }

    #[test]
    fn probability_is_deterministic_per_seed() {
        let run = |seed| {
            let inj = FaultInjector::default();
            inj.set(FaultPlan {
                seed,
                probability: 0.3,
                ..FaultPlan::always(Fault::Slowdown503)
            });
            (0..200)
                .map(|_| inj.decide(&get("k")).is_some())
                .collect::<Vec<_>>()
        };
        let a = run(7);
        assert_eq!(a, run(7), "same seed, same decisions");
        let hits = a.iter().filter(|h| **h).count();
        assert!(
            (30..=90).contains(&hits),
            "expected about 60 of 200 hits at p=0.3, got {hits}"
        );
    }

    #[test]
    fn full_instead_of_range_needs_a_range() {
        let inj = FaultInjector::default();
        inj.set(FaultPlan::next(1, OpMatch::Any, Fault::FullInsteadOfRange));
        let unranged = FaultTarget {
            has_range: false,
            ..get("k")
        };
        assert_eq!(inj.decide(&unranged), None);
        assert_eq!(inj.decide(&get("k")), Some(Fault::FullInsteadOfRange));
    }

    #[test]
    fn plan_json_shape() {
        let plan: FaultPlan = serde_json::from_str(
            r#"{"seed": 7, "count": 2, "op": "get", "key_contains": "jw",
                "fault": {"stall": {"duration_ms": 3000}}}"#,
        )
        .unwrap();
        assert_eq!(plan.probability, 1.0);
        assert_eq!(
            plan.fault,
            Fault::Stall {
                duration_ms: 3000,
                after_bytes: None
            }
        );
        let simple: FaultPlan = serde_json::from_str(r#"{"fault": "slowdown503"}"#).unwrap();
        assert_eq!(simple, FaultPlan::always(Fault::Slowdown503));
    }
}
