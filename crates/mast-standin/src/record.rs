//! What the stand-in received, decoded for assertions: the endpoint, the raw request, and
//! for invoke calls the Mashup request JSON (service, params, format, pagesize, page,
//! cacheBreaker), for path_lookup the URIs and the `use_cloud_path` flag.

use serde_json::Value;

/// Which API a request addressed (also used to aim faults).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Endpoint {
    /// `/api/v0/invoke`, any service.
    Invoke,
    /// `/api/v0/invoke` for one service only (e.g. `Mast.Caom.Products`); faults only.
    Service(String),
    /// `/portal/Mashup/Mashup.asmx/columnsconfig`.
    ColumnsConfig,
    /// `/api/v0.1/path_lookup/`.
    PathLookup,
    /// The name resolver, `/Santa-war/query`.
    Resolver,
    /// Any other path.
    Other,
    /// Every endpoint; faults only.
    Any,
}

/// A decoded Mashup request.
#[derive(Debug, Clone, PartialEq)]
pub struct InvokeRequest {
    /// The JSON text exactly as received (after form decoding).
    pub raw_json: String,
    pub json: Value,
    pub service: String,
    pub params: Value,
    pub format: Option<String>,
    pub pagesize: Option<u64>,
    pub page: Option<u64>,
    pub cache_breaker: Option<String>,
}

impl InvokeRequest {
    pub fn from_json_text(raw_json: &str) -> Result<Self, String> {
        let json: Value =
            serde_json::from_str(raw_json).map_err(|e| format!("request is not JSON: {e}"))?;
        let text = |key: &str| json.get(key).and_then(Value::as_str).map(str::to_string);
        let number = |key: &str| json.get(key).and_then(Value::as_u64);
        Ok(InvokeRequest {
            raw_json: raw_json.to_string(),
            service: text("service").ok_or("request without service")?,
            params: json.get("params").cloned().unwrap_or(Value::Null),
            format: text("format"),
            pagesize: number("pagesize"),
            page: number("page"),
            cache_breaker: text("cacheBreaker"),
            json,
        })
    }
}

/// A decoded path_lookup query.
#[derive(Debug, Clone, PartialEq)]
pub struct PathLookupRequest {
    pub uris: Vec<String>,
    /// The `use_cloud_path` parameter as sent (astroquery sends `True`).
    pub use_cloud_path: Option<String>,
}

/// One request as received.
#[derive(Debug, Clone, PartialEq)]
pub struct RecordedRequest {
    pub endpoint: Endpoint,
    pub method: String,
    pub path: String,
    /// Raw query string, if any.
    pub query: Option<String>,
    /// Raw body as text.
    pub body: String,
    /// Decoded form fields of the body (or of the query for GET).
    pub form: Vec<(String, String)>,
    pub invoke: Option<InvokeRequest>,
    pub path_lookup: Option<PathLookupRequest>,
}
