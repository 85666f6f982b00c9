//! `mastfs query`: a MAST query from the command line, printed as astroquery prints it.
//!
//! stdout: the filtered product table, then the s3:// URIs one per line (`--uris`: only the
//! URIs; `--json`: everything as JSON). stderr: the summary lines (duplicates, products
//! not in the cloud).

use std::io::Write;
use std::time::Duration;

use anyhow::Context;
use mastfs_mast::{render_product_table, resolution_json, ViewQuery};

use crate::cli::QueryArgs;
use crate::config::{self, Overrides};
use crate::setup;

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
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    if args.json {
        writeln!(
            out,
            "{}",
            serde_json::to_string_pretty(&resolution_json(&resolution))?
        )?;
    } else {
        if !args.uris {
            writeln!(out, "{}", render_product_table(&resolution))?;
        }
        for uri in resolution.s3_uris() {
            writeln!(out, "{uri}")?;
        }
    }
    for line in resolution.summary_lines() {
        eprintln!("{line}");
    }
    Ok(())
}
