//! HEAD / GET / PUT / DELETE, ranges, conditions, buckets and access control.

use aws_sdk_s3::error::ProvideErrorMetadata;
use aws_sdk_s3::primitives::ByteStream;

use crate::common::*;

#[test]
fn ranged_gets_return_exact_bytes_and_content_range() {
    let server = server();
    let body = data(1000, 7);
    let etag = server.put_object("pub", "r/obj", body.clone());
    let cases: &[(&str, std::ops::Range<usize>)] = &[
        ("bytes=10-19", 10..20),
        ("bytes=990-", 990..1000),
        ("bytes=-10", 990..1000),
        ("bytes=-5000", 0..1000),
        ("bytes=995-2000", 995..1000),
        ("bytes=0-0", 0..1),
    ];
    for (range, span) in cases {
        let resp = raw_get(&server, "/pub/r/obj", &[("Range", range)]);
        assert_eq!(resp.status, 206, "{range}: status");
        assert_eq!(resp.body, &body[span.clone()], "{range}: bytes");
        let expected_cr = format!("bytes {}-{}/1000", span.start, span.end - 1);
        assert_eq!(
            resp.header("content-range"),
            Some(expected_cr.as_str()),
            "{range}: Content-Range"
        );
        assert_eq!(resp.header("etag"), Some(etag.as_str()), "{range}: ETag");
        assert!(
            resp.header("last-modified").is_some(),
            "{range}: Last-Modified"
        );
    }
    let whole = raw_get(&server, "/pub/r/obj", &[]);
    assert_eq!((whole.status, whole.body == body), (200, true));
    assert_eq!(whole.header("accept-ranges"), Some("bytes"));

    for range in ["bytes=1000-", "bytes=5000-6000"] {
        let resp = raw_get(&server, "/pub/r/obj", &[("Range", range)]);
        assert_eq!(
            resp.status,
            416,
            "{range}: expected 416, got {} {}",
            resp.status,
            resp.text()
        );
        assert!(
            resp.text().contains("<Code>InvalidRange</Code>"),
            "{}",
            resp.text()
        );
    }
}

#[test]
fn conditional_gets_follow_if_match_and_if_none_match() {
    let server = server();
    let etag = server.put_object("pub", "c/obj", data(100, 3));
    let resp = raw_get(
        &server,
        "/pub/c/obj",
        &[("If-Match", "\"0123456789abcdef0123456789abcdef\"")],
    );
    assert_eq!(resp.status, 412, "If-Match mismatch: {}", resp.text());
    assert!(resp.text().contains("PreconditionFailed"));
    let resp = raw_get(
        &server,
        "/pub/c/obj",
        &[("If-Match", &etag), ("Range", "bytes=0-9")],
    );
    assert_eq!(
        (resp.status, resp.body.len()),
        (206, 10),
        "If-Match match with range"
    );
    let resp = raw_get(&server, "/pub/c/obj", &[("If-None-Match", &etag)]);
    assert_eq!(resp.status, 304, "If-None-Match match");
    let resp = raw_get(&server, "/pub/c/obj", &[("If-None-Match", "\"other\"")]);
    assert_eq!(resp.status, 200, "If-None-Match mismatch");
    let resp = raw_request(
        &server,
        "HEAD",
        "/pub/c/obj",
        &[("If-Match", "\"nope\"")],
        b"",
    );
    assert_eq!(resp.status, 412, "HEAD If-Match mismatch");
}

