//! The seed scenario: the query of the seed notebook (obs_collection=HST, filters=F606W,
//! instrument_name=ACS/WFC, proposal_id=12062, dataRights=PUBLIC). The four DRZ product rows
//! are exactly those the notebook prints; everything else (other products, their sizes,
//! exposure obsids, coordinates, the observations the criteria must NOT match) is constructed
//! to look like MAST's answers and is not real archive data.

use serde_json::{json, Map, Value};

use crate::scenario::{Field, Scenario};

/// obsid of association jbeveo010 (seed table).
pub const JBEVEO010_OBSID: u64 = 24832664;
/// obsid of association jbevet010 (seed table).
pub const JBEVET010_OBSID: u64 = 24832668;
/// Parent obsids the seed table lists the DRZ rows under.
pub const PARENT_EO_OBSID: u64 = 26423318;
pub const PARENT_ET_OBSID: u64 = 26421364;
/// Size of both seed DRZ files, bytes.
pub const SEED_DRZ_SIZE: u64 = 219_608_640;

// Constructed exposure-level obsids (not from MAST).
const JBEVEOESQ_OBSID: u64 = 24832650;
const JBEVEOETQ_OBSID: u64 = 24832651;
const JBEVETDQQ_OBSID: u64 = 24832652;

pub(crate) fn observation_fields() -> Vec<Field> {
    [
        ("intentType", "string"),
        ("obs_collection", "string"),
        ("provenance_name", "string"),
        ("instrument_name", "string"),
        ("project", "string"),
        ("filters", "string"),
        ("wavelength_region", "string"),
        ("target_name", "string"),
        ("obs_id", "string"),
        ("s_ra", "float"),
        ("s_dec", "float"),
        ("dataproduct_type", "string"),
        ("calib_level", "int"),
        ("t_exptime", "float"),
        ("proposal_id", "string"),
        ("dataRights", "string"),
        ("obsid", "string"),
        ("objID", "string"),
    ]
    .iter()
    .map(|(n, t)| Field::new(n, t))
    .collect()
}

/// Column order and types of the seed notebook's product table.
pub(crate) fn product_fields() -> Vec<Field> {
    [
        ("obsID", "string"),
        ("obs_collection", "string"),
        ("dataproduct_type", "string"),
        ("obs_id", "string"),
        ("description", "string"),
        ("type", "string"),
        ("dataURI", "string"),
        ("productType", "string"),
        ("productGroupDescription", "string"),
        ("productSubGroupDescription", "string"),
        ("productDocumentationURL", "string"),
        ("project", "string"),
        ("prvversion", "string"),
        ("proposal_id", "string"),
        ("productFilename", "string"),
        ("size", "int"),
        ("parent_obsid", "string"),
        ("dataRights", "string"),
        ("calib_level", "int"),
        ("filters", "string"),
    ]
    .iter()
    .map(|(n, t)| Field::new(n, t))
    .collect()
}

pub(crate) struct Obs<'a> {
    pub obsid: u64,
    pub obs_id: &'a str,
    pub instrument: &'a str,
    pub filters: &'a str,
    pub proposal_id: &'a str,
    pub target: &'a str,
    pub calib_level: u64,
    pub provenance: &'a str,
}

pub(crate) fn observation_row(o: Obs<'_>) -> Map<String, Value> {
    let row = json!({
        "intentType": "science",
        "obs_collection": "HST",
        "provenance_name": o.provenance,
        "instrument_name": o.instrument,
        "project": "HST",
        "filters": o.filters,
        "wavelength_region": "OPTICAL",
        "target_name": o.target,
        "obs_id": o.obs_id,
        "s_ra": 53.1,
        "s_dec": -27.8,
        "dataproduct_type": "image",
        "calib_level": o.calib_level,
        "t_exptime": 2028.0,
        "proposal_id": o.proposal_id,
        "dataRights": "PUBLIC",
        // MAST sends ids as JSON numbers although `fields` says string.
        "obsid": o.obsid,
        "objID": o.obsid + 1_000_000_000,
    });
    row.as_object().cloned().unwrap_or_default()
}

pub(crate) struct Product<'a> {
    pub obsid: u64,
    pub obs_id: &'a str,
    pub file: &'a str,
    pub sub_group: &'a str,
    pub description: &'a str,
    pub product_type: &'a str,
    pub mrp: bool,
    pub size: u64,
    pub parent: u64,
    pub calib_level: u64,
    pub project: &'a str,
    pub prvversion: Value,
}

