//! The overlay: flags over environment over the file over built-in defaults, section by
//! section, into one validated [`Config`].

use std::path::PathBuf;

use super::file::{parse_view_spec, FileCache, FileConfig};
use super::folders::default_cache_root;
use super::memory_limit;
use super::model::{
    AccessConfig, BucketConfig, CacheConfig, Config, ConfigError, DiskCacheConfig, MastConfig,
    Overrides, S3Config, ViewConfig, ViewLayout,
};
use super::validate::{
    parse_bucket_spec, validate_bucket_name, validate_endpoint_url, validate_view_name,
};
use super::values::{duration_or, mode_or, size_or, timeout_or, truthy};

/// The [`Config`] of a parsed file under the flags `o` and the environment `env`; in a
/// cgroup limited to `memory_limit` bytes the cache is sized from the limit unless a size
/// is given.
pub(super) fn build(
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
