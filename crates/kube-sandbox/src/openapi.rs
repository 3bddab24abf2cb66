//! OpenAPI v3: the `/openapi/v3` index and one document per group-version. kubectl 1.32 reads them for
//! `create -f`/`apply -f` (it looks for a PATCH operation carrying the object's `x-kubernetes-group-version-kind`
//! that lists a `fieldValidation` parameter, then leaves validation to the server) and for `explain` (it
//! looks for a `components.schemas` entry with the GVK).

mod paths;
mod schemas;

use serde_json::{Map, Value, json};

/// One served group-version. `group` is "" for the core group.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct GroupVersionDoc {
    pub group: String,
    pub version: String,
}

impl GroupVersionDoc {
    /// The index key and URL path segment: `api/v1` or `apis/batch/v1`.
    pub fn path(&self) -> String {
        if self.group.is_empty() {
            format!("api/{}", self.version)
        } else {
            format!("apis/{}/{}", self.group, self.version)
        }
    }
}

/// One resource served in a group-version.
#[derive(Clone, Debug, PartialEq)]
pub struct ResourceDoc {
    pub kind: String,
    /// The plural resource name used in paths (`widgets`).
    pub plural: String,
    pub namespaced: bool,
    /// Whether a `/status` subresource is served.
    pub status: bool,
    /// A CRD version's `openAPIV3Schema`; None for built-ins (their schemas are built in).
    pub schema: Option<Value>,
}

/// `/openapi/v3`: `{"paths": {"api/v1": {"serverRelativeURL": "/openapi/v3/api/v1?hash=…"}, …}}`.
pub fn v3_index(gvs: &[GroupVersionDoc], hash_of: &dyn Fn(&GroupVersionDoc) -> String) -> Value {
    let mut paths = Map::new();
    for gv in gvs {
        let p = gv.path();
        paths.insert(
            p.clone(),
            json!({"serverRelativeURL": format!("/openapi/v3/{p}?hash={}", hash_of(gv))}),
        );
    }
    json!({ "paths": paths })
}

/// The built-in resources the sandbox serves in `gv` (the registry's table, as documents).
pub fn builtin_resources(gv: &GroupVersionDoc) -> Vec<ResourceDoc> {
    let table: &[(&str, &str, &str, bool, bool)] = &[
        ("", "Namespace", "namespaces", false, true),
        ("", "Pod", "pods", true, true),
        ("", "ConfigMap", "configmaps", true, false),
        ("", "Secret", "secrets", true, false),
        ("", "ServiceAccount", "serviceaccounts", true, false),
        ("", "Event", "events", true, false),
        ("events.k8s.io", "Event", "events", true, false),
        ("coordination.k8s.io", "Lease", "leases", true, false),
        ("batch", "Job", "jobs", true, true),
        ("batch", "CronJob", "cronjobs", true, true),
        ("rbac.authorization.k8s.io", "Role", "roles", true, false),
        (
            "rbac.authorization.k8s.io",
            "RoleBinding",
            "rolebindings",
            true,
            false,
        ),
        (
            "rbac.authorization.k8s.io",
            "ClusterRole",
            "clusterroles",
            false,
            false,
        ),
        (
            "rbac.authorization.k8s.io",
            "ClusterRoleBinding",
            "clusterrolebindings",
            false,
            false,
        ),
        (
            "apiextensions.k8s.io",
            "CustomResourceDefinition",
            "customresourcedefinitions",
            false,
            true,
        ),
    ];
    if gv.version != "v1" {
        return Vec::new();
    }
    table
        .iter()
        .filter(|(g, ..)| *g == gv.group)
        .map(|(_, kind, plural, namespaced, status)| ResourceDoc {
            kind: (*kind).to_string(),
            plural: (*plural).to_string(),
            namespaced: *namespaced,
            status: *status,
            schema: None,
        })
        .collect()
}

/// The English plural kubectl-style names usually follow (`Widget` → `widgets`, `Policy` → `policies`); a
/// fallback for callers that only know the kind.
pub fn guess_plural(kind: &str) -> String {
    let lower = kind.to_lowercase();
    if lower.ends_with('s') || lower.ends_with('x') || lower.ends_with("ch") || lower.ends_with("sh") {
        format!("{lower}es")
    } else if let Some(stem) = lower.strip_suffix('y')
        && !stem.ends_with(['a', 'e', 'i', 'o', 'u'])
    {
        format!("{stem}ies")
    } else {
        format!("{lower}s")
    }
}

/// The document for one group-version: the built-ins of `gv` plus CRDs given as (kind, openAPIV3Schema,
/// namespaced). CRD plurals are guessed from the kind and `/status` is assumed; prefer [`v3_document_for`]
/// with the registry's real plurals and subresources.
pub fn v3_document(gv: &GroupVersionDoc, crds: &[(String, Value, bool)]) -> Value {
    let mut resources = builtin_resources(gv);
    resources.extend(crds.iter().map(|(kind, schema, namespaced)| ResourceDoc {
        kind: kind.clone(),
        plural: guess_plural(kind),
        namespaced: *namespaced,
        status: true,
        schema: Some(schema.clone()),
    }));
    v3_document_for(gv, &resources)
}

