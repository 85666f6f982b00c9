//! ListObjectsV2 / ListObjects: pagination, delimiters, ETags, odd keys.

use aws_sdk_s3::types::EncodingType;

use crate::common::*;

#[tokio::test]
async fn listing_over_1000_keys_paginates_with_continuation_tokens() {
    let server = server();
    let mut expected: Vec<String> = (0..2500).map(|i| format!("many/k{i:05}")).collect();
    for key in &expected {
        server.put_object("pub", key, &b"x"[..]);
    }
    expected.sort();
    let client = anonymous_client(&server);

    let mut got = Vec::new();
    let mut token: Option<String> = None;
    let mut pages = Vec::new();
    loop {
        let page = client
            .list_objects_v2()
            .bucket("pub")
            .prefix("many/")
            .set_continuation_token(token.clone())
            .send()
            .await
            .unwrap();
        let keys: Vec<String> = page
            .contents()
            .iter()
            .map(|o| o.key().unwrap().to_owned())
            .collect();
        assert_eq!(
            page.key_count(),
            Some(keys.len() as i32),
            "KeyCount must equal entries returned"
        );
        assert_eq!(page.max_keys(), Some(1000), "default max-keys");
        pages.push((keys.len(), page.is_truncated()));
        got.extend(keys);
        token = page.next_continuation_token().map(str::to_owned);
        if page.is_truncated() != Some(true) {
            assert!(token.is_none(), "no NextContinuationToken on the last page");
            break;
        }
    }
    assert_eq!(
        pages,
        vec![(1000, Some(true)), (1000, Some(true)), (500, Some(false))],
        "page sizes / IsTruncated"
    );
    assert_eq!(got, expected, "all keys, once each, in byte order");

    // max-keys above 1000 is capped like AWS; small max-keys and start-after.
    let page = client
        .list_objects_v2()
        .bucket("pub")
        .max_keys(5000)
        .send()
        .await
        .unwrap();
    assert_eq!(page.contents().len(), 1000);
    let page = client
        .list_objects_v2()
        .bucket("pub")
        .max_keys(3)
        .start_after("many/k00010")
        .send()
        .await
        .unwrap();
    let keys: Vec<&str> = page.contents().iter().map(|o| o.key().unwrap()).collect();
    assert_eq!(keys, ["many/k00011", "many/k00012", "many/k00013"]);
    assert_eq!(page.is_truncated(), Some(true));

    let stats = server.stats();
    assert_eq!(
        stats.requests.list, 5,
        "expected 5 LIST requests, got {:?}",
        stats.requests
    );
}

#[tokio::test]
async fn delimiter_groups_common_prefixes_and_paginates_across_them() {
    let server = server();
    for key in ["a", "a/1", "a/2", "a/sub/3", "b/4", "c", "d/e/f"] {
        server.put_object("pub", key, &b"x"[..]);
    }
    let client = anonymous_client(&server);
    let page = client
        .list_objects_v2()
        .bucket("pub")
        .delimiter("/")
        .send()
        .await
        .unwrap();
    let keys: Vec<&str> = page.contents().iter().map(|o| o.key().unwrap()).collect();
    let prefixes: Vec<&str> = page
        .common_prefixes()
        .iter()
        .map(|p| p.prefix().unwrap())
        .collect();
    assert_eq!(
        keys,
        ["a", "c"],
        "a key that is also a prefix is listed as a key"
    );
    assert_eq!(prefixes, ["a/", "b/", "d/"]);
    assert_eq!(
        page.key_count(),
        Some(5),
        "KeyCount counts keys and common prefixes"
    );

    let page = client
        .list_objects_v2()
        .bucket("pub")
        .prefix("a/")
        .delimiter("/")
        .send()
        .await
        .unwrap();
    let keys: Vec<&str> = page.contents().iter().map(|o| o.key().unwrap()).collect();
    let prefixes: Vec<&str> = page
        .common_prefixes()
        .iter()
        .map(|p| p.prefix().unwrap())
        .collect();
    assert_eq!(keys, ["a/1", "a/2"]);
    assert_eq!(prefixes, ["a/sub/"]);

    // One entry per page: common prefixes count against max-keys and the
    // token resumes after the whole group.
    let mut entries = Vec::new();
    let mut token = None;
    loop {
        let page = client
            .list_objects_v2()
            .bucket("pub")
            .delimiter("/")
            .max_keys(1)
            .set_continuation_token(token)
            .send()
            .await
            .unwrap();
        entries.extend(page.contents().iter().map(|o| o.key().unwrap().to_owned()));
        entries.extend(
            page.common_prefixes()
                .iter()
                .map(|p| p.prefix().unwrap().to_owned()),
        );
        token = page.next_continuation_token().map(str::to_owned);
        if token.is_none() {
            break;
        }
    }
    assert_eq!(entries, ["a", "a/", "b/", "c", "d/"]);

    // ListObjects v1 with a marker.
    let v1 = client
        .list_objects()
        .bucket("pub")
        .delimiter("/")
        .max_keys(2)
        .send()
        .await
        .unwrap();
    assert_eq!(v1.is_truncated(), Some(true));
    let marker = v1.next_marker().unwrap().to_owned();
    assert_eq!(marker, "a/");
    let v1 = client
        .list_objects()
        .bucket("pub")
        .delimiter("/")
        .marker(marker)
        .send()
        .await
        .unwrap();
    let keys: Vec<&str> = v1.contents().iter().map(|o| o.key().unwrap()).collect();
    let prefixes: Vec<&str> = v1
        .common_prefixes()
        .iter()
        .map(|p| p.prefix().unwrap())
        .collect();
    assert_eq!((keys, prefixes), (vec!["c"], vec!["b/", "d/"]));
}

