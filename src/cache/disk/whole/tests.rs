//! Tests of whole-object files: built from intact blocks only, exact bytes, one copy on
//! disk, counted in the bound, refused for another version.

use super::*;

const BLOCK: u64 = 1024;

fn version(size: u64) -> ObjectVersion<'static> {
    ObjectVersion {
        bucket: "stpubdata",
        key: "hst/public/jbev/jbeveo010/jbeveo010_drz.fits",
        etag: "\"0123abcd\"",
        size,
    }
}

fn object_bytes(size: u64) -> Vec<u8> {
    (0..size)
        .map(|i| (i as u8).wrapping_mul(37) ^ (i >> 10) as u8)
        .collect()
}

/// Stores every block of `data` but those in `skip`.
fn store_blocks(cache: &DiskCache, obj: &ObjectVersion<'_>, data: &[u8], skip: &[u64]) {
    for (index, chunk) in data.chunks(BLOCK as usize).enumerate() {
        if !skip.contains(&(index as u64)) {
            cache.store(&obj.block(BLOCK, index as u64), chunk);
        }
    }
}

fn read_all(mut file: File) -> Vec<u8> {
    let mut out = Vec::new();
    file.read_to_end(&mut out).unwrap();
    out
}

#[test]
fn a_wholly_cached_object_gets_a_file_with_exactly_its_bytes() {
    let dir = tempfile::tempdir().unwrap();
    let cache = DiskCache::open(dir.path(), 1 << 20).unwrap();
    let size = 5 * BLOCK + 123;
    let data = object_bytes(size);
    store_blocks(&cache, &version(size), &data, &[]);
    let file = cache
        .whole_object(&version(size), BLOCK)
        .expect("every block is on disk: a whole-object file");
    let got = read_all(file);
    assert_eq!(got.len(), data.len(), "whole-object file length");
    assert!(
        got == data,
        "whole-object file bytes differ from the object"
    );
    assert_eq!(cache.counters.whole_built.load(Ordering::Relaxed), 1);

    // Found again, without rebuilding, by a new process.
    drop(cache);
    let cache = DiskCache::open(dir.path(), 1 << 20).unwrap();
    let got = read_all(cache.whole_object(&version(size), BLOCK).unwrap());
    assert!(got == data, "whole-object file bytes after reopening");
    assert_eq!(
        cache.counters.whole_built.load(Ordering::Relaxed),
        0,
        "a valid file was rebuilt"
    );
}

#[test]
fn asking_for_a_built_file_builds_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let cache = DiskCache::open(dir.path(), 1 << 20).unwrap();
    let size = 2 * BLOCK;
    store_blocks(&cache, &version(size), &object_bytes(size), &[]);
    assert!(cache.built_whole_object(&version(size)).is_none());
    assert_eq!(cache.counters.whole_built.load(Ordering::Relaxed), 0);
    assert!(cache.whole_object(&version(size), BLOCK).is_some());
    assert!(
        cache.built_whole_object(&version(size)).is_some(),
        "the file built by whole_object is not found"
    );
}

#[test]
fn a_partly_cached_object_gets_no_file() {
    let dir = tempfile::tempdir().unwrap();
    let cache = DiskCache::open(dir.path(), 1 << 20).unwrap();
    let size = 4 * BLOCK;
    let data = object_bytes(size);
    store_blocks(&cache, &version(size), &data, &[2]);
    assert!(
        cache.whole_object(&version(size), BLOCK).is_none(),
        "block 2 is not on disk, yet a whole-object file was given"
    );
    assert!(
        !dir.path().join(version(size).relative_path()).exists(),
        "a partial whole-object file was left behind"
    );
}

#[test]
fn a_damaged_block_means_no_file_and_the_block_is_dropped() {
    let dir = tempfile::tempdir().unwrap();
    let cache = DiskCache::open(dir.path(), 1 << 20).unwrap();
    let size = 3 * BLOCK;
    let obj = version(size);
    store_blocks(&cache, &obj, &object_bytes(size), &[]);
    let block_path = dir.path().join(obj.block(BLOCK, 1).relative_path());
    let mut raw = fs::read(&block_path).unwrap();
    let last = raw.len() - 1;
    raw[last] ^= 0x01;
    fs::write(&block_path, &raw).unwrap();
    assert!(
        cache.whole_object(&obj, BLOCK).is_none(),
        "a block with a flipped byte went into a whole-object file"
    );
    assert!(!block_path.exists(), "the damaged block was kept");
    let leftovers = fs::read_dir(dir.path().join(OBJECTS_DIR))
        .map(|d| d.count())
        .unwrap_or(0);
    assert_eq!(leftovers, 0, "files left in objects/ after a failed build");
}

