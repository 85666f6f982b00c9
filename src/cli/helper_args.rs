//! The mount-helper calling convention: `mastfs SOURCE MOUNTPOINT -o OPTIONS`.
//!
//! `mount -t fuse.mastfs SOURCE DIR -o OPTS` (and an `/etc/fstab` line of type
//! `fuse.mastfs`) makes mount(8) run `mount.fuse3`, which runs `mastfs SOURCE DIR -o OPTS`
//! through `/bin/sh` with no PATH and no HOME. This module rewrites that form into the
//! ordinary `mastfs mount DIR --bucket SOURCE -o OPTS` before clap parses, so the rest of
//! the program sees one command line shape only.

use std::ffi::{OsStr, OsString};

/// The SOURCE that means "the buckets of the config file" rather than one bucket, for fstab
/// lines that mount whatever the config lists. A bucket of that name is written `s3://mastfs`.
pub const CONFIG_SOURCE: &str = "mastfs";

/// Options mount(8) may hand a helper that mean nothing to mastfs: `-n` (do not write
/// /etc/mtab), `-s` (tolerate sloppy options).
const IGNORED_HELPER_FLAGS: [&str; 2] = ["-n", "-s"];

/// Rewrites `mastfs SOURCE MOUNTPOINT [ARGS...]` into
/// `mastfs mount MOUNTPOINT --bucket BUCKET[/PREFIX] [ARGS...]`; any other command line is
/// returned unchanged. `subcommands` are the names (and aliases) clap knows, which a first
/// argument must not be for the rewrite to happen.
///
/// A first argument one or two typing mistakes away from a subcommand (`mout`) is an error,
/// not a bucket: `mastfs mout /mnt` would otherwise mount a bucket named "mout".
pub fn rewrite(args: Vec<OsString>, subcommands: &[String]) -> Result<Vec<OsString>, String> {
    let Some(first) = args.get(1).and_then(|a| a.to_str()) else {
        return Ok(args);
    };
    if first.starts_with('-') || subcommands.iter().any(|s| s == first) {
        return Ok(args);
    }
    let bucket = match first.strip_prefix("s3://") {
        Some(spec) => Some(spec.to_string()),
        None => {
            if let Some(near) = subcommands
                .iter()
                .find(|s| edit_distance(s, first) <= (s.len() / 3).max(1))
            {
                return Err(format!(
                    "'{first}' is not a mastfs command; did you mean '{near}'? \
                     (to mount a bucket named '{first}', write s3://{first})"
                ));
            }
            (first != CONFIG_SOURCE).then(|| first.to_string())
        }
    };
    let mut out: Vec<OsString> = vec![args[0].clone(), "mount".into()];
    let mut rest = args[2..].iter();
    // MOUNTPOINT: the first remaining argument that is not an option. mount.fuse3 always
    // puts it second; a person may not.
    let mut before: Vec<OsString> = Vec::new();
    let mut mountpoint: Option<OsString> = None;
    for arg in rest.by_ref() {
        if arg.to_str().is_some_and(|a| a.starts_with('-')) {
            before.push(arg.clone());
        } else {
            mountpoint = Some(arg.clone());
            break;
        }
    }
    if let Some(m) = mountpoint {
        out.push(m);
    }
    if let Some(bucket) = bucket {
        out.push("--bucket".into());
        out.push(bucket.into());
    }
    out.extend(
        before
            .into_iter()
            .chain(rest.cloned())
            .filter(|a| !IGNORED_HELPER_FLAGS.iter().any(|f| OsStr::new(f) == a)),
    );
    Ok(out)
}

/// The candidate nearest to `word` when it is a typing mistake or two away.
pub fn closest<'a>(word: &str, candidates: &'a [String]) -> Option<&'a str> {
    candidates
        .iter()
        .map(|c| (edit_distance(c.trim_end_matches('='), word), c))
        .filter(|(d, c)| *d <= (c.len() / 3).max(1))
        .min_by_key(|(d, _)| *d)
        .map(|(_, c)| c.as_str())
}

/// Levenshtein distance, for "did you mean" on mistyped subcommands.
fn edit_distance(a: &str, b: &str) -> usize {
    strsim::levenshtein(a, b)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn subs() -> Vec<String> {
        ["mount", "unmount", "query", "views", "get", "help"]
            .map(String::from)
            .to_vec()
    }

    fn run(args: &[&str]) -> Result<Vec<String>, String> {
        let args = args.iter().map(OsString::from).collect();
        rewrite(args, &subs()).map(|v| {
            v.into_iter()
                .map(|a| a.into_string().unwrap())
                .collect::<Vec<_>>()
        })
    }

    #[test]
    fn helper_form_becomes_a_mount_command() {
        assert_eq!(
            run(&["mastfs", "stpubdata", "/mnt", "-o", "ro,config=/etc/m.toml"]).unwrap(),
            vec![
                "mastfs",
                "mount",
                "/mnt",
                "--bucket",
                "stpubdata",
                "-o",
                "ro,config=/etc/m.toml"
            ]
        );
    }

    #[test]
    fn s3_uris_give_bucket_and_prefix_even_for_subcommand_names() {
        assert_eq!(
            run(&["mastfs", "s3://get", "/mnt"]).unwrap(),
            vec!["mastfs", "mount", "/mnt", "--bucket", "get"]
        );
        assert_eq!(
            run(&["mastfs", "s3://stpubdata/roman/", "/m", "-n", "-o", "ro"]).unwrap(),
            vec![
                "mastfs",
                "mount",
                "/m",
                "--bucket",
                "stpubdata/roman/",
                "-o",
                "ro"
            ],
            "-n from mount(8) is dropped"
        );
    }

    #[test]
    fn config_source_mounts_the_configs_buckets() {
        assert_eq!(
            run(&["mastfs", "mastfs", "/mnt", "-o", "config=/etc/m.toml"]).unwrap(),
            vec!["mastfs", "mount", "/mnt", "-o", "config=/etc/m.toml"]
        );
    }

    #[test]
    fn subcommands_and_flags_are_left_alone() {
        for args in [
            vec!["mastfs", "mount", "/mnt"],
            vec!["mastfs", "--help"],
            vec!["mastfs", "-v", "mount", "/mnt"],
            vec!["mastfs"],
        ] {
            assert_eq!(run(&args).unwrap(), args, "unchanged: {args:?}");
        }
    }

    #[test]
    fn near_misses_of_subcommands_are_errors() {
        let err = run(&["mastfs", "mout", "/mnt"]).unwrap_err();
        assert!(
            err.contains("did you mean 'mount'") && err.contains("s3://mout"),
            "got: {err}"
        );
        assert!(
            run(&["mastfs", "stpubdata", "/mnt"]).is_ok(),
            "a real bucket name is not a near miss"
        );
    }

    #[test]
    fn edit_distance_counts_insertions_deletions_substitutions() {
        assert_eq!(edit_distance("mount", "mount"), 0);
        assert_eq!(edit_distance("mount", "mout"), 1);
        assert_eq!(edit_distance("query", "qeury"), 2);
        assert_eq!(edit_distance("kitten", "sitting"), 3);
    }
}
