//! The wire protocol against the stand-in: exact request encoding, paging, long polling with
//! one cacheBreaker, product batches of 500, FFI exclusion, path_lookup chunks with nulls.

mod common;

use std::time::Duration;

use common::{args, client, fast_options, seed_query};
use mastfs_mast::{ColumnConfig, Criteria, MastClient, MastError, ProductFilter, ViewQuery};
use mastfs_mast_standin::{Endpoint, Fault, MastStandin, Scenario};
use serde_json::{json, Value};

/// The wire body of the seed request in the protocol notes (mast-api.md §4.3).
const DOC_SEED_WIRE_BODY: &str = "request=%7B%22service%22%3A%20%22Mast.Caom.Filtered%22%2C%20%22params%22%3A%20%7B%22columns%22%3A%20%22%2A%22%2C%20%22filters%22%3A%20%5B%7B%22paramName%22%3A%20%22obs_collection%22%2C%20%22separator%22%3A%20%22%3B%22%2C%20%22values%22%3A%20%5B%22HST%22%5D%7D%2C%20%7B%22paramName%22%3A%20%22filters%22%2C%20%22separator%22%3A%20%22%3B%22%2C%20%22values%22%3A%20%5B%22F606W%22%5D%7D%2C%20%7B%22paramName%22%3A%20%22instrument_name%22%2C%20%22values%22%3A%20%5B%22ACS/WFC%22%5D%7D%2C%20%7B%22paramName%22%3A%20%22proposal_id%22%2C%20%22values%22%3A%20%5B%2212062%22%5D%7D%2C%20%7B%22paramName%22%3A%20%22dataRights%22%2C%20%22values%22%3A%20%5B%22PUBLIC%22%5D%7D%5D%7D%2C%20%22format%22%3A%20%22json%22%2C%20%22pagesize%22%3A%2050000%2C%20%22page%22%3A%201%2C%20%22cacheBreaker%22%3A%20%226f1c1f8e-0d3e-4a55-9a55-3b1a2c7d9e10%22%7D";
const DOC_CACHE_BREAKER: &str = "6f1c1f8e-0d3e-4a55-9a55-3b1a2c7d9e10";

fn filtered_requests(standin: &MastStandin) -> Vec<mastfs_mast_standin::InvokeRequest> {
    standin
        .invoke_requests()
        .into_iter()
        .filter(|r| r.service == "Mast.Caom.Filtered")
        .collect()
}

fn products_requests(standin: &MastStandin) -> Vec<mastfs_mast_standin::InvokeRequest> {
    standin
        .invoke_requests()
        .into_iter()
        .filter(|r| r.service == "Mast.Caom.Products")
        .collect()
}

fn query(criteria: &[&str]) -> ViewQuery {
    ViewQuery {
        criteria: Criteria::from_args(&args(criteria)).unwrap(),
        products: ProductFilter::default(),
    }
}

#[tokio::test]
async fn seed_filters_and_wire_body_equal_the_docs() {
    let standin = MastStandin::start().unwrap();
    client(&standin)
        .resolve(&seed_query(), &ColumnConfig::builtin())
        .await
        .unwrap();
    let first = &filtered_requests(&standin)[0];
    let want_filters = json!([
        {"paramName": "obs_collection", "separator": ";", "values": ["HST"]},
        {"paramName": "filters", "separator": ";", "values": ["F606W"]},
        {"paramName": "instrument_name", "values": ["ACS/WFC"]},
        {"paramName": "proposal_id", "values": ["12062"]},
        {"paramName": "dataRights", "values": ["PUBLIC"]}
    ]);
    assert_eq!(first.params["filters"], want_filters);
    assert_eq!(first.params["columns"], "*");
    assert_eq!(
        (first.format.as_deref(), first.pagesize, first.page),
        (Some("json"), Some(50000), Some(1))
    );
    let cache_breaker = first.cache_breaker.clone().unwrap();
    let body = &standin.requests()[0].body;
    assert_eq!(
        *body,
        DOC_SEED_WIRE_BODY.replace(DOC_CACHE_BREAKER, &cache_breaker)
    );
}

#[tokio::test]
async fn pages_are_followed_with_one_cache_breaker() {
    let standin = MastStandin::start_with(Scenario::generated(5, 1)).unwrap();
    standin.set_page_rows(Some(2));
    let resolution = client(&standin)
        .resolve(&query(&["proposal_id=99999"]), &ColumnConfig::builtin())
        .await
        .unwrap();
    assert_eq!(resolution.observations, 5);
    assert_eq!(resolution.total_products, 5);
    for (what, requests) in [
        ("Filtered", filtered_requests(&standin)),
        ("Products", products_requests(&standin)),
    ] {
        let pages: Vec<Option<u64>> = requests.iter().map(|r| r.page).collect();
        assert_eq!(pages, vec![Some(1), Some(2), Some(3)], "{what} pages");
        let breakers: Vec<&Option<String>> = requests.iter().map(|r| &r.cache_breaker).collect();
        assert!(
            breakers.iter().all(|b| *b == breakers[0]),
            "{what}: one cacheBreaker across pages, got {breakers:?}"
        );
    }
}

