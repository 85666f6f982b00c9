//! [`RangeClient`]: HEAD and ranged GETs of one object over plain HTTP on kept-alive
//! connections, with path-style addressing and no signing (public buckets).
//!
//! reqwest rather than aws-sdk-s3: the benchmark wants the floor of the setup, and an
//! unsigned GET needs none of the SDK's signing, retry and interceptor layers. Bodies are
//! drained chunk by chunk and counted, never collected, so no copy is added either.

use std::ops::Range;
use std::time::Duration;

use reqwest::header::{CONTENT_LENGTH, RANGE};
use reqwest::{StatusCode, Url};

use crate::error::BenchError;

/// How much of an error body to quote in a message.
const ERROR_BODY_QUOTE: usize = 300;

/// A client for one S3 object.
#[derive(Debug, Clone)]
pub struct RangeClient {
    http: reqwest::Client,
    url: Url,
    bucket: String,
    key: String,
    label: String,
}

impl RangeClient {
    /// A client for `endpoint/bucket/key` (path style), keeping idle connections open
    /// for reuse by later requests.
    pub fn new(endpoint: &str, bucket: &str, key: &str) -> Result<RangeClient, BenchError> {
        let invalid = |reason: &str| BenchError::InvalidEndpoint {
            url: endpoint.to_owned(),
            reason: reason.to_owned(),
        };
        let mut url = Url::parse(endpoint).map_err(|e| invalid(&e.to_string()))?;
        if !matches!(url.scheme(), "http" | "https") {
            return Err(invalid("expected an http:// or https:// URL"));
        }
        if bucket.is_empty() || key.is_empty() {
            return Err(BenchError::InvalidWorkload(
                "the bucket and the key must not be empty".into(),
            ));
        }
        {
            let mut segments = url
                .path_segments_mut()
                .map_err(|()| invalid("the URL cannot have a path"))?;
            segments.pop_if_empty().push(bucket);
            // Each key segment is percent-encoded on its own; the slashes stay.
            segments.extend(key.split('/'));
        }
        let http = reqwest::Client::builder()
            .http1_only()
            .tcp_nodelay(true)
            .pool_idle_timeout(None)
            .pool_max_idle_per_host(usize::MAX)
            .connect_timeout(Duration::from_secs(5))
            .no_proxy()
            .build()
            .map_err(BenchError::HttpClient)?;
        Ok(RangeClient {
            http,
            url,
            bucket: bucket.to_owned(),
            key: key.to_owned(),
            label: format!("s3://{bucket}/{key}"),
        })
    }

    pub fn bucket(&self) -> &str {
        &self.bucket
    }

    pub fn key(&self) -> &str {
        &self.key
    }

    /// The object's size, from a HEAD request.
    pub async fn object_size(&self) -> Result<u64, BenchError> {
        let what = format!("HEAD {}", self.label);
        let resp = self
            .http
            .head(self.url.clone())
            .send()
            .await
            .map_err(|source| BenchError::Request {
                what: what.clone(),
                source,
            })?;
        if resp.status() != StatusCode::OK {
            return Err(BenchError::Status {
                what,
                status: resp.status().as_u16(),
                body: String::new(),
            });
        }
        resp.headers()
            .get(CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<u64>().ok())
            .ok_or(BenchError::MissingLength { what })
    }

    /// GETs the bytes `range` (end exclusive, non-empty), drains the body and returns
    /// how many bytes came; fewer than asked for is an error.
    pub async fn read_range(&self, range: Range<u64>) -> Result<u64, BenchError> {
        if range.is_empty() {
            return Err(BenchError::InvalidWorkload(format!(
                "empty byte range {range:?}"
            )));
        }
        let header = format!("bytes={}-{}", range.start, range.end - 1);
        let what = format!("GET {} {header}", self.label);
        let request_error = |source| BenchError::Request {
            what: what.clone(),
            source,
        };
        let mut resp = self
            .http
            .get(self.url.clone())
            .header(RANGE, &header)
            .send()
            .await
            .map_err(request_error)?;
        let status = resp.status();
        if status != StatusCode::PARTIAL_CONTENT && status != StatusCode::OK {
            let body = resp.text().await.unwrap_or_default();
            return Err(BenchError::Status {
                what,
                status: status.as_u16(),
                body: body.chars().take(ERROR_BODY_QUOTE).collect(),
            });
        }
        let expected = range.end - range.start;
        let mut got = 0u64;
        while let Some(chunk) = resp.chunk().await.map_err(request_error)? {
            got += chunk.len() as u64;
        }
        // A 200 means the server ignored the range and sent everything: also wrong.
        if got != expected {
            return Err(BenchError::ShortBody {
                what,
                expected,
                got,
            });
        }
        Ok(got)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_addressed_path_style_with_each_segment_encoded() {
        let c = RangeClient::new("http://127.0.0.1:9000", "bkt", "a b/c%d/e.fits").unwrap();
        assert_eq!(
            c.url.as_str(),
            "http://127.0.0.1:9000/bkt/a%20b/c%25d/e.fits",
            "expected a path-style URL with encoded key segments"
        );
        let c = RangeClient::new("http://h:1/base/", "b", "k").unwrap();
        assert_eq!(c.url.as_str(), "http://h:1/base/b/k");
    }

    #[test]
    fn bad_endpoints_are_refused() {
        for url in ["not a url", "ftp://h/x", "mailto:x@y"] {
            let got = RangeClient::new(url, "b", "k");
            assert!(
                matches!(got, Err(BenchError::InvalidEndpoint { .. })),
                "expected InvalidEndpoint for {url:?}, got {got:?}"
            );
        }
    }
}
