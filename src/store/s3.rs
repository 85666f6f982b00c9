//! The aws-sdk-s3 implementation of [`ObjectStore`].
//!
//! Owns the SDK clients (one anonymous, one signed through the standard credential chain),
//! our retry loop (the SDK's own retries are off so that one budget covers the whole request,
//! body included), per-attempt timeouts, the bound on concurrent requests, counters, and
//! the pool block buffers are recycled through (`pool`).

use std::collections::HashSet;
use std::future::Future;
use std::ops::Range;
use std::path::PathBuf;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use async_trait::async_trait;
use aws_sdk_s3::config::retry::RetryConfig;
use aws_sdk_s3::config::timeout::TimeoutConfig;
use aws_sdk_s3::config::Region;
use aws_sdk_s3::operation::RequestId;
use aws_sdk_s3::Client;
use bytes::Bytes;
use mastfs_retry::RetryPolicy;
use tokio::sync::Semaphore;

use super::counters::StoreCounters;
use super::error::{StoreError, StoreErrorKind};
use super::object::{ListPage, ObjectMeta, ObjectStore};
use super::pool::{BufferPool, DEFAULT_POOL_BOUND};
use super::sdk_error::{classify, AttemptError};

/// How to reach S3 and how patient to be.
#[derive(Clone, Debug)]
pub struct S3StoreOptions {
    /// `None`: the real AWS endpoint for the region.
    pub endpoint_url: Option<String>,
    pub region: String,
    pub force_path_style: bool,
    /// Buckets whose requests are signed with the standard AWS credential chain; all
    /// others are anonymous (unsigned), like `--no-sign-request`.
    pub signed_buckets: HashSet<String>,
    pub connect_timeout: Duration,
    /// Bound on one attempt, from sending the request to the last byte of the body.
    pub attempt_timeout: Duration,
    /// Attempts per request, the first included.
    pub max_attempts: u32,
    pub max_concurrent_requests: usize,
    /// Extra PEM certificates to trust (from `AWS_CA_BUNDLE`).
    pub ca_bundle: Option<PathBuf>,
    /// The shared-config profile of signed requests (`None`: `AWS_PROFILE` or default).
    pub profile: Option<String>,
}

impl Default for S3StoreOptions {
    fn default() -> Self {
        S3StoreOptions {
            endpoint_url: None,
            region: "us-east-1".into(),
            force_path_style: false,
            signed_buckets: HashSet::new(),
            connect_timeout: Duration::from_secs(5),
            attempt_timeout: Duration::from_secs(20),
            max_attempts: 5,
            max_concurrent_requests: 64,
            ca_bundle: None,
            profile: None,
        }
    }
}

/// [`ObjectStore`] over aws-sdk-s3.
pub struct S3Store {
    anonymous: Client,
    signed: Client,
    signed_buckets: HashSet<String>,
    permits: Semaphore,
    counters: Arc<StoreCounters>,
    retry: RetryPolicy,
    attempt_timeout: Duration,
    /// Block buffers, recycled once the cache and every reader are done with them.
    buffers: Arc<BufferPool>,
    /// Where requests go, as error messages name it.
    endpoint: String,
}

impl S3Store {
    pub async fn new(
        opts: S3StoreOptions,
        counters: Arc<StoreCounters>,
    ) -> Result<S3Store, anyhow::Error> {
        let http_client = build_http_client(opts.ca_bundle.as_ref())?;
        let timeouts = TimeoutConfig::builder()
            .connect_timeout(opts.connect_timeout)
            .operation_attempt_timeout(opts.attempt_timeout)
            .build();
        let loader = || {
            let mut loader = aws_config::defaults(aws_config::BehaviorVersion::latest())
                .region(Region::new(opts.region.clone()))
                .retry_config(RetryConfig::disabled())
                .timeout_config(timeouts.clone())
                .http_client(http_client.clone());
            if let Some(url) = &opts.endpoint_url {
                loader = loader.endpoint_url(url);
            }
            loader
        };
        let signed_conf = match &opts.profile {
            Some(profile) => loader().profile_name(profile).load().await,
            None => loader().load().await,
        };
        let anon_conf = loader().no_credentials().load().await;
        let build = |conf: &aws_config::SdkConfig| {
            // Our attempt timeout already bounds a stalled body, and ranged GETs carry no
            // whole-object checksum to validate: both SDK layers only cost CPU per block.
            let s3conf = aws_sdk_s3::config::Builder::from(conf)
                .force_path_style(opts.force_path_style)
                .stalled_stream_protection(
                    aws_sdk_s3::config::StalledStreamProtectionConfig::disabled(),
                )
                .response_checksum_validation(
                    aws_sdk_s3::config::ResponseChecksumValidation::WhenRequired,
                )
                .build();
            Client::from_conf(s3conf)
        };
        let buffers = BufferPool::new(DEFAULT_POOL_BOUND, Arc::clone(&counters));
        Ok(S3Store {
            anonymous: build(&anon_conf),
            signed: build(&signed_conf),
            signed_buckets: opts.signed_buckets,
            permits: Semaphore::new(opts.max_concurrent_requests.max(1)),
            counters,
            retry: RetryPolicy {
                max_attempts: opts.max_attempts.max(1),
                ..S3_RETRY
            },
            attempt_timeout: opts.attempt_timeout,
            buffers,
            endpoint: match &opts.endpoint_url {
                Some(url) => url.clone(),
                None => format!("AWS S3 ({})", opts.region),
            },
        })
    }

