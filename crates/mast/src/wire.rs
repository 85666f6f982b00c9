//! Byte-level encoding of requests the way astroquery produces them: JSON with Python's
//! `", "` / `": "` separators and ASCII escapes, keys in a fixed order, percent-encoded with
//! only letters, digits, `_ . - ~` (and `/` where astroquery keeps it) left bare. MAST would
//! accept any valid form encoding; matching astroquery makes captured traffic comparable.

use serde_json::{Number, Value};

/// A JSON value whose object keys keep the order they were built in.
#[derive(Debug, Clone, PartialEq)]
pub enum WireJson {
    Null,
    Bool(bool),
    Num(Number),
    Str(String),
    Arr(Vec<WireJson>),
    Obj(Vec<(String, WireJson)>),
}

impl WireJson {
    /// Convenience for building objects.
    pub fn obj<const N: usize>(entries: [(&str, WireJson); N]) -> WireJson {
        WireJson::Obj(
            entries
                .into_iter()
                .map(|(k, v)| (k.to_string(), v))
                .collect(),
        )
    }

    pub fn str(s: impl Into<String>) -> WireJson {
        WireJson::Str(s.into())
    }

    /// Serialise like Python's `json.dumps` with default arguments.
    pub fn to_python_json(&self) -> String {
        let mut out = String::new();
        write_value(self, &mut out);
        out
    }

    /// The same value as a serde_json `Value` (key order lost).
    pub fn to_value(&self) -> Value {
        match self {
            WireJson::Null => Value::Null,
            WireJson::Bool(b) => Value::Bool(*b),
            WireJson::Num(n) => Value::Number(n.clone()),
            WireJson::Str(s) => Value::String(s.clone()),
            WireJson::Arr(items) => Value::Array(items.iter().map(WireJson::to_value).collect()),
            WireJson::Obj(entries) => Value::Object(
                entries
                    .iter()
                    .map(|(k, v)| (k.clone(), v.to_value()))
                    .collect(),
            ),
        }
    }
}

fn write_value(value: &WireJson, out: &mut String) {
    match value {
        WireJson::Null => out.push_str("null"),
        WireJson::Bool(true) => out.push_str("true"),
        WireJson::Bool(false) => out.push_str("false"),
        WireJson::Num(n) => out.push_str(&n.to_string()),
        WireJson::Str(s) => write_string(s, out),
        WireJson::Arr(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                write_value(item, out);
            }
            out.push(']');
        }
        WireJson::Obj(entries) => {
            out.push('{');
            for (i, (key, item)) in entries.iter().enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                write_string(key, out);
                out.push_str(": ");
                write_value(item, out);
            }
            out.push('}');
        }
    }
}

/// Python's `ensure_ascii=True` string escaping.
fn write_string(s: &str, out: &mut String) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            c if (c as u32) < 0x20 || (c as u32) > 0x7e => {
                let mut units = [0u16; 2];
                for unit in c.encode_utf16(&mut units) {
                    out.push_str(&format!("\\u{unit:04x}"));
                }
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

/// Percent-encode every byte except ASCII letters, digits and `_ . - ~`, plus `/` when
/// `keep_slash` (astroquery's `urllib.parse.quote` default for the invoke body).
pub fn percent_encode(s: &str, keep_slash: bool) -> String {
    let mut out = String::with_capacity(s.len() * 3);
    for &byte in s.as_bytes() {
        let bare = byte.is_ascii_alphanumeric()
            || matches!(byte, b'_' | b'.' | b'-' | b'~')
            || (keep_slash && byte == b'/');
        if bare {
            out.push(byte as char);
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn python_separators_and_key_order() {
        let v = WireJson::obj([
            ("service", WireJson::str("X")),
            (
                "params",
                WireJson::obj([
                    ("b", WireJson::Num(1.into())),
                    (
                        "a",
                        WireJson::Arr(vec![WireJson::Null, WireJson::Bool(true)]),
                    ),
                ]),
            ),
        ]);
        assert_eq!(
            v.to_python_json(),
            r#"{"service": "X", "params": {"b": 1, "a": [null, true]}}"#
        );
    }

    #[test]
    fn ascii_escapes_like_python() {
        let got = WireJson::str("é\"\n😀").to_python_json();
        assert_eq!(got, r#""\u00e9\"\n\ud83d\ude00""#);
    }

    #[test]
    fn percent_encoding_keeps_slash_only_when_asked() {
        assert_eq!(percent_encode("ACS/WFC *,\"", true), "ACS/WFC%20%2A%2C%22");
        assert_eq!(
            percent_encode("mast:HST/product/x.fits", false),
            "mast%3AHST%2Fproduct%2Fx.fits"
        );
    }
}