pub(crate) fn product_row(p: Product<'_>) -> Map<String, Value> {
    let kind = if matches!(p.sub_group, "DRZ" | "DRC") {
        "D"
    } else {
        "S"
    };
    let row = json!({
        "obsID": p.obsid,
        "obs_collection": "HST",
        "dataproduct_type": "image",
        "obs_id": p.obs_id,
        "description": p.description,
        "type": kind,
        "dataURI": format!("mast:HST/product/{}", p.file),
        "productType": p.product_type,
        "productGroupDescription": if p.mrp { Value::from("Minimum Recommended Products") } else { Value::Null },
        "productSubGroupDescription": p.sub_group,
        "productDocumentationURL": null,
        "project": p.project,
        "prvversion": p.prvversion,
        "proposal_id": "12062",
        "productFilename": p.file,
        "size": p.size,
        "parent_obsid": p.parent.to_string(),
        "dataRights": "PUBLIC",
        "calib_level": p.calib_level,
        "filters": "F606W",
    });
    row.as_object().cloned().unwrap_or_default()
}

const DRZ_DESCRIPTION: &str = "DADS DRZ file - Calibrated combined image ACS/WFC3/WFPC2/STIS";

/// A seed DRZ row exactly as the notebook prints it.
fn seed_drz(obsid: u64, dataset: &str, parent: u64) -> Map<String, Value> {
    product_row(Product {
        obsid,
        obs_id: dataset,
        file: &format!("{dataset}_drz.fits"),
        sub_group: "DRZ",
        description: DRZ_DESCRIPTION,
        product_type: "SCIENCE",
        mrp: true,
        size: SEED_DRZ_SIZE,
        parent,
        calib_level: 3,
        project: "CALACS",
        prvversion: Value::from("DrizzlePac 3.6.2"),
    })
}

/// A constructed companion product of an exposure or association.
fn companion(obsid: u64, dataset: &str, suffix: &str, parent: u64) -> Map<String, Value> {
    let (sub_group, description, product_type, mrp, size, calib) = match suffix {
        "flt.fits" => (
            "FLT",
            "DADS FLT file - Calibrated exposure ACS/WFC3/STIS/COS",
            "SCIENCE",
            true,
            168_462_720,
            2,
        ),
        "flc.fits" => (
            "FLC",
            "DADS FLC file - CTE-corrected calibrated exposure ACS/WFC3",
            "SCIENCE",
            false,
            168_468_480,
            2,
        ),
        "raw.fits" => (
            "RAW",
            "DADS RAW file - Raw exposure ACS/WFC3/STIS/COS",
            "SCIENCE",
            false,
            42_379_200,
            1,
        ),
        "flt_hlet.fits" => ("FLT_HLET", "Headerlet file", "AUXILIARY", false, 83_520, 2),
        "spt.fits" => (
            "SPT",
            "DADS SPT file - Engineering telemetry ACS/WFC3/NICMOS/COS/STIS",
            "AUXILIARY",
            false,
            40_320,
            1,
        ),
        "trl.fits" => (
            "TRL",
            "DADS TRL file - Processing log",
            "AUXILIARY",
            false,
            54_720,
            2,
        ),
        "log.txt" => ("LOG", "DADS LOG file", "AUXILIARY", false, 2_140, 1),
        "raw.jpg" => ("RAW", "Preview-Full", "PREVIEW", false, 251_904, 1),
        "asn.fits" => (
            "ASN",
            "DADS ASN file - Association ACS/WFC3/STIS/NICMOS",
            "AUXILIARY",
            false,
            11_520,
            1,
        ),
        "drc.fits" => (
            "DRC",
            "DADS DRC file - CTE-corrected calibrated combined image ACS/WFC3",
            "SCIENCE",
            true,
            219_614_400,
            3,
        ),
        _ => (
            "UNKNOWN",
            "Constructed product",
            "AUXILIARY",
            false,
            1_000,
            1,
        ),
    };
    product_row(Product {
        obsid,
        obs_id: dataset,
        file: &format!("{dataset}_{suffix}"),
        sub_group,
        description,
        product_type,
        mrp,
        size,
        parent,
        calib_level: calib,
        project: "CALACS",
        prvversion: Value::Null,
    })
}

/// A constructed HAP (Hubble Advanced Products) mosaic that path_lookup does not know.
fn hap_product(obsid: u64, name: &str, parent: u64) -> Map<String, Value> {
    product_row(Product {
        obsid,
        obs_id: name,
        file: &format!("{name}_drc.fits"),
        sub_group: "DRC",
        description: "HAP single-visit mosaic",
        product_type: "SCIENCE",
        mrp: true,
        size: 230_000_000,
        parent,
        calib_level: 3,
        project: "HAP-SVM",
        prvversion: Value::Null,
    })
}

