//! `mastfs get SOURCE... DEST`: download archive files without a mount.
//!
//! A SOURCE is an `s3://BUCKET/KEY` URI, a file under a mastfs mount (mapped back to its
//! object by the `user.mast.s3_uri` attribute of view files, or by the layout
//! `MOUNTPOINT/<bucket>/<key>`), or the name of a view (resolved through MAST as
//! `mastfs query` does). Each object is fetched with parallel ranged GETs pinned to the
//! ETag seen by HEAD, written in order to `DEST.part` (so a `.part` is always a valid prefix
//! and an interrupted download continues where it stopped), checked for size and, when the
//! ETag is a plain MD5, for content, then renamed into place with the object's date.
//!
//! Here: the plan (which object goes to which path; the arguments are
//! `crate::cli::args::GetArgs`). Where objects come from is `sources.rs`, the transfer
//! `download.rs`, the display `progress.rs`, the record of the run `manifest.rs`.

use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use crate::cli::args::{GetArgs, GetLayout};
use crate::config;
use crate::namespace::names::is_valid_name;
use anyhow::{anyhow, bail, Context};

mod download;
mod layout;
mod manifest;
mod mounted;
mod progress;
mod sources;
mod xattr;

use download::{download_all, Options};
pub(crate) use progress::Progress;
pub(crate) use sources::{resolve_source, Target};

/// The manifest's place under a destination directory in astroquery's layout.
const DEFAULT_MANIFEST: &str = "mastDownload/manifest.csv";

/// Each target's path inside `dest`, and the targets left out because their name is not a
/// relative path of safe components (`..`, an absolute path, an empty or overlong
/// component): nothing is ever written outside `dest`.
fn plan_into_dir(
    dest: &Path,
    targets: Vec<Target>,
    mast_download: bool,
) -> (Vec<(Target, PathBuf)>, Vec<Target>) {
    // astroquery's layout (mastDownload/<obs_collection>/<obs_id>/<file>) where asked for
    // and known; the file name alone otherwise. Either way every component must be safe.
    let relative = |t: &Target| -> PathBuf {
        match (&t.mast_download, mast_download) {
            (Some(tree), true) => tree.clone(),
            _ => t.name.clone(),
        }
    };
    let (safe, unsafe_names): (Vec<Target>, Vec<Target>) = targets
        .into_iter()
        .partition(|t| is_safe_relative(&relative(t)));
    for t in &unsafe_names {
        tracing::warn!(uri = %t.uri(), name = %relative(t).display(), "skipped: the name is not a safe file name");
    }
    let plan = safe
        .into_iter()
        .map(|t| {
            let path = dest.join(relative(&t));
            (t, path)
        })
        .collect();
    (plan, unsafe_names)
}

/// True when `path` is one or more components that are each a valid file name.
fn is_safe_relative(path: &Path) -> bool {
    let mut components = path.components().peekable();
    components.peek().is_some()
        && components.all(|c| match c {
            std::path::Component::Normal(name) => name.to_str().is_some_and(is_valid_name),
            _ => false,
        })
}

pub fn run(args: &GetArgs) -> anyhow::Result<()> {
    let (sources, dest) = (&args.sources, &args.dest);
    let part_size = config::parse_size(&args.part_size)
        .map_err(|e| anyhow!("--part-size {}: {e}", args.part_size))?
        .max(64 * 1024);
    let cfg = config::load(&args.settings.overrides())?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    runtime.block_on(async {
        let mut routes = mounted::BucketRoutes::default();
        let mut targets = Vec::new();
        let mut any_view = false;
        for source in sources {
            let resolved = resolve_source(source, &cfg).await?;
            let settings = mounted::settings_of(source)?;
            for t in &resolved.targets {
                routes.add(&t.bucket, settings.clone(), source)?;
            }
            any_view |= resolved.is_view;
            targets.extend(resolved.targets);
        }
        let store = routes.store(&cfg).await?;
        if targets.is_empty() {
            bail!("nothing to download: the view(s) have no files in the cloud");
        }
        let dest = Path::new(dest);
        let into_dir = targets.len() > 1
            || any_view
            || dest.as_os_str().as_bytes().ends_with(b"/")
            || dest.is_dir();
        let plan: Vec<(Target, PathBuf)> = if into_dir {
            if !dest.is_dir() {
                if targets.len() > 1 && !any_view && !dest.as_os_str().as_bytes().ends_with(b"/")
                {
                    bail!(
                        "{} is not a directory: several files go into a directory (write {}/ to create it)",
                        dest.display(),
                        dest.display()
                    );
                }
                std::fs::create_dir_all(dest)
                    .with_context(|| format!("cannot create {}", dest.display()))?;
            }
            let (plan, skipped) = plan_into_dir(dest, targets, args.layout == GetLayout::MastDownload);
            if !skipped.is_empty() {
                eprintln!(
                    "mastfs get: {} file(s) skipped: their names would leave {} ({})",
                    skipped.len(),
                    dest.display(),
                    skipped
                        .iter()
                        .map(Target::uri)
                        .collect::<Vec<_>>()
                        .join(", ")
                );
            }
            if plan.is_empty() {
                bail!("nothing to download: every file was skipped");
            }
            plan
        } else {
            targets
                .into_iter()
                .map(|t| (t, dest.to_path_buf()))
                .collect()
        };
        let options = Options {
            force: args.force,
            jobs: args.jobs.max(1),
            part_size,
        };
        let manifest = args
            .manifest
            .clone()
            .or_else(|| {
                (into_dir && args.layout == GetLayout::MastDownload)
                    .then(|| dest.join(DEFAULT_MANIFEST))
            });
        let mut reports = Vec::new();
        let outcome = download_all(store, plan, &options, !args.no_progress, &mut reports).await;
        if let Some(path) = manifest {
            manifest::write(&path, &reports)?;
            eprintln!("mastfs get: manifest in {}", path.display());
        }
        outcome
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn target(name: &str) -> Target {
        Target {
            bucket: "b".into(),
            key: format!("k/{name}"),
            name: PathBuf::from(name),
            mast_download: None,
        }
    }

    #[test]
    fn names_that_would_leave_dest_are_skipped() {
        let dest = Path::new("/tmp/dest");
        let names = [
            "ok.fits",
            "obs1/ok.fits",
            "../escape.fits",
            "obs/../../escape.fits",
            "/etc/passwd",
            "./dot.fits",
            "",
        ];
        let (plan, skipped) = plan_into_dir(dest, names.iter().map(|n| target(n)).collect(), false);
        let planned: Vec<_> = plan.iter().map(|(_, p)| p.clone()).collect();
        assert_eq!(
            planned,
            vec![dest.join("ok.fits"), dest.join("obs1/ok.fits")],
            "planned paths"
        );
        let skipped: Vec<_> = skipped.iter().map(|t| t.name.clone()).collect();
        assert_eq!(
            skipped,
            [
                "../escape.fits",
                "obs/../../escape.fits",
                "/etc/passwd",
                "./dot.fits",
                ""
            ]
            .map(PathBuf::from)
            .to_vec(),
            "skipped names"
        );
    }
}
