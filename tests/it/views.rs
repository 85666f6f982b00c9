//! Views end to end: a real mount, the MAST stand-in answering the seed query, the S3
//! stand-in holding the two DRZ keys.

use std::fs;
use std::os::unix::fs::MetadataExt;
use std::process::Command;

use crate::support::*;
use mastfs_mast_standin::SEED_DRZ_SIZE;

const VIEW: &str = "hst-12062-f606w-drz";
/// The notebook's view under the name these tests use.
fn seed_view() -> String {
    seed_view_config(VIEW)
}

const KEY1: &str = "hst/public/jbev/jbeveo010/jbeveo010_drz.fits";
const KEY2: &str = "hst/public/jbev/jbevet010/jbevet010_drz.fits";

struct World {
    s3: S3Standin,
    mast: MastStandin,
    dir: tempfile::TempDir,
    data1: Vec<u8>,
}

impl World {
    fn new() -> World {
        let s3 = S3Standin::start(ServerOptions::default()).unwrap();
        s3.create_bucket("stpubdata", true);
        let data1 = pseudo_random(3_000_123, 11);
        s3.put_object("stpubdata", KEY1, data1.clone());
        s3.put_object("stpubdata", KEY2, pseudo_random(1_234_567, 12));
        let mast = MastStandin::start().unwrap();
        World {
            s3,
            mast,
            dir: tempfile::tempdir().unwrap(),
            data1,
        }
    }

    fn config(&self, text: &str) -> String {
        let path = self.dir.path().join(format!("config-{}.toml", fnv(text)));
        fs::write(&path, text).unwrap();
        path.to_str().unwrap().to_string()
    }

    /// A mount whose persisted state (views, column configuration) lives in this world.
    fn mount(&self, config_text: &str) -> Mount {
        self.mount_with(config_text, &[])
    }

    /// The same, with more `mastfs mount` arguments.
    fn mount_with(&self, config_text: &str, extra: &[&str]) -> Mount {
        let cfg = self.config(config_text);
        let cache = self.dir.path().join("cache");
        let mast_url = self.mast.base_url();
        let mut args = vec!["--config", cfg.as_str(), "--mast-url", mast_url.as_str()];
        args.extend_from_slice(extra);
        Mount::start_with(&self.s3.endpoint_url(), &args, |cmd| {
            cmd.env("XDG_CACHE_HOME", &cache);
        })
    }
}

fn fnv(s: &str) -> u64 {
    s.bytes().fold(0xcbf2_9ce4_8422_2325u64, |h, b| {
        (h ^ b as u64).wrapping_mul(0x100_0000_01b3)
    })
}

