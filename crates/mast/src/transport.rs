//! One HTTP exchange with MAST, made robust: per-request timeout, a deadline shared by a
//! whole logical query, bounded retries on 5xx / connection errors / timeouts (the backoff of
//! the shared `mastfs-retry` policy, as the S3 store's), and a response-size cap enforced
//! while the body streams in.

use std::time::{Duration, Instant};

use mastfs_retry::RetryPolicy;
use reqwest::header::{ACCEPT, CONTENT_TYPE, USER_AGENT};

use crate::error::MastError;
use crate::options::ClientOptions;

const USER_AGENT_VALUE: &str = concat!("mastfs/", env!("CARGO_PKG_VERSION"));
/// How much of an error body to quote in messages.
const ERROR_BODY_QUOTE: usize = 300;
/// Upper bound of the retry pause (before jitter).
const MAX_BACKOFF: Duration = Duration::from_secs(10);
/// Random share added to each retry pause, as for S3.
const JITTER_PERCENT: u32 = 50;

/// The wall-clock budget of one logical query.
#[derive(Debug, Clone, Copy)]
pub struct Deadline {
    at: Instant,
    budget: Duration,
}

impl Deadline {
    pub fn start(budget: Duration) -> Self {
        Deadline {
            at: Instant::now() + budget,
            budget,
        }
    }

    pub fn remaining(&self) -> Duration {
        self.at.saturating_duration_since(Instant::now())
    }

    pub fn budget(&self) -> Duration {
        self.budget
    }
}

/// What to send.
#[derive(Debug, Clone)]
pub enum HttpRequest {
    /// POST with an `application/x-www-form-urlencoded` body (already encoded).
    PostForm { body: String },
    /// GET with a query string (already encoded, without `?`).
    Get { query: String },
}

/// Why one attempt failed, and whether another attempt may help.
enum AttemptError {
    Retryable(String),
    RetryableStatus { status: u16, body: String },
    TimedOut(String),
    Fatal(MastError),
}

/// The reqwest client plus the options that govern every exchange.
#[derive(Debug, Clone)]
pub struct Transport {
    http: reqwest::Client,
    options: ClientOptions,
}

impl Transport {
    pub fn new(options: ClientOptions) -> Result<Self, MastError> {
        let http = reqwest::Client::builder()
            .connect_timeout(options.connect_timeout)
            .build()
            .map_err(MastError::ClientBuild)?;
        Ok(Transport { http, options })
    }

    pub fn options(&self) -> &ClientOptions {
        &self.options
    }

    /// Send `request` to `url`, retrying as configured, and return the whole body.
    /// `what` names the call in errors (e.g. `Mast.Caom.Filtered`).
    pub async fn exchange(
        &self,
        what: &str,
        url: &str,
        request: &HttpRequest,
        deadline: Deadline,
    ) -> Result<Vec<u8>, MastError> {
        let policy = RetryPolicy {
            max_attempts: self.options.retries.saturating_add(1),
            initial_backoff: self.options.retry_backoff,
            max_backoff: MAX_BACKOFF,
            jitter_percent: JITTER_PERCENT,
        };
        let mut attempt = 0;
        loop {
            attempt += 1;
            let remaining = deadline.remaining();
            if remaining.is_zero() {
                return Err(MastError::Timeout {
                    what: what.to_string(),
                    budget: deadline.budget(),
                    detail: format!("budget used up before attempt {attempt}"),
                });
            }
            let per_request = self.options.request_timeout.min(remaining);
            let outcome =
                match tokio::time::timeout(per_request, self.attempt(what, url, request)).await {
                    Ok(result) => result,
                    Err(_) => Err(AttemptError::TimedOut(format!(
                        "no complete answer within {per_request:?}"
                    ))),
                };
            let failure = match outcome {
                Ok(body) => return Ok(body),
                Err(AttemptError::Fatal(err)) => return Err(err),
                Err(other) => other,
            };
            let pause = policy.backoff(attempt).min(deadline.remaining());
            let out_of_attempts = !policy.allows_retry(attempt);
            let out_of_time = deadline.remaining() <= pause;
            if out_of_attempts || out_of_time {
                return Err(final_error(
                    what,
                    url,
                    attempt,
                    failure,
                    deadline,
                    out_of_time,
                ));
            }
            tracing::warn!(
                call = what,
                attempt,
                "MAST request failed ({}), retrying in {pause:?}",
                describe(&failure)
            );
            tokio::time::sleep(pause).await;
        }
    }

