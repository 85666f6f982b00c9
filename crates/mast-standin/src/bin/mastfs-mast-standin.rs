//! `mastfs-mast-standin`: run the MAST stand-in as a process for the offline demo.
//! Prints `mastfs-mast-standin listening on http://127.0.0.1:PORT` and serves until killed.

use std::io::Write;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::Parser;
use mastfs_mast_standin::{MastStandin, Scenario};
use serde_json::json;

#[derive(Debug, Parser)]
#[command(
    version,
    about = "Local stand-in for the MAST API (invoke, columnsconfig, path_lookup)"
)]
struct Args {
    /// Port on 127.0.0.1 (0 = any free port).
    #[arg(long, default_value_t = 0)]
    port: u16,
    /// Write the chosen port to this file (written atomically once listening).
    #[arg(long)]
    port_file: Option<PathBuf>,
    /// Scenario: seed, recorded, empty, generated[:OBSERVATIONS[:PRODUCTS_PER_OBSERVATION]].
    #[arg(long, default_value = "seed")]
    scenario: String,
    /// Bucket the scenario's cloud paths live in (used for --objects-file).
    #[arg(long, default_value = "stpubdata")]
    bucket: String,
    /// Write the S3 objects the scenario refers to as JSON
    /// ([{"bucket", "key", "size"}]) so an S3 stand-in can be filled to match.
    #[arg(long)]
    objects_file: Option<PathBuf>,
}

fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .with_writer(std::io::stderr)
        .init();
    let args = Args::parse();
    match run(args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("mastfs-mast-standin: {message}");
            ExitCode::FAILURE
        }
    }
}

fn run(args: Args) -> Result<(), String> {
    let scenario = Scenario::by_name(&args.scenario).ok_or_else(|| {
        format!(
            "unknown scenario '{}'; use seed, recorded, empty or generated[:N[:M]]",
            args.scenario
        )
    })?;
    if let Some(path) = &args.objects_file {
        let objects: Vec<_> = scenario
            .cloud_objects()
            .into_iter()
            .map(|(key, size)| json!({"bucket": args.bucket, "key": key, "size": size}))
            .collect();
        let text = serde_json::to_string_pretty(&objects).map_err(|e| e.to_string())?;
        write_atomically(path, &text)?;
    }
    let standin = MastStandin::start_on(SocketAddr::from(([127, 0, 0, 1], args.port)), scenario)
        .map_err(|e| format!("cannot listen on 127.0.0.1:{}: {e}", args.port))?;
    if let Some(path) = &args.port_file {
        write_atomically(path, &standin.port().to_string())?;
    }
    println!("mastfs-mast-standin listening on {}", standin.base_url());
    let _ = std::io::stdout().flush();
    loop {
        std::thread::park();
    }
}

fn write_atomically(path: &PathBuf, text: &str) -> Result<(), String> {
    let tmp = path.with_extension("tmp");
    std::fs::write(&tmp, text)
        .and_then(|()| std::fs::rename(&tmp, path))
        .map_err(|e| format!("cannot write {}: {e}", path.display()))
}
