//! The outcome of resolving a view: the unique products (first occurrence by dataURI wins),
//! where each lives in S3 if anywhere, and the counts behind the summary lines. Serializable
//! so the daemon can persist it and reload it after a restart.

use std::collections::HashSet;
use std::time::SystemTime;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::cloud::CloudLocation;
use crate::product_filter::cell_text;

/// One unique product of a view.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ResolvedProduct {
    /// Every column MAST returned for the first row with this dataURI.
    pub row: Map<String, Value>,
    /// `obsID` of that row, as a decimal string.
    pub obsid: String,
    pub obs_id: String,
    pub data_uri: String,
    /// `productFilename`, else the last segment of the dataURI.
    pub product_filename: String,
    /// Bytes, from the product row (the S3 object's length is authoritative).
    pub size: Option<u64>,
    /// `None` when path_lookup knows no cloud copy.
    pub cloud: Option<CloudLocation>,
}

impl ResolvedProduct {
    /// Build from a product row; `None` when the row has no dataURI (nothing to fetch).
    pub fn from_row(row: Map<String, Value>) -> Option<Self> {
        let data_uri = row
            .get("dataURI")
            .and_then(Value::as_str)?
            .trim()
            .to_string();
        if data_uri.is_empty() {
            return None;
        }
        let product_filename = match row.get("productFilename").and_then(Value::as_str) {
            Some(name) if !name.is_empty() => name.to_string(),
            _ => data_uri
                .rsplit(['/', ':'])
                .next()
                .unwrap_or(&data_uri)
                .to_string(),
        };
        let size = match row.get("size") {
            Some(Value::Number(n)) => n.as_u64(),
            Some(Value::String(s)) => s.trim().parse().ok(),
            _ => None,
        };
        Some(ResolvedProduct {
            obsid: cell_text(row.get("obsID")).trim().to_string(),
            obs_id: cell_text(row.get("obs_id")),
            data_uri,
            product_filename,
            size,
            cloud: None,
            row,
        })
    }
}

/// Everything a view resolves to.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Resolution {
    /// Unique products after filtering, in MAST's order.
    pub products: Vec<ResolvedProduct>,
    /// The filtered product rows including duplicates, as astroquery's `filter_products`
    /// returns them (what `mastfs query` prints).
    pub filtered_rows: Vec<Map<String, Value>>,
    /// Product table columns in MAST's field order.
    pub columns: Vec<String>,
    /// Observation rows the criteria matched.
    pub observations: usize,
    /// obs_ids of TESS/TICA full-frame-image observations left out.
    pub excluded_ffi: Vec<String>,
    /// Product rows before filtering.
    pub total_products: usize,
    /// Product rows after filtering (with duplicates).
    pub filtered_products: usize,
    /// Filtered rows dropped because an earlier row had the same dataURI.
    pub duplicates: usize,
    /// Unique products without a cloud copy.
    pub not_in_cloud: usize,
    pub resolved_at: SystemTime,
}

impl Resolution {
    /// `s3://` URIs of the products in the cloud, in order.
    pub fn s3_uris(&self) -> Vec<String> {
        self.products
            .iter()
            .filter_map(|p| p.cloud.as_ref().map(CloudLocation::s3_uri))
            .collect()
    }

    /// Products that have a cloud copy.
    pub fn cloud_products(&self) -> impl Iterator<Item = &ResolvedProduct> {
        self.products.iter().filter(|p| p.cloud.is_some())
    }

    /// Human summary lines (for stderr / logs), astroquery's wording where it has one.
    pub fn summary_lines(&self) -> Vec<String> {
        let mut lines = Vec::new();
        if !self.excluded_ffi.is_empty() {
            lines.push(format!(
                "Skipped {} full-frame-image observation(s) (TESS FFI / TICA FFI are too large): {}",
                self.excluded_ffi.len(),
                self.excluded_ffi.join(", ")
            ));
        }
        if self.observations == 0 {
            lines.push("Query returned no results.".to_string());
            return lines;
        }
        if self.filtered_products == 0 {
            lines.push(format!(
                "No matching products: {} observation(s), {} product(s), none passed the product filter.",
                self.observations, self.total_products
            ));
            return lines;
        }
        if self.duplicates > 0 {
            lines.push(format!(
                "{} of {} products were duplicates. Only {} unique product(s).",
                self.duplicates,
                self.filtered_products,
                self.products.len()
            ));
        }
        if self.not_in_cloud > 0 {
            let missing: Vec<&str> = self
                .products
                .iter()
                .filter(|p| p.cloud.is_none())
                .map(|p| p.data_uri.as_str())
                .collect();
            let shown = missing
                .iter()
                .take(10)
                .copied()
                .collect::<Vec<_>>()
                .join(", ");
            let more = if missing.len() > 10 {
                format!(" and {} more", missing.len() - 10)
            } else {
                String::new()
            };
            lines.push(format!(
                "{} of {} unique product(s) are not available in the cloud: {shown}{more}",
                self.not_in_cloud,
                self.products.len()
            ));
        }
        lines
    }
}

