//! Field validation of built-in kinds that operators get wrong in practice: containers without a name or image,
//! ConfigMap/Secret keys and sizes, and immutable ConfigMaps/Secrets (`pkg/apis/core/validation`).

use std::collections::HashSet;

use serde_json::Value;

use crate::store::Cause;

const DATA_MAX: usize = 1024 * 1024;

fn is_dns_label(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 63
        && s.bytes()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == b'-')
        && !s.starts_with('-')
        && !s.ends_with('-')
}

/// Containers of the pod spec at `pointer` (e.g. `/spec/template/spec`), reported under `field`.
pub(super) fn pod_spec(obj: &Value, pointer: &str, field: &str) -> Vec<Cause> {
    let mut causes = Vec::new();
    let Some(spec) = obj.pointer(pointer) else {
        return causes;
    };
    let mut names = HashSet::new();
    for list in ["initContainers", "containers"] {
        let Some(cs) = spec.get(list).and_then(Value::as_array) else {
            continue;
        };
        for (i, c) in cs.iter().enumerate() {
            let at = format!("{field}.{list}[{i}]");
            match c.get("name").and_then(Value::as_str) {
                None | Some("") => causes.push(Cause::new("FieldValueRequired", &format!("{at}.name"), "Required value")),
                Some(n) if !is_dns_label(n) => causes.push(Cause::new(
                    "FieldValueInvalid",
                    &format!("{at}.name"),
                    format!("Invalid value: {n:?}: a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start and end with an alphanumeric character"),
                )),
                Some(n) if !names.insert(n.to_string()) => {
                    causes.push(Cause::new("FieldValueDuplicate", &format!("{at}.name"), format!("Duplicate value: {n:?}")));
                }
                Some(_) => {}
            }
            if c.get("image")
                .and_then(Value::as_str)
                .is_none_or(|s| s.trim().is_empty())
            {
                causes.push(Cause::new(
                    "FieldValueRequired",
                    &format!("{at}.image"),
                    "Required value",
                ));
            }
        }
    }
    causes
}

fn valid_key(k: &str) -> bool {
    !k.is_empty()
        && k.len() <= 253
        && k.bytes()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, b'-' | b'_' | b'.'))
        && k != "."
        && k != ".."
}

/// ConfigMap `data`/`binaryData` or Secret `data`/`stringData` keys and total size.
pub(super) fn data_maps(obj: &Value, maps: &[&str]) -> Vec<Cause> {
    let mut causes = Vec::new();
    let mut total = 0;
    let mut seen = HashSet::new();
    for m in maps {
        let Some(map) = obj.get(*m).and_then(Value::as_object) else {
            continue;
        };
        for (k, v) in map {
            total += v.as_str().map_or(0, str::len);
            if !valid_key(k) {
                causes.push(Cause::new(
                    "FieldValueInvalid",
                    &format!("{m}[{k}]"),
                    format!("Invalid value: {k:?}: a valid config key must consist of alphanumeric characters, '-', '_' or '.' (e.g. 'key.name',  or 'KEY_NAME',  or 'key-name', regex used for validation is '[-._a-zA-Z0-9]+')"),
                ));
            } else if !seen.insert(k.clone()) && *m != "stringData" {
                causes.push(Cause::new(
                    "FieldValueInvalid",
                    &format!("{m}[{k}]"),
                    format!("Invalid value: {k:?}: duplicate of key present in {}", maps[0]),
                ));
            }
        }
    }
    if total > DATA_MAX {
        causes.push(Cause::new(
            "FieldValueTooLong",
            "",
            format!("Too long: may not be more than {DATA_MAX} bytes"),
        ));
    }
    causes
}