#[test]
fn empty_delimiter_means_no_delimiter() {
    let server = server();
    for key in ["x/1", "x/y/2", "z"] {
        server.put_object("pub", key, &b"x"[..]);
    }
    let resp = raw_get(&server, "/pub?list-type=2&delimiter=&prefix=", &[]);
    assert_eq!(resp.status, 200, "{}", resp.text());
    let xml = resp.text();
    assert!(
        !xml.contains("<CommonPrefixes>"),
        "empty delimiter must not group: {xml}"
    );
    for key in ["x/1", "x/y/2", "z"] {
        assert!(
            xml.contains(&format!("<Key>{key}</Key>")),
            "missing {key} in {xml}"
        );
    }
}

#[tokio::test]
async fn listing_entries_carry_size_etag_mtime_and_storage_class_matching_head() {
    let server = server();
    let body = data(12345, 1);
    let mtime = std::time::UNIX_EPOCH + std::time::Duration::from_secs(1_700_000_000);
    let etag = server.put_object_with_mtime("pub", "dir/obj.fits", body.clone(), mtime);
    assert_eq!(etag, md5_etag(&body), "put_object returns the quoted MD5");
    let client = anonymous_client(&server);
    let page = client
        .list_objects_v2()
        .bucket("pub")
        .prefix("dir/")
        .send()
        .await
        .unwrap();
    let entry = &page.contents()[0];
    let head = client
        .head_object()
        .bucket("pub")
        .key("dir/obj.fits")
        .send()
        .await
        .unwrap();
    assert_eq!(entry.e_tag(), Some(etag.as_str()), "listing ETag");
    assert_eq!(head.e_tag(), Some(etag.as_str()), "HEAD ETag");
    assert_eq!(entry.size(), Some(12345));
    assert_eq!(head.content_length(), Some(12345));
    assert_eq!(entry.last_modified().unwrap().secs(), 1_700_000_000);
    assert_eq!(
        head.last_modified(),
        entry.last_modified(),
        "HEAD and LIST agree on LastModified"
    );
    assert_eq!(entry.storage_class().map(|s| s.as_str()), Some("STANDARD"));
    assert_eq!(head.content_type(), Some("application/fits"));
}

#[tokio::test]
async fn odd_keys_are_stored_listed_and_fetched_faithfully() {
    let server = server();
    let long_key = format!("long/{}", "k".repeat(1024 - 5));
    assert_eq!(long_key.len(), 1024);
    let keys = vec![
        "ctl/\u{1}start".to_owned(),
        "ctl/bell\u{7}".to_owned(),
        "ctl/cr\rkey".to_owned(),
        "ctl/nl\nkey".to_owned(),
        "ctl/tab\tkey".to_owned(),
        "a//b".to_owned(),
        "..".to_owned(),
        "../up".to_owned(),
        "dot/./x".to_owned(),
        "sp ace+plus%25&amp;<tag>'\"".to_owned(),
        "unicode/ünï€😀".to_owned(),
        long_key.clone(),
        "both".to_owned(),
        "both/child".to_owned(),
    ];
    for (i, key) in keys.iter().enumerate() {
        server.put_object("pub", key, data(100 + i, i as u64));
    }
    let client = anonymous_client(&server);

    // URL encoding carries every character (what a careful client uses).
    let page = client
        .list_objects_v2()
        .bucket("pub")
        .encoding_type(EncodingType::Url)
        .send()
        .await
        .unwrap();
    let listed: Vec<String> = page
        .contents()
        .iter()
        .map(|o| {
            percent_encoding::percent_decode_str(o.key().unwrap())
                .decode_utf8()
                .unwrap()
                .into_owned()
        })
        .collect();
    let mut sorted = keys.clone();
    sorted.sort();
    assert_eq!(listed, sorted, "url-encoded listing, byte order");

    // Plain XML: everything but the control characters XML 1.0 cannot
    // carry round-trips (CR via &#xD;).
    let page = client
        .list_objects_v2()
        .bucket("pub")
        .prefix("ctl/")
        .send()
        .await;
    match page {
        Ok(page) => {
            let listed: Vec<&str> = page.contents().iter().map(|o| o.key().unwrap()).collect();
            assert_eq!(
                listed,
                [
                    "ctl/\u{1}start",
                    "ctl/bell\u{7}",
                    "ctl/cr\rkey",
                    "ctl/nl\nkey",
                    "ctl/tab\tkey"
                ]
            );
        }
        Err(e) => panic!("plain listing of control-character keys failed: {e:?}"),
    }
    let page = client
        .list_objects_v2()
        .bucket("pub")
        .prefix("s")
        .send()
        .await
        .unwrap();
    assert_eq!(
        page.contents()[0].key(),
        Some("sp ace+plus%25&amp;<tag>'\"")
    );

    for (i, key) in keys.iter().enumerate() {
        let got = client.get_object().bucket("pub").key(key).send().await;
        let got = match got {
            Ok(g) => g.body.collect().await.unwrap().into_bytes(),
            Err(e) => panic!("GET {key:?} failed: {e:?}"),
        };
        assert_eq!(
            got.as_ref(),
            data(100 + i, i as u64).as_slice(),
            "content of {key:?}"
        );
        let head = client.head_object().bucket("pub").key(key).send().await;
        assert!(head.is_ok(), "HEAD {key:?} failed: {head:?}");
        // The raw path, percent-encoded byte for byte: no normalisation of
        // `//`, `.` or `..` on the server side.
        let raw = raw_get(&server, &path_of("pub", key), &[]);
        assert_eq!(
            (raw.status, raw.body.len()),
            (200, 100 + i),
            "raw GET {key:?}"
        );
    }
    let raw = raw_get(&server, "/pub/a/b", &[]);
    assert_eq!(raw.status, 404, "a//b must not be reachable as a/b");
}
