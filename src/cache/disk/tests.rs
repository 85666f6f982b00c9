//! Tests of the disk cache's block files: found again after reopening, checked, bounded,
//! owner-only, and a folder holding anything else refused.

use std::path::PathBuf;
use std::time::{Duration, SystemTime};

use super::*;

fn block(index: u64) -> DiskBlock<'static> {
    DiskBlock {
        bucket: "stpubdata",
        key: "hst/public/jbev/jbeveo010/jbeveo010_drz.fits",
        etag: "\"0123abcd\"",
        block_size: 1024,
        index,
    }
}

fn bytes_of(seed: u8, len: usize) -> Vec<u8> {
    (0..len)
        .map(|i| (i as u8).wrapping_mul(31) ^ seed)
        .collect()
}

#[test]
fn a_stored_block_is_found_again_after_reopening() {
    let dir = tempfile::tempdir().unwrap();
    let data = bytes_of(7, 1024);
    {
        let cache = DiskCache::open(dir.path(), 1 << 20).unwrap();
        cache.store(&block(3), &data);
    }
    let cache = DiskCache::open(dir.path(), 1 << 20).unwrap();
    let (bytes, files) = cache.usage();
    assert_eq!(files, 1, "files indexed after reopening");
    assert!(bytes > 1024, "indexed bytes include the header: {bytes}");
    let got = cache.load(&block(3), 1024).expect("block 3 after reopen");
    assert_eq!(got.as_ref(), data.as_slice(), "block bytes differ");
    assert!(
        cache.load(&block(4), 1024).is_none(),
        "block 4 was never stored"
    );
}

#[test]
fn another_etag_or_block_size_is_a_miss() {
    let dir = tempfile::tempdir().unwrap();
    let cache = DiskCache::open(dir.path(), 1 << 20).unwrap();
    cache.store(&block(0), &bytes_of(1, 1024));
    let other_version = DiskBlock {
        etag: "\"ffff\"",
        ..block(0)
    };
    assert!(cache.load(&other_version, 1024).is_none());
    let other_size = DiskBlock {
        block_size: 2048,
        ..block(0)
    };
    assert!(cache.load(&other_size, 1024).is_none());
    assert!(cache.load(&block(0), 1024).is_some());
}

#[test]
fn blocks_of_objects_without_an_etag_are_never_kept() {
    let dir = tempfile::tempdir().unwrap();
    let cache = DiskCache::open(dir.path(), 1 << 20).unwrap();
    let unversioned = DiskBlock {
        etag: "",
        ..block(0)
    };
    cache.store(&unversioned, &bytes_of(1, 1024));
    assert_eq!(cache.usage().1, 0, "a block without an ETag was written");
    assert!(
        cache.load(&unversioned, 1024).is_none(),
        "a block without an ETag was served"
    );
}

#[test]
fn damaged_or_short_files_are_rejected_and_removed() {
    let dir = tempfile::tempdir().unwrap();
    let cache = DiskCache::open(dir.path(), 1 << 20).unwrap();
    cache.store(&block(0), &bytes_of(2, 1024));
    let path = dir.path().join(block(0).relative_path());
    let mut raw = fs::read(&path).unwrap();
    let last = raw.len() - 1;
    raw[last] ^= 0xff;
    fs::write(&path, &raw).unwrap();
    assert!(
        cache.load(&block(0), 1024).is_none(),
        "a flipped byte was served"
    );
    assert!(!path.exists(), "the damaged file was kept");
    assert_eq!(cache.counters.rejected.load(Ordering::Relaxed), 1);

    cache.store(&block(1), &bytes_of(3, 1024));
    assert!(
        cache.load(&block(1), 2048).is_none(),
        "a block shorter than the object says was served"
    );
}

#[test]
fn the_size_bound_evicts_least_recently_used_files() {
    let dir = tempfile::tempdir().unwrap();
    // Room for three blocks with their headers, not four.
    let cache = DiskCache::open(dir.path(), 3 * 1200).unwrap();
    for i in 0..3 {
        cache.store(&block(i), &bytes_of(i as u8, 1024));
    }
    assert!(
        cache.load(&block(0), 1024).is_some(),
        "block 0 before eviction"
    );
    cache.store(&block(3), &bytes_of(3, 1024));
    let (bytes, files) = cache.usage();
    assert_eq!(files, 3, "files after storing a fourth block");
    assert!(bytes <= 3 * 1200, "usage {bytes} above the bound");
    assert!(
        cache.load(&block(1), 1024).is_none(),
        "block 1 was least recently used and should be gone"
    );
    assert!(
        cache.load(&block(0), 1024).is_some(),
        "block 0 was used last"
    );
}

