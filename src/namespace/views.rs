//! Views: directories whose files are the products of a MAST query.
//!
//! Owns each view's resolved listing (in memory, persisted on disk so a restarted mount
//! lists at once), lazy resolution in the background with a bounded wait, refreshes (by
//! interval, on request, on SIGHUP; a failed refresh keeps the last listing), file naming
//! (productFilename, with a documented disambiguation), sizes from S3, and the manifest.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::PathBuf;
use std::sync::{Arc, OnceLock};
use std::time::{Duration, SystemTime};

use bytes::Bytes;
use futures::future::{BoxFuture, FutureExt, Shared};
use futures::StreamExt;
use mastfs_mast::{ColumnConfig, MastClient, Resolution, ResolvedProduct, ViewQuery};
use parking_lot::Mutex;
use serde::{Deserialize, Serialize};

use super::names::is_valid_name;
use crate::config::ViewLayout;
use crate::store::{ObjectMeta, ObjectStore, StoreErrorKind};

/// The most files one view may hold: each costs a HEAD at every resolution and memory for
/// as long as the mount lives.
const MAX_VIEW_FILES: usize = 100_000;

/// The name of the manifest file in every view directory.
pub const MANIFEST_NAME: &str = ".manifest.csv";
/// The manifest as ECSV (column types kept), beside the CSV.
pub const MANIFEST_ECSV_NAME: &str = ".manifest.ecsv";

/// A view as configured, with its query parsed and validated.
#[derive(Clone, Debug)]
pub struct ViewDef {
    pub name: String,
    pub query: ViewQuery,
    /// Where the objects are, when not where path_lookup says (`stpubdata`).
    pub bucket: Option<String>,
    pub layout: ViewLayout,
    pub refresh: Duration,
}

/// One file of a resolved view.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct ViewFile {
    pub name: String,
    /// The obs_id subfolder in the `by-obs` layout.
    pub folder: Option<String>,
    pub bucket: String,
    pub key: String,
    pub size: u64,
    pub etag: String,
    pub last_modified: SystemTime,
    pub data_uri: String,
    pub obsid: String,
    pub obs_id: String,
}

impl ViewFile {
    pub fn meta(&self) -> ObjectMeta {
        ObjectMeta {
            key: self.key.clone(),
            size: self.size,
            etag: self.etag.clone(),
            last_modified: self.last_modified,
        }
    }

    pub fn s3_uri(&self) -> String {
        format!("s3://{}/{}", self.bucket, self.key)
    }
}

/// A resolved view: what its directory shows.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct ViewListing {
    pub files: Vec<ViewFile>,
    /// `.manifest.csv`.
    pub manifest: String,
    /// `.manifest.ecsv`: the same table with its column types (empty in listings persisted
    /// before it existed, until their next refresh).
    #[serde(default)]
    pub manifest_ecsv: String,
    pub resolved_at: SystemTime,
    pub products: usize,
    pub duplicates: usize,
    pub not_in_cloud: usize,
    /// Products left out because a name from MAST (productFilename, obs_id) cannot be one
    /// path component; also counted in `not_in_cloud`.
    #[serde(default)]
    pub unsafe_names: usize,
    pub summary: Vec<String>,
    /// Where each name is, built at the first lookup: a lookup in a view of n files costs
    /// O(1), not O(n) (an `ls -l` would be quadratic otherwise).
    #[serde(skip)]
    lookup_index: OnceLock<LookupIndex>,
}

/// (folder, file name) → file index, and the obs_id folders.
#[derive(Clone, Debug, Default)]
struct LookupIndex {
    files: HashMap<(Option<String>, String), usize>,
    folders: HashSet<String>,
}

impl ViewListing {
    /// Entries of the view directory (or of one obs folder of it): name → file index,
    /// or a folder. The manifest is added by the caller.
    pub fn entries(&self, folder: Option<&str>) -> BTreeMap<String, ViewEntry> {
        let mut out = BTreeMap::new();
        for (i, f) in self.files.iter().enumerate() {
            match (folder, &f.folder) {
                (None, None) => {
                    out.insert(f.name.clone(), ViewEntry::File(i));
                }
                (None, Some(sub)) => {
                    out.insert(sub.clone(), ViewEntry::Folder);
                }
                (Some(want), Some(sub)) if want == sub => {
                    out.insert(f.name.clone(), ViewEntry::File(i));
                }
                _ => {}
            }
        }
        out
    }
}

