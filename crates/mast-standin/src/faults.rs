//! Misbehaviour the stand-in can be told to show, aimed at an endpoint (or one invoke
//! service) for a number of requests: HTTP errors, stalls, broken or huge bodies, MAST-level
//! errors.

use std::convert::Infallible;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use hyper::body::{Body, Frame, SizeHint};

use crate::record::Endpoint;

/// One kind of misbehaviour.
#[derive(Debug, Clone, PartialEq)]
pub enum Fault {
    /// Answer with this HTTP status and a short text body.
    Status(u16),
    /// Wait this long, then answer normally (longer than the client's timeout = a stall).
    Stall(Duration),
    /// Answer 200 with a body that is not JSON.
    MalformedJson,
    /// Answer 200 with the first half of the normal JSON body.
    TruncatedJson,
    /// Answer 200 with `bytes` bytes of JSON whitespace, streamed; with `declare_length`
    /// a Content-Length header announces it, else chunked transfer encoding.
    HugeBody { bytes: u64, declare_length: bool },
    /// Answer 200 with `{"status": "ERROR", "msg": <message>}` (invoke).
    RemoteError(String),
    /// Answer 200 with an empty body.
    EmptyBody,
}

/// A fault aimed at an endpoint for `remaining` more requests (`None` = until cleared).
#[derive(Debug, Clone)]
pub(crate) struct FaultRule {
    pub endpoint: Endpoint,
    pub fault: Fault,
    pub remaining: Option<u32>,
}

impl FaultRule {
    pub fn applies(&self, endpoint: &Endpoint, service: Option<&str>) -> bool {
        match &self.endpoint {
            Endpoint::Any => true,
            Endpoint::Service(wanted) => {
                *endpoint == Endpoint::Invoke && service == Some(wanted.as_str())
            }
            aimed => aimed == endpoint,
        }
    }
}

/// Take the first applicable fault, counting it down.
pub(crate) fn take_fault(
    rules: &mut Vec<FaultRule>,
    endpoint: &Endpoint,
    service: Option<&str>,
) -> Option<Fault> {
    let index = rules.iter().position(|r| r.applies(endpoint, service))?;
    let fault = rules[index].fault.clone();
    if let Some(remaining) = rules[index].remaining.as_mut() {
        *remaining = remaining.saturating_sub(1);
        if *remaining == 0 {
            rules.remove(index);
        }
    }
    Some(fault)
}

const FILLER_CHUNK: usize = 64 * 1024;
static FILLER: [u8; FILLER_CHUNK] = [b' '; FILLER_CHUNK];

/// A streamed body of `total` whitespace bytes; counts what was actually handed to hyper so
/// tests can see that a client stopped reading early.
pub(crate) struct FillerBody {
    remaining: u64,
    total: u64,
    declare_length: bool,
    sent: Arc<AtomicU64>,
}

impl FillerBody {
    pub fn new(total: u64, declare_length: bool, sent: Arc<AtomicU64>) -> Self {
        FillerBody {
            remaining: total,
            total,
            declare_length,
            sent,
        }
    }
}

impl Body for FillerBody {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        if self.remaining == 0 {
            return Poll::Ready(None);
        }
        let n = self.remaining.min(FILLER_CHUNK as u64) as usize;
        self.remaining -= n as u64;
        self.sent.fetch_add(n as u64, Ordering::Relaxed);
        Poll::Ready(Some(Ok(Frame::data(Bytes::from_static(&FILLER[..n])))))
    }

    fn is_end_stream(&self) -> bool {
        self.remaining == 0
    }

    fn size_hint(&self) -> SizeHint {
        if self.declare_length {
            SizeHint::with_exact(self.total)
        } else {
            SizeHint::default()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counted_faults_run_out_and_service_aim_is_precise() {
        let mut rules = vec![
            FaultRule {
                endpoint: Endpoint::Service("Mast.Caom.Products".into()),
                fault: Fault::MalformedJson,
                remaining: Some(1),
            },
            FaultRule {
                endpoint: Endpoint::PathLookup,
                fault: Fault::Status(500),
                remaining: None,
            },
        ];
        assert_eq!(
            take_fault(&mut rules, &Endpoint::Invoke, Some("Mast.Caom.Filtered")),
            None
        );
        assert_eq!(
            take_fault(&mut rules, &Endpoint::Invoke, Some("Mast.Caom.Products")),
            Some(Fault::MalformedJson)
        );
        assert_eq!(
            take_fault(&mut rules, &Endpoint::Invoke, Some("Mast.Caom.Products")),
            None
        );
        for _ in 0..3 {
            assert_eq!(
                take_fault(&mut rules, &Endpoint::PathLookup, None),
                Some(Fault::Status(500))
            );
        }
    }
}
