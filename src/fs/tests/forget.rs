//! The inode lifecycle: FORGET, the root, directory snapshots, replaced names.

use std::ffi::OsStr;
use std::sync::Arc;

use bytes::Bytes;

use super::*;

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
