//! Where `get` and `warm` find objects: `s3://BUCKET/KEY` URIs, files under a mastfs mount
//! (by their `user.mast.s3_uri` attribute, or `MOUNTPOINT/<bucket>/<key>`), and view names
//! resolved through MAST as `mastfs query` does.

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{anyhow, bail, Context};

use super::xattr::getxattr;
use crate::config::{self, Config, ViewLayout};
use crate::daemon::setup;
use crate::mounts::mastfs_mount_points;
use crate::namespace::names::is_valid_name;
use crate::namespace::views::{safe_view_files, ViewFile};

/// The extended attribute of view files that names their object.
pub const S3_URI_XATTR: &str = "user.mast.s3_uri";

/// One object to fetch and where it goes.
#[derive(Clone, Debug)]
pub(crate) struct Target {
    pub(crate) bucket: String,
    pub(crate) key: String,
    /// File name, with a subfolder for view layouts that have one.
    pub(crate) name: PathBuf,
    /// Where astroquery's `download_products` puts it:
    /// `mastDownload/<obs_collection>/<obs_id>/<productFilename>` (products of views only).
    pub(crate) mast_download: Option<PathBuf>,
}

impl Target {
    pub(crate) fn uri(&self) -> String {
        format!("s3://{}/{}", self.bucket, self.key)
    }
}

/// What a SOURCE turned into.
pub(crate) struct Resolved {
    pub(crate) targets: Vec<Target>,
    /// A view always goes into a directory.
    pub(super) is_view: bool,
}

pub(crate) async fn resolve_source(source: &str, cfg: &Config) -> anyhow::Result<Resolved> {
    if let Some(rest) = source.strip_prefix("s3://") {
        let target = target_of_uri(rest)
            .ok_or_else(|| anyhow!("{source}: give s3://BUCKET/KEY (a key, not a prefix)"))?;
        return Ok(Resolved {
            targets: vec![target],
            is_view: false,
        });
    }
    let path = Path::new(source);
    if std::fs::symlink_metadata(path).is_ok() {
        return Ok(Resolved {
            targets: vec![target_of_mounted_path(path)?],
            is_view: false,
        });
    }
    if cfg.views.iter().any(|v| v.name == source) {
        return Ok(Resolved {
            targets: resolve_view(source, cfg).await?,
            is_view: true,
        });
    }
    let known: Vec<&str> = cfg.views.iter().map(|v| v.name.as_str()).collect();
    bail!(
        "'{source}' is not an s3:// URI, an existing file, or a view of the config (views: {})",
        if known.is_empty() {
            "none".to_string()
        } else {
            known.join(", ")
        }
    )
}

/// `BUCKET/KEY` (after `s3://`) as a target named by the key's last segment.
fn target_of_uri(rest: &str) -> Option<Target> {
    let (bucket, key) = rest.split_once('/')?;
    let name = key.rsplit('/').next().filter(|n| is_valid_name(n))?;
    if bucket.is_empty() {
        return None;
    }
    Some(Target {
        bucket: bucket.to_string(),
        key: key.to_string(),
        name: PathBuf::from(name),
        mast_download: None,
    })
}

