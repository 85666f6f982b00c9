//! The in-memory object store: buckets (public or private) holding objects
//! with their data, ETag, modification time and content type, and the
//! S3-style listing walk (prefix, delimiter, pagination) over them.

use std::collections::BTreeMap;
use std::ops::Bound;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use md5::{Digest, Md5};
use parking_lot::RwLock;

/// Content type S3 gives objects uploaded without one.
pub(crate) const DEFAULT_CONTENT_TYPE: &str = "binary/octet-stream";

/// One stored object. Immutable: a PUT replaces the whole `Arc`.
#[derive(Debug)]
pub(crate) struct StoredObject {
    pub data: Bytes,
    /// Hex MD5 of `data`, without quotes (computed once, at put time).
    pub etag_hex: String,
    /// Whole seconds, so listings (milliseconds) and HEAD (HTTP date,
    /// seconds) report the same instant.
    pub last_modified: SystemTime,
    pub content_type: String,
}

impl StoredObject {
    pub(crate) fn new(
        data: Bytes,
        last_modified: SystemTime,
        content_type: String,
    ) -> StoredObject {
        let etag_hex = hex::encode(Md5::digest(&data));
        StoredObject {
            data,
            etag_hex,
            last_modified: whole_seconds(last_modified),
            content_type,
        }
    }

    /// The ETag as S3 sends it: quoted hex MD5.
    pub(crate) fn quoted_etag(&self) -> String {
        format!("\"{}\"", self.etag_hex)
    }
}

fn whole_seconds(t: SystemTime) -> SystemTime {
    match t.duration_since(UNIX_EPOCH) {
        Ok(d) => UNIX_EPOCH + Duration::from_secs(d.as_secs()),
        Err(_) => UNIX_EPOCH,
    }
}

pub(crate) struct BucketState {
    pub public: bool,
    pub created: SystemTime,
    pub objects: BTreeMap<String, Arc<StoredObject>>,
}

/// Why a store operation could not be done.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum StoreError {
    NoSuchBucket,
}

#[derive(Default)]
pub(crate) struct Store {
    buckets: RwLock<BTreeMap<String, BucketState>>,
}

/// One listing entry.
#[derive(Debug)]
pub(crate) enum ListEntry {
    Object(String, Arc<StoredObject>),
    CommonPrefix(String),
}

/// Where a listing page starts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum ListStart {
    Beginning,
    /// Strictly after this key (continuation after an object, or start-after).
    AfterKey(String),
    /// After every key beginning with this common prefix.
    AfterPrefix(String),
}

pub(crate) struct ListQuery<'a> {
    pub prefix: &'a str,
    /// `None` (or empty, which S3 treats the same) = no grouping.
    pub delimiter: Option<&'a str>,
    pub start: ListStart,
    pub max_keys: usize,
}

#[derive(Debug)]
pub(crate) struct ListPage {
    pub entries: Vec<ListEntry>,
    /// More entries follow the last one returned.
    pub truncated: bool,
}

impl Store {
    /// Creates the bucket, or changes its visibility if it exists.
    pub(crate) fn create_bucket(&self, name: &str, public: bool) {
        let mut buckets = self.buckets.write();
        match buckets.get_mut(name) {
            Some(bucket) => bucket.public = public,
            None => {
                buckets.insert(
                    name.to_owned(),
                    BucketState {
                        public,
                        created: SystemTime::now(),
                        objects: BTreeMap::new(),
                    },
                );
            }
        }
    }

    pub(crate) fn bucket_exists(&self, name: &str) -> bool {
        self.buckets.read().contains_key(name)
    }

    /// `Some(public)` for an existing bucket.
    pub(crate) fn bucket_is_public(&self, name: &str) -> Option<bool> {
        self.buckets.read().get(name).map(|b| b.public)
    }

    /// (name, creation time) of every bucket, by name.
    pub(crate) fn buckets(&self) -> Vec<(String, SystemTime)> {
        self.buckets
            .read()
            .iter()
            .map(|(name, b)| (name.clone(), b.created))
            .collect()
    }

