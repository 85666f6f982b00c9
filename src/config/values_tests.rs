//! Tests of the values flags, environment and file spell (sizes, durations, timeouts,
//! octal modes) and of the names and URLs checked before a mount.

use std::time::Duration;

use super::tests::{env_of, load_text};
use super::*;

#[test]
fn sizes_and_durations_take_human_units() {
    assert_eq!(parse_size("512MiB"), Ok(512 << 20));
    assert_eq!(parse_size("1GiB"), Ok(1 << 30));
    assert_eq!(parse_size("4096"), Ok(4096));
    assert!(parse_size("12 parsecs").is_err());
    assert_eq!(parse_duration("10m"), Ok(Duration::from_secs(600)));
    assert_eq!(parse_duration("1d"), Ok(Duration::from_secs(86400)));
    assert!(parse_duration("forever").is_err());
}

#[test]
fn bucket_names_follow_s3_rules() {
    for ok in ["stpubdata", "rdmt-sandbox-roman-wfi-l2", "a.b.c", "abc"] {
        assert!(validate_bucket_name(ok).is_ok(), "{ok} should be valid");
    }
    for bad in [
        "ab",
        "UPPER",
        "under_score",
        "-start",
        "end-",
        "192.168.1.1",
        "a..b",
        "views",
    ] {
        assert!(
            validate_bucket_name(bad).is_err(),
            "{bad} should be refused"
        );
    }
    assert_eq!(
        parse_bucket_spec("s3://stpubdata/hst/public", false)
            .unwrap()
            .prefix
            .as_deref(),
        Some("hst/public/")
    );
}

#[test]
fn access_flags_take_octal_modes_without_write_bits() {
    let c = load_with(&Overrides::default(), &env_of(&[])).unwrap();
    assert_eq!(
        c.access,
        AccessConfig {
            uid: None,
            gid: None,
            file_mode: 0o444,
            dir_mode: 0o555
        },
        "defaults: the mounting user, read-only modes"
    );
    let o = Overrides {
        uid: Some(1234),
        gid: Some(4321),
        file_mode: Some("0440".into()),
        dir_mode: Some("0o550".into()),
        ..Default::default()
    };
    let c = load_with(&o, &env_of(&[])).unwrap();
    assert_eq!(
        (
            c.access.uid,
            c.access.gid,
            c.access.file_mode,
            c.access.dir_mode
        ),
        (Some(1234), Some(4321), 0o440, 0o550)
    );
    assert_eq!(parse_mode("400"), Ok(0o400));
    for (bad, needle) in [
        ("0644", "write bits"),
        ("0777", "write bits"),
        ("0999", "not an octal mode"),
        ("1777", "not an octal mode"),
        ("r--r--r--", "not an octal mode"),
        ("", "not an octal mode"),
    ] {
        let err = parse_mode(bad).unwrap_err();
        assert!(
            err.contains(needle),
            "mode {bad:?}: expected {needle:?} in {err:?}"
        );
    }
    let o = Overrides {
        file_mode: Some("0664".into()),
        ..Default::default()
    };
    let err = load_with(&o, &env_of(&[])).unwrap_err().to_string();
    assert!(err.contains("--file-mode"), "got: {err}");
}

#[test]
fn size_letters_are_binary_like_rclone() {
    for (text, want) in [
        ("2G", 2u64 << 30),
        ("2GB", 2 << 30),
        ("2GiB", 2 << 30),
        ("1M", 1 << 20),
        ("1m", 1 << 20),
        ("64K", 64 << 10),
        ("64 KiB", 64 << 10),
        ("1T", 1 << 40),
        ("1.5G", 3 << 29),
        ("4096", 4096),
        ("4096B", 4096),
    ] {
        assert_eq!(parse_size(text), Ok(want), "{text:?}");
    }
    for bad in ["", "G", "-1G", "1X", "1e400", "99999999999T", "1.5"] {
        assert!(
            parse_size(bad).is_err(),
            "{bad:?} accepted as {:?}",
            parse_size(bad)
        );
    }
}

#[test]
fn endpoint_urls_must_be_http_urls_with_a_host() {
    for bad in [
        "",
        "  ",
        "not a url",
        "ftp://example.com",
        "http://",
        "s3.amazonaws.com",
    ] {
        let o = Overrides {
            endpoint_url: Some(bad.into()),
            ..Default::default()
        };
        let err = load_with(&o, &env_of(&[]))
            .map(|c| format!("accepted as {:?}", c.s3.endpoint_url))
            .unwrap_or_else(|e| e.to_string());
        assert!(
            err.contains("endpoint_url"),
            "endpoint {bad:?}: expected a refusal naming endpoint_url, got {err:?}"
        );
    }
    let err = load_text("[s3]\nendpoint_url = \"\"\n", Overrides::default(), &[])
        .map(|_| "accepted".to_string())
        .unwrap_or_else(|e| e.to_string());
    assert!(
        err.contains("endpoint_url"),
        "empty endpoint_url in the file: {err:?}"
    );
    for good in [
        "http://127.0.0.1:9000",
        "https://s3.us-west-2.amazonaws.com/",
    ] {
        let o = Overrides {
            endpoint_url: Some(good.into()),
            ..Default::default()
        };
        assert!(load_with(&o, &env_of(&[])).is_ok(), "{good} refused");
    }
}

#[test]
fn timeouts_too_long_to_wait_for_are_refused() {
    for text in [
        "[mast]\ntimeout = \"1000000000y\"\n",
        "[mast]\nwait = \"1000000000y\"\n",
        "[s3]\ntimeout = \"1000000000y\"\n",
        "[s3]\nconnect_timeout = \"1000000000y\"\n",
    ] {
        let err = load_text(text, Overrides::default(), &[])
            .map(|c| format!("accepted: {:?}", c.mast))
            .unwrap_or_else(|e| e.to_string());
        assert!(
            err.contains("at most"),
            "{text:?}: expected a refusal with the bound, got {err:?}"
        );
    }
}
