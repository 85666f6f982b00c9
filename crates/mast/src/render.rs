//! Output helpers for `mastfs query`: the product table printed the way astropy prints a
//! Table (centered names, dashes, right-justified cells, `--` for masked values, one space
//! between columns, no width limit), and a JSON report of a whole resolution.

use serde_json::{json, Map, Value};

use crate::product_filter::KNOWN_PRODUCT_COLUMNS;
use crate::resolution::Resolution;

/// The columns astroquery's product table shows, in the order of `columns` (MAST's field
/// order); when `columns` is empty, the order of the first row.
pub fn display_columns(columns: &[String], rows: &[Map<String, Value>]) -> Vec<String> {
    let source: Vec<String> = if columns.is_empty() {
        rows.first()
            .map(|r| r.keys().cloned().collect())
            .unwrap_or_default()
    } else {
        columns.to_vec()
    };
    source
        .into_iter()
        .filter(|c| KNOWN_PRODUCT_COLUMNS.contains(&c.as_str()))
        .collect()
}

/// Render rows like `print(table.pformat(max_lines=-1, max_width=-1))` in astropy.
pub fn render_table(columns: &[String], rows: &[Map<String, Value>]) -> String {
    if columns.is_empty() {
        return String::new();
    }
    let mut rendered: Vec<Vec<String>> = Vec::with_capacity(columns.len());
    for column in columns {
        let cells: Vec<String> = rows.iter().map(|row| cell(row.get(column))).collect();
        let width = cells
            .iter()
            .map(|c| c.chars().count())
            .chain([column.chars().count(), 3])
            .max()
            .unwrap_or(3);
        let mut lines = Vec::with_capacity(rows.len() + 2);
        lines.push(center(column, width));
        lines.push("-".repeat(width));
        lines.extend(cells.iter().map(|c| format!("{c:>width$}")));
        rendered.push(lines);
    }
    let mut out = String::new();
    for line in 0..rows.len() + 2 {
        let parts: Vec<&str> = rendered.iter().map(|col| col[line].as_str()).collect();
        out.push_str(&parts.join(" "));
        out.push('\n');
    }
    out
}

/// The filtered product table of a resolution, as `mastfs query` prints it.
pub fn render_product_table(resolution: &Resolution) -> String {
    let columns = display_columns(&resolution.columns, &resolution.filtered_rows);
    render_table(&columns, &resolution.filtered_rows)
}

/// Everything about a resolution as one JSON document.
pub fn resolution_json(resolution: &Resolution) -> Value {
    let products: Vec<Value> = resolution
        .products
        .iter()
        .map(|p| {
            json!({
                "obsid": p.obsid,
                "obs_id": p.obs_id,
                "dataURI": p.data_uri,
                "productFilename": p.product_filename,
                "size": p.size,
                "s3_uri": p.cloud.as_ref().map(|c| c.s3_uri()),
                "bucket": p.cloud.as_ref().map(|c| c.bucket.clone()),
                "key": p.cloud.as_ref().map(|c| c.key.clone()),
                "row": p.row,
            })
        })
        .collect();
    let resolved_at = resolution
        .resolved_at
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    json!({
        "observations": resolution.observations,
        "excluded_ffi": resolution.excluded_ffi,
        "total_products": resolution.total_products,
        "filtered_products": resolution.filtered_products,
        "duplicates": resolution.duplicates,
        "unique_products": resolution.products.len(),
        "not_in_cloud": resolution.not_in_cloud,
        "resolved_at_unix": resolved_at,
        "summary": resolution.summary_lines(),
        "columns": resolution.columns,
        "filtered_rows": resolution.filtered_rows,
        "products": products,
        "s3_uris": resolution.s3_uris(),
    })
}

/// A cell as astropy shows it: masked (null/missing) as `--`.
fn cell(value: Option<&Value>) -> String {
    match value {
        None | Some(Value::Null) => "--".to_string(),
        Some(Value::String(s)) => s.clone(),
        Some(Value::Bool(true)) => "True".to_string(),
        Some(Value::Bool(false)) => "False".to_string(),
        Some(other) => other.to_string(),
    }
}

/// Python's `str.center`: the odd space goes left only when both the margin and the width
/// are odd.
fn center(text: &str, width: usize) -> String {
    let len = text.chars().count();
    if len >= width {
        return text.to_string();
    }
    let margin = width - len;
    let left = margin / 2 + (margin & width & 1);
    format!("{}{text}{}", " ".repeat(left), " ".repeat(margin - left))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn python_center() {
        // Values checked against CPython's str.center.
        let cases = [
            ("a", 3, " a "),
            ("a", 4, " a  "),
            ("ab", 5, "  ab "),
            ("abc", 6, " abc  "),
            ("abcd", 3, "abcd"),
        ];
        for (text, width, want) in cases {
            assert_eq!(center(text, width), want, "center({text:?}, {width})");
        }
    }

    #[test]
    fn astropy_layout() {
        let rows: Vec<Map<String, Value>> = vec![
            json!({"a": 1, "bb": "x"}).as_object().unwrap().clone(),
            json!({"a": 22, "bb": null}).as_object().unwrap().clone(),
        ];
        let got = render_table(&["a".to_string(), "bb".to_string()], &rows);
        let want = " a   bb\n--- ---\n  1   x\n 22  --\n";
        assert_eq!(got, want);
    }

    #[test]
    fn only_product_columns_in_field_order() {
        let columns: Vec<String> = ["size", "_selected_", "obsID", "extra"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        assert_eq!(
            display_columns(&columns, &[]),
            vec!["size".to_string(), "obsID".to_string()]
        );
    }
}
