//! Positional criteria as `Observations.query_criteria` takes them: `coordinates` (decimal
//! degrees or sexagesimal), `objectname`/`object_name` (resolved by MAST's name resolver
//! service), `radius` (degrees unless a unit says otherwise; 0.2° by default). With one,
//! the observation query is `Mast.Caom.Filtered.Position` with
//! `position: "<ra>, <dec>, <radius>"` in degrees.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::error::{MastError, QueryError};
use crate::transport::{Deadline, HttpRequest, Transport};
use crate::wire::percent_encode;

/// astroquery's default search radius, in degrees.
pub const DEFAULT_RADIUS_DEG: f64 = 0.2;
/// The name resolver's query path (under the resolver's base URL).
pub const RESOLVER_PATH: &str = "/Santa-war/query";

/// Where to search.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Target {
    Coordinates { ra: f64, dec: f64 },
    ObjectName(String),
}

/// A cone: a target and a radius in degrees.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Position {
    pub target: Target,
    pub radius_deg: f64,
}

/// The positional keys as the user gave them, gathered before they make a [`Position`].
#[derive(Debug, Default)]
pub(crate) struct PositionalArgs {
    coordinates: Option<String>,
    object_name: Option<String>,
    radius: Option<String>,
}

impl PositionalArgs {
    /// Takes `key=value` if `key` is positional; false for any other key.
    pub(crate) fn take(&mut self, key: &str, value: &str) -> Result<bool, QueryError> {
        let slot = match key.to_ascii_lowercase().as_str() {
            "coordinates" => &mut self.coordinates,
            "objectname" | "object_name" => &mut self.object_name,
            "radius" => &mut self.radius,
            _ => return Ok(false),
        };
        if slot.is_some() {
            return Err(QueryError::DuplicateCriterion {
                name: key.to_string(),
            });
        }
        *slot = Some(value.trim().to_string());
        Ok(true)
    }

    pub(crate) fn finish(self) -> Result<Option<Position>, QueryError> {
        let radius_deg = match &self.radius {
            Some(text) => parse_radius(text)?,
            None => DEFAULT_RADIUS_DEG,
        };
        let target = match (self.coordinates, self.object_name) {
            (Some(_), Some(_)) => return Err(QueryError::NameAndCoordinates),
            (Some(text), None) => {
                let (ra, dec) = parse_coordinates(&text)?;
                Target::Coordinates { ra, dec }
            }
            (None, Some(name)) => Target::ObjectName(name),
            (None, None) if self.radius.is_some() => return Err(QueryError::RadiusWithoutTarget),
            (None, None) => return Ok(None),
        };
        Ok(Some(Position { target, radius_deg }))
    }
}

/// `params.position` of `Mast.Caom.Filtered.Position`, as astroquery writes it.
pub fn wire_position(ra: f64, dec: f64, radius_deg: f64) -> String {
    format!("{ra}, {dec}, {radius_deg}")
}

/// "210.8 54.35", "210.8,54.35", "14:03:12.6 +54:20:56", "14h03m12.6s +54d20m56s": RA and
/// Dec in degrees.
pub fn parse_coordinates(text: &str) -> Result<(f64, f64), QueryError> {
    let bad = || QueryError::BadCoordinates {
        text: text.to_string(),
    };
    let parts: Vec<&str> = text
        .split(|c: char| c.is_whitespace() || c == ',')
        .filter(|p| !p.is_empty())
        .collect();
    let [ra, dec] = parts.as_slice() else {
        return Err(bad());
    };
    let sexagesimal = |p: &str| p.contains([':', 'h', 'd', 'm', 's']);
    let (ra, dec) = if sexagesimal(ra) || sexagesimal(dec) {
        (
            sexagesimal_value(ra).ok_or_else(bad)? * 15.0,
            sexagesimal_value(dec).ok_or_else(bad)?,
        )
    } else {
        (
            ra.trim_end_matches("deg")
                .parse::<f64>()
                .map_err(|_| bad())?,
            dec.trim_end_matches("deg")
                .parse::<f64>()
                .map_err(|_| bad())?,
        )
    };
    if !(0.0..360.0).contains(&ra) || !(-90.0..=90.0).contains(&dec) {
        return Err(bad());
    }
    Ok((ra, dec))
}

/// "14:03:12.6", "14h03m12.6s", "+54d20m56s", "-05:23:28": the value in hours or degrees.
fn sexagesimal_value(text: &str) -> Option<f64> {
    let (sign, body) = match text.strip_prefix('-') {
        Some(rest) => (-1.0, rest),
        None => (1.0, text.strip_prefix('+').unwrap_or(text)),
    };
    let fields: Vec<&str> = body
        .split([':', 'h', 'd', 'm', 's'])
        .filter(|f| !f.is_empty())
        .collect();
    if fields.is_empty() || fields.len() > 3 {
        return None;
    }
    let mut value = 0.0;
    for (i, field) in fields.iter().enumerate() {
        let number: f64 = field.parse().ok()?;
        if i > 0 && !(0.0..60.0).contains(&number) {
            return None;
        }
        value += number / 60f64.powi(i as i32);
    }
    Some(sign * value)
}