pub(crate) fn scenario() -> Scenario {
    let mut s = Scenario::empty("seed");
    s.observation_fields = observation_fields();
    s.product_fields = product_fields();
    let hap_eo = "hst_12062_eo_acs_wfc_f606w_jbeveo";
    let hap_et = "hst_12062_et_acs_wfc_f606w_jbevet";
    let obs = [
        (
            JBEVEO010_OBSID,
            "jbeveo010",
            "ACS/WFC",
            "F606W",
            "12062",
            3,
            "CALACS",
        ),
        (
            JBEVET010_OBSID,
            "jbevet010",
            "ACS/WFC",
            "F606W",
            "12062",
            3,
            "CALACS",
        ),
        (
            PARENT_EO_OBSID,
            hap_eo,
            "ACS/WFC",
            "F606W",
            "12062",
            3,
            "HAP-SVM",
        ),
        (
            PARENT_ET_OBSID,
            hap_et,
            "ACS/WFC",
            "F606W",
            "12062",
            3,
            "HAP-SVM",
        ),
        // Constructed rows the seed criteria must not match.
        (
            24832670,
            "jbevex010",
            "ACS/WFC",
            "F814W",
            "12062",
            3,
            "CALACS",
        ),
        (
            24832690,
            "ibev01010",
            "WFC3/UVIS",
            "F606W",
            "12062",
            3,
            "CALWF3",
        ),
        (
            24832700,
            "jbzz01010",
            "ACS/WFC",
            "F606W;F814W",
            "12345",
            3,
            "CALACS",
        ),
    ];
    for (obsid, obs_id, instrument, filters, proposal_id, calib_level, provenance) in obs {
        s.observations.push(observation_row(Obs {
            obsid,
            obs_id,
            instrument,
            filters,
            proposal_id,
            target: "SEED-FIELD",
            calib_level,
            provenance,
        }));
    }
    // Product order: the four DRZ rows come out in the notebook's order.
    s.products = vec![
        // Listed under the HAP parent of jbeveo010.
        companion(
            JBEVEOESQ_OBSID,
            "jbeveoesq",
            "flt_hlet.fits",
            PARENT_EO_OBSID,
        ),
        companion(JBEVEOESQ_OBSID, "jbeveoesq", "flt.fits", PARENT_EO_OBSID),
        seed_drz(JBEVEO010_OBSID, "jbeveo010", PARENT_EO_OBSID),
        hap_product(PARENT_EO_OBSID, hap_eo, PARENT_EO_OBSID),
        // Listed under jbeveo010 itself.
        companion(
            JBEVEOESQ_OBSID,
            "jbeveoesq",
            "flt_hlet.fits",
            JBEVEO010_OBSID,
        ),
        companion(JBEVEOESQ_OBSID, "jbeveoesq", "spt.fits", JBEVEO010_OBSID),
        companion(JBEVEOESQ_OBSID, "jbeveoesq", "trl.fits", JBEVEO010_OBSID),
        companion(JBEVEOESQ_OBSID, "jbeveoesq", "raw.jpg", JBEVEO010_OBSID),
        companion(JBEVEOESQ_OBSID, "jbeveoesq", "flc.fits", JBEVEO010_OBSID),
        companion(JBEVEOESQ_OBSID, "jbeveoesq", "flt.fits", JBEVEO010_OBSID),
        companion(JBEVEOESQ_OBSID, "jbeveoesq", "raw.fits", JBEVEO010_OBSID),
        companion(JBEVEOETQ_OBSID, "jbeveoetq", "flt.fits", JBEVEO010_OBSID),
        companion(JBEVEO010_OBSID, "jbeveo010", "asn.fits", JBEVEO010_OBSID),
        seed_drz(JBEVEO010_OBSID, "jbeveo010", JBEVEO010_OBSID),
        companion(JBEVEO010_OBSID, "jbeveo010", "drc.fits", JBEVEO010_OBSID),
        // Listed under jbevet010 itself.
        companion(
            JBEVETDQQ_OBSID,
            "jbevetdqq",
            "flt_hlet.fits",
            JBEVET010_OBSID,
        ),
        companion(JBEVETDQQ_OBSID, "jbevetdqq", "spt.fits", JBEVET010_OBSID),
        companion(JBEVETDQQ_OBSID, "jbevetdqq", "trl.fits", JBEVET010_OBSID),
        companion(JBEVETDQQ_OBSID, "jbevetdqq", "log.txt", JBEVET010_OBSID),
        companion(JBEVETDQQ_OBSID, "jbevetdqq", "raw.jpg", JBEVET010_OBSID),
        companion(JBEVETDQQ_OBSID, "jbevetdqq", "flt.fits", JBEVET010_OBSID),
        companion(JBEVETDQQ_OBSID, "jbevetdqq", "raw.fits", JBEVET010_OBSID),
        companion(JBEVET010_OBSID, "jbevet010", "asn.fits", JBEVET010_OBSID),
        seed_drz(JBEVET010_OBSID, "jbevet010", JBEVET010_OBSID),
        companion(JBEVET010_OBSID, "jbevet010", "drc.fits", JBEVET010_OBSID),
        // Listed under the HAP parent of jbevet010.
        companion(JBEVETDQQ_OBSID, "jbevetdqq", "flt.fits", PARENT_ET_OBSID),
        seed_drz(JBEVET010_OBSID, "jbevet010", PARENT_ET_OBSID),
        hap_product(PARENT_ET_OBSID, hap_et, PARENT_ET_OBSID),
        // Products of the observations the criteria exclude.
        companion(24832670, "jbevex010", "drc.fits", 24832670),
        companion(24832670, "jbevex010", "flt.fits", 24832670),
        companion(24832690, "ibev01010", "drc.fits", 24832690),
        companion(24832700, "jbzz01010", "drc.fits", 24832700),
    ];
    // The excluded observations have DRZ files too: a stand-in or client that ignored the
    // criteria would then show more than the seed's four DRZ rows.
    s.products.push(seed_like_drz(24832670, "jbevex010"));
    s.products.push(seed_like_drz(24832690, "ibev01010"));
    s.products.push(seed_like_drz(24832700, "jbzz01010"));

    for row in &s.products {
        let (Some(uri), Some(file)) = (
            row.get("dataURI").and_then(Value::as_str),
            row.get("productFilename").and_then(Value::as_str),
        ) else {
            continue;
        };
        let path = if file.starts_with("hst_") {
            None
        } else {
            let dataset = &file[..file.len().min(9)];
            Some(format!(
                "/hst/public/{}/{dataset}/{file}",
                &dataset[..dataset.len().min(4)]
            ))
        };
        s.cloud_paths.insert(uri.to_string(), path);
    }
    s
}

