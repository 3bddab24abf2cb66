//! Item and collection verbs other than list/watch/patch: get, create, update, delete, deletecollection.

use axum::http::HeaderMap;
use axum::response::Response;
use bytes::Bytes;
use serde_json::{Value, json};

use super::http::{self, Query, Representation};
use super::list::{self, Selectors};
use super::path::ResourcePath;
use crate::schema;
use crate::store::meta;
use crate::store::{
    ApiError, DeleteOptions, DeleteOutcome, Propagation, ResourceInfo, Store, Subresource, WriteOptions,
};

/// Namespaces the lifecycle admission plugin refuses to delete.
const IMMORTAL_NAMESPACES: [&str; 3] = ["default", "kube-system", "kube-public"];

pub const JOB_ORPHAN_WARNING: &str = "child pods are preserved by default when jobs are deleted; set propagationPolicy=Background to remove them or set propagationPolicy=Orphan to suppress this warning";

/// Write options from the query: fieldManager (defaulted from the User-Agent), dryRun.
pub fn write_options(q: &Query, user_agent: &str) -> WriteOptions {
    WriteOptions {
        field_manager: Some(
            q.value("fieldManager")
                .map_or_else(|| http::manager_from_user_agent(user_agent), str::to_string),
        ),
        dry_run: q.dry_run(),
        operation: None,
    }
}

/// fieldValidation for custom resources: unknown fields are an error (Strict), a warning (Warn, the default) or
/// silently pruned (Ignore). Built-in types have no schema here, so they are not checked.
pub fn field_validation(
    info: &ResourceInfo,
    q: &Query,
    obj: &mut Value,
    warnings: &mut Vec<String>,
) -> Result<(), ApiError> {
    let mode = q.value("fieldValidation").unwrap_or("Warn");
    if !matches!(mode, "Strict" | "Warn" | "Ignore") {
        return Err(ApiError::bad_request(format!(
            "fieldValidation must be one of Ignore, Warn or Strict, got {mode:?}"
        )));
    }
    let listed: Vec<String> = match &info.crd {
        // Built-ins: found and dropped as decoding into upstream's types does.
        None => super::builtin_fields::take_unknown_fields(info, obj),
        Some(facts) if facts.schema.is_null() || mode == "Ignore" => return Ok(()),
        Some(facts) => {
            let mut copy = obj.clone();
            schema::prune(&mut copy, &facts.schema)
                .iter()
                .map(|p| format!("unknown field \"{}\"", p.trim_start_matches('.')))
                .collect()
        }
    };
    if listed.is_empty() || mode == "Ignore" {
        return Ok(());
    }
    if mode == "Strict" {
        let version = &info.gvr.version;
        return Err(ApiError::bad_request(format!(
            "{kind} in version \"{version}\" cannot be handled as a {kind}: strict decoding error: {}",
            listed.join(", "),
            kind = info.kind
        )));
    }
    warnings.extend(listed);
    Ok(())
}

/// Checks apiVersion/kind of a body against the resource, and namespace/name against the URL.
pub fn check_identity(path: &ResourcePath, obj: &mut Value, name_from_url: bool) -> Result<(), ApiError> {
    let info = &path.info;
    match obj.get("kind").and_then(Value::as_str) {
        None | Some("") => {
            return Err(ApiError::bad_request(
                "Object 'Kind' is missing in the request body",
            ));
        }
        Some(k) if k != info.kind => {
            return Err(ApiError::bad_request(format!(
                "the kind in the data ({k}) does not match the expected kind ({})",
                info.kind
            )));
        }
        _ => {}
    }
    if let Some(av) = obj.get("apiVersion").and_then(Value::as_str)
        && av != info.api_version()
    {
        return Err(ApiError::bad_request(format!(
            "the API version in the data ({av}) does not match the expected API version ({})",
            info.api_version()
        )));
    }
    if info.namespaced {
        let url_ns = path.namespace.clone().unwrap_or_default();
        match meta::namespace_of(obj) {
            Some(ns) if ns != url_ns => {
                return Err(ApiError::bad_request(
                    "the namespace of the provided object does not match the namespace sent on the request",
                ));
            }
            _ => {
                if let Some(m) = meta::metadata_mut(obj) {
                    m.insert("namespace".into(), json!(url_ns));
                }
            }
        }
    }
    if name_from_url {
        let url_name = path.name.clone().unwrap_or_default();
        let body_name = meta::name_of(obj).to_string();
        if body_name.is_empty() {
            if let Some(m) = meta::metadata_mut(obj) {
                m.insert("name".into(), json!(url_name));
            }
        } else if body_name != url_name {
            return Err(ApiError::bad_request(format!(
                "the name of the object ({body_name}) does not match the name on the URL ({url_name})"
            )));
        }
    }
    Ok(())
}

