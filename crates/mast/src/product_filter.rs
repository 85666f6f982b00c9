//! Client-side product filtering with astroquery's `filter_products` semantics: AND across
//! columns, OR within a column's values, `!` negation, case-insensitive exact matching of
//! strings, numeric expressions (`<x`, `>=x`, `lo..hi`, ...) on numeric columns, `mrp_only`
//! and `extension` (productFilename suffixes).

use std::collections::HashSet;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::error::QueryError;
use crate::suggest::closest_name;
use crate::values::{scalars_from_json, split_key_value, split_list, Scalar};

/// The product columns today's MAST returns (astroquery docs and remote tests), in order.
pub const KNOWN_PRODUCT_COLUMNS: [&str; 20] = [
    "obsID",
    "obs_collection",
    "dataproduct_type",
    "obs_id",
    "description",
    "type",
    "dataURI",
    "productType",
    "productGroupDescription",
    "productSubGroupDescription",
    "productDocumentationURL",
    "project",
    "prvversion",
    "proposal_id",
    "productFilename",
    "size",
    "parent_obsid",
    "dataRights",
    "calib_level",
    "filters",
];
/// Of those, the ones declared numeric.
const KNOWN_NUMERIC_PRODUCT_COLUMNS: [&str; 2] = ["size", "calib_level"];
/// `productGroupDescription` of the rows `mrp_only` keeps.
pub const MINIMUM_RECOMMENDED: &str = "Minimum Recommended Products";

/// Which product columns exist and which of them are numeric.
#[derive(Debug, Clone, PartialEq)]
pub struct ProductColumns {
    names: Vec<String>,
    numeric: HashSet<String>,
}

impl ProductColumns {
    /// The columns of today's product table (used to validate before any query).
    pub fn known() -> Self {
        ProductColumns {
            names: KNOWN_PRODUCT_COLUMNS
                .iter()
                .map(|s| s.to_string())
                .collect(),
            numeric: KNOWN_NUMERIC_PRODUCT_COLUMNS
                .iter()
                .map(|s| s.to_string())
                .collect(),
        }
    }

    /// From the `fields` of a product response: `(name, MAST type)` pairs.
    pub fn from_fields<'a>(fields: impl Iterator<Item = (&'a str, &'a str)>) -> Self {
        let mut names = Vec::new();
        let mut numeric = HashSet::new();
        for (name, kind) in fields {
            if is_numeric_type(kind) {
                numeric.insert(name.to_string());
            }
            names.push(name.to_string());
        }
        ProductColumns { names, numeric }
    }

    pub fn names(&self) -> &[String] {
        &self.names
    }

    pub fn is_numeric(&self, column: &str) -> bool {
        self.numeric.contains(column)
    }

    fn contains(&self, column: &str) -> bool {
        self.names.iter().any(|n| n == column)
    }
}

/// MAST field types that hold numbers (astroquery's typing table).
pub fn is_numeric_type(kind: &str) -> bool {
    matches!(
        kind.to_ascii_lowercase().as_str(),
        "double" | "float" | "decimal" | "int" | "short" | "long" | "number" | "unsignedbyte"
    )
}

/// One column's accepted values, as written (a leading `!` negates).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ColumnFilter {
    pub column: String,
    pub values: Vec<String>,
}

/// A product filter as the user wrote it.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ProductFilter {
    /// Keep only "Minimum Recommended Products".
    #[serde(default)]
    pub mrp_only: bool,
    /// Keep only files whose name ends with one of these (case-insensitive).
    #[serde(default)]
    pub extensions: Vec<String>,
    /// Column filters, ANDed.
    #[serde(default)]
    pub columns: Vec<ColumnFilter>,
}

impl ProductFilter {
    /// Parse `column=a,b,!c`, `size=<50`, `size=10..20`, `mrp_only=true`, `extension=fits,jpg`.
    pub fn from_args(args: &[String]) -> Result<Self, QueryError> {
        let mut filter = ProductFilter::default();
        for arg in args {
            let (key, text) = split_key_value(arg)?;
            filter.add(
                &key,
                split_list(&text).into_iter().map(Scalar::Text).collect(),
            )?;
        }
        Ok(filter)
    }

    /// Read a config map: column → string | number | list; `mrp_only` (bool) and
    /// `extension` (string or list) are options, not columns.
    pub fn from_json_map(map: &Map<String, Value>) -> Result<Self, QueryError> {
        let mut filter = ProductFilter::default();
        for (key, value) in map {
            if key == "mrp_only" {
                if let Value::Bool(b) = value {
                    filter.mrp_only = *b;
                    continue;
                }
            }
            filter.add(key.trim(), scalars_from_json(key, value)?)?;
        }
        Ok(filter)
    }

