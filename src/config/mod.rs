//! Configuration: the TOML schema, the flag/environment overlay, defaults and validation.
//!
//! Precedence, highest first: command-line flags, environment (`AWS_ENDPOINT_URL`,
//! `AWS_REGION`, `MASTFS_*`), the config file, built-in defaults. `--bucket` on the command
//! line replaces the file's bucket list. The result is one validated [`Config`].
//!
//! The parts, each used only from above: `model` (the validated [`Config`], [`Overrides`],
//! [`ConfigError`]), `file` (the TOML schema), `folders` (default locations), `values`
//! (sizes, durations, modes), `validate` (names and URLs), `overlay` (the precedence, into a
//! [`Config`]) and `memory_limit` (the cgroup's limit, the cache budget from it).
//!
//! A fuzz target compiles this folder alone (fuzz/fuzz_targets/config.rs), without the rest
//! of the crate: nothing here may use `crate::` paths.

use std::path::PathBuf;

mod file;
mod folders;
pub mod memory_limit;
mod model;
mod overlay;
mod validate;
mod values;

pub use folders::{default_cache_root, default_config_path};
pub use model::{
    AccessConfig, BucketConfig, CacheConfig, Config, ConfigError, DiskCacheConfig, MastConfig,
    Overrides, S3Config, ViewConfig, ViewLayout, VIEWS_DIR,
};
pub use validate::{parse_bucket_spec, validate_bucket_name, validate_view_name};
pub use values::{parse_duration, parse_mode, parse_size};

use file::{parse_file, FileConfig};
use overlay::build;

/// Loads and validates the configuration from flags, the process environment and the file.
pub fn load(overrides: &Overrides) -> Result<Config, ConfigError> {
    let env = |k: &str| std::env::var(k).ok().filter(|v| !v.is_empty());
    load_with_memory_limit(overrides, &env, memory_limit::current())
}

/// [`load`] with the environment given as a function, for tests.
pub fn load_with(
    overrides: &Overrides,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<Config, ConfigError> {
    load_with_memory_limit(overrides, env, None)
}

/// [`load_with`] in a cgroup limited to `memory_limit` bytes (None: unlimited).
pub fn load_with_memory_limit(
    overrides: &Overrides,
    env: &dyn Fn(&str) -> Option<String>,
    memory_limit: Option<u64>,
) -> Result<Config, ConfigError> {
    let path = overrides
        .config_file
        .clone()
        .or_else(|| default_config_path(env));
    let file = match &path {
        Some(p) => {
            let text = std::fs::read_to_string(p).map_err(|source| ConfigError::Read {
                path: p.clone(),
                source,
            })?;
            parse_file(&text, p)?
        }
        None => FileConfig::default(),
    };
    build(file, path, overrides, env, memory_limit)
}

/// Parses and validates config text as the config file, with no flags and no environment
/// (what the fuzz target and its regression tests feed).
pub fn parse_str(text: &str) -> Result<Config, ConfigError> {
    let path = PathBuf::from("<text>");
    let file = parse_file(text, &path)?;
    build(file, Some(path), &Overrides::default(), &|_| None, None)
}

#[cfg(test)]
mod cache_tests;
#[cfg(test)]
mod tests;
#[cfg(test)]
mod values_tests;
