//! Bucket trees: directories from lazy ListObjectsV2 listings with delimiter `/`.
//!
//! Owns the listing cache (complete listings per (bucket, prefix), trusted for the metadata
//! TTL), the negative cache of names found missing, and the prefix restriction of buckets
//! mounted with `NAME/PREFIX`: directories above an allowed prefix are made up from the
//! prefixes themselves, without asking S3. With [`PersistedMetadata`] attached, listings and
//! names found are also kept on disk and answer a later mount's lookups within the TTL.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use parking_lot::Mutex;

use super::bounded::BytesBounded;
use super::child::Child;
use super::names::{has_extension, is_valid_name};
use super::persisted::PersistedMetadata;
use super::subtree::SubtreePage;
use crate::config::BucketConfig;
use crate::store::{ListPage, ObjectStore, StoreError, StoreErrorKind};

/// A complete listing of one directory.
#[derive(Debug)]
pub struct Listing {
    pub children: BTreeMap<String, Child>,
    pub fetched: Instant,
}

struct BucketScope {
    /// Allowed key prefixes, each ending in `/`; empty means the whole bucket.
    prefixes: Vec<String>,
}

/// Where a directory sits relative to the allowed prefixes of its bucket.
enum Scope {
    /// Inside an allowed prefix: S3 says what is there.
    Listed,
    /// Above one or more allowed prefixes: only their next components are shown.
    Above(Vec<String>),
    Hidden,
}

/// The bucket trees of one mount.
pub struct BucketTrees {
    store: Arc<dyn ObjectStore>,
    scopes: HashMap<String, BucketScope>,
    order: Vec<String>,
    listings: Mutex<BytesBounded<(String, String), Arc<Listing>>>,
    missing: Mutex<BytesBounded<(String, String), Instant>>,
    /// First pages of listings too long to keep whole, fetched by a lookup: the next
    /// `list` of that directory continues from them instead of asking for page one again.
    head_starts: Mutex<BytesBounded<(String, String), (ListPage, Instant)>>,
    /// Subtree pages fetched beside folder lookups (see `subtree.rs`).
    subtrees: Mutex<BytesBounded<(String, String), Arc<SubtreePage>>>,
    ttl: Duration,
    negative_ttl: Duration,
    persisted: Option<Arc<PersistedMetadata>>,
    /// Keys and prefixes skipped because a component cannot be a file name (each listing
    /// that shows them counts them again).
    unsafe_names: AtomicU64,
}

/// What the metadata caches of one mount may hold, in bytes (estimated): a share of the
/// 64 MiB the daemon may use beside the block cache (docs/RELIABILITY.md).
const METADATA_BUDGET: u64 = 16 << 20;
/// Per-entry overhead of maps, strings and `Arc`s, estimated.
const ENTRY_OVERHEAD: u64 = 96;

fn entry_bytes(bucket: &str, key: &str) -> u64 {
    (bucket.len() + key.len()) as u64 * 2 + ENTRY_OVERHEAD
}

fn listing_bytes(dir: &str, children: &BTreeMap<String, Child>) -> u64 {
    children
        .iter()
        .map(|(name, child)| {
            let meta = match child {
                Child::File(m) => (dir.len() + name.len() + m.etag.len()) as u64,
                Child::Dir => 0,
            };
            name.len() as u64 + meta + ENTRY_OVERHEAD
        })
        .sum()
}

fn page_bytes(page: &ListPage) -> u64 {
    let objects: u64 = page
        .objects
        .iter()
        .map(|o| (o.key.len() + o.etag.len()) as u64 + ENTRY_OVERHEAD)
        .sum();
    let prefixes: u64 = page.prefixes.iter().map(|p| p.len() as u64 + 32).sum();
    objects + prefixes
}

/// The continuation token of `page`, unless it was seen before in this listing: a server
/// that hands out a token twice would be followed forever.
fn next_token(
    bucket: &str,
    prefix: &str,
    page: &ListPage,
    seen: &mut HashSet<String>,
) -> Result<Option<String>, StoreError> {
    match &page.next_token {
        Some(token) if !seen.insert(token.clone()) => Err(StoreError::new(
            StoreErrorKind::Invalid,
            bucket,
            prefix,
            format!("the listing repeated its continuation token '{token}'; stopped"),
        )),
        other => Ok(other.clone()),
    }
}