    fn add(&mut self, key: &str, values: Vec<Scalar>) -> Result<(), QueryError> {
        if values.is_empty() {
            return Err(QueryError::EmptyValue {
                key: key.to_string(),
            });
        }
        let texts: Vec<String> = values.iter().map(Scalar::as_text).collect();
        match key {
            "mrp_only" => {
                let [one] = texts.as_slice() else {
                    return Err(QueryError::BadBool {
                        value: texts.join(","),
                    });
                };
                self.mrp_only =
                    parse_bool(one).ok_or_else(|| QueryError::BadBool { value: one.clone() })?;
            }
            "extension" => self.extensions.extend(texts),
            column => match self.columns.iter_mut().find(|c| c.column == column) {
                Some(existing) => existing.values.extend(texts),
                None => self.columns.push(ColumnFilter {
                    column: column.to_string(),
                    values: texts,
                }),
            },
        }
        Ok(())
    }

    /// True when the filter keeps every product.
    pub fn is_empty(&self) -> bool {
        !self.mrp_only && self.extensions.is_empty() && self.columns.is_empty()
    }

    /// Check columns and numeric expressions against today's product table.
    pub fn validate(&self) -> Result<(), QueryError> {
        self.compile(&ProductColumns::known()).map(|_| ())
    }

    /// Prepare for matching rows whose columns are described by `columns`.
    pub fn compile(&self, columns: &ProductColumns) -> Result<CompiledProductFilter, QueryError> {
        let mut tests = Vec::new();
        for filter in &self.columns {
            if !columns.contains(&filter.column) {
                return Err(QueryError::UnknownProductColumn {
                    name: filter.column.clone(),
                    suggestion: closest_name(
                        &filter.column,
                        columns.names.iter().map(String::as_str),
                    ),
                });
            }
            let numeric = columns.is_numeric(&filter.column);
            let mut positive = Vec::new();
            let mut negative = Vec::new();
            for raw in &filter.values {
                let (negated, text) = match raw.strip_prefix('!') {
                    Some(rest) => (true, rest),
                    None => (false, raw.as_str()),
                };
                let test = if numeric {
                    ValueTest::Numeric(NumericTest::parse(text).ok_or_else(|| {
                        QueryError::BadNumericFilter {
                            column: filter.column.clone(),
                            value: raw.clone(),
                        }
                    })?)
                } else {
                    ValueTest::Text(text.to_lowercase())
                };
                if negated {
                    negative.push(test);
                } else {
                    positive.push(test);
                }
            }
            tests.push(ColumnTest {
                column: filter.column.clone(),
                positive,
                negative,
            });
        }
        Ok(CompiledProductFilter {
            mrp_only: self.mrp_only,
            extensions: self.extensions.iter().map(|e| e.to_lowercase()).collect(),
            tests,
        })
    }

    /// Back to command-line form.
    pub fn to_args(&self) -> Vec<String> {
        let mut args: Vec<String> = self
            .columns
            .iter()
            .map(|c| format!("{}={}", c.column, c.values.join(",")))
            .collect();
        if self.mrp_only {
            args.push("mrp_only=true".to_string());
        }
        if !self.extensions.is_empty() {
            args.push(format!("extension={}", self.extensions.join(",")));
        }
        args
    }
}

fn parse_bool(text: &str) -> Option<bool> {
    match text.to_ascii_lowercase().as_str() {
        "true" | "yes" | "1" | "on" => Some(true),
        "false" | "no" | "0" | "off" => Some(false),
        _ => None,
    }
}

/// A numeric expression: `x`, `>=x`, `<=x`, `>x`, `<x`, `a..b` (inclusive).
#[derive(Debug, Clone, PartialEq)]
pub enum NumericTest {
    Equal(f64),
    AtLeast(f64),
    AtMost(f64),
    Above(f64),
    Below(f64),
    Between(f64, f64),
}

impl NumericTest {
    /// Parse in astroquery's order: `>=`, `<=`, `>`, `<`, `..`, then a plain number.
    pub fn parse(text: &str) -> Option<Self> {
        let text = text.trim();
        let number = |s: &str| s.trim().parse::<f64>().ok().filter(|f| !f.is_nan());
        if let Some(rest) = text.strip_prefix(">=") {
            return number(rest).map(NumericTest::AtLeast);
        }
        if let Some(rest) = text.strip_prefix("<=") {
            return number(rest).map(NumericTest::AtMost);
        }
        if let Some(rest) = text.strip_prefix('>') {
            return number(rest).map(NumericTest::Above);
        }
        if let Some(rest) = text.strip_prefix('<') {
            return number(rest).map(NumericTest::Below);
        }
        if let Some((lo, hi)) = text.split_once("..") {
            return Some(NumericTest::Between(number(lo)?, number(hi)?));
        }
        number(text).map(NumericTest::Equal)
    }

