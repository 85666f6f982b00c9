//! The record of a `get` run, like astroquery's `download_products` table: one row per file
//! with `Local Path`, `Status` (COMPLETE, SKIPPED, ERROR), `Message` and `URL`, written as
//! CSV (or ECSV when the file name says so) so `Table.read` loads it.

use std::path::Path;

use anyhow::Context;
use serde_json::{Map, Value};

use super::sources::Target;
use crate::tables::Table;

/// How one file ended (what the manifest's Status says).
pub(super) enum Outcome {
    Downloaded { fetched: u64 },
    AlreadyThere,
}

/// The outcome of one file.
pub(crate) struct FileReport {
    local_path: String,
    status: &'static str,
    message: String,
    url: String,
}

impl FileReport {
    pub(super) fn of(path: &Path, target: &Target, result: &anyhow::Result<Outcome>) -> Self {
        match result {
            Ok(Outcome::Downloaded { .. }) => FileReport::new(path, target, "COMPLETE", ""),
            Ok(Outcome::AlreadyThere) => FileReport::new(
                path,
                target,
                "SKIPPED",
                "already complete: the file is the object",
            ),
            Err(e) => FileReport::error(path, target, e),
        }
    }

    pub(super) fn error(path: &Path, target: &Target, error: &anyhow::Error) -> Self {
        FileReport::new(path, target, "ERROR", &format!("{error:#}"))
    }

    fn new(path: &Path, target: &Target, status: &'static str, message: &str) -> Self {
        FileReport {
            local_path: path.display().to_string(),
            status,
            message: message.to_string(),
            url: target.uri(),
        }
    }
}

/// Writes `reports` to `path`: ECSV for `*.ecsv`, else CSV.
pub(super) fn write(path: &Path, reports: &[FileReport]) -> anyhow::Result<()> {
    let rows: Vec<Map<String, Value>> = reports
        .iter()
        .map(|r| {
            let mut row = Map::new();
            row.insert("Local Path".into(), r.local_path.clone().into());
            row.insert("Status".into(), r.status.into());
            row.insert(
                "Message".into(),
                if r.message.is_empty() {
                    Value::Null
                } else {
                    r.message.clone().into()
                },
            );
            row.insert("URL".into(), r.url.clone().into());
            row
        })
        .collect();
    let table = Table {
        columns: ["Local Path", "Status", "Message", "URL"]
            .map(String::from)
            .to_vec(),
        rows: &rows,
    };
    let text = if path.extension().is_some_and(|e| e == "ecsv") {
        table.ecsv()
    } else {
        table.csv()
    };
    std::fs::write(path, text)
        .with_context(|| format!("cannot write the manifest {}", path.display()))
}
