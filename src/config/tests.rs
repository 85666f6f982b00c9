//! Tests of the config schema, overlay precedence and validation.

use std::collections::HashMap;
use std::io::Write;

use super::*;

fn env_of(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
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

fn load_text(text: &str, o: Overrides, env: &[(&str, &str)]) -> Result<Config, ConfigError> {
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

#[test]
fn the_disk_cache_is_off_unless_asked_for() {
    let c = load_with(&Overrides::default(), &env_of(&[("HOME", "/home/a")])).unwrap();
    assert_eq!(c.cache.disk, None, "disk cache without being asked");

    let c = load_with(
        &Overrides {
            disk_cache: true,
            ..Default::default()
        },
        &env_of(&[("XDG_CACHE_HOME", "/x/cache"), ("HOME", "/home/a")]),
    )
    .unwrap();
    assert_eq!(
        c.cache.disk,
        Some(DiskCacheConfig {
            dir: PathBuf::from("/x/cache/mastfs/blocks"),
            size: 10 << 30
        }),
        "--disk-cache: default folder and size"
    );

    let c = load_with(&Overrides::default(), &env_of(&[])).unwrap();
    assert_eq!(c.cache.disk, None);
    let no_home = load_with(
        &Overrides {
            disk_cache: true,
            ..Default::default()
        },
        &env_of(&[]),
    )
    .unwrap();
    assert_eq!(
        no_home.cache.disk.map(|d| d.dir),
        Some(PathBuf::from("/var/cache/mastfs/blocks")),
        "without HOME (mount(8), systemd)"
    );
}

#[test]
fn disk_cache_folder_and_size_follow_flags_env_file() {
    let text = "[cache]\ndir = \"/file/dir\"\ndisk_size = \"2GiB\"\n";
    let from_file = load_text(text, Overrides::default(), &[]).unwrap();
    assert_eq!(
        from_file.cache.disk,
        Some(DiskCacheConfig {
            dir: PathBuf::from("/file/dir"),
            size: 2 << 30
        }),
        "a dir in the file turns the disk cache on"
    );
    let off = load_text(
        "[cache]\ndisk = false\ndir = \"/file/dir\"\n",
        Overrides::default(),
        &[],
    )
    .unwrap();
    assert_eq!(off.cache.disk, None, "disk = false wins over dir");
    let env = load_text(
        text,
        Overrides::default(),
        &[("MASTFS_CACHE_DIR", "/env/dir")],
    )
    .unwrap();
    assert_eq!(
        env.cache.disk.map(|d| d.dir),
        Some(PathBuf::from("/env/dir"))
    );
    let flag = load_text(
        text,
        Overrides {
            cache_dir: Some("/flag/dir".into()),
            disk_cache_size: Some("3GiB".into()),
            ..Default::default()
        },
        &[("MASTFS_CACHE_DIR", "/env/dir")],
    )
    .unwrap();
    assert_eq!(
        flag.cache.disk,
        Some(DiskCacheConfig {
            dir: PathBuf::from("/flag/dir"),
            size: 3 << 30
        }),
        "flags win over environment and file"
    );
    let err = load_text(
        "[cache]\ndisk = true\ndisk_size = \"lots\"\n",
        Overrides::default(),
        &[],
    )
    .unwrap_err()
    .to_string();
    assert!(err.contains("cache.disk_size"), "got: {err}");
}

#[test]
fn metadata_is_persisted_only_when_asked() {
    let home = [("HOME", "/home/u")];
    let off = load_with(&Overrides::default(), &env_of(&home)).unwrap();
    assert_eq!(off.cache.metadata_dir, None, "off by default");
    let with_disk = load_with(
        &Overrides {
            cache_dir: Some("/c/blocks".into()),
            ..Default::default()
        },
        &env_of(&home),
    )
    .unwrap();
    assert_eq!(
        with_disk.cache.metadata_dir, None,
        "the disk cache alone does not persist metadata"
    );
    let asked = load_with(
        &Overrides {
            persist_metadata: true,
            ..Default::default()
        },
        &env_of(&home),
    )
    .unwrap();
    assert_eq!(
        asked.cache.metadata_dir,
        Some(PathBuf::from("/home/u/.cache/mastfs/metadata"))
    );
    let asked_with_disk = load_with(
        &Overrides {
            persist_metadata: true,
            cache_dir: Some("/c/blocks".into()),
            ..Default::default()
        },
        &env_of(&home),
    )
    .unwrap();
    assert_eq!(
        asked_with_disk.cache.metadata_dir,
        Some(PathBuf::from("/c/blocks/metadata"))
    );
    let file = load_text(
        "[cache]\nmetadata_dir = \"/m\"\n",
        Overrides::default(),
        &home,
    )
    .unwrap();
    assert_eq!(file.cache.metadata_dir, Some(PathBuf::from("/m")));
}

#[test]
fn cache_budget_follows_the_cgroup_limit_unless_a_size_is_given() {
    let limit = Some(2u64 << 30);
    let c = load_with_memory_limit(&Overrides::default(), &env_of(&[]), limit).unwrap();
    assert_eq!(
        (c.cache.size, c.cache.size_from_memory_limit),
        (memory_limit::cache_budget(2 << 30, 4 << 20), limit)
    );
    let flag = Overrides {
        cache_size: Some("300MiB".into()),
        ..Default::default()
    };
    let c = load_with_memory_limit(&flag, &env_of(&[]), limit).unwrap();
    assert_eq!(
        (c.cache.size, c.cache.size_from_memory_limit),
        (300 << 20, None)
    );
    let env = env_of(&[("MASTFS_CACHE_SIZE", "100MiB")]);
    let c = load_with_memory_limit(&Overrides::default(), &env, limit).unwrap();
    assert_eq!(c.cache.size, 100 << 20);
    let c = load_with_memory_limit(&Overrides::default(), &env_of(&[]), None).unwrap();
    assert_eq!(
        (c.cache.size, c.cache.size_from_memory_limit),
        (512 << 20, None)
    );
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
fn block_sizes_must_be_whole_pages() {
    let o = Overrides {
        block_size: Some("1000000".into()),
        ..Default::default()
    };
    let err = load_with(&o, &env_of(&[])).unwrap_err().to_string();
    assert!(
        err.contains("multiple of 4096"),
        "block size of 1000000 bytes: expected a message about 4096, got {err:?}"
    );
    let o = Overrides {
        block_size: Some("1M".into()),
        ..Default::default()
    };
    assert_eq!(
        load_with(&o, &env_of(&[])).unwrap().cache.block_size,
        1 << 20
    );
}

#[test]
fn passthrough_is_on_unless_the_flag_or_the_file_turns_it_off() {
    let default = load_text("[cache]\ndisk = true\n", Overrides::default(), &[]).unwrap();
    assert!(default.cache.passthrough, "passthrough is on by default");
    let file_off = load_text("[cache]\npassthrough = false\n", Overrides::default(), &[]).unwrap();
    assert!(!file_off.cache.passthrough, "cache.passthrough = false");
    let flag_off = load_text(
        "[cache]\npassthrough = true\n",
        Overrides {
            no_passthrough: true,
            ..Default::default()
        },
        &[],
    )
    .unwrap();
    assert!(
        !flag_off.cache.passthrough,
        "--no-passthrough wins over the file"
    );
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
