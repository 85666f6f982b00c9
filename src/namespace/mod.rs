//! What the tree contains, behind one facade: [`Namespace`] answers "what is this name",
//! "what is in this directory" and "is this object still the same" for every source (the
//! bucket trees, the MAST views, the `.mastfs` status folder), so the filesystem core asks
//! without knowing which source answers. A node's [`NodeKind`] says only what the core
//! needs (a directory to hand back, an object to read, bytes made in memory, a status file).

mod bounded;
pub mod buckets;
mod child;
mod error;
pub mod names;
mod node;
pub mod persisted;
mod subtree;
pub mod views;

use std::sync::Arc;
use std::time::Instant;

use bytes::Bytes;

pub use child::Child;
pub use error::NamespaceError;
pub use node::{Dir, NodeKind, Origin, StatusFile, STATS_FILE, STATUS_DIR};

use crate::config::VIEWS_DIR;
use crate::store::ObjectMeta;
use buckets::BucketTrees;
use views::{ViewEntry, ViewListing, Views, MANIFEST_ECSV_NAME, MANIFEST_NAME};

/// The entries of one directory, in the order they are shown.
pub struct DirListing {
    pub entries: Vec<(String, NodeKind)>,
    /// For a bucket folder: when its S3 listing was fetched (the kernel may keep the entries
    /// it cached while an opendir shows the same listing). `None` for the other sources.
    pub fetched: Option<Instant>,
}

/// Every source of one mount's tree.
pub struct Namespace {
    buckets: Arc<BucketTrees>,
    views: Option<Arc<Views>>,
}

impl Namespace {
    pub fn new(buckets: Arc<BucketTrees>, views: Option<Arc<Views>>) -> Namespace {
        Namespace { buckets, views }
    }

    pub fn views(&self) -> Option<&Arc<Views>> {
        self.views.as_ref()
    }

    /// Whether any node can carry extended attributes: only view files do.
    pub fn has_xattrs(&self) -> bool {
        self.views.is_some()
    }

    /// Keys and prefixes of the mounted buckets skipped because they cannot be file names.
    pub fn unsafe_key_names(&self) -> u64 {
        self.buckets.unsafe_names()
    }

    /// Drops cached listings and attributes (SIGHUP): later lookups ask S3 again.
    pub fn drop_metadata(&self) {
        self.buckets.drop_metadata();
    }

    /// The top folder of each mounted bucket, as the root shows them.
    pub fn bucket_roots(&self) -> Vec<(String, NodeKind)> {
        self.buckets
            .bucket_names()
            .iter()
            .map(|name| (name.clone(), bucket_node(name, String::new())))
            .collect()
    }

    /// What `name` in `dir` is.
    pub async fn lookup(&self, dir: &Dir, name: &str) -> Result<NodeKind, NamespaceError> {
        match dir {
            Dir::Root => match self.root_entries().into_iter().find(|(n, _)| n == name) {
                Some((_, kind)) => Ok(kind),
                None => Err(NamespaceError::new(
                    libc::ENOENT,
                    format!("no bucket '{name}' is mounted"),
                )),
            },
            Dir::Bucket { bucket, prefix } => {
                match self.buckets.lookup(bucket, prefix, name).await {
                    Ok(Some(child)) => Ok(bucket_child(bucket, prefix, name, child)),
                    Ok(None) => Err(NamespaceError::quiet(libc::ENOENT)),
                    Err(e) => Err(NamespaceError::from_store(&e)),
                }
            }
            Dir::ViewsRoot => {
                if self.views.as_ref().is_some_and(|v| v.contains(name)) {
                    Ok(view_dir(name.into(), None))
                } else {
                    Err(NamespaceError::new(
                        libc::ENOENT,
                        format!("no view named '{name}' is configured"),
                    ))
                }
            }
            Dir::View { view, folder } => {
                let listing = self.view_listing(view).await?;
                if folder.is_none() && name == MANIFEST_NAME {
                    return Ok(in_memory(&listing.manifest, &listing));
                }
                match listing.entry(folder.as_deref(), name) {
                    Some(entry) => Ok(view_node(view, &listing, name, entry)),
                    None => Err(NamespaceError::quiet(libc::ENOENT)),
                }
            }
            Dir::Status if name == STATS_FILE => Ok(NodeKind::Status(StatusFile::Stats)),
            Dir::Status => Err(NamespaceError::quiet(libc::ENOENT)),
        }
    }

