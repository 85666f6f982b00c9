//! Views: directories whose files are the products of a MAST query.
//!
//! Owns each view's listing in memory and its life: lazy resolution in the background with
//! a bounded wait, refreshes (by interval, on request, on SIGHUP; a failed refresh keeps the
//! last listing). The concerns around it live beside it: what a listing is (`listing.rs`),
//! how a MAST query becomes files (`resolve.rs`: sizes from S3, file naming with a
//! documented disambiguation), listings on disk so a restarted mount lists at once
//! (`persist.rs`), and the manifest (`manifest.rs`).

mod listing;
mod manifest;
mod persist;
mod resolve;

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use futures::future::{BoxFuture, FutureExt, Shared};
use mastfs_mast::{ColumnConfig, MastClient};
use parking_lot::Mutex;
use serde::Serialize;

pub use listing::{ViewDef, ViewEntry, ViewFile, ViewListing};
pub use manifest::{MANIFEST_ECSV_NAME, MANIFEST_NAME};
pub(crate) use persist::fnv1a;
use persist::ListingStore;
use resolve::Resolver;
pub use resolve::{disambiguate, safe_view_files};

use crate::namespace::error::NamespaceError;
use crate::store::ObjectStore;

/// What `mastfs stats` and logs say about a view.
#[derive(Clone, Debug, Serialize)]
pub struct ViewStatus {
    pub name: String,
    pub resolved_at: Option<SystemTime>,
    pub entries: usize,
    pub resolving: bool,
    pub last_error: Option<String>,
    /// Why a resolved view has no files (MAST's summary of the resolution).
    pub empty_reason: Option<String>,
    /// Products left out because a name from MAST cannot be a file name.
    pub unsafe_names: usize,
}

type Resolving = Shared<BoxFuture<'static, Result<Arc<ViewListing>, String>>>;

#[derive(Default)]
struct ViewState {
    current: Option<Arc<ViewListing>>,
    resolving: Option<Resolving>,
    last_error: Option<String>,
    disk_checked: bool,
}

/// All views of one mount.
pub struct Views {
    defs: Vec<ViewDef>,
    states: Mutex<HashMap<String, ViewState>>,
    resolver: Resolver,
    saved: ListingStore,
    wait: Duration,
}