#[test]
fn seed_view_lists_the_two_drz_files_with_s3_sizes() {
    let w = World::new();
    let m = w.mount(&seed_view());
    let dir = m.path(&format!("views/{VIEW}"));
    let mut entries: Vec<(String, u64)> = fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap())
        .map(|e| {
            (
                e.file_name().into_string().unwrap(),
                e.metadata().unwrap().len(),
            )
        })
        .collect();
    entries.sort();
    let (manifest_len, ecsv_len) = (entries[0].1, entries[1].1);
    assert_eq!(
        entries,
        vec![
            (".manifest.csv".to_string(), manifest_len),
            (".manifest.ecsv".to_string(), ecsv_len),
            ("jbeveo010_drz.fits".to_string(), 3_000_123),
            ("jbevet010_drz.fits".to_string(), 1_234_567),
        ],
        "view entries and their sizes from S3 (not the product rows' 219608640)"
    );
    let f = dir.join("jbeveo010_drz.fits");
    assert!(
        fs::read(&f).unwrap() == w.data1,
        "view file bytes differ from the S3 object"
    );
    assert_eq!(
        getxattr(&f, "user.mast.data_uri").as_deref(),
        Some("mast:HST/product/jbeveo010_drz.fits")
    );
    assert_eq!(
        getxattr(&f, "user.mast.s3_uri").as_deref(),
        Some(&*format!("s3://stpubdata/{KEY1}"))
    );
    assert_eq!(getxattr(&f, "user.mast.obsid").as_deref(), Some("24832664"));

    // The same object through the bucket tree: same size, and its blocks already cached.
    w.s3.reset_stats();
    let via_bucket = fs::read(m.path(&format!("stpubdata/{KEY1}"))).unwrap();
    assert!(via_bucket == w.data1);
    assert_eq!(
        w.s3.stats().requests.get,
        0,
        "the bucket path should be served from the view's cached blocks"
    );
    assert_eq!(
        fs::metadata(m.path(&format!("stpubdata/{KEY2}")))
            .unwrap()
            .size(),
        1_234_567
    );

    let manifest = fs::read_to_string(dir.join(".manifest.csv")).unwrap();
    let header = manifest.lines().next().unwrap();
    for col in [
        "obsID",
        "obs_id",
        "dataURI",
        "s3_uri",
        "productFilename",
        "s3_size",
        "size",
        "productSubGroupDescription",
    ] {
        assert!(
            header.split(',').any(|c| c == col),
            "manifest header lacks {col}: {header}"
        );
    }
    assert_eq!(manifest.lines().count(), 3, "manifest rows:\n{manifest}");
    if let Some(python) = venv_python() {
        let out = Command::new(python)
            .args(["-c", "import sys; from astropy.table import Table; t = Table.read(sys.argv[1], format='ascii.csv'); print(len(t), sorted(str(n) for n in t['productFilename']), [int(s) for s in t['s3_size']], [int(s) for s in t['size']])"])
            .arg(dir.join(".manifest.csv"))
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success(),
            "astropy could not read the manifest: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert_eq!(
            text.trim(),
            format!("2 ['jbeveo010_drz.fits', 'jbevet010_drz.fits'] [3000123, 1234567] [{SEED_DRZ_SIZE}, {SEED_DRZ_SIZE}]"),
            "astropy's reading of the manifest: s3_size from S3, size from MAST"
        );
        let out = Command::new(venv_python().unwrap())
            .args(["-c", "import sys; from astropy.table import Table; t = Table.read(sys.argv[1], format='ascii.ecsv'); print(len(t), t['s3_size'].dtype, t['size'].dtype, t['file'].dtype.kind, [int(v) for v in t['s3_size']])"])
            .arg(dir.join(".manifest.ecsv"))
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "astropy could not read the ECSV manifest: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert_eq!(
            String::from_utf8_lossy(&out.stdout).trim(),
            "2 int64 int64 U [3000123, 1234567]",
            "the ECSV manifest keeps the column types"
        );
    } else {
        tool_available(
            "the project venv with astropy (scripts/setup-python.sh)",
            false,
        );
    }
    assert!(
        m.log_text().contains("2 of 4 products were duplicates"),
        "log lacks the duplicates line:\n{}",
        m.log_text()
    );

    let out = mastfs_command(m.dir.path())
        .args(["views", "refresh"])
        .arg(&m.mountpoint)
        .arg(VIEW)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "views refresh: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("2 files"),
        "refresh output: {}",
        String::from_utf8_lossy(&out.stdout)
    );
}