#[tokio::test]
async fn head_of_a_prefix_or_missing_key_is_404() {
    let server = server();
    server.put_object("pub", "dir/file", &b"abc"[..]);
    let client = anonymous_client(&server);
    for key in ["dir", "dir/", "missing"] {
        let err = client
            .head_object()
            .bucket("pub")
            .key(key)
            .send()
            .await
            .unwrap_err();
        let status = err.raw_response().map(|r| r.status().as_u16());
        assert_eq!(status, Some(404), "HEAD {key:?}: {err:?}");
        assert!(
            err.as_service_error().is_some_and(|e| e.is_not_found()),
            "HEAD {key:?} should be NotFound: {err:?}"
        );
    }
    let err = client
        .get_object()
        .bucket("pub")
        .key("dir")
        .send()
        .await
        .unwrap_err();
    assert_eq!(err.code(), Some("NoSuchKey"), "GET of a prefix: {err:?}");
    let err = client
        .head_object()
        .bucket("nobucket")
        .key("k")
        .send()
        .await
        .unwrap_err();
    assert_eq!(err.raw_response().map(|r| r.status().as_u16()), Some(404));
    let ok = client
        .head_object()
        .bucket("pub")
        .key("dir/file")
        .send()
        .await
        .unwrap();
    assert_eq!(ok.content_length(), Some(3));
}

#[tokio::test]
async fn private_bucket_refuses_unsigned_and_accepts_signed_requests() {
    let server = server();
    let etag = server.put_object("priv", "secret.txt", &b"top secret"[..]);
    let anon = anonymous_client(&server);
    let err = anon
        .get_object()
        .bucket("priv")
        .key("secret.txt")
        .send()
        .await
        .unwrap_err();
    assert_eq!(err.code(), Some("AccessDenied"), "unsigned GET: {err:?}");
    assert_eq!(err.raw_response().map(|r| r.status().as_u16()), Some(403));
    let err = anon
        .list_objects_v2()
        .bucket("priv")
        .send()
        .await
        .unwrap_err();
    assert_eq!(err.code(), Some("AccessDenied"), "unsigned LIST: {err:?}");
    let raw = raw_get(&server, "/priv/secret.txt", &[]);
    assert_eq!(raw.status, 403, "raw unsigned GET");
    let raw = raw_request(&server, "HEAD", "/priv/secret.txt", &[], b"");
    assert_eq!(raw.status, 403, "raw unsigned HEAD");

    let signed = signed_client(&server);
    let got = signed
        .get_object()
        .bucket("priv")
        .key("secret.txt")
        .send()
        .await
        .unwrap();
    assert_eq!(got.e_tag(), Some(etag.as_str()));
    assert_eq!(
        got.body.collect().await.unwrap().into_bytes().as_ref(),
        b"top secret"
    );
    let page = signed
        .list_objects_v2()
        .bucket("priv")
        .send()
        .await
        .unwrap();
    assert_eq!(page.contents().len(), 1);
    signed
        .put_object()
        .bucket("priv")
        .key("up/loaded")
        .body(ByteStream::from_static(b"signed upload"))
        .send()
        .await
        .unwrap();
    let head = signed
        .head_object()
        .bucket("priv")
        .key("up/loaded")
        .send()
        .await
        .unwrap();
    assert_eq!(head.content_length(), Some(13));

    let wrong = signed_client_with(&server, ACCESS_KEY, "not-the-secret");
    let err = wrong
        .get_object()
        .bucket("priv")
        .key("secret.txt")
        .send()
        .await
        .unwrap_err();
    assert_eq!(
        err.code(),
        Some("SignatureDoesNotMatch"),
        "wrong secret: {err:?}"
    );
    let unknown = signed_client_with(&server, "AKIDUNKNOWN", SECRET_KEY);
    let err = unknown
        .get_object()
        .bucket("priv")
        .key("secret.txt")
        .send()
        .await
        .unwrap_err();
    assert_eq!(
        err.raw_response().map(|r| r.status().as_u16()),
        Some(403),
        "unknown key: {err:?}"
    );
}

