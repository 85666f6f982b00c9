//! Observation criteria: parsed from `key=value` arguments or a config map, validated
//! against the column configuration, and turned into the `filters` list of
//! `Mast.Caom.Filtered` (ranges for continuous columns, string lists for discrete ones,
//! separators echoed, `*` wildcards as `freeText`).

use serde::{Deserialize, Serialize};
use serde_json::{Map, Number, Value};

use crate::columns::{ColumnConfig, ColumnKind};
use crate::error::QueryError;
use crate::position::{Position, PositionalArgs, Target};
use crate::values::{parse_range, scalars_from_json, split_key_value, split_list, Scalar};
use crate::wire::WireJson;

/// The value of one criterion, before the column configuration says how to send it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CriterionValue {
    /// One or more values (`key=a,b`, a string, a number or a list).
    Values(Vec<Scalar>),
    /// `key=lo..hi`.
    Range { min: Number, max: Number },
}

/// One `column=value` criterion; `column` is kept as the user typed it (MAST gets it so).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Criterion {
    pub column: String,
    pub value: CriterionValue,
}

/// All criteria of a query, in the user's order (MAST ANDs them), and the cone to search
/// in when a positional criterion is given.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Criteria {
    pub entries: Vec<Criterion>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub position: Option<Position>,
}

impl Criteria {
    /// Parse command-line style arguments: `key=value`, `key=a,b`, `key=lo..hi`.
    pub fn from_args(args: &[String]) -> Result<Self, QueryError> {
        let mut criteria = Criteria::default();
        let mut positional = PositionalArgs::default();
        for arg in args {
            let (key, text) = split_key_value(arg)?;
            if positional.take(&key, &text)? {
                continue;
            }
            let value = match parse_range(&text) {
                Some((min, max)) => CriterionValue::Range { min, max },
                None => CriterionValue::Values(
                    split_list(&text).into_iter().map(Scalar::Text).collect(),
                ),
            };
            criteria.push(key, value)?;
        }
        criteria.position = positional.finish()?;
        Ok(criteria)
    }

    /// Read a config map: column → string | number | list of strings/numbers. Strings use the
    /// command-line syntax; a two-number list on a continuous column is a range.
    pub fn from_json_map(map: &Map<String, Value>) -> Result<Self, QueryError> {
        let mut criteria = Criteria::default();
        let mut positional = PositionalArgs::default();
        for (key, value) in map {
            let scalars = scalars_from_json(key, value)?;
            // A position is one value: "210.8 54.35", a name, a radius with its unit.
            let text = scalars
                .iter()
                .map(Scalar::as_text)
                .collect::<Vec<_>>()
                .join(" ");
            if positional.take(key.trim(), &text)? {
                continue;
            }
            let value = match scalars.as_slice() {
                [Scalar::Text(text)] => match parse_range(text) {
                    Some((min, max)) => CriterionValue::Range { min, max },
                    None => CriterionValue::Values(scalars),
                },
                _ => CriterionValue::Values(scalars),
            };
            criteria.push(key.trim().to_string(), value)?;
        }
        criteria.position = positional.finish()?;
        Ok(criteria)
    }

    fn push(&mut self, column: String, value: CriterionValue) -> Result<(), QueryError> {
        if self
            .entries
            .iter()
            .any(|c| c.column.eq_ignore_ascii_case(&column))
        {
            return Err(QueryError::DuplicateCriterion { name: column });
        }
        if matches!(&value, CriterionValue::Values(v) if v.is_empty()) {
            return Err(QueryError::EmptyValue { key: column });
        }
        // Sent as it is, `!F606W` would ask MAST for a filter literally named "!F606W".
        if let CriterionValue::Values(values) = &value {
            if let Some(negated) = values.iter().find(|v| v.as_text().trim().starts_with('!')) {
                return Err(QueryError::NegationNotSupported {
                    name: column,
                    value: negated.as_text(),
                });
            }
        }
        self.entries.push(Criterion { column, value });
        Ok(())
    }

    /// Check every criterion against the column configuration.
    pub fn validate(&self, columns: &ColumnConfig) -> Result<(), QueryError> {
        self.filter_entries(columns).map(|_| ())
    }