impl BucketTrees {
    pub fn new(
        store: Arc<dyn ObjectStore>,
        buckets: &[BucketConfig],
        ttl: Duration,
        negative_ttl: Duration,
    ) -> BucketTrees {
        let mut scopes: HashMap<String, BucketScope> = HashMap::new();
        let mut order = Vec::new();
        for b in buckets {
            let scope = scopes.entry(b.name.clone()).or_insert_with(|| {
                order.push(b.name.clone());
                BucketScope {
                    prefixes: Vec::new(),
                }
            });
            match &b.prefix {
                // A whole-bucket entry wins over any prefix of the same bucket.
                None => scope.prefixes.clear(),
                Some(p) => {
                    let whole = buckets
                        .iter()
                        .any(|o| o.name == b.name && o.prefix.is_none());
                    if !whole && !scope.prefixes.contains(p) {
                        scope.prefixes.push(p.clone());
                    }
                }
            }
        }
        BucketTrees {
            store,
            scopes,
            order,
            listings: Mutex::new(BytesBounded::new(METADATA_BUDGET * 5 / 8)),
            missing: Mutex::new(BytesBounded::new(METADATA_BUDGET / 8)),
            head_starts: Mutex::new(BytesBounded::new(METADATA_BUDGET / 8)),
            subtrees: Mutex::new(BytesBounded::new(METADATA_BUDGET / 8)),
            ttl,
            negative_ttl,
            persisted: None,
            unsafe_names: AtomicU64::new(0),
        }
    }

    /// Keys and prefixes skipped so far because they cannot be file names.
    pub fn unsafe_names(&self) -> u64 {
        self.unsafe_names.load(Ordering::Relaxed)
    }

    /// Keeps listings and names found on disk too, and answers from there what an earlier
    /// mount found (within the TTL).
    pub fn with_persisted(mut self, persisted: Arc<PersistedMetadata>) -> BucketTrees {
        self.persisted = Some(persisted);
        self
    }

    /// The mounted buckets, in the order they were configured.
    pub fn bucket_names(&self) -> &[String] {
        &self.order
    }

    pub fn has_bucket(&self, name: &str) -> bool {
        self.scopes.contains_key(name)
    }

    /// The same trees with metadata caches bounded by `budget` bytes instead.
    #[cfg(test)]
    pub fn with_metadata_budget(mut self, budget: u64) -> BucketTrees {
        self.listings = Mutex::new(BytesBounded::new(budget * 5 / 8));
        self.missing = Mutex::new(BytesBounded::new(budget / 8));
        self.head_starts = Mutex::new(BytesBounded::new(budget / 8));
        self.subtrees = Mutex::new(BytesBounded::new(budget / 8));
        self
    }

    /// Bytes the metadata caches hold (listings, missing names, first pages, subtree pages),
    /// estimated.
    pub fn metadata_bytes(&self) -> u64 {
        self.listings.lock().bytes()
            + self.missing.lock().bytes()
            + self.head_starts.lock().bytes()
            + self.subtrees.lock().bytes()
    }

    /// Forgets every cached listing and missing name (SIGHUP, refresh).
    pub fn drop_metadata(&self) {
        self.listings.lock().clear();
        self.missing.lock().clear();
        self.head_starts.lock().clear();
        self.subtrees.lock().clear();
        if let Some(p) = &self.persisted {
            p.clear();
        }
    }

    fn scope(&self, bucket: &str, dir: &str) -> Scope {
        let Some(scope) = self.scopes.get(bucket) else {
            return Scope::Hidden;
        };
        if scope.prefixes.is_empty() || scope.prefixes.iter().any(|p| dir.starts_with(p.as_str())) {
            return Scope::Listed;
        }
        let below: Vec<String> = scope
            .prefixes
            .iter()
            .filter(|p| p.starts_with(dir))
            .filter_map(|p| p[dir.len()..].split('/').next().map(str::to_string))
            .filter(|n| is_valid_name(n))
            .collect();
        if below.is_empty() {
            Scope::Hidden
        } else {
            Scope::Above(below)
        }
    }

