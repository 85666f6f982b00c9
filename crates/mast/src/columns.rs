//! The CAOM column configuration (`columnsconfig` for `Mast.Caom.Cone`): which criteria
//! columns exist, which are continuous (ranges) or discrete (value lists), and which carry a
//! separator. Loaded from MAST, from a persisted JSON copy, or from the built-in copy.

use serde_json::{Map, Value};

use crate::error::MastError;
use crate::suggest::closest_name;

/// The recorded answer of `columnsconfig` (see data/README.md for provenance).
const BUILTIN_COLUMNS_CONFIG: &str = include_str!("../data/columnsconfig.json");

/// How a criterion on a column is sent to MAST.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ColumnKind {
    /// A numeric column queried with `{"min": lo, "max": hi}`.
    Continuous,
    /// Any other column, queried with a list of string values (or a free-text pattern).
    Discrete,
}

/// What the client needs to know about one column.
#[derive(Debug, Clone, PartialEq)]
pub struct ColumnInfo {
    pub name: String,
    pub kind: ColumnKind,
    /// Echoed into the filter entry when present (`;` for obs_collection, filters, ...).
    pub separator: Option<String>,
    /// Human description (`vot.description`, else `text`).
    pub description: Option<String>,
    /// Hidden from metadata listings by MAST (`remove: true`).
    pub removed: bool,
}

/// The column configuration. Keeps the raw MAST object so `to_json` writes back exactly the
/// format MAST sends (and `from_json` reads either).
#[derive(Debug, Clone, PartialEq)]
pub struct ColumnConfig {
    raw: Map<String, Value>,
    columns: Vec<ColumnInfo>,
}

impl ColumnConfig {
    /// Interpret the JSON object MAST answers to `columnsconfig`.
    pub fn from_mast_value(value: Value) -> Result<Self, MastError> {
        let Value::Object(raw) = value else {
            return Err(MastError::ColumnConfig(
                "expected a JSON object keyed by column name".to_string(),
            ));
        };
        let columns = raw
            .iter()
            .map(|(name, props)| column_info(name, props))
            .collect();
        Ok(ColumnConfig { raw, columns })
    }

    /// Read a copy persisted with `to_json` (same format as MAST's answer).
    pub fn from_json(text: &str) -> Result<Self, MastError> {
        let value: Value = serde_json::from_str(text)
            .map_err(|e| MastError::ColumnConfig(format!("not valid JSON: {e}")))?;
        Self::from_mast_value(value)
    }

    /// Serialise for persisting; `from_json` reads it back.
    pub fn to_json(&self) -> String {
        // A Map of Values always serialises.
        serde_json::to_string_pretty(&self.raw).unwrap_or_default()
    }

    /// The copy recorded from MAST that ships inside the crate.
    pub fn builtin() -> Self {
        // The embedded file is tested to parse (tests::builtin_parses); an empty config would
        // only make every criterion "unknown", never crash.
        Self::from_json(BUILTIN_COLUMNS_CONFIG).unwrap_or(ColumnConfig {
            raw: Map::new(),
            columns: Vec::new(),
        })
    }

    /// Look a column up case-insensitively, as MAST's client does.
    pub fn get(&self, name: &str) -> Option<&ColumnInfo> {
        self.columns.iter().find(|c| c.name == name).or_else(|| {
            self.columns
                .iter()
                .find(|c| c.name.eq_ignore_ascii_case(name))
        })
    }

    /// The closest existing column name, for "Did you mean" messages.
    pub fn suggest(&self, name: &str) -> Option<String> {
        closest_name(name, self.columns.iter().map(|c| c.name.as_str()))
    }

    /// All columns, in the order of the configuration.
    pub fn columns(&self) -> &[ColumnInfo] {
        &self.columns
    }
}

fn column_info(name: &str, props: &Value) -> ColumnInfo {
    let text = |key: &str| props.get(key).and_then(Value::as_str);
    let datatype = text("vot.datatype")
        .or_else(|| text("type"))
        .unwrap_or("")
        .to_ascii_lowercase();
    let treat_numeric = props.get("treatNumeric").and_then(Value::as_bool) == Some(true);
    let continuous = treat_numeric || matches!(datatype.as_str(), "double" | "float" | "numeric");
    ColumnInfo {
        name: name.to_string(),
        kind: if continuous {
            ColumnKind::Continuous
        } else {
            ColumnKind::Discrete
        },
        separator: text("separator").map(str::to_string),
        description: text("vot.description")
            .or_else(|| text("text"))
            .map(str::to_string),
        removed: props.get("remove").and_then(Value::as_bool) == Some(true),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builtin_parses() {
        let cfg = ColumnConfig::from_json(BUILTIN_COLUMNS_CONFIG).unwrap();
        assert_eq!(cfg.columns().len(), 51, "columns in the recorded config");
    }

    #[test]
    fn kinds_and_separators_follow_the_recorded_config() {
        let cfg = ColumnConfig::builtin();
        let cases = [
            ("obs_collection", ColumnKind::Discrete, Some(";")),
            ("filters", ColumnKind::Discrete, Some(";")),
            ("instrument_name", ColumnKind::Discrete, None),
            ("proposal_id", ColumnKind::Discrete, None),
            ("dataRights", ColumnKind::Discrete, None),
            ("calib_level", ColumnKind::Discrete, None),
            ("obsid", ColumnKind::Discrete, None),
            ("s_ra", ColumnKind::Continuous, None),
            ("t_exptime", ColumnKind::Continuous, None),
            ("distance", ColumnKind::Continuous, None),
        ];
        for (name, kind, sep) in cases {
            let col = cfg.get(name).unwrap_or_else(|| panic!("{name} missing"));
            assert_eq!(
                (col.kind, col.separator.as_deref()),
                (kind, sep),
                "column {name}"
            );
        }
    }

    #[test]
    fn lookup_is_case_insensitive_and_suggests() {
        let cfg = ColumnConfig::builtin();
        assert_eq!(
            cfg.get("DATARIGHTS").map(|c| c.name.as_str()),
            Some("dataRights")
        );
        assert_eq!(
            cfg.suggest("instrument").as_deref(),
            Some("instrument_name")
        );
        assert_eq!(
            cfg.suggest("obs_colection").as_deref(),
            Some("obs_collection")
        );
    }

    #[test]
    fn json_round_trip_keeps_everything() {
        let cfg = ColumnConfig::builtin();
        let back = ColumnConfig::from_json(&cfg.to_json()).unwrap();
        assert_eq!(back, cfg);
    }

    #[test]
    fn treat_numeric_forces_continuous() {
        let cfg =
            ColumnConfig::from_json(r#"{"x": {"vot.datatype": "char", "treatNumeric": true}}"#)
                .unwrap();
        assert_eq!(cfg.get("x").map(|c| c.kind), Some(ColumnKind::Continuous));
    }

    #[test]
    fn non_object_is_an_error() {
        let err = ColumnConfig::from_json("[1,2]").unwrap_err();
        assert!(err.to_string().contains("JSON object"), "got: {err}");
    }
}
