//! A local stand-in for the MAST web API, for mastfs tests and the offline demo. It speaks
//! the three endpoints the client uses (`POST /api/v0/invoke` for `Mast.Caom.Filtered` and
//! `Mast.Caom.Products`, `POST /portal/Mashup/Mashup.asmx/columnsconfig`,
//! `GET /api/v0.1/path_lookup/`), answers from a `Scenario` (recorded fixtures or
//! constructed rows), records what it receives, and can be told to misbehave.
//!
//! The server runs on its own thread with its own tokio runtime; every handle method is
//! synchronous, so plain `#[test]` functions and async tests can both use it.

mod faults;
mod filtering;
mod record;
mod resolver;
mod scenario;
mod seed;
mod server;

use std::io;
use std::net::{SocketAddr, TcpListener};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use parking_lot::Mutex;

pub use crate::faults::Fault;
pub use crate::filtering::row_matches;
pub use crate::record::{Endpoint, InvokeRequest, PathLookupRequest, RecordedRequest};
pub use crate::scenario::{Field, Scenario, COLUMNS_CONFIG_JSON};
pub use crate::seed::{
    JBEVEO010_OBSID, JBEVET010_OBSID, PARENT_EO_OBSID, PARENT_ET_OBSID, SEED_DRZ_SIZE,
};

use crate::faults::FaultRule;
use crate::server::{ServerThread, Shared, State};

/// A running stand-in. Dropping it stops the server.
pub struct MastStandin {
    addr: SocketAddr,
    shared: Arc<Shared>,
    server: Mutex<Option<ServerThread>>,
}

impl MastStandin {
    /// Start on 127.0.0.1 with a free port, answering the seed scenario.
    pub fn start() -> io::Result<Self> {
        Self::start_with(Scenario::seed())
    }

    /// Start on 127.0.0.1 with a free port, answering `scenario`.
    pub fn start_with(scenario: Scenario) -> io::Result<Self> {
        Self::start_on(SocketAddr::from(([127, 0, 0, 1], 0)), scenario)
    }

    /// Start on `addr` (port 0 = any free port).
    pub fn start_on(addr: SocketAddr, scenario: Scenario) -> io::Result<Self> {
        let listener = TcpListener::bind(addr)?;
        let addr = listener.local_addr()?;
        let shared = Arc::new(Shared {
            state: Mutex::new(State {
                scenario,
                executing_remaining: 0,
                page_rows: None,
                faults: Vec::new(),
                requests: Vec::new(),
            }),
            huge_bytes_sent: Arc::new(AtomicU64::new(0)),
        });
        let server = ServerThread::spawn(listener, Arc::clone(&shared))?;
        Ok(MastStandin {
            addr,
            shared,
            server: Mutex::new(Some(server)),
        })
    }

    /// `http://127.0.0.1:PORT`, the client's base URL.
    pub fn base_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    pub fn port(&self) -> u16 {
        self.addr.port()
    }

    /// Replace what the stand-in answers from.
    pub fn set_scenario(&self, scenario: Scenario) {
        self.shared.state.lock().scenario = scenario;
    }

    /// Change the scenario in place (e.g. null a cloud path, omit a lookup entry).
    pub fn with_scenario<R>(&self, change: impl FnOnce(&mut Scenario) -> R) -> R {
        change(&mut self.shared.state.lock().scenario)
    }

    /// The next `times` invoke requests (any service) are answered `EXECUTING`.
    pub fn answer_executing(&self, times: u32) {
        self.shared.state.lock().executing_remaining = times;
    }

    /// Split invoke results into pages of `rows` rows whatever page size the client asks
    /// for (`None`: honour the request's `pagesize`).
    pub fn set_page_rows(&self, rows: Option<usize>) {
        self.shared.state.lock().page_rows = rows;
    }

    /// Misbehave on `endpoint` for the next `times` matching requests (`None`: until
    /// `clear_faults`). Faults are tried in the order they were added.
    pub fn inject(&self, endpoint: Endpoint, fault: Fault, times: Option<u32>) {
        self.shared.state.lock().faults.push(FaultRule {
            endpoint,
            fault,
            remaining: times,
        });
    }

    pub fn clear_faults(&self) {
        self.shared.state.lock().faults.clear();
    }

    /// Everything received so far, in arrival order.
    pub fn requests(&self) -> Vec<RecordedRequest> {
        self.shared.state.lock().requests.clone()
    }

    /// The decoded invoke requests received so far.
    pub fn invoke_requests(&self) -> Vec<InvokeRequest> {
        self.requests()
            .into_iter()
            .filter_map(|r| r.invoke)
            .collect()
    }

    /// The decoded path_lookup requests received so far.
    pub fn path_lookup_requests(&self) -> Vec<PathLookupRequest> {
        self.requests()
            .into_iter()
            .filter_map(|r| r.path_lookup)
            .collect()
    }

    pub fn clear_requests(&self) {
        self.shared.state.lock().requests.clear();
    }

    /// Bytes of `Fault::HugeBody` bodies actually handed to the network so far.
    pub fn huge_body_bytes_sent(&self) -> u64 {
        self.shared.huge_bytes_sent.load(Ordering::Relaxed)
    }

    /// Go down: stop listening and drop every open connection (clients then get
    /// "connection refused"). State and recordings are kept.
    pub fn stop(&self) {
        if let Some(mut server) = self.server.lock().take() {
            server.stop();
        }
    }

    /// Come back up on the same port after `stop`.
    pub fn restart(&self) -> io::Result<()> {
        let mut server = self.server.lock();
        if server.is_none() {
            let listener = TcpListener::bind(self.addr)?;
            *server = Some(ServerThread::spawn(listener, Arc::clone(&self.shared))?);
        }
        Ok(())
    }

    pub fn is_running(&self) -> bool {
        self.server.lock().is_some()
    }
}

impl Drop for MastStandin {
    fn drop(&mut self) {
        self.stop();
    }
}
