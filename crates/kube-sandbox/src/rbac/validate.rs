//! Defaulting and validation of the four RBAC kinds (`pkg/apis/rbac/v1/defaults.go`,
//! `pkg/apis/rbac/validation/validation.go`): policy rules, role references, subjects, immutable `roleRef`.

use serde_json::{Value, json};

use super::GROUP;
use crate::store::meta::{name_of, path_segment_errors};
use crate::store::{ApiError, Cause, ResourceInfo};

fn non_empty(v: &Value) -> bool {
    v.as_array().is_some_and(|a| !a.is_empty())
}

/// `ValidatePolicyRule`.
fn policy_rule(rule: &Value, namespaced: bool, at: &str, causes: &mut Vec<Cause>) {
    if !non_empty(&rule["verbs"]) {
        causes.push(Cause::new(
            "FieldValueRequired",
            &format!("{at}.verbs"),
            "Required value: verbs must contain at least one value",
        ));
    }
    if non_empty(&rule["nonResourceURLs"]) {
        let urls = rule["nonResourceURLs"].to_string();
        if namespaced {
            causes.push(Cause::new(
                "FieldValueInvalid",
                &format!("{at}.nonResourceURLs"),
                format!("Invalid value: {urls}: namespaced rules cannot apply to non-resource URLs"),
            ));
        }
        if non_empty(&rule["apiGroups"]) || non_empty(&rule["resources"]) || non_empty(&rule["resourceNames"])
        {
            causes.push(Cause::new(
                "FieldValueInvalid",
                &format!("{at}.nonResourceURLs"),
                format!("Invalid value: {urls}: rules cannot apply to both regular resources and non-resource URLs"),
            ));
        }
        return;
    }
    if !non_empty(&rule["apiGroups"]) {
        causes.push(Cause::new(
            "FieldValueRequired",
            &format!("{at}.apiGroups"),
            "Required value: resource rules must supply at least one api group",
        ));
    }
    if !non_empty(&rule["resources"]) {
        causes.push(Cause::new(
            "FieldValueRequired",
            &format!("{at}.resources"),
            "Required value: resource rules must supply at least one resource",
        ));
    }
}

fn not_supported(field: &str, value: &str, supported: &[&str]) -> Cause {
    let list: Vec<String> = supported.iter().map(|s| format!("{s:?}")).collect();
    Cause::new(
        "FieldValueNotSupported",
        field,
        format!(
            "Unsupported value: {value:?}: supported values: {}",
            list.join(", ")
        ),
    )
}

/// `ValidateRoleBindingSubject`.
fn subject(s: &Value, namespaced: bool, at: &str, causes: &mut Vec<Cause>) {
    let name = s["name"].as_str().unwrap_or("");
    let api_group = s["apiGroup"].as_str().unwrap_or("");
    if name.is_empty() {
        causes.push(Cause::new(
            "FieldValueRequired",
            &format!("{at}.name"),
            "Required value",
        ));
    }
    match s["kind"].as_str().unwrap_or("") {
        "ServiceAccount" => {
            if !name.is_empty() {
                for msg in crate::store::meta::dns_subdomain_errors(name) {
                    causes.push(Cause::new(
                        "FieldValueInvalid",
                        &format!("{at}.name"),
                        format!("Invalid value: {name:?}: {msg}"),
                    ));
                }
            }
            if !api_group.is_empty() {
                causes.push(not_supported(&format!("{at}.apiGroup"), api_group, &[""]));
            }
            if !namespaced && s["namespace"].as_str().is_none_or(str::is_empty) {
                causes.push(Cause::new(
                    "FieldValueRequired",
                    &format!("{at}.namespace"),
                    "Required value",
                ));
            }
        }
        "User" | "Group" => {
            if api_group != GROUP {
                causes.push(not_supported(&format!("{at}.apiGroup"), api_group, &[GROUP]));
            }
        }
        other => causes.push(not_supported(
            &format!("{at}.kind"),
            other,
            &["ServiceAccount", "User", "Group"],
        )),
    }
}

