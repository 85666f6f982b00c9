//! The portal "invoke" protocol: build the Mashup request (service, params, format,
//! pagesize, page, cacheBreaker), long-poll while MAST says EXECUTING, follow `paging`, and
//! concatenate the rows of all pages into one table. One cacheBreaker per logical query,
//! reused for every poll and page.

use serde_json::{Map, Value};

use crate::error::MastError;
use crate::transport::{Deadline, HttpRequest, Transport};
use crate::wire::{percent_encode, WireJson};

/// Path of the invoke endpoint under the base URL.
pub const INVOKE_PATH: &str = "/api/v0/invoke";

/// A column of a result table as MAST declares it.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Field {
    pub name: String,
    #[serde(rename = "type")]
    pub kind: String,
}

/// All rows of one logical query.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Table {
    /// Columns in MAST's order (union over pages).
    pub fields: Vec<Field>,
    pub rows: Vec<Map<String, Value>>,
}

/// A fresh random UUID4, MAST's cache breaker.
pub fn new_cache_breaker() -> String {
    uuid::Uuid::new_v4().to_string()
}

/// The Mashup request JSON in astroquery's key order.
pub fn mashup_request(
    service: &str,
    params: WireJson,
    page_size: u32,
    page: u32,
    cache_breaker: &str,
) -> WireJson {
    WireJson::obj([
        ("service", WireJson::str(service)),
        ("params", params),
        ("format", WireJson::str("json")),
        ("pagesize", WireJson::Num(page_size.into())),
        ("page", WireJson::Num(page.into())),
        ("cacheBreaker", WireJson::str(cache_breaker)),
    ])
}

/// The form body `request=<percent-encoded JSON>`.
pub fn invoke_body(request: &WireJson) -> String {
    format!(
        "request={}",
        percent_encode(&request.to_python_json(), true)
    )
}

/// Run one logical query to completion: polls, pages, retries, all within `deadline`.
pub async fn invoke_all_pages(
    transport: &Transport,
    service: &str,
    params: WireJson,
    deadline: Deadline,
) -> Result<Table, MastError> {
    let options = transport.options();
    let url = format!("{}{INVOKE_PATH}", options.base_url);
    let cache_breaker = new_cache_breaker();
    let mut table = Table::default();
    let mut page = 1u32;
    loop {
        let request = mashup_request(
            service,
            params.clone(),
            options.page_size,
            page,
            &cache_breaker,
        );
        let http = HttpRequest::PostForm {
            body: invoke_body(&request),
        };
        let envelope = loop {
            let body = transport.exchange(service, &url, &http, deadline).await?;
            let envelope = parse_envelope(service, &body)?;
            if envelope.status != "EXECUTING" {
                break envelope;
            }
            let pause = options.poll_interval.min(deadline.remaining());
            if deadline.remaining() <= pause {
                return Err(MastError::Timeout {
                    what: service.to_string(),
                    budget: deadline.budget(),
                    detail: "MAST still reports EXECUTING".to_string(),
                });
            }
            tracing::debug!(service, page, "MAST query still executing, polling again");
            tokio::time::sleep(pause).await;
        };
        if envelope.status != "COMPLETE" {
            let message = if envelope.msg.is_empty() {
                "There was an error with your request.".to_string()
            } else {
                envelope.msg
            };
            return Err(MastError::Remote {
                what: service.to_string(),
                message: format!("status {}: {message}", envelope.status),
            });
        }
        merge_fields(&mut table.fields, envelope.fields);
        table.rows.extend(envelope.rows);
        let Some((current, total)) = envelope.paging else {
            return Ok(table);
        };
        if current >= total {
            return Ok(table);
        }
        if current < page {
            return Err(MastError::Malformed {
                what: service.to_string(),
                detail: format!("asked for page {page}, got page {current} of {total}"),
            });
        }
        page = current + 1;
    }
}

fn merge_fields(into: &mut Vec<Field>, fields: Vec<Field>) {
    for field in fields {
        if !into.iter().any(|f| f.name == field.name) {
            into.push(field);
        }
    }
}

