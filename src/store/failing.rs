//! A store that misbehaves on purpose, in front of [`MemoryStore`]: how the unit tests see
//! what mastfs does when S3 fails or answers nonsense (errors on chosen requests, a
//! listing that never ends, keys outside the prefix asked for, objects without ETags).
//! Like mountpoint-s3's failure client: the real reference store underneath, faults on top.

use std::ops::Range;
use std::sync::Arc;

use async_trait::async_trait;
use bytes::Bytes;
use parking_lot::Mutex;

use super::error::{StoreError, StoreErrorKind};
use super::memory::MemoryStore;
use super::object::{ListPage, ObjectMeta, ObjectStore};

/// Which requests a fault applies to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Op {
    List,
    Head,
    Get,
}

/// One way to misbehave.
#[derive(Clone, Debug)]
pub enum Fault {
    /// The next `times` requests of `op` fail with `kind`.
    Error {
        op: Op,
        kind: StoreErrorKind,
        times: usize,
    },
    /// Every listing page says there is more, behind this same token.
    RepeatToken(String),
    /// Every listing page also carries these objects, whatever the prefix asked for.
    ExtraObjects(Vec<ObjectMeta>),
    /// HEADs and listings report no ETag (some S3-compatible servers omit it).
    NoEtag,
}

/// The reference store with faults on top.
pub struct FailingStore {
    pub inner: Arc<MemoryStore>,
    faults: Mutex<Vec<Fault>>,
}

impl FailingStore {
    pub fn new(inner: Arc<MemoryStore>) -> FailingStore {
        FailingStore {
            inner,
            faults: Mutex::new(Vec::new()),
        }
    }

    pub fn add(&self, fault: Fault) {
        self.faults.lock().push(fault);
    }

    /// The error for a request of `op`, if a fault asks for one now (and counts it).
    fn error_for(&self, op: Op, bucket: &str, key: &str) -> Result<(), StoreError> {
        let mut faults = self.faults.lock();
        for fault in faults.iter_mut() {
            if let Fault::Error {
                op: on,
                kind,
                times,
            } = fault
            {
                if *on == op && *times > 0 {
                    *times -= 1;
                    return Err(StoreError::new(*kind, bucket, key, "injected fault"));
                }
            }
        }
        Ok(())
    }

    fn no_etag(&self) -> bool {
        self.faults
            .lock()
            .iter()
            .any(|f| matches!(f, Fault::NoEtag))
    }

    fn strip_etag(&self, mut meta: ObjectMeta) -> ObjectMeta {
        if self.no_etag() {
            meta.etag.clear();
        }
        meta
    }
}

#[async_trait]
impl ObjectStore for FailingStore {
    async fn list_page(
        &self,
        bucket: &str,
        prefix: &str,
        continuation: Option<String>,
    ) -> Result<ListPage, StoreError> {
        self.error_for(Op::List, bucket, prefix)?;
        // A real request yields: a test's timeout must be able to fire during a runaway loop.
        tokio::task::yield_now().await;
        let mut page = self.inner.list_page(bucket, prefix, continuation).await?;
        for fault in self.faults.lock().iter() {
            match fault {
                Fault::RepeatToken(token) => page.next_token = Some(token.clone()),
                Fault::ExtraObjects(extra) => page.objects.extend(extra.iter().cloned()),
                _ => {}
            }
        }
        page.objects = page
            .objects
            .into_iter()
            .map(|m| self.strip_etag(m))
            .collect();
        Ok(page)
    }

    async fn list_subtree_page(&self, bucket: &str, prefix: &str) -> Result<ListPage, StoreError> {
        self.error_for(Op::List, bucket, prefix)?;
        tokio::task::yield_now().await;
        let mut page = self.inner.list_subtree_page(bucket, prefix).await?;
        page.objects = page
            .objects
            .into_iter()
            .map(|m| self.strip_etag(m))
            .collect();
        Ok(page)
    }

    async fn head(&self, bucket: &str, key: &str) -> Result<ObjectMeta, StoreError> {
        self.error_for(Op::Head, bucket, key)?;
        Ok(self.strip_etag(self.inner.head(bucket, key).await?))
    }

    async fn get_range(
        &self,
        bucket: &str,
        key: &str,
        etag: &str,
        range: Range<u64>,
    ) -> Result<Bytes, StoreError> {
        self.error_for(Op::Get, bucket, key)?;
        if self.no_etag() && etag.is_empty() {
            // No If-Match without an ETag: whatever the object holds now.
            let current = self
                .inner
                .objects
                .lock()
                .get(&(bucket.to_string(), key.to_string()))
                .map(|(e, _)| e.clone())
                .unwrap_or_default();
            return self.inner.get_range(bucket, key, &current, range).await;
        }
        self.inner.get_range(bucket, key, etag, range).await
    }
}