#[tokio::test]
async fn executing_polls_repeat_the_identical_request() {
    let standin = MastStandin::start().unwrap();
    standin.answer_executing(3);
    let resolution = client(&standin)
        .resolve(&seed_query(), &ColumnConfig::builtin())
        .await
        .unwrap();
    assert_eq!(resolution.s3_uris().len(), 2);
    let filtered = filtered_requests(&standin);
    assert_eq!(filtered.len(), 4, "3 EXECUTING answers, then COMPLETE");
    for poll in &filtered[1..] {
        assert_eq!(
            poll.raw_json, filtered[0].raw_json,
            "a poll must replicate the request exactly"
        );
    }
}

#[tokio::test]
async fn endless_executing_ends_within_the_budget() {
    let standin = MastStandin::start().unwrap();
    standin.answer_executing(u32::MAX);
    // A budget of a few polls' worth: long enough that a loaded machine still starts the
    // first attempt inside it (600 ms was used up before attempt 1 under a load of 10).
    let options = mastfs_mast::ClientOptions {
        query_budget: Duration::from_millis(1500),
        poll_interval: Duration::from_millis(50),
        ..fast_options(&standin)
    };
    let started = std::time::Instant::now();
    let err = MastClient::new(options)
        .unwrap()
        .resolve(&seed_query(), &ColumnConfig::builtin())
        .await
        .unwrap_err();
    assert!(
        matches!(err, MastError::Timeout { .. }),
        "expected Timeout, got {err:?}"
    );
    assert!(err.to_string().contains("EXECUTING"), "got {err}");
    assert!(
        started.elapsed() < Duration::from_secs(6),
        "took {:?}",
        started.elapsed()
    );
}

#[tokio::test]
async fn twelve_hundred_observations_make_three_product_batches() {
    let standin = MastStandin::start_with(Scenario::generated(1200, 1)).unwrap();
    let resolution = client(&standin)
        .resolve(&query(&["proposal_id=99999"]), &ColumnConfig::builtin())
        .await
        .unwrap();
    let batches: Vec<Vec<String>> = products_requests(&standin)
        .iter()
        .map(|r| {
            r.params["obsid"]
                .as_str()
                .unwrap()
                .split(',')
                .map(str::to_string)
                .collect()
        })
        .collect();
    let sizes: Vec<usize> = batches.iter().map(Vec::len).collect();
    assert_eq!(sizes, vec![500, 500, 200]);
    assert_eq!(batches[0][0], "90000000");
    assert_eq!(batches[1][0], "90000500");
    assert_eq!(batches[2][199], "90001199");
    let breakers: std::collections::HashSet<_> = products_requests(&standin)
        .into_iter()
        .map(|r| r.cache_breaker)
        .collect();
    assert_eq!(breakers.len(), 3, "a new cacheBreaker per batch");
    assert_eq!(resolution.total_products, 1200);
    assert_eq!(resolution.s3_uris().len(), 1200);
    let chunk_sizes: Vec<usize> = standin
        .path_lookup_requests()
        .iter()
        .map(|r| r.uris.len())
        .collect();
    assert_eq!(chunk_sizes, vec![40; 30], "path_lookup chunks of 40");
}

#[tokio::test]
async fn path_lookup_chunks_and_nulls() {
    let mut scenario = Scenario::generated(100, 1);
    // Every 10th product: null path; every 25th: left out of the answer entirely.
    let uris: Vec<String> = scenario
        .products
        .iter()
        .map(|r| r["dataURI"].as_str().unwrap().to_string())
        .collect();
    for (i, uri) in uris.iter().enumerate() {
        if i % 10 == 3 {
            scenario.cloud_paths.insert(uri.clone(), None);
        }
        if i % 25 == 7 {
            scenario.omitted_from_lookup.insert(uri.clone());
        }
    }
    let standin = MastStandin::start_with(scenario).unwrap();
    let resolution = client(&standin)
        .resolve(&query(&["proposal_id=99999"]), &ColumnConfig::builtin())
        .await
        .unwrap();
    let lookups = standin.path_lookup_requests();
    let sizes: Vec<usize> = lookups.iter().map(|r| r.uris.len()).collect();
    assert_eq!(sizes, vec![40, 40, 20]);
    let sent: Vec<String> = lookups.into_iter().flat_map(|r| r.uris).collect();
    assert_eq!(sent, uris, "every URI once, in product order");
    assert_eq!(resolution.not_in_cloud, 14, "10 null + 4 missing");
    assert_eq!(resolution.s3_uris().len(), 86);
    assert!(resolution.products[3].cloud.is_none() && resolution.products[7].cloud.is_none());
    assert_eq!(
        resolution.products[0].cloud.as_ref().map(|c| c.s3_uri()),
        Some("s3://stpubdata/hst/public/gen0/gen000000/gen000000_drz.fits".to_string())
    );
    assert!(resolution.summary_lines()[0]
        .starts_with("14 of 100 unique product(s) are not available in the cloud"));
}

