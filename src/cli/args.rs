//! Every clap definition of the command line: the subcommands, their arguments, and how
//! those arguments become configuration overrides. Commands (`crate::cmd`) take these
//! values; the mount-helper form and `-o` are rewritten into this shape before clap parses.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

use crate::config::Overrides;
use crate::daemon::logging::{LogFormat, LogSettings};

/// `mastfs --version`: the crate version, the git commit and the build date.
pub const VERSION: &str = concat!(
    env!("CARGO_PKG_VERSION"),
    " (",
    env!("MASTFS_GIT_COMMIT"),
    ", built ",
    env!("MASTFS_BUILD_DATE"),
    ")"
);

#[derive(Debug, Parser)]
#[command(
    name = "mastfs",
    version = VERSION,
    about = "Mount MAST astronomy archive data in S3 as a read-only directory tree",
    long_about = "mastfs mounts S3 buckets (by default the public MAST bucket stpubdata) as a \
                  read-only directory tree, served through a block cache of ranged GETs, so \
                  that astropy, asdf, ds9 and any other tool open archive files by path.",
    after_help = "Examples:\n  \
                  mastfs mount ~/mast                       mount stpubdata, return once live\n  \
                  mastfs stpubdata /mnt/mast -o ro          the same, as mount(8) runs it\n  \
                  mastfs query obs_collection=HST proposal_id=12062 --uris\n  \
                  mastfs get s3://stpubdata/hst/public/jbev/jbeveo010/jbeveo010_drz.fits .\n  \
                  mastfs unmount ~/mast\n\n\
                  `mastfs SOURCE MOUNTPOINT [OPTIONS]` (SOURCE a bucket or s3://BUCKET/PREFIX) \
                  is `mastfs mount MOUNTPOINT --bucket SOURCE [OPTIONS]`, for \
                  `mount -t fuse.mastfs` and /etc/fstab. See `man mastfs`."
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
    /// More log output (-v info, -vv debug, -vvv trace); RUST_LOG overrides.
    #[arg(short, long, action = clap::ArgAction::Count, global = true, help_heading = "Logging")]
    pub verbose: u8,
    /// Write logs to this file instead of standard error.
    #[arg(long, global = true, value_name = "FILE", help_heading = "Logging")]
    pub log_file: Option<PathBuf>,
    /// Debug logging (the same as -vv).
    #[arg(short, long, global = true, help_heading = "Logging")]
    pub debug: bool,
    /// How log lines are written.
    #[arg(
        long,
        global = true,
        value_enum,
        default_value_t,
        help_heading = "Logging"
    )]
    pub log_format: LogFormat,
}

impl Cli {
    /// The -v count, with --debug as -vv.
    pub fn verbosity(&self) -> u8 {
        if self.debug {
            self.verbose.max(2)
        } else {
            self.verbose
        }
    }