    fn client(&self, bucket: &str) -> (&Client, bool) {
        if self.signed_buckets.contains(bucket) {
            (&self.signed, true)
        } else {
            (&self.anonymous, false)
        }
    }

    /// Runs `attempt` until it succeeds, fails for good, or the attempts are spent,
    /// sleeping with exponential backoff and jitter in between.
    async fn with_retries<T, F, Fut>(
        &self,
        bucket: &str,
        key: &str,
        attempt: F,
    ) -> Result<T, StoreError>
    where
        F: Fn() -> Fut,
        Fut: Future<Output = Result<T, AttemptError>>,
    {
        let mut last = None;
        for n in 0..self.retry.max_attempts {
            if n > 0 {
                self.counters.retries.fetch_add(1, Ordering::Relaxed);
                tokio::time::sleep(self.retry.backoff(n)).await;
            }
            let permit = self.permits.acquire().await;
            let counted = InFlight::count(&self.counters.in_flight);
            let outcome = tokio::time::timeout(self.attempt_timeout, attempt()).await;
            drop(counted);
            drop(permit);
            match outcome {
                Ok(Ok(value)) => return Ok(value),
                Ok(Err(AttemptError::Fatal(e))) => return Err(e),
                Ok(Err(AttemptError::Retry(e))) => {
                    tracing::debug!(bucket, key, attempt = n + 1, error = %e, "S3 request failed, retrying");
                    last = Some(e);
                }
                Err(_elapsed) => {
                    tracing::debug!(
                        bucket,
                        key,
                        attempt = n + 1,
                        "S3 request timed out, retrying"
                    );
                    last = Some(StoreError::new(
                        StoreErrorKind::Unavailable,
                        bucket,
                        key,
                        format!("no complete answer within {:?}", self.attempt_timeout),
                    ));
                }
            }
        }
        let mut err = last.unwrap_or_else(|| {
            StoreError::new(
                StoreErrorKind::Unavailable,
                bucket,
                key,
                "no attempt was made",
            )
        });
        err.kind = StoreErrorKind::Unavailable;
        err.message = format!(
            "gave up after {} attempts: {}",
            self.retry.max_attempts, err.message
        );
        Err(err)
    }
}

/// Pauses of 200 ms, 400 ms ... capped at 3.2 s, each with up to 50% random jitter; the
/// attempt count comes from the options.
const S3_RETRY: RetryPolicy = RetryPolicy {
    max_attempts: 5,
    initial_backoff: Duration::from_millis(200),
    max_backoff: Duration::from_millis(3200),
    jitter_percent: 50,
};

fn build_http_client(
    ca_bundle: Option<&PathBuf>,
) -> Result<aws_smithy_runtime_api::client::http::SharedHttpClient, anyhow::Error> {
    use aws_smithy_http_client::tls;
    let mut trust = tls::TrustStore::default();
    if let Some(path) = ca_bundle {
        let pem = std::fs::read(path).map_err(|e| {
            anyhow::anyhow!(
                "cannot read the CA bundle {} (AWS_CA_BUNDLE): {e}",
                path.display()
            )
        })?;
        trust = trust.with_pem_certificate(pem);
    }
    let context = tls::TlsContext::builder()
        .with_trust_store(trust)
        .build()
        .map_err(|e| anyhow::anyhow!("invalid TLS settings: {e}"))?;
    Ok(aws_smithy_http_client::Builder::new()
        .tls_provider(tls::Provider::Rustls(
            tls::rustls_provider::CryptoMode::AwsLc,
        ))
        .tls_context(context)
        .build_https())
}

/// One S3 request counted in flight for as long as it lives: a request whose task is
/// stopped (read-ahead given up when its file is closed) is uncounted when dropped.
struct InFlight<'a>(&'a std::sync::atomic::AtomicI64);

impl<'a> InFlight<'a> {
    fn count(counter: &'a std::sync::atomic::AtomicI64) -> InFlight<'a> {
        counter.fetch_add(1, Ordering::Relaxed);
        InFlight(counter)
    }
}

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}

