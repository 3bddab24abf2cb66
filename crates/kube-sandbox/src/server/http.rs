//! Request/response plumbing: JSON responses, Status errors, warnings, query parameters, body decoding.

use axum::body::Body;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use serde_json::Value;

use crate::store::ApiError;

/// Request bodies above this are rejected with 413, like the real server's 3 MiB limit.
pub const MAX_BODY: usize = 3 * 1024 * 1024;

pub const JSON: &str = "application/json";

/// A response body built from serialized JSON, with optional `Warning` headers.
pub fn json_bytes(code: u16, body: Vec<u8>, warnings: &[String]) -> Response {
    let mut resp = Response::new(Body::from(body));
    *resp.status_mut() = StatusCode::from_u16(code).unwrap_or(StatusCode::OK);
    resp.headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(JSON));
    add_warnings(resp.headers_mut(), warnings);
    resp
}

pub fn json(code: u16, value: &Value, warnings: &[String]) -> Response {
    match serde_json::to_vec(value) {
        Ok(b) => json_bytes(code, b, warnings),
        Err(e) => error(&ApiError::internal(e.to_string())),
    }
}

pub fn add_warnings(headers: &mut HeaderMap, warnings: &[String]) {
    for w in warnings {
        let escaped = w.replace('\\', "\\\\").replace('"', "\\\"");
        if let Ok(v) = HeaderValue::from_str(&format!("299 - \"{escaped}\"")) {
            headers.append(header::WARNING, v);
        }
    }
}

/// A metav1 Status response for an error, with Retry-After when the error carries retryAfterSeconds.
pub fn error(e: &ApiError) -> Response {
    let mut resp = json(e.code, &e.to_status(), &[]);
    if let Some(secs) = e.retry_after()
        && let Ok(v) = HeaderValue::from_str(&secs.to_string())
    {
        resp.headers_mut().insert(header::RETRY_AFTER, v);
    }
    resp
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        error(&self)
    }
}

/// Query parameters, in order (a key may repeat; the first value wins in `get`).
#[derive(Clone, Debug, Default)]
pub struct Query(pub Vec<(String, String)>);

impl Query {
    pub fn parse(raw: Option<&str>) -> Result<Self, ApiError> {
        match raw {
            None | Some("") => Ok(Query(Vec::new())),
            Some(q) => serde_urlencoded::from_str(q)
                .map(Query)
                .map_err(|e| ApiError::bad_request(format!("invalid query string: {e}"))),
        }
    }

    pub fn get(&self, key: &str) -> Option<&str> {
        self.0.iter().find(|(k, _)| k == key).map(|(_, v)| v.as_str())
    }

    /// A non-empty value.
    pub fn value(&self, key: &str) -> Option<&str> {
        self.get(key).filter(|v| !v.is_empty())
    }

    pub fn flag(&self, key: &str) -> bool {
        matches!(self.get(key), Some("true" | "1" | "True"))
    }

    pub fn dry_run(&self) -> bool {
        self.0.iter().any(|(k, v)| k == "dryRun" && v == "All")
    }
}

pub fn header_str(headers: &HeaderMap, name: header::HeaderName) -> &str {
    headers.get(name).and_then(|v| v.to_str().ok()).unwrap_or("")
}

/// The media type of a Content-Type header, lowercased, without parameters.
pub fn media_type(headers: &HeaderMap) -> String {
    header_str(headers, header::CONTENT_TYPE)
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase()
}

/// Parses a JSON or YAML document into a JSON value.
pub fn parse_document(body: &Bytes, yaml: bool) -> Result<Value, ApiError> {
    let text =
        std::str::from_utf8(body).map_err(|_| ApiError::bad_request("the request body is not UTF-8"))?;
    let trimmed = text.trim_start();
    if !yaml || trimmed.starts_with('{') || trimmed.starts_with('[') {
        match serde_json::from_str(text) {
            Ok(v) => return Ok(v),
            Err(e) if !yaml => {
                return Err(ApiError::bad_request(format!(
                    "couldn't get version/kind; json parse error: {e}"
                )));
            }
            Err(_) => {}
        }
    }
    serde_saphyr::from_str::<Value>(text)
        .map_err(|e| ApiError::bad_request(format!("error converting YAML to JSON: {e}")))
}

