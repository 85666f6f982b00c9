//! MAST's name resolver (`/Santa-war/query`) answered from astroquery's recorded
//! `resolver.json`, and the cone of `Mast.Caom.Filtered.Position` applied to observation rows
//! by their `s_ra`/`s_dec`.

use serde_json::{json, Map, Value};

/// The resolver's query path.
pub const RESOLVER_PATH: &str = "/Santa-war/query";

const RESOLVER_JSON: &str = include_str!("../fixtures/resolver.json");

/// The recorded answers for `name` (matched as the resolver does, case-insensitively): all
/// of them with `resolve_all`, else the first; none for an unknown name.
pub fn answer(name: &str, resolve_all: bool) -> Value {
    let recorded: Value = serde_json::from_str(RESOLVER_JSON).unwrap_or_default();
    let wanted = name.trim().to_lowercase();
    let mut matches: Vec<Value> = recorded["resolvedCoordinate"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|c| c["searchString"].as_str() == Some(wanted.as_str()))
        .cloned()
        .collect();
    if !resolve_all {
        matches.truncate(1);
    }
    json!({"resolvedCoordinate": matches, "status": ""})
}

/// A search cone in degrees.
pub struct Cone {
    ra: f64,
    dec: f64,
    radius: f64,
}

/// `params.position`: "<ra>, <dec>, <radius>" in degrees.
pub fn parse_cone(position: &Value) -> Result<Cone, String> {
    let text = position.as_str().unwrap_or_default();
    let numbers: Vec<f64> = text
        .split(',')
        .map(|p| p.trim().parse::<f64>())
        .collect::<Result<_, _>>()
        .map_err(|_| format!("position '{text}' is not 'ra, dec, radius'"))?;
    match numbers.as_slice() {
        [ra, dec, radius] => Ok(Cone {
            ra: *ra,
            dec: *dec,
            radius: *radius,
        }),
        _ => Err(format!("position '{text}' is not 'ra, dec, radius'")),
    }
}

impl Cone {
    /// Whether the row's `s_ra`/`s_dec` lie within the cone (great-circle distance).
    pub fn contains(&self, row: &Map<String, Value>) -> bool {
        let (Some(ra), Some(dec)) = (row["s_ra"].as_f64(), row["s_dec"].as_f64()) else {
            return false;
        };
        let (ra1, dec1, ra2, dec2) = (
            self.ra.to_radians(),
            self.dec.to_radians(),
            ra.to_radians(),
            dec.to_radians(),
        );
        let cos = dec1.sin() * dec2.sin() + dec1.cos() * dec2.cos() * (ra1 - ra2).cos();
        cos.clamp(-1.0, 1.0).acos().to_degrees() <= self.radius
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recorded_names_resolve_case_insensitively() {
        let m101 = answer("M101", false);
        let first = &m101["resolvedCoordinate"][0];
        assert_eq!(first["searchString"], "m101", "{m101}");
        assert!(first["ra"]
            .as_f64()
            .is_some_and(|ra| (ra - 210.8).abs() < 0.1));
        assert_eq!(m101["resolvedCoordinate"].as_array().map(Vec::len), Some(1));
        assert_eq!(
            answer("no such thing", true)["resolvedCoordinate"],
            json!([])
        );
    }

    #[test]
    fn cone_contains_by_great_circle_distance() {
        let cone = parse_cone(&json!("53.1, -27.8, 0.1")).unwrap();
        let row = |ra: f64, dec: f64| {
            json!({"s_ra": ra, "s_dec": dec})
                .as_object()
                .cloned()
                .unwrap()
        };
        assert!(cone.contains(&row(53.15, -27.8)));
        assert!(!cone.contains(&row(210.8, 54.35)));
        assert!(parse_cone(&json!("1, 2")).is_err());
    }
}
