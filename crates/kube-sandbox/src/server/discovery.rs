//! Discovery (legacy and aggregated v2), `/version` and the OpenAPI v3 documents.

use std::collections::BTreeMap;
#[cfg(feature = "kubectl")]
use std::hash::{Hash, Hasher};
use std::sync::Arc;

use axum::http::{HeaderMap, HeaderValue, header};
use axum::response::Response;
use serde_json::{Value, json};

use super::http;
#[cfg(feature = "kubectl")]
use crate::openapi::{self, GroupVersionDoc};
use crate::store::{ApiError, ResourceInfo, Store};

pub const AGGREGATED_CT: &str = "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList";

/// The Kubernetes version the sandbox reports (kubectl's dispatcher picks its bundled kubectl from it).
#[derive(Clone, Debug)]
pub struct VersionInfo {
    pub major: String,
    pub minor: String,
    pub git_version: String,
}

impl Default for VersionInfo {
    fn default() -> Self {
        VersionInfo {
            major: "1".into(),
            minor: "33".into(),
            git_version: "v1.33.1-sandbox".into(),
        }
    }
}

pub fn version(v: &VersionInfo) -> Response {
    http::json(
        200,
        &json!({
            "major": v.major, "minor": v.minor,
            "emulationMajor": v.major, "emulationMinor": v.minor,
            "minCompatibilityMajor": v.major, "minCompatibilityMinor": "32",
            "gitVersion": v.git_version, "gitCommit": "0000000000000000000000000000000000000000",
            "gitTreeState": "clean", "buildDate": "2026-01-01T00:00:00Z",
            "goVersion": "go1.24.0", "compiler": "rustc", "platform": "linux/amd64",
        }),
        &[],
    )
}

/// v2beta1 (kubectl 1.26–1.32 ask for it first) has the v2 layout under another apiVersion.
pub const AGGREGATED_V2BETA1_CT: &str =
    "application/json;g=apidiscovery.k8s.io;v=v2beta1;as=APIGroupDiscoveryList";

/// The aggregated discovery version the client asks for first ("v2" or "v2beta1"), if any.
fn wants_aggregated(headers: &HeaderMap) -> Option<&'static str> {
    let accept = http::header_str(headers, header::ACCEPT).replace(' ', "");
    let first = accept.split(',').next()?;
    if !first.contains("as=APIGroupDiscoveryList") {
        return None;
    }
    match first.split(';').find_map(|p| p.strip_prefix("v=")) {
        Some("v2") => Some("v2"),
        Some("v2beta1") => Some("v2beta1"),
        _ => None,
    }
}

/// The versions of one group, preferred first, each with its types.
type Versions = Vec<(String, Vec<Arc<ResourceInfo>>)>;

/// Served types grouped by group (core first), then version.
fn grouped(store: &Store) -> BTreeMap<(bool, String), Versions> {
    let mut out: BTreeMap<(bool, String), Versions> = BTreeMap::new();
    for info in store.types() {
        let versions = out
            .entry((!info.gvr.group.is_empty(), info.gvr.group.clone()))
            .or_default();
        match versions.iter_mut().find(|(v, _)| *v == info.gvr.version) {
            Some((_, list)) => list.push(info),
            None => versions.push((info.gvr.version.clone(), vec![info])),
        }
    }
    for versions in out.values_mut() {
        versions.sort_by_key(|v| std::cmp::Reverse(version_priority(&v.0)));
    }
    out
}

/// Kubernetes version priority: GA > beta > alpha, higher numbers first.
fn version_priority(v: &str) -> (u8, u32, u32) {
    let rest = v.strip_prefix('v').unwrap_or(v);
    let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
    let major = digits.parse().unwrap_or(0);
    let tail = &rest[digits.len()..];
    let (level, minor) = if tail.is_empty() {
        (3, 0)
    } else if let Some(n) = tail.strip_prefix("beta") {
        (2, n.parse().unwrap_or(0))
    } else if let Some(n) = tail.strip_prefix("alpha") {
        (1, n.parse().unwrap_or(0))
    } else {
        (0, 0)
    };
    (level, major, minor)
}

fn scope(info: &ResourceInfo) -> &'static str {
    if info.namespaced { "Namespaced" } else { "Cluster" }
}

