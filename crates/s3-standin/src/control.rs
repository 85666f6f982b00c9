//! The JSON control plane under `/_standin/` (a path no bucket can have):
//! stats, reset, fault plan and link settings, for scripts and Python tests.
//!
//! - `GET /_standin/stats[?log=1]` → `Stats`: `{"requests": {"list", "head",
//!   "get", "put", "other"}, "by_status": {"200": n, ...}, "body_bytes_sent",
//!   "get_body_bytes", "faults_injected", "log_dropped", "log": [{"op",
//!   "bucket", "key", "range", "status", "body_bytes", "fault"}]}`
//! - `POST /_standin/reset` → `{"ok": true}`
//! - `GET /_standin/faults` → the current `FaultPlan` or `null`;
//!   `POST /_standin/faults` with a plan, e.g. `{"seed": 7, "probability":
//!   0.2, "count": 3, "op": "get", "key_contains": ".fits", "fault":
//!   {"stall": {"duration_ms": 3000}}}` (empty body, `{}` or `null` clears;
//!   `DELETE` clears too) → the plan now in force
//! - `GET /_standin/link`, `POST /_standin/link` with `{"latency_ms": 20,
//!   "bandwidth_bytes_per_sec": null}` → the settings now in force

use std::time::Duration;

use bytes::Bytes;
use http::{header, HeaderValue, Method, Request, Response, StatusCode};
use http_body_util::BodyExt;
use hyper::body::Incoming;
use serde::Serialize;

use crate::faults::FaultPlan;
use crate::front::{full_body, ResponseBody, Shared};
use crate::link::LinkSettings;

pub(crate) const PATH_PREFIX: &str = "/_standin/";

/// Control requests are tiny; refuse anything bigger than this.
const MAX_CONTROL_BODY: usize = 1024 * 1024;

fn json_response(status: StatusCode, value: &impl Serialize) -> Response<ResponseBody> {
    let body = serde_json::to_vec_pretty(value)
        .unwrap_or_else(|e| format!("{{\"error\":\"{e}\"}}").into_bytes());
    let mut resp = Response::new(full_body(body));
    *resp.status_mut() = status;
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    resp
}

fn error(status: StatusCode, message: impl Into<String>) -> Response<ResponseBody> {
    #[derive(Serialize)]
    struct ErrorBody {
        error: String,
    }
    json_response(
        status,
        &ErrorBody {
            error: message.into(),
        },
    )
}

async fn read_body(req: Request<Incoming>) -> Result<Bytes, Response<ResponseBody>> {
    let limited = http_body_util::Limited::new(req.into_body(), MAX_CONTROL_BODY);
    match limited.collect().await {
        Ok(collected) => Ok(collected.to_bytes()),
        Err(e) => Err(error(
            StatusCode::BAD_REQUEST,
            format!("could not read the request body: {e}"),
        )),
    }
}

/// True for an empty body, `null` or `{}`: "clear the fault plan".
fn is_empty_json(body: &[u8]) -> bool {
    if body.iter().all(u8::is_ascii_whitespace) {
        return true;
    }
    match serde_json::from_slice::<serde_json::Value>(body) {
        Ok(serde_json::Value::Null) => true,
        Ok(serde_json::Value::Object(map)) => map.is_empty(),
        _ => false,
    }
}

fn wants_log(query: Option<&str>) -> bool {
    query
        .unwrap_or("")
        .split('&')
        .any(|p| matches!(p, "log=1" | "log=true" | "log"))
}

pub(crate) async fn handle(shared: &Shared, req: Request<Incoming>) -> Response<ResponseBody> {
    let path = req.uri().path()[PATH_PREFIX.len()..]
        .trim_end_matches('/')
        .to_owned();
    let method = req.method().clone();
    match (method, path.as_str()) {
        (Method::GET, "stats") => {
            let with_log = wants_log(req.uri().query());
            json_response(StatusCode::OK, &shared.stats.snapshot(with_log))
        }
        (Method::POST, "reset") => {
            shared.stats.reset();
            json_response(StatusCode::OK, &serde_json::json!({"ok": true}))
        }
        (Method::GET, "faults") => json_response(StatusCode::OK, &shared.faults.current()),
        (Method::DELETE, "faults") => {
            shared.faults.clear();
            json_response(StatusCode::OK, &shared.faults.current())
        }
        (Method::POST, "faults") => {
            let body = match read_body(req).await {
                Ok(b) => b,
                Err(resp) => return resp,
            };
            if is_empty_json(&body) {
                shared.faults.clear();
            } else {
                match serde_json::from_slice::<FaultPlan>(&body) {
                    Ok(plan) => shared.faults.set(plan),
                    Err(e) => return error(StatusCode::BAD_REQUEST, format!("not a fault plan: {e}")),
                }
            }
            json_response(StatusCode::OK, &shared.faults.current())
        }
        (Method::GET, "link") => json_response(StatusCode::OK, &shared.link.settings()),
        (Method::POST, "link") => {
            let body = match read_body(req).await {
                Ok(b) => b,
                Err(resp) => return resp,
            };
            let settings: LinkSettings = if body.iter().all(u8::is_ascii_whitespace) {
                LinkSettings::default()
            } else {
                match serde_json::from_slice(&body) {
                    Ok(s) => s,
                    Err(e) => return error(StatusCode::BAD_REQUEST, format!("not link settings: {e}")),
                }
            };
            shared
                .link
                .set(Duration::from_millis(settings.latency_ms), settings.bandwidth_bytes_per_sec);
            json_response(StatusCode::OK, &shared.link.settings())
        }
        (m, p) => error(
            StatusCode::NOT_FOUND,
            format!("no control endpoint {m} {PATH_PREFIX}{p}; try GET stats, POST reset, GET/POST faults, GET/POST link"),
        ),
    }
}
