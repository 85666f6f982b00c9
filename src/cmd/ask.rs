//! Commands that a running mount's daemon answers over its control socket: `mastfs stats`
//! and `mastfs drop-caches`; and the asking itself, which `views` shares.

use std::path::Path;

use crate::daemon::control::{self, Request, Response};

/// `mastfs stats MOUNTPOINT`: the mount's statistics as JSON.
pub fn stats(mountpoint: &Path) -> anyhow::Result<()> {
    ask(mountpoint, Request::Stats)
}

/// `mastfs drop-caches MOUNTPOINT`: the mount forgets its cached blocks and metadata.
pub fn drop_caches(mountpoint: &Path) -> anyhow::Result<()> {
    ask(mountpoint, Request::DropCaches)
}

/// Sends `request` to the daemon of the mount at `mountpoint`; its answer if it succeeded.
pub fn call(mountpoint: &Path, request: Request) -> anyhow::Result<Response> {
    let response = control::call(mountpoint, &request)?;
    if !response.ok {
        anyhow::bail!("{}", response.message);
    }
    Ok(response)
}

/// Sends `request` to the daemon of `mountpoint` and prints its answer.
pub fn ask(mountpoint: &Path, request: Request) -> anyhow::Result<()> {
    let response = call(mountpoint, request)?;
    if !response.message.is_empty() {
        println!("{}", response.message);
    }
    if !response.detail.is_null() {
        println!("{}", serde_json::to_string_pretty(&response.detail)?);
    }
    Ok(())
}
