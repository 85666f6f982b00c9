//! dataURI → S3 location through MAST's `path_lookup` service (≤ 40 URIs per GET,
//! `use_cloud_path=True`). A null or missing entry means "not in the cloud", never an error.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::error::MastError;
use crate::transport::{Deadline, HttpRequest, Transport};
use crate::wire::percent_encode;

/// Path of the lookup endpoint under the base URL.
pub const PATH_LOOKUP_PATH: &str = "/api/v0.1/path_lookup/";
const WHAT: &str = "path_lookup";

/// Where a product lives in S3.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CloudLocation {
    pub bucket: String,
    pub key: String,
}

impl CloudLocation {
    /// `s3://bucket/key`, the form astroquery's `get_cloud_uris` returns.
    pub fn s3_uri(&self) -> String {
        format!("s3://{}/{}", self.bucket, self.key)
    }
}

/// The query string of one lookup request.
pub fn path_lookup_query(uris: &[String]) -> String {
    let mut query: Vec<String> = uris
        .iter()
        .map(|uri| format!("uri={}", percent_encode(uri, false)))
        .collect();
    query.push("use_cloud_path=True".to_string());
    query.join("&")
}

/// Look up every URI, `chunk` at a time; the answer is parallel to `uris`
/// (`None` = not available in the cloud). Each chunk gets the full query budget.
pub async fn lookup_keys(
    transport: &Transport,
    uris: &[String],
) -> Result<Vec<Option<String>>, MastError> {
    let options = transport.options();
    let url = format!("{}{PATH_LOOKUP_PATH}", options.base_url);
    let mut keys = Vec::with_capacity(uris.len());
    for chunk in uris.chunks(options.path_lookup_chunk.max(1)) {
        let request = HttpRequest::Get {
            query: path_lookup_query(chunk),
        };
        let body = transport
            .exchange(WHAT, &url, &request, Deadline::start(options.query_budget))
            .await?;
        keys.extend(parse_lookup(&body, chunk)?);
    }
    Ok(keys)
}

/// Read one lookup answer: an object keyed by the URI as sent, each `{status_code, path}`.
pub fn parse_lookup(body: &[u8], uris: &[String]) -> Result<Vec<Option<String>>, MastError> {
    let malformed = |detail: String| MastError::Malformed {
        what: WHAT.to_string(),
        detail,
    };
    let value: Value = serde_json::from_slice(body).map_err(|e| {
        if e.is_eof() {
            malformed(format!("truncated JSON after {} bytes ({e})", body.len()))
        } else {
            malformed(format!("not valid JSON ({e})"))
        }
    })?;
    let Value::Object(entries) = value else {
        return Err(malformed(
            "expected a JSON object keyed by dataURI".to_string(),
        ));
    };
    Ok(uris
        .iter()
        .map(|uri| {
            let path = entries
                .get(uri)
                .and_then(|e| e.get("path"))
                .and_then(Value::as_str)?;
            let key = path.trim_start_matches('/');
            if key.is_empty() {
                None
            } else {
                Some(key.to_string())
            }
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_string_matches_the_doc() {
        let uris = vec![
            "mast:HST/product/jbeveo010_drz.fits".to_string(),
            "mast:HST/product/jbevet010_drz.fits".to_string(),
        ];
        assert_eq!(
            path_lookup_query(&uris),
            "uri=mast%3AHST%2Fproduct%2Fjbeveo010_drz.fits&uri=mast%3AHST%2Fproduct%2Fjbevet010_drz.fits&use_cloud_path=True"
        );
    }

    #[test]
    fn recorded_answer_nulls_and_missing() {
        let body = std::fs::read(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../mast-standin/fixtures/mast_relative_path.json"
        ))
        .unwrap();
        let uris = vec![
            "mast:HST/product/u9o40504m_c3m.fits".to_string(),
            "mast:HST/product/does_not_exist.fits".to_string(),
            "mast:HST/product/not_in_answer.fits".to_string(),
        ];
        let got = parse_lookup(&body, &uris).unwrap();
        assert_eq!(
            got,
            vec![
                Some("hst/public/u9o4/u9o40504m/u9o40504m_c3m.fits".to_string()),
                None,
                None
            ]
        );
    }

    #[test]
    fn non_object_is_malformed() {
        let err = parse_lookup(b"[1]", &[]).unwrap_err().to_string();
        assert!(
            err.starts_with("path_lookup: malformed response"),
            "got {err}"
        );
    }
}