impl ViewListing {
    /// What `name` is in the view directory (`folder` None) or in one obs folder of it.
    pub fn entry(&self, folder: Option<&str>, name: &str) -> Option<ViewEntry> {
        let index = self.lookup_index.get_or_init(|| {
            let mut index = LookupIndex::default();
            for (i, f) in self.files.iter().enumerate() {
                index
                    .files
                    .entry((f.folder.clone(), f.name.clone()))
                    .or_insert(i);
                if let Some(sub) = &f.folder {
                    index.folders.insert(sub.clone());
                }
            }
            index
        });
        let key = (folder.map(str::to_string), name.to_string());
        if folder.is_none() && index.folders.contains(name) {
            return Some(ViewEntry::Folder);
        }
        index.files.get(&key).map(|&i| ViewEntry::File(i))
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ViewEntry {
    File(usize),
    Folder,
}

/// Why a resolved view lists no files, in the words of its resolution summary.
fn empty_reason(listing: &ViewListing) -> String {
    if listing.products == 0 {
        return "MAST found no products for these criteria and product filters".into();
    }
    let mut reason = format!(
        "{} product(s) matched, none is a file here ({} duplicate(s), {} not in the cloud)",
        listing.products, listing.duplicates, listing.not_in_cloud
    );
    if !listing.summary.is_empty() {
        reason.push_str(": ");
        reason.push_str(&listing.summary.join(" "));
    }
    reason
}

/// Why a view cannot be listed now.
#[derive(Clone, Debug)]
pub struct ViewError {
    pub errno: i32,
    pub message: String,
}

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
    client: Arc<MastClient>,
    columns: ColumnConfig,
    store: Arc<dyn ObjectStore>,
    persist_dir: Option<PathBuf>,
    /// The MAST base URL, part of every persisted view's fingerprint.
    mast_url: String,
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
        let mast_url = client.options().base_url.clone();
        Arc::new(Views {
            states: Mutex::new(
                defs.iter()
                    .map(|d| (d.name.clone(), ViewState::default()))
                    .collect(),
            ),
            defs,
            client,
            columns,
            store,
            persist_dir,
            mast_url,
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
                        .map(|c| empty_reason(c)),
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
    pub async fn listing(self: &Arc<Self>, name: &str) -> Result<Arc<ViewListing>, ViewError> {
        let Some(def) = self.def(name).cloned() else {
            return Err(ViewError {
                errno: libc::ENOENT,
                message: format!("no view named '{name}'"),
            });
        };
        let pending = {
            let mut states = self.states.lock();
            let state = states.entry(name.to_string()).or_default();
            if state.current.is_none() && !state.disk_checked {
                state.disk_checked = true;
                state.current = self.load_persisted(&def).map(Arc::new);
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
            Ok(Err(message)) => Err(ViewError {
                errno: libc::EIO,
                message: format!("view '{name}' could not be resolved: {message}"),
            }),
            Err(_) => Err(ViewError {
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
    pub async fn refresh(self: &Arc<Self>, name: &str) -> Result<Arc<ViewListing>, ViewError> {
        let Some(def) = self.def(name).cloned() else {
            return Err(ViewError {
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
        pending.await.map_err(|message| ViewError {
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

    /// One resolution, bounded as a whole by `[mast] timeout` (MAST's queries and pages,
    /// and the HEADs of the products, together).
    async fn resolve(&self, def: &ViewDef) -> Result<Arc<ViewListing>, String> {
        let budget = self.client.options().query_budget;
        match tokio::time::timeout(budget, self.resolve_unbounded(def)).await {
            Ok(outcome) => outcome,
            Err(_) => Err(format!(
                "the resolution took longer than [mast] timeout ({}); stopped",
                humantime::format_duration(budget)
            )),
        }
    }

    async fn resolve_unbounded(&self, def: &ViewDef) -> Result<Arc<ViewListing>, String> {
        let resolution = self
            .client
            .resolve(&def.query, &self.columns)
            .await
            .map_err(|e| e.to_string())?;
        for line in resolution.summary_lines() {
            tracing::info!(view = %def.name, "{line}");
        }
        let listing = Arc::new(self.build_listing(def, &resolution).await?);
        self.persist(def, &listing);
        Ok(listing)
    }

    /// Sizes, ETags and dates from S3 (HEAD of each product, a few at a time); products
    /// whose object is missing are left out and counted, never shown as broken entries.
    async fn build_listing(
        &self,
        def: &ViewDef,
        resolution: &Resolution,
    ) -> Result<ViewListing, String> {
        let cloud: Vec<&ResolvedProduct> = resolution.cloud_products().collect();
        if cloud.len() > MAX_VIEW_FILES {
            return Err(format!(
                "the query gives {} products in the cloud, more than the {MAX_VIEW_FILES} a view \
                 may hold; narrow its criteria or its products filter",
                cloud.len()
            ));
        }
        let targets: Vec<(String, String)> = cloud
            .iter()
            .filter_map(|p| p.cloud.as_ref())
            .map(|loc| {
                (
                    def.bucket.clone().unwrap_or_else(|| loc.bucket.clone()),
                    loc.key.clone(),
                )
            })
            .collect();
        let store = self.store.clone();
        let heads: Vec<_> = futures::stream::iter(targets)
            .map(move |(bucket, key)| {
                let store = store.clone();
                async move {
                    let head = store.head(&bucket, &key).await;
                    (bucket, head)
                }
            })
            .buffered(16)
            .collect()
            .await;
        let mut files: Vec<ViewFile> = Vec::new();
        let mut missing = 0;
        let mut unlisted: Vec<(&ResolvedProduct, &'static str)> = resolution
            .products
            .iter()
            .filter(|p| p.cloud.is_none())
            .map(|p| (p, "not in cloud"))
            .collect();
        for (product, (bucket, head)) in cloud.iter().zip(heads) {
            match head {
                Ok(meta) => files.push(ViewFile {
                    name: product.product_filename.clone(),
                    folder: (def.layout == ViewLayout::ByObs).then(|| product.obs_id.clone()),
                    bucket,
                    key: meta.key.clone(),
                    size: meta.size,
                    etag: meta.etag,
                    last_modified: meta.last_modified,
                    data_uri: product.data_uri.clone(),
                    obsid: product.obsid.clone(),
                    obs_id: product.obs_id.clone(),
                }),
                Err(e) if e.kind == StoreErrorKind::NotFound => {
                    tracing::warn!(view = %def.name, data_uri = %product.data_uri, "object not found in S3: {e}");
                    missing += 1;
                    unlisted.push((product, "missing in S3"));
                }
                Err(e) => return Err(format!("cannot read the size of {}: {e}", product.data_uri)),
            }
        }
        let (files, unsafe_files) = safe_view_files(&def.name, files);
        let by_uri: HashMap<&str, &ResolvedProduct> = resolution
            .products
            .iter()
            .map(|p| (p.data_uri.as_str(), p))
            .collect();
        for f in &unsafe_files {
            if let Some(product) = by_uri.get(f.data_uri.as_str()) {
                unlisted.push((product, "name not usable as a file name"));
            }
        }
        let unsafe_names = unsafe_files.len();
        let not_in_cloud = resolution.not_in_cloud + missing + unsafe_names;
        if not_in_cloud > 0 {
            tracing::info!(view = %def.name, not_in_cloud, "products without a readable cloud copy were left out");
        }
        let (manifest, manifest_ecsv) = manifest_tables(&files, &unlisted, resolution);
        Ok(ViewListing {
            manifest,
            manifest_ecsv,
            files,
            resolved_at: SystemTime::now(),
            products: resolution.products.len(),
            duplicates: resolution.duplicates,
            not_in_cloud,
            unsafe_names,
            summary: resolution.summary_lines(),
            lookup_index: OnceLock::new(),
        })
    }

    fn persist_path(&self, def: &ViewDef) -> Option<PathBuf> {
        let dir = self.persist_dir.as_ref()?;
        let fingerprint = serde_json::to_string(&(
            &self.mast_url,
            &def.query,
            &def.bucket,
            format!("{:?}", def.layout),
        ))
        .map(|s| fnv1a(s.as_bytes()))
        .ok()?;
        Some(dir.join(format!("{}-{fingerprint:016x}.json", def.name)))
    }

    fn persist(&self, def: &ViewDef, listing: &ViewListing) {
        let Some(path) = self.persist_path(def) else {
            return;
        };
        let write = || -> std::io::Result<()> {
            if let Some(parent) = path.parent() {
                crate::paths::create_private_dir(parent)?;
            }
            let tmp = path.with_extension("tmp");
            std::fs::write(&tmp, serde_json::to_vec(listing)?)?;
            std::fs::rename(&tmp, &path)
        };
        if let Err(e) = write() {
            tracing::warn!(view = %def.name, path = %path.display(), "cannot persist the view listing: {e}");
        }
    }

    fn load_persisted(&self, def: &ViewDef) -> Option<ViewListing> {
        let path = self.persist_path(def)?;
        let bytes = std::fs::read(&path).ok()?;
        match serde_json::from_slice::<ViewListing>(&bytes) {
            Ok(listing) if !listing.files.iter().all(has_safe_names) => {
                tracing::warn!(view = %def.name, path = %path.display(), "ignoring a persisted view with names that cannot be file names");
                None
            }
            Ok(listing) => Some(listing),
            Err(e) => {
                tracing::warn!(view = %def.name, path = %path.display(), "ignoring unreadable persisted view: {e}");
                None
            }
        }
    }
}

/// FNV-1a: a stable hash for file names (std's hasher may change between releases).
pub(crate) fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ *b as u64).wrapping_mul(0x100_0000_01b3)
    })
}

/// Whether every name of `f` that becomes a path component (its file name, its obs_id
/// folder, and the obs_id that [`disambiguate`] may insert) is one safe component.
fn has_safe_names(f: &ViewFile) -> bool {
    is_valid_name(&f.name)
        && is_valid_name(&f.obs_id)
        && f.folder.as_deref().is_none_or(is_valid_name)
}

/// The files of view `view` whose names from MAST are safe path components, disambiguated,
/// and those left out (each with a log line): a productFilename or obs_id such as
/// `../../x`, `/etc/passwd` or `a/b` never reaches a directory of the mount or a path
/// written by `get`.
pub fn safe_view_files(view: &str, files: Vec<ViewFile>) -> (Vec<ViewFile>, Vec<ViewFile>) {
    let log = |f: &ViewFile| {
        tracing::warn!(view, name = %f.name, obs_id = %f.obs_id, data_uri = %f.data_uri,
            "product name cannot be a file name; left out");
    };
    let (mut kept, mut left_out): (Vec<ViewFile>, Vec<ViewFile>) =
        files.into_iter().partition(has_safe_names);
    left_out.iter().for_each(log);
    disambiguate(&mut kept);
    // Inserting the obs_id may push a name past NAME_MAX.
    let (kept, too_long): (Vec<ViewFile>, Vec<ViewFile>) =
        kept.into_iter().partition(has_safe_names);
    too_long.iter().for_each(log);
    left_out.extend(too_long);
    (kept, left_out)
}

/// Two products with the same file name in one folder: the first (in MAST's order) keeps
/// the name; each later one gets its obs_id inserted before the extension
/// (`x_drz.fits` → `x_drz.<obs_id>.fits`), then a counter if that is taken too.
pub fn disambiguate(files: &mut [ViewFile]) {
    let mut taken: HashMap<(Option<String>, String), usize> = HashMap::new();
    for f in files.iter() {
        *taken.entry((f.folder.clone(), f.name.clone())).or_default() += 1;
    }
    let mut seen: HashMap<(Option<String>, String), ()> = HashMap::new();
    for f in files.iter_mut() {
        let slot = (f.folder.clone(), f.name.clone());
        if seen.insert(slot.clone(), ()).is_none() {
            continue;
        }
        let (stem, ext) = match f.name.find('.') {
            Some(i) if i > 0 => (&f.name[..i], &f.name[i..]),
            _ => (f.name.as_str(), ""),
        };
        let mut candidate = format!("{stem}.{}{ext}", f.obs_id);
        let mut n = 2;
        while taken.contains_key(&(f.folder.clone(), candidate.clone())) {
            candidate = format!("{stem}.{}-{n}{ext}", f.obs_id);
            n += 1;
        }
        taken.insert((f.folder.clone(), candidate.clone()), 1);
        seen.insert((f.folder.clone(), candidate.clone()), ());
        f.name = candidate;
    }
}

/// The manifest: one row per file, the view's own columns first, then every product column;
/// then one row per product left out of the directory, with its reason in `status`. Each
/// column has one meaning: `s3_size` is the object's size in S3 (what the file holds; empty
/// for products without an object), `size` is MAST's product column, as astroquery shows it.
/// Written as CSV and as ECSV (the same table with its column types).
fn manifest_tables(
    files: &[ViewFile],
    unlisted: &[(&ResolvedProduct, &str)],
    resolution: &Resolution,
) -> (String, String) {
    use serde_json::Value;
    let own = [
        "file",
        "status",
        "productFilename",
        "obsID",
        "obs_id",
        "dataURI",
        "s3_uri",
        "s3_size",
    ];
    let extra: Vec<&String> = resolution
        .columns
        .iter()
        .filter(|c| !own.contains(&c.as_str()))
        .collect();
    let mut columns: Vec<String> = own.iter().map(|c| c.to_string()).collect();
    columns.extend(extra.iter().map(|c| c.to_string()));
    let products: HashMap<&str, &ResolvedProduct> = resolution
        .products
        .iter()
        .map(|p| (p.data_uri.as_str(), p))
        .collect();
    let text = |s: &str| Value::String(s.to_string());
    let row = |cells: [Value; 8], product: Option<&ResolvedProduct>| {
        let mut row: serde_json::Map<String, Value> =
            own.iter().map(|c| c.to_string()).zip(cells).collect();
        for col in &extra {
            let value = product
                .and_then(|p| p.row.get(col.as_str()))
                .cloned()
                .unwrap_or(Value::Null);
            row.insert(col.to_string(), value);
        }
        row
    };
    let mut rows = Vec::new();
    for f in files {
        let product = products.get(f.data_uri.as_str()).copied();
        let file = match &f.folder {
            Some(sub) => format!("{sub}/{}", f.name),
            None => f.name.clone(),
        };
        rows.push(row(
            [
                text(&file),
                text("listed"),
                product.map_or(Value::Null, |p| text(&p.product_filename)),
                text(&f.obsid),
                text(&f.obs_id),
                text(&f.data_uri),
                text(&f.s3_uri()),
                Value::from(f.size),
            ],
            product,
        ));
    }
    for (p, status) in unlisted {
        rows.push(row(
            [
                Value::Null,
                text(status),
                text(&p.product_filename),
                text(&p.obsid),
                text(&p.obs_id),
                text(&p.data_uri),
                p.cloud.as_ref().map_or(Value::Null, |c| text(&c.s3_uri())),
                Value::Null,
            ],
            Some(p),
        ));
    }
    let table = crate::tables::Table {
        columns,
        rows: &rows,
    };
    (table.csv(), table.ecsv())
}

/// The manifest's bytes (for the virtual file).
pub fn manifest_bytes(listing: &ViewListing) -> Bytes {
    Bytes::from(listing.manifest.clone().into_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(name: &str, obs: &str) -> ViewFile {
        ViewFile {
            name: name.into(),
            folder: None,
            bucket: "b".into(),
            key: format!("{obs}/{name}"),
            size: 1,
            etag: "e".into(),
            last_modified: SystemTime::UNIX_EPOCH,
            data_uri: format!("mast:X/{obs}/{name}"),
            obsid: "1".into(),
            obs_id: obs.into(),
        }
    }

    #[test]
    fn names_from_mast_that_are_not_one_component_are_left_out() {
        let mut by_obs = file("c.fits", "o4");
        by_obs.folder = Some("../o4".into());
        let files = vec![
            file("a_drz.fits", "o1"),
            // A duplicate whose obs_id would be inserted into its name.
            file("a_drz.fits", "../../etc"),
            file("a_drz.fits", "x/y"),
            file("../escape.fits", "o2"),
            file("/etc/passwd", "o3"),
            by_obs,
            file("b.fits", "o1"),
            // Fine alone, but too long once the obs_id is inserted.
            file(&format!("{}.fits", "n".repeat(240)), "o1"),
            file(&format!("{}.fits", "n".repeat(240)), "o5-long-obs-id"),
        ];
        let (kept, left_out) = safe_view_files("v", files);
        let kept: Vec<_> = kept.iter().map(|f| f.name.as_str()).collect();
        let left_out: Vec<_> = left_out.iter().map(|f| f.obs_id.as_str()).collect();
        let long = format!("{}.fits", "n".repeat(240));
        assert_eq!(
            kept,
            vec!["a_drz.fits", "b.fits", long.as_str()],
            "kept names"
        );
        assert_eq!(
            left_out,
            vec!["../../etc", "x/y", "o2", "o3", "o4", "o5-long-obs-id"],
            "left out"
        );
    }

    fn listing_of(files: Vec<ViewFile>) -> ViewListing {
        ViewListing {
            files,
            manifest: String::new(),
            manifest_ecsv: String::new(),
            resolved_at: SystemTime::UNIX_EPOCH,
            products: 0,
            duplicates: 0,
            not_in_cloud: 0,
            unsafe_names: 0,
            summary: Vec::new(),
            lookup_index: OnceLock::new(),
        }
    }

    #[test]
    fn a_lookup_finds_what_the_listing_shows() {
        let mut by_obs = vec![
            file("a.fits", "o1"),
            file("b.fits", "o1"),
            file("a.fits", "o2"),
        ];
        for f in &mut by_obs {
            f.folder = Some(f.obs_id.clone());
        }
        let flat = listing_of(
            (0..5000)
                .map(|i| file(&format!("f{i}.fits"), "o"))
                .collect(),
        );
        let by_obs = listing_of(by_obs);
        for listing in [&flat, &by_obs] {
            let folders: std::collections::BTreeSet<Option<String>> = std::iter::once(None)
                .chain(listing.files.iter().map(|f| f.folder.clone()))
                .collect();
            for folder in folders {
                for (name, want) in listing.entries(folder.as_deref()) {
                    assert_eq!(
                        listing.entry(folder.as_deref(), &name),
                        Some(want),
                        "{folder:?}/{name}"
                    );
                }
            }
        }
        assert_eq!(
            flat.entry(None, "f5000.fits"),
            None,
            "a name not in the view"
        );
        assert_eq!(
            by_obs.entry(Some("o2"), "b.fits"),
            None,
            "a name of another folder"
        );
        assert_eq!(
            by_obs.entry(None, "a.fits"),
            None,
            "files live in their folder"
        );
    }

    #[test]
    fn duplicate_names_get_the_obs_id_before_the_extension() {
        let mut files = vec![
            file("a_drz.fits", "o1"),
            file("a_drz.fits", "o2"),
            file("b.fits", "o1"),
            file("a_drz.fits", "o3"),
            file("a_drz.o2.fits", "o9"),
            file("a_drz.fits", "o2"),
        ];
        disambiguate(&mut files);
        let names: Vec<_> = files.iter().map(|f| f.name.as_str()).collect();
        // A product's own name is never taken by a renamed one: the later a_drz.fits of o2
        // cannot become a_drz.o2.fits (a product of o9 is called that), so it gets a counter.
        assert_eq!(
            names,
            vec![
                "a_drz.fits",
                "a_drz.o2-2.fits",
                "b.fits",
                "a_drz.o3.fits",
                "a_drz.o2.fits",
                "a_drz.o2-3.fits"
            ],
            "names after disambiguation"
        );
    }
}
