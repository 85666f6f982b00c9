//! Log setup: tracing to stderr (foreground), a file, or the system log (daemon);
//! `RUST_LOG` wins over `-v`.

use std::path::Path;

use tracing_subscriber::EnvFilter;

/// Installs the global subscriber. A daemon without `--log-file` logs to the system log
/// (and reports mount errors on the readiness pipe); credentials are never logged by any
/// layer.
pub fn init(verbose: u8, log_file: Option<&Path>, foreground: bool) {
    let level = match verbose {
        0 => "mastfs=warn",
        1 => "mastfs=info",
        2 => "mastfs=debug",
        _ => "mastfs=trace,aws=debug",
    };
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(level));
    let builder = tracing_subscriber::fmt().with_env_filter(filter);
    let file = log_file.and_then(|p| {
        std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(p)
            .ok()
    });
    let _ = match file {
        Some(f) => builder
            .with_ansi(false)
            .with_writer(std::sync::Mutex::new(f))
            .try_init(),
        None if foreground => builder.with_writer(std::io::stderr).try_init(),
        // A daemon logs to the system log (journald or rsyslog) as "mastfs", or nowhere
        // when there is none (containers).
        None => match crate::syslog::Syslog::connect() {
            Ok(syslog) => builder
                .with_ansi(false)
                .without_time()
                .with_writer(syslog)
                .try_init(),
            Err(_) => builder.with_writer(std::io::sink).try_init(),
        },
    };
}