/// `SetDefaults_RoleBinding`/`ClusterRoleBinding`/`Subject`: the RBAC group where it is left out.
fn default_binding(obj: &mut Value) {
    if let Some(r) = obj.get_mut("roleRef").and_then(Value::as_object_mut)
        && r.get("apiGroup")
            .and_then(Value::as_str)
            .is_none_or(str::is_empty)
    {
        r.insert("apiGroup".into(), json!(GROUP));
    }
    if let Some(subjects) = obj.get_mut("subjects").and_then(Value::as_array_mut) {
        for s in subjects.iter_mut().filter_map(Value::as_object_mut) {
            let kind = s.get("kind").and_then(Value::as_str).unwrap_or("");
            if matches!(kind, "User" | "Group")
                && s.get("apiGroup")
                    .and_then(Value::as_str)
                    .is_none_or(str::is_empty)
            {
                s.insert("apiGroup".into(), json!(GROUP));
            }
        }
    }
}

fn binding(obj: &Value, namespaced: bool, causes: &mut Vec<Cause>) {
    let role_ref = &obj["roleRef"];
    let group = role_ref["apiGroup"].as_str().unwrap_or("");
    if group != GROUP {
        causes.push(not_supported("roleRef.apiGroup", group, &[GROUP]));
    }
    let kind = role_ref["kind"].as_str().unwrap_or("");
    let kinds: &[&str] = if namespaced {
        &["Role", "ClusterRole"]
    } else {
        &["ClusterRole"]
    };
    if !kinds.contains(&kind) {
        causes.push(not_supported("roleRef.kind", kind, kinds));
    }
    let name = role_ref["name"].as_str().unwrap_or("");
    if name.is_empty() {
        causes.push(Cause::new("FieldValueRequired", "roleRef.name", "Required value"));
    } else {
        for msg in path_segment_errors(name) {
            causes.push(Cause::new(
                "FieldValueInvalid",
                "roleRef.name",
                format!("Invalid value: {name:?}: {msg}"),
            ));
        }
    }
    if let Some(subjects) = obj["subjects"].as_array() {
        for (i, s) in subjects.iter().enumerate() {
            subject(s, namespaced, &format!("subjects[{i}]"), causes);
        }
    }
}

fn role(obj: &Value, namespaced: bool, causes: &mut Vec<Cause>) {
    if let Some(rules) = obj["rules"].as_array() {
        for (i, rule) in rules.iter().enumerate() {
            policy_rule(rule, namespaced, &format!("rules[{i}]"), causes);
        }
    }
    if !namespaced
        && let Some(agg) = obj.get("aggregationRule").filter(|a| !a.is_null())
        && !non_empty(&agg["clusterRoleSelectors"])
    {
        causes.push(Cause::new(
            "FieldValueRequired",
            "aggregationRule.clusterRoleSelectors",
            "Required value: at least one clusterRoleSelector required if aggregationRule is non-nil",
        ));
    }
}

fn check(info: &ResourceInfo, obj: &Value, causes: Vec<Cause>) -> Result<(), ApiError> {
    if causes.is_empty() {
        Ok(())
    } else {
        Err(ApiError::invalid(
            &info.kind,
            &info.gvr.group,
            name_of(obj),
            causes,
        ))
    }
}

/// Defaults and validates an RBAC object on create (and on every update of the main resource).
pub fn prepare(info: &ResourceInfo, obj: &mut Value) -> Result<(), ApiError> {
    let mut causes = Vec::new();
    match info.gvr.resource.as_str() {
        "roles" => role(obj, true, &mut causes),
        "clusterroles" => role(obj, false, &mut causes),
        "rolebindings" => {
            default_binding(obj);
            binding(obj, true, &mut causes);
        }
        "clusterrolebindings" => {
            default_binding(obj);
            binding(obj, false, &mut causes);
        }
        _ => {}
    }
    check(info, obj, causes)
}

/// Update: the create rules, and `roleRef` of a binding cannot change.
pub fn prepare_update(info: &ResourceInfo, old: &Value, new: &mut Value) -> Result<(), ApiError> {
    prepare(info, new)?;
    if info.gvr.resource.ends_with("bindings") && old.get("roleRef") != new.get("roleRef") {
        let r = &new["roleRef"];
        let shown = format!(
            "rbac.RoleRef{{APIGroup:{:?}, Kind:{:?}, Name:{:?}}}",
            r["apiGroup"].as_str().unwrap_or(""),
            r["kind"].as_str().unwrap_or(""),
            r["name"].as_str().unwrap_or("")
        );
        return check(
            info,
            new,
            vec![Cause::new(
                "FieldValueInvalid",
                "roleRef",
                format!("Invalid value: {shown}: cannot change roleRef"),
            )],
        );
    }
    Ok(())
}
