//! What a `mastfs mount` is asked to do: the mount point, the validated configuration and
//! the daemon's own settings, from the command line and the environment.

use std::net::SocketAddr;
use std::path::PathBuf;

use anyhow::anyhow;

use crate::cli::args::MountArgs;
use crate::config::{self, Config};

/// The variable that turns the metrics endpoint on when `--metrics-addr` is not given.
const METRICS_ADDR_ENV: &str = "MASTFS_METRICS_ADDR";

/// How to run a mount.
pub struct MountRequest {
    pub mountpoint: PathBuf,
    pub config: Config,
    pub foreground: bool,
    pub allow_other: bool,
    /// Where to serve Prometheus metrics, if anywhere.
    pub metrics_addr: Option<SocketAddr>,
}

impl MountRequest {
    /// The request of `mastfs mount ARGS`: the configuration loaded (flags over environment
    /// over file), the metrics address from the flag or [`METRICS_ADDR_ENV`].
    pub fn from_args(args: &MountArgs) -> anyhow::Result<MountRequest> {
        Ok(MountRequest {
            mountpoint: args.mountpoint.clone(),
            config: config::load(&args.overrides())?,
            foreground: args.foreground,
            allow_other: args.allow_other,
            metrics_addr: metrics_addr(args.metrics_addr, |name| std::env::var(name).ok())?,
        })
    }
}

/// `--metrics-addr` when given, else the environment's address (an empty one is unset).
fn metrics_addr(
    flag: Option<SocketAddr>,
    env: impl Fn(&str) -> Option<String>,
) -> anyhow::Result<Option<SocketAddr>> {
    if flag.is_some() {
        return Ok(flag);
    }
    env(METRICS_ADDR_ENV)
        .filter(|v| !v.is_empty())
        .map(|v| {
            v.parse()
                .map_err(|_| anyhow!("{METRICS_ADDR_ENV}={v}: give IP:PORT, e.g. 127.0.0.1:9464"))
        })
        .transpose()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_flag_wins_over_the_environment_and_bad_addresses_are_explained() {
        let env = |value: &'static str| move |_: &str| Some(value.to_string());
        let flag: SocketAddr = "127.0.0.1:1".parse().unwrap();
        assert_eq!(
            metrics_addr(Some(flag), env("x")).unwrap(),
            Some(flag),
            "flag"
        );
        assert_eq!(
            metrics_addr(None, env("127.0.0.1:9464")).unwrap(),
            Some("127.0.0.1:9464".parse().unwrap()),
            "environment"
        );
        assert_eq!(metrics_addr(None, env("")).unwrap(), None, "empty is unset");
        assert_eq!(metrics_addr(None, |_| None).unwrap(), None, "unset");
        let err = metrics_addr(None, env("localhost"))
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("MASTFS_METRICS_ADDR=localhost") && err.contains("IP:PORT"),
            "got: {err}"
        );
    }
}
