//! `MastClient`: the whole criteria → observations → products → filter → de-duplicate →
//! path_lookup pipeline, astroquery's `get_cloud_uris` request for request.

use std::time::SystemTime;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::cloud::{lookup_keys, CloudLocation};
use crate::columns::ColumnConfig;
use crate::criteria::Criteria;
use crate::error::{MastError, QueryError};
use crate::invoke::{invoke_all_pages, Table};
use crate::options::ClientOptions;
use crate::position::{resolve_name, wire_position, Target};
use crate::product_filter::{cell_text, ProductColumns, ProductFilter};
use crate::resolution::{deduplicate, Resolution};
use crate::transport::{Deadline, HttpRequest, Transport};
use crate::wire::WireJson;

/// Path of the column configuration endpoint under the base URL.
pub const COLUMNS_CONFIG_PATH: &str = "/portal/Mashup/Mashup.asmx/columnsconfig";
/// The configuration astroquery uses for criteria queries.
pub const COLUMNS_CONFIG_ID: &str = "Mast.Caom.Cone";
/// Observation target names whose products are never listed (too large).
pub const FFI_TARGETS: [&str; 2] = ["TESS FFI", "TICA FFI"];

/// What a view asks for.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ViewQuery {
    pub criteria: Criteria,
    #[serde(default)]
    pub products: ProductFilter,
}

impl ViewQuery {
    /// From command-line arguments: criteria `key=value ...` and `--products key=value ...`.
    pub fn from_args(criteria: &[String], products: &[String]) -> Result<Self, QueryError> {
        Ok(ViewQuery {
            criteria: Criteria::from_args(criteria)?,
            products: ProductFilter::from_args(products)?,
        })
    }

    /// From a view's config maps (`criteria = {...}`, `products = {...}`).
    pub fn from_json_maps(
        criteria: &Map<String, Value>,
        products: Option<&Map<String, Value>>,
    ) -> Result<Self, QueryError> {
        Ok(ViewQuery {
            criteria: Criteria::from_json_map(criteria)?,
            products: match products {
                Some(map) => ProductFilter::from_json_map(map)?,
                None => ProductFilter::default(),
            },
        })
    }

    /// Validate criteria and product filter; errors name `view` when given.
    pub fn validate(&self, columns: &ColumnConfig, view: Option<&str>) -> Result<(), QueryError> {
        self.criteria
            .validate(columns)
            .and_then(|()| self.products.validate())
            .map_err(|e| match view {
                Some(name) => e.in_view(name),
                None => e,
            })
    }
}

/// Client of the MAST portal API.
#[derive(Debug, Clone)]
pub struct MastClient {
    transport: Transport,
}

impl MastClient {
    pub fn new(mut options: ClientOptions) -> Result<Self, MastError> {
        let trimmed = options.base_url.trim().trim_end_matches('/').to_string();
        if !(trimmed.starts_with("http://") || trimmed.starts_with("https://"))
            || trimmed.len() <= "https://".len()
        {
            return Err(MastError::BadBaseUrl {
                url: options.base_url,
                reason: "expected http://host[:port] or https://host".to_string(),
            });
        }
        options.base_url = trimmed;
        Ok(MastClient {
            transport: Transport::new(options)?,
        })
    }

    pub fn options(&self) -> &ClientOptions {
        self.transport.options()
    }

    /// Fetch the criteria column configuration from MAST.
    pub async fn column_config(&self) -> Result<ColumnConfig, MastError> {
        let url = format!("{}{COLUMNS_CONFIG_PATH}", self.options().base_url);
        let request = HttpRequest::PostForm {
            body: format!("colConfigId={COLUMNS_CONFIG_ID}"),
        };
        let what = "columnsconfig";
        let body = self
            .transport
            .exchange(
                what,
                &url,
                &request,
                Deadline::start(self.options().query_budget),
            )
            .await?;
        let value: Value = serde_json::from_slice(&body).map_err(|e| MastError::Malformed {
            what: what.to_string(),
            detail: if e.is_eof() {
                format!("truncated JSON after {} bytes ({e})", body.len())
            } else {
                format!("not valid JSON ({e})")
            },
        })?;
        ColumnConfig::from_mast_value(value).map_err(|e| MastError::Malformed {
            what: what.to_string(),
            detail: e.to_string(),
        })
    }

