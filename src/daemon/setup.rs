//! Assembles a mount's layers from a validated [`Config`]: the S3 store, the block cache,
//! the bucket trees, the MAST client and views (definitions checked against the column
//! configuration before anything is mounted), and the filesystem core.

use std::collections::HashSet;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{bail, Context};
use mastfs_mast::{ClientOptions, ColumnConfig, MastClient, ViewQuery};

use crate::cache::{BlockCache, DiskCache};
use crate::config::{Config, DiskCacheConfig, ViewConfig};
use crate::fs::{Fs, FsOptions};
use crate::namespace::buckets::BucketTrees;
use crate::namespace::persisted::PersistedMetadata;
use crate::namespace::views::{ViewDef, Views};
use crate::namespace::Namespace;
use crate::store::{ObjectStore, S3Store, S3StoreOptions, StoreCounters};

/// Where mastfs keeps what should survive a restart: see [`config::default_cache_root`].
pub fn cache_dir() -> PathBuf {
    crate::config::default_cache_root(&|k| std::env::var(k).ok().filter(|v| !v.is_empty()))
}

pub async fn build_store(
    cfg: &Config,
) -> anyhow::Result<(Arc<dyn ObjectStore>, Arc<StoreCounters>)> {
    let counters = Arc::new(StoreCounters::default());
    let opts = S3StoreOptions {
        endpoint_url: cfg.s3.endpoint_url.clone(),
        region: cfg.s3.region.clone(),
        force_path_style: cfg.s3.force_path_style,
        signed_buckets: cfg
            .buckets
            .iter()
            .filter(|b| b.signed)
            .map(|b| b.name.clone())
            .collect::<HashSet<_>>(),
        connect_timeout: cfg.s3.connect_timeout,
        attempt_timeout: cfg.s3.attempt_timeout,
        max_attempts: cfg.s3.max_attempts,
        max_concurrent_requests: cfg.s3.max_concurrent_requests,
        ca_bundle: cfg.s3.ca_bundle.clone(),
        profile: cfg.s3.profile.clone(),
    };
    let store = S3Store::new(opts, counters.clone()).await?;
    Ok((Arc::new(store), counters))
}

pub fn mast_client(cfg: &Config) -> anyhow::Result<MastClient> {
    let options = ClientOptions {
        base_url: cfg.mast.url.clone(),
        query_budget: cfg.mast.timeout,
        ..ClientOptions::default()
    };
    MastClient::new(options).map_err(|e| anyhow::anyhow!("MAST client: {e}"))
}

/// The column configuration to check views against: MAST's own when it answers quickly
/// (then persisted), else the last persisted copy, else the copy built into mastfs.
pub async fn column_config(client: &MastClient, wait: Duration) -> ColumnConfig {
    let path = cache_dir().join("columnsconfig.json");
    match tokio::time::timeout(wait, client.column_config()).await {
        Ok(Ok(columns)) => {
            let _ = crate::paths::create_private_dir(&cache_dir());
            if let Err(e) = std::fs::write(&path, columns.to_json()) {
                tracing::debug!("cannot persist the column configuration: {e}");
            }
            return columns;
        }
        Ok(Err(e)) => tracing::warn!(
            "MAST column configuration unavailable ({e}); views resolve when MAST answers"
        ),
        Err(_) => tracing::warn!("MAST did not answer within {wait:?}; views resolve when it does"),
    }
    if let Some(columns) = std::fs::read_to_string(&path)
        .ok()
        .and_then(|t| ColumnConfig::from_json(&t).ok())
    {
        return columns;
    }
    ColumnConfig::builtin()
}

/// Parses and validates every view definition; the first bad one stops the mount.
pub fn view_defs(views: &[ViewConfig], columns: &ColumnConfig) -> anyhow::Result<Vec<ViewDef>> {
    let mut defs = Vec::new();
    for v in views {
        let to_map =
            |t: &toml::Table| -> anyhow::Result<serde_json::Map<String, serde_json::Value>> {
                match serde_json::to_value(t)? {
                    serde_json::Value::Object(m) => Ok(m),
                    _ => bail!("view '{}': criteria must be a table", v.name),
                }
            };
        let criteria = to_map(&v.criteria)?;
        if criteria.is_empty() {
            bail!("view '{}' has no criteria: give at least one, e.g. criteria = {{ obs_collection = \"HST\" }}", v.name);
        }
        let products = to_map(&v.products)?;
        let query = ViewQuery::from_json_maps(&criteria, Some(&products))
            .map_err(|e| anyhow::anyhow!("view '{}': {e}", v.name))?;
        query
            .validate(columns, Some(&v.name))
            .map_err(|e| anyhow::anyhow!("{e}"))?;
        defs.push(ViewDef {
            name: v.name.clone(),
            query,
            bucket: v.bucket.clone(),
            layout: v.layout,
            refresh: v.refresh,
        });
    }
    Ok(defs)
}

