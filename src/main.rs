//! The `mastfs` command: parse, load the configuration, dispatch. Nothing else.

use std::process::ExitCode;

use clap::Parser;

use mastfs::cli::{Cli, Command, ViewsCommand};
use mastfs::{config, control, get, help_docs, logging, mount, query, warm};

fn main() -> ExitCode {
    // `mastfs SOURCE MOUNTPOINT -o OPTS` (mount.fuse3, fstab) becomes `mastfs mount ...`.
    let cli = match mastfs::helper_args::command_line() {
        Ok(args) => Cli::parse_from(args),
        Err(message) => {
            eprintln!("mastfs: {message}");
            return ExitCode::from(2);
        }
    };
    let result = match cli.command {
        Command::Mount(mut args) => {
            (|| {
                args.apply_mount_options().map_err(anyhow::Error::msg)?;
                let config = config::load(&args.overrides())?;
                let request = mount::MountRequest {
                mountpoint: args.mountpoint.clone(),
                config,
                foreground: args.foreground,
                allow_other: args.allow_other,
                metrics_addr: match args.metrics_addr {
                    Some(addr) => Some(addr),
                    None => std::env::var("MASTFS_METRICS_ADDR")
                        .ok()
                        .filter(|v| !v.is_empty())
                        .map(|v| {
                            v.parse().map_err(|_| {
                                anyhow::anyhow!("MASTFS_METRICS_ADDR={v}: give IP:PORT, e.g. 127.0.0.1:9464")
                            })
                        })
                        .transpose()?,
                },
            };
                let verbose = cli.verbose.saturating_add(args.verbose_option);
                let log_file = cli.log_file.clone().or(args.log_file_option.clone());
                mount::run(request, |foreground| {
                    logging::init(verbose, log_file.as_deref(), foreground)
                })
            })()
        }
        Command::Unmount(args) => mount::unmount(&args.mountpoint, args.lazy),
        Command::Query(args) => {
            logging::init(cli.verbose, cli.log_file.as_deref(), true);
            query::run(&args)
        }
        Command::Views(command) => views(command),
        Command::DropCaches { mountpoint } => ask(&mountpoint, control::Request::DropCaches),
        Command::Get(args) => {
            logging::init(cli.verbose, cli.log_file.as_deref(), true);
            get::run(&args)
        }
        Command::Warm(args) => {
            logging::init(cli.verbose, cli.log_file.as_deref(), true);
            warm::run(&args)
        }
        Command::Completions { shell } => {
            help_docs::completions(shell, &mut std::io::stdout());
            Ok(())
        }
        Command::Man => help_docs::man_page(&mut std::io::stdout()).map_err(Into::into),
        Command::Stats { mountpoint } => ask(&mountpoint, control::Request::Stats),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("mastfs: {e:#}");
            ExitCode::FAILURE
        }
    }
}

/// `mastfs views ...`: asks the daemon of a mount over its control socket.
fn views(command: ViewsCommand) -> anyhow::Result<()> {
    let (mountpoint, request) = match command {
        ViewsCommand::Refresh { mountpoint, view } => {
            (mountpoint, control::Request::RefreshView { view })
        }
        ViewsCommand::Status { mountpoint } => (mountpoint, control::Request::Status),
    };
    ask(&mountpoint, request)
}

/// Sends `request` to the daemon of `mountpoint` and prints its answer.
fn ask(mountpoint: &std::path::Path, request: control::Request) -> anyhow::Result<()> {
    let mountpoint = std::path::absolute(mountpoint)?;
    let response = control::call(&mountpoint, &request)?;
    if !response.ok {
        anyhow::bail!("{}", response.message);
    }
    if !response.message.is_empty() {
        println!("{}", response.message);
    }
    if !response.detail.is_null() {
        println!("{}", serde_json::to_string_pretty(&response.detail)?);
    }
    Ok(())
}
