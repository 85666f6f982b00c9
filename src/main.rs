//! The `mastfs` command: parse the command line, then dispatch to its command in
//! `mastfs::cmd`. Nothing else.

use std::process::ExitCode;

use clap::Parser;

use mastfs::cli::{self, help_docs, Cli, Command};
use mastfs::cmd;

fn main() -> ExitCode {
    // `mastfs SOURCE MOUNTPOINT -o OPTS` (mount.fuse3, fstab) becomes `mastfs mount ...`.
    let cli = match cli::command_line() {
        Ok(args) => Cli::parse_from(args),
        Err(message) => {
            eprintln!("mastfs: {message}");
            return ExitCode::from(2);
        }
    };
    let logging = cli.logging();
    let result = match cli.command {
        // A mount starts logging once it knows whether it stays in the foreground.
        Command::Mount(args) => cmd::mount::run(&args, &logging),
        Command::Unmount(args) => cmd::mount::unmount(&args.mountpoint, args.lazy),
        Command::Query(args) => {
            logging.init(true);
            cmd::query::run(&args)
        }
        Command::Views(command) => cmd::views::run(command),
        Command::DropCaches { mountpoint } => cmd::ask::drop_caches(&mountpoint),
        Command::Get(args) => {
            logging.init(true);
            cmd::get::run(&args)
        }
        Command::Warm(args) => {
            logging.init(true);
            cmd::warm::run(&args)
        }
        Command::Completions { shell } => {
            help_docs::completions(shell, &mut std::io::stdout());
            Ok(())
        }
        Command::Man => help_docs::man_page(&mut std::io::stdout()).map_err(Into::into),
        Command::Stats { mountpoint } => cmd::ask::stats(&mountpoint),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("mastfs: {e:#}");
            ExitCode::FAILURE
        }
    }
}
