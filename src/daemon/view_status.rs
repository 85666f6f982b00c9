//! Each view's state as the daemon reports it to `mastfs views status`: stable JSON
//! (RFC 3339 times, what `--json` prints) and the table the command prints for people
//! (local times, why a view is empty).

use std::time::SystemTime;

use serde_json::{json, Value};

use crate::namespace::views::ViewStatus;

/// One view's state, as the daemon sends it and `views status --json` prints it.
pub fn to_json(status: &ViewStatus) -> Value {
    let state = if status.resolving {
        "resolving"
    } else if status.resolved_at.is_some() {
        if status.last_error.is_some() {
            "stale"
        } else {
            "resolved"
        }
    } else if status.last_error.is_some() {
        "failed"
    } else {
        "not resolved"
    };
    json!({
        "name": status.name,
        "state": state,
        "entries": status.entries,
        "resolved_at": status.resolved_at.map(rfc3339),
        "last_error": status.last_error,
        "empty_reason": status.empty_reason,
    })
}

/// UTC, to the second: `2026-12-06T02:13:27Z`.
pub fn rfc3339(time: SystemTime) -> String {
    humantime::format_rfc3339_seconds(time).to_string()
}

/// The views of a `Status` answer as a table, one row per view, then why empty views are
/// empty.
pub fn table(views: &[Value]) -> String {
    if views.is_empty() {
        return "this mount has no views\n".into();
    }
    let header = ["NAME", "ENTRIES", "RESOLVED", "STATE", "LAST ERROR"];
    let rows: Vec<[String; 5]> = views
        .iter()
        .map(|v| {
            let text = |key: &str| v[key].as_str().unwrap_or("").to_string();
            [
                text("name"),
                v["entries"].as_u64().unwrap_or(0).to_string(),
                v["resolved_at"]
                    .as_str()
                    .map(local_time)
                    .unwrap_or_else(|| "-".into()),
                text("state"),
                v["last_error"]
                    .as_str()
                    .map(one_line)
                    .unwrap_or_else(|| "-".into()),
            ]
        })
        .collect();
    let mut widths = header.map(str::len);
    for row in &rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let line = |cells: [&str; 5]| {
        let mut out = String::new();
        for (i, (cell, w)) in cells.iter().zip(widths).enumerate() {
            if i + 1 == cells.len() {
                out.push_str(cell);
            } else {
                out.push_str(&format!("{cell:<w$}  "));
            }
        }
        out.trim_end().to_string() + "\n"
    };
    let mut out = line(header);
    for row in &rows {
        out.push_str(&line(row.each_ref().map(String::as_str)));
    }
    for v in views {
        if let (Some(name), Some(reason)) = (v["name"].as_str(), v["empty_reason"].as_str()) {
            out.push_str(&format!("{name} is empty: {reason}\n"));
        }
    }
    out
}

/// An RFC 3339 time in the local time zone, as people read it.
fn local_time(rfc3339: &str) -> String {
    match chrono::DateTime::parse_from_rfc3339(rfc3339) {
        Ok(t) => t
            .with_timezone(&chrono::Local)
            .format("%Y-%m-%d %H:%M:%S %Z")
            .to_string(),
        Err(_) => rfc3339.to_string(),
    }
}

fn one_line(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn status(resolved: bool, error: Option<&str>, entries: usize) -> ViewStatus {
        ViewStatus {
            name: "hst-drz".into(),
            resolved_at: resolved
                .then(|| SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000)),
            entries,
            resolving: false,
            last_error: error.map(str::to_string),
            empty_reason: (resolved && entries == 0)
                .then(|| "MAST found no products for these criteria and product filters".into()),
            unsafe_names: 0,
        }
    }

    #[test]
    fn json_times_are_rfc3339() {
        let v = to_json(&status(true, None, 2));
        assert_eq!(v["resolved_at"], "2023-11-14T22:13:20Z", "got {v}");
        assert_eq!(v["state"], "resolved");
        assert!(to_json(&status(false, Some("x"), 0))["resolved_at"].is_null());
        assert_eq!(to_json(&status(false, Some("x"), 0))["state"], "failed");
    }

    #[test]
    fn table_has_a_row_per_view_and_says_why_one_is_empty() {
        let views = vec![to_json(&status(true, None, 0)), {
            let mut s = status(false, Some("MAST did not answer\n(timeout)"), 0);
            s.name = "broken".into();
            to_json(&s)
        }];
        let text = table(&views);
        let lines: Vec<&str> = text.lines().collect();
        assert!(lines[0].starts_with("NAME"), "header first, got:\n{text}");
        assert!(
            lines[1].starts_with("hst-drz") && lines[1].contains("resolved"),
            "row of hst-drz, got:\n{text}"
        );
        assert!(
            lines[2].contains("failed") && lines[2].ends_with("MAST did not answer (timeout)"),
            "row of broken with its error on one line, got:\n{text}"
        );
        assert!(
            text.contains("hst-drz is empty: MAST found no products"),
            "the reason for the empty view, got:\n{text}"
        );
        assert!(!text.contains('{'), "no JSON in the table:\n{text}");
    }
}
