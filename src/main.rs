//! The `mastfs` command: parse, load the configuration, dispatch. Nothing else.

use std::process::ExitCode;

use clap::Parser;

use mastfs::cli::{Cli, Command, ViewsCommand};
use mastfs::cli::help_docs;
use mastfs::daemon::{control, logging, view_status};
use mastfs::cmd::{get, mount, query, warm};
use mastfs::config;

fn main() -> ExitCode {
    // `mastfs SOURCE MOUNTPOINT -o OPTS` (mount.fuse3, fstab) becomes `mastfs mount ...`.
    let cli = match mastfs::cli::command_line() {
        Ok(args) => Cli::parse_from(args),
        Err(message) => {
            eprintln!("mastfs: {message}");
            return ExitCode::from(2);
        }
    };
    let (verbosity, log_format, log_file) = (cli.verbosity(), cli.log_format, cli.log_file);
    let result = match cli.command {
        Command::Mount(args) => {
            (|| {
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
                mount::run(request, |foreground| {
                    logging::init(verbosity, log_file.as_deref(), foreground, log_format)
                })
            })()
        }
        Command::Unmount(args) => mount::unmount(&args.mountpoint, args.lazy),
        Command::Query(args) => {
            logging::init(verbosity, log_file.as_deref(), true, log_format);
            query::run(&args)
        }
        Command::Views(command) => views(command),
        Command::DropCaches { mountpoint } => ask(&mountpoint, control::Request::DropCaches),
        Command::Get(args) => {
            logging::init(verbosity, log_file.as_deref(), true, log_format);
            get::run(&args)
        }
        Command::Warm(args) => {
            logging::init(verbosity, log_file.as_deref(), true, log_format);
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
    match command {
        ViewsCommand::Refresh { mountpoint, view } => {
            ask(&mountpoint, control::Request::RefreshView { view })
        }
        ViewsCommand::Status { mountpoint, json } => {
            let response = call(&mountpoint, control::Request::Status)?;
            let views = response.detail["views"]
                .as_array()
                .cloned()
                .unwrap_or_default();
            if json {
                println!("{}", serde_json::to_string_pretty(&views)?);
            } else {
                print!("{}", view_status::table(&views));
            }
            Ok(())
        }
    }
}

/// Sends `request` to the daemon of the mount at `mountpoint`; its answer if it succeeded.
fn call(
    mountpoint: &std::path::Path,
    request: control::Request,
) -> anyhow::Result<control::Response> {
    let response = control::call(mountpoint, &request)?;
    if !response.ok {
        anyhow::bail!("{}", response.message);
    }
    Ok(response)
}

/// Sends `request` to the daemon of `mountpoint` and prints its answer.
fn ask(mountpoint: &std::path::Path, request: control::Request) -> anyhow::Result<()> {
    let response = call(mountpoint, request)?;
    if !response.message.is_empty() {
        println!("{}", response.message);
    }
    if !response.detail.is_null() {
        println!("{}", serde_json::to_string_pretty(&response.detail)?);
    }
    Ok(())
}