fn aggregated_item(group: &str, versions: &[(String, Vec<Arc<ResourceInfo>>)]) -> Value {
    let versions: Vec<Value> = versions
        .iter()
        .map(|(version, infos)| {
            let resources: Vec<Value> = infos
                .iter()
                .map(|i| {
                    let kind = json!({"group": group, "version": version, "kind": i.kind});
                    let mut r = json!({
                        "resource": i.gvr.resource, "responseKind": kind, "scope": scope(i),
                        "singularResource": i.singular, "verbs": i.verbs,
                    });
                    if !i.short_names.is_empty() {
                        r["shortNames"] = json!(i.short_names);
                    }
                    if !i.categories.is_empty() {
                        r["categories"] = json!(i.categories);
                    }
                    if i.status_subresource {
                        r["subresources"] = json!([{"subresource": "status", "responseKind": kind, "verbs": ["get", "patch", "update"]}]);
                    }
                    r
                })
                .collect();
            json!({"version": version, "freshness": "Current", "resources": resources})
        })
        .collect();
    json!({"metadata": {"name": group, "creationTimestamp": null}, "versions": versions})
}

fn aggregated(version: &str, items: Vec<Value>) -> Response {
    let body = json!({"kind": "APIGroupDiscoveryList", "apiVersion": format!("apidiscovery.k8s.io/{version}"), "metadata": {}, "items": items});
    let mut resp = http::json(200, &body, &[]);
    let ct = if version == "v2" {
        AGGREGATED_CT
    } else {
        AGGREGATED_V2BETA1_CT
    };
    resp.headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(ct));
    resp
}

/// `GET /api`.
pub fn core_versions(store: &Store, headers: &HeaderMap, addr: &str) -> Response {
    if let Some(version) = wants_aggregated(headers) {
        let groups = grouped(store);
        let items = groups
            .get(&(false, String::new()))
            .map(|v| vec![aggregated_item("", v)])
            .unwrap_or_default();
        return aggregated(version, items);
    }
    http::json(
        200,
        &json!({"kind": "APIVersions", "versions": ["v1"],
            "serverAddressByClientCIDRs": [{"clientCIDR": "0.0.0.0/0", "serverAddress": addr}]}),
        &[],
    )
}

fn group_json(group: &str, versions: &[(String, Vec<Arc<ResourceInfo>>)]) -> Value {
    let vs: Vec<Value> = versions
        .iter()
        .map(|(v, _)| json!({"groupVersion": format!("{group}/{v}"), "version": v}))
        .collect();
    let preferred = vs.first().cloned().unwrap_or(Value::Null);
    json!({"name": group, "versions": vs, "preferredVersion": preferred})
}

/// `GET /apis`.
pub fn groups(store: &Store, headers: &HeaderMap) -> Response {
    let groups = grouped(store);
    let named = groups.iter().filter(|((named, _), _)| *named);
    if let Some(version) = wants_aggregated(headers) {
        return aggregated(version, named.map(|((_, g), v)| aggregated_item(g, v)).collect());
    }
    let list: Vec<Value> = named.map(|((_, g), v)| group_json(g, v)).collect();
    http::json(
        200,
        &json!({"kind": "APIGroupList", "apiVersion": "v1", "groups": list}),
        &[],
    )
}

/// `GET /apis/<group>`.
pub fn group(store: &Store, name: &str) -> Response {
    let groups = grouped(store);
    match groups.get(&(true, name.to_string())) {
        Some(v) => {
            let mut g = group_json(name, v);
            g["kind"] = json!("APIGroup");
            g["apiVersion"] = json!("v1");
            http::json(200, &g, &[])
        }
        None => http::error(&ApiError::unknown_resource()),
    }
}

