//! Everyday use from a second shell: commands that find a mount's daemon from the mount
//! point alone, `get` of mounted files with the mount's S3 settings, and messages a person
//! can act on (no SDK dumps, no doubled prefixes, no colour codes in files, a daemon log
//! that goes somewhere).

use std::path::Path;
use std::process::{Command, Output, Stdio};

use crate::support::*;

const KEY: &str = "hst/public/jbev/jbeveo010/jbeveo010_drz.fits";

/// `mastfs ARGS` as a second shell of the same user runs it: another runtime folder, or
/// none at all.
fn second_shell(home: &Path, runtime_dir: Option<&Path>, args: &[&str]) -> Output {
    let mut cmd = mastfs_command(home);
    match runtime_dir {
        Some(dir) => cmd.env("XDG_RUNTIME_DIR", dir),
        None => cmd.env_remove("XDG_RUNTIME_DIR"),
    };
    cmd.args(args).output().expect("run mastfs")
}

#[test]
fn stats_views_and_drop_caches_reach_a_mount_from_another_shell() {
    let s3 = public_server();
    s3.put_object("stpubdata", KEY, pseudo_random(10_000, 1));
    let mast = MastStandin::start().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let cfg = write_seed_view_config(dir.path(), "drz");
    let m = Mount::start(
        &s3.endpoint_url(),
        &[
            "--config",
            cfg.to_str().unwrap(),
            "--mast-url",
            &mast.base_url(),
        ],
    );
    let mountpoint = m.mountpoint.to_str().unwrap().to_string();
    let elsewhere = dir.path().join("other-runtime");
    std::fs::create_dir(&elsewhere).unwrap();
    // The view resolves on first listing (one of its two products is in this bucket).
    let _ = names_in(&m.path("views/drz"));

    for runtime in [Some(elsewhere.as_path()), None] {
        let stats = second_shell(dir.path(), runtime, &["stats", &mountpoint]);
        assert!(
            stats.status.success(),
            "stats with XDG_RUNTIME_DIR={runtime:?} (mount made with another): {}",
            text(&stats)
        );
        let json: serde_json::Value = serde_json::from_slice(&stats.stdout)
            .unwrap_or_else(|e| panic!("stats is not JSON ({e}): {}", text(&stats)));
        assert!(json.is_object(), "stats: {json}");

        let drop = second_shell(dir.path(), runtime, &["drop-caches", &mountpoint]);
        assert!(drop.status.success(), "drop-caches: {}", text(&drop));

        // A path inside the mount finds it too.
        let inside = m.path("views");
        let status = second_shell(
            dir.path(),
            runtime,
            &["views", "status", inside.to_str().unwrap()],
        );
        assert!(status.status.success(), "views status: {}", text(&status));
        let table = String::from_utf8_lossy(&status.stdout);
        let lines: Vec<&str> = table.lines().collect();
        assert!(
            lines.len() >= 2
                && lines[0].starts_with("NAME")
                && lines[1].starts_with("drz")
                && lines[1].contains("resolved"),
            "expected a table with a header and the row of view drz, got:\n{table}"
        );
        assert!(!table.contains('{'), "the table has no JSON:\n{table}");

        let json = second_shell(
            dir.path(),
            runtime,
            &["views", "status", "--json", &mountpoint],
        );
        assert!(
            json.status.success(),
            "views status --json: {}",
            text(&json)
        );
        let views: serde_json::Value = serde_json::from_slice(&json.stdout).unwrap();
        let resolved_at = views[0]["resolved_at"].as_str().unwrap_or_default();
        assert!(
            resolved_at.len() == 20 && resolved_at.ends_with('Z') && resolved_at.contains('T'),
            "expected an RFC 3339 UTC time, got {:?} in {views}",
            views[0]["resolved_at"]
        );
        assert_eq!(views[0]["entries"], 1, "{views}");

        let refresh = second_shell(
            dir.path(),
            runtime,
            &["views", "refresh", &mountpoint, "drz"],
        );
        assert!(
            refresh.status.success(),
            "views refresh: {}",
            text(&refresh)
        );
    }

    let not_mounted = second_shell(dir.path(), None, &["stats", dir.path().to_str().unwrap()]);
    let err = String::from_utf8_lossy(&not_mounted.stderr);
    assert!(
        !not_mounted.status.success() && err.contains("is not a mastfs mount"),
        "stats of a folder that is no mount: {}",
        text(&not_mounted)
    );
}

