//! Names and addresses checked before a mount: bucket names (S3's rules and the names
//! mastfs reserves), bucket specs with a prefix, view names, the S3 endpoint URL.

use super::model::{BucketConfig, ConfigError, VIEWS_DIR};

/// `NAME` or `NAME/PREFIX` or `s3://NAME/PREFIX`.
pub fn parse_bucket_spec(spec: &str, signed: bool) -> Result<BucketConfig, ConfigError> {
    let spec = spec.strip_prefix("s3://").unwrap_or(spec);
    let (name, prefix) = match spec.split_once('/') {
        Some((n, p)) => (n, p.trim_start_matches('/')),
        None => (spec, ""),
    };
    validate_bucket_name(name)?;
    let prefix = if prefix.is_empty() {
        None
    } else if prefix.ends_with('/') {
        Some(prefix.to_string())
    } else {
        Some(format!("{prefix}/"))
    };
    Ok(BucketConfig {
        name: name.to_string(),
        prefix,
        signed,
    })
}

/// S3's bucket naming rules (3-63 characters of a-z, 0-9, '.', '-', starting and ending
/// with a letter or digit, not an IP address), plus the names mastfs reserves.
pub fn validate_bucket_name(name: &str) -> Result<(), ConfigError> {
    if name == VIEWS_DIR {
        return Err(ConfigError::Invalid(format!(
            "a bucket cannot be named '{VIEWS_DIR}': MOUNTPOINT/{VIEWS_DIR}/ holds the MAST views"
        )));
    }
    let valid_chars = name
        .bytes()
        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'.' || b == b'-');
    let ends_ok = name
        .bytes()
        .next()
        .zip(name.bytes().last())
        .is_some_and(|(a, z)| a.is_ascii_alphanumeric() && z.is_ascii_alphanumeric());
    let is_ip = name.split('.').count() == 4 && name.split('.').all(|p| p.parse::<u8>().is_ok());
    if !(3..=63).contains(&name.len()) || !valid_chars || !ends_ok || is_ip || name.contains("..") {
        return Err(ConfigError::Invalid(format!(
            "'{name}' is not a valid S3 bucket name (3-63 characters: lowercase letters, digits, \
             '.' and '-', starting and ending with a letter or digit)"
        )));
    }
    Ok(())
}

/// A view name becomes a directory name: it must be one.
pub fn validate_view_name(name: &str) -> Result<(), ConfigError> {
    if name.is_empty()
        || name == "."
        || name == ".."
        || name.contains('/')
        || name.contains('\0')
        || name.len() > 255
    {
        return Err(ConfigError::Invalid(format!(
            "view name '{name}' cannot be a directory name (no '/', not empty, '.' or '..', at most 255 bytes)"
        )));
    }
    Ok(())
}

/// The S3 endpoint must be an http(s) URL with a host: an empty or mistyped one would
/// mount a tree where every access fails.
pub(super) fn validate_endpoint_url(url: &str) -> Result<(), ConfigError> {
    let parsed = url::Url::parse(url.trim());
    let ok = parsed.as_ref().is_ok_and(|u| {
        matches!(u.scheme(), "http" | "https") && u.host_str().is_some_and(|h| !h.is_empty())
    });
    if ok {
        return Ok(());
    }
    let why = match parsed {
        Err(e) => e.to_string(),
        Ok(u) => format!("scheme '{}' or no host", u.scheme()),
    };
    Err(ConfigError::Invalid(format!(
        "s3.endpoint_url '{url}' is not an http(s) URL ({why}); write e.g. \
         https://s3.us-east-1.amazonaws.com or http://127.0.0.1:9000, or leave it out for AWS"
    )))
}