/// Decodes a POST/PUT body by Content-Type (JSON, or YAML as a convenience); protobuf and CBOR are 415.
pub fn decode_object(headers: &HeaderMap, body: &Bytes) -> Result<Value, ApiError> {
    let mt = media_type(headers);
    let yaml = match mt.as_str() {
        "" | "application/json" | "*/*" => false,
        "application/yaml" | "application/x-yaml" | "text/yaml" => true,
        #[cfg(feature = "kubectl")]
        "application/vnd.kubernetes.protobuf" => {
            return super::protobuf::decode(body).map_err(|e| {
                let mut err =
                    ApiError::unsupported_media_type(&mt, &["application/json", "application/yaml"]);
                err.message = format!("{} ({e})", err.message);
                err
            });
        }
        other => {
            return Err(ApiError::unsupported_media_type(
                other,
                &["application/json", "application/yaml"],
            ));
        }
    };
    let v = parse_document(body, yaml)?;
    if !v.is_object() {
        return Err(ApiError::bad_request("the request body must be a JSON object"));
    }
    Ok(v)
}

/// Which representation the client asked for in Accept.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Representation {
    Object,
    #[cfg(feature = "kubectl")]
    Table,
    PartialMetadata,
}

pub fn representation(headers: &HeaderMap) -> Representation {
    // Only the first acceptable alternative counts: clients list their preference first.
    let accept = header_str(headers, header::ACCEPT);
    let first = accept.split(',').next().unwrap_or("").replace(' ', "");
    if cfg!(feature = "kubectl") && first.contains("as=Table") {
        #[cfg(feature = "kubectl")]
        return Representation::Table;
    }
    if first.contains("as=PartialObjectMetadata") {
        Representation::PartialMetadata
    } else {
        Representation::Object
    }
}

/// A field manager derived from the User-Agent, as upstream does when `fieldManager` is absent.
pub fn manager_from_user_agent(ua: &str) -> String {
    let prefix = ua.split('/').next().unwrap_or("").trim();
    let m: String = prefix.chars().take(128).collect();
    if m.is_empty() { "unknown".into() } else { m }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn representations() {
        let mut h = HeaderMap::new();
        assert_eq!(representation(&h), Representation::Object);
        h.insert(
            header::ACCEPT,
            HeaderValue::from_static("application/json;as=Table;v=v1;g=meta.k8s.io,application/json"),
        );
        assert_eq!(representation(&h), Representation::Table);
        h.insert(
            header::ACCEPT,
            HeaderValue::from_static("application/json;as=PartialObjectMetadataList;g=meta.k8s.io;v=v1"),
        );
        assert_eq!(representation(&h), Representation::PartialMetadata);
    }

    #[test]
    fn documents() {
        let b = Bytes::from_static(b"apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: a\n");
        assert_eq!(parse_document(&b, true).unwrap()["metadata"]["name"], "a");
        assert_eq!(
            parse_document(&Bytes::from_static(b"{\"a\":1}"), false).unwrap()["a"],
            1
        );
        assert_eq!(
            parse_document(&Bytes::from_static(b"{nope"), false)
                .unwrap_err()
                .code,
            400
        );
        let mut h = HeaderMap::new();
        h.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/vnd.kubernetes.protobuf"),
        );
        assert_eq!(
            decode_object(&h, &Bytes::from_static(b"x")).unwrap_err().code,
            415
        );
    }

    #[test]
    fn managers_and_queries() {
        assert_eq!(
            manager_from_user_agent("kubectl/v1.33.1 (linux/amd64) kubernetes/abc"),
            "kubectl"
        );
        let q = Query::parse(Some("labelSelector=app%3Da&dryRun=All&watch=1")).unwrap();
        assert_eq!(q.get("labelSelector"), Some("app=a"));
        assert!(q.dry_run() && q.flag("watch"));
    }
}