    /// `Mast.Caom.Filtered` with the criteria: all observation rows (polls and pages followed).
    pub async fn query_observations(
        &self,
        criteria: &Criteria,
        columns: &ColumnConfig,
    ) -> Result<Table, MastError> {
        let filters = criteria.filter_entries(columns)?;
        let deadline = Deadline::start(self.options().query_budget);
        let mut params = vec![
            ("columns".to_string(), WireJson::str("*")),
            ("filters".to_string(), WireJson::Arr(filters)),
        ];
        let service = match &criteria.position {
            None => "Mast.Caom.Filtered",
            Some(position) => {
                let (ra, dec) = match &position.target {
                    Target::Coordinates { ra, dec } => (*ra, *dec),
                    Target::ObjectName(name) => {
                        let resolver = self.options().resolver_base_url();
                        let (ra, dec) =
                            resolve_name(&self.transport, &resolver, name, deadline).await?;
                        tracing::info!("{name} resolved to RA {ra}, Dec {dec} by {resolver}");
                        (ra, dec)
                    }
                };
                params.push((
                    "position".to_string(),
                    WireJson::str(wire_position(ra, dec, position.radius_deg)),
                ));
                "Mast.Caom.Filtered.Position"
            }
        };
        invoke_all_pages(&self.transport, service, WireJson::Obj(params), deadline).await
    }

    /// `Mast.Caom.Products` for the obsids, in batches, all pages of each batch.
    pub async fn product_list(&self, obsids: &[String]) -> Result<Table, MastError> {
        let mut table = Table::default();
        for batch in obsids.chunks(self.options().products_batch_size.max(1)) {
            let params = WireJson::obj([("obsid", WireJson::str(batch.join(",")))]);
            let part = invoke_all_pages(
                &self.transport,
                "Mast.Caom.Products",
                params,
                Deadline::start(self.options().query_budget),
            )
            .await?;
            for field in part.fields {
                if !table.fields.iter().any(|f| f.name == field.name) {
                    table.fields.push(field);
                }
            }
            table.rows.extend(part.rows);
        }
        Ok(table)
    }

    /// S3 locations of the dataURIs, parallel to the input (`None` = not in the cloud).
    pub async fn cloud_locations(
        &self,
        data_uris: &[String],
    ) -> Result<Vec<Option<CloudLocation>>, MastError> {
        let bucket = self.options().bucket.clone();
        Ok(lookup_keys(&self.transport, data_uris)
            .await?
            .into_iter()
            .map(|key| {
                key.map(|key| CloudLocation {
                    bucket: bucket.clone(),
                    key,
                })
            })
            .collect())
    }

