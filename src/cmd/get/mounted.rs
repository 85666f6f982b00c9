//! Files under a mount are fetched the way that mount reads them: its endpoint, region,
//! addressing style and signed buckets, asked of its daemon over the control socket (a
//! mount made with `--endpoint-url` or `--config` is not on AWS, whatever the command's own
//! flags say). Other sources use the command's configuration.
//!
//! The store `get` uses routes each bucket to the store of the settings it came with.

use std::collections::HashMap;
use std::ops::Range;
use std::path::Path;
use std::sync::Arc;

use anyhow::{anyhow, bail};
use async_trait::async_trait;
use bytes::Bytes;

use crate::config::Config;
use crate::daemon::control::{self, MountS3Settings};
use crate::daemon::setup;
use crate::mounts;
use crate::store::{ListPage, ObjectMeta, ObjectStore, StoreError};

/// The S3 settings of the mount `source` is a file of, if it is one.
pub(super) fn settings_of(source: &str) -> anyhow::Result<Option<MountS3Settings>> {
    if source.starts_with("s3://") || std::fs::symlink_metadata(source).is_err() {
        return Ok(None);
    }
    let Some(mount) = mounts::mount_containing(Path::new(source)) else {
        return Ok(None);
    };
    let response = control::call(&mount.mountpoint, &control::Request::S3Settings)
        .map_err(|e| anyhow!("{source}: cannot ask its mount for its S3 settings: {e:#}"))?;
    if !response.ok {
        bail!(
            "{source}: the daemon of {} did not give its S3 settings: {}",
            mount.mountpoint.display(),
            response.message
        );
    }
    let settings = serde_json::from_value(response.detail).map_err(|e| {
        anyhow!(
            "{source}: the daemon of {} answered unreadable S3 settings ({e}); it may be an older mastfs: mount it again",
            mount.mountpoint.display()
        )
    })?;
    Ok(Some(settings))
}

/// Which settings each bucket is read with; `None` is the command's own configuration.
#[derive(Default)]
pub(super) struct BucketRoutes {
    routes: HashMap<String, Option<MountS3Settings>>,
}

impl BucketRoutes {
    /// Reads `bucket` with `settings`; one bucket cannot come from two endpoints at once.
    pub(super) fn add(
        &mut self,
        bucket: &str,
        settings: Option<MountS3Settings>,
        source: &str,
    ) -> anyhow::Result<()> {
        match self.routes.get(bucket) {
            Some(existing) if *existing != settings => bail!(
                "{source}: bucket '{bucket}' is also named by another source read through other S3 settings; get them in two commands"
            ),
            Some(_) => Ok(()),
            None => {
                self.routes.insert(bucket.to_string(), settings);
                Ok(())
            }
        }
    }

    /// One store over every route: the command's configuration `cfg`, each mount's
    /// settings layered on it.
    pub(super) async fn store(self, cfg: &Config) -> anyhow::Result<Arc<dyn ObjectStore>> {
        let (default, _) = setup::build_store(cfg).await?;
        let mut stores: Vec<(MountS3Settings, Arc<dyn ObjectStore>)> = Vec::new();
        let mut by_bucket = HashMap::new();
        for (bucket, settings) in self.routes {
            let Some(settings) = settings else { continue };
            let store = match stores.iter().find(|(s, _)| *s == settings) {
                Some((_, store)) => store.clone(),
                None => {
                    let mut mount_cfg = cfg.clone();
                    settings.apply_to(&mut mount_cfg);
                    let (store, _) = setup::build_store(&mount_cfg).await?;
                    stores.push((settings, store.clone()));
                    store
                }
            };
            by_bucket.insert(bucket, store);
        }
        if by_bucket.is_empty() {
            return Ok(default);
        }
        Ok(Arc::new(RoutedStore { default, by_bucket }))
    }
}

/// An [`ObjectStore`] that sends each bucket to its own store.
struct RoutedStore {
    default: Arc<dyn ObjectStore>,
    by_bucket: HashMap<String, Arc<dyn ObjectStore>>,
}

impl RoutedStore {
    fn of(&self, bucket: &str) -> &Arc<dyn ObjectStore> {
        self.by_bucket.get(bucket).unwrap_or(&self.default)
    }
}

#[async_trait]
impl ObjectStore for RoutedStore {
    async fn list_page(
        &self,
        bucket: &str,
        prefix: &str,
        continuation: Option<String>,
    ) -> Result<ListPage, StoreError> {
        self.of(bucket)
            .list_page(bucket, prefix, continuation)
            .await
    }

    async fn list_subtree_page(&self, bucket: &str, prefix: &str) -> Result<ListPage, StoreError> {
        self.of(bucket).list_subtree_page(bucket, prefix).await
    }

    async fn head(&self, bucket: &str, key: &str) -> Result<ObjectMeta, StoreError> {
        self.of(bucket).head(bucket, key).await
    }

    async fn get_range(
        &self,
        bucket: &str,
        key: &str,
        etag: &str,
        range: Range<u64>,
    ) -> Result<Bytes, StoreError> {
        self.of(bucket).get_range(bucket, key, etag, range).await
    }
}
