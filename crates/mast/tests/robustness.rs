//! Misbehaving servers: 5xx with retries, stalls against timeouts and the query budget,
//! malformed / truncated / empty / oversized bodies, a server that is down.

mod common;

use std::time::{Duration, Instant};

use common::{client, fast_options, seed_query};
use mastfs_mast::{ClientOptions, ColumnConfig, MastClient, MastError};
use mastfs_mast_standin::{Endpoint, Fault, MastStandin};

async fn resolve_seed(options: ClientOptions) -> Result<mastfs_mast::Resolution, MastError> {
    MastClient::new(options)
        .unwrap()
        .resolve(&seed_query(), &ColumnConfig::builtin())
        .await
}

fn count(standin: &MastStandin, endpoint: Endpoint) -> usize {
    standin
        .requests()
        .iter()
        .filter(|r| r.endpoint == endpoint)
        .count()
}

#[tokio::test]
async fn transient_500s_are_retried() {
    let standin = MastStandin::start().unwrap();
    standin.inject(Endpoint::Invoke, Fault::Status(503), Some(2));
    standin.inject(Endpoint::PathLookup, Fault::Status(500), Some(1));
    let resolution = resolve_seed(fast_options(&standin)).await.unwrap();
    assert_eq!(resolution.s3_uris().len(), 2);
    assert_eq!(
        count(&standin, Endpoint::Invoke),
        4,
        "2 failed + Filtered + Products"
    );
    assert_eq!(count(&standin, Endpoint::PathLookup), 2, "1 failed + 1 ok");
}

#[tokio::test]
async fn persistent_500_gives_a_clear_error_after_bounded_retries() {
    let standin = MastStandin::start().unwrap();
    standin.inject(Endpoint::Invoke, Fault::Status(500), None);
    let err = resolve_seed(fast_options(&standin)).await.unwrap_err();
    let text = err.to_string();
    assert!(
        matches!(err, MastError::HttpStatus { status: 500, .. }),
        "expected HttpStatus 500, got {err:?}"
    );
    assert!(
        text.starts_with("Mast.Caom.Filtered: HTTP 500 from http://127.0.0.1:"),
        "got {text}"
    );
    assert!(text.contains("after 3 attempt(s)"), "got {text}");
    assert_eq!(count(&standin, Endpoint::Invoke), 3, "1 try + 2 retries");
}

#[tokio::test]
async fn client_errors_are_not_retried() {
    let standin = MastStandin::start().unwrap();
    standin.inject(Endpoint::PathLookup, Fault::Status(414), None);
    let err = resolve_seed(fast_options(&standin)).await.unwrap_err();
    assert!(
        matches!(err, MastError::HttpStatus { status: 414, .. }),
        "got {err:?}"
    );
    assert!(
        err.to_string().starts_with("path_lookup: HTTP 414"),
        "got {err}"
    );
    assert_eq!(count(&standin, Endpoint::PathLookup), 1);
}

#[tokio::test]
async fn stall_times_out_within_the_budget() {
    let standin = MastStandin::start().unwrap();
    standin.inject(
        Endpoint::Invoke,
        Fault::Stall(Duration::from_secs(30)),
        None,
    );
    let options = ClientOptions {
        request_timeout: Duration::from_millis(300),
        query_budget: Duration::from_millis(1000),
        retries: 10,
        ..fast_options(&standin)
    };
    let started = Instant::now();
    let err = resolve_seed(options).await.unwrap_err();
    let elapsed = started.elapsed();
    assert!(
        matches!(err, MastError::Timeout { .. }),
        "expected Timeout, got {err:?}"
    );
    assert!(
        err.to_string()
            .starts_with("Mast.Caom.Filtered: no complete answer within the query budget of 1s"),
        "got {err}"
    );
    assert!(
        elapsed < Duration::from_millis(1800),
        "budget 1 s, took {elapsed:?}"
    );
    assert!(
        count(&standin, Endpoint::Invoke) >= 2,
        "timed-out requests are retried while the budget lasts"
    );
}

#[tokio::test]
async fn stall_shorter_than_the_timeout_is_just_slow() {
    let standin = MastStandin::start().unwrap();
    standin.inject(
        Endpoint::PathLookup,
        Fault::Stall(Duration::from_millis(200)),
        Some(1),
    );
    let resolution = resolve_seed(fast_options(&standin)).await.unwrap();
    assert_eq!(resolution.s3_uris().len(), 2);
}

