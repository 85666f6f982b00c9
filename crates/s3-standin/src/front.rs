//! The HTTP front end wrapped around s3s's service: routes the control plane,
//! applies latency and faults, counts requests, and wraps every response
//! body in the link-paced, fault-bending `ShapedBody`.

use std::convert::Infallible;
use std::sync::Arc;

use bytes::Bytes;
use http::{header, HeaderValue, Request, Response, StatusCode};
use http_body::Body as _;
use http_body_util::combinators::BoxBody;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use s3s::service::S3Service;

use crate::backend::IgnoreRange;
use crate::body::{BodyFault, BoxError, RecordSink, ShapedBody};
use crate::classify::{classify, RequestInfo};
use crate::control;
use crate::faults::{Fault, FaultInjector, FaultTarget};
use crate::link::Link;
use crate::stats::{Op, RequestRecord, StatsCollector};
use crate::store::Store;

pub(crate) type ResponseBody = BoxBody<Bytes, BoxError>;

/// Everything a request handler needs; one per server.
pub(crate) struct Shared {
    pub store: Arc<Store>,
    pub stats: Arc<StatsCollector>,
    pub faults: FaultInjector,
    pub link: Arc<Link>,
    pub s3: S3Service,
}

pub(crate) fn full_body(bytes: impl Into<Bytes>) -> ResponseBody {
    Full::new(bytes.into())
        .map_err(|never| match never {})
        .boxed()
}

/// An S3-style XML error response built without s3s (for injected faults
/// and internal failures).
fn s3_error_response(status: StatusCode, code: &str, message: &str) -> Response<s3s::Body> {
    let xml = format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>{code}</Code><Message>{message}</Message></Error>"
    );
    let mut resp = Response::new(s3s::Body::from(xml));
    *resp.status_mut() = status;
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/xml"),
    );
    resp
}

/// s3s writes key strings into listings verbatim, but XML 1.0 cannot carry
/// most control characters and parsers turn a literal CR into LF. Write them
/// as character references, as S3 does (`&#xD;`); such bytes can only come
/// from keys, never from the XML markup itself.
fn escape_control_chars(xml: &[u8]) -> Option<Vec<u8>> {
    let needs = |b: u8| b < 0x20 && b != b'\t' && b != b'\n';
    if !xml.iter().any(|b| needs(*b)) {
        return None;
    }
    let mut out = Vec::with_capacity(xml.len() + 16);
    for &b in xml {
        if needs(b) {
            out.extend_from_slice(format!("&#x{b:X};").as_bytes());
        } else {
            out.push(b);
        }
    }
    Some(out)
}

fn body_fault(fault: Option<&Fault>, announced: Option<u64>) -> BodyFault {
    let half = announced.map_or(0, |n| n / 2);
    match fault {
        Some(Fault::ResetMidBody { after_bytes }) => BodyFault::Reset {
            after: after_bytes.unwrap_or(half),
        },
        Some(Fault::ShortBody { after_bytes }) => {
            let after = after_bytes.unwrap_or(half);
            // Always at least one byte short of what was announced.
            let after = announced.map_or(after, |n| after.min(n.saturating_sub(1)));
            BodyFault::Short { after }
        }
        Some(Fault::Stall {
            duration_ms,
            after_bytes,
        }) => BodyFault::Stall {
            at: after_bytes.unwrap_or(half),
            duration: std::time::Duration::from_millis(*duration_ms),
        },
        Some(Fault::SlowDrip { bytes_per_sec }) => BodyFault::Drip {
            bytes_per_sec: (*bytes_per_sec).max(1),
        },
        _ => BodyFault::None,
    }
}

fn announced_length(resp: &Response<s3s::Body>) -> Option<u64> {
    resp.headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse().ok())
        .or_else(|| resp.body().size_hint().exact())
}

/// Entry point for every HTTP request on a connection.
pub(crate) async fn handle(
    shared: Arc<Shared>,
    socket: Option<Arc<std::net::TcpStream>>,
    req: Request<Incoming>,
) -> Result<Response<ResponseBody>, Infallible> {
    if req.uri().path().starts_with(control::PATH_PREFIX) {
        return Ok(control::handle(&shared, req).await);
    }
    Ok(handle_s3(&shared, socket, req).await)
}