#[test]
fn get_of_a_mounted_file_uses_the_mounts_endpoint() {
    let s3 = public_server();
    let data = pseudo_random(600_000, 2);
    s3.put_object("stpubdata", KEY, data.clone());
    let m = Mount::start(&s3.endpoint_url(), &[]);
    let dir = tempfile::tempdir().unwrap();
    let dest = dir.path().join("out.fits");
    // No --endpoint-url: without the mount's settings this would go to AWS.
    let out = mastfs_command(dir.path())
        .args(["get", "--no-progress"])
        .arg(m.path(&format!("stpubdata/{KEY}")))
        .arg(&dest)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "get of a file under a mount made with --endpoint-url: {}",
        text(&out)
    );
    assert_eq!(
        std::fs::read(&dest).ok().map(|d| d == data),
        Some(true),
        "{} has the object's bytes",
        dest.display()
    );
}

#[test]
fn connection_failures_name_the_endpoint_in_one_readable_line() {
    let dir = tempfile::tempdir().unwrap();
    // A port nothing listens on.
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let endpoint = format!("http://{}", closed.local_addr().unwrap());
    drop(closed);
    let uri = format!("s3://stpubdata/{KEY}");
    let out = mastfs_command(dir.path())
        .args(["get", "--no-progress", &uri])
        .arg(dir.path().join("x.fits"))
        .args(["--endpoint-url", &endpoint, "--force-path-style"])
        .env_remove("RUST_LOG")
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "get should fail: {}", text(&out));
    for bad in ["{", "DispatchFailure", "ConnectorError", "mastfs: mastfs:"] {
        assert!(!err.contains(bad), "the message contains {bad:?}:\n{err}");
    }
    assert!(
        err.contains(&endpoint) && err.contains("cannot connect"),
        "the message names the endpoint and says what failed:\n{err}"
    );
    assert_eq!(err.matches(&uri).count(), 1, "the URI is said once:\n{err}");
}

#[test]
fn logs_written_to_files_have_no_colour_codes() {
    let s3 = public_server();
    let m = Mount::start(&s3.endpoint_url(), &["-v"]);
    let _ = std::fs::read_dir(m.path("stpubdata"));
    let log = m.log_text();
    assert!(
        log.contains("mounted"),
        "the log has the mount line:\n{log}"
    );
    assert!(
        !log.contains('\u{1b}'),
        "colour codes were written into a file:\n{log:?}"
    );
}

/// A mount point unmounted (lazily) on drop, for daemonized mounts.
struct Unmount<'a>(&'a Path);

impl Drop for Unmount<'_> {
    fn drop(&mut self) {
        if is_mounted(self.0) {
            let _ = Command::new("umount").arg("-l").arg(self.0).status();
        }
    }
}

#[test]
fn a_daemonized_mount_reports_one_prefix_and_logs_without_a_system_log() {
    let s3 = public_server();
    let mast = MastStandin::start().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let mountpoint = dir.path().join("mnt");
    std::fs::create_dir(&mountpoint).unwrap();
    let _guard = Unmount(&mountpoint);
    let state = dir.path().join("state");
    let daemon = |extra: &[&str]| {
        mastfs_command(dir.path())
            .arg("mount")
            .arg(&mountpoint)
            .args(["--endpoint-url", &s3.endpoint_url(), "--force-path-style"])
            .args(["--mast-url", &mast.base_url()])
            .args(extra)
            .env("MASTFS_SYSLOG_SOCKET", dir.path().join("no-such-syslog"))
            .env("XDG_STATE_HOME", &state)
            .stdin(Stdio::null())
            .output()
            .unwrap()
    };

    let bad = daemon(&["--view", "bad obs_colection=HST"]);
    let err = String::from_utf8_lossy(&bad.stderr);
    assert!(
        !bad.status.success(),
        "a bad view must fail: {}",
        text(&bad)
    );
    assert!(
        err.contains("obs_colection") && !err.contains("mastfs: mastfs:"),
        "one 'mastfs:' prefix and the reason:\n{err}"
    );

    let good = daemon(&["-v"]);
    assert!(good.status.success(), "mount: {}", text(&good));
    let log = state.join("mastfs/mastfs.log");
    let err = String::from_utf8_lossy(&good.stderr);
    assert!(
        err.contains(log.to_str().unwrap()),
        "the mount says where it logs without a system log:\n{err}"
    );
    let _ = std::fs::read_dir(mountpoint.join("stpubdata"));
    wait_until("the daemon's log file to fill", || {
        std::fs::read_to_string(&log).is_ok_and(|t| t.contains("mounted"))
    });
}

