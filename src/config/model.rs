//! The validated configuration a mount runs with, what the command line contributes to it
//! ([`Overrides`]), and the error that explains a bad one.

use std::path::PathBuf;
use std::time::Duration;

use serde::Deserialize;

/// The name under the mount point that holds the views; no bucket may take it.
pub const VIEWS_DIR: &str = "views";

/// Everything a mount needs, validated.
#[derive(Clone, Debug)]
pub struct Config {
    pub s3: S3Config,
    pub buckets: Vec<BucketConfig>,
    pub cache: CacheConfig,
    pub mast: MastConfig,
    pub views: Vec<ViewConfig>,
    pub access: AccessConfig,
    /// The file the configuration came from, if any.
    pub source: Option<PathBuf>,
}

/// Who owns the mounted tree and with which permission bits (flags only).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AccessConfig {
    /// `None`: the mounting user.
    pub uid: Option<u32>,
    /// `None`: the mounting user's group.
    pub gid: Option<u32>,
    pub file_mode: u16,
    pub dir_mode: u16,
}

#[derive(Clone, Debug, PartialEq)]
pub struct S3Config {
    pub endpoint_url: Option<String>,
    pub force_path_style: bool,
    pub region: String,
    pub connect_timeout: Duration,
    pub attempt_timeout: Duration,
    pub max_attempts: u32,
    pub max_concurrent_requests: usize,
    pub ca_bundle: Option<PathBuf>,
    /// The AWS profile signed buckets use (`None`: the SDK's default, `AWS_PROFILE`).
    pub profile: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BucketConfig {
    pub name: String,
    /// Only keys under this prefix are shown (always ends in `/`); `None` shows the bucket.
    pub prefix: Option<String>,
    pub signed: bool,
}

#[derive(Clone, Debug, PartialEq)]
pub struct CacheConfig {
    pub size: u64,
    /// The cgroup memory limit `size` was derived from, when no size was given.
    pub size_from_memory_limit: Option<u64>,
    pub block_size: u64,
    /// How long listings, lookups and attributes are trusted.
    pub metadata_ttl: Duration,
    /// How long a name that was not found is remembered as missing.
    pub negative_ttl: Duration,
    /// Largest read-ahead window of a sequential reader.
    pub max_readahead: u64,
    /// The persistent block cache, when enabled.
    pub disk: Option<DiskCacheConfig>,
    /// Where listings and attributes are kept for later mounts, when enabled.
    pub metadata_dir: Option<PathBuf>,
    /// Open objects wholly in the disk cache by FUSE passthrough where the kernel allows.
    pub passthrough: bool,
}

/// The on-disk block cache: where, and how large it may grow.
#[derive(Clone, Debug, PartialEq)]
pub struct DiskCacheConfig {
    pub dir: PathBuf,
    pub size: u64,
}

#[derive(Clone, Debug, PartialEq)]
pub struct MastConfig {
    pub url: String,
    /// How long `ls` of an unresolved view waits before answering; resolution goes on.
    pub wait: Duration,
    /// Bound on one logical MAST query, polls and pages included.
    pub timeout: Duration,
}

#[derive(Clone, Debug, PartialEq)]
pub struct ViewConfig {
    pub name: String,
    pub criteria: toml::Table,
    pub products: toml::Table,
    pub bucket: Option<String>,
    pub layout: ViewLayout,
    pub refresh: Duration,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ViewLayout {
    Flat,
    ByObs,
}

/// What the command line contributes; `None` means "not given".
#[derive(Clone, Debug, Default)]
pub struct Overrides {
    pub config_file: Option<PathBuf>,
    pub buckets: Vec<String>,
    /// Buckets (NAME[/PREFIX]) read with credentials, from the command line.
    pub signed_buckets: Vec<String>,
    /// Read every bucket anonymously, whatever the config marks signed.
    pub no_sign_request: bool,
    pub profile: Option<String>,
    pub negative_metadata_ttl: Option<String>,
    pub endpoint_url: Option<String>,
    pub force_path_style: bool,
    pub region: Option<String>,
    pub cache_size: Option<String>,
    pub block_size: Option<String>,
    pub metadata_ttl: Option<String>,
    /// Turn the disk cache on at its default folder.
    pub disk_cache: bool,
    /// Turn the disk cache on at this folder.
    pub cache_dir: Option<PathBuf>,
    pub disk_cache_size: Option<String>,
    /// Keep listings and attributes on disk for later mounts (default folder).
    pub persist_metadata: bool,
    /// Keep listings and attributes on disk in this folder.
    pub metadata_dir: Option<PathBuf>,
    /// Never open files by FUSE passthrough.
    pub no_passthrough: bool,
    pub mast_url: Option<String>,
    /// Views from the command line, each "NAME CRITERION... [--products FILTER...]".
    pub views: Vec<String>,
    pub uid: Option<u32>,
    pub gid: Option<u32>,
    /// Octal permission bits, e.g. "0444".
    pub file_mode: Option<String>,
    pub dir_mode: Option<String>,
}

/// A configuration problem, said so that the user can fix it.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read config file {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("config file {path}: {message}")]
    Parse { path: PathBuf, message: String },
    #[error("{0}")]
    Invalid(String),
}
