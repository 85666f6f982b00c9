//! The command-line server: loads a directory, announces itself, serves,
//! and exits cleanly on SIGTERM.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::Duration;

use crate::common::data;

#[test]
fn binary_loads_serves_and_stops_on_sigterm() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("data/sub")).unwrap();
    std::fs::write(dir.path().join("data/sub/x.bin"), data(70_000, 8)).unwrap();
    let port_file = dir.path().join("port");
    let mut child = Command::new(env!("CARGO_BIN_EXE_mastfs-s3-standin"))
        .args(["--public-bucket", "stpubdata", "--private-bucket", "secret"])
        .arg("--load")
        .arg(format!(
            "stpubdata={}:mirror/",
            dir.path().join("data").display()
        ))
        .args(["--credentials", "AK:SK", "--latency", "5ms", "--port-file"])
        .arg(&port_file)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let url = line
        .trim()
        .strip_prefix("mastfs-s3-standin listening on ")
        .unwrap_or_else(|| panic!("unexpected first line {line:?}"))
        .to_owned();
    let port: u16 = std::fs::read_to_string(&port_file)
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    assert_eq!(url, format!("http://127.0.0.1:{port}"));

    let mut stream = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    let resp =
        crate::common::raw_exchange(&mut stream, "GET", "/stpubdata/mirror/sub/x.bin", &[], b"");
    assert_eq!((resp.status, resp.body == data(70_000, 8)), (200, true));
    let resp = crate::common::raw_exchange(&mut stream, "GET", "/secret?list-type=2", &[], b"");
    assert_eq!(resp.status, 403, "private bucket refuses unsigned listing");
    drop(stream);

    let killed = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(killed.success());
    let status = child.wait().unwrap();
    assert!(
        status.success(),
        "expected a clean exit on SIGTERM, got {status:?}"
    );
}
