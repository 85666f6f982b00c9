//! The Prometheus endpoint of a real mount: numbers that move as reads happen, and a clear
//! failure when the address is taken.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};

use crate::support::*;

fn scrape(addr: &str, path: &str) -> (String, String) {
    let mut stream = TcpStream::connect(addr).expect("connect to the metrics endpoint");
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).unwrap();
    let (head, body) = response.split_once("\r\n\r\n").unwrap_or((&response, ""));
    (head.to_string(), body.to_string())
}

fn sample(body: &str, series: &str) -> Option<f64> {
    body.lines()
        .find_map(|l| l.strip_prefix(series)?.strip_prefix(' ')?.parse().ok())
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

#[test]
fn metrics_follow_reads() {
    let s3 = S3Standin::start(ServerOptions::default()).expect("start S3 stand-in");
    s3.create_bucket("stpubdata", true);
    s3.put_object("stpubdata", "a/file.bin", pseudo_random(3 << 20, 5));
    let addr = format!("127.0.0.1:{}", free_port());
    let m = Mount::start(&s3.endpoint_url(), &["--metrics-addr", &addr]);

    let (head, before) = scrape(&addr, "/metrics");
    assert!(head.starts_with("HTTP/1.1 200"), "status line: {head}");
    assert!(
        head.to_ascii_lowercase()
            .contains("content-type: text/plain; version=0.0.4"),
        "Prometheus content type; headers:\n{head}"
    );
    let gets_before = sample(&before, "mastfs_s3_requests_total{kind=\"get\"}");
    assert_eq!(
        gets_before,
        Some(0.0),
        "GETs before any read; body:\n{before}"
    );

    let data = std::fs::read(m.path("stpubdata/a/file.bin")).unwrap();
    assert_eq!(data.len(), 3 << 20);
    let (_, after) = scrape(&addr, "/metrics");
    let gets = sample(&after, "mastfs_s3_requests_total{kind=\"get\"}").unwrap_or(0.0);
    assert_eq!(
        gets, 3.0,
        "GETs after reading 3 MiB in 1 MiB blocks; body:\n{after}"
    );
    let fetched = sample(&after, "mastfs_fetched_bytes_total").unwrap_or(0.0);
    assert_eq!(fetched, (3 << 20) as f64, "bytes fetched");

    let (head, _) = scrape(&addr, "/other");
    assert!(head.starts_with("HTTP/1.1 404"), "other paths: {head}");
}

#[test]
fn a_taken_metrics_port_fails_the_mount_clearly() {
    let s3 = S3Standin::start(ServerOptions::default()).expect("start S3 stand-in");
    s3.create_bucket("stpubdata", true);
    let taken = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap().to_string();
    let home = tempfile::tempdir().unwrap();
    let mnt = home.path().join("mnt");
    std::fs::create_dir(&mnt).unwrap();
    let out = mastfs_command(home.path())
        .arg("mount")
        .arg(&mnt)
        .args(["--endpoint-url", &s3.endpoint_url(), "--force-path-style"])
        .args(["--metrics-addr", &addr])
        .output()
        .expect("run mastfs");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "mount succeeded on a taken port");
    assert!(
        stderr.contains(&addr) && stderr.contains("--metrics-addr"),
        "the error should name the address and the flag; got: {stderr}"
    );
    assert!(!is_mounted(&mnt), "nothing may stay mounted");
}

fn open_fds(pid: u32) -> usize {
    std::fs::read_dir(format!("/proc/{pid}/fd"))
        .map(|d| d.count())
        .unwrap_or(0)
}

#[test]
fn idle_metrics_connections_cannot_exhaust_the_daemons_descriptors() {
    let s3 = S3Standin::start(ServerOptions::default()).expect("start S3 stand-in");
    s3.create_bucket("stpubdata", true);
    let addr = format!("127.0.0.1:{}", free_port());
    let m = Mount::start(&s3.endpoint_url(), &["--metrics-addr", &addr]);
    let (head, _) = scrape(&addr, "/metrics");
    assert!(head.starts_with("HTTP/1.1 200"), "status line: {head}");
    let before = open_fds(m.pid());

    // A local user opens many connections and sends nothing.
    let idle: Vec<TcpStream> = (0..200)
        .filter_map(|_| TcpStream::connect(&addr).ok())
        .collect();
    std::thread::sleep(std::time::Duration::from_millis(500));
    let during = open_fds(m.pid());
    assert!(
        during <= before + 32,
        "{} idle connections took the daemon from {before} to {during} descriptors",
        idle.len()
    );
    // They are closed by the daemon after its timeout.
    wait_until("idle metrics connections closed by the daemon", || {
        open_fds(m.pid()) <= before + 2
    });
    let (head, _) = scrape(&addr, "/metrics");
    assert!(
        head.starts_with("HTTP/1.1 200"),
        "scrape afterwards: {head}"
    );
    drop(idle);
}
