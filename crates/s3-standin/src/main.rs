//! `mastfs-s3-standin`: runs the local S3 stand-in from the command line,
//! loading buckets from directories, until SIGINT or SIGTERM.

use std::io::Write;
use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::Parser;
use mastfs_s3_standin::{S3Standin, ServerOptions};

/// Local S3-compatible server for mastfs tests and benchmarks.
///
/// Control plane on the same port: GET /_standin/stats[?log=1],
/// POST /_standin/reset, POST /_standin/faults (JSON plan; {} clears),
/// POST /_standin/link ({"latency_ms":20,"bandwidth_bytes_per_sec":null}).
#[derive(Parser, Debug)]
#[command(name = "mastfs-s3-standin", version)]
struct Args {
    /// Port to listen on (0 = any free port).
    #[arg(long, default_value_t = 0)]
    port: u16,
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1")]
    bind: IpAddr,
    /// Bucket readable (and writable) without signing. Repeatable.
    #[arg(long = "public-bucket", value_name = "NAME")]
    public_buckets: Vec<String>,
    /// Bucket that needs SigV4-signed requests. Repeatable.
    #[arg(long = "private-bucket", value_name = "NAME")]
    private_buckets: Vec<String>,
    /// Load every file under DIR into BUCKET as PREFIX + relative path; an
    /// undeclared bucket is created public. Repeatable.
    #[arg(long = "load", value_name = "BUCKET=DIR[:PREFIX]", value_parser = parse_load)]
    loads: Vec<Load>,
    /// Accepted access key and secret for signed requests. Repeatable.
    #[arg(long = "credentials", value_name = "AK:SK", value_parser = parse_credentials)]
    credentials: Vec<(String, String)>,
    /// Delay before every response head, e.g. 20ms.
    #[arg(long, value_parser = humantime::parse_duration, default_value = "0s")]
    latency: Duration,
    /// Bandwidth shared by all connections, bytes per second (default unlimited).
    #[arg(long)]
    bandwidth: Option<u64>,
    /// Write the listening port to this file once ready.
    #[arg(long, value_name = "FILE")]
    port_file: Option<PathBuf>,
}

#[derive(Debug, Clone)]
struct Load {
    bucket: String,
    dir: PathBuf,
    prefix: String,
}

fn parse_load(s: &str) -> Result<Load, String> {
    let (bucket, rest) = s
        .split_once('=')
        .ok_or_else(|| format!("expected BUCKET=DIR[:PREFIX], got {s:?}"))?;
    let (dir, prefix) = rest.split_once(':').unwrap_or((rest, ""));
    if bucket.is_empty() || dir.is_empty() {
        return Err(format!("expected BUCKET=DIR[:PREFIX], got {s:?}"));
    }
    Ok(Load {
        bucket: bucket.to_owned(),
        dir: PathBuf::from(dir),
        prefix: prefix.to_owned(),
    })
}

fn parse_credentials(s: &str) -> Result<(String, String), String> {
    match s.split_once(':') {
        Some((ak, sk)) if !ak.is_empty() && !sk.is_empty() => Ok((ak.to_owned(), sk.to_owned())),
        _ => Err("expected ACCESS_KEY:SECRET_KEY".to_owned()),
    }
}

async fn wait_for_signal() -> std::io::Result<()> {
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
    tokio::select! {
        r = tokio::signal::ctrl_c() => r,
        _ = term.recv() => Ok(()),
    }
}

fn run(args: Args) -> Result<(), String> {
    let opts = ServerOptions {
        latency: args.latency,
        bandwidth: args.bandwidth,
        credentials: args.credentials,
    };
    let server = S3Standin::start_on(SocketAddr::new(args.bind, args.port), opts)
        .map_err(|e| format!("cannot listen on {}:{}: {e}", args.bind, args.port))?;
    for name in &args.public_buckets {
        server.create_bucket(name, true);
    }
    for name in &args.private_buckets {
        server.create_bucket(name, false);
    }
    for load in &args.loads {
        let declared = args.public_buckets.contains(&load.bucket)
            || args.private_buckets.contains(&load.bucket);
        if !declared {
            server.create_bucket(&load.bucket, true);
        }
        let n = server
            .load_dir(&load.bucket, &load.dir, &load.prefix)
            .map_err(|e| {
                format!(
                    "cannot load {} into bucket {}: {e}",
                    load.dir.display(),
                    load.bucket
                )
            })?;
        eprintln!(
            "loaded {n} objects from {} into s3://{}/{}",
            load.dir.display(),
            load.bucket,
            load.prefix
        );
    }
    if let Some(path) = &args.port_file {
        std::fs::write(path, format!("{}\n", server.port()))
            .map_err(|e| format!("cannot write the port file {}: {e}", path.display()))?;
    }
    let mut stdout = std::io::stdout();
    let _ = writeln!(
        stdout,
        "mastfs-s3-standin listening on {}",
        server.endpoint_url()
    );
    let _ = stdout.flush();

    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| format!("cannot start the signal runtime: {e}"))?;
    runtime
        .block_on(wait_for_signal())
        .map_err(|e| format!("cannot wait for signals: {e}"))?;
    drop(server);
    Ok(())
}

fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| "warn,s3s=off".into()),
        )
        .with_writer(std::io::stderr)
        .init();
    match run(Args::parse()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("mastfs-s3-standin: {e}");
            ExitCode::FAILURE
        }
    }
}