    /// The `filters` list exactly as sent to `Mast.Caom.Filtered` (key order lost).
    pub fn filters_json(&self, columns: &ColumnConfig) -> Result<Value, QueryError> {
        Ok(WireJson::Arr(self.filter_entries(columns)?).to_value())
    }

    /// The `filters` list in wire order.
    pub(crate) fn filter_entries(
        &self,
        columns: &ColumnConfig,
    ) -> Result<Vec<WireJson>, QueryError> {
        if self.entries.is_empty() {
            return Err(QueryError::NoCriteria);
        }
        self.entries
            .iter()
            .map(|c| filter_entry(c, columns))
            .collect()
    }

    /// Back to command-line form, one argument per criterion.
    pub fn to_args(&self) -> Vec<String> {
        let position = self.position.iter().flat_map(|p| {
            let target = match &p.target {
                Target::Coordinates { ra, dec } => format!("coordinates={ra} {dec}"),
                Target::ObjectName(name) => format!("objectname={name}"),
            };
            [target, format!("radius={}", p.radius_deg)]
        });
        self.entries
            .iter()
            .map(|c| match &c.value {
                CriterionValue::Range { min, max } => format!("{}={min}..{max}", c.column),
                CriterionValue::Values(values) => format!(
                    "{}={}",
                    c.column,
                    values
                        .iter()
                        .map(Scalar::as_text)
                        .collect::<Vec<_>>()
                        .join(",")
                ),
            })
            .chain(position)
            .collect()
    }
}

fn filter_entry(criterion: &Criterion, columns: &ColumnConfig) -> Result<WireJson, QueryError> {
    let name = criterion.column.as_str();
    let Some(column) = columns.get(name) else {
        return Err(QueryError::UnknownFilter {
            name: name.to_string(),
            suggestion: columns.suggest(name),
        });
    };
    let mut entry = vec![("paramName".to_string(), WireJson::str(name))];
    if let Some(separator) = &column.separator {
        entry.push(("separator".to_string(), WireJson::str(separator.clone())));
    }
    match column.kind {
        ColumnKind::Continuous => {
            let (min, max) = continuous_range(name, &criterion.value)?;
            let range = WireJson::obj([("min", WireJson::Num(min)), ("max", WireJson::Num(max))]);
            entry.push(("values".to_string(), WireJson::Arr(vec![range])));
        }
        ColumnKind::Discrete => {
            let CriterionValue::Values(values) = &criterion.value else {
                return Err(QueryError::RangeOnDiscrete {
                    name: name.to_string(),
                });
            };
            let texts: Vec<String> = values.iter().map(Scalar::as_text).collect();
            let (wildcards, plain): (Vec<String>, Vec<String>) = texts
                .into_iter()
                .partition(|v| v.contains('*') || v.contains('%'));
            if wildcards.len() > 1 {
                return Err(QueryError::SeveralWildcards {
                    name: name.to_string(),
                    values: wildcards,
                });
            }
            entry.push((
                "values".to_string(),
                WireJson::Arr(plain.into_iter().map(WireJson::Str).collect()),
            ));
            if let Some(pattern) = wildcards.first() {
                entry.push((
                    "freeText".to_string(),
                    WireJson::str(pattern.replace('*', "%")),
                ));
            }
        }
    }
    Ok(WireJson::Obj(entry))
}

/// A continuous column takes `lo..hi` or exactly two numbers.
fn continuous_range(name: &str, value: &CriterionValue) -> Result<(Number, Number), QueryError> {
    let values = match value {
        CriterionValue::Range { min, max } => return Ok((min.clone(), max.clone())),
        CriterionValue::Values(values) => values,
    };
    let needs_range = || QueryError::ContinuousNeedsRange {
        name: name.to_string(),
        got: describe(values),
    };
    match values.as_slice() {
        [Scalar::Text(text)] if text.contains("..") => {
            let (lo, hi) = text.split_once("..").unwrap_or((text, ""));
            let bad = [lo, hi]
                .into_iter()
                .find(|b| crate::values::parse_number(b).is_none())
                .unwrap_or(lo);
            Err(QueryError::BadRangeBound {
                name: name.to_string(),
                bound: bad.trim().to_string(),
            })
        }
        [lo, hi] => {
            let bound = |s: &Scalar| {
                s.as_number().ok_or_else(|| QueryError::BadRangeBound {
                    name: name.to_string(),
                    bound: s.as_text(),
                })
            };
            Ok((bound(lo)?, bound(hi)?))
        }
        _ => Err(needs_range()),
    }
}

