//! list and deletecollection: selectors, pagination with snapshot-consistent continue tokens, Table and
//! PartialObjectMetadata renderings.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::response::Response;
use parking_lot::Mutex;
use serde_json::{Value, json};

use super::http::{self, Query, Representation};
use super::path::ResourcePath;
use crate::selectors::{FieldSelector, LabelSelector, supported_field};
use crate::store::{ApiError, ResourceInfo, Store, Stored};
#[cfg(feature = "kubectl")]
use crate::table;

const SNAPSHOT_TTL: Duration = Duration::from_secs(300);
const MAX_SNAPSHOTS: usize = 256;

/// The matching objects as stored (bytes, not parsed values: a snapshot of 100,000 Jobs stays small).
struct Snapshot {
    items: Arc<Vec<Stored>>,
    rv: u64,
    at: Instant,
}

/// Consistent snapshots behind continue tokens. Tokens expire (410) after 5 minutes, on eviction, or when the
/// history is compacted by fault injection.
#[derive(Default)]
pub struct Pagination {
    inner: Mutex<(u64, HashMap<u64, Snapshot>)>,
}

impl Pagination {
    fn put(&self, items: Arc<Vec<Stored>>, rv: u64) -> u64 {
        let mut g = self.inner.lock();
        g.0 += 1;
        let id = g.0;
        g.1.retain(|_, s| s.at.elapsed() < SNAPSHOT_TTL);
        if g.1.len() >= MAX_SNAPSHOTS
            && let Some(oldest) = g.1.iter().min_by_key(|(_, s)| s.at).map(|(k, _)| *k)
        {
            g.1.remove(&oldest);
        }
        g.1.insert(
            id,
            Snapshot {
                items,
                rv,
                at: Instant::now(),
            },
        );
        id
    }

    fn get(&self, id: u64) -> Option<(Arc<Vec<Stored>>, u64)> {
        let g = self.inner.lock();
        g.1.get(&id)
            .filter(|s| s.at.elapsed() < SNAPSHOT_TTL)
            .map(|s| (s.items.clone(), s.rv))
    }

    /// Expires every outstanding continue token.
    pub fn clear(&self) {
        self.inner.lock().1.clear();
    }
}

fn encode_token(id: u64, offset: usize) -> String {
    format!("{id:x}-{offset:x}")
        .bytes()
        .map(|b| format!("{b:02x}"))
        .collect()
}

fn decode_token(t: &str) -> Option<(u64, usize)> {
    if !t.len().is_multiple_of(2) {
        return None;
    }
    let bytes: Option<Vec<u8>> = (0..t.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(t.get(i..i + 2)?, 16).ok())
        .collect();
    let s = String::from_utf8(bytes?).ok()?;
    let (a, b) = s.split_once('-')?;
    Some((
        u64::from_str_radix(a, 16).ok()?,
        usize::from_str_radix(b, 16).ok()?,
    ))
}

/// Label and field selectors of a request, checked against what the type supports.
pub struct Selectors {
    pub labels: Option<LabelSelector>,
    pub fields: Option<FieldSelector>,
}

impl Selectors {
    pub fn parse(info: &ResourceInfo, q: &Query) -> Result<Self, ApiError> {
        let labels = match q.value("labelSelector") {
            Some(s) => Some(
                LabelSelector::parse(s)
                    .map_err(|e| ApiError::bad_request(format!("unable to parse requirement: {e}")))?,
            ),
            None => None,
        };
        let fields = match q.value("fieldSelector") {
            Some(s) => {
                let fs = FieldSelector::parse(s)
                    .map_err(|e| ApiError::bad_request(format!("invalid field selector: {e}")))?;
                let selectable = info
                    .crd
                    .as_ref()
                    .map(|c| c.selectable_fields.clone())
                    .unwrap_or_default();
                for f in fs.fields() {
                    if !supported_field(&info.gvr.group, &info.kind, f, &selectable) {
                        return Err(ApiError::bad_request(format!(
                            "\"{f}\" is not a known field selector: only \"metadata.name\", \"metadata.namespace\""
                        )));
                    }
                }
                Some(fs)
            }
            None => None,
        };
        Ok(Selectors { labels, fields })
    }

    pub fn is_empty(&self) -> bool {
        self.labels.is_none() && self.fields.is_none()
    }

    pub fn matches(&self, obj: &Value) -> bool {
        if let Some(l) = &self.labels {
            let labels = obj.pointer("/metadata/labels").and_then(Value::as_object);
            if !l.matches(labels) {
                return false;
            }
        }
        self.fields.as_ref().is_none_or(|f| f.matches(obj))
    }
}

