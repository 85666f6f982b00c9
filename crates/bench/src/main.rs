//! `mastfs-bench-raw`: runs one raw-client workload against an S3 endpoint and prints
//! its result as JSON on standard output (see `mastfs_bench::RawReport`).

use std::process::ExitCode;

use clap::{Args, Parser, Subcommand};
use mastfs_bench::{run_random, run_seq, BenchError, RandomOptions, RangeClient, SeqOptions};

/// The raw client of the mastfs benchmarks: exactly the byte ranges a workload needs,
/// as ranged GETs on kept-alive connections (unsigned, path style).
#[derive(Debug, Parser)]
#[command(name = "mastfs-bench-raw", version)]
struct Cli {
    /// S3 endpoint, e.g. http://127.0.0.1:9000.
    #[arg(long, env = "AWS_ENDPOINT_URL", global = true, value_name = "URL")]
    endpoint_url: Option<String>,
    #[command(subcommand)]
    workload: Workload,
}

#[derive(Debug, Args)]
struct Object {
    #[arg(long)]
    bucket: String,
    #[arg(long)]
    key: String,
    /// The object's size in bytes, if known (skips the HEAD request).
    #[arg(long, value_name = "BYTES")]
    object_size: Option<u64>,
}

#[derive(Debug, Subcommand)]
enum Workload {
    /// Read the whole object: chunks of --chunk bytes, --parallel GETs in flight.
    Seq {
        #[command(flatten)]
        object: Object,
        /// Bytes per ranged GET, e.g. 8MiB.
        #[arg(long, default_value = "8MiB", value_parser = parse_size)]
        chunk: u64,
        /// GETs in flight at once.
        #[arg(long, default_value_t = 8)]
        parallel: usize,
    },
    /// Read --count ranges of --size bytes at seeded offsets, one after the other.
    Random {
        #[command(flatten)]
        object: Object,
        #[arg(long, default_value_t = 200)]
        count: usize,
        /// Bytes per read, e.g. 64KiB.
        #[arg(long, default_value = "64KiB", value_parser = parse_size)]
        size: u64,
        /// Seed of the offsets (SplitMix64; scripts/bench computes the same ones).
        #[arg(long, default_value_t = 1)]
        seed: u64,
    },
}

fn parse_size(s: &str) -> Result<u64, String> {
    s.trim()
        .parse::<bytesize::ByteSize>()
        .map(|b| b.as_u64())
        .map_err(|e| format!("expected a size like 65536, 64KiB or 8MiB: {e}"))
}

async fn run(cli: Cli) -> Result<String, BenchError> {
    let endpoint = cli.endpoint_url.ok_or_else(|| {
        BenchError::InvalidWorkload("give --endpoint-url (or set AWS_ENDPOINT_URL)".into())
    })?;
    let report = match cli.workload {
        Workload::Seq {
            object,
            chunk,
            parallel,
        } => {
            let client = RangeClient::new(&endpoint, &object.bucket, &object.key)?;
            let opts = SeqOptions {
                chunk,
                parallel,
                object_size: object.object_size,
            };
            run_seq(&client, opts).await?
        }
        Workload::Random {
            object,
            count,
            size,
            seed,
        } => {
            let client = RangeClient::new(&endpoint, &object.bucket, &object.key)?;
            let opts = RandomOptions {
                count,
                read_size: size,
                seed,
                object_size: object.object_size,
            };
            run_random(&client, opts).await?
        }
    };
    serde_json::to_string_pretty(&report)
        .map_err(|e| BenchError::InvalidWorkload(format!("cannot encode the report: {e}")))
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("mastfs-bench-raw: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(cli)) {
        Ok(json) => {
            println!("{json}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("mastfs-bench-raw: {e}");
            ExitCode::FAILURE
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_parse_in_binary_units() {
        assert_eq!(parse_size("64KiB"), Ok(65536));
        assert_eq!(parse_size("8MiB"), Ok(8 << 20));
        assert_eq!(parse_size("4096"), Ok(4096));
        assert!(parse_size("lots").is_err(), "expected an error for 'lots'");
    }

    #[test]
    fn the_command_line_is_consistent() {
        use clap::CommandFactory;
        Cli::command().debug_assert();
    }
}
