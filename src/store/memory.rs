//! An in-memory [`ObjectStore`]: the reference model the unit tests of the cache and the
//! filesystem core run against. It behaves like S3 for what mastfs uses (delimiter
//! listings in pages, HEAD, ranged GET with If-Match) and logs every request.

use std::collections::BTreeMap;
use std::ops::Range;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime};

use async_trait::async_trait;
use bytes::Bytes;
use parking_lot::Mutex;

use super::error::{StoreError, StoreErrorKind};
use super::object::{ListPage, ObjectMeta, ObjectStore};

#[derive(Default)]
pub struct MemoryStore {
    pub objects: Mutex<BTreeMap<(String, String), (String, Bytes)>>,
    pub gets: Mutex<Vec<(String, Range<u64>)>>,
    pub get_count: AtomicU64,
    pub head_count: AtomicU64,
    pub list_count: AtomicU64,
    pub delay: Duration,
    pub page_size: usize,
}

impl MemoryStore {
    pub fn new() -> MemoryStore {
        MemoryStore {
            page_size: 1000,
            ..Default::default()
        }
    }

    pub fn put(&self, bucket: &str, key: &str, etag: &str, data: Bytes) {
        self.objects
            .lock()
            .insert((bucket.into(), key.into()), (etag.into(), data));
    }
}

fn meta(key: &str, etag: &str, data: &Bytes) -> ObjectMeta {
    ObjectMeta {
        key: key.into(),
        size: data.len() as u64,
        etag: etag.into(),
        last_modified: SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000),
    }
}

#[async_trait]
impl ObjectStore for MemoryStore {
    async fn list_page(
        &self,
        bucket: &str,
        prefix: &str,
        continuation: Option<String>,
    ) -> Result<ListPage, StoreError> {
        self.list_count.fetch_add(1, Ordering::SeqCst);
        let objects = self.objects.lock();
        let mut page = ListPage::default();
        let mut count = 0;
        let start = continuation.unwrap_or_default();
        for ((b, key), (etag, data)) in objects.iter() {
            if b != bucket || !key.starts_with(prefix) || key.as_str() <= start.as_str() {
                continue;
            }
            if count == self.page_size.max(1) {
                page.next_token = Some(start_token(&page));
                break;
            }
            match key[prefix.len()..].find('/') {
                Some(i) => {
                    let p = format!("{prefix}{}", &key[prefix.len()..prefix.len() + i + 1]);
                    if page.prefixes.last() != Some(&p) {
                        page.prefixes.push(p);
                        count += 1;
                    }
                }
                None => {
                    page.objects.push(meta(key, etag, data));
                    count += 1;
                }
            }
        }
        Ok(page)
    }

    async fn list_subtree_page(&self, bucket: &str, prefix: &str) -> Result<ListPage, StoreError> {
        self.list_count.fetch_add(1, Ordering::SeqCst);
        let objects = self.objects.lock();
        let mut page = ListPage::default();
        let mut under = objects
            .iter()
            .filter(|((b, key), _)| b == bucket && key.starts_with(prefix));
        for ((_, key), (etag, data)) in under.by_ref().take(self.page_size.max(1)) {
            page.objects.push(meta(key, etag, data));
        }
        if under.next().is_some() {
            page.next_token = page.objects.last().map(|o| o.key.clone());
        }
        Ok(page)
    }

    async fn head(&self, bucket: &str, key: &str) -> Result<ObjectMeta, StoreError> {
        self.head_count.fetch_add(1, Ordering::SeqCst);
        let objects = self.objects.lock();
        let (etag, data) = objects
            .get(&(bucket.to_string(), key.to_string()))
            .ok_or_else(|| StoreError::new(StoreErrorKind::NotFound, bucket, key, "HTTP 404"))?;
        Ok(meta(key, etag, data))
    }

    async fn get_range(
        &self,
        bucket: &str,
        key: &str,
        etag: &str,
        range: Range<u64>,
    ) -> Result<Bytes, StoreError> {
        self.get_count.fetch_add(1, Ordering::SeqCst);
        self.gets.lock().push((key.to_string(), range.clone()));
        if !self.delay.is_zero() {
            tokio::time::sleep(self.delay).await;
        }
        let objects = self.objects.lock();
        let (current, data) = objects
            .get(&(bucket.to_string(), key.to_string()))
            .ok_or_else(|| StoreError::new(StoreErrorKind::NotFound, bucket, key, "HTTP 404"))?;
        if current != etag {
            return Err(StoreError::new(
                StoreErrorKind::Changed,
                bucket,
                key,
                "HTTP 412",
            ));
        }
        Ok(data.slice(range.start as usize..range.end as usize))
    }
}

/// The last key or prefix of a page: where the next page starts (exclusive). A prefix
/// token ends in `/` followed by U+10FFFF so the next page skips everything under it.
fn start_token(page: &ListPage) -> String {
    let last_obj = page.objects.last().map(|o| o.key.clone());
    let last_prefix = page.prefixes.last().map(|p| format!("{p}\u{10FFFF}"));
    last_obj.max(last_prefix).unwrap_or_default()
}
