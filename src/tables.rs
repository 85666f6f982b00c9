//! Tables written the way astropy reads them back with their types: CSV, ECSV (typed
//! header, masked cells empty), VOTable (TABLEDATA), and astropy's own fixed-width print
//! (`ascii.fixed_width_two_line`). Used by `mastfs query --format` and the view manifests.

use serde_json::{Map, Value};

/// The type of a column, from its values: what ECSV and VOTable declare.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ColumnType {
    Int,
    Float,
    Bool,
    Text,
}

impl ColumnType {
    fn ecsv(self) -> &'static str {
        match self {
            ColumnType::Int => "int64",
            ColumnType::Float => "float64",
            ColumnType::Bool => "bool",
            ColumnType::Text => "string",
        }
    }

    fn votable(self) -> &'static str {
        match self {
            ColumnType::Int => "datatype=\"long\"",
            ColumnType::Float => "datatype=\"double\"",
            ColumnType::Bool => "datatype=\"boolean\"",
            ColumnType::Text => "datatype=\"unicodeChar\" arraysize=\"*\"",
        }
    }
}

/// Named columns over rows of JSON values (null or missing: a masked cell).
pub struct Table<'a> {
    pub columns: Vec<String>,
    pub rows: &'a [Map<String, Value>],
}

impl Table<'_> {
    /// Each column's type: integers stay integers, any fraction makes it float, anything
    /// else (or a mix) is text.
    pub fn types(&self) -> Vec<ColumnType> {
        self.columns
            .iter()
            .map(|c| {
                let mut kind: Option<ColumnType> = None;
                for value in self.rows.iter().filter_map(|r| r.get(c)) {
                    let this = match value {
                        Value::Null => continue,
                        Value::Bool(_) => ColumnType::Bool,
                        Value::Number(n) if n.is_i64() || n.is_u64() => ColumnType::Int,
                        Value::Number(_) => ColumnType::Float,
                        _ => ColumnType::Text,
                    };
                    kind = Some(match (kind, this) {
                        (None, t) => t,
                        (Some(a), b) if a == b => a,
                        (Some(ColumnType::Int), ColumnType::Float)
                        | (Some(ColumnType::Float), ColumnType::Int) => ColumnType::Float,
                        _ => ColumnType::Text,
                    });
                }
                kind.unwrap_or(ColumnType::Text)
            })
            .collect()
    }

    fn cells(&self, row: &Map<String, Value>) -> Vec<Option<String>> {
        self.columns
            .iter()
            .map(|c| match row.get(c) {
                None | Some(Value::Null) => None,
                Some(Value::String(s)) => Some(s.clone()),
                Some(Value::Bool(b)) => Some(if *b { "True" } else { "False" }.to_string()),
                Some(other) => Some(other.to_string()),
            })
            .collect()
    }

    /// RFC 4180 CSV with a header line; masked cells empty.
    pub fn csv(&self) -> String {
        let mut out = String::new();
        csv_line(&mut out, self.columns.iter().map(|c| Some(c.as_str())));
        for row in self.rows {
            let cells = self.cells(row);
            csv_line(&mut out, cells.iter().map(|c| c.as_deref()));
        }
        out
    }

    /// ECSV 1.0 with comma delimiter: the types in the header, so `Table.read` gives int,
    /// float and bool columns back, and masked cells as masked.
    pub fn ecsv(&self) -> String {
        let mut out = String::from("# %ECSV 1.0\n# ---\n# delimiter: ','\n# datatype:\n");
        for (name, kind) in self.columns.iter().zip(self.types()) {
            out.push_str(&format!(
                "# - {{name: {}, datatype: {}}}\n",
                yaml_string(name),
                kind.ecsv()
            ));
        }
        out.push_str("# schema: astropy-2.0\n");
        out.push_str(&self.csv());
        out
    }

    /// A VOTable 1.4 document with one TABLEDATA table.
    pub fn votable(&self, description: &str) -> String {
        let mut out = String::from(
            "<?xml version=\"1.0\" encoding=\"utf-8\"?>\n\
             <VOTABLE version=\"1.4\" xmlns=\"http://www.ivoa.net/xml/VOTable/v1.3\">\n\
             <RESOURCE type=\"results\">\n<TABLE>\n",
        );
        out.push_str(&format!(
            "<DESCRIPTION>{}</DESCRIPTION>\n",
            xml_escape(description)
        ));
        for (name, kind) in self.columns.iter().zip(self.types()) {
            out.push_str(&format!(
                "<FIELD name=\"{}\" {}/>\n",
                xml_escape(name),
                kind.votable()
            ));
        }
        out.push_str("<DATA>\n<TABLEDATA>\n");
        let types = self.types();
        for row in self.rows {
            out.push_str("<TR>");
            for (cell, kind) in self.cells(row).into_iter().zip(&types) {
                match cell {
                    // VOTable booleans are written lower-case.
                    Some(text) if *kind == ColumnType::Bool => {
                        out.push_str(&format!("<TD>{}</TD>", text.to_lowercase()))
                    }
                    Some(text) => out.push_str(&format!("<TD>{}</TD>", xml_escape(&text))),
                    None => out.push_str("<TD/>"),
                }
            }
            out.push_str("</TR>\n");
        }
        out.push_str("</TABLEDATA>\n</DATA>\n</TABLE>\n</RESOURCE>\n</VOTABLE>\n");
        out
    }
}

