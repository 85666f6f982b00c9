//! Path walks on a mount: round trips per unlisted folder level, a later mount walking
//! what an earlier one listed (persisted metadata) without asking S3, until the TTL.

use std::fs;
use std::time::Duration;

use super::{errno_of, server};
use crate::support::*;

#[test]
fn fresh_path_walk_costs_one_round_trip_per_unlisted_folder_level() {
    // hst: LIST hst/ (its listing then answers public) and beside it a page of hst/'s
    // subtree, which other programs' files fill before jbev, as in stpubdata; jbev: the same
    // one level down, whose subtree page holds jbeveo010/ whole and answers the last two
    // components. Two round trips, no HEAD.
    let s3 = server();
    for i in 0..1100 {
        let program = format!("ia{i:04}");
        let key = format!("hst/public/{program}/{program}010/{program}010_drz.fits");
        s3.put_object("stpubdata", &key, vec![1]);
    }
    let key = "hst/public/jbev/jbeveo010/jbeveo010_drz.fits";
    s3.put_object("stpubdata", key, vec![7u8; 2880]);
    s3.put_object(
        "stpubdata",
        "hst/public/jbev/jbeveo010/jbeveo010_flt.fits",
        vec![1],
    );
    let m = Mount::start(&s3.endpoint_url(), &[]);
    s3.reset_stats();
    let latency = Duration::from_millis(150);
    s3.set_link(latency, None);
    let meta = fs::metadata(m.path(&format!("stpubdata/{key}"))).unwrap();
    s3.set_link(Duration::ZERO, None);
    assert_eq!(meta.len(), 2880, "size of the file at the end of the walk");
    let st = s3.stats();
    assert_eq!(
        (st.requests.head, st.requests.list),
        (0, 4),
        "(HEAD, LIST) of a walk down 5 unlisted components; log: {:?}",
        st.log
    );
    // Counted from the server's log (requests that overlap in time are one round), not
    // from the walk's duration, which a loaded machine stretches.
    assert_eq!(
        st.rounds(),
        2,
        "rounds of requests in the walk; log: {:?}",
        st.log
    );
    // The sibling and a missing name of the same folder: answered by the listing the
    // subtree page gave, no request.
    s3.reset_stats();
    fs::metadata(m.path("stpubdata/hst/public/jbev/jbeveo010/jbeveo010_flt.fits")).unwrap();
    assert_eq!(
        errno_of(fs::metadata(
            m.path("stpubdata/hst/public/jbev/jbeveo010/jbeveo010_raw.fits")
        )),
        Some(libc::ENOENT)
    );
    assert_eq!(
        errno_of(fs::metadata(
            m.path("stpubdata/hst/public/jbev/jbeveo010/jbeveo010_raw.fits")
        )),
        Some(libc::ENOENT)
    );
    let st = s3.stats();
    assert_eq!(
        (st.requests.head, st.requests.list),
        (0, 0),
        "(HEAD, LIST) of a present and a twice-missing file name; log: {:?}",
        st.log
    );
    // A file without an extension in an unlisted folder: the empty LIST of NAME/ (and of
    // its subtree) is followed by a HEAD of NAME. docs/ has a second, larger folder whose
    // keys fill its subtree page, so extra/'s listing is not learned from it.
    for i in 0..1000 {
        s3.put_object("stpubdata", &format!("docs/alpha/{i:04}.txt"), vec![1]);
    }
    s3.put_object("stpubdata", "docs/extra/NOTES", vec![5; 17]);
    s3.reset_stats();
    let notes = fs::metadata(m.path("stpubdata/docs/extra/NOTES")).unwrap();
    assert_eq!(notes.len(), 17, "size of a file without an extension");
    let st = s3.stats();
    assert_eq!(
        (st.requests.head, st.requests.list),
        (1, 4),
        "(HEAD, LIST): LIST docs/ and its subtree (answers extra), LIST NOTES/ and its \
         subtree (both empty), HEAD NOTES; log: {:?}",
        st.log
    );
}

