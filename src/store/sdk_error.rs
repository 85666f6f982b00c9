//! SDK failures said in one line a person can act on: what failed (the endpoint), why (the
//! innermost causes, by their `Display` text only: never the SDK's `Debug` dumps), what to
//! do, and S3's request ID when there was an answer (for AWS support and server logs); and
//! which failures are worth another attempt.

use aws_sdk_s3::error::{ProvideErrorMetadata, SdkError};

use super::error::{StoreError, StoreErrorKind};

/// The outcome of one failed attempt: try again, or give up now.
pub(super) enum AttemptError {
    Retry(StoreError),
    Fatal(StoreError),
}

/// Words of the SDK's wrapping layers that say nothing to a user.
const EMPTY_LAYERS: &[&str] = &[
    "dispatch failure",
    "io error",
    "other",
    "user error",
    "timeout",
    "service error",
    "unhandled error",
    "response error",
    "failed to construct request",
    "client error",
    "client error (Connect)",
    "client error (SendRequest)",
];

/// The causes under `err`, outermost first, without wrappers and repeats.
pub(crate) fn causes(err: &(dyn std::error::Error + 'static)) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    let mut next: Option<&(dyn std::error::Error + 'static)> = Some(err);
    while let Some(e) = next {
        let text = e.to_string();
        let text = text.trim();
        let useless = text.is_empty()
            || text.contains('{')
            || EMPTY_LAYERS.iter().any(|w| text.eq_ignore_ascii_case(w));
        if !useless && !out.iter().any(|seen| seen.contains(text)) {
            out.push(text.to_string());
        }
        next = e.source();
    }
    out
}

/// One line for an SDK failure that got no HTTP answer, or an unreadable one, against
/// `endpoint` (e.g. "http://127.0.0.1:9000", "AWS S3 (us-east-1)").
pub(crate) fn describe<E, R>(err: &SdkError<E, R>, endpoint: &str) -> String
where
    E: std::error::Error + 'static,
    R: std::fmt::Debug + 'static,
{
    let why = causes(err).join(": ");
    let why = if why.is_empty() {
        "no reason given".to_string()
    } else {
        why
    };
    match err {
        SdkError::DispatchFailure(d) if d.is_timeout() => format!(
            "no connection to {endpoint} within the connect timeout ({why}); check the network, or the endpoint URL"
        ),
        SdkError::DispatchFailure(d) if d.is_io() => format!(
            "cannot connect to {endpoint} ({why}); check the network, or the endpoint URL (--endpoint-url)"
        ),
        SdkError::DispatchFailure(_) => format!("request to {endpoint} not sent ({why})"),
        SdkError::TimeoutError(_) => format!("{endpoint} did not answer in time"),
        SdkError::ConstructionFailure(_) => format!("cannot build the request ({why})"),
        SdkError::ResponseError(_) => format!("unreadable answer from {endpoint} ({why})"),
        _ => why,
    }
}

/// S3's request IDs of an answer, as " (request id X, host id Y)", or "".
pub(crate) fn request_ids(headers: &aws_smithy_runtime_api::http::Headers) -> String {
    let id = headers.get("x-amz-request-id");
    let host = headers.get("x-amz-id-2");
    match (id, host) {
        (Some(id), Some(host)) => format!(" (request id {id}, host id {host})"),
        (Some(id), None) => format!(" (request id {id})"),
        _ => String::new(),
    }
}

/// Sorts an SDK failure into retry-or-not and the kind the filesystem maps to an errno.
pub(super) fn classify<E>(
    err: SdkError<E>,
    endpoint: &str,
    bucket: &str,
    key: &str,
    signed: bool,
) -> AttemptError
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
{
    let status = err.raw_response().map(|r| r.status().as_u16());
    let ids = err
        .raw_response()
        .map(|r| request_ids(r.headers()))
        .unwrap_or_default();
    let code = err.code().map(str::to_string);
    let detail = match (&status, &code) {
        (Some(s), Some(c)) => format!("HTTP {s} {c}{ids}"),
        (Some(s), None) => format!("HTTP {s}{ids}"),
        _ => describe(&err, endpoint),
    };
    let make = |kind| StoreError::new(kind, bucket, key, detail.clone());
    match status {
        Some(404) => AttemptError::Fatal(make(StoreErrorKind::NotFound)),
        Some(403) | Some(401) => AttemptError::Fatal(make(StoreErrorKind::AccessDenied)),
        Some(412) => AttemptError::Fatal(make(StoreErrorKind::Changed)),
        Some(s) if s >= 500 || s == 429 => AttemptError::Retry(make(StoreErrorKind::Unavailable)),
        Some(_) => AttemptError::Fatal(make(StoreErrorKind::Invalid)),
        None => {
            let text = format!("{err:?}");
            if signed && (text.contains("credentials") || text.contains("Credentials")) {
                AttemptError::Fatal(StoreError::new(
                    StoreErrorKind::AccessDenied,
                    bucket,
                    key,
                    "no usable AWS credentials for this signed bucket (looked in the environment, \
                     the shared config and credentials files/profile, SSO, container and instance \
                     roles); set AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY or AWS_PROFILE",
                ))
            } else {
                AttemptError::Retry(make(StoreErrorKind::Unavailable))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug)]
    struct Layer {
        text: &'static str,
        source: Option<Box<Layer>>,
    }
    impl std::fmt::Display for Layer {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str(self.text)
        }
    }
    impl std::error::Error for Layer {
        fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
            self.source.as_deref().map(|s| s as _)
        }
    }

    #[test]
    fn causes_drop_wrappers_debug_text_and_repeats() {
        let chain = Layer {
            text: "dispatch failure",
            source: Some(Box::new(Layer {
                text: "io error",
                source: Some(Box::new(Layer {
                    text: "client error (Connect)",
                    source: Some(Box::new(Layer {
                        text: "dns error: failed to lookup address information",
                        source: Some(Box::new(Layer {
                            text: "failed to lookup address information",
                            source: Some(Box::new(Layer {
                                text: "ConnectorError { kind: Io }",
                                source: None,
                            })),
                        })),
                    })),
                })),
            })),
        };
        assert_eq!(
            causes(&chain),
            vec!["dns error: failed to lookup address information".to_string()]
        );
    }
}
