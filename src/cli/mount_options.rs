//! `-o key=value,...` of `mastfs mount` (fstab, mount(8)), turned into long options before
//! clap parses: every long option of `mount` (and the global logging ones) is reachable as
//! a key, `-` and `_` alike, found through clap's own definitions, so a new flag is usable
//! from fstab the day it is added. Options given explicitly on the command line win over
//! `-o`. The generic mount options (`ro`, `nodev`, `_netdev`, `x-systemd.*`, ...) are
//! accepted and ignored: mastfs is always read-only, nodev, nosuid.

use std::ffi::OsString;

use clap::{ArgAction, Command};

/// Options mount(8) and fstab pass that mean nothing to mastfs.
const IGNORED: &[&str] = &[
    "ro", "rw", "dev", "nodev", "suid", "nosuid", "exec", "noexec", "_netdev", "nofail", "noauto",
    "auto", "user", "users", "nouser", "defaults", "atime", "noatime", "relatime", "async", "sync",
];

/// Global options that take a value (skipped when looking for the subcommand).
const GLOBAL_WITH_VALUE: &[&str] = &["--log-file", "--log-format"];

/// `args` with every `-o` of a `mount` command replaced by the long options it names.
/// `cli` is the whole command (its `mount` subcommand and global options are looked up).
pub fn expand(args: Vec<OsString>, cli: &Command) -> Result<Vec<OsString>, String> {
    let Some(mount_at) = subcommand_index(&args) else {
        return Ok(args);
    };
    if args[mount_at] != "mount" {
        return Ok(args);
    }
    let Some(mount) = cli.find_subcommand("mount") else {
        return Ok(args);
    };
    let mut kept: Vec<OsString> = args[..=mount_at].to_vec();
    let mut options: Vec<String> = Vec::new();
    let mut rest = args[mount_at + 1..].iter();
    while let Some(arg) = rest.next() {
        match arg.to_str() {
            Some("-o") => {
                let value = rest
                    .next()
                    .ok_or_else(|| "-o needs options (-o key=value,...)".to_string())?;
                options.push(value.to_string_lossy().into_owned());
            }
            Some(a) if a.starts_with("-o") && !a.starts_with("--") => {
                options.push(a[2..].to_string())
            }
            _ => kept.push(arg.clone()),
        }
    }
    let all_args = || mount.get_arguments().chain(cli.get_arguments());
    // Long names of the options given explicitly (`--name`, `--name=v`, `-f`, `-fv`).
    let mut explicit: Vec<String> = Vec::new();
    for a in kept.iter().filter_map(|a| a.to_str()) {
        if let Some(long) = a.strip_prefix("--") {
            explicit.push(long.split('=').next().unwrap_or(long).to_string());
        } else if let Some(shorts) = a.strip_prefix('-') {
            for c in shorts.chars() {
                if let Some(long) = all_args().find(|x| x.get_short() == Some(c)) {
                    explicit.extend(long.get_long().map(str::to_string));
                }
            }
        }
    }
    let mut added: Vec<OsString> = Vec::new();
    for opt in options.iter().flat_map(|o| o.split(',')) {
        let opt = opt.trim();
        if opt.is_empty() {
            continue;
        }
        let (key, value) = match opt.split_once('=') {
            Some((k, v)) => (k.trim(), Some(v)),
            None => (opt, None),
        };
        if IGNORED.contains(&key) || key.starts_with("x-") || key.starts_with("comment") {
            continue;
        }
        let long = key.replace('_', "-");
        // `-o verbose`, `-o verbose=2`: the global -v count.
        if long == "verbose" || long == "v" {
            let times = match value {
                None => 1,
                Some(n) => n
                    .parse::<u8>()
                    .map_err(|_| format!("mount option '{opt}' needs a number (verbose=1..3)"))?,
            };
            added.extend((0..times).map(|_| OsString::from("-v")));
            continue;
        }
        let arg = all_args()
            .find(|a| a.get_long() == Some(long.as_str()))
            .ok_or_else(|| unknown(key, mount, cli))?;
        let repeatable = matches!(arg.get_action(), ArgAction::Append | ArgAction::Count);
        if !repeatable && explicit.contains(&long) {
            continue;
        }
        if arg.get_action().takes_values() {
            let value =
                value.ok_or_else(|| format!("mount option '{key}' needs a value ({key}=...)"))?;
            added.push(format!("--{long}={value}").into());
        } else {
            match value {
                None => added.push(format!("--{long}").into()),
                Some("true" | "yes" | "1") => added.push(format!("--{long}").into()),
                Some("false" | "no" | "0") => {}
                Some(v) => {
                    return Err(format!(
                        "mount option '{key}' is a switch: write '{key}', not '{key}={v}'"
                    ))
                }
            }
        }
    }
    kept.extend(added);
    Ok(kept)
}

/// Where the subcommand is: the first argument that is neither a global option nor its value.
fn subcommand_index(args: &[OsString]) -> Option<usize> {
    let mut i = 1;
    while let Some(arg) = args.get(i).and_then(|a| a.to_str()) {
        if !arg.starts_with('-') {
            return Some(i);
        }
        i += if GLOBAL_WITH_VALUE.contains(&arg) {
            2
        } else {
            1
        };
    }
    None
}