#[test]
fn a_later_mount_walks_a_path_an_earlier_one_listed_without_asking_s3() {
    let s3 = server();
    let key = "hst/public/jbev/jbeveo010/jbeveo010_drz.fits";
    let data = pseudo_random(300_000, 3);
    s3.put_object("stpubdata", key, data.clone());
    s3.put_object(
        "stpubdata",
        "hst/public/jbev/jbeveo010/jbeveo010_flt.fits",
        vec![1],
    );
    let meta_dir = tempfile::tempdir().expect("temp dir");
    let meta_arg = meta_dir.path().to_str().expect("utf-8 temp path");
    let folder = "stpubdata/hst/public/jbev/jbeveo010";
    {
        let first = Mount::start(&s3.endpoint_url(), &["--metadata-dir", meta_arg]);
        fs::metadata(first.path(&format!("stpubdata/{key}"))).unwrap();
        assert_eq!(
            names_in(&first.path(folder)).len(),
            2,
            "first mount lists the folder"
        );
    }
    s3.reset_stats();
    let second = Mount::start(&s3.endpoint_url(), &["--metadata-dir", meta_arg]);
    // Before it appears, a mount lists the first page of each bucket's top folder (its
    // connection warm-up); the walk is counted from here.
    let st = s3.stats();
    let listed: Vec<&str> = st.log.iter().map(|r| r.key.as_str()).collect();
    assert_eq!(
        (st.requests.head, st.requests.list, listed),
        (0, 1, vec![""]),
        "(HEAD, LIST, prefixes) of the mount itself; log: {:?}",
        st.log
    );
    s3.reset_stats();
    let size = fs::metadata(second.path(&format!("stpubdata/{key}")))
        .unwrap()
        .len();
    assert_eq!(size, data.len() as u64, "size from the persisted listing");
    let names = names_in(&second.path(folder));
    let st = s3.stats();
    assert_eq!(
        (st.requests.head, st.requests.list),
        (0, 0),
        "(HEAD, LIST) of a walk and a listing an earlier mount saw; log: {:?}",
        st.log
    );
    assert_eq!(
        names,
        ["jbeveo010_drz.fits", "jbeveo010_flt.fits"],
        "names from disk"
    );
    let got = fs::read(second.path(&format!("stpubdata/{key}"))).unwrap();
    assert!(
        got == data,
        "bytes read through a persisted entry differ from the object"
    );

    // A mount of another endpoint does not see them.
    drop(second);
    let other = server();
    other.put_object("stpubdata", "elsewhere.fits", vec![2]);
    let third = Mount::start(&other.endpoint_url(), &["--metadata-dir", meta_arg]);
    assert_eq!(
        errno_of(fs::metadata(third.path(&format!("stpubdata/{key}")))),
        Some(libc::ENOENT),
        "another endpoint's mount must not find the first endpoint's file"
    );
}

#[test]
fn persisted_listings_expire_with_the_metadata_ttl() {
    let s3 = server();
    s3.put_object("stpubdata", "a/one.fits", vec![1]);
    let meta_dir = tempfile::tempdir().expect("temp dir");
    let meta_arg = meta_dir.path().to_str().expect("utf-8 temp path");
    let args = ["--metadata-dir", meta_arg, "--metadata-ttl", "1s"];
    {
        let first = Mount::start(&s3.endpoint_url(), &args);
        assert_eq!(names_in(&first.path("stpubdata/a")), ["one.fits"]);
    }
    s3.put_object("stpubdata", "a/two.fits", vec![2]);
    std::thread::sleep(Duration::from_millis(1100));
    let second = Mount::start(&s3.endpoint_url(), &args);
    assert_eq!(
        names_in(&second.path("stpubdata/a")),
        ["one.fits", "two.fits"],
        "a listing older than the TTL is fetched again"
    );
}
