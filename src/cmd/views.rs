//! `mastfs views ...`: asks the daemon of a mount to refresh a view, or for the state of
//! its views, printed as a table (or JSON with `--json`).

use crate::cli::args::ViewsCommand;
use crate::cmd::ask::{ask, call};
use crate::daemon::control::Request;
use crate::daemon::view_status;

pub fn run(command: ViewsCommand) -> anyhow::Result<()> {
    match command {
        ViewsCommand::Refresh { mountpoint, view } => {
            ask(&mountpoint, Request::RefreshView { view })
        }
        ViewsCommand::Status { mountpoint, json } => {
            let response = call(&mountpoint, Request::Status)?;
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
