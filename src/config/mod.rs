//! Configuration: the TOML schema, the flag/environment overlay, defaults and validation.
//!
//! Precedence, highest first: command-line flags, environment (`AWS_ENDPOINT_URL`,
//! `AWS_REGION`, `MASTFS_*`), the config file, built-in defaults. `--bucket` on the command
//! line replaces the file's bucket list. The result is one validated [`Config`].

use std::path::{Path, PathBuf};
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

// ---- the file schema -------------------------------------------------------------------

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileConfig {
    #[serde(default)]
    s3: FileS3,
    #[serde(default)]
    buckets: Option<Vec<FileBucket>>,
    #[serde(default)]
    cache: FileCache,
    #[serde(default)]
    mast: FileMast,
    #[serde(default)]
    views: Vec<FileView>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileS3 {
    endpoint_url: Option<String>,
    force_path_style: Option<bool>,
    region: Option<String>,
    connect_timeout: Option<String>,
    timeout: Option<String>,
    max_attempts: Option<u32>,
    max_concurrent_requests: Option<usize>,
    profile: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileBucket {
    name: String,
    prefix: Option<String>,
    #[serde(default)]
    signed: bool,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileCache {
    size: Option<String>,
    block_size: Option<String>,
    metadata_ttl: Option<String>,
    negative_ttl: Option<String>,
    max_readahead: Option<String>,
    /// Keep fetched blocks on disk across mounts (default: false, or true when `dir` is set).
    disk: Option<bool>,
    dir: Option<PathBuf>,
    disk_size: Option<String>,
    /// Keep listings and attributes on disk for later mounts (default: false).
    persist_metadata: Option<bool>,
    metadata_dir: Option<PathBuf>,
    /// FUSE passthrough for objects wholly on disk (default: true).
    passthrough: Option<bool>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileMast {
    url: Option<String>,
    wait: Option<String>,
    timeout: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileView {
    name: String,
    criteria: toml::Table,
    #[serde(default)]
    products: toml::Table,
    bucket: Option<String>,
    layout: Option<ViewLayout>,
    refresh: Option<String>,
}

// ---- loading ---------------------------------------------------------------------------

/// Where the config file is looked for when `--config` is not given: `$MASTFS_CONFIG`, then
/// the XDG config folder, then `/etc/mastfs/config.toml` when there is no home folder.
pub fn default_config_path(env: &dyn Fn(&str) -> Option<String>) -> Option<PathBuf> {
    if let Some(p) = env("MASTFS_CONFIG") {
        return Some(PathBuf::from(p));
    }
    let user_dir = env("XDG_CONFIG_HOME")
        .filter(|s| !s.is_empty())
        .map(PathBuf::from)
        .or_else(|| {
            env("HOME")
                .filter(|s| !s.is_empty())
                .map(|h| Path::new(&h).join(".config"))
        });
    match user_dir {
        Some(dir) => {
            let p = dir.join("mastfs").join("config.toml");
            p.exists().then_some(p)
        }
        None => {
            let p = PathBuf::from("/etc/mastfs/config.toml");
            p.exists().then_some(p)
        }
    }
}

/// Loads and validates the configuration from flags, the process environment and the file.
pub fn load(overrides: &Overrides) -> Result<Config, ConfigError> {
    let env = |k: &str| std::env::var(k).ok().filter(|v| !v.is_empty());
    load_with_memory_limit(overrides, &env, memory_limit::current())
}

/// [`load`] with the environment given as a function, for tests.
pub fn load_with(
    overrides: &Overrides,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<Config, ConfigError> {
    load_with_memory_limit(overrides, env, None)
}

/// [`load_with`] in a cgroup limited to `memory_limit` bytes (None: unlimited).
pub fn load_with_memory_limit(
    overrides: &Overrides,
    env: &dyn Fn(&str) -> Option<String>,
    memory_limit: Option<u64>,
) -> Result<Config, ConfigError> {
    let path = overrides
        .config_file
        .clone()
        .or_else(|| default_config_path(env));
    let file = match &path {
        Some(p) => {
            let text = std::fs::read_to_string(p).map_err(|source| ConfigError::Read {
                path: p.clone(),
                source,
            })?;
            parse_file(&text, p)?
        }
        None => FileConfig::default(),
    };
    build(file, path, overrides, env, memory_limit)
}

/// Parses and validates config text as the config file, with no flags and no environment
/// (what the fuzz target and its regression tests feed).
pub fn parse_str(text: &str) -> Result<Config, ConfigError> {
    let path = PathBuf::from("<text>");
    let file = parse_file(text, &path)?;
    build(file, Some(path), &Overrides::default(), &|_| None, None)
}

/// Parses config text; the message of a syntax error carries line and column.
fn parse_file(text: &str, path: &Path) -> Result<FileConfig, ConfigError> {
    toml::from_str(text).map_err(|e| {
        let mut message = e.message().to_string();
        if let Some(span) = e.span() {
            let (line, col) = line_col(text, span.start);
            message = format!("line {line}, column {col}: {message}");
        }
        ConfigError::Parse {
            path: path.to_path_buf(),
            message,
        }
    })
}

fn line_col(text: &str, offset: usize) -> (usize, usize) {
    let before = &text[..offset.min(text.len())];
    let line = before.matches('\n').count() + 1;
    let col = before.len() - before.rfind('\n').map(|i| i + 1).unwrap_or(0) + 1;
    (line, col)
}

fn build(
    file: FileConfig,
    source: Option<PathBuf>,
    o: &Overrides,
    env: &dyn Fn(&str) -> Option<String>,
    memory_limit: Option<u64>,
) -> Result<Config, ConfigError> {
    let pick =
        |flag: &Option<String>, env_keys: &[&str], file: &Option<String>| -> Option<String> {
            flag.clone()
                .or_else(|| env_keys.iter().find_map(|k| env(k)))
                .or_else(|| file.clone())
        };
    let endpoint_url = pick(
        &o.endpoint_url,
        &[
            "MASTFS_ENDPOINT_URL",
            "AWS_ENDPOINT_URL_S3",
            "AWS_ENDPOINT_URL",
        ],
        &file.s3.endpoint_url,
    );
    if let Some(url) = &endpoint_url {
        validate_endpoint_url(url)?;
    }
    let region = pick(
        &o.region,
        &["MASTFS_REGION", "AWS_REGION", "AWS_DEFAULT_REGION"],
        &file.s3.region,
    )
    .unwrap_or_else(|| "us-east-1".to_string());
    let force_path_style = o.force_path_style
        || env("MASTFS_FORCE_PATH_STYLE")
            .map(|v| truthy(&v))
            .unwrap_or(false)
        || file.s3.force_path_style.unwrap_or(false);
    let s3 = S3Config {
        endpoint_url,
        force_path_style,
        region,
        connect_timeout: timeout_or("s3.connect_timeout", &file.s3.connect_timeout, "5s")?,
        attempt_timeout: timeout_or(
            "s3.timeout",
            &pick(&None, &["MASTFS_S3_TIMEOUT"], &file.s3.timeout),
            "20s",
        )?,
        max_attempts: file.s3.max_attempts.unwrap_or(5).max(1),
        max_concurrent_requests: file.s3.max_concurrent_requests.unwrap_or(64).max(1),
        ca_bundle: env("AWS_CA_BUNDLE").map(PathBuf::from),
        profile: o.profile.clone().or_else(|| file.s3.profile.clone()),
    };

    let mut buckets = if !o.buckets.is_empty() || !o.signed_buckets.is_empty() {
        o.buckets
            .iter()
            .map(|spec| parse_bucket_spec(spec, false))
            .chain(
                o.signed_buckets
                    .iter()
                    .map(|spec| parse_bucket_spec(spec, true)),
            )
            .collect::<Result<Vec<_>, _>>()?
    } else if let Some(list) = file.buckets {
        list.into_iter()
            .map(|b| {
                let prefix = b.prefix.filter(|p| !p.is_empty());
                let spec = match prefix {
                    Some(p) => format!("{}/{}", b.name, p),
                    None => b.name,
                };
                parse_bucket_spec(&spec, b.signed)
            })
            .collect::<Result<Vec<_>, _>>()?
    } else {
        vec![BucketConfig {
            name: "stpubdata".into(),
            prefix: None,
            signed: false,
        }]
    };

    if o.no_sign_request {
        for b in &mut buckets {
            b.signed = false;
        }
    }

    let block_size = size_or(
        "cache.block_size",
        &pick(
            &o.block_size,
            &["MASTFS_BLOCK_SIZE"],
            &file.cache.block_size,
        ),
        "1MiB",
    )?;
    let given_size = pick(&o.cache_size, &["MASTFS_CACHE_SIZE"], &file.cache.size);
    // In a memory-limited cgroup (a Kubernetes container) the budget follows the limit.
    let size_from_memory_limit = memory_limit.filter(|_| given_size.is_none());
    let mut cache = CacheConfig {
        size: match size_from_memory_limit {
            Some(limit) => memory_limit::cache_budget(limit, block_size.saturating_mul(4)),
            None => size_or("cache.size", &given_size, "512MiB")?,
        },
        size_from_memory_limit,
        block_size,
        metadata_ttl: duration_or(
            "cache.metadata_ttl",
            &pick(
                &o.metadata_ttl,
                &["MASTFS_METADATA_TTL"],
                &file.cache.metadata_ttl,
            ),
            "1h",
        )?,
        negative_ttl: duration_or(
            "cache.negative_ttl",
            &pick(
                &o.negative_metadata_ttl,
                &["MASTFS_NEGATIVE_METADATA_TTL"],
                &file.cache.negative_ttl,
            ),
            "1m",
        )?,
        max_readahead: size_or("cache.max_readahead", &file.cache.max_readahead, "64MiB")?,
        disk: disk_cache_config(&file.cache, o, env)?,
        metadata_dir: None,
        passthrough: !o.no_passthrough && file.cache.passthrough.unwrap_or(true),
    };
    cache.metadata_dir = metadata_dir_config(&file.cache, o, env, cache.disk.as_ref())?;
    if cache.block_size < 4096 || cache.block_size > 64 << 20 {
        return Err(ConfigError::Invalid(format!(
            "cache.block_size must be between 4KiB and 64MiB, got {} bytes",
            cache.block_size
        )));
    }
    if !cache.block_size.is_multiple_of(4096) {
        return Err(ConfigError::Invalid(format!(
            "cache.block_size must be a multiple of 4096 (whole memory pages), got {} bytes; \
             write e.g. 1M or 512K",
            cache.block_size
        )));
    }
    if cache.size < cache.block_size * 4 {
        return Err(ConfigError::Invalid(format!(
            "cache.size ({} bytes) must hold at least 4 blocks of {} bytes",
            cache.size, cache.block_size
        )));
    }

    let mast = MastConfig {
        url: pick(&o.mast_url, &["MASTFS_MAST_URL"], &file.mast.url)
            .unwrap_or_else(|| "https://mast.stsci.edu".into())
            .trim_end_matches('/')
            .to_string(),
        wait: timeout_or("mast.wait", &file.mast.wait, "10s")?,
        timeout: timeout_or("mast.timeout", &file.mast.timeout, "5m")?,
    };

    let mut file_views = file.views;
    for spec in &o.views {
        file_views.push(parse_view_spec(spec)?);
    }
    let mut views = Vec::new();
    for v in file_views {
        validate_view_name(&v.name)?;
        if views.iter().any(|w: &ViewConfig| w.name == v.name) {
            return Err(ConfigError::Invalid(format!(
                "two views are named '{}': view names must be unique",
                v.name
            )));
        }
        if let Some(b) = &v.bucket {
            validate_bucket_name(b)?;
        }
        views.push(ViewConfig {
            refresh: duration_or(&format!("views '{}' refresh", v.name), &v.refresh, "1d")?,
            name: v.name,
            criteria: v.criteria,
            products: v.products,
            bucket: v.bucket,
            layout: v.layout.unwrap_or(ViewLayout::Flat),
        });
    }

    let access = AccessConfig {
        uid: o.uid,
        gid: o.gid,
        file_mode: mode_or("--file-mode", &o.file_mode, 0o444)?,
        dir_mode: mode_or("--dir-mode", &o.dir_mode, 0o555)?,
    };

    Ok(Config {
        s3,
        buckets,
        cache,
        mast,
        views,
        access,
        source,
    })
}

/// Where mastfs keeps what should survive a restart (persisted views, the column
/// configuration, the disk cache): `$XDG_CACHE_HOME/mastfs`, `~/.cache/mastfs`, or
/// `/var/cache/mastfs` without a home folder (as under mount(8) or systemd).
pub fn default_cache_root(env: &dyn Fn(&str) -> Option<String>) -> PathBuf {
    env("XDG_CACHE_HOME")
        .map(PathBuf::from)
        .or_else(|| env("HOME").map(|h| PathBuf::from(h).join(".cache")))
        .map(|d| d.join("mastfs"))
        .unwrap_or_else(|| PathBuf::from("/var/cache/mastfs"))
}

/// The disk cache is on when a flag, `MASTFS_CACHE_DIR` or the file asks for it; its folder
/// is made absolute now, since a daemon may change its working folder.
fn disk_cache_config(
    file: &FileCache,
    o: &Overrides,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<Option<DiskCacheConfig>, ConfigError> {
    let env_dir = env("MASTFS_CACHE_DIR").map(PathBuf::from);
    let enabled = o.disk_cache
        || o.cache_dir.is_some()
        || env_dir.is_some()
        || file.disk.unwrap_or(file.dir.is_some());
    if !enabled {
        return Ok(None);
    }
    let dir = o
        .cache_dir
        .clone()
        .or(env_dir)
        .or_else(|| file.dir.clone())
        .unwrap_or_else(|| default_cache_root(env).join("blocks"));
    let dir = std::path::absolute(&dir)
        .map_err(|e| ConfigError::Invalid(format!("cache dir {}: {e}", dir.display())))?;
    let size = size_or(
        "cache.disk_size",
        &o.disk_cache_size
            .clone()
            .or_else(|| env("MASTFS_DISK_CACHE_SIZE"))
            .or_else(|| file.disk_size.clone()),
        "10GiB",
    )?;
    Ok(Some(DiskCacheConfig { dir, size }))
}

/// Listings and attributes are kept on disk only when asked for (`--metadata-dir`,
/// `--persist-metadata`, the file's `persist_metadata`/`metadata_dir`): a later mount then
/// walks known paths without asking S3, within the metadata TTL. Not with the disk cache
/// alone: a remount is how users of a changing bucket see its changes, and persisted
/// metadata would hide them until the TTL ran out. The default folder is the disk cache's
/// `metadata/` when that is on, else the cache root's.
fn metadata_dir_config(
    file: &FileCache,
    o: &Overrides,
    env: &dyn Fn(&str) -> Option<String>,
    disk: Option<&DiskCacheConfig>,
) -> Result<Option<PathBuf>, ConfigError> {
    let asked = o.persist_metadata || file.persist_metadata.unwrap_or(false);
    let dir = match (o.metadata_dir.clone().or(file.metadata_dir.clone()), disk) {
        (Some(dir), _) => dir,
        (None, _) if !asked => return Ok(None),
        // cache::disk::METADATA_DIR (this file is also compiled alone by a fuzz target).
        (None, Some(d)) => d.dir.join("metadata"),
        (None, None) => default_cache_root(env).join("metadata"),
    };
    std::path::absolute(&dir)
        .map(Some)
        .map_err(|e| ConfigError::Invalid(format!("metadata dir {}: {e}", dir.display())))
}

/// Octal permission bits (`444`, `0440`, `0o555`); write bits are refused, since the mount
/// is read-only and a mode that promises writes would only mislead.
pub fn parse_mode(s: &str) -> Result<u16, String> {
    let digits = s.trim();
    let digits = digits.strip_prefix("0o").unwrap_or(digits);
    let mode = u16::from_str_radix(digits, 8)
        .ok()
        .filter(|m| *m <= 0o777)
        .ok_or_else(|| format!("'{s}' is not an octal mode; write e.g. 0444 or 0440"))?;
    if mode & 0o222 != 0 {
        return Err(format!(
            "mode '{s}' has write bits, but the mount is read-only; write e.g. 0444 or 0555"
        ));
    }
    Ok(mode)
}

fn mode_or(what: &str, value: &Option<String>, default: u16) -> Result<u16, ConfigError> {
    match value {
        None => Ok(default),
        Some(v) => parse_mode(v).map_err(|e| ConfigError::Invalid(format!("{what}: {e}"))),
    }
}

/// `NAME CRITERION... [--products FILTER...]`: the `mastfs query` syntax with a name first.
/// A value with commas becomes a list, as on the command line.
fn parse_view_spec(spec: &str) -> Result<FileView, ConfigError> {
    let mut words = spec.split_whitespace();
    let name = words.next().ok_or_else(|| {
        ConfigError::Invalid(
            "--view needs a name and criteria: --view \"NAME column=value ...\"".into(),
        )
    })?;
    let mut criteria = toml::Table::new();
    let mut products = toml::Table::new();
    let mut in_products = false;
    for word in words {
        if word == "--products" {
            in_products = true;
            continue;
        }
        let (key, value) = word.split_once('=').ok_or_else(|| {
            ConfigError::Invalid(format!("--view {name}: '{word}' is not column=value"))
        })?;
        let value = if value.contains(',') {
            toml::Value::Array(
                value
                    .split(',')
                    .map(|v| toml::Value::String(v.to_string()))
                    .collect(),
            )
        } else {
            toml::Value::String(value.to_string())
        };
        let table = if in_products {
            &mut products
        } else {
            &mut criteria
        };
        table.insert(key.to_string(), value);
    }
    Ok(FileView {
        name: name.to_string(),
        criteria,
        products,
        bucket: None,
        layout: None,
        refresh: None,
    })
}

fn truthy(v: &str) -> bool {
    matches!(v.to_ascii_lowercase().as_str(), "1" | "true" | "yes" | "on")
}

/// `NAME` or `NAME/PREFIX` or `s3://NAME/PREFIX`.
pub fn parse_bucket_spec(spec: &str, signed: bool) -> Result<BucketConfig, ConfigError> {
    let spec = spec.strip_prefix("s3://").unwrap_or(spec);
    let (name, prefix) = match spec.split_once('/') {
        Some((n, p)) => (n, p.trim_start_matches('/')),
        None => (spec, ""),
    };
    validate_bucket_name(name)?;
    let prefix = if prefix.is_empty() {
        None
    } else if prefix.ends_with('/') {
        Some(prefix.to_string())
    } else {
        Some(format!("{prefix}/"))
    };
    Ok(BucketConfig {
        name: name.to_string(),
        prefix,
        signed,
    })
}

/// S3's bucket naming rules (3-63 characters of a-z, 0-9, '.', '-', starting and ending
/// with a letter or digit, not an IP address), plus the names mastfs reserves.
pub fn validate_bucket_name(name: &str) -> Result<(), ConfigError> {
    if name == VIEWS_DIR {
        return Err(ConfigError::Invalid(format!(
            "a bucket cannot be named '{VIEWS_DIR}': MOUNTPOINT/{VIEWS_DIR}/ holds the MAST views"
        )));
    }
    let valid_chars = name
        .bytes()
        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'.' || b == b'-');
    let ends_ok = name
        .bytes()
        .next()
        .zip(name.bytes().last())
        .is_some_and(|(a, z)| a.is_ascii_alphanumeric() && z.is_ascii_alphanumeric());
    let is_ip = name.split('.').count() == 4 && name.split('.').all(|p| p.parse::<u8>().is_ok());
    if !(3..=63).contains(&name.len()) || !valid_chars || !ends_ok || is_ip || name.contains("..") {
        return Err(ConfigError::Invalid(format!(
            "'{name}' is not a valid S3 bucket name (3-63 characters: lowercase letters, digits, \
             '.' and '-', starting and ending with a letter or digit)"
        )));
    }
    Ok(())
}

/// A view name becomes a directory name: it must be one.
pub fn validate_view_name(name: &str) -> Result<(), ConfigError> {
    if name.is_empty()
        || name == "."
        || name == ".."
        || name.contains('/')
        || name.contains('\0')
        || name.len() > 255
    {
        return Err(ConfigError::Invalid(format!(
            "view name '{name}' cannot be a directory name (no '/', not empty, '.' or '..', at most 255 bytes)"
        )));
    }
    Ok(())
}

/// `512MiB`, `2G`, `1.5GiB`, `4096`, `64 KiB`. Every unit is binary, however it is written
/// (as in rclone): `K`, `KB` and `KiB` are 1024 bytes, `M`, `MB`, `MiB` 1024², and so on
/// up to `P`.
pub fn parse_size(s: &str) -> Result<u64, String> {
    let bad = |why: &str| format!("'{s}' is not a size ({why}); write e.g. 512M, 1G or 4096");
    let text = s.trim();
    let split = text
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let shift = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 0,
        "k" | "kb" | "kib" => 10,
        "m" | "mb" | "mib" => 20,
        "g" | "gb" | "gib" => 30,
        "t" | "tb" | "tib" => 40,
        "p" | "pb" | "pib" => 50,
        _ => return Err(bad("units are B, K, M, G, T, P, binary")),
    };
    let unit_bytes = 1u64 << shift;
    if number.is_empty() {
        return Err(bad("no number"));
    }
    if !number.contains('.') {
        return number
            .parse::<u64>()
            .ok()
            .and_then(|n| n.checked_mul(unit_bytes))
            .ok_or_else(|| bad("too large"));
    }
    if shift == 0 {
        return Err(bad("a fraction of a byte"));
    }
    let value: f64 = number.parse().map_err(|_| bad("not a number"))?;
    let bytes = (value * unit_bytes as f64).floor();
    if !bytes.is_finite() || bytes >= u64::MAX as f64 {
        return Err(bad("too large"));
    }
    Ok(bytes as u64)
}

/// The S3 endpoint must be an http(s) URL with a host: an empty or mistyped one would
/// mount a tree where every access fails.
fn validate_endpoint_url(url: &str) -> Result<(), ConfigError> {
    let parsed = url::Url::parse(url.trim());
    let ok = parsed.as_ref().is_ok_and(|u| {
        matches!(u.scheme(), "http" | "https") && u.host_str().is_some_and(|h| !h.is_empty())
    });
    if ok {
        return Ok(());
    }
    let why = match parsed {
        Err(e) => e.to_string(),
        Ok(u) => format!("scheme '{}' or no host", u.scheme()),
    };
    Err(ConfigError::Invalid(format!(
        "s3.endpoint_url '{url}' is not an http(s) URL ({why}); write e.g. \
         https://s3.us-east-1.amazonaws.com or http://127.0.0.1:9000, or leave it out for AWS"
    )))
}

/// A timeout longer than this is a typo, and would overflow the clock arithmetic.
const MAX_TIMEOUT: Duration = Duration::from_secs(24 * 3600);

fn timeout_or(what: &str, value: &Option<String>, default: &str) -> Result<Duration, ConfigError> {
    let timeout = duration_or(what, value, default)?;
    if timeout > MAX_TIMEOUT {
        return Err(ConfigError::Invalid(format!(
            "{what}: {} is too long; at most {}",
            humantime::format_duration(timeout),
            humantime::format_duration(MAX_TIMEOUT)
        )));
    }
    Ok(timeout)
}

/// `10m`, `1d`, `30s`, `1h 30m`.
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    humantime::parse_duration(s.trim())
        .map_err(|e| format!("'{s}' is not a duration ({e}); write e.g. 30s, 10m, 1h or 1d"))
}

fn size_or(what: &str, value: &Option<String>, default: &str) -> Result<u64, ConfigError> {
    parse_size(value.as_deref().unwrap_or(default))
        .map_err(|e| ConfigError::Invalid(format!("{what}: {e}")))
}

fn duration_or(what: &str, value: &Option<String>, default: &str) -> Result<Duration, ConfigError> {
    parse_duration(value.as_deref().unwrap_or(default))
        .map_err(|e| ConfigError::Invalid(format!("{what}: {e}")))
}

pub mod memory_limit;

#[cfg(test)]
mod tests;
