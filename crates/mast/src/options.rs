//! Client configuration: where MAST is and how patient and how trusting to be with it.

use std::time::Duration;

/// The real MAST server.
pub const DEFAULT_BASE_URL: &str = "https://mast.stsci.edu";
/// The public bucket path_lookup keys live in.
pub const DEFAULT_BUCKET: &str = "stpubdata";

/// Knobs of `MastClient`. `Default` gives the values for the real service.
#[derive(Debug, Clone, PartialEq)]
pub struct ClientOptions {
    /// Base URL for every call (invoke, columnsconfig and path_lookup), without trailing `/`.
    pub base_url: String,
    /// Bucket that path_lookup keys refer to.
    pub bucket: String,
    /// TCP/TLS connect timeout of one request.
    pub connect_timeout: Duration,
    /// Timeout of one HTTP request, headers and body.
    pub request_timeout: Duration,
    /// Wall-clock budget of one logical query (all polls, pages and retries of it).
    pub query_budget: Duration,
    /// Rows per page sent in every invoke request.
    pub page_size: u32,
    /// Responses larger than this are refused (read incrementally, never buffered whole).
    pub max_response_bytes: u64,
    /// Extra attempts after a 5xx, a connection error or a request timeout.
    pub retries: u32,
    /// First pause between retries; doubled each time, capped at 10 s, plus up to 50% jitter.
    pub retry_backoff: Duration,
    /// Pause between two polls of a query MAST reports as EXECUTING.
    pub poll_interval: Duration,
    /// Observation ids per `Mast.Caom.Products` request.
    pub products_batch_size: usize,
    /// dataURIs per `path_lookup` request (kept small to avoid HTTP 414).
    pub path_lookup_chunk: usize,
    /// Base URL of the name resolver (objectname criteria). `None`: MAST's own resolver for
    /// the real MAST, else `base_url` (a MAST stand-in answers both).
    pub resolver_url: Option<String>,
}

/// MAST's name resolver, as astroquery calls it.
pub const DEFAULT_RESOLVER_URL: &str = "http://mastresolver.stsci.edu";

impl ClientOptions {
    /// Where objectname criteria are resolved.
    pub fn resolver_base_url(&self) -> String {
        match &self.resolver_url {
            Some(url) => url.trim_end_matches('/').to_string(),
            None if self.base_url.trim_end_matches('/') == DEFAULT_BASE_URL => {
                DEFAULT_RESOLVER_URL.to_string()
            }
            None => self.base_url.trim_end_matches('/').to_string(),
        }
    }
}

impl Default for ClientOptions {
    fn default() -> Self {
        ClientOptions {
            base_url: DEFAULT_BASE_URL.to_string(),
            bucket: DEFAULT_BUCKET.to_string(),
            connect_timeout: Duration::from_secs(10),
            request_timeout: Duration::from_secs(120),
            // astroquery's conf.timeout.
            query_budget: Duration::from_secs(600),
            // astroquery's conf.pagesize.
            page_size: 50_000,
            // The largest real answers (50 000 CAOM rows) are a few tens of MiB.
            max_response_bytes: 256 * 1024 * 1024,
            retries: 3,
            retry_backoff: Duration::from_millis(500),
            poll_interval: Duration::from_millis(500),
            products_batch_size: 500,
            path_lookup_chunk: 40,
            resolver_url: None,
        }
    }
}