/// One decoded response.
#[derive(Debug)]
pub struct Envelope {
    pub status: String,
    pub msg: String,
    /// `(page, pagesFiltered)` when the response has paging.
    pub paging: Option<(u32, u32)>,
    pub fields: Vec<Field>,
    pub rows: Vec<Map<String, Value>>,
}

/// Decode the JSON envelope, naming `service` in every error.
pub fn parse_envelope(service: &str, body: &[u8]) -> Result<Envelope, MastError> {
    let malformed = |detail: String| MastError::Malformed {
        what: service.to_string(),
        detail,
    };
    if body.iter().all(u8::is_ascii_whitespace) {
        return Err(malformed(format!(
            "empty body ({} bytes of whitespace)",
            body.len()
        )));
    }
    let value: Value = serde_json::from_slice(body).map_err(|e| {
        if e.is_eof() {
            malformed(format!("truncated JSON after {} bytes ({e})", body.len()))
        } else {
            malformed(format!(
                "not valid JSON ({e}); starts with {:?}",
                preview(body)
            ))
        }
    })?;
    let Value::Object(mut object) = value else {
        return Err(malformed(format!(
            "expected a JSON object, got {}",
            preview(body)
        )));
    };
    if object.is_empty() {
        return Err(malformed("empty JSON object".to_string()));
    }
    let status = match object.get("status") {
        Some(Value::String(s)) => s.clone(),
        _ => return Err(malformed("no 'status' member".to_string())),
    };
    let msg = object
        .get("msg")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string();
    if status != "COMPLETE" {
        return Ok(Envelope {
            status,
            msg,
            paging: None,
            fields: Vec::new(),
            rows: Vec::new(),
        });
    }
    let paging = match object.get("paging") {
        None | Some(Value::Null) => None,
        Some(paging) => {
            let number = |key: &str| paging.get(key).and_then(as_u32);
            match (number("page"), number("pagesFiltered")) {
                (Some(page), Some(total)) => Some((page, total)),
                _ => return Err(malformed(format!("unreadable 'paging' member: {paging}"))),
            }
        }
    };
    let fields = match object.remove("fields") {
        Some(fields @ Value::Array(_)) => serde_json::from_value::<Vec<Field>>(fields)
            .map_err(|e| malformed(format!("unreadable 'fields': {e}")))?,
        _ => return Err(malformed("missing required key 'fields'".to_string())),
    };
    let rows = match object.remove("data") {
        Some(Value::Array(items)) => items
            .into_iter()
            .map(|item| match item {
                Value::Object(mut row) => {
                    row.remove("_selected_");
                    Ok(row)
                }
                other => Err(malformed(format!(
                    "a data row is not an object: {}",
                    truncate(&other.to_string())
                ))),
            })
            .collect::<Result<Vec<_>, _>>()?,
        _ => return Err(malformed("missing required key 'data'".to_string())),
    };
    let fields = fields
        .into_iter()
        .filter(|f| f.name != "_selected_")
        .collect();
    Ok(Envelope {
        status,
        msg,
        paging,
        fields,
        rows,
    })
}

