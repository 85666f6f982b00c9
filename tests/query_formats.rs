//! `mastfs query --format`: each format read back by the tool its users read it with
//! (astropy for the tables, serde for JSON), with the seed query against the MAST stand-in.

mod support;

use std::process::Command;

use support::*;

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