/// Reads `wanted` bytes of `body` after skipping `skip`, into one buffer of that size from
/// `buffers`, and stops there (a longer body is not read to its end). Fewer bytes come back
/// when the body ends early; the caller treats that as a short body.
async fn collect_window(
    mut body: aws_sdk_s3::primitives::ByteStream,
    mut skip: u64,
    wanted: usize,
    buffers: &Arc<BufferPool>,
) -> Result<Bytes, aws_sdk_s3::primitives::ByteStreamError> {
    let mut buf = buffers.take(wanted);
    while buf.len() < wanted {
        let Some(chunk) = body.next().await else {
            break;
        };
        let mut chunk = chunk?;
        if skip > 0 {
            let dropped = skip.min(chunk.len() as u64);
            skip -= dropped;
            chunk = chunk.slice(dropped as usize..);
        }
        let take = chunk.len().min(wanted - buf.len());
        buf.extend_from_slice(&chunk[..take]);
    }
    Ok(buf.freeze())
}

/// A key as S3 sends it with `encoding-type=url`: form-encoded, so `+` is a space and
/// `%XX` a byte (a literal `+` arrives as `%2B`). `None` if the bytes are not UTF-8.
fn url_decode_key(raw: &str) -> Option<String> {
    let spaced = raw.replace('+', " ");
    percent_encoding::percent_decode_str(&spaced)
        .decode_utf8()
        .ok()
        .map(|k| k.into_owned())
}

fn system_time(dt: Option<&aws_sdk_s3::primitives::DateTime>) -> SystemTime {
    dt.and_then(|d| SystemTime::try_from(*d).ok())
        .unwrap_or(SystemTime::UNIX_EPOCH)
}

impl S3Store {
    /// One ListObjectsV2 page: with `delimited`, the delimiter `/` (one folder level);
    /// without, every key under `prefix` in key order.
    async fn list_request(
        &self,
        bucket: &str,
        prefix: &str,
        continuation: Option<String>,
        delimited: bool,
    ) -> Result<ListPage, StoreError> {
        let (client, signed) = self.client(bucket);
        self.with_retries(bucket, prefix, || {
            let continuation = continuation.clone();
            async move {
                self.counters.list_requests.fetch_add(1, Ordering::Relaxed);
                let out = client
                    .list_objects_v2()
                    .bucket(bucket)
                    .prefix(prefix)
                    .set_delimiter(delimited.then(|| "/".to_string()))
                    .encoding_type(aws_sdk_s3::types::EncodingType::Url)
                    .set_continuation_token(continuation)
                    .send()
                    .await
                    .map_err(|e| classify(e, &self.endpoint, bucket, prefix, signed))?;
                tracing::debug!(
                    bucket,
                    prefix,
                    request_id = out.request_id().unwrap_or("-"),
                    "S3 LIST"
                );
                // Keys come URL-encoded when the server says so (XML 1.0 cannot carry every
                // character a key may hold); a server that ignores the request sends them raw.
                let encoded = out.encoding_type() == Some(&aws_sdk_s3::types::EncodingType::Url);
                let name = |raw: &str| -> Option<String> {
                    if encoded {
                        let decoded = url_decode_key(raw);
                        if decoded.is_none() {
                            tracing::debug!(
                                "s3://{bucket}/{prefix}: listing entry {raw:?} is not valid URL-encoded UTF-8; skipped"
                            );
                        }
                        decoded
                    } else {
                        Some(raw.to_string())
                    }
                };
                let objects = out
                    .contents()
                    .iter()
                    .filter_map(|o| {
                        Some(ObjectMeta {
                            key: name(o.key()?)?,
                            size: o.size().unwrap_or(0).max(0) as u64,
                            etag: o.e_tag().unwrap_or_default().to_string(),
                            last_modified: system_time(o.last_modified()),
                        })
                    })
                    .collect();
                let prefixes = out
                    .common_prefixes()
                    .iter()
                    .filter_map(|p| name(p.prefix()?))
                    .collect();
                let next_token = if out.is_truncated().unwrap_or(false) {
                    out.next_continuation_token().map(str::to_string)
                } else {
                    None
                };
                Ok(ListPage {
                    objects,
                    prefixes,
                    next_token,
                })
            }
        })
        .await
    }
}

#[async_trait]
impl ObjectStore for S3Store {
    async fn list_page(
        &self,
        bucket: &str,
        prefix: &str,
        continuation: Option<String>,
    ) -> Result<ListPage, StoreError> {
        self.list_request(bucket, prefix, continuation, true).await
    }

    async fn list_subtree_page(&self, bucket: &str, prefix: &str) -> Result<ListPage, StoreError> {
        self.list_request(bucket, prefix, None, false).await
    }

