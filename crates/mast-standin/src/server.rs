//! The HTTP side: a hyper 1 server on its own thread and tokio runtime, routing the three
//! MAST endpoints, recording every request, applying faults, and answering from the
//! scenario (EXECUTING polls, paging, filters, products by obsid, path lookups).

use std::collections::BTreeSet;
use std::convert::Infallible;
use std::io;
use std::net::TcpListener as StdTcpListener;
use std::sync::atomic::AtomicU64;
use std::sync::Arc;
use std::thread::JoinHandle;

use bytes::Bytes;
use http_body_util::combinators::BoxBody;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use parking_lot::Mutex;
use serde_json::{json, Map, Value};

use crate::faults::{take_fault, Fault, FaultRule, FillerBody};
use crate::filtering::row_matches;
use crate::record::{Endpoint, InvokeRequest, PathLookupRequest, RecordedRequest};
use crate::scenario::{Field, Scenario};

pub(crate) const INVOKE_PATH: &str = "/api/v0/invoke";
pub(crate) const COLUMNS_CONFIG_PATH: &str = "/portal/Mashup/Mashup.asmx/columnsconfig";
pub(crate) const PATH_LOOKUP_PATH: &str = "/api/v0.1/path_lookup/";
/// MAST's page size when a request names none.
const SERVER_DEFAULT_PAGE_SIZE: usize = 1000;

type ResponseBody = BoxBody<Bytes, Infallible>;

/// Mutable state shared by the handle and the server.
pub(crate) struct State {
    pub scenario: Scenario,
    pub executing_remaining: u32,
    pub page_rows: Option<usize>,
    pub faults: Vec<FaultRule>,
    pub requests: Vec<RecordedRequest>,
}

pub(crate) struct Shared {
    pub state: Mutex<State>,
    pub huge_bytes_sent: Arc<AtomicU64>,
}

/// The server thread; stopping it closes the listener and every open connection.
pub(crate) struct ServerThread {
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
    join: Option<JoinHandle<()>>,
}

impl ServerThread {
    pub fn spawn(listener: StdTcpListener, shared: Arc<Shared>) -> io::Result<Self> {
        listener.set_nonblocking(true)?;
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?;
        let (shutdown, mut shutdown_rx) = tokio::sync::oneshot::channel::<()>();
        let join = std::thread::Builder::new()
            .name("mast-standin".to_string())
            .spawn(move || {
                runtime.block_on(async move {
                    let listener = match tokio::net::TcpListener::from_std(listener) {
                        Ok(l) => l,
                        Err(e) => {
                            tracing::error!("mast stand-in cannot listen: {e}");
                            return;
                        }
                    };
                    loop {
                        tokio::select! {
                            _ = &mut shutdown_rx => break,
                            accepted = listener.accept() => {
                                let Ok((stream, _)) = accepted else { continue };
                                let shared = Arc::clone(&shared);
                                tokio::spawn(async move {
                                    let service = hyper::service::service_fn(move |req| {
                                        let shared = Arc::clone(&shared);
                                        async move { Ok::<_, Infallible>(handle(req, shared).await) }
                                    });
                                    let _ = hyper::server::conn::http1::Builder::new()
                                        .serve_connection(TokioIo::new(stream), service)
                                        .await;
                                });
                            }
                        }
                    }
                });
                // Dropping the runtime here cancels every connection task, stalled ones too.
                drop(runtime);
            })?;
        Ok(ServerThread {
            shutdown: Some(shutdown),
            join: Some(join),
        })
    }

    pub fn stop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(join) = self.join.take() {
            let _ = join.join();
        }
    }
}

impl Drop for ServerThread {
    fn drop(&mut self) {
        self.stop();
    }
}