/// Keep the first row of each dataURI, in order; return the unique products and how many
/// rows were dropped as duplicates. Rows without a dataURI cannot be fetched and are skipped
/// (they are not counted as duplicates).
pub fn deduplicate(rows: &[Map<String, Value>]) -> (Vec<ResolvedProduct>, usize) {
    let mut seen = HashSet::new();
    let mut unique = Vec::new();
    let mut duplicates = 0;
    for row in rows {
        let Some(product) = ResolvedProduct::from_row(row.clone()) else {
            tracing::warn!(obs_id = %cell_text(row.get("obs_id")), "product row without dataURI skipped");
            continue;
        };
        if seen.insert(product.data_uri.clone()) {
            unique.push(product);
        } else {
            duplicates += 1;
        }
    }
    (unique, duplicates)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn row(obsid: u64, uri: &str, parent: u64) -> Map<String, Value> {
        json!({"obsID": obsid, "dataURI": uri, "parent_obsid": parent.to_string(), "size": 10})
            .as_object()
            .unwrap()
            .clone()
    }

    #[test]
    fn first_occurrence_wins_in_order() {
        let rows = vec![
            row(1, "mast:a", 100),
            row(2, "mast:b", 200),
            row(1, "mast:a", 1),
            row(3, "mast:c", 300),
            row(2, "mast:b", 2),
            row(1, "mast:a", 3),
        ];
        let (unique, duplicates) = deduplicate(&rows);
        let got: Vec<(&str, String)> = unique
            .iter()
            .map(|p| (p.data_uri.as_str(), cell_text(p.row.get("parent_obsid"))))
            .collect();
        let want = vec![
            ("mast:a", "100".to_string()),
            ("mast:b", "200".to_string()),
            ("mast:c", "300".to_string()),
        ];
        assert_eq!(got, want);
        assert_eq!(duplicates, 3);
    }

    #[test]
    fn product_fields_from_row() {
        let row = json!({"obsID": "24832664", "obs_id": "jbeveo010", "dataURI": "mast:HST/product/x_drz.fits",
                         "productFilename": null, "size": "219608640"});
        let p = ResolvedProduct::from_row(row.as_object().unwrap().clone()).unwrap();
        assert_eq!(
            (p.obsid.as_str(), p.product_filename.as_str(), p.size),
            ("24832664", "x_drz.fits", Some(219608640))
        );
        let no_uri = json!({"obsID": 1});
        assert!(ResolvedProduct::from_row(no_uri.as_object().unwrap().clone()).is_none());
    }

    #[test]
    fn summary_wording() {
        let (products, duplicates) = deduplicate(&[
            row(1, "mast:a", 1),
            row(1, "mast:a", 2),
            row(2, "mast:b", 2),
            row(2, "mast:b", 3),
        ]);
        let resolution = Resolution {
            products,
            filtered_rows: Vec::new(),
            columns: Vec::new(),
            observations: 2,
            excluded_ffi: Vec::new(),
            total_products: 10,
            filtered_products: 4,
            duplicates,
            not_in_cloud: 2,
            resolved_at: SystemTime::UNIX_EPOCH,
        };
        assert_eq!(
            resolution.summary_lines(),
            vec![
                "2 of 4 products were duplicates. Only 2 unique product(s).".to_string(),
                "2 of 2 unique product(s) are not available in the cloud: mast:a, mast:b"
                    .to_string(),
            ]
        );
        let back: Resolution =
            serde_json::from_str(&serde_json::to_string(&resolution).unwrap()).unwrap();
        assert_eq!(back, resolution);
    }
}
