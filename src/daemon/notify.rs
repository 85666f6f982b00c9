//! systemd readiness notification (`Type=notify`): the `sd_notify` datagram protocol,
//! written here because it is one `sendto` of `KEY=VALUE` lines to `$NOTIFY_SOCKET`.
//!
//! The socket is a Unix datagram socket named by a path, or by an abstract name when the
//! variable starts with `@`. Without the variable (not started by systemd) every call is a
//! no-op, so callers notify unconditionally.

use std::io;
use std::os::unix::net::{SocketAddr, UnixDatagram};

/// The environment variable systemd sets for services that may notify.
pub const NOTIFY_SOCKET: &str = "NOTIFY_SOCKET";

/// Sends `state` (newline-separated `KEY=VALUE` assignments, e.g. `"READY=1"`) to the
/// service manager. Returns `Ok(false)` when no service manager listens.
pub fn notify(state: &str) -> io::Result<bool> {
    let Some(target) = std::env::var_os(NOTIFY_SOCKET).filter(|v| !v.is_empty()) else {
        return Ok(false);
    };
    let address = socket_address(&target.to_string_lossy())?;
    let socket = UnixDatagram::unbound()?;
    socket.send_to_addr(state.as_bytes(), &address)?;
    Ok(true)
}

/// `READY=1` with a status line: the mount is live.
pub fn ready(status: &str) {
    send_logged(&format!(
        "READY=1\nSTATUS={status}\nMAINPID={}",
        std::process::id()
    ));
}

/// `STOPPING=1`: shutting down, unmounting.
pub fn stopping(status: &str) {
    send_logged(&format!("STOPPING=1\nSTATUS={status}"));
}

/// `RELOADING=1` then `READY=1` around a reload (SIGHUP).
pub fn reloading(done: bool) {
    let state = if done { "READY=1" } else { "RELOADING=1" };
    send_logged(state);
}

fn send_logged(state: &str) {
    if let Err(e) = notify(state) {
        tracing::warn!(
            "cannot notify the service manager at ${NOTIFY_SOCKET} ({e}); a Type=notify unit \
             will time out"
        );
    }
}

fn socket_address(target: &str) -> io::Result<SocketAddr> {
    match target.strip_prefix('@') {
        Some(name) => {
            use std::os::linux::net::SocketAddrExt;
            SocketAddr::from_abstract_name(name.as_bytes())
        }
        None if target.starts_with('/') => SocketAddr::from_pathname(target),
        None => Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("{NOTIFY_SOCKET}={target} is neither an absolute path nor @abstract"),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn path_and_abstract_addresses() {
        let path = socket_address("/run/systemd/notify").unwrap();
        assert_eq!(
            path.as_pathname(),
            Some(std::path::Path::new("/run/systemd/notify"))
        );
        let abstract_name = socket_address("@sd-notify-test").unwrap();
        use std::os::linux::net::SocketAddrExt;
        assert_eq!(
            abstract_name.as_abstract_name(),
            Some(&b"sd-notify-test"[..])
        );
        assert!(socket_address("relative").is_err());
    }
}
