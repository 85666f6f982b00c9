//! Each injected fault, observed on the wire.

use std::io::ErrorKind;
use std::time::{Duration, Instant};

use aws_sdk_s3::error::ProvideErrorMetadata;
use mastfs_s3_standin::{Fault, FaultPlan, OpMatch};

use crate::common::*;

const MIB: usize = 1024 * 1024;

#[test]
fn status500_hits_only_the_next_n_matching_requests() {
    let server = server();
    server.put_object("pub", "good.txt", &b"fine"[..]);
    server.put_object("pub", "bad.fits", &b"broken"[..]);
    let mut plan = FaultPlan::next(2, OpMatch::Get, Fault::Status500);
    plan.key_contains = Some(".fits".into());
    server.set_faults(plan);

    assert_eq!(
        raw_get(&server, "/pub/good.txt", &[]).status,
        200,
        "key filter"
    );
    assert_eq!(
        raw_request(&server, "HEAD", "/pub/bad.fits", &[], b"").status,
        200,
        "op filter"
    );
    let first = raw_get(&server, "/pub/bad.fits", &[]);
    assert_eq!(first.status, 500);
    assert!(
        first.text().contains("<Code>InternalError</Code>"),
        "{}",
        first.text()
    );
    assert_eq!(raw_get(&server, "/pub/bad.fits", &[]).status, 500);
    assert_eq!(
        raw_get(&server, "/pub/bad.fits", &[]).status,
        200,
        "only 2 faults"
    );
    let stats = server.stats();
    assert_eq!(stats.faults_injected, 2);
    assert_eq!(stats.by_status.get(&500), Some(&2));
    let faulted: Vec<_> = stats.log.iter().filter(|r| r.fault.is_some()).collect();
    assert_eq!(faulted.len(), 2);
    assert_eq!(faulted[0].fault.as_deref(), Some("status500"));
}

#[tokio::test]
async fn slowdown503_is_an_s3_slowdown_error() {
    let server = server();
    server.put_object("pub", "k", &b"v"[..]);
    server.set_faults(FaultPlan::next(1, OpMatch::List, Fault::Slowdown503));
    let client = anonymous_client(&server);
    let err = client
        .list_objects_v2()
        .bucket("pub")
        .send()
        .await
        .unwrap_err();
    assert_eq!(err.code(), Some("SlowDown"), "{err:?}");
    assert_eq!(err.raw_response().map(|r| r.status().as_u16()), Some(503));
    client.list_objects_v2().bucket("pub").send().await.unwrap();
    server.clear_faults();
}

#[test]
fn reset_mid_body_sends_part_of_the_body_then_drops_the_connection() {
    let server = server();
    server.put_object("pub", "big", data(MIB, 1));
    server.set_faults(FaultPlan::next(
        1,
        OpMatch::Get,
        Fault::ResetMidBody {
            after_bytes: Some(100_000),
        },
    ));
    let resp = raw_get(&server, "/pub/big", &[]);
    assert_eq!(resp.status, 200);
    assert_eq!(resp.content_length(), Some(MIB), "full length announced");
    assert_eq!(resp.body.len(), 100_000, "body bytes before the reset");
    assert_eq!(
        resp.body,
        data(MIB, 1)[..100_000],
        "the bytes sent are the right ones"
    );
    assert_eq!(
        resp.ending,
        Ending::Error(ErrorKind::ConnectionReset),
        "a TCP reset ends the body"
    );
    let log = server.stats().log;
    assert_eq!(
        log.last().map(|r| r.body_bytes),
        Some(100_000),
        "log counts bytes actually sent"
    );
    assert_eq!(
        raw_get(&server, "/pub/big", &[]).body.len(),
        MIB,
        "next request is whole"
    );
}

