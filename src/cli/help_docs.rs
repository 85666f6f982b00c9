//! Documentation generated from the clap definitions in [`crate::cli::args`], so it never
//! drifts from the flags: shell completion scripts (`mastfs completions SHELL`) and the man
//! page (`mastfs man`, committed as `docs/mastfs.1`; a test checks it is current).

use std::io::{self, Write};

use clap::CommandFactory;
use clap_complete::Shell;

use crate::cli::args::Cli;

/// Writes the completion script of `shell` for `mastfs`.
pub fn completions(shell: Shell, out: &mut dyn Write) {
    let mut command = Cli::command();
    clap_complete::generate(shell, &mut command, "mastfs", out);
}

/// Writes one man page: the top-level page, then a section per subcommand (its synopsis,
/// description and options, headings one level down), so `man mastfs` shows everything.
pub fn man_page(out: &mut dyn Write) -> io::Result<()> {
    // The page carries the release version only: the commit and date of --version would
    // make the committed page differ after every commit.
    let mut command = Cli::command().version(env!("CARGO_PKG_VERSION"));
    command.build();
    clap_mangen::Man::new(command.clone()).render(out)?;
    for sub in command.get_subcommands() {
        if sub.is_hide_set() || sub.get_name() == "help" {
            continue;
        }
        let full_name = format!("mastfs {}", sub.get_name());
        writeln!(out, ".SH \"{}\"", full_name.to_uppercase())?;
        let mut page = Vec::new();
        // After build(), the subcommand's bin_name is "mastfs mount": its synopsis says so.
        clap_mangen::Man::new(sub.clone()).render(&mut page)?;
        for line in String::from_utf8_lossy(&page).lines() {
            // One page: the subcommand's own title goes, its sections become subsections.
            if line.starts_with(".TH ") {
                continue;
            }
            match line.strip_prefix(".SH ") {
                Some(heading) => writeln!(out, ".SS {heading}")?,
                None => writeln!(out, "{line}")?,
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn man_page_has_every_visible_subcommand_and_grouped_options() {
        let mut page = Vec::new();
        man_page(&mut page).unwrap();
        let page = String::from_utf8(page).unwrap();
        for section in [
            ".SH \"MASTFS MOUNT\"",
            ".SH \"MASTFS QUERY\"",
            ".SH \"MASTFS COMPLETIONS\"",
        ] {
            assert!(page.contains(section), "missing {section}");
        }
        assert!(
            !page.contains(".SH \"MASTFS MAN\""),
            "the hidden man command is not documented"
        );
        assert!(page.contains(".SS CACHE"), "mount's Cache options heading");
        assert_eq!(page.matches(".TH ").count(), 1, "one title");
    }

    #[test]
    fn completions_name_the_subcommands() {
        let mut bash = Vec::new();
        completions(Shell::Bash, &mut bash);
        let bash = String::from_utf8(bash).unwrap();
        assert!(
            bash.contains("mastfs") && bash.contains("unmount") && bash.contains("--cache-size"),
            "bash completion lacks subcommands or flags"
        );
    }
}