    /// The complete listing of directory `dir` (a prefix ending in `/`, or "" for the
    /// bucket's top) of `bucket`, from the cache while it is fresh.
    pub async fn list(&self, bucket: &str, dir: &str) -> Result<Arc<Listing>, StoreError> {
        match self.scope(bucket, dir) {
            Scope::Hidden => Ok(Arc::new(Listing {
                children: BTreeMap::new(),
                fetched: Instant::now(),
            })),
            Scope::Above(names) => Ok(Arc::new(Listing {
                children: names.into_iter().map(|n| (n, Child::Dir)).collect(),
                fetched: Instant::now(),
            })),
            Scope::Listed => {
                if let Some(cached) = self.cached(bucket, dir) {
                    return Ok(cached);
                }
                let mut pages = Vec::new();
                let mut token = None;
                let head_start = self
                    .head_starts
                    .lock()
                    .remove(&(bucket.to_string(), dir.to_string()));
                if let Some((page, at)) = head_start {
                    if at.elapsed() < self.ttl {
                        token = page.next_token.clone();
                        pages.push(page);
                    }
                }
                let mut seen = HashSet::new();
                while token.is_some() || pages.is_empty() {
                    let page = self.store.list_page(bucket, dir, token).await?;
                    token = next_token(bucket, dir, &page, &mut seen)?;
                    pages.push(page);
                }
                Ok(self.remember(bucket, dir, &pages))
            }
        }
    }

    /// What `name` is in directory `dir` of `bucket`, if anything (a directory wins over a
    /// file of the same name). Answered from the directory's listing when it is cached;
    /// otherwise with one round trip to S3:
    /// - a name with an extension (most likely a file) by one LIST of the prefix
    ///   `{dir}{name}`, which shows both the object and the folder `{dir}{name}/`;
    /// - any other name (most likely a folder) by a one-page LIST of `{dir}{name}/`: the
    ///   listing also serves the folder's own lookups and `readdir` next, so the walk down
    ///   a path of single folders skips a level. Only when that listing is empty is the
    ///   key itself asked for (HEAD): a file without an extension costs a second round
    ///   trip, and every folder one request less.
    pub async fn lookup(
        &self,
        bucket: &str,
        dir: &str,
        name: &str,
    ) -> Result<Option<Child>, StoreError> {
        if !is_valid_name(name) {
            return Ok(None);
        }
        let as_dir = format!("{dir}{name}/");
        match self.scope(bucket, dir) {
            Scope::Hidden => return Ok(None),
            Scope::Above(names) => {
                return Ok(names.iter().any(|n| n == name).then_some(Child::Dir))
            }
            Scope::Listed => {}
        }
        if let Some(listing) = self.cached(bucket, dir) {
            return Ok(listing.children.get(name).cloned());
        }
        let key = format!("{dir}{name}");
        if let Some(at) = self.missing.lock().get(&(bucket.to_string(), key.clone())) {
            if at.elapsed() < self.negative_ttl {
                return Ok(None);
            }
        }
        if self.cached(bucket, &as_dir).is_some() {
            return Ok(Some(Child::Dir));
        }
        if let Some((child, _)) = self.persisted.as_ref().and_then(|p| p.name(bucket, &key)) {
            return Ok(Some(child));
        }
        let found = if has_extension(name) {
            self.probe_by_prefix(bucket, &key).await?
        } else {
            self.probe_folder_and_key(bucket, &key).await?
        };
        match &found {
            None => {
                let bytes = entry_bytes(bucket, &key);
                self.missing
                    .lock()
                    .insert((bucket.to_string(), key), Instant::now(), bytes);
            }
            Some(child) => {
                if let Some(p) = &self.persisted {
                    p.save_name(bucket, &key, child, SystemTime::now());
                }
            }
        }
        Ok(found)
    }

    /// One delimiter LIST of the prefix `key`: the object `key` is among its keys and the
    /// folder `key/` among its common prefixes. Keys sort `key` < `key-…`, `key.…` <
    /// `key/`, so the object is always on the first page; the folder needs a further page
    /// only when more than a page of names that start with `key` and sort before `/` (such
    /// as `key.bak`) come first.
    async fn probe_by_prefix(&self, bucket: &str, key: &str) -> Result<Option<Child>, StoreError> {
        let as_dir = format!("{key}/");
        let mut file = None;
        let mut token = None;
        let mut seen = HashSet::new();
        loop {
            let page = self.store.list_page(bucket, key, token).await?;
            let next = next_token(bucket, key, &page, &mut seen)?;
            if page.prefixes.contains(&as_dir) {
                return Ok(Some(Child::Dir));
            }
            if file.is_none() {
                file = page.objects.iter().find(|o| o.key == key).cloned();
            }
            let last_object = page.objects.last().map(|o| o.key.as_str());
            let last_prefix = page.prefixes.last().map(String::as_str);
            let past_folder = last_object.max(last_prefix) >= Some(as_dir.as_str());
            token = next;
            if token.is_none() || past_folder {
                return Ok(file.map(Child::File));
            }
        }
    }

