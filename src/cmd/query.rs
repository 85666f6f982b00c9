//! `mastfs query`: a MAST query from the command line, printed as astroquery prints it.
//!
//! stdout: the filtered product table, then the s3:// URIs one per line; or one format of
//! `--format` (the table alone, CSV, ECSV, VOTable: the product columns and `s3_uri`; JSON:
//! the whole resolution; URIs). stderr: the summary lines (duplicates, products not in the
//! cloud).

use std::io::Write;
use std::time::Duration;

use anyhow::Context;
use mastfs_mast::{
    display_columns, render_product_table, render_table, resolution_json, Resolution, ViewQuery,
};
use serde_json::{Map, Value};

use crate::cli::args::{QueryArgs, QueryFormat};
use crate::config::{self, Overrides};
use crate::daemon::setup;
use crate::tables::Table;

pub fn run(args: &QueryArgs) -> anyhow::Result<()> {
    let cfg = config::load(&Overrides {
        config_file: args.config.clone(),
        mast_url: args.mast_url.clone(),
        ..Default::default()
    })?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    let query =
        ViewQuery::from_args(&args.criteria, &args.products).map_err(|e| anyhow::anyhow!("{e}"))?;
    let client = setup::mast_client(&cfg)?;
    let resolution = runtime.block_on(async {
        let columns = setup::column_config(&client, Duration::from_secs(30)).await;
        query
            .validate(&columns, None)
            .map_err(|e| anyhow::anyhow!("{e}"))?;
        client
            .resolve(&query, &columns)
            .await
            .map_err(|e| anyhow::anyhow!("MAST query failed ({}): {e}", cfg.mast.url))
    })?;
    let format = match (args.format, args.json, args.uris) {
        (Some(f), _, _) => Some(f),
        (None, true, _) => Some(QueryFormat::Json),
        (None, _, true) => Some(QueryFormat::Uris),
        _ => None,
    };
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    match format {
        None => {
            writeln!(out, "{}", render_product_table(&resolution))?;
            for uri in resolution.s3_uris() {
                writeln!(out, "{uri}")?;
            }
        }
        Some(format) => write!(out, "{}", formatted(&resolution, format, &args.criteria)?)?,
    }
    for line in resolution.summary_lines() {
        eprintln!("{line}");
    }
    Ok(())
}

/// The version of the `--format json` document; raised when a field changes meaning or
/// goes away (fields may be added).
pub const QUERY_JSON_VERSION: u32 = 1;

/// `resolution` in `format`.
fn formatted(
    resolution: &Resolution,
    format: QueryFormat,
    criteria: &[String],
) -> anyhow::Result<String> {
    let (columns, rows) = product_rows(resolution);
    let table = Table {
        columns,
        rows: &rows,
    };
    Ok(match format {
        QueryFormat::Table => render_table(&table.columns, &rows),
        QueryFormat::Csv => table.csv(),
        QueryFormat::Ecsv => table.ecsv(),
        QueryFormat::Votable => table.votable(&format!("mastfs query {}", criteria.join(" "))),
        QueryFormat::Uris => resolution
            .s3_uris()
            .iter()
            .map(|u| format!("{u}\n"))
            .collect(),
        QueryFormat::Json => {
            let mut doc = resolution_json(resolution);
            doc["format_version"] = QUERY_JSON_VERSION.into();
            doc["resolved_at"] = crate::daemon::view_status::rfc3339(resolution.resolved_at).into();
            serde_json::to_string_pretty(&doc)? + "\n"
        }
    })
}

/// The filtered product rows (astroquery's columns, duplicates included) with each row's
/// `s3_uri` (masked when the product has no cloud copy).
fn product_rows(resolution: &Resolution) -> (Vec<String>, Vec<Map<String, Value>>) {
    let mut columns = display_columns(&resolution.columns, &resolution.filtered_rows);
    columns.push("s3_uri".to_string());
    let uris: std::collections::HashMap<&str, String> = resolution
        .products
        .iter()
        .filter_map(|p| Some((p.data_uri.as_str(), p.cloud.as_ref()?.s3_uri())))
        .collect();
    let rows = resolution
        .filtered_rows
        .iter()
        .map(|row| {
            let mut row = row.clone();
            let uri = row
                .get("dataURI")
                .and_then(Value::as_str)
                .and_then(|d| uris.get(d).cloned());
            row.insert("s3_uri".to_string(), uri.map_or(Value::Null, Value::String));
            row
        })
        .collect();
    (columns, rows)
}