#[tokio::test]
async fn uploads_deletes_and_bucket_operations_over_http() {
    let server = server();
    let anon = anonymous_client(&server);
    let body = data(300_000, 9);
    let put = anon
        .put_object()
        .bucket("pub")
        .key("up/plain")
        .content_type("text/plain")
        .body(ByteStream::from(body.clone()))
        .send()
        .await
        .unwrap();
    assert_eq!(
        put.e_tag(),
        Some(md5_etag(&body).as_str()),
        "PUT returns the MD5 ETag"
    );
    let got = anon
        .get_object()
        .bucket("pub")
        .key("up/plain")
        .send()
        .await
        .unwrap();
    assert_eq!(got.content_type(), Some("text/plain"));
    assert_eq!(
        got.body.collect().await.unwrap().into_bytes().as_ref(),
        body.as_slice()
    );

    anon.delete_object()
        .bucket("pub")
        .key("up/plain")
        .send()
        .await
        .unwrap();
    let err = anon
        .head_object()
        .bucket("pub")
        .key("up/plain")
        .send()
        .await
        .unwrap_err();
    assert_eq!(
        err.raw_response().map(|r| r.status().as_u16()),
        Some(404),
        "deleted"
    );

    anon.create_bucket()
        .bucket("made-by-http")
        .send()
        .await
        .unwrap();
    anon.head_bucket()
        .bucket("made-by-http")
        .send()
        .await
        .unwrap();
    let buckets = anon.list_buckets().send().await.unwrap();
    let names: Vec<&str> = buckets
        .buckets()
        .iter()
        .map(|b| b.name().unwrap())
        .collect();
    assert_eq!(names, ["made-by-http", "priv", "pub"]);
    let location = anon
        .get_bucket_location()
        .bucket("pub")
        .send()
        .await
        .unwrap();
    let constraint = location.location_constraint().map(|l| l.as_str());
    assert!(
        matches!(constraint, None | Some("")),
        "us-east-1 has no constraint, got {constraint:?}"
    );
    let err = anon.head_bucket().bucket("nope").send().await.unwrap_err();
    assert_eq!(err.raw_response().map(|r| r.status().as_u16()), Some(404));

    // Names AWS would refuse (too short, upper case) are fine for tests.
    server.create_bucket("B", true);
    server.put_object("B", "k", &b"short"[..]);
    assert_eq!(raw_get(&server, "/B/k", &[]).body, b"short");

    // Handle API delete.
    server.put_object("pub", "gone", &b"x"[..]);
    server.delete_object("pub", "gone");
    assert_eq!(raw_get(&server, "/pub/gone", &[]).status, 404);
}

#[test]
fn load_dir_stores_every_file_under_a_prefix() {
    let server = server();
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("hst/sub")).unwrap();
    std::fs::write(dir.path().join("top.txt"), b"top").unwrap();
    std::fs::write(dir.path().join("hst/sub/a.fits"), data(5000, 5)).unwrap();
    std::fs::create_dir_all(dir.path().join("empty")).unwrap();
    let n = server.load_dir("pub", dir.path(), "mirror/").unwrap();
    assert_eq!(n, 2);
    let resp = raw_get(&server, "/pub/mirror/hst/sub/a.fits", &[]);
    assert_eq!((resp.status, resp.body == data(5000, 5)), (200, true));
    assert_eq!(resp.header("content-type"), Some("application/fits"));
    assert_eq!(raw_get(&server, "/pub/mirror/top.txt", &[]).body, b"top");
    let err = server.load_dir("nobucket", dir.path(), "").unwrap_err();
    assert_eq!(err.kind(), std::io::ErrorKind::NotFound);
}

#[test]
fn connections_are_kept_alive_and_small_gets_are_fast() {
    let server = server();
    server.put_object("pub", "big", data(600_000, 1));
    server.put_object("pub", "small", data(10, 2));
    let mut stream = std::net::TcpStream::connect(("127.0.0.1", server.port())).unwrap();
    stream
        .set_read_timeout(Some(std::time::Duration::from_secs(5)))
        .unwrap();
    let t0 = std::time::Instant::now();
    for _ in 0..10 {
        let big = raw_exchange(&mut stream, "GET", "/pub/big", &[], b"");
        assert_eq!((big.status, big.body.len()), (200, 600_000));
        let small = raw_exchange(&mut stream, "GET", "/pub/small", &[], b"");
        assert_eq!((small.status, small.body.len()), (200, 10));
    }
    let elapsed = t0.elapsed();
    // With Nagle/delayed-ACK stalls each exchange would cost ~40 ms.
    assert!(
        elapsed < std::time::Duration::from_millis(700),
        "20 keep-alive GETs took {elapsed:?}"
    );
}