    /// A one-page LIST of `key/`, then a HEAD of `key` only if that is empty. A non-empty
    /// listing makes `key` a folder (and is kept as its listing, or as the head start of a
    /// long one); otherwise the HEAD says whether it is a file.
    async fn probe_folder_and_key(
        &self,
        bucket: &str,
        key: &str,
    ) -> Result<Option<Child>, StoreError> {
        let as_dir = format!("{key}/");
        // The folder's own level and, in the same round trip, a page of its whole subtree:
        // the walk down the rest of the path is then answered from memory.
        let (page, subtree) = tokio::join!(
            self.store.list_page(bucket, &as_dir, None),
            self.store.list_subtree_page(bucket, &as_dir)
        );
        let page = page?;
        match subtree {
            Ok(subtree) => {
                let page = SubtreePage::new(&as_dir, subtree);
                let bytes = entry_bytes(bucket, &as_dir) + page.bytes(ENTRY_OVERHEAD);
                self.subtrees.lock().insert(
                    (bucket.to_string(), as_dir.clone()),
                    Arc::new(page),
                    bytes,
                );
            }
            // Only a head start: the walk then lists each level as it comes.
            Err(e) => tracing::debug!(bucket, prefix = %as_dir, error = %e, "subtree LIST failed"),
        }
        if !page.objects.is_empty() || !page.prefixes.is_empty() {
            self.keep_first_page(bucket, &as_dir, page);
            return Ok(Some(Child::Dir));
        }
        match self.store.head(bucket, key).await {
            Ok(meta) => Ok(Some(Child::File(meta))),
            Err(e) if e.kind == crate::store::StoreErrorKind::NotFound => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// The first page of `dir`'s listing: the listing itself when it is the only page, else
    /// the head start that the next `list` of `dir` goes on from.
    fn keep_first_page(&self, bucket: &str, dir: &str, page: ListPage) {
        if page.next_token.is_none() {
            self.remember(bucket, dir, std::slice::from_ref(&page));
        } else {
            self.keep_head_start(bucket, dir, page);
        }
    }

    /// `page` as the first page of `dir` that the next `list` of `dir` goes on from.
    fn keep_head_start(&self, bucket: &str, dir: &str, page: ListPage) {
        let bytes = entry_bytes(bucket, dir) + page_bytes(&page);
        self.head_starts.lock().insert(
            (bucket.to_string(), dir.to_string()),
            (page, Instant::now()),
            bytes,
        );
    }

    /// Lists the first page of each mounted bucket's top folder (of each allowed prefix,
    /// for a bucket mounted as `NAME/PREFIX`) and keeps it as that folder's head start.
    /// Called before the mount appears, so that the HTTP client has made its connector
    /// (TLS roots and all) and holds an open connection before the first lookup needs one,
    /// and the first `ls` of the folder goes on from the page. Lookups do not answer from
    /// it: a name created after the mount is still found (only a listing someone asked for
    /// answers lookups, within the metadata TTL). One page only, however large the folder;
    /// nothing when the folder's listing is already known. Returns what failed.
    pub async fn prime(&self) -> Vec<StoreError> {
        let tops: Vec<(&str, &str)> = self
            .order
            .iter()
            .flat_map(|bucket| {
                let prefixes = self
                    .scopes
                    .get(bucket)
                    .map(|s| s.prefixes.as_slice())
                    .unwrap_or_default();
                let dirs: Vec<&str> = if prefixes.is_empty() {
                    vec![""]
                } else {
                    prefixes.iter().map(String::as_str).collect()
                };
                dirs.into_iter().map(move |dir| (bucket.as_str(), dir))
            })
            .collect();
        let primed = tops.into_iter().map(|(bucket, dir)| async move {
            if self.cached(bucket, dir).is_some() {
                return Ok(());
            }
            let page = self.store.list_page(bucket, dir, None).await?;
            self.keep_head_start(bucket, dir, page);
            Ok(())
        });
        futures::future::join_all(primed)
            .await
            .into_iter()
            .filter_map(Result::err)
            .collect()
    }

    /// The listing of `dir` from a fresh subtree page of one of its parent folders, made
    /// (and then kept like a listed one) when that page shows the folder whole.
    fn listed_by_subtree(&self, bucket: &str, dir: &str) -> Option<Arc<Listing>> {
        let tops = dir
            .char_indices()
            .filter(|&(i, c)| c == '/' && i + 1 < dir.len())
            .map(|(i, _)| &dir[..=i]);
        let listing = {
            let mut subtrees = self.subtrees.lock();
            let mut found = None;
            for top in tops {
                let Some(page) = subtrees.get(&(bucket.to_string(), top.to_string())) else {
                    continue;
                };
                if page.fetched.elapsed() < self.ttl {
                    found = page.listing_of(dir);
                    if found.is_some() {
                        break;
                    }
                }
            }
            found
        }?;
        Some(self.remember(bucket, dir, std::slice::from_ref(&listing)))
    }

    /// Fresh metadata of one key (to revalidate an open after the TTL).
    pub async fn head(
        &self,
        bucket: &str,
        key: &str,
    ) -> Result<crate::store::ObjectMeta, StoreError> {
        self.store.head(bucket, key).await
    }

    /// The listing of `dir` while fresh: from memory, else from a subtree page of a parent,
    /// else from disk (then kept in memory, as old as it was on disk).
    fn cached(&self, bucket: &str, dir: &str) -> Option<Arc<Listing>> {
        {
            let mut listings = self.listings.lock();
            if let Some(l) = listings.get(&(bucket.to_string(), dir.to_string())) {
                if l.fetched.elapsed() < self.ttl {
                    return Some(l.clone());
                }
            }
        }
        if let Some(l) = self.listed_by_subtree(bucket, dir) {
            return Some(l);
        }
        let (children, age) = self.persisted.as_ref()?.listing(bucket, dir)?;
        let bytes = entry_bytes(bucket, dir) + listing_bytes(dir, &children);
        let listing = Arc::new(Listing {
            children,
            fetched: Instant::now().checked_sub(age).unwrap_or_else(Instant::now),
        });
        self.listings.lock().insert(
            (bucket.to_string(), dir.to_string()),
            listing.clone(),
            bytes,
        );
        Some(listing)
    }

    fn remember(&self, bucket: &str, dir: &str, pages: &[ListPage]) -> Arc<Listing> {
        let mut children = BTreeMap::new();
        for page in pages {
            for obj in &page.objects {
                let Some(name) = obj.key.strip_prefix(dir) else {
                    tracing::warn!(bucket, key = %obj.key, dir, "listing returned a key outside the prefix asked for; skipped");
                    continue;
                };
                if name.is_empty() {
                    continue; // the directory's own marker object
                }
                if !is_valid_name(name) {
                    tracing::debug!(bucket, key = %obj.key, "key skipped: not a valid file name");
                    self.unsafe_names.fetch_add(1, Ordering::Relaxed);
                    continue;
                }
                children.insert(name.to_string(), Child::File(obj.clone()));
            }
        }
        for page in pages {
            for p in &page.prefixes {
                let name = p
                    .strip_prefix(dir)
                    .and_then(|rest| rest.strip_suffix('/'))
                    .unwrap_or("");
                if !is_valid_name(name) {
                    tracing::debug!(bucket, prefix = %p, "prefix skipped: not a valid directory name");
                    self.unsafe_names.fetch_add(1, Ordering::Relaxed);
                    continue;
                }
                // A directory and a file of the same name: the directory wins.
                children.insert(name.to_string(), Child::Dir);
            }
        }
        if let Some(p) = &self.persisted {
            p.save_listing(bucket, dir, &children, SystemTime::now());
        }
        let bytes = entry_bytes(bucket, dir) + listing_bytes(dir, &children);
        let listing = Arc::new(Listing {
            children,
            fetched: Instant::now(),
        });
        self.listings.lock().insert(
            (bucket.to_string(), dir.to_string()),
            listing.clone(),
            bytes,
        );
        listing
    }
}

#[cfg(test)]
#[path = "buckets_tests.rs"]
mod tests;
