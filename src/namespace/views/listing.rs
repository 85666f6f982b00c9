//! A view as configured ([`ViewDef`]) and as resolved ([`ViewListing`]): its files, its
//! manifest text, and the index that answers a lookup in O(1). Persisted as JSON (see
//! `persist.rs`), so its serialized form is kept readable by older listings.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::OnceLock;
use std::time::{Duration, SystemTime};

use mastfs_mast::ViewQuery;
use serde::{Deserialize, Serialize};

use crate::config::ViewLayout;
use crate::store::ObjectMeta;

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
    pub(super) lookup_index: OnceLock<LookupIndex>,
}

/// (folder, file name) → file index, and the obs_id folders.
#[derive(Clone, Debug, Default)]
pub(super) struct LookupIndex {
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

impl ViewListing {
    /// Why a resolved view lists no files, in the words of its resolution summary.
    pub fn empty_reason(&self) -> String {
        if self.products == 0 {
            return "MAST found no products for these criteria and product filters".into();
        }
        let mut reason = format!(
            "{} product(s) matched, none is a file here ({} duplicate(s), {} not in the cloud)",
            self.products, self.duplicates, self.not_in_cloud
        );
        if !self.summary.is_empty() {
            reason.push_str(": ");
            reason.push_str(&self.summary.join(" "));
        }
        reason
    }
}

/// A file of view `v` for tests: `obs/name` in bucket `b`.
#[cfg(test)]
pub(super) fn sample_file(name: &str, obs: &str) -> ViewFile {
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

#[cfg(test)]
mod tests {
    use super::*;

    fn file(name: &str, obs: &str) -> ViewFile {
        sample_file(name, obs)
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
}
