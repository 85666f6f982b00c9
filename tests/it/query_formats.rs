//! `mastfs query --format`: each format read back by the tool its users read it with
//! (astropy for the tables, serde for JSON), with the seed query against the MAST stand-in.

use std::process::Command;

use crate::support::*;

const SEED: [&str; 7] = [
    "obs_collection=HST",
    "filters=F606W",
    "instrument_name=ACS/WFC",
    "proposal_id=12062",
    "dataRights=PUBLIC",
    "--products",
    "productSubGroupDescription=DRZ",
];

fn query(mast: &MastStandin, home: &std::path::Path, format: &str) -> String {
    let out = mastfs_command(home)
        .arg("query")
        .args(SEED)
        .args(["--format", format, "--mast-url", &mast.base_url()])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "query --format {format}: {}",
        text(&out)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// What astropy makes of `text` read with `reader` (Python source taking `path`): one line
/// per column, `name dtype first-value`.
fn astropy_reads(text: &str, reader: &str) -> Option<String> {
    let python = venv_python();
    if !tool_available(
        "the project venv with astropy (scripts/setup-python.sh)",
        python.is_some(),
    ) {
        return None;
    }
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("table");
    std::fs::write(&path, text).unwrap();
    let script = format!(
        "import sys\npath = sys.argv[1]\n{reader}\n\
         print(len(t))\n\
         for c in t.colnames: print(c, t[c].dtype.kind, t[c][0])\n"
    );
    let out = Command::new(python.unwrap())
        .args(["-c", &script])
        .arg(&path)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "astropy could not read it ({reader}): {}\n---\n{text}",
        String::from_utf8_lossy(&out.stderr)
    );
    Some(String::from_utf8(out.stdout).unwrap())
}

#[test]
fn every_format_reads_back_with_its_columns() {
    let mast = MastStandin::start().unwrap();
    let home = tempfile::tempdir().unwrap();
    let key = "s3://stpubdata/hst/public/jbev/jbeveo010/jbeveo010_drz.fits";

    let uris = query(&mast, home.path(), "uris");
    assert_eq!(uris.lines().next(), Some(key), "uris:\n{uris}");

    let json: serde_json::Value = serde_json::from_str(&query(&mast, home.path(), "json")).unwrap();
    assert_eq!(json["format_version"], 1, "{json}");
    assert_eq!(json["s3_uris"][0], key, "{json}");
    assert!(
        json["resolved_at"]
            .as_str()
            .is_some_and(|t| t.ends_with('Z')),
        "{json}"
    );

    let readers = [
        ("table", "from astropy.io import ascii; t = ascii.read(path, format='fixed_width_two_line')"),
        ("csv", "from astropy.io import ascii; t = ascii.read(path, format='csv')"),
        ("ecsv", "from astropy.table import Table; t = Table.read(path, format='ascii.ecsv')"),
        ("votable", "from astropy.io.votable import parse_single_table; t = parse_single_table(path).to_table()"),
    ];
    for (format, reader) in readers {
        let text = query(&mast, home.path(), format);
        let Some(read) = astropy_reads(&text, reader) else {
            return;
        };
        let rows: usize = read
            .lines()
            .next()
            .and_then(|l| l.parse().ok())
            .unwrap_or(0);
        assert_eq!(
            rows, 4,
            "{format}: the 4 filtered rows (duplicates included):\n{read}"
        );
        let column = |name: &str| {
            read.lines()
                .find(|l| l.split(' ').next() == Some(name))
                .unwrap_or_else(|| panic!("{format}: no column {name}:\n{read}"))
                .to_string()
        };
        assert!(
            column("productFilename").ends_with("jbeveo010_drz.fits"),
            "{format}: {read}"
        );
        assert!(column("s3_uri").ends_with(key), "{format}: {read}");
        if format != "csv" {
            // Types kept (ECSV and VOTable declare them; the table's numbers read as numbers).
            assert!(
                column("size").starts_with("size i "),
                "{format}: size should be an integer column: {}",
                column("size")
            );
        }
    }
}

/// `mastfs query ARGS --format uris` against the stand-in: (success, stdout, stderr).
fn query_uris(mast: &MastStandin, home: &std::path::Path, args: &[&str]) -> (bool, String, String) {
    let out = mastfs_command(home)
        .arg("query")
        .args(args)
        .args(["--format", "uris", "--mast-url", &mast.base_url()])
        .output()
        .unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// The `params.position` of the last `Mast.Caom.Filtered.Position` request, if any.
fn last_position(mast: &MastStandin) -> Option<String> {
    mast.requests()
        .iter()
        .rev()
        .filter_map(|r| r.invoke.as_ref())
        .find(|i| i.service == "Mast.Caom.Filtered.Position")
        .and_then(|i| {
            i.params
                .get("position")
                .and_then(|p| p.as_str())
                .map(str::to_string)
        })
}

#[test]
fn positional_criteria_search_a_cone_around_coordinates_or_a_resolved_name() {
    let mast = MastStandin::start().unwrap();
    let home = tempfile::tempdir().unwrap();
    let seed = &SEED[..5];

    // Around the seed observations (s_ra 53.1, s_dec -27.8): the seed products.
    let mut args = seed.to_vec();
    args.extend([
        "coordinates=53.1 -27.8",
        "radius=6 arcmin",
        "--products",
        "productSubGroupDescription=DRZ",
    ]);
    let (ok, uris, err) = query_uris(&mast, home.path(), &args);
    assert!(ok, "coordinates query failed: {err}");
    assert_eq!(
        uris.lines().count(),
        2,
        "the two seed DRZ files:\n{uris}\n{err}"
    );
    assert_eq!(last_position(&mast).as_deref(), Some("53.1, -27.8, 0.1"));

    // M101, resolved by the name resolver: far from them, so nothing.
    let mut args = seed.to_vec();
    args.push("objectname=M101");
    let (ok, uris, err) = query_uris(&mast, home.path(), &args);
    assert!(ok, "objectname query failed: {err}");
    assert!(uris.is_empty(), "nothing near M101 in the seed:\n{uris}");
    let resolver = mast
        .requests()
        .into_iter()
        .find(|r| r.path == "/Santa-war/query")
        .expect("the name resolver was asked");
    assert!(
        resolver
            .query
            .as_deref()
            .unwrap_or_default()
            .contains("name=M101"),
        "resolver query: {:?}",
        resolver.query
    );
    let position = last_position(&mast).unwrap_or_default();
    assert!(
        position.starts_with("210.80") && position.ends_with(", 0.2"),
        "M101's coordinates and the default radius, got {position:?}"
    );

    // object_name (astroquery's other spelling) of an unknown object: a message.
    let mut args = seed.to_vec();
    args.push("object_name=No Such Object");
    let (ok, _, err) = query_uris(&mast, home.path(), &args);
    assert!(
        !ok && err.contains("does not know 'No Such Object'"),
        "unknown name: {err}"
    );

    // Both a name and coordinates: refused before any request.
    let mut args = seed.to_vec();
    args.extend(["objectname=M101", "coordinates=1 2"]);
    let (ok, _, err) = query_uris(&mast, home.path(), &args);
    assert!(
        !ok && err.contains("not both"),
        "name and coordinates: {err}"
    );
}