pub fn get(store: &Store, path: &ResourcePath, q: &Query, rep: Representation) -> Result<Response, ApiError> {
    let name = path.name.as_deref().unwrap_or("");
    let obj = store
        .get_arc(path.gvr(), path.namespace.as_deref(), name)
        .ok_or_else(|| ApiError::not_found(path.gvr(), name))?;
    if rep == Representation::Object {
        return serde_json::to_vec(&*obj)
            .map(|b| http::json_bytes(200, b, &[]))
            .map_err(|e| ApiError::internal(e.to_string()));
    }
    Ok(http::json(200, &list::render_one(&path.info, rep, q, &obj), &[]))
}

pub fn create(
    store: &Store,
    path: &ResourcePath,
    q: &Query,
    headers: &HeaderMap,
    body: &Bytes,
    ua: &str,
) -> Result<Response, ApiError> {
    if path.name.is_some() {
        return Err(ApiError::method_not_allowed());
    }
    if path.info.namespaced && path.namespace.is_none() {
        return Err(ApiError::method_not_allowed());
    }
    let mut obj = http::decode_object(headers, body)?;
    check_identity(path, &mut obj, false)?;
    if meta::meta_str(&obj, "resourceVersion").is_some_and(|rv| !rv.is_empty() && rv != "0") {
        // The etcd3 store's wording; it reaches clients as a 500.
        return Err(ApiError::internal(
            "resourceVersion should not be set on objects to be created",
        ));
    }
    let mut warnings = Vec::new();
    field_validation(&path.info, q, &mut obj, &mut warnings)?;
    let created = store.create_with(path.gvr(), obj, &write_options(q, ua))?;
    Ok(http::json(201, &created, &warnings))
}

pub fn update(
    store: &Store,
    path: &ResourcePath,
    q: &Query,
    headers: &HeaderMap,
    body: &Bytes,
    ua: &str,
) -> Result<Response, ApiError> {
    let mut obj = http::decode_object(headers, body)?;
    check_identity(path, &mut obj, true)?;
    let mut warnings = Vec::new();
    field_validation(&path.info, q, &mut obj, &mut warnings)?;
    let sub = if path.subresource.is_some() {
        Subresource::Status
    } else {
        Subresource::Main
    };
    let (updated, _) = store.update_with(path.gvr(), obj, &write_options(q, ua), sub)?;
    Ok(http::json(200, &updated, &warnings))
}