fn csv_line<'a>(out: &mut String, cells: impl Iterator<Item = Option<&'a str>>) {
    let quoted: Vec<String> = cells
        .map(|c| match c {
            None => String::new(),
            Some(c) if c.contains([',', '"', '\n', '\r']) || c.starts_with(' ') => {
                format!("\"{}\"", c.replace('"', "\"\""))
            }
            Some(c) => c.to_string(),
        })
        .collect();
    out.push_str(&quoted.join(","));
    out.push('\n');
}

/// A YAML flow scalar: plain when safe, else single-quoted.
fn yaml_string(text: &str) -> String {
    let plain = !text.is_empty()
        && text
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'));
    if plain {
        text.to_string()
    } else {
        format!("'{}'", text.replace('\'', "''"))
    }
}

fn xml_escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn rows() -> Vec<Map<String, Value>> {
        vec![
            json!({"obsID": "2003", "size": 219608640, "ra": 1.5, "mrp": true, "d": "a, \"b\""})
                .as_object()
                .unwrap()
                .clone(),
            json!({"obsID": "2004", "size": 12, "ra": 2, "mrp": false, "d": null})
                .as_object()
                .unwrap()
                .clone(),
        ]
    }

    fn table(rows: &[Map<String, Value>]) -> Table<'_> {
        Table {
            columns: ["obsID", "size", "ra", "mrp", "d"]
                .iter()
                .map(|s| s.to_string())
                .collect(),
            rows,
        }
    }

    #[test]
    fn types_follow_the_values() {
        let rows = rows();
        assert_eq!(
            table(&rows).types(),
            vec![
                ColumnType::Text,
                ColumnType::Int,
                ColumnType::Float,
                ColumnType::Bool,
                ColumnType::Text
            ]
        );
    }

    #[test]
    fn ecsv_declares_types_and_quotes_cells() {
        let rows = rows();
        let text = table(&rows).ecsv();
        assert!(text.starts_with("# %ECSV 1.0\n"), "{text}");
        assert!(
            text.contains("# - {name: size, datatype: int64}\n"),
            "{text}"
        );
        assert!(
            text.contains("2003,219608640,1.5,True,\"a, \"\"b\"\"\"\n"),
            "{text}"
        );
        assert!(
            text.ends_with("2004,12,2,False,\n"),
            "masked cell empty: {text}"
        );
    }

    #[test]
    fn votable_masks_nulls_and_escapes() {
        let rows = rows();
        let text = table(&rows).votable("q <x>");
        assert!(
            text.contains("<DESCRIPTION>q &lt;x&gt;</DESCRIPTION>"),
            "{text}"
        );
        assert!(
            text.contains("<FIELD name=\"size\" datatype=\"long\"/>"),
            "{text}"
        );
        assert!(text.contains("<TD/></TR>"), "{text}");
    }
}
