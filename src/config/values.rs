//! The human spellings of values in flags, environment and file: sizes, durations and
//! timeouts, octal modes, booleans; each error says what to write instead.

use std::time::Duration;

use super::model::ConfigError;

/// `512MiB`, `2G`, `1.5GiB`, `4096`, `64 KiB`. Every unit is binary, however it is written
/// (as in rclone): `K`, `KB` and `KiB` are 1024 bytes, `M`, `MB`, `MiB` 1024², and so on
/// up to `P`.
pub fn parse_size(s: &str) -> Result<u64, String> {
    let bad = |why: &str| format!("'{s}' is not a size ({why}); write e.g. 512M, 1G or 4096");
    let text = s.trim();
    let split = text
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let shift = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 0,
        "k" | "kb" | "kib" => 10,
        "m" | "mb" | "mib" => 20,
        "g" | "gb" | "gib" => 30,
        "t" | "tb" | "tib" => 40,
        "p" | "pb" | "pib" => 50,
        _ => return Err(bad("units are B, K, M, G, T, P, binary")),
    };
    let unit_bytes = 1u64 << shift;
    if number.is_empty() {
        return Err(bad("no number"));
    }
    if !number.contains('.') {
        return number
            .parse::<u64>()
            .ok()
            .and_then(|n| n.checked_mul(unit_bytes))
            .ok_or_else(|| bad("too large"));
    }
    if shift == 0 {
        return Err(bad("a fraction of a byte"));
    }
    let value: f64 = number.parse().map_err(|_| bad("not a number"))?;
    let bytes = (value * unit_bytes as f64).floor();
    if !bytes.is_finite() || bytes >= u64::MAX as f64 {
        return Err(bad("too large"));
    }
    Ok(bytes as u64)
}

/// `10m`, `1d`, `30s`, `1h 30m`.
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    humantime::parse_duration(s.trim())
        .map_err(|e| format!("'{s}' is not a duration ({e}); write e.g. 30s, 10m, 1h or 1d"))
}

/// A timeout longer than this is a typo, and would overflow the clock arithmetic.
const MAX_TIMEOUT: Duration = Duration::from_secs(24 * 3600);

pub(super) fn timeout_or(
    what: &str,
    value: &Option<String>,
    default: &str,
) -> Result<Duration, ConfigError> {
    let timeout = duration_or(what, value, default)?;
    if timeout > MAX_TIMEOUT {
        return Err(ConfigError::Invalid(format!(
            "{what}: {} is too long; at most {}",
            humantime::format_duration(timeout),
            humantime::format_duration(MAX_TIMEOUT)
        )));
    }
    Ok(timeout)
}

pub(super) fn size_or(
    what: &str,
    value: &Option<String>,
    default: &str,
) -> Result<u64, ConfigError> {
    parse_size(value.as_deref().unwrap_or(default))
        .map_err(|e| ConfigError::Invalid(format!("{what}: {e}")))
}

pub(super) fn duration_or(
    what: &str,
    value: &Option<String>,
    default: &str,
) -> Result<Duration, ConfigError> {
    parse_duration(value.as_deref().unwrap_or(default))
        .map_err(|e| ConfigError::Invalid(format!("{what}: {e}")))
}

/// Octal permission bits (`444`, `0440`, `0o555`); write bits are refused, since the mount
/// is read-only and a mode that promises writes would only mislead.
pub fn parse_mode(s: &str) -> Result<u16, String> {
    let digits = s.trim();
    let digits = digits.strip_prefix("0o").unwrap_or(digits);
    let mode = u16::from_str_radix(digits, 8)
        .ok()
        .filter(|m| *m <= 0o777)
        .ok_or_else(|| format!("'{s}' is not an octal mode; write e.g. 0444 or 0440"))?;
    if mode & 0o222 != 0 {
        return Err(format!(
            "mode '{s}' has write bits, but the mount is read-only; write e.g. 0444 or 0555"
        ));
    }
    Ok(mode)
}

pub(super) fn mode_or(
    what: &str,
    value: &Option<String>,
    default: u16,
) -> Result<u16, ConfigError> {
    match value {
        None => Ok(default),
        Some(v) => parse_mode(v).map_err(|e| ConfigError::Invalid(format!("{what}: {e}"))),
    }
}

pub(super) fn truthy(v: &str) -> bool {
    matches!(v.to_ascii_lowercase().as_str(), "1" | "true" | "yes" | "on")
}
