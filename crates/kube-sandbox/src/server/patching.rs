//! PATCH: merge, JSON, strategic merge and server-side apply, executed atomically under the store lock.

use axum::http::HeaderMap;
use axum::response::Response;
use bytes::Bytes;
use serde_json::{Value, json};

use super::http::{self, Query};
use super::path::ResourcePath;
use super::resource::{field_validation, write_options};
use crate::apply::{self, ApplyOptions};
use crate::patch::{self, PatchError};
use crate::store::meta;
use crate::store::{ApiError, Cause, Subresource, Written};

#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    Merge,
    Json,
    Strategic,
    Apply,
}

fn patch_error(e: PatchError) -> ApiError {
    let msg = e.to_string();
    let mut err = ApiError::new(
        422,
        "Invalid",
        "the server rejected our request due to an error in our request",
    );
    err.details =
        Some(json!({"causes": [{"message": msg, "field": "patch", "reason": "FieldValueInvalid"}]}));
    err
}

fn apply_conflict(c: &apply::ApplyConflict) -> ApiError {
    let n = c.conflicts.len();
    let lines: Vec<String> = c
        .conflicts
        .iter()
        .map(|(m, f)| format!("conflict with \"{m}\": {f}"))
        .collect();
    let message = if n == 1 {
        format!("Apply failed with 1 conflict: {}", lines.join(""))
    } else {
        format!("Apply failed with {n} conflicts: {}", lines.join("\n"))
    };
    let causes: Vec<Value> = c
        .conflicts
        .iter()
        .map(|(m, f)| json!({"reason": "FieldManagerConflict", "message": format!("conflict with \"{m}\""), "field": f}))
        .collect();
    ApiError::new(409, "Conflict", message).with_details(json!({"causes": causes}))
}