#[test]
fn mast_down_fresh_view_is_eio_persisted_view_still_lists() {
    let w = World::new();
    // First mount with MAST up: the view resolves and is persisted.
    let m = w.mount(&seed_view());
    assert_eq!(
        fs::read_dir(m.path(&format!("views/{VIEW}")))
            .unwrap()
            .count(),
        4
    );
    drop(m);
    for dir in ["cache/mastfs", "cache/mastfs/views"] {
        let mode = fs::metadata(w.dir.path().join(dir)).unwrap().mode() & 0o777;
        assert_eq!(mode, 0o700, "{dir} should be private to its owner");
    }

    w.mast.stop();
    // A restart with MAST down: the persisted listing is served.
    let m = w.mount(&seed_view());
    let names: Vec<_> = fs::read_dir(m.path(&format!("views/{VIEW}")))
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(
        names.len(),
        4,
        "persisted view after a restart with MAST down: {names:?}"
    );
    assert!(fs::read(m.path(&format!("views/{VIEW}/jbeveo010_drz.fits"))).unwrap() == w.data1);
    drop(m);

    // A view never resolved, with MAST down: EIO, and the log says why.
    let other = seed_view_config("never-resolved");
    let m = w.mount(&other);
    let err = fs::read_dir(m.path("views/never-resolved")).unwrap_err();
    assert_eq!(
        err.raw_os_error(),
        Some(libc::EIO),
        "fresh view with MAST down: {err}"
    );
    assert!(
        fs::read_dir(m.path("stpubdata/hst")).is_ok(),
        "the bucket tree keeps working with MAST down"
    );
    let log = m.log_text();
    assert!(
        log.contains("never-resolved") && log.contains("could not be resolved"),
        "log should say why:\n{log}"
    );
}

#[test]
fn bad_view_definitions_fail_before_mounting() {
    let w = World::new();
    let cases = [
        (
            seed_view().replace("obs_collection =", "obs_colection ="),
            "Did you mean 'obs_collection'",
        ),
        (
            seed_view().replace(
                "dataRights = \"PUBLIC\"",
                "dataRights = \"PUBLIC\", s_ra = 10",
            ),
            "s_ra",
        ),
        (
            seed_view().replace("productSubGroupDescription = \"DRZ\"", "size = \"<lots\""),
            "size",
        ),
        (seed_view().repeat(2), "unique"),
        (seed_view_config("a/b"), "cannot be a directory name"),
    ];
    for (config, needle) in cases {
        let cfg = w.config(&config);
        let home = tempfile::tempdir().unwrap();
        let mnt = home.path().join("mnt");
        fs::create_dir(&mnt).unwrap();
        let out = mastfs_command(home.path())
            .arg("mount")
            .arg(&mnt)
            .args([
                "--config",
                &cfg,
                "--mast-url",
                &w.mast.base_url(),
                "--endpoint-url",
                &w.s3.endpoint_url(),
                "--force-path-style",
            ])
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "a bad definition mounted ({needle})");
        assert!(
            err.contains(needle),
            "expected a message containing {needle:?}, got: {err}"
        );
        assert!(!is_mounted(&mnt), "a mount was left behind after: {err}");
    }
}

