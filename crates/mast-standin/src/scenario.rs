//! What the stand-in knows: observation rows, product rows (each listed under the obsid it
//! is returned for), cloud paths for path_lookup, and the column configuration. Built-in
//! scenarios: `seed` (the seed notebook's query), `recorded` (astroquery's recorded
//! fixtures) and `generated` (many synthetic observations, for batching tests).

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::seed;

/// The recorded columnsconfig answer (see fixtures/README.md).
pub const COLUMNS_CONFIG_JSON: &str = include_str!("../fixtures/columnsconfig.json");
const ADV_SEARCH_JSON: &str = include_str!("../fixtures/advSearch.json");
const PRODUCTS_JSON: &str = include_str!("../fixtures/products.json");
const RELATIVE_PATH_JSON: &str = include_str!("../fixtures/mast_relative_path.json");

/// A column as announced in a response's `fields`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Field {
    pub name: String,
    #[serde(rename = "type")]
    pub kind: String,
}

impl Field {
    pub fn new(name: &str, kind: &str) -> Self {
        Field {
            name: name.to_string(),
            kind: kind.to_string(),
        }
    }
}

/// Everything the stand-in answers from.
#[derive(Debug, Clone, PartialEq)]
pub struct Scenario {
    pub name: String,
    pub observation_fields: Vec<Field>,
    pub observations: Vec<Map<String, Value>>,
    pub product_fields: Vec<Field>,
    /// Product rows in answer order. A row is returned for a requested obsid equal to its
    /// `parent_obsid` (or its `obsID` when it has no `parent_obsid`).
    pub products: Vec<Map<String, Value>>,
    /// dataURI → path as path_lookup answers it (leading `/`), or `None` (answered `null`,
    /// status 404). URIs not in the map are answered like `None`.
    pub cloud_paths: BTreeMap<String, Option<String>>,
    /// dataURIs left out of path_lookup answers entirely.
    pub omitted_from_lookup: BTreeSet<String>,
    /// Apply the request's filters to the observations (false: return them all, as
    /// astroquery's mock does).
    pub filter_observations: bool,
    /// Return every product for any obsid (astroquery's mock behaviour).
    pub products_for_any_obsid: bool,
    /// The columnsconfig answer.
    pub columns_config: Value,
}

impl Scenario {
    /// No rows at all; the recorded column configuration.
    pub fn empty(name: &str) -> Self {
        Scenario {
            name: name.to_string(),
            observation_fields: Vec::new(),
            observations: Vec::new(),
            product_fields: Vec::new(),
            products: Vec::new(),
            cloud_paths: BTreeMap::new(),
            omitted_from_lookup: BTreeSet::new(),
            filter_observations: true,
            products_for_any_obsid: false,
            columns_config: serde_json::from_str(COLUMNS_CONFIG_JSON).unwrap_or(Value::Null),
        }
    }

    /// The seed notebook's query (HST, F606W, ACS/WFC, proposal 12062, PUBLIC): its four DRZ
    /// rows exactly as printed there, plus constructed companions (see fixtures/README.md).
    pub fn seed() -> Self {
        seed::scenario()
    }

    /// astroquery's recorded mock data: `advSearch.json` observations (returned for any
    /// filters), `products.json` products (for any obsid), `mast_relative_path.json` paths.
    pub fn recorded() -> Self {
        let mut scenario = Scenario::empty("recorded");
        let (fields, rows) = table_of(ADV_SEARCH_JSON);
        scenario.observation_fields = fields;
        scenario.observations = rows;
        let (fields, rows) = table_of(PRODUCTS_JSON);
        scenario.product_fields = fields;
        scenario.products = rows;
        if let Ok(Value::Object(paths)) = serde_json::from_str::<Value>(RELATIVE_PATH_JSON) {
            for (uri, entry) in paths {
                let path = entry
                    .get("path")
                    .and_then(Value::as_str)
                    .map(str::to_string);
                scenario.cloud_paths.insert(uri, path);
            }
        }
        scenario.filter_observations = false;
        scenario.products_for_any_obsid = true;
        scenario
    }