    pub(crate) fn put(
        &self,
        bucket: &str,
        key: &str,
        object: StoredObject,
    ) -> Result<Arc<StoredObject>, StoreError> {
        let object = Arc::new(object);
        let mut buckets = self.buckets.write();
        let bucket = buckets.get_mut(bucket).ok_or(StoreError::NoSuchBucket)?;
        bucket.objects.insert(key.to_owned(), Arc::clone(&object));
        Ok(object)
    }

    /// Deletes the key; deleting a missing key is not an error (as in S3).
    pub(crate) fn delete(&self, bucket: &str, key: &str) -> Result<(), StoreError> {
        let mut buckets = self.buckets.write();
        let bucket = buckets.get_mut(bucket).ok_or(StoreError::NoSuchBucket)?;
        bucket.objects.remove(key);
        Ok(())
    }

    pub(crate) fn get(
        &self,
        bucket: &str,
        key: &str,
    ) -> Result<Option<Arc<StoredObject>>, StoreError> {
        let buckets = self.buckets.read();
        let bucket = buckets.get(bucket).ok_or(StoreError::NoSuchBucket)?;
        Ok(bucket.objects.get(key).cloned())
    }

    pub(crate) fn list(&self, bucket: &str, query: &ListQuery<'_>) -> Result<ListPage, StoreError> {
        let buckets = self.buckets.read();
        let bucket = buckets.get(bucket).ok_or(StoreError::NoSuchBucket)?;
        Ok(list_objects(&bucket.objects, query))
    }
}

/// The smallest string greater than every string starting with `prefix`,
/// when it is cheap to compute (last byte ASCII and below DEL).
fn prefix_successor(prefix: &str) -> Option<String> {
    let last = *prefix.as_bytes().last()?;
    if last >= 0x7f {
        return None;
    }
    let mut s = prefix[..prefix.len() - 1].to_owned();
    s.push(char::from(last + 1));
    Some(s)
}