async fn handle(request: Request<Incoming>, shared: Arc<Shared>) -> Response<ResponseBody> {
    let method = request.method().as_str().to_string();
    let path = request.uri().path().to_string();
    let query = request.uri().query().map(str::to_string);
    let body = match request.into_body().collect().await {
        Ok(collected) => String::from_utf8_lossy(&collected.to_bytes()).into_owned(),
        Err(e) => return text_response(StatusCode::BAD_REQUEST, &format!("cannot read body: {e}")),
    };
    let form_source = if method == "GET" {
        query.clone().unwrap_or_default()
    } else {
        body.clone()
    };
    let form: Vec<(String, String)> = url::form_urlencoded::parse(form_source.as_bytes())
        .into_owned()
        .collect();
    let endpoint = match path.as_str() {
        INVOKE_PATH => Endpoint::Invoke,
        COLUMNS_CONFIG_PATH => Endpoint::ColumnsConfig,
        "/api/v0.1/path_lookup" | PATH_LOOKUP_PATH => Endpoint::PathLookup,
        crate::resolver::RESOLVER_PATH => Endpoint::Resolver,
        _ => Endpoint::Other,
    };
    let field = |name: &str| form.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone());
    let mut invoke_error = None;
    let invoke = if endpoint == Endpoint::Invoke {
        match field("request").map(|text| InvokeRequest::from_json_text(&text)) {
            Some(Ok(decoded)) => Some(decoded),
            Some(Err(e)) => {
                invoke_error = Some(e);
                None
            }
            None => {
                invoke_error = Some("no 'request' form field".to_string());
                None
            }
        }
    } else {
        None
    };
    let path_lookup = (endpoint == Endpoint::PathLookup).then(|| PathLookupRequest {
        uris: form
            .iter()
            .filter(|(k, _)| k == "uri")
            .map(|(_, v)| v.clone())
            .collect(),
        use_cloud_path: field("use_cloud_path"),
    });
    let service = invoke.as_ref().map(|i| i.service.clone());
    let record = RecordedRequest {
        endpoint: endpoint.clone(),
        method,
        path,
        query,
        body,
        form: form.clone(),
        invoke: invoke.clone(),
        path_lookup: path_lookup.clone(),
    };
    let (fault, executing) = {
        let mut state = shared.state.lock();
        state.requests.push(record);
        let fault = take_fault(&mut state.faults, &endpoint, service.as_deref());
        let executing = fault.is_none() && invoke.is_some() && state.executing_remaining > 0;
        if executing {
            state.executing_remaining -= 1;
        }
        (fault, executing)
    };
    let fault = match fault {
        Some(Fault::Stall(duration)) => {
            tokio::time::sleep(duration).await;
            None
        }
        other => other,
    };
    if let Some(error) = invoke_error {
        return text_response(StatusCode::BAD_REQUEST, &error);
    }
    if executing {
        return json_response(json!({"status": "EXECUTING", "msg": "", "data": [], "fields": []}));
    }
    let normal = {
        let state = shared.state.lock();
        match (&endpoint, &invoke, &path_lookup) {
            (Endpoint::Invoke, Some(request), _) => answer_invoke(&state, request),
            (Endpoint::ColumnsConfig, _, _) => match field("colConfigId") {
                Some(_) => json_response(state.scenario.columns_config.clone()),
                None => text_response(StatusCode::BAD_REQUEST, "missing colConfigId"),
            },
            (Endpoint::PathLookup, _, Some(lookup)) => answer_path_lookup(&state.scenario, lookup),
            (Endpoint::Resolver, _, _) => json_response(crate::resolver::answer(
                field("name").as_deref().unwrap_or_default(),
                field("resolveAll").as_deref() == Some("true"),
            )),
            _ => text_response(
                StatusCode::NOT_FOUND,
                "no such MAST endpoint in the stand-in",
            ),
        }
    };
    match fault {
        None | Some(Fault::Stall(_)) => normal,
        Some(fault) => faulty_response(fault, normal, &shared).await,
    }
}

