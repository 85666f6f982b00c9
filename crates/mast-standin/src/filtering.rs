//! Server-side evaluation of `Mast.Caom.Filtered` filters on observation rows, as the
//! protocol notes describe MAST's semantics: entries ANDed, values within an entry ORed,
//! `{min, max}` inclusive ranges, `freeText` as an SQL LIKE pattern, `separator` columns
//! matching when any element matches, comparisons case-insensitive.

use serde_json::{Map, Value};

/// Does `row` pass every filter entry? `Err` describes a filter MAST would reject.
pub fn row_matches(row: &Map<String, Value>, filters: &[Value]) -> Result<bool, String> {
    for entry in filters {
        if !entry_matches(row, entry)? {
            return Ok(false);
        }
    }
    Ok(true)
}

fn entry_matches(row: &Map<String, Value>, entry: &Value) -> Result<bool, String> {
    let name = entry
        .get("paramName")
        .and_then(Value::as_str)
        .ok_or_else(|| format!("filter entry without paramName: {entry}"))?;
    let values = entry
        .get("values")
        .and_then(Value::as_array)
        .ok_or_else(|| format!("filter '{name}' without a values list"))?;
    let free_text = entry.get("freeText").and_then(Value::as_str);
    let separator = entry.get("separator").and_then(Value::as_str);
    if values.is_empty() && free_text.is_none() {
        return Ok(true);
    }
    let cell = row
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case(name))
        .map(|(_, v)| v);
    let Some(cell) = cell.filter(|c| !c.is_null()) else {
        return Ok(false);
    };
    let text = match cell {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    };
    let elements: Vec<String> = match separator {
        Some(sep) if !sep.is_empty() => text.split(sep).map(|e| e.trim().to_lowercase()).collect(),
        _ => vec![text.trim().to_lowercase()],
    };
    for value in values {
        let hit = match value {
            Value::Object(range) => {
                let bound = |key: &str| range.get(key).and_then(Value::as_f64);
                let (Some(min), Some(max)) = (bound("min"), bound("max")) else {
                    return Err(format!(
                        "filter '{name}': range needs numeric min and max, got {value}"
                    ));
                };
                let x = match cell {
                    Value::Number(n) => n.as_f64(),
                    Value::String(s) => s.trim().parse().ok(),
                    _ => None,
                };
                x.is_some_and(|x| min <= x && x <= max)
            }
            Value::String(s) => elements.contains(&s.trim().to_lowercase()),
            other => {
                return Err(format!(
                    "filter '{name}': values must be strings or ranges, got {other}"
                ))
            }
        };
        if hit {
            return Ok(true);
        }
    }
    Ok(free_text.is_some_and(|pattern| elements.iter().any(|e| like(&pattern.to_lowercase(), e))))
}

/// SQL LIKE: `%` any run of characters, `_` exactly one.
fn like(pattern: &str, text: &str) -> bool {
    let p: Vec<char> = pattern.chars().collect();
    let t: Vec<char> = text.chars().collect();
    // matched[j] = pattern prefix so far matches text prefix of length j.
    let mut matched = vec![false; t.len() + 1];
    matched[0] = true;
    for &pc in &p {
        let mut next = vec![false; t.len() + 1];
        if pc == '%' {
            let mut any = false;
            for j in 0..=t.len() {
                any |= matched[j];
                next[j] = any;
            }
        } else {
            for j in 0..t.len() {
                next[j + 1] = matched[j] && (pc == '_' || pc == t[j]);
            }
        }
        matched = next;
    }
    matched[t.len()]
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn row() -> Map<String, Value> {
        json!({"obs_collection": "HST", "filters": "F606W;F814W", "s_ra": 10.5, "proposal_pi": "Osten", "obsid": 5})
            .as_object()
            .unwrap()
            .clone()
    }

    #[test]
    fn semantics() {
        let cases = [
            (
                json!([{"paramName": "obs_collection", "values": ["hst"]}]),
                true,
            ),
            (
                json!([{"paramName": "obs_collection", "values": ["JWST", "HST"]}]),
                true,
            ),
            (
                json!([{"paramName": "filters", "separator": ";", "values": ["F814W"]}]),
                true,
            ),
            (
                json!([{"paramName": "filters", "values": ["F814W"]}]),
                false,
            ),
            (
                json!([{"paramName": "s_ra", "values": [{"min": 10, "max": 11}]}]),
                true,
            ),
            (
                json!([{"paramName": "s_ra", "values": [{"min": 11, "max": 12}]}]),
                false,
            ),
            (
                json!([{"paramName": "proposal_pi", "values": [], "freeText": "Ost%"}]),
                true,
            ),
            (
                json!([{"paramName": "proposal_pi", "values": [], "freeText": "O_ten"}]),
                true,
            ),
            (
                json!([{"paramName": "proposal_pi", "values": [], "freeText": "x%"}]),
                false,
            ),
            (json!([{"paramName": "obsid", "values": ["5"]}]), true),
            (json!([{"paramName": "missing", "values": ["5"]}]), false),
            (
                json!([{"paramName": "obs_collection", "values": ["HST"]}, {"paramName": "obsid", "values": ["6"]}]),
                false,
            ),
        ];
        for (filters, want) in cases {
            let got = row_matches(&row(), filters.as_array().unwrap()).unwrap();
            assert_eq!(got, want, "filters {filters}");
        }
    }

    #[test]
    fn bad_filters_are_reported() {
        let err = row_matches(&row(), json!([{"values": []}]).as_array().unwrap()).unwrap_err();
        assert!(err.contains("paramName"), "got {err}");
    }
}
