//! Logging of a daemonized mount to the system log: RFC 3164 lines
//! (`<PRI>Mmm dd hh:mm:ss mastfs[PID]: message`) sent as datagrams to `/dev/log`, which
//! journald and rsyslog both read. The identifier is always `mastfs`, so
//! `journalctl -t mastfs` finds every mount's log. `MASTFS_SYSLOG_SOCKET` names another
//! socket (tests).

use std::io;
use std::os::unix::net::UnixDatagram;
use std::path::PathBuf;
use std::sync::Arc;

use parking_lot::Mutex;
use tracing::Level;
use tracing_subscriber::fmt::MakeWriter;

/// The identifier every line carries (`SYSLOG_IDENTIFIER` in the journal).
pub const IDENTIFIER: &str = "mastfs";
/// Where the system log listens, unless `MASTFS_SYSLOG_SOCKET` says otherwise.
pub const DEFAULT_SOCKET: &str = "/dev/log";
/// The facility of a daemon (3), as syslog(3) numbers it.
const FACILITY_DAEMON: u8 = 3;
/// Longest datagram sent; longer messages are cut (the socket may refuse huge ones).
const MAX_MESSAGE: usize = 8 * 1024;

/// The system log socket this process logs to.
pub fn socket_path() -> PathBuf {
    std::env::var_os("MASTFS_SYSLOG_SOCKET")
        .filter(|p| !p.is_empty())
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(DEFAULT_SOCKET))
}

/// A `tracing_subscriber` writer factory: each event becomes one datagram whose priority
/// follows the event's level.
#[derive(Clone)]
pub struct Syslog {
    inner: Arc<Inner>,
}

struct Inner {
    path: PathBuf,
    socket: Mutex<UnixDatagram>,
    pid: u32,
}

impl Syslog {
    /// Connects to the system log; fails when nothing listens at [`socket_path`].
    pub fn connect() -> io::Result<Syslog> {
        let path = socket_path();
        let socket = UnixDatagram::unbound()?;
        socket.connect(&path)?;
        Ok(Syslog {
            inner: Arc::new(Inner {
                path,
                socket: Mutex::new(socket),
                pid: std::process::id(),
            }),
        })
    }

    fn send(&self, severity: u8, message: &[u8]) {
        let line = format_line(severity, self.inner.pid, message);
        let mut socket = self.inner.socket.lock();
        if socket.send(&line).is_err() {
            // journald or rsyslog restarted: the old socket is gone; reconnect once.
            if let Ok(fresh) = UnixDatagram::unbound() {
                if fresh.connect(&self.inner.path).is_ok() {
                    *socket = fresh;
                    let _ = socket.send(&line);
                }
            }
        }
    }
}

/// One event's bytes, sent when the formatter is done with it.
pub struct EventWriter {
    syslog: Syslog,
    severity: u8,
    buffer: Vec<u8>,
}

impl io::Write for EventWriter {
    fn write(&mut self, bytes: &[u8]) -> io::Result<usize> {
        self.buffer.extend_from_slice(bytes);
        Ok(bytes.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl Drop for EventWriter {
    fn drop(&mut self) {
        let message = self.buffer.trim_ascii_end();
        if !message.is_empty() {
            self.syslog.send(self.severity, message);
        }
    }
}

impl<'a> MakeWriter<'a> for Syslog {
    type Writer = EventWriter;

    fn make_writer(&'a self) -> EventWriter {
        self.writer(6)
    }

    fn make_writer_for(&'a self, meta: &tracing::Metadata<'_>) -> EventWriter {
        self.writer(severity(*meta.level()))
    }
}

impl Syslog {
    fn writer(&self, severity: u8) -> EventWriter {
        EventWriter {
            syslog: self.clone(),
            severity,
            buffer: Vec::new(),
        }
    }
}

/// syslog severities: err 3, warning 4, info 6, debug 7.
fn severity(level: Level) -> u8 {
    match level {
        Level::ERROR => 3,
        Level::WARN => 4,
        Level::INFO => 6,
        _ => 7,
    }
}

/// `<PRI>Mmm dd hh:mm:ss mastfs[PID]: message` in local time, as syslog(3) writes it.
fn format_line(severity: u8, pid: u32, message: &[u8]) -> Vec<u8> {
    let priority = FACILITY_DAEMON * 8 + severity;
    let mut line = format!("<{priority}>{} {IDENTIFIER}[{pid}]: ", timestamp()).into_bytes();
    let message = &message[..message.len().min(MAX_MESSAGE)];
    line.extend_from_slice(message);
    line
}

fn timestamp() -> String {
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    // SAFETY: time(NULL) and localtime_r into a zeroed struct owned by this frame.
    let tm = unsafe {
        let now = libc::time(std::ptr::null_mut());
        let mut tm: libc::tm = std::mem::zeroed();
        libc::localtime_r(&now, &mut tm);
        tm
    };
    format!(
        "{} {:>2} {:02}:{:02}:{:02}",
        MONTHS[tm.tm_mon.clamp(0, 11) as usize],
        tm.tm_mday,
        tm.tm_hour,
        tm.tm_min,
        tm.tm_sec
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_carry_priority_timestamp_identifier_and_pid() {
        let line = String::from_utf8(format_line(4, 42, b"view 'x' refresh failed")).unwrap();
        assert!(
            line.starts_with("<28>"),
            "daemon.warning is 28, got: {line}"
        );
        assert!(
            line.ends_with(" mastfs[42]: view 'x' refresh failed"),
            "got: {line}"
        );
        let stamp = &line[4..line.find(" mastfs[").unwrap()];
        assert_eq!(stamp.len(), 15, "Mmm dd hh:mm:ss, got '{stamp}'");
    }

    #[test]
    fn severities_follow_levels() {
        assert_eq!(severity(Level::ERROR), 3);
        assert_eq!(severity(Level::WARN), 4);
        assert_eq!(severity(Level::INFO), 6);
        assert_eq!(severity(Level::TRACE), 7);
    }
}