#[test]
fn query_prints_the_seed_uris() {
    let w = World::new();
    let home = tempfile::tempdir().unwrap();
    let args = [
        "query",
        "obs_collection=HST",
        "filters=F606W",
        "instrument_name=ACS/WFC",
        "proposal_id=12062",
        "dataRights=PUBLIC",
        "--products",
        "productSubGroupDescription=DRZ",
    ];
    let run = |extra: &[&str]| {
        let out = mastfs_command(home.path())
            .args(args)
            .args(extra)
            .args(["--mast-url", &w.mast.base_url()])
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "mastfs query failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        (
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    let want = format!("s3://stpubdata/{KEY1}\ns3://stpubdata/{KEY2}\n");
    let (uris, _) = run(&["--uris"]);
    assert_eq!(uris, want, "--uris output");
    let (table, summary) = run(&[]);
    assert!(
        table.ends_with(&want) && table.contains("productSubGroupDescription"),
        "default output:\n{table}"
    );
    assert_eq!(
        table.matches("jbeveo010_drz.fits").count(),
        2 * 2 + 1,
        "the table shows all 4 DRZ rows, as astroquery does"
    );
    assert!(
        summary.contains("2 of 4 products were duplicates"),
        "summary on stderr: {summary}"
    );
    let (json, _) = run(&["--json"]);
    let value: serde_json::Value = serde_json::from_str(&json).unwrap();
    let text = value.to_string();
    assert!(
        text.contains(&format!("s3://stpubdata/{KEY1}"))
            && text.contains(&format!("s3://stpubdata/{KEY2}")),
        "--json lacks the URIs: {text}"
    );
}

#[test]
fn by_obs_layout_cli_views_and_failed_refresh() {
    let w = World::new();
    let by_obs = format!("{}layout = \"by-obs\"\n", seed_view());
    let cfg = w.config(&by_obs);
    let cli_view = "cli-drz obs_collection=HST filters=F606W instrument_name=ACS/WFC proposal_id=12062 dataRights=PUBLIC --products productSubGroupDescription=DRZ";
    let m = Mount::start(
        &w.s3.endpoint_url(),
        &[
            "--config",
            &cfg,
            "--mast-url",
            &w.mast.base_url(),
            "--view",
            cli_view,
        ],
    );

    let mut folders: Vec<_> = fs::read_dir(m.path(&format!("views/{VIEW}")))
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    folders.sort();
    assert_eq!(
        folders,
        vec![".manifest.csv", ".manifest.ecsv", "jbeveo010", "jbevet010"],
        "by-obs layout: one folder per obs_id"
    );
    let f = m.path(&format!("views/{VIEW}/jbeveo010/jbeveo010_drz.fits"));
    assert!(fs::read(&f).unwrap() == w.data1, "by-obs file bytes");
    let manifest = fs::read_to_string(m.path(&format!("views/{VIEW}/.manifest.csv"))).unwrap();
    assert!(
        manifest.contains("jbeveo010/jbeveo010_drz.fits,listed,"),
        "manifest names the file with its folder:\n{manifest}"
    );

    let mut cli: Vec<_> = fs::read_dir(m.path("views/cli-drz"))
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    cli.sort();
    assert_eq!(
        cli,
        vec![
            ".manifest.csv",
            ".manifest.ecsv",
            "jbeveo010_drz.fits",
            "jbevet010_drz.fits"
        ],
        "view given with --view"
    );

    // MAST goes away: a forced refresh fails with a message, the listing stays.
    w.mast.stop();
    let out = mastfs_command(m.dir.path())
        .args(["views", "refresh"])
        .arg(&m.mountpoint)
        .arg("cli-drz")
        .output()
        .unwrap();
    assert!(
        !out.status.success(),
        "a refresh with MAST down should fail"
    );
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("refresh of view 'cli-drz' failed"),
        "refresh error: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        fs::read_dir(m.path("views/cli-drz")).unwrap().count(),
        4,
        "the last listing is kept after a failed refresh"
    );
    assert!(
        m.log_text().contains("keeping the last listing"),
        "log should warn:\n{}",
        m.log_text()
    );
}

#[test]
fn products_without_a_readable_copy_are_left_out_and_counted() {
    let w = World::new();
    // Every product of the seed observations: most have no object in this S3 stand-in, and
    // some have no cloud path at all.
    let all = seed_view().replace("products = { productSubGroupDescription = \"DRZ\" }", "");
    let m = w.mount(&all);
    let names: Vec<_> = fs::read_dir(m.path(&format!("views/{VIEW}")))
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    assert!(
        names.contains(&"jbeveo010_drz.fits".to_string())
            && names.contains(&"jbevet010_drz.fits".to_string()),
        "entries: {names:?}"
    );
    assert_eq!(
        names.len(),
        4,
        "only objects that exist are listed (plus the manifests): {names:?}"
    );
    let manifest = fs::read_to_string(m.path(&format!("views/{VIEW}/.manifest.csv"))).unwrap();
    let statuses: Vec<&str> = manifest
        .lines()
        .skip(1)
        .filter_map(|l| l.split(',').nth(1))
        .collect();
    assert_eq!(
        statuses.iter().filter(|s| **s == "listed").count(),
        2,
        "listed rows:\n{manifest}"
    );
    assert!(
        statuses.contains(&"missing in S3"),
        "products whose object is missing are counted in the manifest:\n{manifest}"
    );
    assert!(
        statuses.contains(&"not in cloud"),
        "products without a cloud path are counted in the manifest:\n{manifest}"
    );
    assert!(
        m.log_text().contains("left out"),
        "the log counts what was left out:\n{}",
        m.log_text()
    );
}