/// "0.2", "0.2 deg", "12 arcmin", "30arcsec": degrees.
pub fn parse_radius(text: &str) -> Result<f64, QueryError> {
    let bad = || QueryError::BadRadius {
        text: text.to_string(),
    };
    let t = text.trim();
    let split = t
        .find(|c: char| c.is_ascii_alphabetic() || c == '\'' || c == '"')
        .unwrap_or(t.len());
    let (number, unit) = t.split_at(split);
    let number: f64 = number.trim().parse().map_err(|_| bad())?;
    let degrees = match unit.trim() {
        "" | "d" | "deg" | "degree" | "degrees" => number,
        "arcmin" | "m" | "'" => number / 60.0,
        "arcsec" | "s" | "\"" => number / 3600.0,
        _ => return Err(bad()),
    };
    if !degrees.is_finite() || degrees <= 0.0 || degrees > 180.0 {
        return Err(bad());
    }
    Ok(degrees)
}

/// RA and Dec of `name` from MAST's name resolver at `base` (its first answer, as
/// astroquery takes it).
pub(crate) async fn resolve_name(
    transport: &Transport,
    base: &str,
    name: &str,
    deadline: Deadline,
) -> Result<(f64, f64), MastError> {
    let url = format!("{base}{RESOLVER_PATH}");
    let query = format!(
        "name={}&outputFormat=json&resolveAll=false",
        percent_encode(name, false)
    );
    let what = "name resolver";
    let body = transport
        .exchange(what, &url, &HttpRequest::Get { query }, deadline)
        .await?;
    let answer: Value = serde_json::from_slice(&body).map_err(|e| MastError::Malformed {
        what: what.to_string(),
        detail: format!("not valid JSON ({e})"),
    })?;
    let first = answer["resolvedCoordinate"]
        .as_array()
        .and_then(|list| list.first());
    match first.map(|c| (c["ra"].as_f64(), c["decl"].as_f64())) {
        Some((Some(ra), Some(dec))) => Ok((ra, dec)),
        _ => Err(MastError::NameNotResolved {
            name: name.to_string(),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn coordinates_in_degrees_and_sexagesimal() {
        assert_eq!(parse_coordinates("210.8 54.35"), Ok((210.8, 54.35)));
        assert_eq!(parse_coordinates("210.8, -54.35"), Ok((210.8, -54.35)));
        let (ra, dec) = parse_coordinates("14:03:12.6 +54:20:56").unwrap();
        assert!(
            (ra - 210.8025).abs() < 1e-9 && (dec - 54.348_888_9).abs() < 1e-6,
            "{ra} {dec}"
        );
        let (ra2, dec2) = parse_coordinates("14h03m12.6s +54d20m56s").unwrap();
        assert!(
            (ra2 - ra).abs() < 1e-9 && (dec2 - dec).abs() < 1e-9,
            "{ra2} {dec2}"
        );
        for bad in ["210.8", "abc def", "400 10", "10 95", "1 2 3"] {
            assert!(
                matches!(
                    parse_coordinates(bad),
                    Err(QueryError::BadCoordinates { .. })
                ),
                "{bad:?} should be refused"
            );
        }
    }

    #[test]
    fn radius_units() {
        assert_eq!(parse_radius("0.2"), Ok(0.2));
        assert_eq!(parse_radius("0.5 deg"), Ok(0.5));
        assert_eq!(parse_radius("12 arcmin"), Ok(0.2));
        assert_eq!(parse_radius("36arcsec"), Ok(0.01));
        for bad in ["-1", "0", "5 parsec", "x"] {
            assert!(parse_radius(bad).is_err(), "{bad:?} should be refused");
        }
    }

    #[test]
    fn one_target_and_a_radius_only_with_one() {
        let mut both = PositionalArgs::default();
        assert_eq!(both.take("coordinates", "1 2"), Ok(true));
        assert_eq!(both.take("objectname", "M101"), Ok(true));
        assert_eq!(both.finish(), Err(QueryError::NameAndCoordinates));
        let mut radius = PositionalArgs::default();
        assert_eq!(radius.take("radius", "1"), Ok(true));
        assert_eq!(radius.finish(), Err(QueryError::RadiusWithoutTarget));
        let mut name = PositionalArgs::default();
        assert_eq!(name.take("obs_collection", "HST"), Ok(false));
        assert_eq!(name.take("object_name", "M101"), Ok(true));
        assert_eq!(
            name.finish(),
            Ok(Some(Position {
                target: Target::ObjectName("M101".into()),
                radius_deg: DEFAULT_RADIUS_DEG
            }))
        );
        assert_eq!(wire_position(210.8, 54.35, 0.2), "210.8, 54.35, 0.2");
    }
}
