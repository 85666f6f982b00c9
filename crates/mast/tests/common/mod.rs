//! Shared helpers of the client's integration tests: a client aimed at a stand-in with
//! short timeouts, and argument helpers.

#![allow(dead_code)]

use std::time::Duration;

use mastfs_mast::{ClientOptions, MastClient, ViewQuery};
use mastfs_mast_standin::MastStandin;

/// Options for tests: fast polls and retries, generous but finite budgets.
pub fn fast_options(standin: &MastStandin) -> ClientOptions {
    ClientOptions {
        base_url: standin.base_url(),
        connect_timeout: Duration::from_secs(2),
        request_timeout: Duration::from_secs(5),
        query_budget: Duration::from_secs(20),
        retries: 2,
        retry_backoff: Duration::from_millis(10),
        poll_interval: Duration::from_millis(5),
        ..ClientOptions::default()
    }
}

pub fn client(standin: &MastStandin) -> MastClient {
    MastClient::new(fast_options(standin)).unwrap()
}

pub fn args(list: &[&str]) -> Vec<String> {
    list.iter().map(|s| s.to_string()).collect()
}

/// The seed notebook's query.
pub fn seed_query() -> ViewQuery {
    ViewQuery::from_args(
        &args(&[
            "obs_collection=HST",
            "filters=F606W",
            "instrument_name=ACS/WFC",
            "proposal_id=12062",
            "dataRights=PUBLIC",
        ]),
        &args(&["productSubGroupDescription=DRZ"]),
    )
    .unwrap()
}