    /// The logging flags, for the command to apply once it knows where it runs.
    pub fn logging(&self) -> LogSettings {
        LogSettings {
            verbose: self.verbosity(),
            file: self.log_file.clone(),
            format: self.log_format,
        }
    }
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Mount buckets (and views) at MOUNTPOINT.
    Mount(Box<MountArgs>),
    /// Unmount a mastfs mount point (also clears a mount left stale by a crash).
    Unmount(UnmountArgs),
    /// Run a MAST query and print the products, their S3 URIs and the summary.
    Query(QueryArgs),
    /// Manage the views of a running mount.
    #[command(subcommand)]
    Views(ViewsCommand),
    /// Make a running mount forget its cached blocks and metadata (for cold benchmarks;
    /// also run `echo 3 > /proc/sys/vm/drop_caches` for the kernel's page cache).
    DropCaches { mountpoint: PathBuf },
    /// Show a running mount's statistics as JSON (requests, bytes, cache hits, views);
    /// the same as `cat MOUNTPOINT/.mastfs/stats.json`.
    Stats { mountpoint: PathBuf },
    /// Download files: s3:// URIs, files under a mount, or whole views, with parallel
    /// ranged GETs, resumable (DEST.part), verified (size, MD5 ETags).
    Get(GetArgs),
    /// Pull files into the disk cache before they are needed: files or folders under a
    /// mount started with --disk-cache, or s3:// URIs and views without a mount.
    Warm(WarmArgs),
    /// Print a shell completion script, e.g. `mastfs completions bash >
    /// /usr/share/bash-completion/completions/mastfs`.
    Completions {
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
    /// Print the man page (roff), generated from these definitions (docs/mastfs.1).
    #[command(hide = true)]
    Man,
}

#[derive(Debug, Args)]
pub struct QueryArgs {
    /// Criteria as `column=value`, `column=a,b` (any of), `column=lo..hi` (a range of a
    /// continuous column), `column=M*` (wildcard).
    #[arg(value_name = "CRITERION", required = true)]
    pub criteria: Vec<String>,
    /// Product filters as `column=value[,value...]`, `column=!value`, `size=<1e8`,
    /// `calib_level=2..3`, `mrp_only=true`, `extension=fits`.
    #[arg(long, num_args = 1.., value_name = "FILTER")]
    pub products: Vec<String>,
    /// What to print on stdout: the product table as astropy prints it (`table`, read back
    /// by `astropy.io.ascii` as fixed_width_two_line), `csv`, `ecsv` (types kept),
    /// `votable`, `json` (the whole resolution; stable, see the README), or `uris` (one
    /// s3:// URI per line). Default: the table, then the URIs.
    #[arg(long, value_enum, value_name = "FORMAT", conflicts_with_all = ["uris", "json"])]
    pub format: Option<QueryFormat>,
    /// Print only the s3:// URIs, one per line (= --format uris).
    #[arg(long, conflicts_with = "json")]
    pub uris: bool,
    /// Print everything as JSON (= --format json).
    #[arg(long)]
    pub json: bool,
    /// Config file (for [mast] url and the like).
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// MAST base URL [env: MASTFS_MAST_URL] [default: https://mast.stsci.edu].
    #[arg(long, value_name = "URL")]
    pub mast_url: Option<String>,
}

/// Output formats of `mastfs query`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum QueryFormat {
    Table,
    Csv,
    Ecsv,
    Votable,
    Json,
    Uris,
}

#[derive(Debug, Subcommand)]
pub enum ViewsCommand {
    /// Resolve a view again now (a failed refresh keeps the last listing).
    Refresh { mountpoint: PathBuf, view: String },
    /// Show each view's state as a table: files, when resolved (local time), state, last
    /// error, and why an empty view is empty.
    Status {
        mountpoint: PathBuf,
        /// Print JSON instead (times in RFC 3339, UTC).
        #[arg(long)]
        json: bool,
    },
}