#[tokio::test]
async fn ffi_observations_are_left_out() {
    let mut scenario = Scenario::generated(4, 1);
    scenario.observations[1].insert("target_name".into(), Value::from("TESS FFI"));
    scenario.observations[2].insert("target_name".into(), Value::from("TICA FFI"));
    let standin = MastStandin::start_with(scenario).unwrap();
    let resolution = client(&standin)
        .resolve(&query(&["proposal_id=99999"]), &ColumnConfig::builtin())
        .await
        .unwrap();
    assert_eq!(
        products_requests(&standin)[0].params["obsid"],
        "90000000,90000003"
    );
    assert_eq!(
        resolution.excluded_ffi,
        vec!["gen000001".to_string(), "gen000002".to_string()]
    );
    assert_eq!(resolution.products.len(), 2);
}

#[tokio::test]
async fn ids_as_strings_or_numbers() {
    let mut scenario = Scenario::generated(3, 1);
    scenario.observations[0].insert("obsid".into(), Value::from("90000000"));
    scenario.products[1].insert("obsID".into(), Value::from("90000001"));
    scenario.products[2].insert("size".into(), Value::from("1000"));
    let standin = MastStandin::start_with(scenario).unwrap();
    let resolution = client(&standin)
        .resolve(&query(&["proposal_id=99999"]), &ColumnConfig::builtin())
        .await
        .unwrap();
    assert_eq!(
        products_requests(&standin)[0].params["obsid"],
        "90000000,90000001,90000002"
    );
    let ids: Vec<&str> = resolution
        .products
        .iter()
        .map(|p| p.obsid.as_str())
        .collect();
    assert_eq!(ids, vec!["90000000", "90000001", "90000002"]);
    assert_eq!(resolution.products[2].size, Some(1000));
}

#[tokio::test]
async fn recorded_fixtures_resolve_like_astroquerys_tests() {
    let standin = MastStandin::start_with(Scenario::recorded()).unwrap();
    let client = client(&standin);
    let query = ViewQuery::from_args(
        &args(&[
            "dataproduct_type=image",
            "proposal_pi=Ost*",
            "s_dec=43.5..45.5",
        ]),
        &args(&["productSubGroupDescription=C3M,DRZ"]),
    )
    .unwrap();
    let resolution = client
        .resolve(&query, &ColumnConfig::builtin())
        .await
        .unwrap();
    assert_eq!(resolution.observations, 3);
    // Like astroquery's mock, the stand-in answers products.json for any obsid list.
    assert_eq!(
        products_requests(&standin)[0].params["obsid"],
        "2003520266,2003520267,2003520268"
    );
    assert_eq!(
        (
            resolution.total_products,
            resolution.filtered_products,
            resolution.duplicates
        ),
        (22, 2, 0)
    );
    assert_eq!(
        resolution.s3_uris(),
        vec!["s3://stpubdata/hst/public/u9o4/u9o40504m/u9o40504m_c3m.fits".to_string()]
    );
    assert_eq!(
        resolution.not_in_cloud, 1,
        "u9o40504m_drz.fits is not in the recorded lookup"
    );
    assert_eq!(
        filtered_requests(&standin)[0].params["filters"],
        json!([
            {"paramName": "dataproduct_type", "values": ["image"]},
            {"paramName": "proposal_pi", "values": [], "freeText": "Ost%"},
            {"paramName": "s_dec", "values": [{"min": 43.5, "max": 45.5}]}
        ])
    );
}

#[tokio::test]
async fn no_results_is_not_an_error() {
    let standin = MastStandin::start().unwrap();
    let resolution = client(&standin)
        .resolve(&query(&["proposal_id=1"]), &ColumnConfig::builtin())
        .await
        .unwrap();
    assert_eq!(resolution.observations, 0);
    assert!(resolution.products.is_empty());
    assert_eq!(
        resolution.summary_lines(),
        vec!["Query returned no results.".to_string()]
    );
    assert!(
        products_requests(&standin).is_empty(),
        "no products request without obsids"
    );
}

#[tokio::test]
async fn remote_error_carries_mast_message() {
    let standin = MastStandin::start().unwrap();
    standin.inject(
        Endpoint::Service("Mast.Caom.Filtered".into()),
        Fault::RemoteError("Bad filter".into()),
        None,
    );
    let err = client(&standin)
        .resolve(&seed_query(), &ColumnConfig::builtin())
        .await
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "Mast.Caom.Filtered: MAST reported an error: status ERROR: Bad filter"
    );
}