#[test]
fn a_refresh_asked_during_a_resolution_gets_a_resolution_of_its_own() {
    use mastfs_mast_standin::{Endpoint, Fault};
    let w = World::new();
    let m = w.mount(&seed_view());
    assert_eq!(names_in(&m.path(&format!("views/{VIEW}"))).len(), 4);
    let searches = || {
        w.mast
            .invoke_requests()
            .iter()
            .filter(|r| r.service == "Mast.Caom.Filtered")
            .count()
    };
    // The next resolution's first MAST request is held for 2 s. A refresh asked while it
    // waits must not be answered with what MAST said before that refresh was asked for.
    w.mast.clear_requests();
    w.mast.inject(
        Endpoint::Invoke,
        Fault::Stall(std::time::Duration::from_secs(2)),
        Some(1),
    );
    let refresh = || {
        mastfs_command(m.dir.path())
            .args(["views", "refresh"])
            .arg(&m.mountpoint)
            .arg(VIEW)
            .output()
            .unwrap()
    };
    let (early, late) = std::thread::scope(|scope| {
        let early = scope.spawn(refresh);
        wait_until("the first refresh's search at MAST", || searches() == 1);
        let late = scope.spawn(refresh);
        (early.join().unwrap(), late.join().unwrap())
    });
    for (which, out) in [("first", &early), ("second", &late)] {
        assert!(
            out.status.success(),
            "{which} refresh: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    assert_eq!(
        searches(),
        2,
        "MAST searches: the held one, then one started after the second refresh was asked for"
    );
}

#[test]
fn a_resolution_is_bounded_as_a_whole_by_the_mast_timeout() {
    let w = World::new();
    // Every MAST step is quick, but each HEAD of a product takes 3 s.
    w.s3.set_link(std::time::Duration::from_secs(3), None);
    let text = format!(
        "{}\n[mast]\ntimeout = \"1s\"\nwait = \"20s\"\n",
        seed_view()
    );
    let m = w.mount(&text);
    let started = std::time::Instant::now();
    let listed = fs::read_dir(m.path(&format!("views/{VIEW}")));
    let took = started.elapsed();
    assert_eq!(
        listed.err().and_then(|e| e.raw_os_error()),
        Some(libc::EIO),
        "a view whose resolution outlasts [mast] timeout (took {took:?})"
    );
    assert!(
        took < std::time::Duration::from_millis(2900),
        "the view failed only after {took:?}; [mast] timeout is 1 s"
    );
    assert!(
        m.log_text().contains("[mast] timeout"),
        "the log says which bound stopped it:\n{}",
        m.log_text()
    );
}

#[test]
fn a_view_file_whose_object_changed_is_checked_again_after_the_ttl() {
    let w = World::new();
    let m = w.mount_with(&seed_view(), &["--metadata-ttl", "1s"]);
    let path = m.path(&format!("views/{VIEW}/jbeveo010_drz.fits"));
    assert!(fs::read(&path).unwrap() == w.data1, "first version");
    let replaced = pseudo_random(w.data1.len(), 99);
    w.s3.put_object("stpubdata", KEY1, replaced.clone());
    std::thread::sleep(std::time::Duration::from_millis(1500));
    let got = fs::read(&path);
    assert!(
        got.as_ref().is_ok_and(|g| *g == replaced),
        "a view file read after its object changed and the TTL passed: {}",
        match &got {
            Ok(g) if *g == w.data1 => "the old bytes".to_string(),
            Ok(_) => "other bytes".to_string(),
            Err(e) => format!("error {e}"),
        }
    );
}