/// A file under a mastfs mount: its `user.mast.s3_uri` (view files), else
/// `MOUNTPOINT/<bucket>/<key>`.
fn target_of_mounted_path(path: &Path) -> anyhow::Result<Target> {
    let meta =
        std::fs::metadata(path).with_context(|| format!("cannot read {}", path.display()))?;
    if meta.is_dir() {
        bail!(
            "{} is a directory; give the files in it (e.g. {}/*)",
            path.display(),
            path.display()
        );
    }
    if let Some(uri) = getxattr(path, S3_URI_XATTR) {
        if let Some(mut target) = uri.strip_prefix("s3://").and_then(target_of_uri) {
            // Keep the name the file has in the view (it may have been disambiguated).
            if let Some(name) = path.file_name() {
                target.name = PathBuf::from(name);
            }
            return Ok(target);
        }
    }
    let canonical = std::fs::canonicalize(path)
        .with_context(|| format!("cannot resolve {}", path.display()))?;
    let mountpoint = mastfs_mount_points()
        .into_iter()
        .filter(|m| canonical.starts_with(m))
        .max_by_key(|m| m.as_os_str().len())
        .ok_or_else(|| {
            anyhow!(
                "{} is neither an s3:// URI nor a file under a mastfs mount",
                path.display()
            )
        })?;
    let relative = canonical.strip_prefix(&mountpoint).unwrap_or(&canonical);
    let mut parts = relative.iter().map(|p| p.to_string_lossy().to_string());
    let bucket = parts.next().unwrap_or_default();
    let key: Vec<String> = parts.collect();
    if bucket == config::VIEWS_DIR || key.is_empty() {
        bail!(
            "{} is under {} but has no {S3_URI_XATTR} attribute to name its object",
            path.display(),
            mountpoint.display()
        );
    }
    let key = key.join("/");
    target_of_uri(&format!("{bucket}/{key}"))
        .ok_or_else(|| anyhow!("{} does not name an object", path.display()))
}

/// The products of a view, named as the view's folder names them.
async fn resolve_view(name: &str, cfg: &Config) -> anyhow::Result<Vec<Target>> {
    let client = setup::mast_client(cfg)?;
    let columns = setup::column_config(&client, Duration::from_secs(30)).await;
    let defs = setup::view_defs(&cfg.views, &columns)?;
    let def = defs
        .into_iter()
        .find(|d| d.name == name)
        .ok_or_else(|| anyhow!("no view named '{name}'"))?;
    let resolution = client.resolve(&def.query, &columns).await.map_err(|e| {
        anyhow!(
            "MAST query for view '{name}' failed ({}): {e}",
            cfg.mast.url
        )
    })?;
    for line in resolution.summary_lines() {
        eprintln!("{line}");
    }
    let mut files: Vec<ViewFile> = resolution
        .cloud_products()
        .filter_map(|p| {
            let loc = p.cloud.as_ref()?;
            Some(ViewFile {
                name: p.product_filename.clone(),
                folder: (def.layout == ViewLayout::ByObs).then(|| p.obs_id.clone()),
                bucket: def.bucket.clone().unwrap_or_else(|| loc.bucket.clone()),
                key: loc.key.clone(),
                size: 0,
                etag: String::new(),
                last_modified: std::time::UNIX_EPOCH,
                data_uri: p.data_uri.clone(),
                obsid: p.obsid.clone(),
                obs_id: p.obs_id.clone(),
            })
        })
        .collect();
    let (files, left_out) = safe_view_files(name, std::mem::take(&mut files));
    if !left_out.is_empty() {
        eprintln!(
            "mastfs get: {} product(s) of view '{name}' skipped: their names from MAST cannot be file names ({})",
            left_out.len(),
            left_out
                .iter()
                .map(|f| f.data_uri.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        );
    }
    let layout = super::layout::MastDownload::of(&resolution);
    Ok(files
        .into_iter()
        .map(|f| Target {
            name: match &f.folder {
                Some(folder) => Path::new(folder).join(&f.name),
                None => PathBuf::from(&f.name),
            },
            mast_download: layout.path_of(&f.data_uri),
            bucket: f.bucket,
            key: f.key,
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uris_name_bucket_key_and_file() {
        let t = target_of_uri("stpubdata/hst/public/x_drz.fits").unwrap();
        assert_eq!(
            (t.bucket.as_str(), t.key.as_str(), t.name.to_str().unwrap()),
            ("stpubdata", "hst/public/x_drz.fits", "x_drz.fits")
        );
        assert!(target_of_uri("stpubdata/hst/").is_none(), "a prefix");
        assert!(target_of_uri("stpubdata").is_none(), "no key");
        for unsafe_key in ["stpubdata/a/..", "stpubdata/..", "stpubdata/a/."] {
            assert!(
                target_of_uri(unsafe_key).is_none(),
                "{unsafe_key}: a key whose last segment is not a file name was accepted"
            );
        }
    }
}
