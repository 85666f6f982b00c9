//! Resolved view listings on disk, so a restarted mount lists its views at once. One JSON
//! file per view, named by the view and a fingerprint of what it resolves (MAST URL, query,
//! bucket, layout): a changed definition never reads an old listing.

use std::path::PathBuf;

use super::listing::{ViewDef, ViewListing};
use super::resolve::has_safe_names;

/// Where the listings of one mount's views are kept (nowhere without a cache folder).
pub(super) struct ListingStore {
    dir: Option<PathBuf>,
    /// The MAST base URL, part of every persisted view's fingerprint.
    mast_url: String,
}

impl ListingStore {
    pub(super) fn new(dir: Option<PathBuf>, mast_url: String) -> ListingStore {
        ListingStore { dir, mast_url }
    }

    fn path(&self, def: &ViewDef) -> Option<PathBuf> {
        let dir = self.dir.as_ref()?;
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

    pub(super) fn save(&self, def: &ViewDef, listing: &ViewListing) {
        let Some(path) = self.path(def) else {
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

    pub(super) fn load(&self, def: &ViewDef) -> Option<ViewListing> {
        let path = self.path(def)?;
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
