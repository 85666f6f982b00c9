//! What a path walk and a listing cost in S3 round trips.

use std::ffi::OsStr;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;

use super::*;

/// A store in front of [`MemoryStore`] that counts round trips: a request that starts
/// while none is in flight opens a new one, requests started together share it.
struct RoundTrips {
    inner: Arc<MemoryStore>,
    in_flight: std::sync::atomic::AtomicUsize,
    rounds: std::sync::atomic::AtomicUsize,
}

impl RoundTrips {
    fn new(inner: Arc<MemoryStore>) -> RoundTrips {
        RoundTrips {
            inner,
            in_flight: Default::default(),
            rounds: Default::default(),
        }
    }

    async fn round<T>(&self, work: impl std::future::Future<Output = T>) -> T {
        if self.in_flight.fetch_add(1, Ordering::SeqCst) == 0 {
            self.rounds.fetch_add(1, Ordering::SeqCst);
        }
        // Stay in flight a moment, as a network request would.
        tokio::time::sleep(Duration::from_millis(5)).await;
        let out = work.await;
        self.in_flight.fetch_sub(1, Ordering::SeqCst);
        out
    }
}

#[async_trait::async_trait]
impl crate::store::ObjectStore for RoundTrips {
    async fn list_page(
        &self,
        bucket: &str,
        prefix: &str,
        continuation: Option<String>,
    ) -> Result<crate::store::ListPage, crate::store::StoreError> {
        self.round(self.inner.list_page(bucket, prefix, continuation))
            .await
    }

    async fn list_subtree_page(
        &self,
        bucket: &str,
        prefix: &str,
    ) -> Result<crate::store::ListPage, crate::store::StoreError> {
        self.round(self.inner.list_subtree_page(bucket, prefix))
            .await
    }

    async fn head(&self, bucket: &str, key: &str) -> Result<ObjectMeta, crate::store::StoreError> {
        self.round(self.inner.head(bucket, key)).await
    }

    async fn get_range(
        &self,
        bucket: &str,
        key: &str,
        etag: &str,
        range: std::ops::Range<u64>,
    ) -> Result<Bytes, crate::store::StoreError> {
        self.round(self.inner.get_range(bucket, key, etag, range))
            .await
    }
}

fn fs_over_round_trips(store: Arc<MemoryStore>) -> (Fs, Arc<RoundTrips>) {
    let counted = Arc::new(RoundTrips::new(store));
    let trees = bucket_b1(counted.clone());
    let cache = BlockCache::new(counted.clone(), 4096, 1 << 20);
    let fs = Fs::new(
        FsOptions::default(),
        Namespace::new(trees, None),
        cache,
        Default::default(),
    );
    (fs, counted)
}

/// (round trips, HEAD, LIST) since the last call.
fn traffic(store: &MemoryStore, counted: &RoundTrips) -> (usize, u64, u64) {
    (
        counted.rounds.swap(0, Ordering::SeqCst),
        store.head_count.swap(0, Ordering::SeqCst),
        store.list_count.swap(0, Ordering::SeqCst),
    )
}

#[tokio::test]
async fn path_walk_costs_one_round_trip_per_unlisted_folder() {
    // Pages of 4 keys and other programs' files before jbev, as in stpubdata: the subtree
    // page of hst/ ends long before jbev/, the one of jbev/ holds all of it.
    let mut store = MemoryStore::new();
    store.page_size = 4;
    let store = Arc::new(store);
    for program in ["ia01", "ia02", "ib01", "ib02", "ic01"] {
        let key = format!("hst/public/{program}/{program}01010/{program}01010_drz.fits");
        store.put("b1", &key, "e", Bytes::from_static(b"1"));
    }
    store.put(
        "b1",
        "hst/public/jbev/jbeveo010/jbeveo010_drz.fits",
        "e",
        Bytes::from(vec![0u8; 10]),
    );
    let (fs, counted) = fs_over_round_trips(store.clone());
    let f = walk(&fs, "b1/hst/public/jbev/jbeveo010/jbeveo010_drz.fits")
        .await
        .unwrap();
    assert_eq!(
        (f.kind, f.size),
        (Kind::File, 10),
        "the file at the end of the walk"
    );
    // hst: LIST hst/ (its listing answers public) and, in the same round trip, a page of
    // hst/'s subtree (cut short by the other programs); jbev: the same one level down, whose
    // subtree page holds jbeveo010/ whole and so answers the last two components. No HEAD.
    assert_eq!(
        traffic(&store, &counted),
        (2, 0, 4),
        "(round trips, HEAD, LIST) of a walk down 5 unlisted components"
    );
}

