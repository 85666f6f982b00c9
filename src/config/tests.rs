//! Tests of the config file and the overlay's precedence: what a file, flags and the
//! environment give, and how a bad file is explained. The helpers here serve the other
//! config test files too (`values_tests.rs`, `cache_tests.rs`).

use std::collections::HashMap;
use std::io::Write;
use std::time::Duration;

use super::*;

pub(super) fn env_of(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
    let map: HashMap<String, String> = pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    move |k: &str| map.get(k).cloned()
}

fn write_config(text: &str) -> tempfile::NamedTempFile {
    let mut f = tempfile::NamedTempFile::new().unwrap();
    f.write_all(text.as_bytes()).unwrap();
    f
}

pub(super) fn load_text(
    text: &str,
    o: Overrides,
    env: &[(&str, &str)],
) -> Result<Config, ConfigError> {
    let f = write_config(text);
    let o = Overrides {
        config_file: Some(f.path().to_path_buf()),
        ..o
    };
    load_with(&o, &env_of(env))
}

#[test]
fn defaults_point_at_the_real_archive() {
    let c = load_with(&Overrides::default(), &env_of(&[])).unwrap();
    assert_eq!(
        c.buckets,
        vec![BucketConfig {
            name: "stpubdata".into(),
            prefix: None,
            signed: false
        }]
    );
    assert_eq!(c.s3.region, "us-east-1");
    assert_eq!(c.s3.endpoint_url, None);
    assert_eq!(c.cache.size, 512 << 20);
    assert_eq!(c.cache.block_size, 1 << 20);
    assert_eq!(c.mast.url, "https://mast.stsci.edu");
}

#[test]
fn full_file_is_read() {
    let c = load_text(
        r#"
[s3]
endpoint_url = "http://127.0.0.1:9000"
force_path_style = true
region = "us-west-2"
[[buckets]]
name = "stpubdata"
prefix = "roman"
[[buckets]]
name = "rdmt-sandbox-roman-wfi-l2"
signed = true
[cache]
size = "1GiB"
block_size = "256KiB"
metadata_ttl = "1d"
[mast]
url = "http://127.0.0.1:8080/"
[[views]]
name = "hst-12062-f606w-drz"
criteria = { obs_collection = "HST", proposal_id = ["12062"] }
products = { productSubGroupDescription = "DRZ" }
"#,
        Overrides::default(),
        &[],
    )
    .unwrap();
    assert_eq!(c.s3.endpoint_url.as_deref(), Some("http://127.0.0.1:9000"));
    assert!(c.s3.force_path_style);
    assert_eq!(c.s3.region, "us-west-2");
    assert_eq!(c.buckets[0].prefix.as_deref(), Some("roman/"));
    assert!(c.buckets[1].signed);
    assert_eq!(c.cache.size, 1 << 30);
    assert_eq!(c.cache.block_size, 256 << 10);
    assert_eq!(c.cache.metadata_ttl, Duration::from_secs(86400));
    assert_eq!(c.mast.url, "http://127.0.0.1:8080");
    assert_eq!(c.views.len(), 1);
    assert_eq!(c.views[0].refresh, Duration::from_secs(86400));
}

#[test]
fn flags_beat_environment_beat_file() {
    let text = "[s3]\nendpoint_url = \"http://file\"\nregion = \"file-region\"\n[cache]\nsize = \"100MiB\"\n";
    let env = [
        ("AWS_ENDPOINT_URL", "http://env"),
        ("AWS_REGION", "env-region"),
        ("MASTFS_CACHE_SIZE", "200MiB"),
    ];
    let c = load_text(text, Overrides::default(), &env).unwrap();
    assert_eq!(
        (
            c.s3.endpoint_url.as_deref(),
            c.s3.region.as_str(),
            c.cache.size
        ),
        (Some("http://env"), "env-region", 200 << 20)
    );
    let flags = Overrides {
        endpoint_url: Some("http://flag".into()),
        region: Some("flag-region".into()),
        cache_size: Some("300MiB".into()),
        ..Default::default()
    };
    let c = load_text(text, flags, &env).unwrap();
    assert_eq!(
        (
            c.s3.endpoint_url.as_deref(),
            c.s3.region.as_str(),
            c.cache.size
        ),
        (Some("http://flag"), "flag-region", 300 << 20)
    );
    let c = load_text(text, Overrides::default(), &[]).unwrap();
    assert_eq!(
        (
            c.s3.endpoint_url.as_deref(),
            c.s3.region.as_str(),
            c.cache.size
        ),
        (Some("http://file"), "file-region", 100 << 20)
    );
}