#[test]
fn the_folder_and_files_are_owner_only() {
    let dir = tempfile::tempdir().unwrap();
    let folder = dir.path().join("blocks");
    fs::create_dir(&folder).unwrap();
    fs::set_permissions(&folder, fs::Permissions::from_mode(0o755)).unwrap();
    let cache = DiskCache::open(&folder, 1 << 20).unwrap();
    cache.store(&block(0), &bytes_of(0, 1024));
    let mode = |p: &Path| fs::metadata(p).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(&folder), 0o700, "cache folder mode");
    let file = folder.join(block(0).relative_path());
    assert_eq!(mode(&file), 0o600, "block file mode");
}

fn age(path: &Path, by: Duration) {
    File::options()
        .write(true)
        .open(path)
        .unwrap()
        .set_modified(SystemTime::now() - by)
        .unwrap();
}

#[test]
fn a_folder_holding_other_files_is_refused_and_left_alone() {
    let two_hours = Duration::from_secs(2 * 3600);
    let block_name = block(0).relative_path();
    let fan = block_name.parent().unwrap().to_path_buf();
    for (what, foreign) in [
        ("a file at the top", PathBuf::from("notes.txt")),
        (
            "a file in a two-character folder",
            PathBuf::from("ab/thesis.tex"),
        ),
        ("an old *.tmp* file", PathBuf::from("ab/data.tmp.fits")),
        ("a block-named file without the header", block_name.clone()),
        ("a folder at the top", PathBuf::from("photos/x.jpg")),
    ] {
        // A foreign folder is named itself, not what it holds.
        let named = if foreign.starts_with("photos") {
            PathBuf::from("photos")
        } else {
            foreign.clone()
        };
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(&foreign);
        fs::create_dir_all(path.parent().unwrap()).unwrap();
        fs::write(&path, b"the user's own bytes").unwrap();
        age(&path, two_hours);
        fs::create_dir_all(dir.path().join(&fan)).unwrap();
        let opened = DiskCache::open(dir.path(), 16);
        let err = match opened {
            Ok(_) => panic!(
                "{what}: a cache folder holding {} was accepted",
                foreign.display()
            ),
            Err(e) => e.to_string(),
        };
        assert!(
            err.contains(&format!("holds {},", named.display())) && err.contains("--cache-dir"),
            "{what}: the refusal should name the file and say what to do: {err}"
        );
        assert_eq!(
            fs::read(&path).unwrap(),
            b"the user's own bytes",
            "{what}: the file was touched"
        );
    }
}

#[test]
fn an_existing_folder_open_to_others_is_refused_not_chmodded() {
    let dir = tempfile::tempdir().unwrap();
    let folder = dir.path().join("shared");
    {
        let cache = DiskCache::open(&folder, 1 << 20).unwrap();
        cache.store(&block(0), &bytes_of(0, 1024));
    }
    fs::set_permissions(&folder, fs::Permissions::from_mode(0o775)).unwrap();
    let err = DiskCache::open(&folder, 1 << 20)
        .map(|_| "accepted".to_string())
        .unwrap_or_else(|e| e.to_string());
    assert!(err.contains("chmod 700"), "refusal says what to do: {err}");
    let mode = fs::metadata(&folder).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o775, "the folder's mode was changed");
}

#[test]
fn stale_temporary_files_are_removed_at_start() {
    let dir = tempfile::tempdir().unwrap();
    let relative = block(0).relative_path();
    let fan = dir.path().join(relative.parent().unwrap());
    fs::create_dir_all(&fan).unwrap();
    fs::set_permissions(dir.path(), fs::Permissions::from_mode(0o700)).unwrap();
    let temp = dir.path().join(relative.with_extension("tmp99.1"));
    fs::write(&temp, b"partial").unwrap();
    let old = SystemTime::now() - Duration::from_secs(2 * 3600);
    File::options()
        .write(true)
        .open(&temp)
        .unwrap()
        .set_modified(old)
        .unwrap();
    let cache = DiskCache::open(dir.path(), 1 << 20).unwrap();
    assert!(!temp.exists(), "a two-hour-old temporary file was kept");
    assert_eq!(cache.usage().1, 0, "temporary files are not blocks");
}