/// A DRZ of a constructed observation (different size from the seed's, so a test that
/// wrongly includes it shows up).
fn seed_like_drz(obsid: u64, dataset: &str) -> Map<String, Value> {
    let mut row = seed_drz(obsid, dataset, obsid);
    row.insert("size".to_string(), Value::from(219_600_000u64));
    row
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeSet;

    #[test]
    fn seed_drz_rows_match_the_notebook() {
        let s = scenario();
        let wanted: BTreeSet<String> = [
            JBEVEO010_OBSID,
            JBEVET010_OBSID,
            PARENT_EO_OBSID,
            PARENT_ET_OBSID,
        ]
        .iter()
        .map(|o| o.to_string())
        .collect();
        let drz: Vec<(String, String, String)> = s
            .products_for(&wanted)
            .iter()
            .filter(|r| r.get("productSubGroupDescription").and_then(Value::as_str) == Some("DRZ"))
            .map(|r| {
                (
                    r["obsID"].to_string(),
                    r["productFilename"].as_str().unwrap().to_string(),
                    r["parent_obsid"].as_str().unwrap().to_string(),
                )
            })
            .collect();
        let want = vec![
            (
                "24832664".to_string(),
                "jbeveo010_drz.fits".to_string(),
                "26423318".to_string(),
            ),
            (
                "24832664".to_string(),
                "jbeveo010_drz.fits".to_string(),
                "24832664".to_string(),
            ),
            (
                "24832668".to_string(),
                "jbevet010_drz.fits".to_string(),
                "24832668".to_string(),
            ),
            (
                "24832668".to_string(),
                "jbevet010_drz.fits".to_string(),
                "26421364".to_string(),
            ),
        ];
        assert_eq!(drz, want);
    }

    #[test]
    fn seed_paths() {
        let s = scenario();
        assert_eq!(
            s.cloud_paths.get("mast:HST/product/jbeveo010_drz.fits"),
            Some(&Some(
                "/hst/public/jbev/jbeveo010/jbeveo010_drz.fits".to_string()
            ))
        );
        assert_eq!(
            s.cloud_paths.get("mast:HST/product/jbevetdqq_spt.fits"),
            Some(&Some(
                "/hst/public/jbev/jbevetdqq/jbevetdqq_spt.fits".to_string()
            ))
        );
        assert_eq!(
            s.cloud_paths
                .get("mast:HST/product/hst_12062_eo_acs_wfc_f606w_jbeveo_drc.fits"),
            Some(&None)
        );
        let objects = s.cloud_objects();
        assert!(objects.contains(&(
            "hst/public/jbev/jbevet010/jbevet010_drz.fits".to_string(),
            Some(SEED_DRZ_SIZE)
        )));
    }
}