async fn handle_s3(
    shared: &Arc<Shared>,
    socket: Option<Arc<std::net::TcpStream>>,
    mut req: Request<Incoming>,
) -> Response<ResponseBody> {
    let received_us = shared.stats.now_us();
    let info: RequestInfo = classify(req.method(), req.uri(), req.headers());
    let fault = shared.faults.decide(&FaultTarget {
        op: info.op,
        key: &info.key,
        has_range: info.range.is_some(),
        has_response_body: !info.is_head,
    });

    let latency = shared.link.latency();
    if !latency.is_zero() {
        tokio::time::sleep(latency).await;
    }

    let mut resp = match &fault {
        Some(Fault::Status500) => s3_error_response(
            StatusCode::INTERNAL_SERVER_ERROR,
            "InternalError",
            "We encountered an internal error. Please try again.",
        ),
        Some(Fault::Slowdown503) => s3_error_response(
            StatusCode::SERVICE_UNAVAILABLE,
            "SlowDown",
            "Please reduce your request rate.",
        ),
        other => {
            if matches!(other, Some(Fault::FullInsteadOfRange)) {
                // Kept in the headers (it may be signed); the backend is told
                // to ignore it instead.
                req.extensions_mut().insert(IgnoreRange);
            }
            match shared.s3.call(req.map(s3s::Body::from)).await {
                Ok(resp) => resp,
                Err(e) => {
                    tracing::error!(error = ?e, "s3s failed to answer");
                    s3_error_response(
                        StatusCode::INTERNAL_SERVER_ERROR,
                        "InternalError",
                        "s3s failed to answer",
                    )
                }
            }
        }
    };

    // Every answer names itself as AWS's do, so clients can log which request failed.
    let id = format!("STANDIN{received_us:016X}");
    if let Ok(value) = HeaderValue::from_str(&id) {
        resp.headers_mut().insert("x-amz-request-id", value);
    }

    if info.op == Op::List && resp.status() == StatusCode::OK {
        if let Some(escaped) = resp
            .body()
            .bytes()
            .and_then(|xml| escape_control_chars(&xml))
        {
            resp.headers_mut().remove(header::CONTENT_LENGTH);
            *resp.body_mut() = s3s::Body::from(escaped);
        }
    }

    let status = resp.status();
    let epoch = shared
        .stats
        .count_response(info.op, status.as_u16(), fault.is_some());
    let record = RequestRecord {
        op: info.op,
        bucket: info.bucket,
        key: info.key,
        range: info.range,
        status: status.as_u16(),
        body_bytes: 0,
        fault: fault.as_ref().map(|f| f.name().to_owned()),
        received_us,
        finished_us: 0,
    };
    let mut sink = RecordSink::new(Arc::clone(&shared.stats), epoch, record);

    let no_body =
        info.is_head || status == StatusCode::NOT_MODIFIED || status == StatusCode::NO_CONTENT;
    if no_body {
        sink.finish(0);
        return resp.map(|body| body.map_err(BoxError::from).boxed());
    }
    let announced = announced_length(&resp);
    let body_fault = body_fault(fault.as_ref(), announced);
    resp.map(|body| {
        ShapedBody::new(
            body,
            announced,
            body_fault,
            Arc::clone(&shared.link),
            socket,
            sink,
        )
        .boxed()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn control_chars_become_character_references() {
        assert_eq!(escape_control_chars(b"<Key>a\tb\nc</Key>"), None);
        assert_eq!(
            escape_control_chars(b"<Key>a\x01b\rc</Key>").unwrap(),
            b"<Key>a&#x1;b&#xD;c</Key>".to_vec()
        );
    }

    #[test]
    fn short_body_is_always_short() {
        let f = Fault::ShortBody {
            after_bytes: Some(1000),
        };
        assert_eq!(
            body_fault(Some(&f), Some(10)),
            BodyFault::Short { after: 9 }
        );
        let f = Fault::ShortBody { after_bytes: None };
        assert_eq!(
            body_fault(Some(&f), Some(10)),
            BodyFault::Short { after: 5 }
        );
    }
}