pub fn patch(
    store: &crate::store::Store,
    path: &ResourcePath,
    q: &Query,
    headers: &HeaderMap,
    body: &Bytes,
    ua: &str,
) -> Result<Response, ApiError> {
    let info = path.info.clone();
    let mt = http::media_type(headers);
    let kind = match mt.as_str() {
        "application/merge-patch+json" => Kind::Merge,
        "application/json-patch+json" => Kind::Json,
        "application/strategic-merge-patch+json" if !info.is_custom() => Kind::Strategic,
        "application/apply-patch+yaml" => Kind::Apply,
        other => {
            let mut accepted = vec![
                "application/json-patch+json",
                "application/merge-patch+json",
                "application/apply-patch+yaml",
            ];
            if !info.is_custom() {
                accepted.push("application/strategic-merge-patch+json");
            }
            return Err(ApiError::unsupported_media_type(other, &accepted));
        }
    };
    let force = q.get("force");
    if kind != Kind::Apply && force.is_some() {
        return Err(ApiError::invalid(
            "PatchOptions",
            "meta.k8s.io",
            "",
            vec![Cause::new(
                "FieldValueForbidden",
                "force",
                "Forbidden: may not be specified for non-apply patch",
            )],
        ));
    }
    let patch_doc = http::parse_document(body, kind == Kind::Apply)?;
    let name = path.name.clone().unwrap_or_default();
    let sub = if path.subresource.is_some() {
        Subresource::Status
    } else {
        Subresource::Main
    };
    let mut opts = write_options(q, ua);
    let now = meta::now_rfc3339();
    let mut warnings: Vec<String> = Vec::new();
    let gvr = path.gvr().clone();
    let result = if kind == Kind::Apply {
        let Some(manager) = q.value("fieldManager").map(str::to_string) else {
            return Err(ApiError::invalid(
                "PatchOptions",
                "meta.k8s.io",
                "",
                vec![Cause::new(
                    "FieldValueRequired",
                    "fieldManager",
                    "Required value: is required for apply patch",
                )],
            ));
        };
        if !patch_doc.is_object() {
            return Err(ApiError::bad_request("the apply patch must be an object"));
        }
        let mut applied = patch_doc;
        check_apply_identity(path, &mut applied, &name)?;
        field_validation(&info, q, &mut applied, &mut warnings)?;
        opts.operation = Some("Apply".into());
        let force = force == Some("true");
        let subresource = (sub == Subresource::Status).then_some("status");
        store.mutate(&gvr, path.namespace.as_deref(), &name, sub, &opts, |live| {
            let aopts = ApplyOptions {
                manager: &manager,
                force,
                now: &now,
                subresource,
            };
            let mut out = apply::apply(live, &applied, &aopts).map_err(|c| apply_conflict(&c))?;
            // The applied config's resourceVersion, when given, is a precondition; otherwise the live one stands.
            if let (Some(l), Some(m)) = (live, meta::metadata_mut(&mut out))
                && meta::meta_str(&applied, "resourceVersion").is_none()
                && let Some(rv) = meta::meta_str(l, "resourceVersion")
            {
                m.insert("resourceVersion".into(), json!(rv));
            }
            Ok(out)
        })
    } else {
        if store.get_arc(&gvr, path.namespace.as_deref(), &name).is_none() {
            return Err(ApiError::not_found(&gvr, &name));
        }
        let group = info.gvr.group.clone();
        let kind_name = info.kind.clone();
        let mut first_warnings: Option<Vec<String>> = None;
        let r = store.mutate(&gvr, path.namespace.as_deref(), &name, sub, &opts, |live| {
            let Some(live) = live else {
                return Err(ApiError::not_found(&gvr, &name));
            };
            let mut out = live.clone();
            match kind {
                Kind::Merge => patch::merge_patch(&mut out, &patch_doc),
                Kind::Json => patch::json_patch(&mut out, &patch_doc).map_err(patch_error)?,
                Kind::Strategic => patch::strategic_merge_patch(&mut out, &patch_doc, &group, &kind_name)
                    .map_err(patch_error)?,
                Kind::Apply => {}
            }
            if !out.is_object() {
                return Err(ApiError::bad_request("the patched object is not a JSON object"));
            }
            if meta::name_of(&out) != name {
                return Err(ApiError::invalid(
                    &kind_name,
                    &group,
                    &name,
                    vec![Cause::new(
                        "FieldValueInvalid",
                        "metadata.name",
                        "Invalid value: field is immutable",
                    )],
                ));
            }
            let mut w = Vec::new();
            field_validation(&info, q, &mut out, &mut w)?;
            first_warnings.get_or_insert(w);
            Ok(out)
        });
        warnings.extend(first_warnings.unwrap_or_default());
        r
    };
    let (obj, written) = result?;
    let code = if written == Written::Created { 201 } else { 200 };
    Ok(http::json(code, &obj, &warnings))
}

/// An apply configuration must name the object it applies to, with the resource's apiVersion and kind.
fn check_apply_identity(path: &ResourcePath, applied: &mut Value, name: &str) -> Result<(), ApiError> {
    let info = &path.info;
    if applied.get("apiVersion").and_then(Value::as_str) != Some(&info.api_version())
        || applied.get("kind").and_then(Value::as_str) != Some(&info.kind)
    {
        return Err(ApiError::bad_request(format!(
            "the apply configuration must have apiVersion {:?} and kind {:?}",
            info.api_version(),
            info.kind
        )));
    }
    let body_name = meta::name_of(applied);
    if !body_name.is_empty() && body_name != name {
        return Err(ApiError::bad_request(format!(
            "the name of the object ({body_name}) does not match the name on the URL ({name})"
        )));
    }
    if let Some(m) = meta::metadata_mut(applied) {
        m.insert("name".into(), json!(name));
        if let Some(ns) = &path.namespace {
            if m.get("namespace")
                .and_then(Value::as_str)
                .is_some_and(|n| n != ns)
            {
                return Err(ApiError::bad_request(
                    "the namespace of the provided object does not match the namespace sent on the request",
                ));
            }
            m.insert("namespace".into(), json!(ns));
        }
    }
    Ok(())
}
