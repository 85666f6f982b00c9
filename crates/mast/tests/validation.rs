//! Validation before anything is mounted: messages that name the view, and no request sent
//! for an invalid query.

mod common;

use common::{args, client};
use mastfs_mast::{ColumnConfig, MastError, ProductFilter, QueryError, ViewQuery};
use mastfs_mast_standin::MastStandin;
use serde_json::{json, Map, Value};

fn map(value: Value) -> Map<String, Value> {
    value.as_object().unwrap().clone()
}

#[test]
fn config_example_parses_and_validates() {
    let criteria = map(
        json!({"obs_collection": "HST", "filters": "F606W", "instrument_name": "ACS/WFC",
                              "proposal_id": ["12062"], "dataRights": "PUBLIC"}),
    );
    let products = map(json!({"productSubGroupDescription": "DRZ"}));
    let query = ViewQuery::from_json_maps(&criteria, Some(&products)).unwrap();
    query
        .validate(&ColumnConfig::builtin(), Some("hst-12062-f606w-drz"))
        .unwrap();
    let from_cli = ViewQuery::from_args(
        &args(&[
            "obs_collection=HST",
            "filters=F606W",
            "instrument_name=ACS/WFC",
            "proposal_id=12062",
            "dataRights=PUBLIC",
        ]),
        &args(&["productSubGroupDescription=DRZ"]),
    )
    .unwrap();
    let cfg = ColumnConfig::builtin();
    assert_eq!(
        query.criteria.filters_json(&cfg).unwrap(),
        from_cli.criteria.filters_json(&cfg).unwrap()
    );
    assert_eq!(query.products, from_cli.products);
}

#[test]
fn messages_name_the_view() {
    let cfg = ColumnConfig::builtin();
    let cases: Vec<(Value, Value, &str)> = vec![
        (
            json!({"obs_colection": "HST"}),
            json!({}),
            "view 'v': Filter 'obs_colection' does not exist. Did you mean 'obs_collection'?",
        ),
        (
            json!({"t_exptime": 100}),
            json!({}),
            "view 'v': 't_exptime' is a continuous column and needs a range (e.g. t_exptime=10..20 or [10, 20]), got a single value '100'",
        ),
        (
            json!({"obs_collection": "HST"}),
            json!({"size": "<fifty"}),
            "view 'v': Could not parse numeric filter '<fifty' for column 'size'. Use a number, <x, >x, <=x, >=x or lo..hi, optionally prefixed by !",
        ),
        (
            json!({"obs_collection": "HST"}),
            json!({"productSubGroupDescripton": "DRZ"}),
            "view 'v': Column 'productSubGroupDescripton' not found in product table. Did you mean 'productSubGroupDescription'?",
        ),
    ];
    for (criteria, products, want) in cases {
        let query = ViewQuery::from_json_maps(&map(criteria.clone()), Some(&map(products.clone())))
            .unwrap();
        let err = query.validate(&cfg, Some("v")).unwrap_err();
        assert_eq!(
            err.to_string(),
            want,
            "criteria {criteria}, products {products}"
        );
    }
}

#[test]
fn unsupported_config_values_are_refused() {
    let err =
        ViewQuery::from_json_maps(&map(json!({"obs_collection": {"a": 1}})), None).unwrap_err();
    assert_eq!(
        err.to_string(),
        "'obs_collection': unsupported value {\"a\":1}; use a string, a number or a list of them"
    );
    let err = ProductFilter::from_json_map(&map(json!({"mrp_only": "perhaps"}))).unwrap_err();
    assert_eq!(
        err,
        QueryError::BadBool {
            value: "perhaps".into()
        }
    );
}

#[tokio::test]
async fn invalid_query_sends_nothing() {
    let standin = MastStandin::start().unwrap();
    let query = ViewQuery::from_args(&args(&["instrument=ACS/WFC"]), &[]).unwrap();
    let err = client(&standin)
        .resolve(&query, &ColumnConfig::builtin())
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            MastError::InvalidQuery(QueryError::UnknownFilter { .. })
        ),
        "got {err:?}"
    );
    assert!(
        standin.requests().is_empty(),
        "no request for an invalid query, got {:?}",
        standin.requests()
    );
}

#[test]
fn column_config_persists() {
    let dir = std::env::temp_dir().join(format!("mastfs-mast-colcfg-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("columns.json");
    std::fs::write(&path, ColumnConfig::builtin().to_json()).unwrap();
    let back = ColumnConfig::from_json(&std::fs::read_to_string(&path).unwrap()).unwrap();
    assert_eq!(back, ColumnConfig::builtin());
    std::fs::remove_dir_all(&dir).unwrap();
}
