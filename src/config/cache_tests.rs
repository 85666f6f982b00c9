//! Tests of the cache settings: the disk cache and persisted metadata (off unless asked
//! for, their folders), the budget from a cgroup limit, block sizes, passthrough.

use std::path::PathBuf;

use super::tests::{env_of, load_text};
use super::*;

#[test]
fn the_disk_cache_is_off_unless_asked_for() {
    let c = load_with(&Overrides::default(), &env_of(&[("HOME", "/home/a")])).unwrap();
    assert_eq!(c.cache.disk, None, "disk cache without being asked");

    let c = load_with(
        &Overrides {
            disk_cache: true,
            ..Default::default()
        },
        &env_of(&[("XDG_CACHE_HOME", "/x/cache"), ("HOME", "/home/a")]),
    )
    .unwrap();
    assert_eq!(
        c.cache.disk,
        Some(DiskCacheConfig {
            dir: PathBuf::from("/x/cache/mastfs/blocks"),
            size: 10 << 30
        }),
        "--disk-cache: default folder and size"
    );

    let c = load_with(&Overrides::default(), &env_of(&[])).unwrap();
    assert_eq!(c.cache.disk, None);
    let no_home = load_with(
        &Overrides {
            disk_cache: true,
            ..Default::default()
        },
        &env_of(&[]),
    )
    .unwrap();
    assert_eq!(
        no_home.cache.disk.map(|d| d.dir),
        Some(PathBuf::from("/var/cache/mastfs/blocks")),
        "without HOME (mount(8), systemd)"
    );
}

#[test]
fn disk_cache_folder_and_size_follow_flags_env_file() {
    let text = "[cache]\ndir = \"/file/dir\"\ndisk_size = \"2GiB\"\n";
    let from_file = load_text(text, Overrides::default(), &[]).unwrap();
    assert_eq!(
        from_file.cache.disk,
        Some(DiskCacheConfig {
            dir: PathBuf::from("/file/dir"),
            size: 2 << 30
        }),
        "a dir in the file turns the disk cache on"
    );
    let off = load_text(
        "[cache]\ndisk = false\ndir = \"/file/dir\"\n",
        Overrides::default(),
        &[],
    )
    .unwrap();
    assert_eq!(off.cache.disk, None, "disk = false wins over dir");
    let env = load_text(
        text,
        Overrides::default(),
        &[("MASTFS_CACHE_DIR", "/env/dir")],
    )
    .unwrap();
    assert_eq!(
        env.cache.disk.map(|d| d.dir),
        Some(PathBuf::from("/env/dir"))
    );
    let flag = load_text(
        text,
        Overrides {
            cache_dir: Some("/flag/dir".into()),
            disk_cache_size: Some("3GiB".into()),
            ..Default::default()
        },
        &[("MASTFS_CACHE_DIR", "/env/dir")],
    )
    .unwrap();
    assert_eq!(
        flag.cache.disk,
        Some(DiskCacheConfig {
            dir: PathBuf::from("/flag/dir"),
            size: 3 << 30
        }),
        "flags win over environment and file"
    );
    let err = load_text(
        "[cache]\ndisk = true\ndisk_size = \"lots\"\n",
        Overrides::default(),
        &[],
    )
    .unwrap_err()
    .to_string();
    assert!(err.contains("cache.disk_size"), "got: {err}");
}

#[test]
fn metadata_is_persisted_only_when_asked() {
    let home = [("HOME", "/home/u")];
    let off = load_with(&Overrides::default(), &env_of(&home)).unwrap();
    assert_eq!(off.cache.metadata_dir, None, "off by default");
    let with_disk = load_with(
        &Overrides {
            cache_dir: Some("/c/blocks".into()),
            ..Default::default()
        },
        &env_of(&home),
    )
    .unwrap();
    assert_eq!(
        with_disk.cache.metadata_dir, None,
        "the disk cache alone does not persist metadata"
    );
    let asked = load_with(
        &Overrides {
            persist_metadata: true,
            ..Default::default()
        },
        &env_of(&home),
    )
    .unwrap();
    assert_eq!(
        asked.cache.metadata_dir,
        Some(PathBuf::from("/home/u/.cache/mastfs/metadata"))
    );
    let asked_with_disk = load_with(
        &Overrides {
            persist_metadata: true,
            cache_dir: Some("/c/blocks".into()),
            ..Default::default()
        },
        &env_of(&home),
    )
    .unwrap();
    assert_eq!(
        asked_with_disk.cache.metadata_dir,
        Some(PathBuf::from("/c/blocks/metadata"))
    );
    let file = load_text(
        "[cache]\nmetadata_dir = \"/m\"\n",
        Overrides::default(),
        &home,
    )
    .unwrap();
    assert_eq!(file.cache.metadata_dir, Some(PathBuf::from("/m")));
}

#[test]
fn cache_budget_follows_the_cgroup_limit_unless_a_size_is_given() {
    let limit = Some(2u64 << 30);
    let c = load_with_memory_limit(&Overrides::default(), &env_of(&[]), limit).unwrap();
    assert_eq!(
        (c.cache.size, c.cache.size_from_memory_limit),
        (memory_limit::cache_budget(2 << 30, 4 << 20), limit)
    );
    let flag = Overrides {
        cache_size: Some("300MiB".into()),
        ..Default::default()
    };
    let c = load_with_memory_limit(&flag, &env_of(&[]), limit).unwrap();
    assert_eq!(
        (c.cache.size, c.cache.size_from_memory_limit),
        (300 << 20, None)
    );
    let env = env_of(&[("MASTFS_CACHE_SIZE", "100MiB")]);
    let c = load_with_memory_limit(&Overrides::default(), &env, limit).unwrap();
    assert_eq!(c.cache.size, 100 << 20);
    let c = load_with_memory_limit(&Overrides::default(), &env_of(&[]), None).unwrap();
    assert_eq!(
        (c.cache.size, c.cache.size_from_memory_limit),
        (512 << 20, None)
    );
}

#[test]
fn block_sizes_must_be_whole_pages() {
    let o = Overrides {
        block_size: Some("1000000".into()),
        ..Default::default()
    };
    let err = load_with(&o, &env_of(&[])).unwrap_err().to_string();
    assert!(
        err.contains("multiple of 4096"),
        "block size of 1000000 bytes: expected a message about 4096, got {err:?}"
    );
    let o = Overrides {
        block_size: Some("1M".into()),
        ..Default::default()
    };
    assert_eq!(
        load_with(&o, &env_of(&[])).unwrap().cache.block_size,
        1 << 20
    );
}

#[test]
fn passthrough_is_on_unless_the_flag_or_the_file_turns_it_off() {
    let default = load_text("[cache]\ndisk = true\n", Overrides::default(), &[]).unwrap();
    assert!(default.cache.passthrough, "passthrough is on by default");
    let file_off = load_text("[cache]\npassthrough = false\n", Overrides::default(), &[]).unwrap();
    assert!(!file_off.cache.passthrough, "cache.passthrough = false");
    let flag_off = load_text(
        "[cache]\npassthrough = true\n",
        Overrides {
            no_passthrough: true,
            ..Default::default()
        },
        &[],
    )
    .unwrap();
    assert!(
        !flag_off.cache.passthrough,
        "--no-passthrough wins over the file"
    );
}
