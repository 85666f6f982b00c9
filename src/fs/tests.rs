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
    Fs::new(
        FsOptions::default(),
        Namespace::new(trees, None),
        cache,
        Default::default(),
    )
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

/// The tree of bucket `b1` (whole bucket, 60 s TTLs) over `store`.
fn bucket_b1(store: Arc<dyn crate::store::ObjectStore>) -> Arc<BucketTrees> {
    Arc::new(BucketTrees::new(
        store,
        &[BucketConfig {
            name: "b1".into(),
            prefix: None,
            signed: false,
        }],
        Duration::from_secs(60),
        Duration::from_secs(60),
    ))
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
    // hst: LIST hst/ (its listing answers public); jbev: the same one level down
    // (answers jbeveo010); jbeveo010_drz.fits: one LIST of that prefix. No HEAD.
    assert_eq!(
        traffic(&store, &counted),
        (3, 0, 3),
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
        (2, 1, 1),
        "README: an empty LIST of README/, then a HEAD: two round trips"
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

/// The kernel's reference count on `ino` as the table has it; None once it left the table.
fn lookups(fs: &Fs, ino: u64) -> Option<u64> {
    fs.inodes.lock().get(ino).map(|n| n.lookups)
}

#[tokio::test]
async fn forget_removes_an_inode_once_every_lookup_is_given_back() {
    let store = Arc::new(MemoryStore::new());
    store.put("pub", "d/f.fits", "e1", Bytes::from_static(b"0123456789"));
    let fs = fs_over(store.clone(), &[("pub", None)]);
    let d = walk(&fs, "pub/d").await.unwrap();
    let before = fs.inode_count();
    let first = fs.lookup(d.ino, OsStr::new("f.fits")).await.unwrap();
    let again = fs.lookup(d.ino, OsStr::new("f.fits")).await.unwrap();
    assert_eq!(
        again.ino, first.ino,
        "a name looked up twice keeps its number"
    );
    assert_eq!(
        lookups(&fs, first.ino),
        Some(2),
        "two lookups, two references"
    );
    assert_eq!(fs.inode_count(), before + 1, "one new inode for the file");

    fs.forget(first.ino, 1);
    assert_eq!(
        lookups(&fs, first.ino),
        Some(1),
        "one reference left after forget 1"
    );
    assert_eq!(
        fs.getattr(first.ino).await.unwrap(),
        first,
        "still answered"
    );

    fs.forget(first.ino, 1);
    assert_eq!(lookups(&fs, first.ino), None, "gone after the last forget");
    assert_eq!(
        fs.inode_count(),
        before,
        "table back to its size before the lookups"
    );
    assert_eq!(
        fs.getattr(first.ino).await.unwrap_err().errno,
        libc::ENOENT,
        "a forgotten inode is unknown"
    );
    assert!(
        !fs.known_entries()
            .iter()
            .any(|(_, _, ino)| *ino == first.ino),
        "a forgotten inode's name is no longer among the known entries"
    );

    let fresh = fs.lookup(d.ino, OsStr::new("f.fits")).await.unwrap();
    assert_ne!(fresh.ino, first.ino, "numbers are never reused");
    assert_eq!(
        Attr {
            ino: first.ino,
            ..fresh.clone()
        },
        first,
        "the fresh inode has the same attributes (ino aside)"
    );
    let opened = fs.open(fresh.ino).await.unwrap();
    assert_eq!(
        &fs.read(opened.fh, 0, 100).await.unwrap()[..],
        b"0123456789"
    );
    fs.release(opened.fh);
}

#[tokio::test]
async fn the_root_is_never_forgotten_and_unknown_forgets_are_harmless() {
    let store = Arc::new(MemoryStore::new());
    store.put("pub", "a.txt", "e", Bytes::from_static(b"a"));
    let fs = fs_over(store.clone(), &[("pub", None)]);
    let before = fs.inode_count();
    fs.forget(ROOT_INO, 1000);
    fs.forget(999_999, 3);
    assert_eq!(
        fs.inode_count(),
        before,
        "the root stays; unknown inodes change nothing"
    );
    assert_eq!(fs.getattr(ROOT_INO).await.unwrap().kind, Kind::Dir);
    assert!(
        walk(&fs, "pub/a.txt").await.is_ok(),
        "walk from the root still works"
    );
}

#[tokio::test]
async fn directory_snapshots_hold_their_entries_until_released() {
    let store = Arc::new(MemoryStore::new());
    for i in 0..50 {
        store.put(
            "pub",
            &format!("many/f{i:02}"),
            "e",
            Bytes::from(vec![b'x'; i]),
        );
    }
    let fs = fs_over(store.clone(), &[("pub", None)]);
    let many = walk(&fs, "pub/many").await.unwrap();
    let base = fs.inode_count();

    // An opendir that is released without READDIRPLUS handing anything out leaves nothing.
    names(&fs, many.ino).await;
    assert_eq!(
        fs.inode_count(),
        base,
        "entries never handed out are dropped on release"
    );

    // As `ls -l` does it: every entry but `.` and `..` goes out in a READDIRPLUS reply.
    let fh = fs.opendir(many.ino).await.unwrap().fh;
    let entries = fs.dir_entries(fh).unwrap();
    for e in entries.iter() {
        fs.note_plus_entry(e);
    }
    assert_eq!(lookups(&fs, many.ino), Some(1), "`.` is not counted");
    let first = entries[2].attr.clone();
    // The kernel may forget an entry while the directory is still open: the snapshot
    // keeps it, because a later READDIRPLUS of the same handle may hand it out again.
    fs.forget(first.ino, 1);
    assert_eq!(
        lookups(&fs, first.ino),
        Some(0),
        "held by the snapshot only"
    );
    fs.releasedir(fh);
    assert_eq!(
        lookups(&fs, first.ino),
        None,
        "released and unreferenced: gone"
    );
    assert_eq!(
        fs.inode_count(),
        base + 49,
        "the 49 entries the kernel holds"
    );
    for e in entries.iter().skip(3) {
        assert_eq!(lookups(&fs, e.attr.ino), Some(1), "{:?}", e.name);
        fs.forget(e.attr.ino, 1);
    }
    assert_eq!(fs.inode_count(), base, "all forgotten: back to the start");

    // Listed again, the names get fresh numbers and the right sizes.
    let fh = fs.opendir(many.ino).await.unwrap().fh;
    let again = fs.dir_entries(fh).unwrap();
    for (old, new) in entries.iter().zip(again.iter()).skip(2) {
        assert_eq!(old.name, new.name);
        assert!(new.attr.ino > old.attr.ino, "{:?}: fresh number", new.name);
        assert_eq!(new.attr.size, old.attr.size, "{:?}: size", new.name);
    }
    fs.releasedir(fh);
}

#[test]
fn forgetting_a_replaced_inode_keeps_the_name_of_its_successor() {
    let mut table = InodeTable::new();
    let meta = ObjectMeta {
        key: "x".into(),
        size: 1,
        etag: "e".into(),
        last_modified: SystemTime::UNIX_EPOCH,
    };
    let file = NodeKind::File {
        bucket: "b".into(),
        key: "x".into(),
        meta,
        checked: Instant::now(),
        origin: None,
    };
    let dir = NodeKind::Dir(Dir::Bucket {
        bucket: "b".into(),
        prefix: "x/".into(),
    });
    let old = table.looked_up(ROOT_INO, OsStr::new("x"), file);
    let new = table.looked_up(ROOT_INO, OsStr::new("x"), dir.clone());
    assert_ne!(old, new, "file turned folder: a new number");
    assert!(table.forget(old, 1));
    assert!(table.get(old).is_none(), "the old inode is gone");
    assert_eq!(
        table.child(ROOT_INO, OsStr::new("x"), dir),
        new,
        "the name still means the folder"
    );
}

/// A core over `store` with a disk cache in `dir` (blocks of 4 KiB).
fn fs_with_disk(store: Arc<MemoryStore>, dir: &std::path::Path) -> Fs {
    fs_with_disk_opts(store, dir, FsOptions::default())
}

fn fs_with_disk_opts(store: Arc<MemoryStore>, dir: &std::path::Path, opts: FsOptions) -> Fs {
    let trees = bucket_b1(store.clone());
    let disk = Arc::new(crate::cache::DiskCache::open(dir, 1 << 20).unwrap());
    let cache = BlockCache::with_disk(store, 4096, 1 << 20, Some(disk));
    Fs::new(opts, Namespace::new(trees, None), cache, Default::default())
}

fn fs_with_ttl(store: Arc<dyn crate::store::ObjectStore>, ttl: Duration) -> Fs {
    let trees = Arc::new(BucketTrees::new(
        store.clone(),
        &[BucketConfig {
            name: "b1".into(),
            prefix: None,
            signed: false,
        }],
        ttl,
        ttl,
    ));
    let cache = BlockCache::new(store, 4096, 1 << 20);
    let opts = FsOptions {
        metadata_ttl: ttl,
        ..FsOptions::default()
    };
    Fs::new(opts, Namespace::new(trees, None), cache, Default::default())
}

#[tokio::test]
async fn a_backing_file_is_given_only_for_an_object_wholly_on_disk() {
    let store = Arc::new(MemoryStore::new());
    let data: Bytes = (0..5 * 4096 + 99u32)
        .map(|i| (i * 13 % 253) as u8)
        .collect::<Vec<_>>()
        .into();
    store.put("b1", "x/drz.fits", "e1", data.clone());
    let dir = tempfile::tempdir().unwrap();
    let fs = fs_with_disk(store.clone(), dir.path());
    let f = walk(&fs, "b1/x/drz.fits").await.unwrap();

    // Only the head read: the rest is not on disk.
    let opened = fs.open_with(f.ino, true).await.unwrap();
    assert!(
        opened.backing.is_none(),
        "nothing on disk yet, got a backing file"
    );
    fs.read(opened.fh, 0, 100).await.unwrap();
    fs.release(opened.fh);
    assert!(fs.cache().flush_disk(Duration::from_secs(5)).await);
    let opened = fs.open_with(f.ino, true).await.unwrap();
    assert!(
        opened.backing.is_none(),
        "only the head is on disk, got a backing file"
    );

    // Read whole: the next open gets a file with exactly the object's bytes.
    let whole = fs.read(opened.fh, 0, data.len() as u32).await.unwrap();
    assert!(whole == data, "read through the core");
    fs.release(opened.fh);
    assert!(fs.cache().flush_disk(Duration::from_secs(5)).await);
    // A new mount: nothing in memory.
    let fs = fs_with_disk(store.clone(), dir.path());
    let f = walk(&fs, "b1/x/drz.fits").await.unwrap();
    let mut opened = fs.open_with(f.ino, true).await.unwrap();
    let mut backing = opened
        .backing
        .take()
        .expect("wholly on disk: a backing file");
    let mut got = Vec::new();
    std::io::Read::read_to_end(&mut backing, &mut got).unwrap();
    assert!(got == data, "backing file bytes differ from the object");
    assert_eq!(
        opened.object.as_ref().map(|o| o.etag.to_string()),
        Some("e1".to_string())
    );
    fs.release(opened.fh);

    // Without asking, no file is looked for.
    let opened = fs.open(f.ino).await.unwrap();
    assert!(opened.backing.is_none(), "open() gave a backing file");
    fs.release(opened.fh);
}

#[tokio::test]
async fn a_large_object_gets_its_backing_file_built_for_the_next_open() {
    let store = Arc::new(MemoryStore::new());
    let data = Bytes::from(vec![7u8; 3 * 4096 + 5]);
    store.put("b1", "big.fits", "e1", data.clone());
    let dir = tempfile::tempdir().unwrap();
    let fs = fs_with_disk(store.clone(), dir.path());
    let f = walk(&fs, "b1/big.fits").await.unwrap();
    let fh = fs.open(f.ino).await.unwrap().fh;
    fs.read(fh, 0, data.len() as u32).await.unwrap();
    fs.release(fh);
    assert!(fs.cache().flush_disk(Duration::from_secs(5)).await);

    // Larger than what an open builds and waits for.
    let opts = FsOptions {
        build_at_open_max: 4096,
        ..FsOptions::default()
    };
    let fs = fs_with_disk_opts(store, dir.path(), opts);
    let f = walk(&fs, "b1/big.fits").await.unwrap();
    let opened = fs.open_with(f.ino, true).await.unwrap();
    assert!(
        opened.backing.is_none(),
        "the open waited for a build above build_at_open_max"
    );
    fs.release(opened.fh);
    let disk = fs.cache().disk().unwrap().clone();
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while disk.counters.whole_built.load(Ordering::Relaxed) == 0 {
        assert!(
            std::time::Instant::now() < deadline,
            "no whole-object file was built in the background"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let opened = fs.open_with(f.ino, true).await.unwrap();
    assert!(
        opened.backing.is_some(),
        "the next open did not get the file built in the background"
    );
    fs.release(opened.fh);
}

#[tokio::test]
async fn a_replaced_object_never_shares_an_inode_with_an_open_old_version() {
    let store = Arc::new(MemoryStore::new());
    store.put("b1", "f", "e1", Bytes::from(vec![1u8; 10_000]));
    let fs = fs_with_ttl(store.clone(), Duration::ZERO);
    let old = walk(&fs, "b1/f").await.unwrap();
    let old_fh = fs.open(old.ino).await.unwrap().fh;
    store.put("b1", "f", "e2", Bytes::from(vec![2u8; 10_000]));

    // The open revalidates (TTL 0) and finds e2 while the e1 handle is open.
    let err = fs.open(old.ino).await.unwrap_err();
    assert_eq!(
        err.errno,
        libc::ESTALE,
        "open of the old inode after the replacement: expected ESTALE, got {err}"
    );
    let new = walk(&fs, "b1/f").await.unwrap();
    assert_ne!(
        new.ino, old.ino,
        "the new version must get an inode of its own while the old one is open"
    );
    let opened = fs.open(new.ino).await.unwrap();
    let data = fs.read(opened.fh, 0, 10).await.unwrap();
    assert_eq!(&data[..], &[2u8; 10][..], "bytes through the new inode");

    // Once the old handle is closed, the new inode drops pages from other versions.
    fs.release(old_fh);
    fs.release(opened.fh);
    store.put("b1", "f", "e3", Bytes::from(vec![3u8; 10_000]));
    let third = fs.open(new.ino).await.unwrap();
    assert!(
        !third.keep_cache,
        "a new version with no old handle open must drop the cached pages"
    );
}

#[tokio::test]
async fn a_listing_with_a_new_version_gives_a_new_inode_while_the_old_is_open() {
    let store = Arc::new(MemoryStore::new());
    store.put("b1", "d/f", "e1", Bytes::from(vec![1u8; 100]));
    let fs = fs_with_ttl(store.clone(), Duration::ZERO);
    let old = walk(&fs, "b1/d/f").await.unwrap();
    let fh = fs.open(old.ino).await.unwrap().fh;
    store.put("b1", "d/f", "e2", Bytes::from(vec![2u8; 100]));
    let d = walk(&fs, "b1/d").await.unwrap();
    let fresh = names(&fs, d.ino).await;
    assert_eq!(fresh, vec!["f"], "entries of d/");
    let new = walk(&fs, "b1/d/f").await.unwrap();
    assert_ne!(
        new.ino, old.ino,
        "the listing showed a new ETag while the old version is open: new inode expected"
    );
    fs.release(fh);
}

#[tokio::test]
async fn pages_of_an_object_without_an_etag_are_never_kept_across_opens() {
    use crate::store::failing::{FailingStore, Fault};
    let memory = Arc::new(MemoryStore::new());
    memory.put("b1", "f", "e1", Bytes::from(vec![1u8; 100]));
    let store = Arc::new(FailingStore::new(memory));
    store.add(Fault::NoEtag);
    let fs = fs_with_ttl(store, Duration::from_secs(60));
    let f = walk(&fs, "b1/f").await.unwrap();
    for n in 1..=2 {
        let opened = fs.open(f.ino).await.unwrap();
        assert!(
            !opened.keep_cache,
            "open {n} of an object without an ETag kept the kernel's pages"
        );
        fs.release(opened.fh);
    }
}
