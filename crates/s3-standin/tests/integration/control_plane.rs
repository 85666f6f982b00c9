//! Counters and the JSON control plane under /_standin/.

use mastfs_s3_standin::{FaultPlan, LinkSettings, Op, Stats};

use crate::common::*;

#[tokio::test]
async fn counters_and_request_log_describe_what_was_served() {
    let server = server();
    for i in 0..5 {
        server.put_object("pub", &format!("dir/f{i}"), data(1000, i));
    }
    server.reset_stats();
    let client = anonymous_client(&server);
    client
        .list_objects_v2()
        .bucket("pub")
        .prefix("dir/")
        .delimiter("/")
        .send()
        .await
        .unwrap();
    client
        .head_object()
        .bucket("pub")
        .key("dir/f1")
        .send()
        .await
        .unwrap();
    client
        .head_object()
        .bucket("pub")
        .key("dir/nope")
        .send()
        .await
        .unwrap_err();
    let got = client
        .get_object()
        .bucket("pub")
        .key("dir/f2")
        .range("bytes=100-199")
        .send()
        .await
        .unwrap();
    assert_eq!(got.body.collect().await.unwrap().into_bytes().len(), 100);
    let got = client
        .get_object()
        .bucket("pub")
        .key("dir/f3")
        .send()
        .await
        .unwrap();
    assert_eq!(got.body.collect().await.unwrap().into_bytes().len(), 1000);

    let stats = server.stats();
    assert_eq!(
        (
            stats.requests.list,
            stats.requests.head,
            stats.requests.get,
            stats.requests.put,
            stats.requests.other
        ),
        (1, 2, 2, 0, 0),
        "requests by op: {:?}",
        stats.requests
    );
    assert_eq!(stats.by_status.get(&200), Some(&3), "{:?}", stats.by_status);
    assert_eq!(stats.by_status.get(&206), Some(&1));
    assert_eq!(stats.by_status.get(&404), Some(&1));
    assert_eq!(stats.get_body_bytes, 1100);
    assert!(stats.body_bytes_sent > 1100, "the listing body counts too");
    let gets: Vec<_> = stats.records_of(Op::Get).collect();
    assert_eq!(gets.len(), 2);
    assert_eq!(
        (
            gets[0].bucket.as_str(),
            gets[0].key.as_str(),
            gets[0].range.as_deref(),
            gets[0].status,
            gets[0].body_bytes
        ),
        ("pub", "dir/f2", Some("bytes=100-199"), 206, 100)
    );
    let list = stats.records_of(Op::List).next().unwrap();
    assert_eq!(list.key, "dir/", "a listing logs its prefix");

    server.reset_stats();
    assert_eq!(server.stats(), Stats::default(), "reset zeroes everything");
}

#[test]
fn control_plane_speaks_json() {
    let server = server();
    server.put_object("pub", "k", data(10, 1));
    raw_get(&server, "/pub/k", &[]);

    let resp = raw_get(&server, "/_standin/stats", &[]);
    assert_eq!(resp.status, 200);
    let stats: Stats = serde_json::from_slice(&resp.body).unwrap();
    assert_eq!(stats.requests.get, 1);
    assert!(stats.log.is_empty(), "log only with ?log=1");
    let resp = raw_get(&server, "/_standin/stats?log=1", &[]);
    let stats: Stats = serde_json::from_slice(&resp.body).unwrap();
    assert_eq!(stats.log.len(), 1);
    assert_eq!(stats.log[0].key, "k");
    assert_eq!(
        stats.requests.total(),
        1,
        "control-plane requests are not counted"
    );

    let resp = raw_request(&server, "POST", "/_standin/reset", &[], b"");
    assert_eq!(resp.status, 200);
    assert_eq!(server.stats().requests.total(), 0);

    let plan =
        br#"{"seed": 1, "count": 1, "op": "get", "key_contains": "k", "fault": "status500"}"#;
    let resp = raw_request(&server, "POST", "/_standin/faults", &[], plan);
    assert_eq!(resp.status, 200, "{}", resp.text());
    let echoed: Option<FaultPlan> = serde_json::from_slice(&resp.body).unwrap();
    assert_eq!(echoed.map(|p| p.count), Some(Some(1)));
    assert_eq!(raw_get(&server, "/pub/k", &[]).status, 500);
    assert_eq!(raw_get(&server, "/pub/k", &[]).status, 200);

    let plan = br#"{"fault": {"stall": {"duration_ms": 5000}}}"#;
    assert_eq!(
        raw_request(&server, "POST", "/_standin/faults", &[], plan).status,
        200
    );
    let resp = raw_request(&server, "POST", "/_standin/faults", &[], b"{}");
    assert_eq!(
        (resp.status, resp.text().trim()),
        (200, "null"),
        "{{}} clears the plan"
    );
    assert_eq!(raw_get(&server, "/pub/k", &[]).status, 200);
    let resp = raw_request(
        &server,
        "POST",
        "/_standin/faults",
        &[],
        b"{\"fault\": \"explode\"}",
    );
    assert_eq!(resp.status, 400, "unknown fault: {}", resp.text());

    let resp = raw_request(
        &server,
        "POST",
        "/_standin/link",
        &[],
        br#"{"latency_ms": 25, "bandwidth_bytes_per_sec": 1000000}"#,
    );
    assert_eq!(resp.status, 200, "{}", resp.text());
    let link: LinkSettings = serde_json::from_slice(&resp.body).unwrap();
    assert_eq!(
        link,
        LinkSettings {
            latency_ms: 25,
            bandwidth_bytes_per_sec: Some(1_000_000)
        }
    );
    assert_eq!(server.link(), link);
    let resp = raw_request(
        &server,
        "POST",
        "/_standin/link",
        &[],
        br#"{"latency_ms": 0, "bandwidth_bytes_per_sec": null}"#,
    );
    assert_eq!(resp.status, 200);
    assert_eq!(server.link(), LinkSettings::default());

    assert_eq!(raw_get(&server, "/_standin/nope", &[]).status, 404);
}
