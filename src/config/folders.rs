//! Where mastfs looks for its config file and keeps what outlives a mount, when no flag
//! says: the XDG folders, the home folder, or system folders without one.

use std::path::{Path, PathBuf};

/// Where the config file is looked for when `--config` is not given: `$MASTFS_CONFIG`, then
/// the XDG config folder, then `/etc/mastfs/config.toml` when there is no home folder.
pub fn default_config_path(env: &dyn Fn(&str) -> Option<String>) -> Option<PathBuf> {
    if let Some(p) = env("MASTFS_CONFIG") {
        return Some(PathBuf::from(p));
    }
    let user_dir = env("XDG_CONFIG_HOME")
        .filter(|s| !s.is_empty())
        .map(PathBuf::from)
        .or_else(|| {
            env("HOME")
                .filter(|s| !s.is_empty())
                .map(|h| Path::new(&h).join(".config"))
        });
    match user_dir {
        Some(dir) => {
            let p = dir.join("mastfs").join("config.toml");
            p.exists().then_some(p)
        }
        None => {
            let p = PathBuf::from("/etc/mastfs/config.toml");
            p.exists().then_some(p)
        }
    }
}

/// Where mastfs keeps what should survive a restart (persisted views, the column
/// configuration, the disk cache): `$XDG_CACHE_HOME/mastfs`, `~/.cache/mastfs`, or
/// `/var/cache/mastfs` without a home folder (as under mount(8) or systemd).
pub fn default_cache_root(env: &dyn Fn(&str) -> Option<String>) -> PathBuf {
    env("XDG_CACHE_HOME")
        .map(PathBuf::from)
        .or_else(|| env("HOME").map(|h| PathBuf::from(h).join(".cache")))
        .map(|d| d.join("mastfs"))
        .unwrap_or_else(|| PathBuf::from("/var/cache/mastfs"))
}