#[test]
fn another_version_never_gets_the_old_file() {
    let dir = tempfile::tempdir().unwrap();
    let cache = DiskCache::open(dir.path(), 1 << 20).unwrap();
    let size = 2 * BLOCK;
    store_blocks(&cache, &version(size), &object_bytes(size), &[]);
    assert!(cache.whole_object(&version(size), BLOCK).is_some());
    let replaced = ObjectVersion {
        etag: "\"ffff\"",
        ..version(size)
    };
    assert!(
        cache.whole_object(&replaced, BLOCK).is_none(),
        "a new ETag with no blocks on disk was given the old version's file"
    );
    // An identity file naming another version is refused even under the right name.
    let path = dir.path().join(version(size).relative_path());
    fs::write(path.with_extension(ID_EXT), replaced.identity(0)).unwrap();
    assert!(
        cache
            .open_whole(&version(size), &version(size).relative_path())
            .is_none(),
        "an identity file of another version was accepted"
    );
}

#[test]
fn whole_files_count_in_the_bound_and_are_evicted_with_their_identity() {
    let dir = tempfile::tempdir().unwrap();
    let size = 4 * BLOCK;
    // Room for one object (blocks or whole file, with headers), not for two.
    let bound = size + 4 * 200 + 300;
    let cache = DiskCache::open(dir.path(), bound).unwrap();
    let obj = version(size);
    store_blocks(&cache, &obj, &object_bytes(size), &[]);
    assert!(cache.whole_object(&obj, BLOCK).is_some());
    let whole = dir.path().join(obj.relative_path());
    let (bytes, files) = cache.usage();
    assert_eq!(files, 1, "the pair is one entry, the blocks are gone");
    assert!(
        bytes > size,
        "usage {bytes} should count the whole file and its identity"
    );

    drop(cache);
    let cache = DiskCache::open(dir.path(), bound).unwrap();
    assert_eq!(cache.usage(), (bytes, 1), "the scan counts the pair");
    let other = ObjectVersion {
        key: "other.fits",
        ..obj
    };
    store_blocks(&cache, &other, &object_bytes(size), &[]);
    assert!(cache.usage().0 <= cache.capacity(), "usage above the bound");
    // Gone, and its identity with it.
    assert!(!whole.exists(), "the whole-object file was not evicted");
    assert!(
        !whole.with_extension(ID_EXT).exists(),
        "the identity file outlived its object file"
    );
    assert!(
        cache.load(&obj.block(BLOCK, 0), BLOCK).is_none(),
        "a block of an evicted object was served"
    );
}

#[test]
fn blocks_are_read_from_the_whole_file_checked() {
    let dir = tempfile::tempdir().unwrap();
    let cache = DiskCache::open(dir.path(), 1 << 20).unwrap();
    let size = 3 * BLOCK + 10;
    let obj = version(size);
    let data = object_bytes(size);
    store_blocks(&cache, &obj, &data, &[]);
    assert!(cache.whole_object(&obj, BLOCK).is_some());
    for index in 0..4u64 {
        let block = obj.block(BLOCK, index);
        assert!(
            !dir.path().join(block.relative_path()).exists(),
            "block file {index} kept next to the whole file"
        );
        assert!(
            cache.has(&block),
            "block {index} not found in the whole file"
        );
        let start = (index * BLOCK) as usize;
        let end = (start + BLOCK as usize).min(data.len());
        let got = cache
            .load(&block, (end - start) as u64)
            .unwrap_or_else(|| panic!("block {index} from the whole file"));
        assert!(got[..] == data[start..end], "block {index} bytes differ");
    }
    // Another block size cannot be checked against the recorded CRCs: a miss.
    let other_size = DiskBlock {
        block_size: 2 * BLOCK,
        ..obj.block(BLOCK, 0)
    };
    assert!(!cache.has(&other_size));
    assert!(cache.load(&other_size, 2 * BLOCK).is_none());

    // A damaged byte in the whole file: the block is refused and the pair removed.
    let whole = dir.path().join(obj.relative_path());
    let mut raw = fs::read(&whole).unwrap();
    raw[BLOCK as usize + 5] ^= 0x40;
    fs::write(&whole, &raw).unwrap();
    assert!(
        cache.load(&obj.block(BLOCK, 1), BLOCK).is_none(),
        "a damaged block was served from the whole file"
    );
    assert!(!whole.exists(), "the damaged whole file was kept");
    assert!(!whole.with_extension(ID_EXT).exists());
}

#[test]
fn the_scan_removes_half_built_pairs_and_leaves_foreign_files() {
    let dir = tempfile::tempdir().unwrap();
    let objects = dir.path().join(OBJECTS_DIR);
    fs::create_dir_all(&objects).unwrap();
    let orphan = objects.join(format!("{}.obj", "a".repeat(32)));
    fs::write(&orphan, b"bytes without identity").unwrap();
    let foreign = objects.join("notes.txt");
    fs::write(&foreign, b"not ours").unwrap();
    let cache = DiskCache::open(dir.path(), 1 << 20).unwrap();
    assert!(!orphan.exists(), "an .obj without identity was kept");
    assert!(foreign.exists(), "a file not named like ours was removed");
    assert_eq!(cache.usage(), (0, 0), "nothing valid to count");
}