#[tokio::test]
async fn broken_bodies_name_the_service() {
    let cases = [
        (
            Endpoint::Service("Mast.Caom.Products".into()),
            Fault::MalformedJson,
            "Mast.Caom.Products: malformed response: not valid JSON",
        ),
        (
            Endpoint::Service("Mast.Caom.Filtered".into()),
            Fault::TruncatedJson,
            "Mast.Caom.Filtered: malformed response: truncated JSON",
        ),
        (
            Endpoint::Service("Mast.Caom.Filtered".into()),
            Fault::EmptyBody,
            "Mast.Caom.Filtered: malformed response: empty body",
        ),
        (
            Endpoint::PathLookup,
            Fault::MalformedJson,
            "path_lookup: malformed response: not valid JSON",
        ),
        (
            Endpoint::PathLookup,
            Fault::TruncatedJson,
            "path_lookup: malformed response: truncated JSON",
        ),
    ];
    for (endpoint, fault, want) in cases {
        let standin = MastStandin::start().unwrap();
        standin.inject(endpoint.clone(), fault.clone(), None);
        let err = resolve_seed(fast_options(&standin)).await.unwrap_err();
        assert!(
            matches!(err, MastError::Malformed { .. }),
            "{fault:?} on {endpoint:?}: expected Malformed, got {err:?}"
        );
        assert!(
            err.to_string().starts_with(want),
            "{fault:?} on {endpoint:?}: expected prefix {want:?}, got {err}"
        );
    }
}

#[tokio::test]
async fn columnsconfig_errors_are_clear() {
    let standin = MastStandin::start().unwrap();
    standin.inject(Endpoint::ColumnsConfig, Fault::TruncatedJson, None);
    let err = client(&standin).column_config().await.unwrap_err();
    assert!(
        err.to_string()
            .starts_with("columnsconfig: malformed response: truncated JSON"),
        "got {err}"
    );
}

#[tokio::test]
async fn oversized_responses_hit_the_cap_while_streaming() {
    const GIB: u64 = 1 << 30;
    for declare_length in [false, true] {
        let standin = MastStandin::start().unwrap();
        standin.inject(
            Endpoint::Invoke,
            Fault::HugeBody {
                bytes: 4 * GIB,
                declare_length,
            },
            None,
        );
        let options = ClientOptions {
            max_response_bytes: 1 << 20,
            ..fast_options(&standin)
        };
        let started = Instant::now();
        let err = resolve_seed(options).await.unwrap_err();
        assert!(
            matches!(err, MastError::ResponseTooLarge { limit: 1048576, .. }),
            "declare_length={declare_length}: got {err:?}"
        );
        assert!(
            err.to_string()
                .starts_with("Mast.Caom.Filtered: response larger than the cap of 1048576 bytes"),
            "got {err}"
        );
        assert_eq!(
            count(&standin, Endpoint::Invoke),
            1,
            "an oversized answer is not retried"
        );
        assert!(
            started.elapsed() < Duration::from_secs(5),
            "took {:?}",
            started.elapsed()
        );
        // Let the server notice the closed connection, then check it was not read to the end.
        tokio::time::sleep(Duration::from_millis(100)).await;
        let sent = standin.huge_body_bytes_sent();
        assert!(sent < 256 << 20, "declare_length={declare_length}: the client must stop reading early; server handed out {sent} bytes");
    }
}

#[tokio::test]
async fn server_down_then_back() {
    let standin = MastStandin::start().unwrap();
    standin.stop();
    let err = resolve_seed(fast_options(&standin)).await.unwrap_err();
    assert!(
        matches!(err, MastError::Transport { attempts: 3, .. }),
        "expected Transport after 3 attempts, got {err:?}"
    );
    assert!(
        err.to_string()
            .starts_with("Mast.Caom.Filtered: request to http://127.0.0.1:"),
        "got {err}"
    );
    standin.restart().unwrap();
    let resolution = resolve_seed(fast_options(&standin)).await.unwrap();
    assert_eq!(resolution.s3_uris().len(), 2);
}