/// The document for one group-version with exactly these resources.
pub fn v3_document_for(gv: &GroupVersionDoc, resources: &[ResourceDoc]) -> Value {
    let mut schemas_map = schemas::shared();
    let mut paths = Map::new();
    for r in resources {
        let gvk = json!({"group": gv.group, "version": gv.version, "kind": r.kind});
        let name = kind_schema(gv, r, &gvk, &mut schemas_map);
        let list_name = format!("{name}List");
        schemas_map.insert(
            list_name.clone(),
            json!({"type": "object", "required": ["items"],
                   "description": format!("{}List is a list of {}.", r.kind, r.kind),
                   "properties": {
                       "apiVersion": {"type": "string", "description": schemas::API_VERSION_DESC},
                       "kind": {"type": "string", "description": schemas::KIND_DESC},
                       "items": {"type": "array", "items": schemas::ref_prop(&name, ""), "description": format!("List of {}.", r.plural)},
                       "metadata": schemas::ref_prop(schemas::LIST_META, "Standard list metadata.")},
                   "x-kubernetes-group-version-kind": [{"group": gv.group, "version": gv.version, "kind": format!("{}List", r.kind)}]}),
        );
        paths::add(&mut paths, gv, r, &gvk, &name, &list_name);
    }
    json!({
        "openapi": "3.0.0",
        "info": {"title": "Kubernetes", "version": "v1.33.0"},
        "paths": paths,
        "components": {"schemas": schemas_map}
    })
}

/// Adds the kind's schema and returns its component name.
fn kind_schema(gv: &GroupVersionDoc, r: &ResourceDoc, gvk: &Value, out: &mut Map<String, Value>) -> String {
    let gvk_ext = json!([gvk]);
    let base = |props: Map<String, Value>, description: String| {
        let mut all = Map::new();
        all.insert(
            "apiVersion".into(),
            json!({"type": "string", "description": schemas::API_VERSION_DESC}),
        );
        all.insert(
            "kind".into(),
            json!({"type": "string", "description": schemas::KIND_DESC}),
        );
        all.insert(
            "metadata".into(),
            schemas::ref_prop(schemas::OBJECT_META, schemas::METADATA_DESC),
        );
        all.extend(props);
        (all, description)
    };
    match (&r.schema, schemas::builtin_kind(&gv.group, &r.kind)) {
        (Some(crd_schema), _) => {
            let name = format!("{}.{}.{}", reverse_domain(&gv.group), gv.version, r.kind);
            let mut s = crd_schema.as_object().cloned().unwrap_or_default();
            let props = s
                .get("properties")
                .and_then(Value::as_object)
                .cloned()
                .unwrap_or_default();
            // The apiserver replaces the CRD's metadata node with the real ObjectMeta.
            let props: Map<String, Value> = props.into_iter().filter(|(k, _)| k != "metadata").collect();
            let (all, _) = base(props, String::new());
            s.insert("type".into(), json!("object"));
            s.insert("properties".into(), Value::Object(all));
            s.insert("x-kubernetes-group-version-kind".into(), gvk_ext);
            out.insert(name.clone(), Value::Object(s));
            name
        }
        (None, Some((name, props))) => {
            let open = props.is_empty();
            let (all, description) = base(props, format!("{} is a built-in {} resource.", r.kind, gv.path()));
            let mut s = json!({"type": "object", "description": description, "properties": all,
                               "x-kubernetes-group-version-kind": gvk_ext});
            if open && let Some(m) = s.as_object_mut() {
                m.insert("x-kubernetes-preserve-unknown-fields".into(), json!(true));
            }
            out.insert(name.clone(), s);
            name
        }
        (None, None) => {
            let name = format!("{}.{}.{}", reverse_domain(&gv.group), gv.version, r.kind);
            let (all, description) = base(Map::new(), r.kind.clone());
            out.insert(
                name.clone(),
                json!({"type": "object", "description": description, "properties": all,
                       "x-kubernetes-preserve-unknown-fields": true, "x-kubernetes-group-version-kind": gvk_ext}),
            );
            name
        }
    }
}

/// `example.com` → `com.example`, how the apiserver names CRD schemas.
fn reverse_domain(group: &str) -> String {
    group.split('.').rev().collect::<Vec<_>>().join(".")
}

#[cfg(test)]
mod tests;

/// The media type of the protobuf OpenAPI v2 document client-go asks for (gnostic `openapi_v2.Document`).
pub const V2_PROTOBUF: &str = "application/com.github.proto-openapi.spec.v2@v1.0+protobuf";
/// The Content-Type kube-openapi answers it with (Go's mime parser refuses the `@` of the Accept form).
pub const V2_PROTOBUF_RESPONSE: &str = "application/com.github.proto-openapi.spec.v2.v1.0+protobuf";

fn pb_field(out: &mut Vec<u8>, field: u8, bytes: &[u8]) {
    out.push((field << 3) | 2);
    let mut len = bytes.len();
    loop {
        let b = (len & 0x7f) as u8;
        len >>= 7;
        if len == 0 {
            out.push(b);
            break;
        }
        out.push(b | 0x80);
    }
    out.extend_from_slice(bytes);
}

/// `/openapi/v2` as protobuf: a Swagger 2.0 document with no paths. kubectl and helm fetch it when a kind is
/// missing from `/openapi/v3` (objects of a CRD applied in the same file as the CRD): finding no PATCH operation
/// for the kind, they skip schema validation and fail at the REST mapping with "ensure CRDs are installed
/// first", as against a real server. (A 404 here made them fail earlier with "failed to download openapi".)
pub fn v2_document_protobuf(version: &str) -> Vec<u8> {
    let mut info = Vec::new();
    pb_field(&mut info, 1, b"Kubernetes");
    pb_field(&mut info, 2, version.as_bytes());
    let mut doc = Vec::new();
    pb_field(&mut doc, 1, b"2.0");
    pb_field(&mut doc, 2, &info);
    doc
}

/// `/openapi/v2` as JSON (same content as [`v2_document_protobuf`]).
pub fn v2_document_json(version: &str) -> Value {
    json!({"swagger": "2.0", "info": {"title": "Kubernetes", "version": version}, "paths": {}, "definitions": {}})
}