#[test]
fn debug_logs_name_each_s3_request() {
    let s3 = public_server();
    s3.put_object("stpubdata", KEY, pseudo_random(300_000, 3));
    let m = Mount::start_with(&s3.endpoint_url(), &["-vv"], |cmd| {
        cmd.env_remove("RUST_LOG");
    });
    let bytes = std::fs::read(m.path(&format!("stpubdata/{KEY}"))).unwrap();
    assert_eq!(bytes.len(), 300_000);
    let log = m.log_text();
    let get_line = log
        .lines()
        .find(|l| l.contains("S3 GET") && l.contains(KEY))
        .unwrap_or_else(|| panic!("no 'S3 GET' line naming {KEY} at -vv:\n{log}"));
    assert!(
        get_line.contains("stpubdata") && get_line.contains("range"),
        "the GET line names bucket and range: {get_line}"
    );
    assert!(
        get_line.contains("fuse{op=") && get_line.contains(" req="),
        "the GET line carries the span of the FUSE request that caused it: {get_line}"
    );
    assert!(
        log.lines().any(|l| l.contains("S3 LIST")),
        "no 'S3 LIST' line at -vv:\n{log}"
    );
}

/// The demo is run by people who copy its hints: every tool a hint uses is installed by the
/// demo, it shows cargo's progress, and it does not pin the control socket to its own
/// environment.
#[test]
fn demo_installs_what_its_hints_use_and_shows_build_progress() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let demo = std::fs::read_to_string(root.join("scripts/demo.sh")).unwrap();
    let deps = std::fs::read_to_string(root.join("scripts/system-deps.sh")).unwrap();
    let always = deps
        .lines()
        .find(|l| l.starts_with("want=("))
        .unwrap_or_default();
    if demo.contains("getfattr") {
        assert!(
            always.split(['(', ')', ' ']).any(|p| p == "attr"),
            "the demo shows getfattr but system-deps.sh installs attr only with --clients: {always}"
        );
    }
    let build = demo
        .lines()
        .find(|l| l.trim_start().starts_with("cargo build"))
        .unwrap_or_default();
    assert!(
        !build.contains("--quiet") && !build.contains(" -q"),
        "the demo's build hides its progress: {build}"
    );
    assert!(
        !demo.contains("XDG_RUNTIME_DIR"),
        "the demo sets XDG_RUNTIME_DIR, which a second shell does not have"
    );
    assert!(
        demo.contains("export PATH=") || demo.contains("install.sh"),
        "the demo does not say how to call mastfs afterwards"
    );
}

