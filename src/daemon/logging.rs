//! Log setup: tracing to stderr (foreground), a file, or the system log (daemon), with a
//! log file as the daemon's fallback when there is no system log; `RUST_LOG` wins over
//! `-v`. Colour only on a terminal (never into pipes, files or the journal) and never with
//! `NO_COLOR`.

use std::io::IsTerminal;
use std::path::{Path, PathBuf};

use tracing_subscriber::fmt::format::Writer;
use tracing_subscriber::fmt::time::{FormatTime, SystemTime};
use tracing_subscriber::fmt::writer::BoxMakeWriter;
use tracing_subscriber::EnvFilter;

/// How log lines are written.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum LogFormat {
    /// One readable line per event.
    #[default]
    Text,
    /// One JSON object per event (fields, spans), for log collectors.
    Json,
}

/// The logging flags of the command line, kept until the process knows whether it stays
/// in the foreground (a mount decides when it daemonizes).
#[derive(Clone, Debug, Default)]
pub struct LogSettings {
    /// The -v count (--debug counts as -vv).
    pub verbose: u8,
    pub file: Option<PathBuf>,
    pub format: LogFormat,
}

impl LogSettings {
    /// [`init`] with these settings.
    pub fn init(&self, foreground: bool) {
        init(self.verbose, self.file.as_deref(), foreground, self.format)
    }
}

/// Installs the global subscriber. A daemon without `--log-file` logs to the system log,
/// or to [`fallback_log_file`] when there is none (and says so on stderr, which is still
/// the terminal of `mastfs mount` then); credentials are never logged by any layer.
pub fn init(verbose: u8, log_file: Option<&Path>, foreground: bool, format: LogFormat) {
    let level = match verbose {
        0 => "mastfs=warn",
        1 => "mastfs=info",
        2 => "mastfs=debug",
        _ => "mastfs=trace,aws=debug",
    };
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(level));
    let open = |p: &Path| {
        if let Some(dir) = p.parent().filter(|d| !d.as_os_str().is_empty()) {
            let _ = std::fs::create_dir_all(dir);
        }
        std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(p)
    };
    let file = match log_file {
        Some(p) => match open(p) {
            Ok(f) => Some(f),
            Err(e) => {
                eprintln!(
                    "mastfs: cannot write the log file {} ({e}); logging to standard error",
                    p.display()
                );
                None
            }
        },
        None => None,
    };
    let to_file = file.is_some();
    // The system log stamps each line itself.
    let mut to_syslog = false;
    let writer = match file {
        Some(f) => BoxMakeWriter::new(std::sync::Mutex::new(f)),
        None if foreground || log_file.is_some() => BoxMakeWriter::new(std::io::stderr),
        // A daemon logs to the system log (journald or rsyslog) as "mastfs", else to a file.
        None => match crate::daemon::syslog::Syslog::connect() {
            Ok(syslog) => {
                to_syslog = true;
                BoxMakeWriter::new(syslog)
            }
            Err(_) => {
                let path = fallback_log_file();
                match open(&path) {
                    Ok(f) => {
                        eprintln!(
                            "mastfs: no system log (/dev/log); the daemon logs to {}",
                            path.display()
                        );
                        BoxMakeWriter::new(std::sync::Mutex::new(f))
                    }
                    Err(e) => {
                        eprintln!(
                            "mastfs: no system log (/dev/log) and cannot write {} ({e}): the daemon logs nowhere; use --log-file FILE",
                            path.display()
                        );
                        BoxMakeWriter::new(std::io::sink)
                    }
                }
            }
        },
    };
    let to_terminal =
        !to_file && (foreground || log_file.is_some()) && std::io::stderr().is_terminal();
    let ansi = to_terminal && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty());
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(ansi)
        .with_timer(Clock {
            enabled: !to_syslog,
        })
        .with_writer(writer);
    let _ = match format {
        LogFormat::Text => builder.try_init(),
        LogFormat::Json => builder
            .json()
            .with_current_span(true)
            .with_span_list(true)
            .try_init(),
    };
}

/// Where a daemon without a system log writes: `$XDG_STATE_HOME/mastfs/mastfs.log` when
/// set, else `/var/log/mastfs.log` for root, else `~/.local/state/mastfs/mastfs.log`.
pub fn fallback_log_file() -> PathBuf {
    let state = std::env::var_os("XDG_STATE_HOME")
        .filter(|v| !v.is_empty())
        .map(PathBuf::from);
    match state {
        Some(dir) => dir.join("mastfs/mastfs.log"),
        None if nix::unistd::geteuid().is_root() => PathBuf::from("/var/log/mastfs.log"),
        None => std::env::home_dir()
            .map(|h| h.join(".local/state"))
            .unwrap_or_else(std::env::temp_dir)
            .join("mastfs/mastfs.log"),
    }
}

/// The system time on each line, or nothing (the system log adds its own).
struct Clock {
    enabled: bool,
}

impl FormatTime for Clock {
    fn format_time(&self, w: &mut Writer<'_>) -> std::fmt::Result {
        if self.enabled {
            SystemTime.format_time(w)
        } else {
            Ok(())
        }
    }
}