fn describe(values: &[Scalar]) -> String {
    match values {
        [one] => format!("a single value '{}'", one.as_text()),
        many => format!("{} values", many.len()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn args(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn seed_filters_match_the_protocol_doc() {
        let criteria = Criteria::from_args(&args(&[
            "obs_collection=HST",
            "filters=F606W",
            "instrument_name=ACS/WFC",
            "proposal_id=12062",
            "dataRights=PUBLIC",
        ]))
        .unwrap();
        let entries = criteria.filter_entries(&ColumnConfig::builtin()).unwrap();
        let text = WireJson::Arr(entries).to_python_json();
        let want = r#"[{"paramName": "obs_collection", "separator": ";", "values": ["HST"]}, {"paramName": "filters", "separator": ";", "values": ["F606W"]}, {"paramName": "instrument_name", "values": ["ACS/WFC"]}, {"paramName": "proposal_id", "values": ["12062"]}, {"paramName": "dataRights", "values": ["PUBLIC"]}]"#;
        assert_eq!(text, want);
    }

    #[test]
    fn negated_criteria_are_refused_not_sent_as_literal_values() {
        for (criteria, what) in [
            (Criteria::from_args(&args(&["filters=!F606W"])), "args"),
            (
                Criteria::from_args(&args(&["filters=F814W,!F606W"])),
                "args list",
            ),
            (
                Criteria::from_json_map(json!({"filters": ["!F606W"]}).as_object().unwrap()),
                "config",
            ),
        ] {
            match criteria {
                Err(e @ QueryError::NegationNotSupported { .. }) => {
                    let text = e.to_string();
                    assert!(
                        text.contains("cannot exclude")
                            && text.contains("--products filters=!F606W"),
                        "{what}: the message should say what to do, got: {text}"
                    );
                }
                other => panic!("{what}: expected a refusal of '!F606W', got {other:?}"),
            }
        }
    }

    #[test]
    fn positional_keys_make_a_cone_from_args_and_config() {
        let from_args = Criteria::from_args(&args(&[
            "obs_collection=HST",
            "coordinates=210.8 54.35",
            "radius=0.5",
        ]))
        .unwrap();
        let map = json!({"obs_collection": "HST", "coordinates": [210.8, 54.35], "radius": 0.5});
        let from_map = Criteria::from_json_map(map.as_object().unwrap()).unwrap();
        let want = Some(Position {
            target: Target::Coordinates {
                ra: 210.8,
                dec: 54.35,
            },
            radius_deg: 0.5,
        });
        assert_eq!(from_args.position, want);
        assert_eq!(from_map.position, want);
        assert_eq!(
            from_args.entries.len(),
            1,
            "positions are not column filters"
        );
        let again = Criteria::from_args(&from_args.to_args()).unwrap();
        assert_eq!(again, from_args, "to_args round trip");
        let named = json!({"obs_collection": "HST", "objectname": "M101"});
        let named = Criteria::from_json_map(named.as_object().unwrap()).unwrap();
        assert_eq!(
            named.position.map(|p| p.target),
            Some(Target::ObjectName("M101".into()))
        );
    }

    #[test]
    fn config_map_gives_the_same_filters_as_args() {
        let map = json!({"obs_collection": "HST", "filters": "F606W", "instrument_name": "ACS/WFC",
                         "proposal_id": ["12062"], "dataRights": "PUBLIC"});
        let from_map = Criteria::from_json_map(map.as_object().unwrap()).unwrap();
        let cfg = ColumnConfig::builtin();
        let from_args = Criteria::from_args(&args(&[
            "obs_collection=HST",
            "filters=F606W",
            "instrument_name=ACS/WFC",
            "proposal_id=12062",
            "dataRights=PUBLIC",
        ]))
        .unwrap();
        assert_eq!(
            from_map.filters_json(&cfg).unwrap(),
            from_args.filters_json(&cfg).unwrap()
        );
    }

    #[test]
    fn ranges_numbers_and_wildcards() {
        let cfg = ColumnConfig::builtin();
        let cases: Vec<(Criteria, Value)> = vec![
            (
                Criteria::from_args(&args(&["s_dec=43.5..45.5"])).unwrap(),
                json!([{"paramName": "s_dec", "values": [{"min": 43.5, "max": 45.5}]}]),
            ),
            (
                Criteria::from_json_map(json!({"t_exptime": [10, 20]}).as_object().unwrap())
                    .unwrap(),
                json!([{"paramName": "t_exptime", "values": [{"min": 10, "max": 20}]}]),
            ),
            (
                Criteria::from_json_map(json!({"s_ra": "1..2"}).as_object().unwrap()).unwrap(),
                json!([{"paramName": "s_ra", "values": [{"min": 1, "max": 2}]}]),
            ),
            (
                Criteria::from_args(&args(&["proposal_pi=Ost*"])).unwrap(),
                json!([{"paramName": "proposal_pi", "values": [], "freeText": "Ost%"}]),
            ),
            (
                Criteria::from_args(&args(&["filters=F606W,F8*"])).unwrap(),
                json!([{"paramName": "filters", "separator": ";", "values": ["F606W"], "freeText": "F8%"}]),
            ),
            (
                Criteria::from_json_map(json!({"calib_level": [2, 3]}).as_object().unwrap())
                    .unwrap(),
                json!([{"paramName": "calib_level", "values": ["2", "3"]}]),
            ),
            (
                Criteria::from_args(&args(&["OBS_COLLECTION=HST"])).unwrap(),
                json!([{"paramName": "OBS_COLLECTION", "separator": ";", "values": ["HST"]}]),
            ),
        ];
        for (criteria, want) in cases {
            let got = criteria.filters_json(&cfg).unwrap();
            assert_eq!(got, want, "criteria {:?}", criteria.to_args());
        }
    }

    #[test]
    fn validation_messages() {
        let cfg = ColumnConfig::builtin();
        let cases: Vec<(Vec<&str>, &str)> = vec![
            (vec!["instrument=ACS/WFC"], "Filter 'instrument' does not exist. Did you mean 'instrument_name'?"),
            (vec!["s_ra=10"], "'s_ra' is a continuous column and needs a range (e.g. s_ra=10..20 or [10, 20]), got a single value '10'"),
            (vec!["s_ra=1,2,3"], "'s_ra' is a continuous column and needs a range (e.g. s_ra=10..20 or [10, 20]), got 3 values"),
            (vec!["s_ra=1..x"], "'s_ra': range bound 'x' is not a number"),
            (vec!["proposal_id=1..5"], "'proposal_id' is a discrete column; ranges (lo..hi) only work on continuous columns. Give values instead (e.g. proposal_id=a,b)"),
            (vec!["target_name=M*,N*"], "'target_name': only one wildcard value (containing * or %) is allowed per criterion, got [\"M*\", \"N*\"]"),
        ];
        for (list, want) in cases {
            let err = Criteria::from_args(&args(&list))
                .unwrap()
                .validate(&cfg)
                .unwrap_err();
            assert_eq!(err.to_string(), want, "args {list:?}");
            let named = err.in_view("v1").to_string();
            assert_eq!(named, format!("view 'v1': {want}"));
        }
    }

    #[test]
    fn parse_errors() {
        let cases: Vec<(Vec<&str>, &str)> = vec![
            (
                vec![],
                "At least one non-positional criterion must be supplied.",
            ),
            (
                vec!["radius=0.2"],
                "radius needs coordinates or objectname to search around",
            ),
            (
                vec!["a=1", "A=2"],
                "criterion 'A' is given more than once; put all its values in one list (key=a,b)",
            ),
            (vec!["a= , "], "'a' has an empty value"),
        ];
        for (list, want) in cases {
            let got = Criteria::from_args(&args(&list))
                .and_then(|c| c.validate(&ColumnConfig::builtin()))
                .unwrap_err();
            assert_eq!(got.to_string(), want, "args {list:?}");
        }
    }

    #[test]
    fn args_round_trip() {
        let list = args(&["obs_collection=HST", "s_ra=10..20", "filters=F606W,F814W"]);
        assert_eq!(Criteria::from_args(&list).unwrap().to_args(), list);
    }
}