#[derive(Debug, Args)]
pub struct MountArgs {
    /// Where to mount: an existing, empty directory.
    pub mountpoint: PathBuf,
    /// A bucket to mount, as NAME or NAME/PREFIX (repeatable; replaces the config's list).
    #[arg(
        long = "bucket",
        value_name = "NAME[/PREFIX]",
        help_heading = "Buckets"
    )]
    pub buckets: Vec<String>,
    /// A bucket read with AWS credentials (standard chain, --profile), as NAME or
    /// NAME/PREFIX (repeatable; with --bucket, replaces the config's list).
    #[arg(
        long = "signed-bucket",
        value_name = "NAME[/PREFIX]",
        help_heading = "Buckets"
    )]
    pub signed_buckets: Vec<String>,
    /// Read every bucket anonymously, even those the config marks signed (the default
    /// for buckets not marked).
    #[arg(long, help_heading = "Buckets")]
    pub no_sign_request: bool,
    /// AWS shared-config profile for signed buckets [env: AWS_PROFILE].
    #[arg(long, value_name = "NAME", help_heading = "Buckets")]
    pub profile: Option<String>,
    /// Config file (TOML). Default: $XDG_CONFIG_HOME/mastfs/config.toml, or
    /// /etc/mastfs/config.toml without a home folder.
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// S3 endpoint for S3-compatible stores [env: AWS_ENDPOINT_URL] [default: AWS].
    #[arg(long, value_name = "URL", help_heading = "S3")]
    pub endpoint_url: Option<String>,
    /// Address buckets as ENDPOINT/BUCKET instead of BUCKET.ENDPOINT.
    #[arg(long, help_heading = "S3")]
    pub force_path_style: bool,
    /// AWS region [env: AWS_REGION] [default: us-east-1].
    #[arg(long, value_name = "R", help_heading = "S3")]
    pub region: Option<String>,
    /// Memory for cached blocks, e.g. 512MiB, 2GiB [default: 512MiB].
    #[arg(long, value_name = "SIZE", help_heading = "Cache")]
    pub cache_size: Option<String>,
    /// Size of one ranged GET, e.g. 1MiB [default: 1MiB].
    #[arg(long, value_name = "SIZE", help_heading = "Cache")]
    pub block_size: Option<String>,
    /// How long listings and attributes are trusted, e.g. 10m, 1d [default: 1h].
    #[arg(long, value_name = "DURATION", help_heading = "Cache")]
    pub metadata_ttl: Option<String>,
    /// How long a name found missing stays missing, e.g. 0s, 5m [default: 1m].
    #[arg(long, value_name = "DURATION", help_heading = "Cache")]
    pub negative_metadata_ttl: Option<String>,
    /// Keep fetched blocks on disk across unmounts and restarts, in
    /// $XDG_CACHE_HOME/mastfs/blocks (or ~/.cache/..., /var/cache/mastfs/blocks)
    /// [env: MASTFS_CACHE_DIR turns it on at that folder].
    #[arg(long, help_heading = "Cache")]
    pub disk_cache: bool,
    /// Keep fetched blocks on disk in DIR (owner-only; implies --disk-cache).
    #[arg(long, value_name = "DIR", help_heading = "Cache")]
    pub cache_dir: Option<PathBuf>,
    /// Bound of the disk cache, e.g. 50GiB [default: 10GiB].
    #[arg(long, value_name = "SIZE", help_heading = "Cache")]
    pub disk_cache_size: Option<String>,
    /// Keep listings and attributes on disk, so that a later mount walks known paths
    /// without asking S3 (within --metadata-ttl), in $XDG_CACHE_HOME/mastfs/metadata
    /// (or ~/.cache/..., /var/cache/mastfs/metadata; the disk cache's folder when on).
    /// For archives that do not change (stpubdata): a replaced object is seen only after
    /// the TTL.
    #[arg(long, help_heading = "Cache")]
    pub persist_metadata: bool,
    /// Keep listings and attributes on disk in DIR (owner-only; implies --persist-metadata).
    #[arg(long, value_name = "DIR", help_heading = "Cache")]
    pub metadata_dir: Option<PathBuf>,
    /// Never open files by FUSE passthrough (which serves files wholly in the disk cache
    /// from local copies, as root on Linux >= 6.9): every read then goes through mastfs.
    #[arg(long, help_heading = "Cache")]
    pub no_passthrough: bool,
    /// A view given on the command line: "NAME CRITERION... [--products FILTER...]",
    /// in the syntax of `mastfs query` (repeatable).
    #[arg(long = "view", value_name = "SPEC", help_heading = "Views")]
    pub views: Vec<String>,
    /// MAST base URL [env: MASTFS_MAST_URL] [default: https://mast.stsci.edu].
    #[arg(long, value_name = "URL", help_heading = "Views")]
    pub mast_url: Option<String>,
    /// Stay in the foreground (logs to stderr; Ctrl-C or SIGTERM unmounts; systemd
    /// Type=notify readiness; SIGHUP drops cached metadata and refreshes views).
    #[arg(short, long, help_heading = "Mount")]
    pub foreground: bool,
    /// Let other users than the mounting one see the mount (root, or
    /// `user_allow_other` in /etc/fuse.conf).
    #[arg(long, help_heading = "Mount")]
    pub allow_other: bool,
    /// Serve Prometheus metrics at http://ADDR/metrics, e.g. 127.0.0.1:9464
    /// [env: MASTFS_METRICS_ADDR].
    #[arg(long, value_name = "ADDR", help_heading = "Mount")]
    pub metrics_addr: Option<std::net::SocketAddr>,
    /// Owner of every file and directory [default: the mounting user].
    #[arg(long, value_name = "UID", help_heading = "Access")]
    pub uid: Option<u32>,
    /// Group of every file and directory [default: the mounting user's group].
    #[arg(long, value_name = "GID", help_heading = "Access")]
    pub gid: Option<u32>,
    /// Permission bits of files, octal, no write bits [default: 0444].
    #[arg(long, value_name = "MODE", help_heading = "Access")]
    pub file_mode: Option<String>,
    /// Permission bits of directories, octal, no write bits [default: 0555].
    #[arg(long, value_name = "MODE", help_heading = "Access")]
    pub dir_mode: Option<String>,
    /// Mount options, comma-separated: every long option as a key, `_` or `-` alike
    /// (cache_size=1GiB, endpoint_url=URL, bucket=NAME, config=FILE, allow_other,
    /// log_file=FILE, verbose, debug, ...; explicit flags win), plus the usual ro, rw, dev,
    /// nodev, suid, nosuid, exec, noexec, _netdev, nofail, noauto, user, defaults,
    /// x-systemd.* (ignored).
    #[arg(short = 'o', value_name = "OPTS", help_heading = "Mount")]
    pub options: Vec<String>,
    /// Accepted for compatibility with mountpoint-s3 and s3fs: mastfs is always read-only.
    #[arg(long, help_heading = "Mount")]
    pub read_only: bool,
}

