//! The create-only review resources: `authorization.k8s.io/v1` SelfSubjectAccessReview, SelfSubjectRulesReview,
//! SubjectAccessReview, LocalSubjectAccessReview, and `authentication.k8s.io/v1` SelfSubjectReview
//! (`kubectl auth can-i` and `kubectl auth whoami`). Nothing is stored: the answer is the request with a status.

use serde_json::{Map, Value, json};

use super::{Attributes, ResourceAttrs, UserInfo, authorize, rules_for};
use crate::store::{ApiError, Cause, ResourceInfo, Store};

fn s(v: &Value, key: &str) -> String {
    v[key].as_str().unwrap_or("").to_string()
}

/// Request attributes from a review's `spec` (`resourceAttributes` or `nonResourceAttributes`).
fn attributes(info: &ResourceInfo, spec: &Value) -> Result<Attributes, ApiError> {
    let ra = spec.get("resourceAttributes").filter(|v| !v.is_null());
    let nra = spec.get("nonResourceAttributes").filter(|v| !v.is_null());
    let invalid = |field: &str, msg: &str| {
        ApiError::invalid(
            &info.kind,
            &info.gvr.group,
            "",
            vec![Cause::new(
                "FieldValueInvalid",
                field,
                format!("Invalid value: \"null\": {msg}"),
            )],
        )
    };
    match (ra, nra) {
        (Some(_), Some(_)) => Err(invalid(
            "spec.nonResourceAttributes",
            "cannot be specified in combination with resourceAttributes",
        )),
        (None, None) => Err(invalid(
            "spec.resourceAttributes",
            "exactly one of nonResourceAttributes or resourceAttributes must be specified",
        )),
        (Some(r), None) => Ok(Attributes {
            verb: s(r, "verb"),
            resource: Some(ResourceAttrs {
                group: s(r, "group"),
                resource: s(r, "resource"),
                subresource: s(r, "subresource"),
                name: s(r, "name"),
                namespace: s(r, "namespace"),
            }),
            path: String::new(),
        }),
        (None, Some(n)) => Ok(Attributes {
            verb: s(n, "verb"),
            resource: None,
            path: s(n, "path"),
        }),
    }
}

fn access_status(store: &Store, user: &UserInfo, attrs: &Attributes) -> Value {
    let d = authorize(store, user, attrs);
    let mut status = json!({"allowed": d.allowed});
    if !d.reason.is_empty() {
        status["reason"] = json!(d.reason);
    }
    status
}

/// Answers a POST to a review resource as `user` (the caller). `namespace` is the URL's (local reviews).
pub fn handle_review(
    store: &Store,
    user: &UserInfo,
    info: &ResourceInfo,
    namespace: Option<&str>,
    mut body: Value,
) -> Result<Value, ApiError> {
    let spec = body.get("spec").cloned().unwrap_or_else(|| json!({}));
    let status = match info.gvr.resource.as_str() {
        "selfsubjectaccessreviews" => access_status(store, user, &attributes(info, &spec)?),
        "selfsubjectrulesreviews" => {
            let ns = spec["namespace"].as_str().unwrap_or("");
            let (resource_rules, non_resource_rules) = rules_for(store, user, ns);
            json!({"resourceRules": resource_rules, "nonResourceRules": non_resource_rules, "incomplete": false})
        }
        "subjectaccessreviews" | "localsubjectaccessreviews" => {
            let subject_name = s(&spec, "user");
            let groups: Vec<String> = spec["groups"]
                .as_array()
                .map(|a| a.iter().filter_map(|g| g.as_str().map(str::to_string)).collect())
                .unwrap_or_default();
            if subject_name.is_empty() && groups.is_empty() {
                return Err(ApiError::invalid(
                    &info.kind,
                    &info.gvr.group,
                    "",
                    vec![Cause::new(
                        "FieldValueInvalid",
                        "spec.user,spec.groups",
                        "Invalid value: \"\": at least one of user or group must be specified",
                    )],
                ));
            }
            let mut attrs = attributes(info, &spec)?;
            if let (Some(ns), Some(r)) = (namespace, attrs.resource.as_mut()) {
                if !r.namespace.is_empty() && r.namespace != ns {
                    return Err(ApiError::invalid(
                        &info.kind,
                        &info.gvr.group,
                        "",
                        vec![Cause::new(
                            "FieldValueInvalid",
                            "spec.resourceAttributes.namespace",
                            format!("Invalid value: {:?}: must match metadata.namespace", r.namespace),
                        )],
                    ));
                }
                r.namespace = ns.to_string();
            }
            let subject = UserInfo {
                name: subject_name,
                groups,
                uid: s(&spec, "uid"),
            };
            access_status(store, &subject, &attrs)
        }
        _ => return Err(ApiError::method_not_allowed()),
    };
    if let Some(m) = body.as_object_mut() {
        let meta = m.entry("metadata").or_insert_with(|| json!({}));
        if let Some(meta) = meta.as_object_mut() {
            meta.insert("creationTimestamp".into(), Value::Null);
        }
        m.insert("status".into(), status);
    }
    Ok(body)
}

/// `POST /apis/authentication.k8s.io/v1/selfsubjectreviews` (`kubectl auth whoami`).
pub fn self_subject_review(user: &UserInfo, body: &Value) -> Value {
    let mut out = Map::new();
    out.insert("kind".into(), json!("SelfSubjectReview"));
    out.insert(
        "apiVersion".into(),
        body.get("apiVersion")
            .cloned()
            .unwrap_or_else(|| json!("authentication.k8s.io/v1")),
    );
    out.insert("metadata".into(), json!({"creationTimestamp": null}));
    out.insert("status".into(), json!({"userInfo": user.to_json()}));
    Value::Object(out)
}
