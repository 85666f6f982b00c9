//! Unit tests of the bucket trees: listings, lookups, the subtree page and the metadata
//! budget, over the in-memory store.

use super::*;
use crate::store::failing::{FailingStore, Fault};
use crate::store::memory::MemoryStore;
use crate::store::ObjectMeta;
use bytes::Bytes;

fn trees_over(store: Arc<FailingStore>) -> BucketTrees {
    let buckets = [BucketConfig {
        name: "b1".into(),
        prefix: None,
        signed: false,
    }];
    let ttl = Duration::from_secs(60);
    BucketTrees::new(store, &buckets, ttl, ttl)
}

fn store_with(keys: &[&str]) -> Arc<FailingStore> {
    let memory = Arc::new(MemoryStore::new());
    for key in keys {
        memory.put("b1", key, "e", Bytes::from_static(b"x"));
    }
    Arc::new(FailingStore::new(memory))
}

/// A tree over a memory store with `keys` and list pages of `page_size`; the store is
/// returned to count its requests.
fn tree_with_pages(keys: &[&str], page_size: usize) -> (BucketTrees, Arc<MemoryStore>) {
    let memory = Arc::new(MemoryStore {
        page_size,
        ..MemoryStore::new()
    });
    for key in keys {
        memory.put("b1", key, "e", Bytes::from_static(b"x"));
    }
    let trees = trees_over(Arc::new(FailingStore::new(memory.clone())));
    (trees, memory)
}

fn lists(memory: &MemoryStore) -> u64 {
    memory.list_count.load(Ordering::SeqCst)
}

#[tokio::test]
async fn a_folder_lookup_learns_the_folders_below_it_from_one_subtree_page() {
    let keys = [
        "hst/public/jbev/jbeveo010/jbeveo010_drz.fits",
        "hst/public/jbev/jbeveo010/jbeveo010_drc.fits",
        "hst/public/jbev/jbevet010/jbevet010_drz.fits",
        "hst/public/jbev/readme",
    ];
    let (trees, memory) = tree_with_pages(&keys, 1000);
    let found = trees.lookup("b1", "hst/public/", "jbev").await;
    assert!(matches!(found, Ok(Some(Child::Dir))), "jbev: got {found:?}");
    assert_eq!(lists(&memory), 2, "the folder's LIST and its subtree LIST");
    let visit = trees.lookup("b1", "hst/public/jbev/", "jbeveo010").await;
    assert!(
        matches!(visit, Ok(Some(Child::Dir))),
        "jbeveo010: got {visit:?}"
    );
    let file = trees
        .lookup("b1", "hst/public/jbev/jbeveo010/", "jbeveo010_drz.fits")
        .await;
    match file {
        Ok(Some(Child::File(meta))) => {
            assert_eq!(meta.key, keys[0], "the file's key");
            assert_eq!(meta.size, 1, "the file's size");
        }
        other => panic!("jbeveo010_drz.fits: expected a file, got {other:?}"),
    }
    let listing = trees.list("b1", "hst/public/jbev/jbeveo010/").await;
    let names: Vec<String> = match listing {
        Ok(l) => l.children.keys().cloned().collect(),
        Err(e) => panic!("listing of the visit failed: {e}"),
    };
    assert_eq!(
        names,
        ["jbeveo010_drc.fits", "jbeveo010_drz.fits"],
        "the visit's files"
    );
    assert_eq!(
        lists(&memory),
        2,
        "the walk below jbev and the visit's listing came from the subtree page"
    );
    assert_eq!(memory.head_count.load(Ordering::SeqCst), 0, "HEAD requests");
}

#[tokio::test]
async fn a_truncated_subtree_page_keeps_only_the_folders_it_shows_whole() {
    // A page of 3 keys ends inside b/: a/ is whole, b/ may go on.
    let keys = ["t/a/1", "t/a/2", "t/b/1", "t/b/2", "t/c/1"];
    let (trees, memory) = tree_with_pages(&keys, 3);
    let found = trees.lookup("b1", "", "t").await;
    assert!(matches!(found, Ok(Some(Child::Dir))), "t: got {found:?}");
    let before = lists(&memory);
    let a = trees.list("b1", "t/a/").await.map(|l| l.children.len());
    assert_eq!(a.ok(), Some(2), "t/a/ from the subtree page");
    assert_eq!(lists(&memory), before, "t/a/ needed no request");
    let b = trees.list("b1", "t/b/").await.map(|l| l.children.len());
    assert_eq!(b.ok(), Some(2), "t/b/ listed by its own request");
    assert_eq!(
        lists(&memory),
        before + 1,
        "t/b/ (cut by the page) was listed"
    );
}

