//! mastfs-mast: a client of the MAST portal API that turns a view's criteria into the list
//! of products and their `s3://stpubdata/...` locations, request for request the way
//! astroquery's `Observations.get_cloud_uris` does (see `docs/mast-protocol.md` at the repository root),
//! with timeouts, retries, a response-size cap and validation added.
//!
//! Typical use:
//! ```no_run
//! # async fn demo() -> Result<(), mastfs_mast::MastError> {
//! use mastfs_mast::{ClientOptions, ColumnConfig, MastClient, ViewQuery};
//! let client = MastClient::new(ClientOptions::default())?;
//! let columns = client.column_config().await.unwrap_or_else(|_| ColumnConfig::builtin());
//! let args = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
//! let query = ViewQuery::from_args(
//!     &args(&["obs_collection=HST", "filters=F606W", "instrument_name=ACS/WFC", "proposal_id=12062", "dataRights=PUBLIC"]),
//!     &args(&["productSubGroupDescription=DRZ"]),
//! )?;
//! query.validate(&columns, Some("hst-12062-f606w-drz"))?;
//! let resolution = client.resolve(&query, &columns).await?;
//! for uri in resolution.s3_uris() { println!("{uri}"); }
//! # Ok(()) }
//! ```

mod client;
mod cloud;
mod columns;
mod criteria;
mod error;
mod invoke;
mod options;
mod position;
mod product_filter;
mod render;
mod resolution;
mod suggest;
mod transport;
mod values;
mod wire;

pub use client::{
    observation_ids, MastClient, ViewQuery, COLUMNS_CONFIG_ID, COLUMNS_CONFIG_PATH, FFI_TARGETS,
};
pub use cloud::{parse_lookup, path_lookup_query, CloudLocation, PATH_LOOKUP_PATH};
pub use columns::{ColumnConfig, ColumnInfo, ColumnKind};
pub use criteria::{Criteria, Criterion, CriterionValue};
pub use error::{MastError, ParseError, QueryError, ValidationError};
pub use invoke::{
    invoke_body, mashup_request, new_cache_breaker, parse_envelope, Envelope, Field, Table,
    INVOKE_PATH,
};
pub use options::{ClientOptions, DEFAULT_BASE_URL, DEFAULT_BUCKET, DEFAULT_RESOLVER_URL};
pub use position::{
    parse_coordinates, parse_radius, Position, Target, DEFAULT_RADIUS_DEG, RESOLVER_PATH,
};
pub use product_filter::{
    ColumnFilter, CompiledProductFilter, NumericTest, ProductColumns, ProductFilter,
    KNOWN_PRODUCT_COLUMNS, MINIMUM_RECOMMENDED,
};
pub use render::{display_columns, render_product_table, render_table, resolution_json};
pub use resolution::{deduplicate, Resolution, ResolvedProduct};
pub use suggest::{closest_name, edit_distance};
pub use values::Scalar;
pub use wire::WireJson;
