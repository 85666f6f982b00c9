//! Replays every saved fuzz finding and seed (`fuzz/regressions/<target>/*`) through the
//! same code the fuzz targets run (fuzz/harness.rs), so a fixed crash stays fixed without
//! cargo-fuzz or a nightly toolchain.

#[path = "../../fuzz/harness.rs"]
mod harness;

use std::path::PathBuf;

use mastfs::cache::disk::block_file::{self, DiskBlock};
use mastfs::cache::hints;

/// The block identity of the disk_block target (fuzz/fuzz_targets/disk_block.rs).
const BLOCK: DiskBlock<'static> = DiskBlock {
    bucket: "stpubdata",
    key: "hst/public/jbev/jbeveo010/jbeveo010_drz.fits",
    etag: "\"0123abcd\"",
    block_size: 1 << 20,
    index: 7,
};

fn run(target: &str, data: &[u8]) {
    match target {
        "mast_envelope" => harness::mast_envelope(data),
        "mast_path_lookup" => harness::mast_path_lookup(data),
        "mast_columns" => harness::mast_columns(data),
        "query_args" => harness::query_args(data),
        "config" => harness::config(data, mastfs::config::parse_str),
        "fits_header" => harness::fits_header(
            data,
            &harness::FitsScan {
                plan: &hints::fits_plan,
                units: &hints::fits_units,
                units_at: &hints::fits_units_at,
            },
        ),
        "disk_block" => harness::disk_block(
            data,
            &|bytes| block_file::header(&BLOCK, bytes),
            &|raw, expected| block_file::data_range(raw, &BLOCK, expected),
        ),
        other => panic!("fuzz/regressions/{other}: no such fuzz target"),
    }
}

#[test]
fn saved_fuzz_inputs_replay_without_panics() {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("fuzz/regressions");
    let mut replayed = 0;
    for target in harness::TARGETS {
        let dir = root.join(target);
        let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
            .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
            .map(|e| e.unwrap().path())
            .filter(|p| p.is_file())
            .collect();
        files.sort();
        assert!(
            !files.is_empty(),
            "{}: expected at least one saved input",
            dir.display()
        );
        for path in files {
            let data = std::fs::read(&path).unwrap();
            let outcome = std::panic::catch_unwind(|| run(target, &data));
            assert!(
                outcome.is_ok(),
                "{}: the {target} target panicked on this input (see the message above)",
                path.display()
            );
            replayed += 1;
        }
    }
    eprintln!("replayed {replayed} saved fuzz inputs");
}

#[test]
fn every_regression_folder_is_a_target() {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("fuzz/regressions");
    for entry in std::fs::read_dir(&root).unwrap() {
        let name = entry.unwrap().file_name().into_string().unwrap();
        assert!(
            harness::TARGETS.contains(&name.as_str()),
            "fuzz/regressions/{name}: expected one of {:?}",
            harness::TARGETS
        );
    }
}
