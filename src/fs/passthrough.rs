//! The state of FUSE passthrough for one mount: whether the kernel adapter turned it on at
//! init (and if not, why), and how many opens it served. The core only finds backing
//! files (see [`super::Fs::open_with`]); the adapter decides what the kernel gets.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use parking_lot::Mutex;

/// Passthrough as negotiated with the kernel, and its counters.
#[derive(Debug, Default)]
pub struct PassthroughStatus {
    enabled: AtomicBool,
    /// Why it is off (empty while on, or before init).
    reason: Mutex<String>,
    /// Opens answered with a backing file: their reads never reach the daemon.
    pub opens: AtomicU64,
    /// Opens that had a backing file but were answered the ordinary way (another handle
    /// of the inode was open the ordinary way, or the kernel refused the file).
    pub declined: AtomicU64,
}

impl PassthroughStatus {
    pub fn enable(&self) {
        self.reason.lock().clear();
        self.enabled.store(true, Ordering::Release);
    }

    pub fn disable(&self, reason: impl Into<String>) {
        *self.reason.lock() = reason.into();
        self.enabled.store(false, Ordering::Release);
    }

    pub fn enabled(&self) -> bool {
        self.enabled.load(Ordering::Acquire)
    }

    /// Why passthrough is off; `None` while it is on.
    pub fn reason(&self) -> Option<String> {
        let reason = self.reason.lock();
        (!self.enabled() && !reason.is_empty()).then(|| reason.clone())
    }
}
