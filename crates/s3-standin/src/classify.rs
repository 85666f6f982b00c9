//! Works out from the raw HTTP request which S3 operation it is, on which
//! bucket and key — for counting, logging and fault matching, before s3s
//! sees the request.

use http::{HeaderMap, Method, Uri};
use percent_encoding::percent_decode_str;

use crate::stats::Op;

/// Query parameters that turn a GET on an object or bucket into a
/// sub-resource request (ACL, tagging, multipart, ...) rather than a plain
/// GetObject / listing.
const SUBRESOURCES: &[&str] = &[
    "acl",
    "attributes",
    "cors",
    "encryption",
    "lifecycle",
    "location",
    "legal-hold",
    "logging",
    "notification",
    "object-lock",
    "policy",
    "replication",
    "retention",
    "tagging",
    "torrent",
    "uploadId",
    "uploads",
    "versioning",
    "versions",
    "website",
];

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct RequestInfo {
    pub op: Op,
    pub bucket: String,
    /// Object key, or the `prefix` parameter of a listing.
    pub key: String,
    pub range: Option<String>,
    pub is_head: bool,
}

fn decode(s: &str) -> String {
    percent_decode_str(s).decode_utf8_lossy().into_owned()
}

fn query_pairs(uri: &Uri) -> Vec<(String, String)> {
    uri.query()
        .unwrap_or("")
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|pair| match pair.split_once('=') {
            Some((k, v)) => (decode(k), decode(v)),
            None => (decode(pair), String::new()),
        })
        .collect()
}

pub(crate) fn classify(method: &Method, uri: &Uri, headers: &HeaderMap) -> RequestInfo {
    let path = uri.path().strip_prefix('/').unwrap_or(uri.path());
    let (bucket, key) = match path.split_once('/') {
        Some((b, k)) => (decode(b), Some(decode(k)).filter(|k| !k.is_empty())),
        None => (decode(path), None),
    };
    let query = query_pairs(uri);
    let has_subresource = query
        .iter()
        .any(|(k, _)| SUBRESOURCES.contains(&k.as_str()));
    let range = headers
        .get(http::header::RANGE)
        .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned());

    let (op, key) = match (key, method) {
        (Some(key), m) if m == Method::GET && !has_subresource => (Op::Get, key),
        (Some(key), m) if m == Method::HEAD => (Op::Head, key),
        (Some(key), m) if m == Method::PUT && !has_subresource => (Op::Put, key),
        (Some(key), _) => (Op::Other, key),
        (None, m) if m == Method::GET && !bucket.is_empty() && !has_subresource => {
            let prefix = query
                .iter()
                .find(|(k, _)| k == "prefix")
                .map(|(_, v)| v.clone())
                .unwrap_or_default();
            (Op::List, prefix)
        }
        (None, _) => (Op::Other, String::new()),
    };
    RequestInfo {
        op,
        bucket,
        key,
        range,
        is_head: method == Method::HEAD,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn info(method: Method, uri: &str) -> RequestInfo {
        classify(&method, &uri.parse().unwrap(), &HeaderMap::new())
    }

    #[test]
    fn operations_are_told_apart() {
        let list = info(Method::GET, "/b?list-type=2&prefix=a%2Fb%2F&delimiter=%2F");
        assert_eq!(
            (list.op, list.bucket.as_str(), list.key.as_str()),
            (Op::List, "b", "a/b/")
        );
        assert_eq!(info(Method::GET, "/b/").op, Op::List);
        assert_eq!(info(Method::GET, "/b?location").op, Op::Other);
        assert_eq!(info(Method::GET, "/").op, Op::Other);
        let get = info(Method::GET, "/b/dir/a%20b%01");
        assert_eq!((get.op, get.key.as_str()), (Op::Get, "dir/a b\u{1}"));
        assert_eq!(info(Method::GET, "/b/k?tagging").op, Op::Other);
        assert_eq!(info(Method::HEAD, "/b/k").op, Op::Head);
        assert_eq!(info(Method::HEAD, "/b").op, Op::Other);
        assert_eq!(info(Method::PUT, "/b/k").op, Op::Put);
        assert_eq!(info(Method::PUT, "/b").op, Op::Other);
        assert_eq!(info(Method::DELETE, "/b/k").op, Op::Other);
        assert_eq!(info(Method::GET, "/b/a//b").key, "a//b");
    }
}
