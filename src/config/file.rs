//! The config file's TOML schema as written (every key optional, unknown keys refused) and
//! its parsing, with line and column in syntax errors; `--view` specs become the same
//! [`FileView`] a `[[views]]` table does.

use std::path::{Path, PathBuf};

use serde::Deserialize;

use super::model::{ConfigError, ViewLayout};

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct FileConfig {
    #[serde(default)]
    pub(super) s3: FileS3,
    #[serde(default)]
    pub(super) buckets: Option<Vec<FileBucket>>,
    #[serde(default)]
    pub(super) cache: FileCache,
    #[serde(default)]
    pub(super) mast: FileMast,
    #[serde(default)]
    pub(super) views: Vec<FileView>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct FileS3 {
    pub(super) endpoint_url: Option<String>,
    pub(super) force_path_style: Option<bool>,
    pub(super) region: Option<String>,
    pub(super) connect_timeout: Option<String>,
    pub(super) timeout: Option<String>,
    pub(super) max_attempts: Option<u32>,
    pub(super) max_concurrent_requests: Option<usize>,
    pub(super) profile: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct FileBucket {
    pub(super) name: String,
    pub(super) prefix: Option<String>,
    #[serde(default)]
    pub(super) signed: bool,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct FileCache {
    pub(super) size: Option<String>,
    pub(super) block_size: Option<String>,
    pub(super) metadata_ttl: Option<String>,
    pub(super) negative_ttl: Option<String>,
    pub(super) max_readahead: Option<String>,
    /// Keep fetched blocks on disk across mounts (default: false, or true when `dir` is set).
    pub(super) disk: Option<bool>,
    pub(super) dir: Option<PathBuf>,
    pub(super) disk_size: Option<String>,
    /// Keep listings and attributes on disk for later mounts (default: false).
    pub(super) persist_metadata: Option<bool>,
    pub(super) metadata_dir: Option<PathBuf>,
    /// FUSE passthrough for objects wholly on disk (default: true).
    pub(super) passthrough: Option<bool>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct FileMast {
    pub(super) url: Option<String>,
    pub(super) wait: Option<String>,
    pub(super) timeout: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct FileView {
    pub(super) name: String,
    pub(super) criteria: toml::Table,
    #[serde(default)]
    pub(super) products: toml::Table,
    pub(super) bucket: Option<String>,
    pub(super) layout: Option<ViewLayout>,
    pub(super) refresh: Option<String>,
}

/// Parses config text; the message of a syntax error carries line and column.
pub(super) fn parse_file(text: &str, path: &Path) -> Result<FileConfig, ConfigError> {
    toml::from_str(text).map_err(|e| {
        let mut message = e.message().to_string();
        if let Some(span) = e.span() {
            let (line, col) = line_col(text, span.start);
            message = format!("line {line}, column {col}: {message}");
        }
        ConfigError::Parse {
            path: path.to_path_buf(),
            message,
        }
    })
}

fn line_col(text: &str, offset: usize) -> (usize, usize) {
    let before = &text[..offset.min(text.len())];
    let line = before.matches('\n').count() + 1;
    let col = before.len() - before.rfind('\n').map(|i| i + 1).unwrap_or(0) + 1;
    (line, col)
}

/// `NAME CRITERION... [--products FILTER...]`: the `mastfs query` syntax with a name first.
/// A value with commas becomes a list, as on the command line.
pub(super) fn parse_view_spec(spec: &str) -> Result<FileView, ConfigError> {
    let mut words = spec.split_whitespace();
    let name = words.next().ok_or_else(|| {
        ConfigError::Invalid(
            "--view needs a name and criteria: --view \"NAME column=value ...\"".into(),
        )
    })?;
    let mut criteria = toml::Table::new();
    let mut products = toml::Table::new();
    let mut in_products = false;
    for word in words {
        if word == "--products" {
            in_products = true;
            continue;
        }
        let (key, value) = word.split_once('=').ok_or_else(|| {
            ConfigError::Invalid(format!("--view {name}: '{word}' is not column=value"))
        })?;
        let value = if value.contains(',') {
            toml::Value::Array(
                value
                    .split(',')
                    .map(|v| toml::Value::String(v.to_string()))
                    .collect(),
            )
        } else {
            toml::Value::String(value.to_string())
        };
        let table = if in_products {
            &mut products
        } else {
            &mut criteria
        };
        table.insert(key.to_string(), value);
    }
    Ok(FileView {
        name: name.to_string(),
        criteria,
        products,
        bucket: None,
        layout: None,
        refresh: None,
    })
}