#[test]
fn bucket_flags_replace_the_file_list() {
    let text = "[[buckets]]\nname = \"aaa\"\n[[buckets]]\nname = \"bbb\"\n";
    let o = Overrides {
        buckets: vec!["stpubdata/roman/".into()],
        ..Default::default()
    };
    let c = load_text(text, o, &[]).unwrap();
    assert_eq!(
        c.buckets,
        vec![BucketConfig {
            name: "stpubdata".into(),
            prefix: Some("roman/".into()),
            signed: false
        }]
    );
}

#[test]
fn syntax_errors_carry_line_and_column() {
    let err = load_text("[s3]\nregion = \n", Overrides::default(), &[])
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("line 2, column"),
        "message without position: {err}"
    );
}

#[test]
fn unknown_keys_are_rejected_with_the_valid_ones() {
    let err = load_text("[cache]\nsise = \"1GiB\"\n", Overrides::default(), &[])
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("sise") && err.contains("size") && err.contains("line 2"),
        "got: {err}"
    );
}

#[test]
fn bad_values_are_explained() {
    for (text, needle) in [
        ("[cache]\nsize = \"lots\"\n", "cache.size"),
        ("[cache]\nmetadata_ttl = \"soon\"\n", "cache.metadata_ttl"),
        (
            "[[buckets]]\nname = \"Bad_Bucket\"\n",
            "not a valid S3 bucket name",
        ),
        ("[[buckets]]\nname = \"views\"\n", "MAST views"),
        (
            "[[views]]\nname = \"a/b\"\ncriteria = {}\n",
            "cannot be a directory name",
        ),
        (
            "[[views]]\nname = \"v\"\ncriteria = {}\n[[views]]\nname = \"v\"\ncriteria = {}\n",
            "unique",
        ),
        ("[cache]\nblock_size = \"1\"\n", "block_size"),
    ] {
        let err = load_text(text, Overrides::default(), &[])
            .unwrap_err()
            .to_string();
        assert!(
            err.contains(needle),
            "config {text:?}: expected a message containing {needle:?}, got {err:?}"
        );
    }
}

#[test]
fn config_is_found_in_xdg_then_etc_only_without_home() {
    let dir = tempfile::tempdir().unwrap();
    let env = env_of(&[("XDG_CONFIG_HOME", dir.path().to_str().unwrap())]);
    assert_eq!(default_config_path(&env), None, "no file yet");
    std::fs::create_dir_all(dir.path().join("mastfs")).unwrap();
    std::fs::write(dir.path().join("mastfs/config.toml"), "").unwrap();
    assert_eq!(
        default_config_path(&env),
        Some(dir.path().join("mastfs/config.toml"))
    );
}

#[test]
fn more_bad_input_is_explained() {
    for (text, needle) in [
        // Unknown keys name the valid ones.
        ("[s3]\ntimeot = \"2s\"\n", "timeout"),
        ("[caches]\nsize = \"1GiB\"\n", "cache"),
        (
            "[[buckets]]\nname = \"stpubdata\"\nprefx = \"hst\"\n",
            "prefix",
        ),
        // Syntax errors carry line and column.
        ("[s3]\nregion = \"us-east-1\"\n[cache\n", "line 3, column"),
        ("[cache]\nsize = 512MiB\n", "line 2, column"),
        // Values: sizes, durations, numbers, names.
        ("[s3]\ntimeout = \"twenty\"\n", "s3.timeout"),
        ("[s3]\nmax_attempts = -1\n", "line 2, column 16"),
        (
            "[cache]\nmax_readahead = \"-5MiB\"\n",
            "cache.max_readahead",
        ),
        (
            "[cache]\nnegative_ttl = \"1 fortnight\"\n",
            "cache.negative_ttl",
        ),
        ("[mast]\nwait = \"\"\n", "mast.wait"),
        ("[[buckets]]\nname = \"a\"\n", "not a valid S3 bucket name"),
        (
            "[[buckets]]\nname = \"s3bucket_\"\n",
            "not a valid S3 bucket name",
        ),
        (
            "[[views]]\nname = \"..\"\ncriteria = {}\n",
            "cannot be a directory name",
        ),
        (
            "[[views]]\nname = \"\"\ncriteria = {}\n",
            "cannot be a directory name",
        ),
        ("[cache]\nsize = \"1MiB\"\n", "at least 4 blocks"),
    ] {
        let err = load_text(text, Overrides::default(), &[])
            .unwrap_err()
            .to_string();
        assert!(
            err.contains(needle),
            "config {text:?}: expected a message containing {needle:?}, got {err:?}"
        );
    }
}
