//! astroquery's download layout, `mastDownload/<obs_collection>/<obs_id>/<productFilename>`,
//! for `mastfs get --layout mast-download`: the paths of a view's products, by dataURI.

use std::collections::HashMap;
use std::path::PathBuf;

use mastfs_mast::Resolution;

use crate::namespace::names::is_valid_name;

/// The folder astroquery's `download_products` writes into.
pub(crate) const MAST_DOWNLOAD_DIR: &str = "mastDownload";

/// Each product's path in astroquery's layout.
pub(crate) struct MastDownload {
    paths: HashMap<String, PathBuf>,
}

impl MastDownload {
    pub(crate) fn of(resolution: &Resolution) -> MastDownload {
        let paths = resolution
            .products
            .iter()
            .filter_map(|p| -> Option<(String, PathBuf)> {
                let collection = p
                    .row
                    .get("obs_collection")
                    .and_then(|v| v.as_str())
                    .map(str::to_string)
                    .or_else(|| collection_of_data_uri(&p.data_uri))
                    .unwrap_or_else(|| "unknown".to_string());
                // Names from MAST become path components only when each is one safe name.
                let parts = [collection.as_str(), &p.obs_id, &p.product_filename];
                let path = parts.iter().all(|n| is_valid_name(n)).then(|| {
                    parts
                        .iter()
                        .fold(PathBuf::from(MAST_DOWNLOAD_DIR), |path, n| path.join(n))
                });
                Some((p.data_uri.clone(), path?))
            })
            .collect();
        MastDownload { paths }
    }

    pub(crate) fn path_of(&self, data_uri: &str) -> Option<PathBuf> {
        self.paths.get(data_uri).cloned()
    }
}

/// `mast:HST/product/x.fits` → `HST`.
fn collection_of_data_uri(data_uri: &str) -> Option<String> {
    let rest = data_uri.split_once(':')?.1;
    rest.split('/')
        .next()
        .filter(|c| !c.is_empty())
        .map(str::to_string)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn collection_from_a_data_uri() {
        assert_eq!(
            collection_of_data_uri("mast:HST/product/jbeveo010_drz.fits").as_deref(),
            Some("HST")
        );
        assert_eq!(collection_of_data_uri("nothing"), None);
    }
}
