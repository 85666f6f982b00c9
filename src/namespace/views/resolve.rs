//! Resolution: a view's MAST query becomes files. MAST gives the products; each one in the
//! cloud gets a HEAD for its size, ETag and date; names from MAST that cannot be one path
//! component are left out, duplicates are disambiguated, and the manifest is written.

use std::collections::HashMap;
use std::sync::{Arc, OnceLock};
use std::time::SystemTime;

use futures::StreamExt;
use mastfs_mast::{ColumnConfig, MastClient, Resolution, ResolvedProduct};

use super::listing::{ViewDef, ViewFile, ViewListing};
use super::manifest::manifest_tables;
use crate::config::ViewLayout;
use crate::namespace::names::is_valid_name;
use crate::store::{ObjectStore, StoreErrorKind};

/// The most files one view may hold: each costs a HEAD at every resolution and memory for
/// as long as the mount lives.
const MAX_VIEW_FILES: usize = 100_000;

/// What a resolution asks: MAST for the products, the store for their objects.
pub(super) struct Resolver {
    client: Arc<MastClient>,
    columns: ColumnConfig,
    store: Arc<dyn ObjectStore>,
}

impl Resolver {
    pub(super) fn new(
        client: Arc<MastClient>,
        columns: ColumnConfig,
        store: Arc<dyn ObjectStore>,
    ) -> Resolver {
        Resolver {
            client,
            columns,
            store,
        }
    }

    /// The MAST base URL (what a persisted listing was resolved against).
    pub(super) fn mast_url(&self) -> &str {
        &self.client.options().base_url
    }

    /// One resolution, bounded as a whole by `[mast] timeout` (MAST's queries and pages,
    /// and the HEADs of the products, together).
    pub(super) async fn resolve(&self, def: &ViewDef) -> Result<ViewListing, String> {
        let budget = self.client.options().query_budget;
        match tokio::time::timeout(budget, self.resolve_unbounded(def)).await {
            Ok(outcome) => outcome,
            Err(_) => Err(format!(
                "the resolution took longer than [mast] timeout ({}); stopped",
                humantime::format_duration(budget)
            )),
        }
    }

    async fn resolve_unbounded(&self, def: &ViewDef) -> Result<ViewListing, String> {
        let resolution = self
            .client
            .resolve(&def.query, &self.columns)
            .await
            .map_err(|e| e.to_string())?;
        for line in resolution.summary_lines() {
            tracing::info!(view = %def.name, "{line}");
        }
        self.build_listing(def, &resolution).await
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
}

/// Whether every name of `f` that becomes a path component (its file name, its obs_id
/// folder, and the obs_id that [`disambiguate`] may insert) is one safe component.
pub(super) fn has_safe_names(f: &ViewFile) -> bool {
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::namespace::views::listing::sample_file as file;

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