    async fn attempt(
        &self,
        what: &str,
        url: &str,
        request: &HttpRequest,
    ) -> Result<Vec<u8>, AttemptError> {
        let builder = match request {
            HttpRequest::PostForm { body } => self
                .http
                .post(url)
                .header(CONTENT_TYPE, "application/x-www-form-urlencoded")
                .body(body.clone()),
            HttpRequest::Get { query } => {
                let full = if query.is_empty() {
                    url.to_string()
                } else {
                    format!("{url}?{query}")
                };
                self.http.get(full)
            }
        };
        let mut response = builder
            .header(USER_AGENT, USER_AGENT_VALUE)
            .header(ACCEPT, "text/plain")
            .send()
            .await
            .map_err(|e| classify_reqwest(what, e))?;
        let status = response.status().as_u16();
        if status >= 400 {
            let body = read_capped(&mut response, ERROR_BODY_QUOTE as u64, true)
                .await
                .map(|b| String::from_utf8_lossy(&b).trim().to_string())
                .unwrap_or_default();
            return Err(if status >= 500 {
                AttemptError::RetryableStatus { status, body }
            } else {
                AttemptError::Fatal(MastError::HttpStatus {
                    what: what.to_string(),
                    url: url.to_string(),
                    status,
                    body,
                })
            });
        }
        let limit = self.options.max_response_bytes;
        if response.content_length().is_some_and(|len| len > limit) {
            return Err(AttemptError::Fatal(MastError::ResponseTooLarge {
                what: what.to_string(),
                limit,
            }));
        }
        match read_capped(&mut response, limit, false).await {
            Ok(body) => Ok(body),
            Err(ReadError::TooLarge) => Err(AttemptError::Fatal(MastError::ResponseTooLarge {
                what: what.to_string(),
                limit,
            })),
            Err(ReadError::Transport(e)) => Err(classify_reqwest(what, e)),
        }
    }
}

enum ReadError {
    TooLarge,
    Transport(reqwest::Error),
}

/// Read the body chunk by chunk, stopping as soon as it exceeds `limit` (or, with
/// `truncate`, returning the first `limit` bytes).
async fn read_capped(
    response: &mut reqwest::Response,
    limit: u64,
    truncate: bool,
) -> Result<Vec<u8>, ReadError> {
    let mut body = Vec::new();
    while let Some(chunk) = response.chunk().await.map_err(ReadError::Transport)? {
        if (body.len() + chunk.len()) as u64 > limit {
            if truncate {
                let room = (limit as usize).saturating_sub(body.len());
                body.extend_from_slice(&chunk[..room.min(chunk.len())]);
                return Ok(body);
            }
            return Err(ReadError::TooLarge);
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

fn classify_reqwest(what: &str, error: reqwest::Error) -> AttemptError {
    if error.is_builder() {
        return AttemptError::Fatal(MastError::Transport {
            what: what.to_string(),
            url: error.url().map(|u| u.to_string()).unwrap_or_default(),
            attempts: 1,
            detail: error.to_string(),
        });
    }
    // The URL is said once, by the error that wraps this one.
    let error = error.without_url();
    if error.is_timeout() {
        return AttemptError::TimedOut(error_chain(&error));
    }
    AttemptError::Retryable(error_chain(&error))
}

/// reqwest's top-level message is terse ("error sending request"); add the causes.
fn error_chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

fn describe(failure: &AttemptError) -> String {
    match failure {
        AttemptError::Retryable(detail) | AttemptError::TimedOut(detail) => detail.clone(),
        AttemptError::RetryableStatus { status, body } => format!("HTTP {status}: {body}"),
        AttemptError::Fatal(err) => err.to_string(),
    }
}

fn final_error(
    what: &str,
    url: &str,
    attempts: u32,
    failure: AttemptError,
    deadline: Deadline,
    out_of_time: bool,
) -> MastError {
    match failure {
        AttemptError::Fatal(err) => err,
        AttemptError::TimedOut(detail) => MastError::Timeout {
            what: what.to_string(),
            budget: deadline.budget(),
            detail: format!("{attempts} attempt(s), last: {detail}"),
        },
        AttemptError::RetryableStatus { status, body } => MastError::HttpStatus {
            what: what.to_string(),
            url: url.to_string(),
            status,
            body: format!("{body} (after {attempts} attempt(s))"),
        },
        AttemptError::Retryable(detail) if out_of_time => MastError::Timeout {
            what: what.to_string(),
            budget: deadline.budget(),
            detail: format!("{attempts} attempt(s), last: {detail}"),
        },
        AttemptError::Retryable(detail) => MastError::Transport {
            what: what.to_string(),
            url: url.to_string(),
            attempts,
            detail,
        },
    }
}