/// Columns for Table output of a type.
#[cfg(feature = "kubectl")]
pub fn columns(info: &ResourceInfo) -> Vec<table::Column> {
    match &info.crd {
        Some(c) => table::columns_for_crd(&c.printer_columns),
        None => table::columns_for_builtin(&info.gvr.group, &info.kind),
    }
}

pub fn partial_metadata(obj: &Value) -> Value {
    json!({"kind": "PartialObjectMetadata", "apiVersion": "meta.k8s.io/v1", "metadata": obj.get("metadata").cloned().unwrap_or(json!({}))})
}

/// One object in the representation the client asked for.
#[cfg_attr(not(feature = "kubectl"), allow(unused_variables))]
pub fn render_one(info: &ResourceInfo, rep: Representation, q: &Query, obj: &Value) -> Value {
    match rep {
        Representation::Object => obj.clone(),
        Representation::PartialMetadata => partial_metadata(obj),
        #[cfg(feature = "kubectl")]
        Representation::Table => {
            let rv = obj
                .pointer("/metadata/resourceVersion")
                .cloned()
                .unwrap_or(Value::Null);
            table::render(
                &columns(info),
                std::slice::from_ref(obj),
                q.value("includeObject").unwrap_or("Metadata"),
                &json!({"resourceVersion": rv}),
                jiff::Timestamp::now(),
            )
        }
    }
}