#[derive(Debug, Args)]
pub struct UnmountArgs {
    pub mountpoint: PathBuf,
    /// Detach now even if files are open (they are released when closed).
    #[arg(long)]
    pub lazy: bool,
}

impl MountArgs {
    pub fn overrides(&self) -> Overrides {
        Overrides {
            config_file: self.config.clone(),
            buckets: self.buckets.clone(),
            signed_buckets: self.signed_buckets.clone(),
            no_sign_request: self.no_sign_request,
            profile: self.profile.clone(),
            negative_metadata_ttl: self.negative_metadata_ttl.clone(),
            endpoint_url: self.endpoint_url.clone(),
            force_path_style: self.force_path_style,
            region: self.region.clone(),
            cache_size: self.cache_size.clone(),
            block_size: self.block_size.clone(),
            metadata_ttl: self.metadata_ttl.clone(),
            disk_cache: self.disk_cache,
            cache_dir: self.cache_dir.clone(),
            disk_cache_size: self.disk_cache_size.clone(),
            persist_metadata: self.persist_metadata,
            metadata_dir: self.metadata_dir.clone(),
            no_passthrough: self.no_passthrough,
            mast_url: self.mast_url.clone(),
            views: self.views.clone(),
            uid: self.uid,
            gid: self.gid,
            file_mode: self.file_mode.clone(),
            dir_mode: self.dir_mode.clone(),
        }
    }
}

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
    /// Where files of views go in a directory: `flat` (named as in the view's folder) or
    /// `mast-download` (astroquery's mastDownload/<obs_collection>/<obs_id>/<file>).
    #[arg(long, value_enum, default_value_t = GetLayout::Flat)]
    pub layout: GetLayout,
    /// Write the record of the run here, like astroquery's download_products table (Local
    /// Path, Status, Message, URL; ECSV for *.ecsv, else CSV) [default with --layout
    /// mast-download: DIR/mastDownload/manifest.csv].
    #[arg(long, value_name = "FILE")]
    pub manifest: Option<PathBuf>,
    #[command(flatten)]
    pub settings: SourceSettings,
}

/// How `get` lays out the files of views in a directory.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum GetLayout {
    Flat,
    MastDownload,
}

#[derive(Debug, Args)]
pub struct WarmArgs {
    /// Files or folders under a mastfs mount, s3://BUCKET/KEY URIs, or view names.
    #[arg(value_name = "PATH", num_args = 1.., required = true)]
    pub paths: Vec<String>,
    /// Files read at once.
    #[arg(short, long, value_name = "N", default_value_t = 4)]
    pub jobs: usize,
    /// Plain progress lines even on a terminal.
    #[arg(long)]
    pub no_progress: bool,
    /// Disk cache folder for s3:// URIs and views [default: as `mount --disk-cache`].
    #[arg(long, value_name = "DIR", help_heading = "Without a mount")]
    pub cache_dir: Option<PathBuf>,
    /// Bound of that disk cache [default: 10GiB].
    #[arg(long, value_name = "SIZE", help_heading = "Without a mount")]
    pub disk_cache_size: Option<String>,
    /// Block size of the mount that will read them [default: 1MiB].
    #[arg(long, value_name = "SIZE", help_heading = "Without a mount")]
    pub block_size: Option<String>,
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
    /// A bucket to read with AWS credentials (repeatable).
    #[arg(long = "signed-bucket", value_name = "NAME")]
    pub signed_buckets: Vec<String>,
    /// Read every bucket anonymously, even those the config marks signed.
    #[arg(long)]
    pub no_sign_request: bool,
    /// AWS shared-config profile for signed buckets [env: AWS_PROFILE].
    #[arg(long, value_name = "NAME")]
    pub profile: Option<String>,
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
            signed_buckets: self.signed_buckets.clone(),
            no_sign_request: self.no_sign_request,
            profile: self.profile.clone(),
            endpoint_url: self.endpoint_url.clone(),
            force_path_style: self.force_path_style,
            region: self.region.clone(),
            mast_url: self.mast_url.clone(),
            views: self.views.clone(),
            ..Default::default()
        }
    }
}
