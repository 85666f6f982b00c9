//! Opens: backing files from the disk cache, object versions and the page cache.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;

use super::*;

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
