//! The seed notebook's query, end to end against the stand-in: the request sequence, the
//! four DRZ rows, the de-duplication summary and the two s3:// URIs.

mod common;

use common::{client, seed_query};
use mastfs_mast::{render_product_table, resolution_json, ColumnConfig, Resolution};
use mastfs_mast_standin::{Endpoint, MastStandin, SEED_DRZ_SIZE};

async fn resolve_seed(standin: &MastStandin) -> Resolution {
    let client = client(standin);
    let columns = client.column_config().await.unwrap();
    client.resolve(&seed_query(), &columns).await.unwrap()
}

#[tokio::test]
async fn seed_gives_two_uris_and_two_duplicates() {
    let standin = MastStandin::start().unwrap();
    let resolution = resolve_seed(&standin).await;

    assert_eq!(
        resolution.s3_uris(),
        vec![
            "s3://stpubdata/hst/public/jbev/jbeveo010/jbeveo010_drz.fits".to_string(),
            "s3://stpubdata/hst/public/jbev/jbevet010/jbevet010_drz.fits".to_string(),
        ]
    );
    assert_eq!(
        resolution.summary_lines(),
        vec!["2 of 4 products were duplicates. Only 2 unique product(s).".to_string()]
    );
    assert_eq!(
        resolution.observations, 4,
        "seed criteria match 4 of the 7 observations"
    );
    assert_eq!(
        (
            resolution.filtered_products,
            resolution.duplicates,
            resolution.not_in_cloud
        ),
        (4, 2, 0)
    );
    let sizes: Vec<Option<u64>> = resolution.products.iter().map(|p| p.size).collect();
    assert_eq!(sizes, vec![Some(SEED_DRZ_SIZE), Some(SEED_DRZ_SIZE)]);
    let first = &resolution.products[0];
    assert_eq!(
        (
            first.obsid.as_str(),
            first.obs_id.as_str(),
            first.product_filename.as_str()
        ),
        ("24832664", "jbeveo010", "jbeveo010_drz.fits")
    );
    // First occurrence wins: the first jbeveo010 row is the one listed under 26423318.
    assert_eq!(
        first.row.get("parent_obsid").and_then(|v| v.as_str()),
        Some("26423318")
    );
}

#[tokio::test]
async fn seed_request_sequence() {
    let standin = MastStandin::start().unwrap();
    resolve_seed(&standin).await;
    let endpoints: Vec<Endpoint> = standin.requests().into_iter().map(|r| r.endpoint).collect();
    assert_eq!(
        endpoints,
        vec![
            Endpoint::ColumnsConfig,
            Endpoint::Invoke,
            Endpoint::Invoke,
            Endpoint::PathLookup
        ],
        "columnsconfig, Filtered, Products, path_lookup"
    );
    let invokes = standin.invoke_requests();
    assert_eq!(invokes[0].service, "Mast.Caom.Filtered");
    assert_eq!(invokes[1].service, "Mast.Caom.Products");
    assert_eq!(
        invokes[1].params,
        serde_json::json!({"obsid": "24832664,24832668,26423318,26421364"})
    );
    assert_ne!(
        invokes[0].cache_breaker, invokes[1].cache_breaker,
        "each logical query gets its own cacheBreaker"
    );
    let lookups = standin.path_lookup_requests();
    assert_eq!(lookups.len(), 1);
    assert_eq!(
        lookups[0].uris,
        vec![
            "mast:HST/product/jbeveo010_drz.fits".to_string(),
            "mast:HST/product/jbevet010_drz.fits".to_string(),
        ]
    );
    assert_eq!(lookups[0].use_cloud_path.as_deref(), Some("True"));
    let config_request = &standin.requests()[0];
    assert_eq!(
        (config_request.method.as_str(), config_request.body.as_str()),
        ("POST", "colConfigId=Mast.Caom.Cone")
    );
}

