//! The raw client against the S3 stand-in: it must send exactly the requests its
//! workload needs and receive exactly the bytes asked for, as the server counts them.

use mastfs_bench::offsets::random_offsets;
use mastfs_bench::{run_random, run_seq, BenchError, RandomOptions, RangeClient, SeqOptions};
use mastfs_s3_standin::{S3Standin, ServerOptions};

const BUCKET: &str = "bench";
const KEY: &str = "hst/public/x/x_drz.fits";
/// Not a multiple of the chunk size, so the last GET is a short one.
const SIZE: u64 = 5 * 1024 * 1024 + 123;

fn standin_with_object() -> S3Standin {
    let server = S3Standin::start(ServerOptions::default()).unwrap();
    server.create_bucket(BUCKET, true);
    let data: Vec<u8> = (0..SIZE).map(|i| (i * 31 % 251) as u8).collect();
    server.put_object(BUCKET, KEY, data);
    server.reset_stats();
    server
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn seq_fetches_every_byte_once_in_chunks() {
    let server = standin_with_object();
    let client = RangeClient::new(&server.endpoint_url(), BUCKET, KEY).unwrap();
    let opts = SeqOptions {
        chunk: 1024 * 1024,
        parallel: 3,
        object_size: None,
    };
    let report = run_seq(&client, opts).await.unwrap();
    let stats = server.stats();
    assert_eq!(report.bytes, SIZE, "bytes reported");
    assert_eq!(report.object_size, SIZE, "size from HEAD");
    assert_eq!(
        (stats.requests.head, stats.requests.get, stats.requests.list),
        (1, 6, 0),
        "expected 1 HEAD and 6 GETs (5 full chunks + 1 short), got {:?}",
        stats.requests
    );
    assert_eq!(stats.get_body_bytes, SIZE, "bytes the server sent");
    assert_eq!(report.requests.get, 6);
    assert_eq!(report.latencies_ms.len(), 6);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn random_reads_the_seeded_ranges_one_get_each() {
    let server = standin_with_object();
    let client = RangeClient::new(&server.endpoint_url(), BUCKET, KEY).unwrap();
    let opts = RandomOptions {
        count: 20,
        read_size: 64 * 1024,
        seed: 7,
        object_size: Some(SIZE),
    };
    let report = run_random(&client, opts).await.unwrap();
    let stats = server.stats();
    assert_eq!(
        report.offsets,
        random_offsets(7, 20, SIZE, 64 * 1024).unwrap(),
        "offsets must follow the seed"
    );
    assert_eq!(
        (stats.requests.head, stats.requests.get),
        (0, 20),
        "a known size needs no HEAD; one GET per read"
    );
    assert_eq!(stats.get_body_bytes, 20 * 64 * 1024);
    let ranges: Vec<String> = stats.log.iter().filter_map(|r| r.range.clone()).collect();
    let expected: Vec<String> = report
        .offsets
        .iter()
        .map(|o| format!("bytes={}-{}", o, o + 64 * 1024 - 1))
        .collect();
    assert_eq!(
        ranges, expected,
        "the server saw other ranges, in another order"
    );
    let summary = report.latency_ms.unwrap();
    assert_eq!(summary.count, 20);
    assert!(summary.p50 <= summary.p90 && summary.p90 <= summary.p99);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_range_past_the_end_is_an_error_not_a_short_count() {
    let server = standin_with_object();
    let client = RangeClient::new(&server.endpoint_url(), BUCKET, KEY).unwrap();
    let got = client.read_range(SIZE - 10..SIZE + 10).await;
    assert!(
        matches!(
            got,
            Err(BenchError::ShortBody {
                expected: 20,
                got: 10,
                ..
            })
        ),
        "expected ShortBody 20 vs 10, got {got:?}"
    );
    let missing = RangeClient::new(&server.endpoint_url(), BUCKET, "no/such/key").unwrap();
    let got = missing.object_size().await;
    assert!(
        matches!(got, Err(BenchError::Status { status: 404, .. })),
        "expected HTTP 404 for a missing key, got {got:?}"
    );
}