/// An `immutable: true` ConfigMap or Secret keeps its data and cannot be made mutable again.
pub(super) fn immutable_data(old: &Value, new: &Value, maps: &[&str]) -> Vec<Cause> {
    let mut causes = Vec::new();
    if old.get("immutable").and_then(Value::as_bool) != Some(true) {
        return causes;
    }
    if new.get("immutable").and_then(Value::as_bool) != Some(true) {
        causes.push(Cause::new(
            "FieldValueForbidden",
            "immutable",
            "Forbidden: field is immutable when `immutable` is set",
        ));
    }
    for m in maps {
        if old.get(*m) != new.get(*m) {
            causes.push(Cause::new(
                "FieldValueForbidden",
                m,
                "Forbidden: field is immutable when `immutable` is set",
            ));
        }
    }
    causes
}

/// An events.k8s.io/v1 Event must say who reported what and when (`pkg/apis/core/validation/events.go`).
pub(super) fn new_event(ev: &Value) -> Vec<Cause> {
    let mut causes = Vec::new();
    let present = |k: &str| ev.get(k).and_then(Value::as_str).is_some_and(|s| !s.is_empty());
    for k in [
        "eventTime",
        "reportingController",
        "reportingInstance",
        "action",
        "reason",
    ] {
        if !present(k) {
            causes.push(Cause::new("FieldValueRequired", k, "Required value"));
        }
    }
    for (k, max) in [
        ("reason", 128),
        ("action", 128),
        ("reportingController", 253),
        ("reportingInstance", 128),
    ] {
        if ev.get(k).and_then(Value::as_str).is_some_and(|s| s.len() > max) {
            causes.push(Cause::new(
                "FieldValueInvalid",
                k,
                format!("Invalid value: can have at most {max} characters"),
            ));
        }
    }
    if ev
        .get("note")
        .and_then(Value::as_str)
        .is_some_and(|s| s.len() > 1024)
    {
        causes.push(Cause::new(
            "FieldValueInvalid",
            "note",
            "Invalid value: can have at most 1024 characters",
        ));
    }
    causes
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn events() {
        let ok = json!({"eventTime": "2026-01-01T00:00:00.000000Z", "reportingController": "c", "reportingInstance": "i",
            "action": "A", "reason": "R", "note": "n"});
        assert!(new_event(&ok).is_empty());
        assert_eq!(new_event(&json!({"reason": "R"})).len(), 4);
        let mut long = ok.clone();
        long["note"] = json!("x".repeat(1025));
        assert_eq!(new_event(&long).len(), 1);
    }

    #[test]
    fn containers() {
        let ok = json!({"spec": {"containers": [{"name": "a", "image": "x"}, {"name": "b", "image": "y"}]}});
        assert!(pod_spec(&ok, "/spec", "spec").is_empty());
        let bad = json!({"spec": {"containers": [{"name": "a"}, {"name": "a", "image": "y"}, {"name": "B_", "image": "z"}]}});
        let fields: Vec<String> = pod_spec(&bad, "/spec", "spec")
            .into_iter()
            .map(|c| c.field)
            .collect();
        assert_eq!(
            fields,
            vec![
                "spec.containers[0].image",
                "spec.containers[1].name",
                "spec.containers[2].name"
            ]
        );
    }

    #[test]
    fn data_and_immutability() {
        assert!(
            data_maps(
                &json!({"data": {"app.conf": "x", "KEY_1": "y"}}),
                &["data", "binaryData"]
            )
            .is_empty()
        );
        assert_eq!(
            data_maps(&json!({"data": {"a/b": "x"}}), &["data", "binaryData"]).len(),
            1
        );
        assert_eq!(
            data_maps(
                &json!({"data": {"a": "x"}, "binaryData": {"a": "eA=="}}),
                &["data", "binaryData"]
            )
            .len(),
            1
        );
        assert_eq!(
            data_maps(&json!({"data": {"a": "x".repeat(DATA_MAX + 1)}}), &["data"]).len(),
            1
        );
        let old = json!({"immutable": true, "data": {"a": "1"}});
        assert!(immutable_data(&old, &old, &["data"]).is_empty());
        assert_eq!(
            immutable_data(&old, &json!({"immutable": true, "data": {"a": "2"}}), &["data"]).len(),
            1
        );
        assert_eq!(
            immutable_data(&old, &json!({"data": {"a": "1"}}), &["data"]).len(),
            1
        );
    }
}