    async fn head(&self, bucket: &str, key: &str) -> Result<ObjectMeta, StoreError> {
        let (client, signed) = self.client(bucket);
        self.with_retries(bucket, key, || async move {
            self.counters.head_requests.fetch_add(1, Ordering::Relaxed);
            let out = client
                .head_object()
                .bucket(bucket)
                .key(key)
                .send()
                .await
                .map_err(|e| classify(e, &self.endpoint, bucket, key, signed))?;
            tracing::debug!(
                bucket,
                key,
                request_id = out.request_id().unwrap_or("-"),
                "S3 HEAD"
            );
            Ok(ObjectMeta {
                key: key.to_string(),
                size: out.content_length().unwrap_or(0).max(0) as u64,
                etag: out.e_tag().unwrap_or_default().to_string(),
                last_modified: system_time(out.last_modified()),
            })
        })
        .await
    }

    async fn get_range(
        &self,
        bucket: &str,
        key: &str,
        etag: &str,
        range: Range<u64>,
    ) -> Result<Bytes, StoreError> {
        if range.is_empty() {
            return Ok(Bytes::new());
        }
        let (client, signed) = self.client(bucket);
        let wanted = (range.end - range.start) as usize;
        self.with_retries(bucket, key, || {
            let range = range.clone();
            async move {
                self.counters.get_requests.fetch_add(1, Ordering::Relaxed);
                let started = std::time::Instant::now();
                let mut req = client.get_object().bucket(bucket).key(key).range(format!(
                    "bytes={}-{}",
                    range.start,
                    range.end - 1
                ));
                if !etag.is_empty() {
                    req = req.if_match(etag);
                }
                let out = req
                    .send()
                    .await
                    .map_err(|e| classify(e, &self.endpoint, bucket, key, signed))?;
                if !etag.is_empty() {
                    if let Some(got) = out.e_tag() {
                        if got != etag {
                            return Err(AttemptError::Fatal(StoreError::new(
                                StoreErrorKind::Changed,
                                bucket,
                                key,
                                format!("ETag is now {got}, was {etag} when opened"),
                            )));
                        }
                    }
                }
                // A server that ignores Range answers 200 with the whole object: the bytes we
                // want are still in it, at their absolute offsets. Either way only the wanted
                // bytes are kept, in one buffer of their size (never a slice of a bigger body).
                tracing::debug!(
                    bucket,
                    key,
                    range = %format_args!("{}-{}", range.start, range.end - 1),
                    request_id = out.request_id().unwrap_or("-"),
                    "S3 GET"
                );
                let ranged = out.content_range().is_some();
                if let Some(answered) = out.content_range() {
                    if !answered.starts_with(&format!("bytes {}-", range.start)) {
                        return Err(AttemptError::Retry(StoreError::new(
                            StoreErrorKind::Unavailable,
                            bucket,
                            key,
                            format!(
                                "asked for bytes from {}, the answer holds {answered}",
                                range.start
                            ),
                        )));
                    }
                }
                let skip = if ranged { 0 } else { range.start };
                if !ranged {
                    tracing::warn!(
                        bucket,
                        key,
                        "server ignored the Range header; reading past the unwanted bytes"
                    );
                }
                let bytes = collect_window(out.body, skip, wanted, &self.buffers)
                    .await
                    .map_err(|e| {
                        AttemptError::Retry(StoreError::new(
                            StoreErrorKind::Unavailable,
                            bucket,
                            key,
                            format!("body interrupted: {e}"),
                        ))
                    })?;
                self.counters
                    .bytes_fetched
                    .fetch_add(bytes.len() as u64, Ordering::Relaxed);
                // With the line above (headers in), the timeline of a read's misses.
                tracing::debug!(
                    bucket,
                    key,
                    range = %format_args!("{}-{}", range.start, range.end - 1),
                    ms = started.elapsed().as_millis() as u64,
                    "S3 GET body in"
                );
                if bytes.len() != wanted {
                    return Err(AttemptError::Retry(StoreError::new(
                        StoreErrorKind::Unavailable,
                        bucket,
                        key,
                        format!(
                            "short body: asked for {wanted} bytes at offset {}, got {}",
                            range.start,
                            bytes.len()
                        ),
                    )));
                }
                Ok(bytes)
            }
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn url_encoded_keys_decode_as_s3_sends_them() {
        assert_eq!(
            url_decode_key("uni/%C3%A9t%C3%A9+100%25.fits").as_deref(),
            Some("uni/été 100%.fits")
        );
        assert_eq!(url_decode_key("a%2Bb%20c").as_deref(), Some("a+b c"));
        assert_eq!(
            url_decode_key("ctl/tab%09here").as_deref(),
            Some("ctl/tab\there")
        );
        assert_eq!(url_decode_key("bad/%FF"), None, "not UTF-8");
    }
}