#[tokio::test]
async fn names_with_extensions_cost_one_list_and_keep_folder_semantics() {
    let mut store = MemoryStore::new();
    store.page_size = 3;
    let store = Arc::new(store);
    for key in [
        "d/x.fits",
        "d/x.fits/inner",
        "d/y.fits",
        "d/cube.zarr/.zarray",
        "d/README",
    ] {
        store.put("b1", key, "e", Bytes::from_static(b"12345"));
    }
    // Five names that start with "d/z.fits" and sort before "d/z.fits/": more than a page.
    for sibling in ["-1", "-2", ".bak", ".old", "+x"] {
        store.put("b1", &format!("d/z.fits{sibling}"), "e", Bytes::new());
    }
    store.put("b1", "d/z.fits/inner", "e", Bytes::new());
    let (fs, counted) = fs_over_round_trips(store.clone());
    let d = walk(&fs, "b1/d").await.unwrap();
    traffic(&store, &counted);

    let y = fs.lookup(d.ino, OsStr::new("y.fits")).await.unwrap();
    assert_eq!((y.kind, y.size), (Kind::File, 5), "y.fits: a file");
    assert_eq!(
        traffic(&store, &counted),
        (1, 0, 1),
        "y.fits: one LIST, no HEAD"
    );

    let x = fs.lookup(d.ino, OsStr::new("x.fits")).await.unwrap();
    assert_eq!(
        x.kind,
        Kind::Dir,
        "x.fits is a file and a folder: the folder wins"
    );
    assert_eq!(traffic(&store, &counted), (1, 0, 1), "x.fits: one LIST");

    let zarr = fs.lookup(d.ino, OsStr::new("cube.zarr")).await.unwrap();
    assert_eq!(zarr.kind, Kind::Dir, "a folder with an extension");

    let z = fs.lookup(d.ino, OsStr::new("z.fits")).await.unwrap();
    assert_eq!(
        z.kind,
        Kind::Dir,
        "z.fits/ comes after a page of z.fits-1 … z.fits.old: the next page is read"
    );
    traffic(&store, &counted);

    let readme = fs.lookup(d.ino, OsStr::new("README")).await.unwrap();
    assert_eq!(readme.kind, Kind::File, "a file without an extension");
    assert_eq!(
        traffic(&store, &counted),
        (2, 1, 2),
        "README: empty LISTs of README/ (its level and its subtree), then a HEAD: two round trips"
    );

    // A missing name without an extension: an empty LIST of nope/, then a HEAD.
    for (name, round_trips) in [("nope.fits", 1), ("nope", 2)] {
        let err = fs.lookup(d.ino, OsStr::new(name)).await.unwrap_err();
        assert_eq!(err.errno, libc::ENOENT, "{name}: missing");
        let first = traffic(&store, &counted);
        assert_eq!(
            first.0, round_trips,
            "{name}: round trips to find it missing"
        );
        fs.lookup(d.ino, OsStr::new(name)).await.unwrap_err();
        assert_eq!(
            traffic(&store, &counted),
            (0, 0, 0),
            "{name}: the negative cache answers the second lookup"
        );
    }
}

#[tokio::test]
async fn kernel_keeps_cached_entries_only_while_the_listing_is_the_same() {
    let store = Arc::new(MemoryStore::new());
    store.put("b1", "d/a.fits", "e", Bytes::from_static(b"1"));
    let fs = fs_over(store.clone(), &[("b1", None)]);
    let d = walk(&fs, "b1/d").await.unwrap();
    let flags = |o: OpenedDir| (o.cache_entries, o.keep_cache);
    let first = fs.opendir(d.ino).await.unwrap();
    assert_eq!(
        flags(first),
        (true, false),
        "first opendir of a bucket folder"
    );
    let second = fs.opendir(d.ino).await.unwrap();
    assert_eq!(
        flags(second),
        (true, true),
        "second opendir, same listing: the kernel may keep what it cached"
    );
    fs.drop_metadata();
    store.put("b1", "d/b.fits", "e", Bytes::from_static(b"2"));
    let after = fs.opendir(d.ino).await.unwrap();
    assert_eq!(
        flags(after),
        (true, false),
        "after drop_metadata the listing is fetched again: the kernel must drop its copy"
    );
    assert_eq!(
        fs.dir_entries(after.fh).unwrap().len() - 2,
        2,
        "the new listing shows the new object"
    );
    let root = fs.opendir(ROOT_INO).await.unwrap();
    assert_eq!(
        flags(root),
        (false, false),
        "the root is not cached by the kernel"
    );
}
