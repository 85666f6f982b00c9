//! The errors of the raw client, worded so that a person running a benchmark can act.

use thiserror::Error;

#[derive(Debug, Error)]
pub enum BenchError {
    #[error("invalid endpoint URL {url:?}: {reason}")]
    InvalidEndpoint { url: String, reason: String },
    #[error("cannot build the HTTP client: {0}")]
    HttpClient(#[source] reqwest::Error),
    #[error("{what} failed (is the S3 endpoint running?): {source}")]
    Request {
        what: String,
        #[source]
        source: reqwest::Error,
    },
    #[error("{what} answered HTTP {status}: {body}")]
    Status {
        what: String,
        status: u16,
        body: String,
    },
    #[error("{what} answered without a usable Content-Length header")]
    MissingLength { what: String },
    #[error("{what} sent {got} body bytes, expected {expected}")]
    ShortBody {
        what: String,
        expected: u64,
        got: u64,
    },
    #[error("invalid workload: {0}")]
    InvalidWorkload(String),
    #[error("a parallel reader stopped unexpectedly: {0}")]
    Worker(String),
}
