//! The manifest of a view (`.manifest.csv`, `.manifest.ecsv`): one row per file, then one
//! per product left out with the reason.

use std::collections::HashMap;

use mastfs_mast::{Resolution, ResolvedProduct};

use super::listing::ViewFile;

/// The name of the manifest file in every view directory.
pub const MANIFEST_NAME: &str = ".manifest.csv";
/// The manifest as ECSV (column types kept), beside the CSV.
pub const MANIFEST_ECSV_NAME: &str = ".manifest.ecsv";

/// The manifest: one row per file, the view's own columns first, then every product column;
/// then one row per product left out of the directory, with its reason in `status`. Each
/// column has one meaning: `s3_size` is the object's size in S3 (what the file holds; empty
/// for products without an object), `size` is MAST's product column, as astroquery shows it.
/// Written as CSV and as ECSV (the same table with its column types).
pub(super) fn manifest_tables(
    files: &[ViewFile],
    unlisted: &[(&ResolvedProduct, &str)],
    resolution: &Resolution,
) -> (String, String) {
    use serde_json::Value;
    let own = [
        "file",
        "status",
        "productFilename",
        "obsID",
        "obs_id",
        "dataURI",
        "s3_uri",
        "s3_size",
    ];
    let extra: Vec<&String> = resolution
        .columns
        .iter()
        .filter(|c| !own.contains(&c.as_str()))
        .collect();
    let mut columns: Vec<String> = own.iter().map(|c| c.to_string()).collect();
    columns.extend(extra.iter().map(|c| c.to_string()));
    let products: HashMap<&str, &ResolvedProduct> = resolution
        .products
        .iter()
        .map(|p| (p.data_uri.as_str(), p))
        .collect();
    let text = |s: &str| Value::String(s.to_string());
    let row = |cells: [Value; 8], product: Option<&ResolvedProduct>| {
        let mut row: serde_json::Map<String, Value> =
            own.iter().map(|c| c.to_string()).zip(cells).collect();
        for col in &extra {
            let value = product
                .and_then(|p| p.row.get(col.as_str()))
                .cloned()
                .unwrap_or(Value::Null);
            row.insert(col.to_string(), value);
        }
        row
    };
    let mut rows = Vec::new();
    for f in files {
        let product = products.get(f.data_uri.as_str()).copied();
        let file = match &f.folder {
            Some(sub) => format!("{sub}/{}", f.name),
            None => f.name.clone(),
        };
        rows.push(row(
            [
                text(&file),
                text("listed"),
                product.map_or(Value::Null, |p| text(&p.product_filename)),
                text(&f.obsid),
                text(&f.obs_id),
                text(&f.data_uri),
                text(&f.s3_uri()),
                Value::from(f.size),
            ],
            product,
        ));
    }
    for (p, status) in unlisted {
        rows.push(row(
            [
                Value::Null,
                text(status),
                text(&p.product_filename),
                text(&p.obsid),
                text(&p.obs_id),
                text(&p.data_uri),
                p.cloud.as_ref().map_or(Value::Null, |c| text(&c.s3_uri())),
                Value::Null,
            ],
            Some(p),
        ));
    }
    let table = crate::tables::Table {
        columns,
        rows: &rows,
    };
    (table.csv(), table.ecsv())
}