    /// The entries of `dir`.
    pub async fn list(&self, dir: &Dir) -> Result<DirListing, NamespaceError> {
        let entries = match dir {
            Dir::Root => self.root_entries(),
            Dir::Bucket { bucket, prefix } => {
                let listing = self
                    .buckets
                    .list(bucket, prefix)
                    .await
                    .map_err(|e| NamespaceError::from_store(&e))?;
                let entries = listing
                    .children
                    .iter()
                    .map(|(name, child)| {
                        let kind = bucket_child(bucket, prefix, name, child.clone());
                        (name.clone(), kind)
                    })
                    .collect();
                return Ok(DirListing {
                    entries,
                    fetched: Some(listing.fetched),
                });
            }
            Dir::ViewsRoot => self
                .views
                .iter()
                .flat_map(|v| v.names())
                .map(|name| (name.to_string(), view_dir(name.into(), None)))
                .collect(),
            Dir::View { view, folder } => self.view_entries(view, folder).await?,
            Dir::Status => vec![(STATS_FILE.to_string(), NodeKind::Status(StatusFile::Stats))],
        };
        Ok(DirListing {
            entries,
            fetched: None,
        })
    }

    /// Fresh metadata of one object (to revalidate an open after the metadata TTL).
    pub async fn head(&self, bucket: &str, key: &str) -> Result<ObjectMeta, NamespaceError> {
        self.buckets
            .head(bucket, key)
            .await
            .map_err(|e| NamespaceError::from_store(&e))
    }

    /// The root's entries: the buckets, then `views` when views are configured, then the
    /// status folder.
    fn root_entries(&self) -> Vec<(String, NodeKind)> {
        let mut out = self.bucket_roots();
        if self.views.is_some() {
            out.push((VIEWS_DIR.to_string(), NodeKind::Dir(Dir::ViewsRoot)));
        }
        out.push((STATUS_DIR.to_string(), NodeKind::Dir(Dir::Status)));
        out
    }

    /// The current listing of view `view`.
    async fn view_listing(&self, view: &str) -> Result<Arc<ViewListing>, NamespaceError> {
        let views = self
            .views
            .as_ref()
            .ok_or_else(|| NamespaceError::quiet(libc::ENOENT))?;
        views.listing(view).await
    }

    /// The entries of a view directory (or obs folder), manifest included.
    async fn view_entries(
        &self,
        view: &Arc<str>,
        folder: &Option<String>,
    ) -> Result<Vec<(String, NodeKind)>, NamespaceError> {
        let listing = self.view_listing(view).await?;
        let mut out = Vec::new();
        if folder.is_none() {
            out.push((
                MANIFEST_NAME.to_string(),
                in_memory(&listing.manifest, &listing),
            ));
            if !listing.manifest_ecsv.is_empty() {
                out.push((
                    MANIFEST_ECSV_NAME.to_string(),
                    in_memory(&listing.manifest_ecsv, &listing),
                ));
            }
        }
        for (name, entry) in listing.entries(folder.as_deref()) {
            let kind = view_node(view, &listing, &name, entry);
            out.push((name, kind));
        }
        Ok(out)
    }
}

fn bucket_node(bucket: &str, prefix: String) -> NodeKind {
    NodeKind::Dir(Dir::Bucket {
        bucket: bucket.into(),
        prefix,
    })
}

/// The node of `name` in the bucket folder `prefix` of `bucket`.
fn bucket_child(bucket: &Arc<str>, prefix: &str, name: &str, child: Child) -> NodeKind {
    match child {
        Child::Dir => NodeKind::Dir(Dir::Bucket {
            bucket: bucket.clone(),
            prefix: format!("{prefix}{name}/"),
        }),
        Child::File(meta) => NodeKind::File {
            bucket: bucket.clone(),
            key: meta.key.as_str().into(),
            meta,
            checked: Instant::now(),
            origin: None,
        },
    }
}

fn view_dir(view: Arc<str>, folder: Option<String>) -> NodeKind {
    NodeKind::Dir(Dir::View { view, folder })
}

/// A file of a view made in memory (a manifest), as old as the listing.
fn in_memory(text: &str, listing: &ViewListing) -> NodeKind {
    NodeKind::Virtual {
        data: Bytes::from(text.to_string().into_bytes()),
        mtime: listing.resolved_at,
    }
}

/// The node of one entry of a view's listing.
fn view_node(view: &Arc<str>, listing: &ViewListing, name: &str, entry: ViewEntry) -> NodeKind {
    match entry {
        ViewEntry::Folder => view_dir(view.clone(), Some(name.to_string())),
        ViewEntry::File(i) => {
            let f = &listing.files[i];
            // The listing's metadata is as old as its resolution (views refresh daily): an
            // open past the metadata TTL checks the object again, as for bucket files.
            let age = listing.resolved_at.elapsed().unwrap_or_default();
            let checked = Instant::now().checked_sub(age).unwrap_or_else(Instant::now);
            NodeKind::File {
                bucket: f.bucket.as_str().into(),
                key: f.key.as_str().into(),
                meta: f.meta(),
                checked,
                origin: Some(Arc::new(Origin {
                    data_uri: f.data_uri.clone(),
                    s3_uri: f.s3_uri(),
                    obsid: f.obsid.clone(),
                })),
            }
        }
    }
}
