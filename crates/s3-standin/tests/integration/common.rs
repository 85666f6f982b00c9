//! Shared helpers: SDK clients built explicitly (no environment lookups), a
//! raw HTTP/1.1 client that shows exactly what went over the socket, and
//! deterministic test data.

use std::io::{ErrorKind, Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use aws_sdk_s3::config::{BehaviorVersion, Credentials, Region};
use aws_sdk_s3::Client;
use aws_smithy_types::retry::RetryConfig;
use mastfs_s3_standin::{S3Standin, ServerOptions};

pub const ACCESS_KEY: &str = "AKIDSTANDIN";
pub const SECRET_KEY: &str = "standin-secret-key";

/// A server with one public bucket `pub` and one private bucket `priv`,
/// accepting the test credentials.
pub fn server() -> S3Standin {
    let server = S3Standin::start(ServerOptions {
        credentials: vec![(ACCESS_KEY.into(), SECRET_KEY.into())],
        ..ServerOptions::default()
    })
    .expect("start the stand-in");
    server.create_bucket("pub", true);
    server.create_bucket("priv", false);
    server
}

fn config(server: &S3Standin) -> aws_sdk_s3::config::Builder {
    aws_sdk_s3::config::Builder::new()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new("us-east-1"))
        .endpoint_url(server.endpoint_url())
        .force_path_style(true)
        // Tests count requests: a retry would hide what the server did.
        .retry_config(RetryConfig::disabled())
}

/// Unsigned requests, like a public-bucket reader.
pub fn anonymous_client(server: &S3Standin) -> Client {
    Client::from_conf(config(server).allow_no_auth().build())
}

/// SigV4-signed requests with the given key pair.
pub fn signed_client_with(server: &S3Standin, access_key: &str, secret_key: &str) -> Client {
    let creds = Credentials::new(access_key, secret_key, None, None, "standin-tests");
    Client::from_conf(config(server).credentials_provider(creds).build())
}

pub fn signed_client(server: &S3Standin) -> Client {
    signed_client_with(server, ACCESS_KEY, SECRET_KEY)
}

/// Deterministic, non-repeating-looking bytes.
pub fn data(len: usize, seed: u64) -> Vec<u8> {
    let mut x = seed
        .wrapping_mul(6364136223846793005)
        .wrapping_add(1442695040888963407);
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x >> 24) as u8
        })
        .collect()
}

pub fn md5_etag(bytes: &[u8]) -> String {
    use md5::{Digest, Md5};
    format!("\"{}\"", hex::encode(Md5::digest(bytes)))
}

/// How a raw response body ended.
#[derive(Debug, PartialEq, Eq)]
pub enum Ending {
    /// All announced bytes arrived.
    Complete,
    /// The server closed the connection early (FIN).
    Eof,
    /// The connection failed (e.g. reset).
    Error(ErrorKind),
}

#[derive(Debug)]
pub struct RawResponse {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
    pub ending: Ending,
    /// When each body read returned data, relative to sending the request.
    pub arrivals: Vec<(Duration, usize)>,
}

impl RawResponse {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    pub fn content_length(&self) -> Option<usize> {
        self.header("content-length").and_then(|v| v.parse().ok())
    }

    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

/// Sends one request on a fresh connection and reads the response the way
/// it actually arrives.
pub fn raw_request(
    server: &S3Standin,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> RawResponse {
    let mut stream = TcpStream::connect(("127.0.0.1", server.port())).expect("connect");
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    raw_exchange(&mut stream, method, path, headers, body)
}

pub fn raw_get(server: &S3Standin, path: &str, headers: &[(&str, &str)]) -> RawResponse {
    raw_request(server, "GET", path, headers, b"")
}

/// One request/response on an existing connection (for keep-alive checks).
pub fn raw_exchange(
    stream: &mut TcpStream,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> RawResponse {
    let mut req = format!(
        "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: {}\r\n",
        body.len()
    );
    for (k, v) in headers {
        req.push_str(&format!("{k}: {v}\r\n"));
    }
    req.push_str("\r\n");
    let t0 = Instant::now();
    stream.write_all(req.as_bytes()).unwrap();
    stream.write_all(body).unwrap();

    // Head, byte by byte, so nothing of the body is consumed.
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        let n = stream.read(&mut byte).expect("read response head");
        assert_eq!(
            n,
            1,
            "connection closed inside the response head: {:?}",
            String::from_utf8_lossy(&head)
        );
        head.push(byte[0]);
    }
    let head = String::from_utf8(head).unwrap();
    let mut lines = head.split("\r\n");
    let status_line = lines.next().unwrap();
    let status: u16 = status_line.split(' ').nth(1).unwrap().parse().unwrap();
    let headers: Vec<(String, String)> = lines
        .filter(|l| !l.is_empty())
        .map(|l| {
            let (k, v) = l.split_once(':').unwrap();
            (k.trim().to_owned(), v.trim().to_owned())
        })
        .collect();
    let mut resp = RawResponse {
        status,
        headers,
        body: Vec::new(),
        ending: Ending::Complete,
        arrivals: Vec::new(),
    };
    let expected = if method == "HEAD" || status == 304 {
        0
    } else {
        resp.content_length()
            .expect("response without Content-Length")
    };
    let mut buf = vec![0u8; 64 * 1024];
    while resp.body.len() < expected {
        let want = (expected - resp.body.len()).min(buf.len());
        match stream.read(&mut buf[..want]) {
            Ok(0) => {
                resp.ending = Ending::Eof;
                break;
            }
            Ok(n) => {
                resp.body.extend_from_slice(&buf[..n]);
                resp.arrivals.push((t0.elapsed(), n));
            }
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            Err(e) => {
                resp.ending = Ending::Error(e.kind());
                break;
            }
        }
    }
    resp
}

/// Percent-encodes a key for a request path (keeping `/`).
pub fn path_of(bucket: &str, key: &str) -> String {
    let mut out = format!("/{bucket}/");
    for b in key.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~/".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}
