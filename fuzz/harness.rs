//! What each fuzz target does with its input, shared by the libFuzzer targets
//! (fuzz/fuzz_targets/) and the regression replay in the main workspace
//! (tests/it/fuzz_regressions.rs), so a saved finding is replayed through the same code.
//!
//! Every function must return normally for any input: a panic is a finding.

#![allow(dead_code)]

use mastfs_mast::{
    parse_envelope, parse_lookup, ColumnConfig, Criteria, ProductColumns, ProductFilter, ViewQuery,
};
use serde_json::{Map, Value};

/// The fuzz targets by name, as `fuzz/regressions/<name>/` folders name them.
pub const TARGETS: [&str; 7] = [
    "mast_envelope",
    "mast_path_lookup",
    "mast_columns",
    "query_args",
    "config",
    "fits_header",
    "disk_block",
];

/// A MAST invoke response body: decoded, or refused with a message.
pub fn mast_envelope(data: &[u8]) {
    match parse_envelope("Mast.Caom.Filtered", data) {
        Ok(env) => {
            if env.status == "COMPLETE" {
                // Rows were decoded as objects; their observation ids must be readable.
                let _ = mastfs_mast::observation_ids(&env.rows);
                let _ = mastfs_mast::deduplicate(&env.rows);
            }
        }
        Err(e) => assert!(!e.to_string().is_empty(), "an error without a message"),
    }
}

/// A path_lookup answer. The input is `uri\nuri\n...\0body`: the URIs asked for, then the
/// body; without a NUL the whole input is the body and two fixed URIs are asked for.
pub fn mast_path_lookup(data: &[u8]) {
    let (uris, body): (Vec<String>, &[u8]) = match data.iter().position(|b| *b == 0) {
        Some(i) => (
            String::from_utf8_lossy(&data[..i])
                .lines()
                .map(str::to_string)
                .collect(),
            &data[i + 1..],
        ),
        None => (
            vec![
                "mast:HST/product/jbeveo010_drz.fits".to_string(),
                "mast:JWST/product/x.fits".to_string(),
            ],
            data,
        ),
    };
    match parse_lookup(body, &uris) {
        Ok(keys) => {
            assert_eq!(keys.len(), uris.len(), "one answer per URI asked");
            for key in keys.into_iter().flatten() {
                assert!(
                    !key.is_empty() && !key.starts_with('/'),
                    "a key must be relative and not empty: {key:?}"
                );
            }
        }
        Err(e) => assert!(!e.to_string().is_empty(), "an error without a message"),
    }
}

/// A column configuration (MAST's answer or the persisted copy).
pub fn mast_columns(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(columns) = ColumnConfig::from_json(text) {
        // What was read must round-trip through the persisted form.
        let again = ColumnConfig::from_json(&columns.to_json())
            .unwrap_or_else(|e| panic!("persisted column configuration unreadable: {e}"));
        assert_eq!(again.columns().len(), columns.columns().len());
        let _ = columns.suggest("obs_colection");
    }
}

/// Criteria and product filters, as command-line words (one per line; a line `--products`
/// switches to filters) and, when the input is a JSON object `{criteria, products}`, as
/// config maps. Whatever parses is also validated, compiled and applied to a row.
pub fn query_args(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    let mut criteria = Vec::new();
    let mut products = Vec::new();
    let mut in_products = false;
    for line in text.lines() {
        if line == "--products" {
            in_products = true;
        } else if in_products {
            products.push(line.to_string());
        } else {
            criteria.push(line.to_string());
        }
    }
    let columns = builtin_columns();
    if let Ok(c) = Criteria::from_args(&criteria) {
        if c.validate(columns).is_ok() {
            let _ = c.filters_json(columns);
        }
        let _ = Criteria::from_args(&c.to_args());
    }
    if let Ok(p) = ProductFilter::from_args(&products) {
        exercise_filter(&p);
        let _ = ProductFilter::from_args(&p.to_args());
    }
    let _ = ViewQuery::from_args(&criteria, &products).map(|q| q.validate(columns, Some("fuzz")));
    if let Ok(Value::Object(map)) = serde_json::from_slice::<Value>(data) {
        let part = |k: &str| match map.get(k) {
            Some(Value::Object(m)) => m.clone(),
            _ => Map::new(),
        };
        let (c, p) = (part("criteria"), part("products"));
        let _ = Criteria::from_json_map(&c).map(|c| c.filters_json(columns));
        if let Ok(p) = ProductFilter::from_json_map(&p) {
            exercise_filter(&p);
        }
        let _ = Criteria::from_json_map(&map);
        let _ = ProductFilter::from_json_map(&map);
        let _ = ViewQuery::from_json_maps(&c, Some(&p)).map(|q| q.validate(columns, None));
    }
}

/// The built-in column configuration, parsed once (parsing it per input would dominate).
fn builtin_columns() -> &'static ColumnConfig {
    static COLUMNS: std::sync::OnceLock<ColumnConfig> = std::sync::OnceLock::new();
    COLUMNS.get_or_init(ColumnConfig::builtin)
}

