//! The stand-in from plain synchronous code (raw HTTP/1.1 over a std TcpStream) and as a
//! process (the `mastfs-mast-standin` binary).

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::{Command, Stdio};
use std::time::Duration;

use mastfs_mast_standin::{Endpoint, Fault, MastStandin};
use serde_json::Value;

/// Send one request, return (status, body).
fn http(port: u16, method: &str, target: &str, body: &str) -> (u16, String) {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let request = format!(
        "{method} {target} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    stream.write_all(request.as_bytes()).unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).unwrap();
    let status = response.split_whitespace().nth(1).unwrap().parse().unwrap();
    let body = response
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_string())
        .unwrap_or_default();
    (status, body)
}

fn invoke_body(json: &str) -> String {
    format!(
        "request={}",
        url::form_urlencoded::byte_serialize(json.as_bytes()).collect::<String>()
    )
}

#[test]
fn synchronous_use_and_recording() {
    let standin = MastStandin::start().unwrap();
    let request = r#"{"service": "Mast.Caom.Products", "params": {"obsid": "24832668"}, "format": "json", "pagesize": 4, "page": 3, "cacheBreaker": "abc"}"#;
    let (status, body) = http(
        standin.port(),
        "POST",
        "/api/v0/invoke",
        &invoke_body(request),
    );
    assert_eq!(status, 200, "body: {body}");
    let answer: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(answer["status"], "COMPLETE");
    assert_eq!(
        answer["paging"]["pagesFiltered"], 3,
        "10 products under 24832668 in pages of 4"
    );
    assert_eq!(
        answer["data"].as_array().map(Vec::len),
        Some(2),
        "last page holds 2"
    );
    let recorded = &standin.invoke_requests()[0];
    assert_eq!(
        (
            recorded.service.as_str(),
            recorded.page,
            recorded.pagesize,
            recorded.cache_breaker.as_deref()
        ),
        ("Mast.Caom.Products", Some(3), Some(4), Some("abc"))
    );

    let (status, body) = http(
        standin.port(),
        "GET",
        "/api/v0.1/path_lookup/?uri=mast%3AHST%2Fproduct%2Fjbevet010_drz.fits&uri=mast%3AHST%2Fproduct%2Fnope.fits&use_cloud_path=True",
        "",
    );
    assert_eq!(status, 200);
    let answer: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(
        answer["mast:HST/product/jbevet010_drz.fits"]["path"],
        "/hst/public/jbev/jbevet010/jbevet010_drz.fits"
    );
    assert_eq!(answer["mast:HST/product/nope.fits"]["path"], Value::Null);
    assert_eq!(answer["mast:HST/product/nope.fits"]["status_code"], 404);
    let lookup = &standin.path_lookup_requests()[0];
    assert_eq!(lookup.use_cloud_path.as_deref(), Some("True"));
    assert_eq!(lookup.uris.len(), 2);
}

#[test]
fn filters_count_and_faults() {
    let standin = MastStandin::start().unwrap();
    let count = r#"{"service": "Mast.Caom.Filtered", "params": {"columns": "COUNT_BIG(*)", "filters": [{"paramName": "filters", "separator": ";", "values": ["F814W"]}]}, "format": "json", "pagesize": 10, "page": 1}"#;
    let (_, body) = http(
        standin.port(),
        "POST",
        "/api/v0/invoke",
        &invoke_body(count),
    );
    let answer: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(
        answer["data"][0]["Column1"], 2,
        "jbevex010 (F814W) and jbzz01010 (F606W;F814W)"
    );

    standin.inject(Endpoint::ColumnsConfig, Fault::Status(502), Some(1));
    let (status, _) = http(
        standin.port(),
        "POST",
        "/portal/Mashup/Mashup.asmx/columnsconfig",
        "colConfigId=Mast.Caom.Cone",
    );
    assert_eq!(status, 502);
    let (status, body) = http(
        standin.port(),
        "POST",
        "/portal/Mashup/Mashup.asmx/columnsconfig",
        "colConfigId=Mast.Caom.Cone",
    );
    assert_eq!(status, 200);
    assert!(body.contains("\"obs_collection\""));

    standin.answer_executing(1);
    let (_, body) = http(
        standin.port(),
        "POST",
        "/api/v0/invoke",
        &invoke_body(count),
    );
    assert!(body.contains("\"EXECUTING\""), "got {body}");

    let unknown = r#"{"service": "Mast.Nope", "params": {}}"#;
    let (_, body) = http(
        standin.port(),
        "POST",
        "/api/v0/invoke",
        &invoke_body(unknown),
    );
    assert!(
        body.contains("\"ERROR\"") && body.contains("Unknown service Mast.Nope"),
        "got {body}"
    );
}

#[test]
fn stop_means_connection_refused() {
    let standin = MastStandin::start().unwrap();
    let port = standin.port();
    standin.stop();
    assert!(
        TcpStream::connect(("127.0.0.1", port)).is_err(),
        "port {port} still accepts after stop"
    );
    standin.restart().unwrap();
    let (status, _) = http(
        port,
        "POST",
        "/portal/Mashup/Mashup.asmx/columnsconfig",
        "colConfigId=x",
    );
    assert_eq!(status, 200);
}

#[test]
fn binary_announces_its_port_and_objects() {
    let dir = std::env::temp_dir().join(format!("mast-standin-bin-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let port_file = dir.join("port");
    let objects_file = dir.join("objects.json");
    let mut child = Command::new(env!("CARGO_BIN_EXE_mastfs-mast-standin"))
        .args(["--port", "0", "--scenario", "seed", "--bucket", "stpubdata"])
        .arg("--port-file")
        .arg(&port_file)
        .arg("--objects-file")
        .arg(&objects_file)
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let port: u16 = std::fs::read_to_string(&port_file)
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    assert_eq!(
        line.trim(),
        format!("mastfs-mast-standin listening on http://127.0.0.1:{port}")
    );
    let (status, body) = http(
        port,
        "POST",
        "/portal/Mashup/Mashup.asmx/columnsconfig",
        "colConfigId=Mast.Caom.Cone",
    );
    assert_eq!(status, 200, "{body}");
    let objects: Value =
        serde_json::from_str(&std::fs::read_to_string(&objects_file).unwrap()).unwrap();
    let drz = objects
        .as_array()
        .unwrap()
        .iter()
        .find(|o| o["key"] == "hst/public/jbev/jbeveo010/jbeveo010_drz.fits")
        .cloned();
    assert_eq!(
        drz,
        Some(
            serde_json::json!({"bucket": "stpubdata", "key": "hst/public/jbev/jbeveo010/jbeveo010_drz.fits", "size": 219608640})
        )
    );
    child.kill().unwrap();
    child.wait().unwrap();
    std::fs::remove_dir_all(&dir).unwrap();
}
