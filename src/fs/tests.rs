//! Tests of the filesystem core over the in-memory reference store: no FUSE, no network.

use std::ffi::OsStr;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;

use super::*;
use crate::cache::BlockCache;
use crate::config::BucketConfig;
use crate::namespace::buckets::BucketTrees;
use crate::store::memory::MemoryStore;

fn fs_over(store: Arc<MemoryStore>, buckets: &[(&str, Option<&str>)]) -> Fs {
    let buckets: Vec<BucketConfig> = buckets
        .iter()
        .map(|(n, p)| BucketConfig {
            name: n.to_string(),
            prefix: p.map(str::to_string),
            signed: false,
        })
        .collect();
    let trees = Arc::new(BucketTrees::new(
        store.clone(),
        &buckets,
        Duration::from_secs(60),
        Duration::from_secs(60),
    ));
    let cache = BlockCache::new(store, 4096, 1 << 20);
    Fs::new(FsOptions::default(), trees, None, cache, Default::default())
}

async fn names(fs: &Fs, ino: u64) -> Vec<String> {
    let fh = fs.opendir(ino).await.unwrap().fh;
    let entries = fs.dir_entries(fh).unwrap();
    fs.releasedir(fh);
    entries
        .iter()
        .skip(2)
        .map(|e| e.name.to_string_lossy().into_owned())
        .collect()
}

async fn walk(fs: &Fs, path: &str) -> Result<Attr, FsError> {
    let mut attr = fs.getattr(ROOT_INO).await?;
    for part in path.split('/').filter(|p| !p.is_empty()) {
        attr = fs.lookup(attr.ino, OsStr::new(part)).await?;
    }
    Ok(attr)
}

#[tokio::test]
async fn tree_from_keys_without_marker_objects() {
    let store = Arc::new(MemoryStore::new());
    store.put(
        "pub",
        "hst/public/jbev/jbeveo010/jbeveo010_drz.fits",
        "e",
        Bytes::from_static(b"fits"),
    );
    store.put(
        "pub",
        "hst/public/jbev/jbevet010/jbevet010_drz.fits",
        "e",
        Bytes::from_static(b"fits2"),
    );
    store.put("pub", "top.txt", "e", Bytes::from_static(b"t"));
    let fs = fs_over(store.clone(), &[("pub", None)]);
    assert_eq!(
        names(&fs, ROOT_INO).await,
        vec!["pub", ".mastfs"],
        "root: the buckets, then the status folder"
    );
    let bucket = fs.lookup(ROOT_INO, OsStr::new("pub")).await.unwrap();
    assert_eq!(names(&fs, bucket.ino).await, vec!["hst", "top.txt"]);
    let f = walk(&fs, "pub/hst/public/jbev/jbevet010/jbevet010_drz.fits")
        .await
        .unwrap();
    assert_eq!((f.kind, f.size, f.perm), (Kind::File, 5, 0o444));
    let d = walk(&fs, "pub/hst/public").await.unwrap();
    assert_eq!((d.kind, d.perm), (Kind::Dir, 0o555));
    let again = walk(&fs, "pub/hst/public").await.unwrap();
    assert_eq!(
        d.ino, again.ino,
        "a path looked up twice must keep its inode"
    );
}

#[tokio::test]
async fn directory_wins_over_file_and_bad_names_are_skipped() {
    let store = Arc::new(MemoryStore::new());
    for key in [
        "d/clash",
        "d/clash/inner",
        "d/a//b",
        "d/ok",
        "d/..",
        "d/.",
        &format!("d/{}", "x".repeat(300)),
    ] {
        store.put("b1", key, "e", Bytes::from_static(b"1"));
    }
    let fs = fs_over(store.clone(), &[("b1", None)]);
    let d = walk(&fs, "b1/d").await.unwrap();
    assert_eq!(
        names(&fs, d.ino).await,
        vec!["a", "clash", "ok"],
        "entries of d/"
    );
    let clash = walk(&fs, "b1/d/clash").await.unwrap();
    assert_eq!(
        clash.kind,
        Kind::Dir,
        "directory must win over the file of the same name"
    );
    let a = walk(&fs, "b1/d/a").await.unwrap();
    assert_eq!(
        names(&fs, a.ino).await,
        Vec::<String>::new(),
        "a//b has an empty component: skipped"
    );
}

#[tokio::test]
async fn listing_follows_pages_and_needs_no_head() {
    let mut store = MemoryStore::new();
    store.page_size = 100;
    let store = Arc::new(store);
    for i in 0..1050 {
        store.put(
            "b1",
            &format!("many/f{i:05}.asdf"),
            "e",
            Bytes::from(vec![0u8; i % 7]),
        );
    }
    let fs = fs_over(store.clone(), &[("b1", None)]);
    let bucket = fs.lookup(ROOT_INO, OsStr::new("b1")).await.unwrap();
    names(&fs, bucket.ino).await;
    let many = fs.lookup(bucket.ino, OsStr::new("many")).await.unwrap();
    let lists_before = store.list_count.load(Ordering::SeqCst);
    let fh = fs.opendir(many.ino).await.unwrap().fh;
    let entries = fs.dir_entries(fh).unwrap();
    assert_eq!(entries.len() - 2, 1050, "entries listed");
    assert_eq!(entries[2 + 13].attr.size, 13 % 7, "size from the listing");
    assert_eq!(
        store.list_count.load(Ordering::SeqCst) - lists_before,
        11,
        "LIST pages for 1050 keys at 100 a page"
    );
    assert_eq!(
        store.head_count.load(Ordering::SeqCst),
        0,
        "no HEAD per entry"
    );
}