/// `GET /api/v1`, `GET /apis/<g>/<v>`: the legacy APIResourceList.
pub fn resource_list(store: &Store, group: &str, version: &str) -> Response {
    let infos: Vec<Arc<ResourceInfo>> = store
        .types()
        .into_iter()
        .filter(|i| i.gvr.group == group && i.gvr.version == version)
        .collect();
    if infos.is_empty() {
        return http::error(&ApiError::unknown_resource());
    }
    let mut resources = Vec::new();
    for i in &infos {
        let mut r = json!({"name": i.gvr.resource, "singularName": i.singular, "namespaced": i.namespaced,
            "kind": i.kind, "verbs": i.verbs});
        if !i.short_names.is_empty() {
            r["shortNames"] = json!(i.short_names);
        }
        if !i.categories.is_empty() {
            r["categories"] = json!(i.categories);
        }
        resources.push(r);
        if i.status_subresource {
            resources.push(
                json!({"name": format!("{}/status", i.gvr.resource), "singularName": "",
                "namespaced": i.namespaced, "kind": i.kind, "verbs": ["get", "patch", "update"]}),
            );
        }
    }
    let gv = if group.is_empty() {
        version.to_string()
    } else {
        format!("{group}/{version}")
    };
    http::json(
        200,
        &json!({"kind": "APIResourceList", "apiVersion": "v1", "groupVersion": gv, "resources": resources}),
        &[],
    )
}

#[cfg(feature = "kubectl")]
fn group_versions(store: &Store) -> Vec<GroupVersionDoc> {
    let mut out: Vec<GroupVersionDoc> = Vec::new();
    for i in store.types() {
        if !out
            .iter()
            .any(|d| d.group == i.gvr.group && d.version == i.gvr.version)
        {
            out.push(GroupVersionDoc {
                group: i.gvr.group.clone(),
                version: i.gvr.version.clone(),
            });
        }
    }
    out
}

#[cfg(feature = "kubectl")]
fn document(store: &Store, gv: &GroupVersionDoc) -> Value {
    let crds: Vec<(String, Value, bool)> = store
        .types()
        .into_iter()
        .filter(|i| i.gvr.group == gv.group && i.gvr.version == gv.version)
        .filter_map(|i| {
            i.crd
                .as_ref()
                .map(|c| (i.kind.clone(), c.schema.clone(), i.namespaced))
        })
        .collect();
    openapi::v3_document(gv, &crds)
}

#[cfg(feature = "kubectl")]
/// `GET /openapi/v2`: protobuf when asked for (client-go always is), else JSON.
pub fn openapi_v2(headers: &HeaderMap, version: &VersionInfo) -> Response {
    let accept = http::header_str(headers, header::ACCEPT);
    if accept.contains(openapi::V2_PROTOBUF) {
        let mut resp = Response::new(axum::body::Body::from(openapi::v2_document_protobuf(
            &version.git_version,
        )));
        resp.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static(openapi::V2_PROTOBUF_RESPONSE),
        );
        return resp;
    }
    http::json(200, &openapi::v2_document_json(&version.git_version), &[])
}

#[cfg(feature = "kubectl")]
/// `GET /openapi/v3`: the index, with a hash per document so clients can cache.
pub fn openapi_index(store: &Store) -> Response {
    let gvs = group_versions(store);
    let hash_of = |gv: &GroupVersionDoc| {
        let mut h = std::collections::hash_map::DefaultHasher::new();
        document(store, gv).to_string().hash(&mut h);
        format!("{:016X}", h.finish())
    };
    http::json(200, &openapi::v3_index(&gvs, &hash_of), &[])
}

#[cfg(feature = "kubectl")]
/// `GET /openapi/v3/api/v1`, `GET /openapi/v3/apis/<g>/<v>`.
pub fn openapi_document(store: &Store, rest: &[&str]) -> Response {
    let gv = match rest {
        ["api", v] => GroupVersionDoc {
            group: String::new(),
            version: (*v).to_string(),
        },
        ["apis", g, v] => GroupVersionDoc {
            group: (*g).to_string(),
            version: (*v).to_string(),
        },
        _ => return http::error(&ApiError::unknown_resource()),
    };
    if !group_versions(store)
        .iter()
        .any(|d| d.group == gv.group && d.version == gv.version)
    {
        return http::error(&ApiError::unknown_resource());
    }
    http::json(200, &document(store, &gv), &[])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn version_order() {
        let mut v = vec!["v1alpha1", "v2", "v1beta2", "v1", "v1beta1"];
        v.sort_by_key(|v| std::cmp::Reverse(version_priority(v)));
        assert_eq!(v, vec!["v2", "v1", "v1beta2", "v1beta1", "v1alpha1"]);
    }
}