/// The S3 listing walk over keys in byte order.
pub(crate) fn list_objects(
    objects: &BTreeMap<String, Arc<StoredObject>>,
    query: &ListQuery<'_>,
) -> ListPage {
    let prefix = query.prefix;
    let delimiter = query.delimiter.filter(|d| !d.is_empty());
    let mut entries = Vec::new();
    let mut truncated = false;

    // Keys in [lower, ..) that begin with `skip` are not listed (they belong
    // to a common prefix already returned).
    let mut skip: Option<String> = None;
    let mut lower: Bound<String> = match &query.start {
        ListStart::Beginning => Bound::Included(prefix.to_owned()),
        ListStart::AfterKey(key) if key.as_str() < prefix => Bound::Included(prefix.to_owned()),
        ListStart::AfterKey(key) => Bound::Excluded(key.clone()),
        ListStart::AfterPrefix(cp) => {
            skip = Some(cp.clone());
            if cp.as_str() < prefix {
                Bound::Included(prefix.to_owned())
            } else {
                match prefix_successor(cp) {
                    Some(next) => {
                        skip = None;
                        Bound::Included(next)
                    }
                    None => Bound::Excluded(cp.clone()),
                }
            }
        }
    };

    'walk: loop {
        for (key, object) in objects.range::<String, _>((lower.clone(), Bound::Unbounded)) {
            if !key.starts_with(prefix) {
                // Keys sharing a prefix are contiguous in byte order.
                break 'walk;
            }
            if let Some(s) = &skip {
                if key.starts_with(s.as_str()) {
                    continue;
                }
            }
            let group = delimiter.and_then(|d| {
                key[prefix.len()..]
                    .find(d)
                    .map(|i| key[..prefix.len() + i + d.len()].to_owned())
            });
            if entries.len() >= query.max_keys {
                truncated = true;
                break 'walk;
            }
            match group {
                Some(cp) => {
                    entries.push(ListEntry::CommonPrefix(cp.clone()));
                    // Jump past every key of this group.
                    match prefix_successor(&cp) {
                        Some(next) => {
                            skip = None;
                            lower = Bound::Included(next);
                            continue 'walk;
                        }
                        None => skip = Some(cp),
                    }
                }
                None => entries.push(ListEntry::Object(key.clone(), Arc::clone(object))),
            }
        }
        break;
    }
    // As S3 answers max-keys=0: an empty page is not truncated, since no continuation token
    // could follow it (mountpoint-s3 checks that IsTruncated and the token agree).
    let truncated = truncated && !entries.is_empty();
    ListPage { entries, truncated }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn store_with(keys: &[&str]) -> BTreeMap<String, Arc<StoredObject>> {
        keys.iter()
            .map(|k| {
                let obj = StoredObject::new(
                    Bytes::from_static(b"x"),
                    SystemTime::now(),
                    DEFAULT_CONTENT_TYPE.into(),
                );
                (k.to_string(), Arc::new(obj))
            })
            .collect()
    }

    fn names(page: &ListPage) -> Vec<String> {
        page.entries
            .iter()
            .map(|e| match e {
                ListEntry::Object(k, _) => k.clone(),
                ListEntry::CommonPrefix(p) => format!("P:{p}"),
            })
            .collect()
    }

    fn query<'a>(
        prefix: &'a str,
        delimiter: Option<&'a str>,
        start: ListStart,
        max_keys: usize,
    ) -> ListQuery<'a> {
        ListQuery {
            prefix,
            delimiter,
            start,
            max_keys,
        }
    }

    #[test]
    fn delimiter_groups_and_a_key_can_be_file_and_prefix() {
        let objects = store_with(&["a", "a/b", "a/c/d", "a//x", "b", "ab"]);
        let page = list_objects(&objects, &query("", Some("/"), ListStart::Beginning, 1000));
        assert_eq!(names(&page), ["a", "P:a/", "ab", "b"]);
        let page = list_objects(
            &objects,
            &query("a/", Some("/"), ListStart::Beginning, 1000),
        );
        assert_eq!(names(&page), ["P:a//", "a/b", "P:a/c/"]);
        let page = list_objects(&objects, &query("a/", Some(""), ListStart::Beginning, 1000));
        assert_eq!(
            names(&page),
            ["a//x", "a/b", "a/c/d"],
            "empty delimiter = none"
        );
    }

    #[test]
    fn max_keys_zero_is_an_empty_page_that_is_not_truncated() {
        let objects = store_with(&["a", "b"]);
        let page = list_objects(&objects, &query("", Some("/"), ListStart::Beginning, 0));
        assert!(
            page.entries.is_empty() && !page.truncated,
            "expected no entries and not truncated, got {:?} truncated={}",
            names(&page),
            page.truncated
        );
    }

    #[test]
    fn pages_continue_after_objects_and_common_prefixes() {
        let objects = store_with(&["d1/x", "d1/y", "f1", "d2/z", "f2"]);
        let page = list_objects(&objects, &query("", Some("/"), ListStart::Beginning, 1));
        assert_eq!(names(&page), ["P:d1/"]);
        assert!(page.truncated);
        let page = list_objects(
            &objects,
            &query("", Some("/"), ListStart::AfterPrefix("d1/".into()), 2),
        );
        assert_eq!(names(&page), ["P:d2/", "f1"]);
        assert!(page.truncated);
        let page = list_objects(
            &objects,
            &query("", Some("/"), ListStart::AfterKey("f1".into()), 2),
        );
        assert_eq!(names(&page), ["f2"]);
        assert!(!page.truncated);
    }

    #[test]
    fn non_ascii_delimiter_falls_back_to_skipping() {
        let objects = store_with(&["aéb", "aéc", "b"]);
        let page = list_objects(&objects, &query("", Some("é"), ListStart::Beginning, 1));
        assert_eq!(names(&page), ["P:aé"]);
        let page = list_objects(
            &objects,
            &query("", Some("é"), ListStart::AfterPrefix("aé".into()), 10),
        );
        assert_eq!(names(&page), ["b"]);
    }

    #[test]
    fn etag_is_md5_and_mtime_whole_seconds() {
        let t = UNIX_EPOCH + Duration::from_millis(1_500);
        let obj = StoredObject::new(Bytes::from_static(b"hello"), t, DEFAULT_CONTENT_TYPE.into());
        assert_eq!(obj.quoted_etag(), "\"5d41402abc4b2a76b9719d911017c592\"");
        assert_eq!(obj.last_modified, UNIX_EPOCH + Duration::from_secs(1));
    }
}
