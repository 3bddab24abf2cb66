//! ObjectMeta validation of `apimachinery/pkg/api/validation/objectmeta.go` and `util/validation`: label and
//! annotation keys and values, and owner references. A real API server rejects these with 422, so an operator
//! that builds a label from a long name must fail here too.

use serde_json::{Map, Value};

use super::error::Cause;
use super::meta::is_dns_subdomain;

const NAME_PART: &str = "name part must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyName',  or 'my.name',  or '123-abc', regex used for validation is '([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]')";
const LABEL_VALUE: &str = "a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyValue',  or 'my_value',  or '12345', regex used for validation is '(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?')";
const ANNOTATIONS_MAX: usize = 256 * 1024;

/// `([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]`, or empty when `allow_empty`.
fn alnum_dash_dot(s: &str, allow_empty: bool) -> bool {
    if s.is_empty() {
        return allow_empty;
    }
    let b = s.as_bytes();
    b[0].is_ascii_alphanumeric()
        && b[b.len() - 1].is_ascii_alphanumeric()
        && b.iter()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, b'-' | b'_' | b'.'))
}

/// Problems with a qualified name (`[prefix/]name`), as upstream words them.
pub fn qualified_name_errors(key: &str) -> Vec<String> {
    let mut errs = Vec::new();
    let (prefix, name) = match key.split_once('/') {
        Some((p, n)) => (Some(p), n),
        None => (None, key),
    };
    if let Some(p) = prefix {
        if p.is_empty() {
            errs.push("prefix part must be non-empty".to_string());
        } else if !is_dns_subdomain(p) {
            errs.push("prefix part a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character (e.g. 'example.com', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')".to_string());
        }
        if name.contains('/') {
            errs.push(
                "a qualified name must consist of a name part and an optional prefix separated by '/'"
                    .to_string(),
            );
            return errs;
        }
    }
    if name.is_empty() {
        errs.push("name part must be non-empty".to_string());
    } else if name.len() > 63 {
        errs.push("name part must be no more than 63 characters".to_string());
    } else if !alnum_dash_dot(name, false) {
        errs.push(NAME_PART.to_string());
    }
    errs
}

pub fn label_value_errors(v: &str) -> Vec<String> {
    let mut errs = Vec::new();
    if v.len() > 63 {
        errs.push("must be no more than 63 characters".to_string());
    }
    if !alnum_dash_dot(v, true) {
        errs.push(LABEL_VALUE.to_string());
    }
    errs
}

fn string_map<'a>(
    meta: &'a Map<String, Value>,
    key: &str,
    causes: &mut Vec<Cause>,
) -> Vec<(&'a str, &'a str)> {
    let mut out = Vec::new();
    match meta.get(key) {
        None | Some(Value::Null) => {}
        Some(Value::Object(m)) => {
            for (k, v) in m {
                match v.as_str() {
                    Some(s) => out.push((k.as_str(), s)),
                    None => causes.push(Cause::new(
                        "FieldValueTypeInvalid",
                        &format!("metadata.{key}"),
                        format!("Invalid value: {v}: must be a string"),
                    )),
                }
            }
        }
        Some(other) => causes.push(Cause::new(
            "FieldValueTypeInvalid",
            &format!("metadata.{key}"),
            format!("Invalid value: {other}: must be a map of strings"),
        )),
    }
    out
}

/// Validation causes for labels, annotations and owner references of `meta`.
pub fn meta_causes(meta: &Map<String, Value>) -> Vec<Cause> {
    let mut causes = Vec::new();
    for (k, v) in string_map(meta, "labels", &mut causes) {
        for e in qualified_name_errors(k) {
            causes.push(Cause::new(
                "FieldValueInvalid",
                "metadata.labels",
                format!("Invalid value: {k:?}: {e}"),
            ));
        }
        for e in label_value_errors(v) {
            causes.push(Cause::new(
                "FieldValueInvalid",
                "metadata.labels",
                format!("Invalid value: {v:?}: {e}"),
            ));
        }
    }
    let annotations = string_map(meta, "annotations", &mut causes);
    let mut total = 0;
    for (k, v) in &annotations {
        total += k.len() + v.len();
        for e in qualified_name_errors(&k.to_ascii_lowercase()) {
            causes.push(Cause::new(
                "FieldValueInvalid",
                "metadata.annotations",
                format!("Invalid value: {k:?}: {e}"),
            ));
        }
    }
    if total > ANNOTATIONS_MAX {
        causes.push(Cause::new(
            "FieldValueTooLong",
            "metadata.annotations",
            format!("Too long: may not be more than {ANNOTATIONS_MAX} bytes"),
        ));
    }
    if let Some(refs) = meta.get("ownerReferences").and_then(Value::as_array) {
        for (i, r) in refs.iter().enumerate() {
            for (field, what) in [
                ("apiVersion", "version"),
                ("kind", "kind"),
                ("name", "name"),
                ("uid", "uid"),
            ] {
                if r.get(field).and_then(Value::as_str).is_none_or(str::is_empty) {
                    causes.push(Cause::new(
                        "FieldValueInvalid",
                        &format!("metadata.ownerReferences[{i}].{field}"),
                        format!("Invalid value: \"\": {what} must not be empty"),
                    ));
                }
            }
        }
    }
    causes
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn labels_annotations_owners() {
        let cases = [
            (
                json!({"labels": {"app": "a", "example.com/x": "", "a.b/c_d": "A-1.b"}}),
                0,
            ),
            (json!({"labels": {"app": "x".repeat(64)}}), 1),
            (json!({"labels": {"app": "-bad"}}), 1),
            (json!({"labels": {"Bad_/x": "v"}}), 1),
            (json!({"labels": {"a/b/c": "v"}}), 1),
            (json!({"labels": {"app": 1}}), 1),
            (
                json!({"annotations": {"kubectl.kubernetes.io/last-applied-configuration": "{...}", "Note": "x"}}),
                0,
            ),
            (json!({"annotations": {"x": "y".repeat(ANNOTATIONS_MAX)}}), 1),
            (
                json!({"ownerReferences": [{"apiVersion": "v1", "kind": "ConfigMap", "name": "a", "uid": "u"}]}),
                0,
            ),
            (
                json!({"ownerReferences": [{"apiVersion": "v1", "kind": "ConfigMap", "name": "a"}]}),
                1,
            ),
        ];
        for (meta, want) in cases {
            let causes = meta_causes(meta.as_object().unwrap());
            assert_eq!(causes.len(), want, "{meta}: {causes:?}");
        }
    }
}
