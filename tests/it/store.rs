//! S3 conformance of the store layer: the same checks against our S3 stand-in and against
//! moto's server, an independent implementation, so we do not only test against ourselves.
//!
//! moto runs from the project venv (`scripts/setup-python.sh`); without it the moto half is
//! skipped with a note, unless `MASTFS_REQUIRE_TOOLS` is set (CI), where it fails.

use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::support::*;
use aws_sdk_s3::primitives::ByteStream;
use mastfs::store::{ObjectStore, S3Store, S3StoreOptions, StoreCounters, StoreErrorKind};

const BUCKET: &str = "conformance";

fn store_for(endpoint: &str) -> S3Store {
    let opts = S3StoreOptions {
        endpoint_url: Some(endpoint.to_string()),
        force_path_style: true,
        attempt_timeout: Duration::from_secs(30),
        max_attempts: 2,
        ..Default::default()
    };
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(S3Store::new(opts, Arc::new(StoreCounters::default())))
        .unwrap()
}

/// The objects every conformance run uploads: (key, bytes).
fn fixture() -> Vec<(String, Vec<u8>)> {
    let mut objects = vec![
        (
            "hst/public/jbev/jbeveo010/jbeveo010_drz.fits".to_string(),
            pseudo_random(3_000_000, 1),
        ),
        (
            "hst/public/jbev/jbevet010/jbevet010_drz.fits".to_string(),
            pseudo_random(1000, 2),
        ),
        ("hst/readme.txt".to_string(), b"readme".to_vec()),
        // Listed URL-encoded (encoding-type=url): space, '+', '%' and non-ASCII come back.
        ("odd/a+b c%2B é.txt".to_string(), b"odd".to_vec()),
    ];
    for i in 0..1010 {
        objects.push((
            format!("roman/flat/f{i:04}.asdf"),
            vec![(i % 251) as u8; i % 17],
        ));
    }
    objects
}

/// The checks, run against any S3 implementation holding `fixture()` in `BUCKET`.
async fn conformance(store: &S3Store, server: &str) {
    let page = store.list_page(BUCKET, "hst/", None).await.unwrap();
    assert_eq!(
        page.prefixes,
        vec!["hst/public/"],
        "{server}: common prefixes under hst/"
    );
    assert_eq!(page.objects.len(), 1, "{server}: objects under hst/");
    let readme = &page.objects[0];
    assert_eq!(
        (readme.key.as_str(), readme.size),
        ("hst/readme.txt", 6),
        "{server}: listed object"
    );
    let odd = store.list_page(BUCKET, "odd/", None).await.unwrap();
    let odd_keys: Vec<&str> = odd.objects.iter().map(|o| o.key.as_str()).collect();
    assert_eq!(
        odd_keys,
        vec!["odd/a+b c%2B é.txt"],
        "{server}: a key with space, '+', '%' and non-ASCII, listed"
    );
    let head = store.head(BUCKET, "hst/readme.txt").await.unwrap();
    assert_eq!(
        head.etag, readme.etag,
        "{server}: ETag of the listing equals ETag of HEAD"
    );
    assert!(!head.etag.is_empty(), "{server}: listing without ETag");
    assert!(
        head.last_modified > std::time::SystemTime::UNIX_EPOCH,
        "{server}: LastModified"
    );

    let mut keys = 0;
    let mut token = None;
    let mut pages = 0;
    loop {
        let page = store.list_page(BUCKET, "roman/flat/", token).await.unwrap();
        keys += page.objects.len();
        pages += 1;
        token = page.next_token;
        if token.is_none() {
            break;
        }
    }
    assert_eq!(
        (keys, pages),
        (1010, 2),
        "{server}: keys and pages of a 1010-key prefix"
    );

    let err = store.head(BUCKET, "hst/missing.fits").await.unwrap_err();
    assert_eq!(
        err.kind,
        StoreErrorKind::NotFound,
        "{server}: HEAD of a missing key: {err}"
    );
    let err = store.head(BUCKET, "hst/public").await.unwrap_err();
    assert_eq!(
        err.kind,
        StoreErrorKind::NotFound,
        "{server}: HEAD of a prefix: {err}"
    );

    let key = "hst/public/jbev/jbeveo010/jbeveo010_drz.fits";
    let data = pseudo_random(3_000_000, 1);
    let meta = store.head(BUCKET, key).await.unwrap();
    assert_eq!(meta.size, 3_000_000, "{server}: size");
    for range in [
        0..1,
        2_097_152..2_097_152 + 4096,
        1_048_570..1_048_600,
        2_999_000..3_000_000,
    ] {
        let got = store
            .get_range(BUCKET, key, &meta.etag, range.clone())
            .await
            .unwrap();
        assert!(
            got[..] == data[range.start as usize..range.end as usize],
            "{server}: bytes of range {range:?}"
        );
    }
    let err = store
        .get_range(BUCKET, key, "\"0123456789abcdef0123456789abcdef\"", 0..10)
        .await
        .unwrap_err();
    assert_eq!(
        err.kind,
        StoreErrorKind::Changed,
        "{server}: If-Match with another ETag: {err}"
    );
    let err = store
        .get_range("no-such-bucket-here", key, "", 0..10)
        .await
        .unwrap_err();
    assert!(
        matches!(
            err.kind,
            StoreErrorKind::NotFound | StoreErrorKind::AccessDenied
        ),
        "{server}: missing bucket: {err}"
    );
}

