//! What a mount's daemon runs besides the file system: the assembly of its layers from the
//! configuration (`setup.rs`), the per-mount control socket that commands talk to
//! (`control.rs`, with the views' state it reports, `view_status.rs`), the Prometheus
//! endpoint (`metrics.rs`), systemd readiness (`notify.rs`), and logging (`logging.rs`, to
//! the system log through `syslog.rs`). Commands without a mount (`query`, `get`, `warm`)
//! borrow `setup` and `logging` from here; nothing here depends on a command.

pub mod control;
pub mod logging;
pub mod metrics;
pub mod notify;
pub mod setup;
pub mod syslog;
pub mod view_status;
