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
//! Here: the command line and the plan (which object goes to which path). Where objects
//! come from is `sources.rs`, the transfer `download.rs`, the display `progress.rs`.

use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use anyhow::{anyhow, bail, Context};
use clap::Args;

use crate::config::{self, Overrides};
use crate::namespace::names::is_valid_name;
use crate::setup;

mod download;
mod progress;
mod sources;
mod xattr;

use download::{download_all, Options};
pub(crate) use progress::Progress;
pub(crate) use sources::{mastfs_mount_points, resolve_source, Target};

/// The extended attribute of view files that names their object.
pub const S3_URI_XATTR: &str = "user.mast.s3_uri";

#[derive(Debug, Args)]
pub struct GetArgs {
    /// What to download: s3://BUCKET/KEY, a file under a mastfs mount, or a view name
    /// (from the config or --view).
    #[arg(value_name = "SOURCE", num_args = 1.., required = true)]
    pub sources: Vec<String>,
    /// Where to: a file, or a directory (DIR/, an existing one, or for several sources and
    /// views) that receives each file under its own name.
    #[arg(value_name = "DEST", required = true)]
    pub dest: String,
    /// Replace existing files that differ from the object.
    #[arg(long)]
    pub force: bool,
    /// Ranged GETs in flight per file.
    #[arg(short, long, value_name = "N", default_value_t = 8)]
    pub jobs: usize,
    /// Size of one ranged GET, e.g. 8MiB.
    #[arg(long, value_name = "SIZE", default_value = "8MiB")]
    pub part_size: String,
    /// Plain progress lines even on a terminal.
    #[arg(long)]
    pub no_progress: bool,
    #[command(flatten)]
    pub settings: SourceSettings,
}

/// The settings that reach S3 and MAST without a mount (`get`, `warm`): the mount's
/// configuration, as flags.
#[derive(Debug, Args)]
#[command(next_help_heading = "Configuration")]
pub struct SourceSettings {
    /// Config file (for [s3], [[buckets]] signed = true, [cache], [mast] and [[views]]).
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// S3 endpoint [env: AWS_ENDPOINT_URL] [default: AWS].
    #[arg(long, value_name = "URL")]
    pub endpoint_url: Option<String>,
    /// Address buckets as ENDPOINT/BUCKET.
    #[arg(long)]
    pub force_path_style: bool,
    /// AWS region [env: AWS_REGION] [default: us-east-1].
    #[arg(long, value_name = "R")]
    pub region: Option<String>,
    /// MAST base URL, for view names [env: MASTFS_MAST_URL].
    #[arg(long, value_name = "URL")]
    pub mast_url: Option<String>,
    /// A view to use by name: "NAME CRITERION... [--products FILTER...]" (repeatable).
    #[arg(long = "view", value_name = "SPEC")]
    pub views: Vec<String>,
}

impl SourceSettings {
    pub fn overrides(&self) -> Overrides {
        Overrides {
            config_file: self.config.clone(),
            endpoint_url: self.endpoint_url.clone(),
            force_path_style: self.force_path_style,
            region: self.region.clone(),
            mast_url: self.mast_url.clone(),
            views: self.views.clone(),
            ..Default::default()
        }
    }
}

/// Each target's path inside `dest`, and the targets left out because their name is not a
/// relative path of safe components (`..`, an absolute path, an empty or overlong
/// component): nothing is ever written outside `dest`.
fn plan_into_dir(dest: &Path, targets: Vec<Target>) -> (Vec<(Target, PathBuf)>, Vec<Target>) {
    let (safe, unsafe_names): (Vec<Target>, Vec<Target>) =
        targets.into_iter().partition(|t| is_safe_relative(&t.name));
    for t in &unsafe_names {
        tracing::warn!(uri = %t.uri(), name = %t.name.display(), "skipped: the name is not a safe file name");
    }
    let plan = safe
        .into_iter()
        .map(|t| {
            let path = dest.join(&t.name);
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
        let (store, _counters) = setup::build_store(&cfg).await?;
        let mut targets = Vec::new();
        let mut any_view = false;
        for source in sources {
            let resolved = resolve_source(source, &cfg).await?;
            any_view |= resolved.is_view;
            targets.extend(resolved.targets);
        }
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
            let (plan, skipped) = plan_into_dir(dest, targets);
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
        download_all(store, plan, &options, !args.no_progress).await
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
        let (plan, skipped) = plan_into_dir(dest, names.iter().map(|n| target(n)).collect());
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
