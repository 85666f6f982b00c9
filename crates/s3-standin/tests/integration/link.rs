//! The emulated link: latency per request, one bandwidth shared by all
//! connections.

use std::time::{Duration, Instant};

use crate::common::*;

const MIB: usize = 1024 * 1024;

#[tokio::test]
async fn parallel_gets_share_one_link() {
    let server = server();
    for i in 0..8 {
        server.put_object("pub", &format!("bw/{i}"), data(4 * MIB, i));
    }
    server.set_link(Duration::ZERO, Some(32 * MIB as u64));
    let client = anonymous_client(&server);
    let t0 = Instant::now();
    let mut tasks = Vec::new();
    for i in 0..8u64 {
        let client = client.clone();
        tasks.push(tokio::spawn(async move {
            let got = client
                .get_object()
                .bucket("pub")
                .key(format!("bw/{i}"))
                .send()
                .await
                .unwrap();
            got.body.collect().await.unwrap().into_bytes().len()
        }));
    }
    for task in tasks {
        assert_eq!(task.await.unwrap(), 4 * MIB);
    }
    let elapsed = t0.elapsed();
    assert!(
        elapsed >= Duration::from_millis(800) && elapsed < Duration::from_secs(4),
        "8 x 4 MiB at 32 MiB/s shared should take ~1 s, took {elapsed:?}"
    );
    let stats = server.stats();
    assert_eq!(stats.get_body_bytes, 32 * MIB as u64);

    // A slow link, then unlimited again: the change takes effect (at 2 MiB/s
    // this GET would take 2 s).
    server.set_link(Duration::ZERO, Some(2 * MIB as u64));
    server.set_link(Duration::ZERO, None);
    let t0 = Instant::now();
    let got = client
        .get_object()
        .bucket("pub")
        .key("bw/0")
        .send()
        .await
        .unwrap();
    assert_eq!(
        got.body.collect().await.unwrap().into_bytes().len(),
        4 * MIB
    );
    assert!(
        t0.elapsed() < Duration::from_secs(1),
        "unlimited 4 MiB took {:?}",
        t0.elapsed()
    );
}

#[test]
fn latency_delays_every_response_head() {
    let server = server();
    server.put_object("pub", "k", &b"v"[..]);
    server.set_link(Duration::from_millis(150), None);
    assert_eq!(server.link().latency_ms, 150);
    for _ in 0..2 {
        let t0 = Instant::now();
        let resp = raw_request(&server, "HEAD", "/pub/k", &[], b"");
        assert_eq!(resp.status, 200);
        assert!(
            t0.elapsed() >= Duration::from_millis(150),
            "HEAD took only {:?}",
            t0.elapsed()
        );
    }
    server.set_link(Duration::ZERO, None);
    let t0 = Instant::now();
    raw_request(&server, "HEAD", "/pub/k", &[], b"");
    assert!(
        t0.elapsed() < Duration::from_millis(150),
        "latency removed, yet HEAD took {:?}",
        t0.elapsed()
    );
}
