//! The command line as documentation: grouped `--help` with defaults, shell completions,
//! and the committed man page matching the clap definitions.

use std::fs;
use std::path::Path;
use std::process::{Command, Output};

use crate::support::*;

// ---- help, completions, man page ----------------------------------------------------

fn mastfs_output(args: &[&str]) -> Output {
    let dir = tempfile::tempdir().unwrap();
    mastfs_command(dir.path()).args(args).output().unwrap()
}

#[test]
fn mount_help_groups_options_and_shows_defaults() {
    let out = mastfs_output(&["mount", "--help"]);
    assert!(out.status.success(), "{}", text(&out));
    let help = String::from_utf8_lossy(&out.stdout);
    let headings: Vec<&str> = help
        .lines()
        .filter(|l| !l.starts_with(' ') && l.ends_with(':'))
        .collect();
    for wanted in ["Buckets:", "S3:", "Cache:", "Views:", "Mount:", "Logging:"] {
        assert!(
            headings.contains(&wanted),
            "heading {wanted} missing; headings: {headings:?}"
        );
    }
    for default in [
        "[default: 512MiB]",
        "[default: 1h]",
        "[env: AWS_ENDPOINT_URL]",
    ] {
        assert!(help.contains(default), "{default} missing from:\n{help}");
    }
}

#[test]
fn completion_scripts_for_bash_zsh_fish() {
    for (shell, marker) in [
        ("bash", "complete -F _mastfs"),
        ("zsh", "#compdef mastfs"),
        ("fish", "complete -c mastfs"),
    ] {
        let out = mastfs_output(&["completions", shell]);
        assert!(out.status.success(), "{shell}: {}", text(&out));
        let script = String::from_utf8_lossy(&out.stdout);
        assert!(
            script.contains(marker) && script.contains("unmount"),
            "{shell} script lacks '{marker}' or the subcommands"
        );
    }
    // The bash script loads and registers a completion for mastfs.
    let dir = tempfile::tempdir().unwrap();
    let script = dir.path().join("mastfs.bash");
    fs::write(&script, mastfs_output(&["completions", "bash"]).stdout).unwrap();
    let out = Command::new("bash")
        .arg("-c")
        .arg(format!("source {} && complete -p mastfs", script.display()))
        .output()
        .unwrap();
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("mastfs"),
        "bash did not register the completion: {}",
        text(&out)
    );
}

#[test]
fn committed_man_page_is_up_to_date() {
    let out = mastfs_output(&["man"]);
    assert!(out.status.success(), "{}", text(&out));
    let committed = Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/mastfs.1");
    let committed = fs::read(&committed).unwrap_or_default();
    assert!(
        committed == out.stdout,
        "docs/mastfs.1 differs from the command-line definitions ({} vs {} bytes); \
         regenerate it: cargo run -- man > docs/mastfs.1",
        committed.len(),
        out.stdout.len()
    );
}