fn exercise_filter(p: &ProductFilter) {
    let _ = p.validate();
    if let Ok(compiled) = p.compile(&ProductColumns::known()) {
        let row: Map<String, Value> = serde_json::from_str(
            r#"{"productFilename": "jbeveo010_drz.fits", "size": 219608640,
                "productSubGroupDescription": "DRZ", "calib_level": 3,
                "productGroupDescription": "Minimum Recommended Products",
                "dataURI": "mast:HST/product/jbeveo010_drz.fits"}"#,
        )
        .expect("the sample row is valid JSON");
        let _ = compiled.matches(&row);
        let _ = compiled.matches(&Map::new());
    }
}

/// A config file: parsed and validated by `parse`, or refused with a message that names
/// the problem.
pub fn config<T, E: std::fmt::Display>(data: &[u8], parse: impl Fn(&str) -> Result<T, E>) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Err(e) = parse(text) {
        assert!(
            !e.to_string().is_empty(),
            "a config error without a message"
        );
    }
}

/// `fits_plan(head, size)`: ranges to fetch after the head.
pub type FitsPlan = dyn Fn(&[u8], u64) -> Vec<std::ops::Range<u64>>;
/// `fits_units(head, size)`: known and to-be-checked unit starts.
pub type FitsUnits = dyn Fn(&[u8], u64) -> (Vec<u64>, Vec<u64>);
/// `fits_units_at(bytes, start, to_check, size)`: unit starts confirmed by fetched bytes.
pub type FitsUnitsAt = dyn Fn(&[u8], u64, &[u64], u64) -> Vec<u64>;

/// What the FITS header scan (src/cache/hints.rs) plans for one file.
pub struct FitsScan<'a> {
    pub plan: &'a FitsPlan,
    pub units: &'a FitsUnits,
    pub units_at: &'a FitsUnitsAt,
}

/// The FITS header scan on a crafted head. The input is the file size (8 bytes, little
/// endian) then the head's bytes; the scan must end, and plan only ranges inside the file,
/// in order, past the head.
pub fn fits_header(data: &[u8], scan: &FitsScan<'_>) {
    let Some((size, head)) = data.split_first_chunk::<8>() else {
        return;
    };
    let size = u64::from_le_bytes(*size);
    let plan = (scan.plan)(head, size);
    for pair in plan.windows(2) {
        assert!(
            pair[0].end < pair[1].start,
            "plan not sorted and apart: {plan:?}"
        );
    }
    for range in &plan {
        assert!(
            range.start < range.end && range.end <= size,
            "planned range {range:?} outside a file of {size} bytes"
        );
    }
    let (known, to_check) = (scan.units)(head, size);
    for offset in known.iter().chain(&to_check) {
        assert!(*offset <= size, "unit start {offset} past the size {size}");
    }
    // The head itself, as if fetched again from each offset to check.
    for start in to_check.iter().copied().chain([0]) {
        for found in (scan.units_at)(head, start, &to_check, size) {
            assert!(found <= size, "confirmed unit {found} past the size {size}");
        }
    }
}

/// `data_range(file, expected_len)`: where a block file holds the block's bytes, if intact.
pub type BlockDataRange = dyn Fn(&[u8], u64) -> Option<std::ops::Range<usize>>;

/// A disk-cache block file (src/cache/block_file.rs) for one fixed block identity. The
/// first input byte chooses: odd, the rest is a whole file as found on disk; even, the rest
/// is the block's bytes, written after the `header` made for them and then damaged at the
/// offset given by the first two bytes of the rest. A file may only be accepted with
/// exactly the bytes that were written, of the length asked for.
pub fn disk_block(data: &[u8], header: &dyn Fn(&[u8]) -> Vec<u8>, data_range: &BlockDataRange) {
    let Some((mode, rest)) = data.split_first() else {
        return;
    };
    if mode % 2 == 1 {
        for expected in [0, rest.len() as u64, 4096] {
            if let Some(range) = data_range(rest, expected) {
                assert!(
                    range.end <= rest.len() && (range.len() as u64) == expected,
                    "accepted range {range:?} of a {}-byte file, {expected} bytes expected",
                    rest.len()
                );
            }
        }
        return;
    }
    let mut file = header(rest);
    file.extend_from_slice(rest);
    let range = data_range(&file, rest.len() as u64)
        .unwrap_or_else(|| panic!("a block as written was refused"));
    assert_eq!(
        &file[range], rest,
        "bytes read back differ from those written"
    );
    let at = rest
        .first_chunk::<2>()
        .map_or(0, |b| u16::from_le_bytes(*b) as usize);
    if at < file.len() {
        file[at] ^= 0x5a;
        assert!(
            data_range(&file, rest.len() as u64).is_none(),
            "a file with byte {at} changed was accepted"
        );
        file.truncate(at);
        assert!(
            data_range(&file, rest.len() as u64).is_none(),
            "a file cut at {at} was accepted"
        );
    }
}