#[tokio::test]
async fn seed_table_prints_like_astroquery() {
    let standin = MastStandin::start().unwrap();
    let resolution = resolve_seed(&standin).await;
    let table = render_product_table(&resolution);
    let lines: Vec<&str> = table.lines().collect();
    assert_eq!(lines.len(), 6, "header, dashes, 4 rows; got:\n{table}");
    let header: Vec<&str> = lines[0].split_whitespace().collect();
    assert_eq!(
        header,
        vec![
            "obsID",
            "obs_collection",
            "dataproduct_type",
            "obs_id",
            "description",
            "type",
            "dataURI",
            "productType",
            "productGroupDescription",
            "productSubGroupDescription",
            "productDocumentationURL",
            "project",
            "prvversion",
            "proposal_id",
            "productFilename",
            "size",
            "parent_obsid",
            "dataRights",
            "calib_level",
            "filters",
        ]
    );
    let want_first_row = "24832664            HST            image jbeveo010 DADS DRZ file - Calibrated combined image ACS/WFC3/WFPC2/STIS    D mast:HST/product/jbeveo010_drz.fits     SCIENCE Minimum Recommended Products                        DRZ                      --  CALACS DrizzlePac 3.6.2       12062 jbeveo010_drz.fits 219608640     26423318     PUBLIC           3   F606W";
    assert_eq!(lines[2], want_first_row);
    let parents: Vec<&str> = lines[2..]
        .iter()
        .map(|l| l.split_whitespace().rev().nth(3).unwrap_or(""))
        .collect();
    assert_eq!(
        parents,
        vec!["26423318", "24832664", "24832668", "26421364"],
        "parent_obsid column; table:\n{table}"
    );
}

#[tokio::test]
async fn resolution_round_trips_and_renders_json() {
    let standin = MastStandin::start().unwrap();
    let resolution = resolve_seed(&standin).await;
    let text = serde_json::to_string(&resolution).unwrap();
    let back: Resolution = serde_json::from_str(&text).unwrap();
    assert_eq!(back, resolution);
    let report = resolution_json(&resolution);
    assert_eq!(report["duplicates"], 2);
    assert_eq!(report["unique_products"], 2);
    assert_eq!(report["filtered_rows"].as_array().map(Vec::len), Some(4));
    assert_eq!(
        report["s3_uris"][1],
        "s3://stpubdata/hst/public/jbev/jbevet010/jbevet010_drz.fits"
    );
    assert_eq!(
        report["products"][0]["key"],
        "hst/public/jbev/jbeveo010/jbeveo010_drz.fits"
    );
}

#[tokio::test]
async fn builtin_column_config_equals_the_served_one() {
    let standin = MastStandin::start().unwrap();
    let served = client(&standin).column_config().await.unwrap();
    assert_eq!(served, ColumnConfig::builtin());
}

#[tokio::test]
async fn unfiltered_seed_counts_duplicates_and_cloud_misses() {
    let standin = MastStandin::start().unwrap();
    let client = client(&standin);
    let mut query = seed_query();
    query.products = Default::default();
    let resolution = client
        .resolve(&query, &ColumnConfig::builtin())
        .await
        .unwrap();
    assert_eq!(
        resolution.total_products, 28,
        "products listed under the 4 matching obsids"
    );
    assert_eq!(resolution.filtered_products, 28);
    assert_eq!(resolution.duplicates, 5);
    assert_eq!(resolution.products.len(), 23);
    assert_eq!(
        resolution.not_in_cloud, 2,
        "the two HAP mosaics have no cloud path"
    );
    let summary = resolution.summary_lines();
    assert_eq!(
        summary[0],
        "5 of 28 products were duplicates. Only 23 unique product(s)."
    );
    assert!(
        summary[1].starts_with("2 of 23 unique product(s) are not available in the cloud: mast:HST/product/hst_12062_eo_acs_wfc_f606w_jbeveo_drc.fits"),
        "got {summary:?}"
    );
}