/// A clone holds the repository only: the README, docs/ and crate READMEs link to files in
/// it, and nothing names the folders the project was written next to.
#[test]
fn documents_link_only_inside_the_repository() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut documents = vec![
        root.join("README.md"),
        root.join("crates/mast/README.md"),
        root.join("src/lib.rs"),
        root.join("crates/mast/src/lib.rs"),
    ];
    for entry in std::fs::read_dir(root.join("docs")).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "md") {
            documents.push(path);
        }
    }
    let mut problems = Vec::new();
    for doc in &documents {
        let text = std::fs::read_to_string(doc).unwrap();
        for outside in ["../shared/", "/work/shared"] {
            if text.contains(outside) {
                problems.push(format!("{} names {outside}", doc.display()));
            }
        }
        for target in text.split("](").skip(1).filter_map(|t| t.split(')').next()) {
            let target = target.split('#').next().unwrap_or_default();
            if target.is_empty() || target.contains("://") || target.starts_with("mailto:") {
                continue;
            }
            let resolved = doc.parent().unwrap().join(target);
            if !resolved.exists() {
                problems.push(format!("{} links to missing {target}", doc.display()));
            }
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

#[test]
fn get_of_a_view_in_astroquerys_layout_writes_a_download_manifest() {
    let s3 = public_server();
    let data = pseudo_random(200_000, 4);
    s3.put_object("stpubdata", KEY, data.clone());
    s3.put_object(
        "stpubdata",
        "hst/public/jbev/jbevet010/jbevet010_drz.fits",
        pseudo_random(100_000, 5),
    );
    let mast = MastStandin::start().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let cfg = write_seed_view_config(dir.path(), "drz");
    let dest = dir.path().join("data");
    let get = || {
        mastfs_command(dir.path())
            .args(["get", "--no-progress", "--layout", "mast-download", "drz"])
            .arg(&dest)
            .args([
                "--config",
                cfg.to_str().unwrap(),
                "--mast-url",
                &mast.base_url(),
            ])
            .args(["--endpoint-url", &s3.endpoint_url(), "--force-path-style"])
            .output()
            .unwrap()
    };
    let out = get();
    assert!(
        out.status.success(),
        "get --layout mast-download: {}",
        text(&out)
    );
    let file = dest.join("mastDownload/HST/jbeveo010/jbeveo010_drz.fits");
    assert_eq!(
        std::fs::read(&file).ok().map(|d| d == data),
        Some(true),
        "{} holds the object",
        file.display()
    );
    let manifest = dest.join("mastDownload/manifest.csv");
    let statuses = |text: &str| -> Vec<String> {
        text.lines()
            .skip(1)
            .map(|l| l.split(',').nth(1).unwrap_or_default().to_string())
            .collect()
    };
    let first = std::fs::read_to_string(&manifest).unwrap_or_default();
    assert_eq!(
        first.lines().next(),
        Some("Local Path,Status,Message,URL"),
        "astroquery's columns:\n{first}"
    );
    assert_eq!(statuses(&first), ["COMPLETE", "COMPLETE"], "{first}");
    assert!(first.contains(&format!("s3://stpubdata/{KEY}")), "{first}");

    let again = get();
    assert!(again.status.success(), "second get: {}", text(&again));
    let second = std::fs::read_to_string(&manifest).unwrap();
    assert_eq!(statuses(&second), ["SKIPPED", "SKIPPED"], "{second}");
    if let Some(python) = venv_python() {
        let out = Command::new(python)
            .args(["-c", "import sys; from astropy.table import Table; t = Table.read(sys.argv[1], format='ascii.csv'); print(t.colnames, [str(s) for s in t['Status']])"])
            .arg(&manifest)
            .output()
            .unwrap();
        assert_eq!(
            String::from_utf8_lossy(&out.stdout).trim(),
            "['Local Path', 'Status', 'Message', 'URL'] ['SKIPPED', 'SKIPPED']",
            "astropy reads the manifest: {}",
            text(&out)
        );
    }
}

#[test]
fn version_names_the_commit_and_the_build_date() {
    let out = Command::new(mastfs_bin())
        .arg("--version")
        .output()
        .unwrap();
    let version = String::from_utf8_lossy(&out.stdout).trim().to_string();
    let head = Command::new("git")
        .args(["rev-parse", "--short=12", "HEAD"])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string());
    let commit = head.unwrap_or_else(|| "unknown".into());
    let date = version
        .rsplit("built ")
        .next()
        .unwrap_or_default()
        .trim_end_matches(')');
    assert!(
        version.starts_with(&format!(
            "mastfs {} ({commit}, built ",
            env!("CARGO_PKG_VERSION")
        )) && date.len() == 10
            && date.as_bytes()[4] == b'-',
        "expected 'mastfs VERSION ({commit}, built YYYY-MM-DD)', got {version:?}"
    );
}

#[test]
fn signed_buckets_and_profiles_from_the_command_line() {
    let s3 = S3Standin::start(ServerOptions {
        credentials: vec![("AKIAMASTFSTEST".into(), "mastfs-test-secret".into())],
        ..Default::default()
    })
    .unwrap();
    s3.create_bucket("stpubdata", true);
    s3.create_bucket("private-sandbox", false);
    s3.put_object("private-sandbox", "sims/a.asdf", b"#ASDF 1.0.0\n".to_vec());
    let dir = tempfile::tempdir().unwrap();
    let credentials = dir.path().join("credentials");
    std::fs::write(
        &credentials,
        "[science]\naws_access_key_id = AKIAMASTFSTEST\naws_secret_access_key = mastfs-test-secret\n",
    )
    .unwrap();
    let with_profile_file = |cmd: &mut Command| {
        cmd.env("AWS_SHARED_CREDENTIALS_FILE", &credentials);
    };
    // Every option through -o, as an fstab line gives them.
    let m = Mount::start_with(
        &s3.endpoint_url(),
        &["-o", "signed_bucket=private-sandbox,bucket=stpubdata,profile=science,read_only,negative_metadata_ttl=0s"],
        with_profile_file,
    );
    assert_eq!(
        std::fs::read(m.path("private-sandbox/sims/a.asdf")).ok(),
        Some(b"#ASDF 1.0.0\n".to_vec()),
        "the signed bucket reads with the profile's keys; log:\n{}",
        m.log_text()
    );
    assert!(
        m.log_text().contains("signed"),
        "the mount line says signed:\n{}",
        m.log_text()
    );
    drop(m);

    let anonymous = Mount::start_with(
        &s3.endpoint_url(),
        &[
            "--signed-bucket",
            "private-sandbox",
            "--profile",
            "science",
            "--no-sign-request",
        ],
        with_profile_file,
    );
    let err = std::fs::read_dir(anonymous.path("private-sandbox/sims")).map(|_| ());
    assert_eq!(
        err.err().and_then(|e| e.raw_os_error()),
        Some(libc::EACCES),
        "--no-sign-request reads the private bucket anonymously: refused"
    );
}

#[test]
fn s3_failures_are_logged_with_the_request_id_and_json_logs_are_json() {
    let s3 = public_server();
    s3.create_bucket("private-sandbox", false);
    s3.put_object("private-sandbox", "a.fits", b"x".to_vec());
    let m = Mount::start_with(
        &s3.endpoint_url(),
        &["--bucket", "private-sandbox", "--log-format", "json", "-v"],
        |cmd| {
            cmd.env_remove("RUST_LOG");
        },
    );
    let err = std::fs::read_dir(m.path("private-sandbox")).map(|_| ());
    assert!(
        err.is_err(),
        "an anonymous listing of a private bucket is refused"
    );
    let log = m.log_text();
    let events: Vec<serde_json::Value> = log
        .lines()
        .filter(|l| l.starts_with('{'))
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}")))
        .collect();
    assert!(
        log.lines().filter(|l| l.starts_with('{')).count() >= 2,
        "--log-format json writes one JSON object per event:\n{log}"
    );
    let denied = events
        .iter()
        .find(|e| e.to_string().contains("access denied"))
        .unwrap_or_else(|| panic!("no access-denied event:\n{log}"));
    assert!(
        denied.to_string().contains("request id STANDIN"),
        "the S3 request id is in the error event: {denied}"
    );
}

#[test]
fn an_unreachable_mast_is_said_once_without_debug_text() {
    let dir = tempfile::tempdir().unwrap();
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", closed.local_addr().unwrap());
    drop(closed);
    let out = mastfs_command(dir.path())
        .args(["query", "obs_collection=HST", "--mast-url", &url])
        .env_remove("RUST_LOG")
        .output()
        .unwrap();
    assert!(!out.status.success(), "query should fail: {}", text(&out));
    let err = String::from_utf8_lossy(&out.stderr);
    let last = err.lines().last().unwrap_or_default();
    assert!(last.starts_with("mastfs: "), "the error comes last:\n{err}");
    let invoke = format!("{url}/api/v0/invoke");
    assert_eq!(
        last.matches(&invoke).count(),
        1,
        "the URL once, got: {last}"
    );
    assert!(!last.contains('{'), "no Debug text: {last}");
}
