//! The command line, from argv to parsed arguments: clap definitions (`args.rs`), the
//! mount-helper calling convention (`helper_args.rs`), `-o` mount options as long options
//! (`mount_options.rs`), and the documentation generated from the definitions
//! (`help_docs.rs`: completions, the man page).

pub mod args;
pub mod help_docs;
pub mod helper_args;
pub mod mount_options;

use std::ffi::OsString;

pub use args::{Cli, Command};

/// The process's command line, rewritten by [`helper_args::rewrite`] against the subcommands
/// of [`Cli`], its `-o` options expanded by [`mount_options::expand`].
pub fn command_line() -> Result<Vec<OsString>, String> {
    use clap::CommandFactory;
    let cli = Cli::command();
    let mut names = vec!["help".to_string()];
    for sub in cli.get_subcommands() {
        names.push(sub.get_name().to_string());
        names.extend(sub.get_all_aliases().map(String::from));
    }
    let args = helper_args::rewrite(std::env::args_os().collect(), &names)?;
    mount_options::expand(args, &cli)
}