/// DeleteOptions from the body and the query, as upstream takes them: no body (or whitespace), `{}`, a JSON or
/// YAML DeleteOptions (kubectl, kube-rs), a protobuf one (client-go's typed clients under helm), and the
/// query parameters `propagationPolicy`, `orphanDependents`, `gracePeriodSeconds`, `dryRun` (the body wins).
pub fn delete_options(q: &Query, headers: &HeaderMap, body: &Bytes) -> Result<DeleteOptions, ApiError> {
    let b: Value = if body.iter().all(u8::is_ascii_whitespace) {
        json!({})
    } else {
        http::decode_object(headers, body)?
    };
    if let Some(kind) = b["kind"].as_str().filter(|k| *k != "DeleteOptions") {
        return Err(ApiError::bad_request(format!(
            "DeleteOptions expected, got {kind} in the request body"
        )));
    }
    let policy = b["propagationPolicy"]
        .as_str()
        .or_else(|| q.value("propagationPolicy"));
    let mut propagation = match policy {
        Some(p) => Some(Propagation::parse(p).ok_or_else(|| {
            ApiError::invalid("DeleteOptions", "meta.k8s.io", "", vec![crate::store::Cause::new(
                "FieldValueNotSupported",
                "propagationPolicy",
                format!("Unsupported value: {p:?}: supported values: \"Foreground\", \"Background\", \"Orphan\", \"nil\""),
            )])
        })?),
        None => None,
    };
    let orphan = b["orphanDependents"]
        .as_bool()
        .or_else(|| q.get("orphanDependents").map(|v| v == "true"));
    if propagation.is_none() {
        propagation = orphan.map(|o| {
            if o {
                Propagation::Orphan
            } else {
                Propagation::Background
            }
        });
    }
    let dry_run = q.dry_run()
        || b["dryRun"]
            .as_array()
            .is_some_and(|a| a.iter().any(|v| v == "All"));
    Ok(DeleteOptions {
        propagation,
        preconditions_uid: b
            .pointer("/preconditions/uid")
            .and_then(Value::as_str)
            .map(str::to_string),
        preconditions_rv: b
            .pointer("/preconditions/resourceVersion")
            .and_then(Value::as_str)
            .map(str::to_string),
        grace_period_seconds: b["gracePeriodSeconds"]
            .as_i64()
            .or_else(|| q.value("gracePeriodSeconds").and_then(|v| v.parse().ok())),
        dry_run,
    })
}

fn delete_warnings(info: &ResourceInfo, opts: &DeleteOptions) -> Vec<String> {
    if info.crd.is_none()
        && info.gvr.group == "batch"
        && info.gvr.resource == "jobs"
        && opts.propagation.is_none()
    {
        vec![JOB_ORPHAN_WARNING.to_string()]
    } else {
        Vec::new()
    }
}

pub fn delete(
    store: &Store,
    path: &ResourcePath,
    q: &Query,
    headers: &HeaderMap,
    body: &Bytes,
) -> Result<Response, ApiError> {
    let name = path.name.as_deref().unwrap_or("");
    if path.info.crd.is_none()
        && path.gvr().group.is_empty()
        && path.gvr().resource == "namespaces"
        && IMMORTAL_NAMESPACES.contains(&name)
    {
        return Err(ApiError::forbidden(format!(
            "namespaces \"{name}\" is forbidden: this namespace may not be deleted"
        ))
        .with_details(json!({"name": name, "kind": "namespaces"})));
    }
    let opts = delete_options(q, headers, body)?;
    let warnings = delete_warnings(&path.info, &opts);
    match store.delete_ext(path.gvr(), path.namespace.as_deref(), name, &opts)? {
        DeleteOutcome::Pending(obj) => Ok(http::json(200, &obj, &warnings)),
        DeleteOutcome::Deleted(obj) if path.info.return_deleted_object => {
            Ok(http::json(200, &obj, &warnings))
        }
        DeleteOutcome::Deleted(obj) => {
            let status = json!({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success",
                "details": {"name": name, "group": path.gvr().group, "kind": path.gvr().resource,
                    "uid": meta::meta_str(&obj, "uid").unwrap_or("")}});
            Ok(http::json(200, &status, &warnings))
        }
    }
}

/// DELETE on a collection: deletes every matching object, answers the list of what was deleted or marked.
pub fn delete_collection(
    store: &Store,
    path: &ResourcePath,
    q: &Query,
    headers: &HeaderMap,
    body: &Bytes,
) -> Result<Response, ApiError> {
    let sel = Selectors::parse(&path.info, q)?;
    let opts = delete_options(q, headers, body)?;
    let warnings = delete_warnings(&path.info, &opts);
    let (items, _) = store.list_arc(path.gvr(), path.namespace.as_deref());
    let mut out = Vec::new();
    for o in items.iter().filter(|o| sel.matches(o)) {
        match store.delete_ext(path.gvr(), meta::namespace_of(o), meta::name_of(o), &opts) {
            Ok(res) => out.push(res.into_object()),
            Err(e) if e.code == 404 => {}
            Err(e) => return Err(e),
        }
    }
    let list = json!({"kind": format!("{}List", path.info.kind), "apiVersion": path.info.api_version(),
        "metadata": {"resourceVersion": store.current_rv().to_string()}, "items": out});
    Ok(http::json(200, &list, &warnings))
}