/// Opens the disk cache folder (scanning it can take a moment for a large cache).
pub async fn open_disk_cache(cfg: &DiskCacheConfig) -> anyhow::Result<DiskCache> {
    let (dir, size) = (cfg.dir.clone(), cfg.size);
    tokio::task::spawn_blocking(move || DiskCache::open(&dir, size))
        .await
        .context("disk cache scan failed")?
        .context("disk cache unusable (fix the folder, or mount without --disk-cache/--cache-dir)")
}

/// How long a mount waits for the first listing of its buckets before it appears anyway.
const PRIME_WAIT: Duration = Duration::from_secs(2);

/// The first listing of each bucket, before the mount appears (see
/// [`BucketTrees::prime`]). A failure is reported, never fatal: the mount may be made
/// before the network is up, and a lookup asks again.
async fn prime(trees: &BucketTrees) {
    match tokio::time::timeout(PRIME_WAIT, trees.prime()).await {
        Ok(failures) => {
            for e in failures {
                tracing::warn!(
                    "first listing failed ({e}); mounting anyway, lookups there will ask S3 again"
                );
            }
        }
        Err(_) => tracing::warn!(
            "no answer to the first listing of the mounted buckets within {} s; mounting anyway, lookups will ask S3 again",
            PRIME_WAIT.as_secs()
        ),
    }
}

/// Everything a mount serves.
pub struct Layers {
    pub fs: Arc<Fs>,
    pub counters: Arc<StoreCounters>,
}

/// Builds the layers. Fails, before anything is mounted, on a bad view definition.
pub async fn build(cfg: &Config) -> anyhow::Result<Layers> {
    let (store, counters) = build_store(cfg).await?;
    let mut trees = BucketTrees::new(
        store.clone(),
        &cfg.buckets,
        cfg.cache.metadata_ttl,
        cfg.cache.negative_ttl,
    );
    if let Some(dir) = &cfg.cache.metadata_dir {
        // Entries belong to one S3 namespace: another endpoint (a local store, a mirror)
        // must never answer from what AWS listed, and the other way round.
        let endpoint = cfg
            .s3
            .endpoint_url
            .clone()
            .unwrap_or_else(|| format!("aws:{}", cfg.s3.region));
        match PersistedMetadata::open(dir, &endpoint, cfg.cache.metadata_ttl) {
            Ok(p) => trees = trees.with_persisted(Arc::new(p)),
            Err(e) => tracing::warn!(
                dir = %dir.display(),
                "listings are not kept on disk (folder unusable: {e}); lookups ask S3 as usual"
            ),
        }
    }
    let trees = Arc::new(trees);
    let views = async {
        if cfg.views.is_empty() {
            return anyhow::Ok(None);
        }
        let client = Arc::new(mast_client(cfg)?);
        let columns = column_config(&client, cfg.mast.wait.min(Duration::from_secs(10))).await;
        let defs = view_defs(&cfg.views, &columns).context("bad view definition")?;
        Ok(Some(Views::new(
            defs,
            client,
            columns,
            store.clone(),
            Some(cache_dir().join("views")),
            cfg.mast.wait,
        )))
    };
    let disk = async {
        match &cfg.cache.disk {
            Some(d) => anyhow::Ok(Some(Arc::new(open_disk_cache(d).await?))),
            None => Ok(None),
        }
    };
    // The buckets' first listing (S3), the views' columns (MAST) and the disk cache's scan
    // wait on different things: a mount waits for the slowest, not for their sum.
    let ((), views, disk) = tokio::join!(prime(&trees), views, disk);
    let (views, disk) = (views?, disk?);
    let cache = BlockCache::with_disk(store, cfg.cache.block_size, cfg.cache.size, disk);
    let fs_opts = FsOptions {
        uid: cfg
            .access
            .uid
            .unwrap_or_else(|| nix::unistd::getuid().as_raw()),
        gid: cfg
            .access
            .gid
            .unwrap_or_else(|| nix::unistd::getgid().as_raw()),
        file_mode: cfg.access.file_mode,
        dir_mode: cfg.access.dir_mode,
        metadata_ttl: cfg.cache.metadata_ttl,
        max_readahead: cfg.cache.max_readahead,
        passthrough: cfg.cache.passthrough,
        ..FsOptions::default()
    };
    Ok(Layers {
        fs: Arc::new(Fs::new(
            fs_opts,
            Namespace::new(trees, views),
            cache,
            counters.clone(),
        )),
        counters,
    })
}