async fn faulty_response(
    fault: Fault,
    normal: Response<ResponseBody>,
    shared: &Shared,
) -> Response<ResponseBody> {
    match fault {
        Fault::Status(code) => {
            let status = StatusCode::from_u16(code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
            text_response(status, &format!("stand-in fault: HTTP {code}"))
        }
        Fault::MalformedJson => raw_response(
            StatusCode::OK,
            Bytes::from_static(b"<html><body>Service temporarily unavailable</body></html>"),
        ),
        Fault::TruncatedJson => {
            let bytes = normal
                .into_body()
                .collect()
                .await
                .map(|c| c.to_bytes())
                .unwrap_or_default();
            raw_response(StatusCode::OK, bytes.slice(..bytes.len() / 2))
        }
        Fault::HugeBody {
            bytes,
            declare_length,
        } => {
            let body = FillerBody::new(bytes, declare_length, Arc::clone(&shared.huge_bytes_sent));
            let mut response = Response::new(body.boxed());
            response.headers_mut().insert(
                hyper::header::CONTENT_TYPE,
                hyper::header::HeaderValue::from_static("application/json"),
            );
            response
        }
        Fault::RemoteError(message) => {
            json_response(json!({"status": "ERROR", "msg": message, "data": [], "fields": []}))
        }
        Fault::EmptyBody => raw_response(StatusCode::OK, Bytes::new()),
        Fault::Stall(_) => normal,
    }
}

fn answer_invoke(state: &State, request: &InvokeRequest) -> Response<ResponseBody> {
    let scenario = &state.scenario;
    let service = request.service.as_str();
    let (fields, rows) = match service {
        "Mast.Caom.Filtered" | "Mast.Caom.Filtered.Position" => {
            let filters = request
                .params
                .get("filters")
                .and_then(Value::as_array)
                .cloned()
                .unwrap_or_default();
            let cone = match request
                .params
                .get("position")
                .map(crate::resolver::parse_cone)
            {
                None => None,
                Some(Ok(cone)) => Some(cone),
                Some(Err(message)) => return mast_error(&message),
            };
            let mut rows = Vec::new();
            for row in &scenario.observations {
                if cone.as_ref().is_some_and(|c| !c.contains(row)) {
                    continue;
                }
                match scenario
                    .filter_observations
                    .then(|| row_matches(row, &filters))
                {
                    Some(Err(message)) => return mast_error(&message),
                    Some(Ok(false)) => {}
                    Some(Ok(true)) | None => rows.push(row.clone()),
                }
            }
            if request.params.get("columns").and_then(Value::as_str) == Some("COUNT_BIG(*)") {
                let count = json!({"Column1": rows.len()});
                let rows = vec![count.as_object().cloned().unwrap_or_default()];
                (vec![Field::new("Column1", "int")], rows)
            } else {
                (scenario.observation_fields.clone(), rows)
            }
        }
        "Mast.Caom.Products" => {
            let Some(obsids) = request.params.get("obsid").and_then(Value::as_str) else {
                return mast_error("Mast.Caom.Products needs params.obsid");
            };
            let wanted: BTreeSet<String> = obsids
                .split(',')
                .map(|s| s.trim().to_string())
                .filter(|s| !s.is_empty())
                .collect();
            (
                scenario.product_fields.clone(),
                scenario.products_for(&wanted),
            )
        }
        other => return mast_error(&format!("Unknown service {other}")),
    };
    let requested = request
        .pagesize
        .map(|p| p as usize)
        .filter(|p| *p > 0)
        .unwrap_or(SERVER_DEFAULT_PAGE_SIZE);
    let page_size = state.page_rows.unwrap_or(requested).max(1);
    let page = request.page.unwrap_or(1).max(1) as usize;
    let total = rows.len();
    let pages = total.div_ceil(page_size);
    let start = ((page - 1) * page_size).min(total);
    let end = (start + page_size).min(total);
    let data: Vec<Value> = rows[start..end]
        .iter()
        .cloned()
        .map(Value::Object)
        .collect();
    json_response(json!({
        "status": "COMPLETE",
        "msg": "",
        "paging": {"page": page, "pageSize": page_size, "pagesFiltered": pages,
                   "rows": data.len(), "rowsFiltered": total, "rowsTotal": total},
        "fields": fields,
        "data": data,
    }))
}

fn answer_path_lookup(scenario: &Scenario, lookup: &PathLookupRequest) -> Response<ResponseBody> {
    let mut answer = Map::new();
    for uri in &lookup.uris {
        if scenario.omitted_from_lookup.contains(uri) {
            continue;
        }
        let entry = match scenario.cloud_paths.get(uri) {
            Some(Some(path)) => json!({"status_code": 200, "path": path}),
            _ => json!({"status_code": 404, "path": null}),
        };
        answer.insert(uri.clone(), entry);
    }
    json_response(Value::Object(answer))
}

fn mast_error(message: &str) -> Response<ResponseBody> {
    json_response(json!({"status": "ERROR", "msg": message, "data": [], "fields": []}))
}

fn json_response(value: Value) -> Response<ResponseBody> {
    let bytes = serde_json::to_vec(&value).unwrap_or_default();
    let mut response = raw_response(StatusCode::OK, Bytes::from(bytes));
    response.headers_mut().insert(
        hyper::header::CONTENT_TYPE,
        hyper::header::HeaderValue::from_static("application/json; charset=utf-8"),
    );
    response
}

fn text_response(status: StatusCode, text: &str) -> Response<ResponseBody> {
    raw_response(status, Bytes::from(text.to_string()))
}

fn raw_response(status: StatusCode, bytes: Bytes) -> Response<ResponseBody> {
    let mut response = Response::new(Full::new(bytes).boxed());
    *response.status_mut() = status;
    response
}