#[test]
fn short_body_announces_more_than_it_sends_then_closes() {
    let server = server();
    server.put_object("pub", "obj", data(50_000, 2));
    server.set_faults(FaultPlan::next(
        1,
        OpMatch::Get,
        Fault::ShortBody {
            after_bytes: Some(12_345),
        },
    ));
    let resp = raw_get(&server, "/pub/obj", &[]);
    assert_eq!(resp.status, 200);
    assert_eq!(resp.content_length(), Some(50_000));
    assert_eq!(resp.body.len(), 12_345, "bytes before the close");
    assert_eq!(resp.body, data(50_000, 2)[..12_345]);
    assert_eq!(
        resp.ending,
        Ending::Eof,
        "the connection closes after the short body"
    );
}

#[test]
fn stall_stops_sending_for_the_given_time_then_completes() {
    let server = server();
    server.put_object("pub", "obj", data(200_000, 3));
    server.set_faults(FaultPlan::next(
        1,
        OpMatch::Get,
        Fault::Stall {
            duration_ms: 700,
            after_bytes: Some(1000),
        },
    ));
    let resp = raw_get(&server, "/pub/obj", &[]);
    assert_eq!(resp.ending, Ending::Complete);
    assert_eq!(resp.body, data(200_000, 3));
    // The biggest gap between two arrivals is the stall.
    let mut last = Duration::ZERO;
    let mut gap = Duration::ZERO;
    let mut before_gap = 0;
    let mut received = 0;
    for (at, n) in &resp.arrivals {
        if *at - last > gap {
            gap = *at - last;
            before_gap = received;
        }
        last = *at;
        received += n;
    }
    assert!(
        gap >= Duration::from_millis(650),
        "expected a ~700 ms gap, biggest was {gap:?}"
    );
    assert_eq!(before_gap, 1000, "stall after 1000 bytes");
}

#[test]
fn slow_drip_paces_the_body() {
    let server = server();
    server.put_object("pub", "obj", data(20_000, 4));
    server.set_faults(FaultPlan::next(
        1,
        OpMatch::Get,
        Fault::SlowDrip {
            bytes_per_sec: 40_000,
        },
    ));
    let t0 = Instant::now();
    let resp = raw_get(&server, "/pub/obj", &[]);
    let elapsed = t0.elapsed();
    assert_eq!(resp.body, data(20_000, 4));
    assert!(
        elapsed >= Duration::from_millis(450) && elapsed < Duration::from_secs(3),
        "20000 bytes at 40000 B/s should take ~0.5 s, took {elapsed:?}"
    );
    assert!(
        resp.arrivals.len() >= 5,
        "expected many small arrivals, got {}",
        resp.arrivals.len()
    );
}

#[tokio::test]
async fn full_instead_of_range_answers_200_with_the_whole_object() {
    let server = server();
    let body = data(5000, 5);
    server.put_object("pub", "obj", body.clone());
    server.set_faults(FaultPlan::next(1, OpMatch::Get, Fault::FullInsteadOfRange));
    let unranged = raw_get(&server, "/pub/obj", &[]);
    assert_eq!(
        unranged.status, 200,
        "an unranged GET does not use up the fault"
    );
    let resp = raw_get(&server, "/pub/obj", &[("Range", "bytes=100-199")]);
    assert_eq!(resp.status, 200);
    assert_eq!(resp.header("content-range"), None);
    assert_eq!(resp.body, body);
    // Through the SDK, signed (the Range header stays intact for the signature).
    server.set_faults(FaultPlan::next(1, OpMatch::Get, Fault::FullInsteadOfRange));
    let client = signed_client(&server);
    let got = client
        .get_object()
        .bucket("pub")
        .key("obj")
        .range("bytes=0-9")
        .send()
        .await
        .unwrap();
    assert_eq!(got.content_length(), Some(5000));
    assert_eq!(got.content_range(), None);
    let ok = client
        .get_object()
        .bucket("pub")
        .key("obj")
        .range("bytes=0-9")
        .send()
        .await
        .unwrap();
    assert_eq!(ok.content_range(), Some("bytes 0-9/5000"), "fault used up");
}