    pub fn holds(&self, x: f64) -> bool {
        match *self {
            NumericTest::Equal(v) => x == v,
            NumericTest::AtLeast(v) => x >= v,
            NumericTest::AtMost(v) => x <= v,
            NumericTest::Above(v) => x > v,
            NumericTest::Below(v) => x < v,
            NumericTest::Between(lo, hi) => lo <= x && x <= hi,
        }
    }
}

#[derive(Debug, Clone)]
enum ValueTest {
    /// Lower-cased value, compared with the lower-cased cell.
    Text(String),
    Numeric(NumericTest),
}

impl ValueTest {
    fn matches(&self, cell: Option<&Value>) -> bool {
        match self {
            ValueTest::Text(want) => cell_text(cell).to_lowercase() == *want,
            ValueTest::Numeric(test) => cell_number(cell).is_some_and(|x| test.holds(x)),
        }
    }
}

#[derive(Debug, Clone)]
struct ColumnTest {
    column: String,
    positive: Vec<ValueTest>,
    negative: Vec<ValueTest>,
}

/// A product filter ready to test rows.
#[derive(Debug, Clone)]
pub struct CompiledProductFilter {
    mrp_only: bool,
    extensions: Vec<String>,
    tests: Vec<ColumnTest>,
}

impl CompiledProductFilter {
    /// Does the product row pass every part of the filter?
    pub fn matches(&self, row: &Map<String, Value>) -> bool {
        if self.mrp_only
            && row.get("productGroupDescription").and_then(Value::as_str)
                != Some(MINIMUM_RECOMMENDED)
        {
            return false;
        }
        if !self.extensions.is_empty() {
            let Some(name) = row.get("productFilename").and_then(Value::as_str) else {
                return false;
            };
            let name = name.to_lowercase();
            if !self
                .extensions
                .iter()
                .any(|ext| name.ends_with(ext.as_str()))
            {
                return false;
            }
        }
        self.tests.iter().all(|test| {
            let cell = row.get(&test.column);
            let positive_ok =
                test.positive.is_empty() || test.positive.iter().any(|t| t.matches(cell));
            positive_ok && !test.negative.iter().any(|t| t.matches(cell))
        })
    }
}

/// A cell as text; null and missing read as the empty string (astroquery's masked value).
pub fn cell_text(cell: Option<&Value>) -> String {
    match cell {
        None | Some(Value::Null) => String::new(),
        Some(Value::String(s)) => s.clone(),
        Some(Value::Bool(true)) => "True".to_string(),
        Some(Value::Bool(false)) => "False".to_string(),
        Some(other) => other.to_string(),
    }
}