    /// `observations` synthetic HST ACS/WFC F606W observations of proposal `99999`, obsids
    /// 90000000.., each with `products_per_observation` products (the first a DRZ), all in
    /// the cloud under `hst/public/gen0/<obs_id>/`.
    pub fn generated(observations: usize, products_per_observation: usize) -> Self {
        let mut scenario = Scenario::empty("generated");
        scenario.observation_fields = seed::observation_fields();
        scenario.product_fields = seed::product_fields();
        for i in 0..observations {
            let obsid = 90_000_000 + i as u64;
            let obs_id = format!("gen{i:06}");
            scenario.observations.push(seed::observation_row(seed::Obs {
                obsid,
                obs_id: &obs_id,
                instrument: "ACS/WFC",
                filters: "F606W",
                proposal_id: "99999",
                target: &format!("GEN-{i}"),
                calib_level: 3,
                provenance: "CALACS",
            }));
            for k in 0..products_per_observation {
                let kind = if k == 0 {
                    "DRZ".to_string()
                } else {
                    format!("X{k:02}")
                };
                let file = format!("{obs_id}_{}.fits", kind.to_lowercase());
                let uri = format!("mast:HST/product/{file}");
                scenario.products.push(seed::product_row(seed::Product {
                    obsid,
                    obs_id: &obs_id,
                    file: &file,
                    sub_group: &kind,
                    description: "Generated product",
                    product_type: if k == 0 { "SCIENCE" } else { "AUXILIARY" },
                    mrp: k == 0,
                    size: 1000 + k as u64,
                    parent: obsid,
                    calib_level: 3,
                    project: "CALACS",
                    prvversion: Value::Null,
                }));
                scenario
                    .cloud_paths
                    .insert(uri, Some(format!("/hst/public/gen0/{obs_id}/{file}")));
            }
        }
        scenario
    }

    /// Look a built-in scenario up by name: `seed`, `recorded`, `generated` or
    /// `generated:<observations>[:<products per observation>]`.
    pub fn by_name(name: &str) -> Option<Self> {
        match name {
            "seed" => Some(Scenario::seed()),
            "recorded" => Some(Scenario::recorded()),
            "empty" => Some(Scenario::empty("empty")),
            other => {
                let rest = other.strip_prefix("generated")?;
                let mut parts = rest.split(':').skip(1);
                let observations = parts.next().map_or(Some(10), |p| p.parse().ok())?;
                let products = parts.next().map_or(Some(3), |p| p.parse().ok())?;
                Some(Scenario::generated(observations, products))
            }
        }
    }

    /// The obsid a product row is returned under.
    pub fn listed_under(row: &Map<String, Value>) -> String {
        let key = if row.contains_key("parent_obsid") {
            "parent_obsid"
        } else {
            "obsID"
        };
        match row.get(key) {
            Some(Value::String(s)) => s.trim().to_string(),
            Some(Value::Number(n)) => n.to_string(),
            _ => String::new(),
        }
    }

    /// Products returned for the requested obsids, in scenario order.
    pub fn products_for(&self, obsids: &BTreeSet<String>) -> Vec<Map<String, Value>> {
        self.products
            .iter()
            .filter(|row| {
                self.products_for_any_obsid || obsids.contains(&Scenario::listed_under(row))
            })
            .cloned()
            .collect()
    }

    /// Objects an S3 stand-in must hold for this scenario: `(key, size)` of every product
    /// with a cloud path, each key once, in product order.
    pub fn cloud_objects(&self) -> Vec<(String, Option<u64>)> {
        let mut seen = BTreeSet::new();
        let mut objects = Vec::new();
        for row in &self.products {
            let Some(uri) = row.get("dataURI").and_then(Value::as_str) else {
                continue;
            };
            let Some(Some(path)) = self.cloud_paths.get(uri) else {
                continue;
            };
            let key = path.trim_start_matches('/').to_string();
            if seen.insert(key.clone()) {
                objects.push((key, row.get("size").and_then(Value::as_u64)));
            }
        }
        objects
    }
}

/// `fields` and `data` of a recorded envelope (`_selected_` kept: the client must drop it).
fn table_of(text: &str) -> (Vec<Field>, Vec<Map<String, Value>>) {
    let Ok(value) = serde_json::from_str::<Value>(text) else {
        return (Vec::new(), Vec::new());
    };
    let fields = value
        .get("fields")
        .cloned()
        .and_then(|f| serde_json::from_value(f).ok())
        .unwrap_or_default();
    let rows = value
        .get("data")
        .and_then(Value::as_array)
        .map(|rows| rows.iter().filter_map(|r| r.as_object().cloned()).collect())
        .unwrap_or_default();
    (fields, rows)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recorded_fixtures_load() {
        let s = Scenario::recorded();
        assert_eq!(
            (s.observations.len(), s.products.len(), s.cloud_paths.len()),
            (3, 22, 2)
        );
        assert!(s.columns_config.get("obs_collection").is_some());
    }

    #[test]
    fn by_name() {
        assert_eq!(
            Scenario::by_name("generated:12:2").map(|s| (s.observations.len(), s.products.len())),
            Some((12, 24))
        );
        assert_eq!(
            Scenario::by_name("seed").map(|s| s.name),
            Some("seed".to_string())
        );
        assert!(Scenario::by_name("nope").is_none());
        assert!(Scenario::by_name("generated:x").is_none());
    }
}
