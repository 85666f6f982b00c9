//! The `mastfs` command: parse, load the configuration, dispatch. Nothing else.

use std::process::ExitCode;

use clap::Parser;

use mastfs::cli::{Cli, Command};
use mastfs::{config, logging, mount};

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Mount(mut args) => (|| {
            args.apply_mount_options().map_err(anyhow::Error::msg)?;
            let config = config::load(&args.overrides())?;
            let request = mount::MountRequest {
                mountpoint: args.mountpoint.clone(),
                config,
                foreground: args.foreground,
                allow_other: args.allow_other,
            };
            let (verbose, log_file) = (cli.verbose, cli.log_file.clone());
            mount::run(request, |foreground| {
                logging::init(verbose, log_file.as_deref(), foreground)
            })
        })(),
        Command::Unmount(args) => mount::unmount(&args.mountpoint, args.lazy),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("mastfs: {e:#}");
            ExitCode::FAILURE
        }
    }
}