fn cell_number(cell: Option<&Value>) -> Option<f64> {
    match cell? {
        Value::Number(n) => n.as_f64(),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn row(v: Value) -> Map<String, Value> {
        v.as_object().unwrap().clone()
    }

    fn rows() -> Vec<Map<String, Value>> {
        vec![
            row(
                json!({"obsID": 1, "productType": "SCIENCE", "productSubGroupDescription": "DRZ", "productFilename": "a_drz.fits", "size": 100, "productGroupDescription": MINIMUM_RECOMMENDED, "calib_level": 3}),
            ),
            row(
                json!({"obsID": 2, "productType": "AUXILIARY", "productSubGroupDescription": "SPT", "productFilename": "a_spt.fits", "size": 15000, "productGroupDescription": null, "calib_level": 1}),
            ),
            row(
                json!({"obsID": 3, "productType": "PREVIEW", "productSubGroupDescription": "DRZ", "productFilename": "a_drz.JPG", "size": 50, "productGroupDescription": null, "calib_level": 3}),
            ),
            row(
                json!({"obsID": 4, "productType": "SCIENCE", "productSubGroupDescription": "FLT", "productFilename": "a_flt.fits.gz", "size": null, "productGroupDescription": MINIMUM_RECOMMENDED, "calib_level": 2}),
            ),
            row(
                json!({"obsID": "5", "productType": "science", "productSubGroupDescription": null, "productFilename": null, "size": "20000"}),
            ),
        ]
    }

    fn kept(filter: &ProductFilter) -> Vec<String> {
        let compiled = filter.compile(&ProductColumns::known()).unwrap();
        rows()
            .iter()
            .filter(|r| compiled.matches(r))
            .map(|r| cell_text(r.get("obsID")))
            .collect()
    }

    fn args(list: &[&str]) -> ProductFilter {
        ProductFilter::from_args(&list.iter().map(|s| s.to_string()).collect::<Vec<_>>()).unwrap()
    }

    #[test]
    fn semantics_table() {
        let cases: Vec<(Vec<&str>, Vec<&str>)> = vec![
            (vec![], vec!["1", "2", "3", "4", "5"]),
            (vec!["productSubGroupDescription=DRZ"], vec!["1", "3"]),
            (vec!["productSubGroupDescription=drz"], vec!["1", "3"]),
            (vec!["productType=sCiEnCe"], vec!["1", "4", "5"]),
            (
                vec!["productType=SCIENCE,PREVIEW"],
                vec!["1", "3", "4", "5"],
            ),
            (
                vec!["productType=SCIENCE,PREVIEW,!preview"],
                vec!["1", "4", "5"],
            ),
            (vec!["productType=!SCIENCE"], vec!["2", "3"]),
            (vec!["productSubGroupDescription=!DRZ"], vec!["2", "4", "5"]),
            (
                vec!["productType=SCIENCE", "productSubGroupDescription=DRZ"],
                vec!["1"],
            ),
            (vec!["size=<15000"], vec!["1", "3"]),
            (vec!["size=>=15000"], vec!["2", "5"]),
            (vec!["size=>100"], vec!["2", "5"]),
            (vec!["size=<=100"], vec!["1", "3"]),
            (vec!["size=100"], vec!["1"]),
            (vec!["size=50..15000"], vec!["1", "2", "3"]),
            (vec!["size=!50..15000"], vec!["4", "5"]),
            (vec!["size=!<15000"], vec!["2", "4", "5"]),
            (vec!["size=<60,>19999"], vec!["3", "5"]),
            (vec!["calib_level=3"], vec!["1", "3"]),
            (vec!["extension=fits"], vec!["1", "2"]),
            (vec!["extension=FITS.GZ,jpg"], vec!["3", "4"]),
            (vec!["mrp_only=true"], vec!["1", "4"]),
            (vec!["mrp_only=false"], vec!["1", "2", "3", "4", "5"]),
            (vec!["mrp_only=true", "extension=fits"], vec!["1"]),
            (vec!["obsID=5"], vec!["5"]),
            (vec!["obsID=1,2,!2"], vec!["1"]),
        ];
        for (filter_args, want) in cases {
            let got = kept(&args(&filter_args));
            assert_eq!(
                got, want,
                "filter {filter_args:?}: expected rows {want:?}, got {got:?}"
            );
        }
    }

    #[test]
    fn json_map_form() {
        let map = json!({"productSubGroupDescription": ["DRZ"], "size": "<15000", "mrp_only": true, "extension": ["fits"]});
        let filter = ProductFilter::from_json_map(map.as_object().unwrap()).unwrap();
        assert_eq!(kept(&filter), vec!["1"]);
        let map = json!({"calib_level": 3});
        assert_eq!(
            kept(&ProductFilter::from_json_map(map.as_object().unwrap()).unwrap()),
            vec!["1", "3"]
        );
    }

    #[test]
    fn numeric_parse_order() {
        let cases = [
            (">=10", Some(NumericTest::AtLeast(10.0))),
            ("<=1e3", Some(NumericTest::AtMost(1000.0))),
            ("> 5", Some(NumericTest::Above(5.0))),
            ("<-5", Some(NumericTest::Below(-5.0))),
            ("-1..+2.5", Some(NumericTest::Between(-1.0, 2.5))),
            ("42", Some(NumericTest::Equal(42.0))),
            ("abc", None),
            ("<", None),
            ("1..", None),
        ];
        for (text, want) in cases {
            assert_eq!(NumericTest::parse(text), want, "parse({text:?})");
        }
    }

    #[test]
    fn validation_errors() {
        let cases: Vec<(Vec<&str>, &str)> = vec![
            (vec!["size=big"], "Could not parse numeric filter 'big' for column 'size'. Use a number, <x, >x, <=x, >=x or lo..hi, optionally prefixed by !"),
            (vec!["size=!<x"], "Could not parse numeric filter '!<x' for column 'size'. Use a number, <x, >x, <=x, >=x or lo..hi, optionally prefixed by !"),
            (vec!["productSubGroup=DRZ"], "Column 'productSubGroup' not found in product table. Did you mean 'productSubGroupDescription'?"),
            (vec!["producttype=SCIENCE"], "Column 'producttype' not found in product table. Did you mean 'productType'?"),
            (vec!["mrp_only=maybe"], "mrp_only must be true or false, got 'maybe'"),
        ];
        for (list, want) in cases {
            let got =
                ProductFilter::from_args(&list.iter().map(|s| s.to_string()).collect::<Vec<_>>())
                    .and_then(|f| f.validate())
                    .unwrap_err();
            assert_eq!(got.to_string(), want, "args {list:?}");
        }
    }

    #[test]
    fn args_round_trip() {
        let filter = args(&[
            "productType=SCIENCE,!PREVIEW",
            "mrp_only=true",
            "extension=fits",
        ]);
        assert_eq!(
            filter.to_args(),
            vec![
                "productType=SCIENCE,!PREVIEW",
                "mrp_only=true",
                "extension=fits"
            ]
        );
    }
}