#[tokio::test]
async fn a_listing_that_repeats_its_continuation_token_stops_with_an_error() {
    let store = store_with(&["d/a", "d/b"]);
    store.add(Fault::RepeatToken("same".into()));
    let trees = trees_over(store.clone());
    let listed = tokio::time::timeout(Duration::from_secs(5), trees.list("b1", "d/")).await;
    let err = match listed {
        Err(_) => panic!("listing with a repeating token still running after 5 s"),
        Ok(Ok(l)) => panic!("listing with a repeating token succeeded: {l:?}"),
        Ok(Err(e)) => e,
    };
    assert!(
        err.to_string().contains("repeated"),
        "the error should say the token repeated: {err}"
    );
    let probed =
        tokio::time::timeout(Duration::from_secs(5), trees.lookup("b1", "d/", "z.fits")).await;
    assert!(
        matches!(probed, Ok(Err(_))),
        "a lookup whose listing repeats its token: expected an error, got {probed:?}"
    );
}

#[tokio::test]
async fn metadata_caches_stay_within_their_byte_budget() {
    let keys: Vec<String> = (0..2000)
        .flat_map(|d| (0..5).map(move |f| format!("dir{d:04}/file{f}.fits")))
        .collect();
    let keys: Vec<&str> = keys.iter().map(String::as_str).collect();
    let store = store_with(&keys);
    let budget = 256 << 10;
    let trees = trees_over(store.clone()).with_metadata_budget(budget);
    for d in 0..2000 {
        trees
            .list("b1", &format!("dir{d:04}/"))
            .await
            .expect("listing");
        // Names that are not there: one negative entry each.
        let _ = trees.lookup("b1", "", &format!("missing{d}")).await;
    }
    let held = trees.metadata_bytes();
    assert!(
        held <= budget,
        "metadata caches hold {held} bytes after 2000 folders, budget {budget}"
    );
    let lists = store
        .inner
        .list_count
        .load(std::sync::atomic::Ordering::SeqCst);
    trees.list("b1", "dir0000/").await.expect("listing");
    let again = store
        .inner
        .list_count
        .load(std::sync::atomic::Ordering::SeqCst);
    assert_eq!(
        again,
        lists + 1,
        "the least recently used listing should have been dropped and asked for again"
    );
    trees.list("b1", "dir1999/").await.expect("listing");
    assert_eq!(
        store
            .inner
            .list_count
            .load(std::sync::atomic::Ordering::SeqCst),
        again,
        "the most recently used listing should still be cached"
    );
}

#[tokio::test]
async fn keys_outside_the_listed_prefix_are_skipped() {
    let store = store_with(&["ab/ok.fits"]);
    let stray = |key: &str| ObjectMeta {
        key: key.into(),
        size: 1,
        etag: "e".into(),
        last_modified: std::time::UNIX_EPOCH,
    };
    // "éé": byte 3 falls inside a character; "zz/x" is outside "ab/".
    store.add(Fault::ExtraObjects(vec![
        stray("éé"),
        stray("zz/x"),
        stray("a"),
        stray("ab/.."),
        stray("ab/a\0b"),
    ]));
    let trees = trees_over(store);
    let listing = trees.list("b1", "ab/").await.expect("listing");
    let names: Vec<&String> = listing.children.keys().collect();
    assert_eq!(names, vec!["ok.fits"], "entries of ab/");
    assert_eq!(
        trees.unsafe_names(),
        2,
        "keys under the prefix that cannot be file names are counted"
    );
}