    /// Resolve a view: observations → products → filter → de-duplicate → path_lookup.
    pub async fn resolve(
        &self,
        query: &ViewQuery,
        columns: &ColumnConfig,
    ) -> Result<Resolution, MastError> {
        query.validate(columns, None)?;
        let observations = self.query_observations(&query.criteria, columns).await?;
        let (obsids, excluded_ffi) = observation_ids(&observations.rows);
        let mut resolution = Resolution {
            products: Vec::new(),
            filtered_rows: Vec::new(),
            columns: Vec::new(),
            observations: observations.rows.len(),
            excluded_ffi,
            total_products: 0,
            filtered_products: 0,
            duplicates: 0,
            not_in_cloud: 0,
            resolved_at: SystemTime::now(),
        };
        if obsids.is_empty() {
            return Ok(resolution);
        }
        let products = self.product_list(&obsids).await?;
        resolution.total_products = products.rows.len();
        resolution.columns = products.fields.iter().map(|f| f.name.clone()).collect();
        if products.rows.is_empty() {
            return Ok(resolution);
        }
        let product_columns = if products.fields.is_empty() {
            ProductColumns::known()
        } else {
            ProductColumns::from_fields(
                products
                    .fields
                    .iter()
                    .map(|f| (f.name.as_str(), f.kind.as_str())),
            )
        };
        let filter = query.products.compile(&product_columns)?;
        let filtered: Vec<Map<String, Value>> = products
            .rows
            .into_iter()
            .filter(|row| filter.matches(row))
            .collect();
        let (mut unique, duplicates) = deduplicate(&filtered);
        resolution.filtered_products = filtered.len();
        resolution.filtered_rows = filtered;
        resolution.duplicates = duplicates;
        let uris: Vec<String> = unique.iter().map(|p| p.data_uri.clone()).collect();
        let locations = if uris.is_empty() {
            Vec::new()
        } else {
            self.cloud_locations(&uris).await?
        };
        for (product, location) in unique.iter_mut().zip(locations) {
            product.cloud = location;
        }
        resolution.not_in_cloud = unique.iter().filter(|p| p.cloud.is_none()).count();
        resolution.products = unique;
        resolution.resolved_at = SystemTime::now();
        Ok(resolution)
    }
}

/// The obsids to ask products for (stringified, trimmed, first occurrence kept) and the
/// obs_ids of full-frame-image observations left out.
pub fn observation_ids(rows: &[Map<String, Value>]) -> (Vec<String>, Vec<String>) {
    let mut obsids: Vec<String> = Vec::new();
    let mut seen = std::collections::HashSet::new();
    let mut excluded = Vec::new();
    for row in rows {
        let target = row.get("target_name").and_then(Value::as_str).unwrap_or("");
        if FFI_TARGETS.contains(&target) {
            excluded.push(cell_text(row.get("obs_id")));
            continue;
        }
        let obsid = cell_text(row.get("obsid")).trim().to_string();
        if !obsid.is_empty() && seen.insert(obsid.clone()) {
            obsids.push(obsid);
        }
    }
    if !excluded.is_empty() {
        tracing::warn!(
            "leaving out {} full-frame-image observation(s): {}",
            excluded.len(),
            excluded.join(", ")
        );
    }
    (obsids, excluded)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn ffi_rows_are_left_out_and_ids_normalised() {
        let rows: Vec<Map<String, Value>> = [
            json!({"obsid": 1, "obs_id": "a", "target_name": "M31"}),
            json!({"obsid": "2 ", "obs_id": "b", "target_name": "TESS FFI"}),
            json!({"obsid": " 3", "obs_id": "c", "target_name": "TICA FFI"}),
            json!({"obsid": "1", "obs_id": "a2", "target_name": "M31"}),
            json!({"obsid": null, "obs_id": "d"}),
            json!({"obsid": 4, "obs_id": "e", "target_name": "TESS FFI extra"}),
        ]
        .iter()
        .map(|v| v.as_object().unwrap().clone())
        .collect();
        let (ids, excluded) = observation_ids(&rows);
        assert_eq!(ids, vec!["1".to_string(), "4".to_string()]);
        assert_eq!(excluded, vec!["b".to_string(), "c".to_string()]);
    }

    #[test]
    fn base_url_checked_and_trimmed() {
        let bad = MastClient::new(ClientOptions {
            base_url: "mast.stsci.edu".into(),
            ..ClientOptions::default()
        });
        assert!(
            matches!(bad, Err(MastError::BadBaseUrl { .. })),
            "got {bad:?}"
        );
        let good = MastClient::new(ClientOptions {
            base_url: "http://127.0.0.1:9/".into(),
            ..ClientOptions::default()
        })
        .unwrap();
        assert_eq!(good.options().base_url, "http://127.0.0.1:9");
    }
}