/// A number that may arrive as a JSON number or a numeric string.
fn as_u32(value: &Value) -> Option<u32> {
    match value {
        Value::Number(n) => n.as_u64().and_then(|n| u32::try_from(n).ok()),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

fn preview(body: &[u8]) -> String {
    truncate(&String::from_utf8_lossy(&body[..body.len().min(80)]))
}

fn truncate(text: &str) -> String {
    text.chars().take(80).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seed_request_encodes_like_the_doc() {
        let filters = WireJson::Arr(vec![
            WireJson::obj([
                ("paramName", WireJson::str("obs_collection")),
                ("separator", WireJson::str(";")),
                ("values", WireJson::Arr(vec![WireJson::str("HST")])),
            ]),
            WireJson::obj([
                ("paramName", WireJson::str("filters")),
                ("separator", WireJson::str(";")),
                ("values", WireJson::Arr(vec![WireJson::str("F606W")])),
            ]),
            WireJson::obj([
                ("paramName", WireJson::str("instrument_name")),
                ("values", WireJson::Arr(vec![WireJson::str("ACS/WFC")])),
            ]),
            WireJson::obj([
                ("paramName", WireJson::str("proposal_id")),
                ("values", WireJson::Arr(vec![WireJson::str("12062")])),
            ]),
            WireJson::obj([
                ("paramName", WireJson::str("dataRights")),
                ("values", WireJson::Arr(vec![WireJson::str("PUBLIC")])),
            ]),
        ]);
        let params = WireJson::obj([("columns", WireJson::str("*")), ("filters", filters)]);
        let request = mashup_request(
            "Mast.Caom.Filtered",
            params,
            50000,
            1,
            "6f1c1f8e-0d3e-4a55-9a55-3b1a2c7d9e10",
        );
        let want = "request=%7B%22service%22%3A%20%22Mast.Caom.Filtered%22%2C%20%22params%22%3A%20%7B%22columns%22%3A%20%22%2A%22%2C%20%22filters%22%3A%20%5B%7B%22paramName%22%3A%20%22obs_collection%22%2C%20%22separator%22%3A%20%22%3B%22%2C%20%22values%22%3A%20%5B%22HST%22%5D%7D%2C%20%7B%22paramName%22%3A%20%22filters%22%2C%20%22separator%22%3A%20%22%3B%22%2C%20%22values%22%3A%20%5B%22F606W%22%5D%7D%2C%20%7B%22paramName%22%3A%20%22instrument_name%22%2C%20%22values%22%3A%20%5B%22ACS/WFC%22%5D%7D%2C%20%7B%22paramName%22%3A%20%22proposal_id%22%2C%20%22values%22%3A%20%5B%2212062%22%5D%7D%2C%20%7B%22paramName%22%3A%20%22dataRights%22%2C%20%22values%22%3A%20%5B%22PUBLIC%22%5D%7D%5D%7D%2C%20%22format%22%3A%20%22json%22%2C%20%22pagesize%22%3A%2050000%2C%20%22page%22%3A%201%2C%20%22cacheBreaker%22%3A%20%226f1c1f8e-0d3e-4a55-9a55-3b1a2c7d9e10%22%7D";
        assert_eq!(invoke_body(&request), want);
    }

    #[test]
    fn cache_breakers_are_uuid4() {
        let a = new_cache_breaker();
        let b = new_cache_breaker();
        assert_ne!(a, b);
        assert_eq!(a.len(), 36);
        assert_eq!(a.as_bytes()[14], b'4', "version nibble of {a}");
    }

    #[test]
    fn envelope_errors_name_the_service() {
        let cases: Vec<(&[u8], &str)> = vec![
            (
                b"{\"status\": \"COMPLETE\", \"data\": [",
                "Mast.Caom.Products: malformed response: truncated JSON",
            ),
            (
                b"<html>oops</html>",
                "Mast.Caom.Products: malformed response: not valid JSON",
            ),
            (
                b"null",
                "Mast.Caom.Products: malformed response: expected a JSON object",
            ),
            (
                b"{}",
                "Mast.Caom.Products: malformed response: empty JSON object",
            ),
            (
                b"{\"status\": \"COMPLETE\", \"data\": []}",
                "Mast.Caom.Products: malformed response: missing required key 'fields'",
            ),
            (
                b"{\"status\": \"COMPLETE\", \"fields\": []}",
                "Mast.Caom.Products: malformed response: missing required key 'data'",
            ),
        ];
        for (body, want) in cases {
            let err = parse_envelope("Mast.Caom.Products", body)
                .unwrap_err()
                .to_string();
            assert!(
                err.starts_with(want),
                "body {:?}: expected prefix {want:?}, got {err:?}",
                String::from_utf8_lossy(body)
            );
        }
    }

    #[test]
    fn recorded_products_fixture_parses() {
        let body = std::fs::read(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../mast-standin/fixtures/products.json"
        ))
        .unwrap();
        let envelope = parse_envelope("Mast.Caom.Products", &body).unwrap();
        assert_eq!(envelope.status, "COMPLETE");
        assert_eq!(envelope.paging, Some((1, 1)));
        assert_eq!(envelope.rows.len(), 22);
        assert!(
            !envelope.fields.iter().any(|f| f.name == "_selected_"),
            "_selected_ dropped from fields"
        );
        assert!(
            !envelope.rows[0].contains_key("_selected_"),
            "_selected_ dropped from rows"
        );
    }
}
