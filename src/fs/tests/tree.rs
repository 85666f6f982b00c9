//! The bucket tree as the core shows it: folders from keys, names, prefixes, reads.

use std::ffi::OsStr;
use std::sync::atomic::Ordering;
use std::sync::Arc;

use bytes::Bytes;

use super::*;

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