/// Matching objects and the list resourceVersion, honouring resourceVersion/resourceVersionMatch.
async fn snapshot(
    store: &Store,
    path: &ResourcePath,
    q: &Query,
    sel: &Selectors,
) -> Result<(Vec<Stored>, u64), ApiError> {
    let rv_param = q.value("resourceVersion");
    let rv_match = q.value("resourceVersionMatch");
    if rv_match.is_some() && rv_param.is_none() {
        return Err(ApiError::invalid(
            "ListOptions",
            "meta.k8s.io",
            "",
            vec![crate::store::Cause::new(
                "FieldValueForbidden",
                "resourceVersionMatch",
                "Forbidden: resourceVersionMatch is forbidden unless resourceVersion is provided",
            )],
        ));
    }
    if let Some(rv) = rv_param {
        let n: u64 = rv
            .parse()
            .map_err(|_| ApiError::bad_request(format!("invalid resource version: {rv}")))?;
        let current = store.current_rv();
        if n > current {
            // Upstream waits up to 3 s for the cache to catch up, then gives up.
            let deadline = Instant::now() + Duration::from_secs(3);
            while store.current_rv() < n && Instant::now() < deadline {
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            if store.current_rv() < n {
                return Err(ApiError::new(504, "Timeout", format!("Too large resource version: {n}, current: {}", store.current_rv()))
                    .with_details(json!({"causes": [{"reason": "ResourceVersionTooLarge", "message": "Too large resource version"}], "retryAfterSeconds": 1})));
            }
        }
        if rv_match == Some("Exact") && n != current && n != 0 {
            // No MVCC snapshots are kept: an exact older version can only be reported as compacted.
            return Err(ApiError::expired(format!(
                "too old resource version: {n} ({current})"
            )));
        }
    }
    let (items, rv) = store.list_stored(path.gvr(), path.namespace.as_deref());
    let items = if sel.is_empty() {
        items
    } else {
        items.into_iter().filter(|o| sel.matches(&o.decode())).collect()
    };
    Ok((items, rv))
}

/// `GET` on a collection without `watch`.
pub async fn list(
    store: &Store,
    pages: &Pagination,
    path: &ResourcePath,
    q: &Query,
    rep: Representation,
) -> Result<Response, ApiError> {
    let sel = Selectors::parse(&path.info, q)?;
    let limit: usize = match q.value("limit") {
        Some(l) => l
            .parse()
            .map_err(|_| ApiError::bad_request(format!("invalid limit: {l}")))?,
        None => 0,
    };
    let (all, rv, offset) = match q.value("continue") {
        Some(token) => {
            if q.value("resourceVersion").is_some_and(|v| v != "0") {
                return Err(ApiError::bad_request(
                    "specifying resource version is not allowed when using continue",
                ));
            }
            if q.value("resourceVersionMatch").is_some() {
                return Err(ApiError::invalid(
                    "ListOptions",
                    "meta.k8s.io",
                    "",
                    vec![crate::store::Cause::new(
                        "FieldValueForbidden",
                        "resourceVersionMatch",
                        "Forbidden: resourceVersionMatch is forbidden for continue",
                    )],
                ));
            }
            let (id, offset) =
                decode_token(token).ok_or_else(|| ApiError::bad_request("invalid continue token"))?;
            let (items, rv) = pages.get(id).ok_or_else(|| ApiError::expired(
                "The provided continue parameter is too old to display a consistent list result. You can start a new list without the continue parameter.",
            ))?;
            (items, rv, offset)
        }
        None => {
            let (items, rv) = snapshot(store, path, q, &sel).await?;
            (Arc::new(items), rv, 0)
        }
    };
    let end = if limit == 0 {
        all.len()
    } else {
        (offset + limit).min(all.len())
    };
    let page = all.get(offset.min(all.len())..end).unwrap_or(&[]);
    let mut list_meta = json!({"resourceVersion": rv.to_string()});
    if end < all.len() {
        let id = if offset == 0 {
            pages.put(all.clone(), rv)
        } else {
            decode_token(q.value("continue").unwrap_or("")).map_or(0, |t| t.0)
        };
        list_meta["continue"] = json!(encode_token(id, end));
        list_meta["remainingItemCount"] = json!(all.len() - end);
    }
    if rep == Representation::Object {
        return Ok(render_stored(&path.info, page, &list_meta));
    }
    let parsed: Vec<Arc<Value>> = page.iter().map(Stored::decode).collect();
    Ok(render_list(&path.info, rep, q, &parsed, list_meta))
}

/// A list of whole objects, written from their stored bytes without parsing.
fn render_stored(info: &ResourceInfo, page: &[Stored], list_meta: &Value) -> Response {
    let mut buf = Vec::with_capacity(256 + page.iter().map(|s| s.bytes().len() + 1).sum::<usize>());
    buf.extend_from_slice(
        format!(
            "{{\"kind\":\"{}List\",\"apiVersion\":\"{}\",\"metadata\":",
            info.kind,
            info.api_version()
        )
        .as_bytes(),
    );
    if serde_json::to_writer(&mut buf, list_meta).is_err() {
        return http::error(&ApiError::internal("could not serialize list metadata"));
    }
    buf.extend_from_slice(b",\"items\":[");
    for (i, o) in page.iter().enumerate() {
        if i > 0 {
            buf.push(b',');
        }
        buf.extend_from_slice(o.bytes());
    }
    buf.extend_from_slice(b"]}");
    http::json_bytes(200, buf, &[])
}

/// Serializes a list without cloning the items into one big value.
#[cfg_attr(not(feature = "kubectl"), allow(unused_variables))]
pub fn render_list(
    info: &ResourceInfo,
    rep: Representation,
    q: &Query,
    page: &[Arc<Value>],
    list_meta: Value,
) -> Response {
    match rep {
        #[cfg(feature = "kubectl")]
        Representation::Table => {
            let objects: Vec<Value> = page.iter().map(|o| (**o).clone()).collect();
            let t = table::render(
                &columns(info),
                &objects,
                q.value("includeObject").unwrap_or("Metadata"),
                &list_meta,
                jiff::Timestamp::now(),
            );
            http::json(200, &t, &[])
        }
        Representation::PartialMetadata => {
            let items: Vec<Value> = page.iter().map(|o| partial_metadata(o)).collect();
            http::json(
                200,
                &json!({"kind": "PartialObjectMetadataList", "apiVersion": "meta.k8s.io/v1", "metadata": list_meta, "items": items}),
                &[],
            )
        }
        Representation::Object => {
            let mut buf = Vec::with_capacity(256 + page.len() * 512);
            buf.extend_from_slice(
                format!(
                    "{{\"kind\":\"{}List\",\"apiVersion\":\"{}\",\"metadata\":",
                    info.kind,
                    info.api_version()
                )
                .as_bytes(),
            );
            if serde_json::to_writer(&mut buf, &list_meta).is_err() {
                return http::error(&ApiError::internal("could not serialize list metadata"));
            }
            buf.extend_from_slice(b",\"items\":[");
            for (i, o) in page.iter().enumerate() {
                if i > 0 {
                    buf.push(b',');
                }
                if serde_json::to_writer(&mut buf, &**o).is_err() {
                    return http::error(&ApiError::internal("could not serialize an object"));
                }
            }
            buf.extend_from_slice(b"]}");
            http::json_bytes(200, buf, &[])
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_round_trip() {
        let t = encode_token(42, 500);
        assert_eq!(decode_token(&t), Some((42, 500)));
        assert_eq!(decode_token("zz"), None);
        assert_eq!(decode_token("abc"), None);
    }
}