#[tokio::test]
async fn prefix_mounts_show_only_their_part_at_full_path() {
    let store = Arc::new(MemoryStore::new());
    store.put("pub", "roman/nexus/a.asdf", "e", Bytes::from_static(b"a"));
    store.put("pub", "roman/other/b.asdf", "e", Bytes::from_static(b"b"));
    store.put("pub", "hst/public/c.fits", "e", Bytes::from_static(b"c"));
    store.put("pub", "jwst/d.fits", "e", Bytes::from_static(b"d"));
    let fs = fs_over(
        store.clone(),
        &[("pub", Some("roman/nexus/")), ("pub", Some("hst/"))],
    );
    assert_eq!(
        names(&fs, ROOT_INO).await,
        vec!["pub", ".mastfs"],
        "two prefixes share one bucket folder"
    );
    let b = walk(&fs, "pub").await.unwrap();
    assert_eq!(names(&fs, b.ino).await, vec!["hst", "roman"]);
    let r = walk(&fs, "pub/roman").await.unwrap();
    assert_eq!(names(&fs, r.ino).await, vec!["nexus"]);
    assert!(walk(&fs, "pub/roman/nexus/a.asdf").await.is_ok());
    assert_eq!(
        walk(&fs, "pub/roman/other").await.unwrap_err().errno,
        libc::ENOENT
    );
    assert_eq!(walk(&fs, "pub/jwst").await.unwrap_err().errno, libc::ENOENT);
    assert!(walk(&fs, "pub/hst/public/c.fits").await.is_ok());
}

#[tokio::test]
async fn reads_are_exact_and_missing_names_are_enoent() {
    let store = Arc::new(MemoryStore::new());
    let data: Bytes = (0..20_000u32)
        .map(|i| (i * 7 % 251) as u8)
        .collect::<Vec<_>>()
        .into();
    store.put("b1", "x/file.fits", "e1", data.clone());
    let fs = fs_over(store.clone(), &[("b1", None)]);
    let f = walk(&fs, "b1/x/file.fits").await.unwrap();
    let opened = fs.open(f.ino).await.unwrap();
    let (fh, keep) = (opened.fh, opened.keep_cache);
    assert!(keep, "first open may keep the page cache");
    for (off, len) in [(0u64, 100u32), (4000, 200), (8191, 2), (19_990, 100)] {
        let got = fs.read(fh, off, len).await.unwrap();
        let end = (off as usize + len as usize).min(data.len());
        assert!(got[..] == data[off as usize..end], "read({off}, {len})");
    }
    fs.release(fh);
    assert_eq!(fs.open_files(), 0, "handle leaked");
    let err = walk(&fs, "b1/x/nope.fits").await.unwrap_err();
    assert_eq!(err.errno, libc::ENOENT);
    let heads = store.head_count.load(Ordering::SeqCst);
    walk(&fs, "b1/x/nope.fits").await.unwrap_err();
    assert_eq!(
        store.head_count.load(Ordering::SeqCst),
        heads,
        "the x/ listing or negative cache should answer"
    );
    assert_eq!(walk(&fs, "nobucket").await.unwrap_err().errno, libc::ENOENT);
}

#[tokio::test]
async fn replaced_object_fails_open_handle_with_estale() {
    let store = Arc::new(MemoryStore::new());
    store.put("b1", "f", "e1", Bytes::from(vec![1u8; 10_000]));
    let fs = fs_over(store.clone(), &[("b1", None)]);
    let f = walk(&fs, "b1/f").await.unwrap();
    let fh = fs.open(f.ino).await.unwrap().fh;
    store.put("b1", "f", "e2", Bytes::from(vec![2u8; 10_000]));
    let err = fs.read(fh, 0, 10).await.unwrap_err();
    assert_eq!(
        err.errno,
        libc::ESTALE,
        "read of a replaced object through an old handle: {err}"
    );
}

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
    let trees = Arc::new(BucketTrees::new(
        counted.clone(),
        &[BucketConfig {
            name: "b1".into(),
            prefix: None,
            signed: false,
        }],
        Duration::from_secs(60),
        Duration::from_secs(60),
    ));
    let cache = BlockCache::new(counted.clone(), 4096, 1 << 20);
    let fs = Fs::new(FsOptions::default(), trees, None, cache, Default::default());
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
    let store = Arc::new(MemoryStore::new());
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
    // hst: LIST hst/ with HEAD hst (hst/'s listing answers public); jbev: the same one
    // level down (answers jbeveo010); jbeveo010_drz.fits: one LIST of that prefix.
    assert_eq!(
        traffic(&store, &counted),
        (3, 2, 3),
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
        (1, 1, 1),
        "README: HEAD and LIST together, one round trip"
    );

    for name in ["nope.fits", "nope"] {
        let err = fs.lookup(d.ino, OsStr::new(name)).await.unwrap_err();
        assert_eq!(err.errno, libc::ENOENT, "{name}: missing");
        let first = traffic(&store, &counted);
        assert_eq!(first.0, 1, "{name}: one round trip to find it missing");
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