#[tokio::test]
async fn priming_lists_each_top_folder_once_for_its_first_readdir() {
    let (trees, memory) = tree_with_pages(&["hst/a.fits", "jwst/b.fits", "readme"], 1000);
    let failures = trees.prime().await;
    assert!(failures.is_empty(), "priming failed: {failures:?}");
    assert_eq!(lists(&memory), 1, "one LIST of the bucket's top folder");
    let listing = trees.list("b1", "").await.expect("list the top folder");
    let names: Vec<&str> = listing.children.keys().map(String::as_str).collect();
    assert_eq!(names, ["hst", "jwst", "readme"], "the top folder's names");
    assert_eq!(
        lists(&memory),
        1,
        "the first readdir goes on from the primed page"
    );
    assert!(trees.prime().await.is_empty(), "second priming failed");
    assert_eq!(
        lists(&memory),
        1,
        "priming a folder whose listing is known: no request"
    );
}

#[tokio::test]
async fn a_name_created_after_priming_is_found() {
    let memory = Arc::new(MemoryStore::new());
    memory.put("b1", "hst/a.fits", "e", Bytes::from_static(b"x"));
    let trees = trees_over(Arc::new(FailingStore::new(memory.clone())));
    assert!(trees.prime().await.is_empty(), "priming failed");
    memory.put("b1", "round0/f.fits", "e", Bytes::from_static(b"x"));
    let found = trees.lookup("b1", "", "round0").await;
    assert!(
        matches!(found, Ok(Some(Child::Dir))),
        "a top-level folder made after the mount: got {found:?}"
    );
}

#[tokio::test]
async fn priming_takes_one_page_of_a_long_top_folder_and_listing_goes_on_from_it() {
    let keys: Vec<String> = (0..25).map(|i| format!("k{i:02}")).collect();
    let refs: Vec<&str> = keys.iter().map(String::as_str).collect();
    let (trees, memory) = tree_with_pages(&refs, 10);
    assert!(trees.prime().await.is_empty(), "priming failed");
    assert_eq!(
        lists(&memory),
        1,
        "priming asks for one page, not the whole folder"
    );
    let listing = trees.list("b1", "").await.expect("list the top folder");
    assert_eq!(listing.children.len(), 25, "names in the top folder");
    assert_eq!(
        lists(&memory),
        3,
        "the listing goes on from the primed page: pages 2 and 3 only"
    );
}

#[tokio::test]
async fn priming_a_bucket_mounted_with_prefixes_lists_the_prefixes() {
    let memory = Arc::new(MemoryStore::new());
    for key in ["hst/public/a.fits", "jwst/public/b.fits", "tess/c.fits"] {
        memory.put("b1", key, "e", Bytes::from_static(b"x"));
    }
    let buckets = [
        BucketConfig {
            name: "b1".into(),
            prefix: Some("hst/public/".into()),
            signed: false,
        },
        BucketConfig {
            name: "b1".into(),
            prefix: Some("jwst/public/".into()),
            signed: false,
        },
    ];
    let ttl = Duration::from_secs(60);
    let store = Arc::new(FailingStore::new(memory.clone()));
    let trees = BucketTrees::new(store, &buckets, ttl, ttl);
    assert!(trees.prime().await.is_empty(), "priming failed");
    assert_eq!(lists(&memory), 2, "one LIST per allowed prefix");
    let listing = trees
        .list("b1", "hst/public/")
        .await
        .expect("list hst/public/");
    assert!(
        listing.children.contains_key("a.fits"),
        "a.fits in {:?}",
        listing.children.keys()
    );
    assert_eq!(
        lists(&memory),
        2,
        "the readdir of a primed prefix: no request"
    );
}

#[tokio::test]
async fn a_failed_priming_is_returned_and_the_next_lookup_asks_again() {
    let store = store_with(&["hst/a.fits"]);
    store.add(Fault::Error {
        op: crate::store::failing::Op::List,
        kind: StoreErrorKind::Unavailable,
        times: 1,
    });
    let trees = trees_over(store);
    let failures = trees.prime().await;
    assert_eq!(failures.len(), 1, "the failed priming: {failures:?}");
    assert!(
        failures[0].to_string().contains("s3://b1/"),
        "the error names the bucket: {}",
        failures[0]
    );
    let hst = trees.lookup("b1", "", "hst").await;
    assert!(
        matches!(hst, Ok(Some(Child::Dir))),
        "hst after the failure: got {hst:?}"
    );
}