/// The message for a key that is no option, listing those that are.
fn unknown(key: &str, mount: &Command, cli: &Command) -> String {
    let mut known: Vec<String> = mount
        .get_arguments()
        .chain(cli.get_arguments())
        .filter(|a| !a.is_hide_set())
        .filter_map(|a| {
            let long = a.get_long()?.replace('-', "_");
            Some(if a.get_action().takes_values() {
                format!("{long}=")
            } else {
                long
            })
        })
        .filter(|k| k != "help" && k != "version")
        .collect();
    known.sort();
    known.dedup();
    let near = crate::cli::helper_args::closest(key, &known);
    format!(
        "unknown mount option '{key}'{}; known: {}, and the generic ro, rw, nodev, nosuid, noexec, _netdev, nofail, noauto, user, defaults, x-systemd.*",
        near.map(|n| format!(" (did you mean '{n}'?)")).unwrap_or_default(),
        known.join(", ")
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    fn expanded(args: &[&str]) -> Result<Vec<String>, String> {
        let cli = crate::cli::Cli::command();
        expand(args.iter().map(OsString::from).collect(), &cli)
            .map(|v| v.into_iter().map(|a| a.into_string().unwrap()).collect())
    }

    #[test]
    fn every_long_option_is_a_key_and_explicit_flags_win() {
        let got = expanded(&[
            "mastfs",
            "mount",
            "/mnt",
            "-o",
            "ro,_netdev,cache_size=1GiB,bucket=stpubdata/roman,x-systemd.automount",
            "--region",
            "eu-west-1",
            "-o",
            "region=ignored,negative-metadata-ttl=5s,no_sign_request,allow_other,verbose=2",
        ])
        .unwrap();
        assert_eq!(
            got,
            [
                "mastfs",
                "mount",
                "/mnt",
                "--region",
                "eu-west-1",
                "--cache-size=1GiB",
                "--bucket=stpubdata/roman",
                "--negative-metadata-ttl=5s",
                "--no-sign-request",
                "--allow-other",
                "-v",
                "-v"
            ]
        );
    }

    #[test]
    fn global_options_and_other_commands() {
        let got = expanded(&[
            "mastfs",
            "--log-file",
            "x",
            "mount",
            "/mnt",
            "-olog_file=/var/log/m.log,debug",
        ])
        .unwrap();
        assert_eq!(
            got,
            ["mastfs", "--log-file", "x", "mount", "/mnt", "--debug"],
            "an explicit --log-file wins; debug is a global switch"
        );
        let query = expanded(&["mastfs", "query", "a=b", "-o", "x"]).unwrap();
        assert_eq!(
            query,
            ["mastfs", "query", "a=b", "-o", "x"],
            "only mount is touched"
        );
    }

    #[test]
    fn options_added_to_mount_reach_the_configuration_through_o() {
        use clap::Parser;

        // `mastfs mount /mnt -o OPTS` parsed, and the configuration it makes.
        let parsed = |opts: &str| {
            let args = expanded(&["mastfs", "mount", "/mnt", "-o", opts]).unwrap();
            match crate::cli::Cli::try_parse_from(&args).unwrap().command {
                crate::cli::Command::Mount(mount) => {
                    let cfg = crate::config::load_with(&mount.overrides(), &|_| None).unwrap();
                    (mount, cfg)
                }
                other => panic!("expected mount from {args:?}, got {other:?}"),
            }
        };
        let (mount, cfg) = parsed(
            "signed_bucket=private/sims,bucket=stpubdata,profile=science,negative_metadata_ttl=5s,read_only",
        );
        assert!(mount.read_only, "read_only is accepted");
        let buckets: Vec<(String, Option<String>, bool)> = cfg
            .buckets
            .iter()
            .map(|b| (b.name.clone(), b.prefix.clone(), b.signed))
            .collect();
        assert_eq!(
            buckets,
            [
                ("stpubdata".to_string(), None, false),
                ("private".to_string(), Some("sims/".to_string()), true)
            ]
        );
        assert_eq!(cfg.s3.profile.as_deref(), Some("science"));
        assert_eq!(cfg.cache.negative_ttl, std::time::Duration::from_secs(5));

        let (_, cfg) = parsed("metadata_dir=/var/cache/m,no_passthrough");
        assert_eq!(
            cfg.cache.metadata_dir,
            Some(std::path::PathBuf::from("/var/cache/m"))
        );
        assert!(
            !cfg.cache.passthrough,
            "no_passthrough turns passthrough off"
        );
        let (mount, _) = parsed("persist_metadata,disk_cache");
        assert!(mount.persist_metadata && mount.disk_cache);

        let (_, cfg) = parsed("signed_bucket=private,no_sign_request");
        assert!(
            cfg.buckets.iter().all(|b| !b.signed),
            "no_sign_request reads every bucket anonymously: {:?}",
            cfg.buckets
        );
    }

    #[test]
    fn unknown_keys_and_misused_switches_are_refused() {
        let err = expanded(&["mastfs", "mount", "/mnt", "-o", "cache_sise=1GiB"]).unwrap_err();
        assert!(
            err.contains("cache_sise")
                && err.contains("cache_size=")
                && err.contains("did you mean"),
            "got: {err}"
        );
        let err = expanded(&["mastfs", "mount", "/mnt", "-o", "allow_other=maybe"]).unwrap_err();
        assert!(err.contains("is a switch"), "got: {err}");
        let err = expanded(&["mastfs", "mount", "/mnt", "-o", "cache_size"]).unwrap_err();
        assert!(err.contains("needs a value"), "got: {err}");
    }
}