#[test]
fn conformance_against_the_stand_in() {
    let s3 = S3Standin::start(ServerOptions::default()).unwrap();
    s3.create_bucket(BUCKET, true);
    for (key, data) in fixture() {
        s3.put_object(BUCKET, &key, data);
    }
    let store = store_for(&s3.endpoint_url());
    tokio::runtime::Runtime::new()
        .unwrap()
        .block_on(conformance(&store, "stand-in"));
}

struct Moto(Child);

impl Drop for Moto {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn moto_server_binary() -> Option<PathBuf> {
    let candidates = [
        std::env::var("MASTFS_MOTO_SERVER").ok().map(PathBuf::from),
        Some(PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(".venv/bin/moto_server")),
    ];
    candidates.into_iter().flatten().find(|p| p.exists())
}

#[test]
fn conformance_against_moto() {
    let Some(bin) = moto_server_binary() else {
        assert!(
            std::env::var_os("MASTFS_REQUIRE_TOOLS").is_none(),
            "moto_server not found and MASTFS_REQUIRE_TOOLS is set"
        );
        eprintln!("skipped: moto_server not found (run scripts/setup-python.sh)");
        return;
    };
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let child = Command::new(bin)
        .args(["-H", "127.0.0.1", "-p", &port.to_string()])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start moto_server");
    let _moto = Moto(child);
    let endpoint = format!("http://127.0.0.1:{port}");
    let deadline = Instant::now() + Duration::from_secs(30);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(
            Instant::now() < deadline,
            "moto_server did not listen within 30 s"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let conf = aws_sdk_s3::config::Builder::new()
            .behavior_version_latest()
            .region(aws_sdk_s3::config::Region::new("us-east-1"))
            .endpoint_url(&endpoint)
            .force_path_style(true)
            .credentials_provider(aws_sdk_s3::config::Credentials::new("testing", "testing", None, None, "test"))
            .build();
        let admin = aws_sdk_s3::Client::from_conf(conf);
        admin.create_bucket().bucket(BUCKET).send().await.unwrap();
        // moto serves unsigned reads only with a public-read policy naming its own actions.
        let policy = format!(
            r#"{{"Version":"2012-10-17","Statement":[{{"Effect":"Allow","Principal":"*","Action":["s3:GetObject","s3:HeadObject"],"Resource":"arn:aws:s3:::{BUCKET}/*"}},{{"Effect":"Allow","Principal":"*","Action":["s3:ListBucket"],"Resource":"arn:aws:s3:::{BUCKET}"}}]}}"#
        );
        admin.put_bucket_policy().bucket(BUCKET).policy(policy).send().await.unwrap();
        for (key, data) in fixture() {
            admin.put_object().bucket(BUCKET).key(&key).body(ByteStream::from(data)).send().await.unwrap();
        }
    });
    let store = store_for(&endpoint);
    rt.block_on(conformance(&store, "moto"));
}