impl Views {
    pub fn new(
        defs: Vec<ViewDef>,
        client: Arc<MastClient>,
        columns: ColumnConfig,
        store: Arc<dyn ObjectStore>,
        persist_dir: Option<PathBuf>,
        wait: Duration,
    ) -> Arc<Views> {
        let resolver = Resolver::new(client, columns, store);
        let saved = ListingStore::new(persist_dir, resolver.mast_url().to_string());
        Arc::new(Views {
            states: Mutex::new(
                defs.iter()
                    .map(|d| (d.name.clone(), ViewState::default()))
                    .collect(),
            ),
            defs,
            resolver,
            saved,
            wait,
        })
    }

    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.defs.iter().map(|d| d.name.as_str())
    }

    pub fn contains(&self, name: &str) -> bool {
        self.defs.iter().any(|d| d.name == name)
    }

    fn def(&self, name: &str) -> Option<&ViewDef> {
        self.defs.iter().find(|d| d.name == name)
    }

    pub fn status(&self) -> Vec<ViewStatus> {
        let states = self.states.lock();
        self.defs
            .iter()
            .map(|d| {
                let s = states.get(&d.name);
                ViewStatus {
                    name: d.name.clone(),
                    resolved_at: s.and_then(|s| s.current.as_ref()).map(|c| c.resolved_at),
                    entries: s
                        .and_then(|s| s.current.as_ref())
                        .map_or(0, |c| c.files.len()),
                    resolving: s.is_some_and(|s| s.resolving.is_some()),
                    last_error: s.and_then(|s| s.last_error.clone()),
                    empty_reason: s
                        .and_then(|s| s.current.as_ref())
                        .filter(|c| c.files.is_empty())
                        .map(|c| c.empty_reason()),
                    unsafe_names: s
                        .and_then(|s| s.current.as_ref())
                        .map_or(0, |c| c.unsafe_names),
                }
            })
            .collect()
    }

    /// The listing of view `name`: the one in memory (refreshed in the background once it
    /// is older than the view's interval), else the persisted one, else a new resolution
    /// waited for at most the configured bound.
    pub async fn listing(self: &Arc<Self>, name: &str) -> Result<Arc<ViewListing>, NamespaceError> {
        let Some(def) = self.def(name).cloned() else {
            return Err(NamespaceError {
                errno: libc::ENOENT,
                message: format!("no view named '{name}'"),
            });
        };
        let pending = {
            let mut states = self.states.lock();
            let state = states.entry(name.to_string()).or_default();
            if state.current.is_none() && !state.disk_checked {
                state.disk_checked = true;
                state.current = self.saved.load(&def).map(Arc::new);
                if let Some(c) = &state.current {
                    tracing::info!(
                        view = name,
                        files = c.files.len(),
                        "view listing loaded from disk"
                    );
                }
            }
            match &state.current {
                Some(current) => {
                    let stale = current
                        .resolved_at
                        .elapsed()
                        .map_or(true, |age| age >= def.refresh);
                    if stale && state.resolving.is_none() {
                        state.resolving = Some(self.start_resolution(def.clone()));
                    }
                    return Ok(current.clone());
                }
                None => self.resolution_of(state, def.clone()),
            }
        };
        match tokio::time::timeout(self.wait, pending).await {
            Ok(Ok(listing)) => Ok(listing),
            Ok(Err(message)) => Err(NamespaceError {
                errno: libc::EIO,
                message: format!("view '{name}' could not be resolved: {message}"),
            }),
            Err(_) => Err(NamespaceError {
                errno: libc::EAGAIN,
                message: format!(
                    "view '{name}' is still being resolved by MAST (waited {:?}); try again shortly",
                    self.wait
                ),
            }),
        }
    }

    /// Resolves `name` anew and waits for the outcome. A failure keeps the last listing.
    ///
    /// A resolution already under way may have asked MAST before whatever prompted this
    /// refresh, so it is waited for and then a new one is started; refreshes asked for
    /// together still share that one new resolution.
    pub async fn refresh(self: &Arc<Self>, name: &str) -> Result<Arc<ViewListing>, NamespaceError> {
        let Some(def) = self.def(name).cloned() else {
            return Err(NamespaceError {
                errno: libc::ENOENT,
                message: format!("no view named '{name}'"),
            });
        };
        let under_way = self
            .states
            .lock()
            .get(name)
            .and_then(|state| state.resolving.clone());
        if let Some(earlier) = under_way {
            // Its outcome is recorded by its own task; only its end matters here.
            let _ = earlier.await;
        }
        let pending = {
            let mut states = self.states.lock();
            let state = states.entry(name.to_string()).or_default();
            state.disk_checked = true;
            self.resolution_of(state, def)
        };
        pending.await.map_err(|message| NamespaceError {
            errno: libc::EIO,
            message: format!("refresh of view '{name}' failed: {message}"),
        })
    }

    /// Refreshes every view in the background (SIGHUP).
    pub fn refresh_all(self: &Arc<Self>) {
        for def in &self.defs {
            let views = self.clone();
            let name = def.name.clone();
            tokio::spawn(async move {
                let _ = views.refresh(&name).await;
            });
        }
    }

    /// The resolution of `def` under way, or a new one started now.
    fn resolution_of(self: &Arc<Self>, state: &mut ViewState, def: ViewDef) -> Resolving {
        state
            .resolving
            .get_or_insert_with(|| self.start_resolution(def))
            .clone()
    }

    fn start_resolution(self: &Arc<Self>, def: ViewDef) -> Resolving {
        let views = self.clone();
        let task = tokio::spawn(async move {
            let name = def.name.clone();
            let outcome = views.resolve(&def).await;
            let mut states = views.states.lock();
            let state = states.entry(name.clone()).or_default();
            state.resolving = None;
            match &outcome {
                Ok(listing) => {
                    state.current = Some(listing.clone());
                    state.last_error = None;
                }
                Err(message) => {
                    if state.current.is_some() {
                        tracing::warn!(view = %name, "refresh failed, keeping the last listing: {message}");
                    } else {
                        tracing::error!(view = %name, "view could not be resolved: {message}");
                    }
                    state.last_error = Some(message.clone());
                }
            }
            outcome
        });
        task.map(|joined| joined.unwrap_or_else(|e| Err(format!("resolution task failed: {e}"))))
            .boxed()
            .shared()
    }

    /// One resolution, kept on disk once made.
    async fn resolve(&self, def: &ViewDef) -> Result<Arc<ViewListing>, String> {
        let listing = Arc::new(self.resolver.resolve(def).await?);
        self.saved.save(def, &listing);
        Ok(listing)
    }
}
