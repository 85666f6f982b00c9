//! A local S3-compatible server for mastfs tests and benchmarks, built on
//! s3s with an in-memory backend: public and private (SigV4) buckets,
//! faithful listings, ranged GETs, an emulated network link (latency and a
//! shared bandwidth limit), fault injection, and request counters — all
//! controllable from Rust (`S3Standin`) or over HTTP under `/_standin/`.
//!
//! The server runs on its own thread with its own tokio runtime, so it can be
//! used from plain `#[test]` functions and from async tests alike; every
//! handle method is synchronous and cheap.

mod access;
mod backend;
mod body;
mod classify;
mod control;
pub mod faults;
mod front;
pub mod link;
mod loader;
mod server;
pub mod stats;
mod store;

use std::io;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use bytes::Bytes;
use s3s::auth::SimpleAuth;
use s3s::service::S3ServiceBuilder;

pub use crate::faults::{Fault, FaultPlan, OpMatch};
pub use crate::link::LinkSettings;
pub use crate::stats::{Op, OpCounts, RequestRecord, Stats};

use crate::access::{AnyBucketName, BucketPolicy};
use crate::backend::Backend;
use crate::front::Shared;
use crate::link::Link;
use crate::server::ServerThread;
use crate::stats::StatsCollector;
use crate::store::{Store, StoredObject};

/// How to start the server.
#[derive(Debug, Clone, Default)]
pub struct ServerOptions {
    /// Delay before every response head (the link's round trip).
    pub latency: Duration,
    /// Bandwidth shared by all connections, bytes per second; `None` = unlimited.
    pub bandwidth: Option<u64>,
    /// (access key, secret key) pairs accepted for SigV4-signed requests.
    pub credentials: Vec<(String, String)>,
}

/// A running server. Dropping it shuts the server down.
pub struct S3Standin {
    addr: SocketAddr,
    shared: Arc<Shared>,
    thread: ServerThread,
}

impl S3Standin {
    /// Starts a server on 127.0.0.1 with a free port.
    pub fn start(opts: ServerOptions) -> io::Result<S3Standin> {
        S3Standin::start_on(SocketAddr::from(([127, 0, 0, 1], 0)), opts)
    }

    /// Starts a server on the given address (port 0 = any free port).
    pub fn start_on(addr: SocketAddr, opts: ServerOptions) -> io::Result<S3Standin> {
        let store = Arc::new(Store::default());
        let mut auth = SimpleAuth::new();
        for (access_key, secret_key) in &opts.credentials {
            auth.register(access_key.clone(), secret_key.as_str().into());
        }
        let mut builder = S3ServiceBuilder::new(Backend::new(Arc::clone(&store)));
        // Always installed, so that the access policy runs (s3s skips it
        // without an auth provider); with no credentials every signed
        // request is refused as an unknown access key.
        builder.set_auth(auth);
        builder.set_access(BucketPolicy::new(Arc::clone(&store)));
        builder.set_validation(AnyBucketName);
        let shared = Arc::new(Shared {
            store,
            stats: Arc::new(StatsCollector::default()),
            faults: Default::default(),
            link: Arc::new(Link::new(opts.latency, opts.bandwidth)),
            s3: builder.build(),
        });
        let listener = std::net::TcpListener::bind(addr)?;
        let addr = listener.local_addr()?;
        let thread = ServerThread::spawn(listener, Arc::clone(&shared))?;
        Ok(S3Standin {
            addr,
            shared,
            thread,
        })
    }

    /// The port the server listens on.
    pub fn port(&self) -> u16 {
        self.addr.port()
    }

    /// The address the server listens on.
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://127.0.0.1:PORT` (path-style S3 endpoint).
    pub fn endpoint_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Creates a bucket, or changes the visibility of an existing one.
    /// Public buckets accept unsigned requests; private ones answer them 403.
    pub fn create_bucket(&self, name: &str, public: bool) {
        self.shared.store.create_bucket(name, public);
    }

    /// Stores an object (modification time: now) and returns its ETag as S3
    /// sends it (quoted hex MD5).
    ///
    /// # Panics
    /// If the bucket does not exist — a mistake in the calling test.
    pub fn put_object(&self, bucket: &str, key: &str, data: impl Into<Bytes>) -> String {
        self.put_object_with_mtime(bucket, key, data, SystemTime::now())
    }

    /// Like [`put_object`](Self::put_object) with a given modification time
    /// (truncated to whole seconds, as HEAD reports it).
    ///
    /// # Panics
    /// If the bucket does not exist.
    pub fn put_object_with_mtime(
        &self,
        bucket: &str,
        key: &str,
        data: impl Into<Bytes>,
        mtime: SystemTime,
    ) -> String {
        let content_type = loader::content_type_for_key(key).to_owned();
        let object = StoredObject::new(data.into(), mtime, content_type);
        match self.shared.store.put(bucket, key, object) {
            Ok(obj) => obj.quoted_etag(),
            Err(_) => {
                panic!("put_object: bucket {bucket:?} does not exist; call create_bucket first")
            }
        }
    }

    /// Deletes an object; a missing object or bucket is not an error.
    pub fn delete_object(&self, bucket: &str, key: &str) {
        let _ = self.shared.store.delete(bucket, key);
    }

    /// Stores every regular file under `dir` as `key_prefix` + its relative
    /// path (`/`-separated); returns how many. The bucket must exist.
    pub fn load_dir(&self, bucket: &str, dir: &Path, key_prefix: &str) -> io::Result<usize> {
        loader::load_dir(&self.shared.store, bucket, dir, key_prefix)
    }

    /// Counters and the request log since start or the last reset.
    pub fn stats(&self) -> Stats {
        self.shared.stats.snapshot(true)
    }

    /// Zeroes the counters and empties the request log.
    pub fn reset_stats(&self) {
        self.shared.stats.reset();
    }

    /// Installs a fault plan, replacing any previous one.
    pub fn set_faults(&self, plan: FaultPlan) {
        self.shared.faults.set(plan);
    }

    /// Removes the fault plan.
    pub fn clear_faults(&self) {
        self.shared.faults.clear();
    }

    /// Changes the emulated link; takes effect for the next response head and
    /// the next body chunk.
    pub fn set_link(&self, latency: Duration, bandwidth: Option<u64>) {
        self.shared.link.set(latency, bandwidth);
    }

    /// Current link settings.
    pub fn link(&self) -> LinkSettings {
        self.shared.link.settings()
    }
}

impl Drop for S3Standin {
    fn drop(&mut self) {
        self.thread.stop();
    }
}
