//! The shared value syntax of criteria and product filters, for command-line arguments and
//! for config maps: `key=value`, `key=a,b` (several values), `key=lo..hi` (a range), and the
//! JSON/TOML forms string | number | list of strings/numbers.

use serde::{Deserialize, Serialize};
use serde_json::{Number, Value};

use crate::error::QueryError;

/// One value as the user wrote it: numbers from a config stay numbers.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Scalar {
    Number(Number),
    Text(String),
}

impl Scalar {
    /// The string MAST gets for a discrete column (`12062` → `"12062"`).
    pub fn as_text(&self) -> String {
        match self {
            Scalar::Number(n) => n.to_string(),
            Scalar::Text(s) => s.clone(),
        }
    }

    /// The value as a number, when it is one or is text that reads as one.
    pub fn as_number(&self) -> Option<Number> {
        match self {
            Scalar::Number(n) => Some(n.clone()),
            Scalar::Text(s) => parse_number(s),
        }
    }
}

/// Parse decimal text as a JSON number, integers kept integral (`10` → 10, `1.5` → 1.5).
pub fn parse_number(text: &str) -> Option<Number> {
    let text = text.trim();
    if let Ok(i) = text.parse::<i64>() {
        return Some(Number::from(i));
    }
    text.parse::<f64>()
        .ok()
        .filter(|f| f.is_finite())
        .and_then(Number::from_f64)
}

/// Split `key=value` at the first `=`, trimming the key.
pub fn split_key_value(arg: &str) -> Result<(String, String), QueryError> {
    match arg.split_once('=') {
        Some((key, value)) if !key.trim().is_empty() => {
            let key = key.trim().to_string();
            if value.trim().is_empty() {
                return Err(QueryError::EmptyValue { key });
            }
            Ok((key, value.to_string()))
        }
        _ => Err(QueryError::NotKeyValue {
            arg: arg.to_string(),
        }),
    }
}

/// Split a textual value at commas (`a,b` → two values), trimming each and dropping empty
/// pieces (so a trailing comma is harmless).
pub fn split_list(text: &str) -> Vec<String> {
    text.split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_string)
        .collect()
}

/// Read `lo..hi` when both ends are numbers.
pub fn parse_range(text: &str) -> Option<(Number, Number)> {
    let (lo, hi) = text.split_once("..")?;
    Some((parse_number(lo)?, parse_number(hi)?))
}

/// Turn one config value (string | number | bool | list of those) into scalars. Strings
/// follow the command-line syntax (commas separate values); list items are taken literally.
pub fn scalars_from_json(key: &str, value: &Value) -> Result<Vec<Scalar>, QueryError> {
    let unsupported = || QueryError::UnsupportedValue {
        key: key.to_string(),
        value: value.to_string(),
    };
    let scalars = match value {
        Value::String(s) => split_list(s).into_iter().map(Scalar::Text).collect(),
        Value::Number(n) => vec![Scalar::Number(n.clone())],
        Value::Bool(b) => vec![Scalar::Text(b.to_string())],
        Value::Array(items) => items
            .iter()
            .map(|item| match item {
                Value::String(s) => Ok(Scalar::Text(s.trim().to_string())),
                Value::Number(n) => Ok(Scalar::Number(n.clone())),
                Value::Bool(b) => Ok(Scalar::Text(b.to_string())),
                _ => Err(unsupported()),
            })
            .collect::<Result<Vec<_>, _>>()?,
        Value::Null | Value::Object(_) => return Err(unsupported()),
    };
    if scalars.is_empty() {
        return Err(QueryError::EmptyValue {
            key: key.to_string(),
        });
    }
    Ok(scalars)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn numbers_keep_integers_integral() {
        assert_eq!(parse_number("10"), Some(Number::from(10)));
        assert_eq!(
            parse_number(" -2.5 ").map(|n| n.to_string()),
            Some("-2.5".to_string())
        );
        assert_eq!(parse_number("ten"), None);
        assert_eq!(parse_number("inf"), None);
    }

    #[test]
    fn key_value_errors() {
        assert!(matches!(
            split_key_value("novalue"),
            Err(QueryError::NotKeyValue { .. })
        ));
        assert!(matches!(
            split_key_value("=x"),
            Err(QueryError::NotKeyValue { .. })
        ));
        assert!(matches!(
            split_key_value("k="),
            Err(QueryError::EmptyValue { .. })
        ));
        assert_eq!(
            split_key_value("k=a=b").unwrap(),
            ("k".to_string(), "a=b".to_string())
        );
    }

    #[test]
    fn ranges_need_numbers_on_both_ends() {
        assert_eq!(parse_range("10..20"), Some((10.into(), 20.into())));
        assert_eq!(parse_range("a..20"), None);
        assert_eq!(parse_range("10"), None);
    }

    #[test]
    fn json_values() {
        let got = scalars_from_json("k", &json!(["12062", 7])).unwrap();
        assert_eq!(
            got,
            vec![Scalar::Text("12062".into()), Scalar::Number(7.into())]
        );
        let got = scalars_from_json("k", &json!("a, b")).unwrap();
        assert_eq!(
            got,
            vec![Scalar::Text("a".into()), Scalar::Text("b".into())]
        );
        assert!(matches!(
            scalars_from_json("k", &json!({"a": 1})),
            Err(QueryError::UnsupportedValue { .. })
        ));
        assert!(matches!(
            scalars_from_json("k", &json!([])),
            Err(QueryError::EmptyValue { .. })
        ));
    }
}
