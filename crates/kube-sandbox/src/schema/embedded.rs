//! `x-kubernetes-embedded-resource` (`apiextensions-apiserver/pkg/apiserver/schema/objectmeta/validation.go`):
//! an embedded object needs `apiVersion` and `kind` (metadata is optional, and validated as upstream's
//! `ValidateObjectMeta` does when present: labels, annotations, owner references, name, namespace), with
//! upstream's messages.

use serde_json::Value;

use super::{FieldError, FieldErrorKind};

fn err(out: &mut Vec<FieldError>, path: String, kind: FieldErrorKind, message: String) {
    out.push(FieldError { path, kind, message });
}

/// `IsDNS1035Label` of the lower-cased kind.
fn dns1035_errors(s: &str) -> Vec<String> {
    let mut errs = Vec::new();
    if s.len() > 63 {
        errs.push("must be no more than 63 characters".to_string());
    }
    let b = s.as_bytes();
    let ok = b.first().is_some_and(u8::is_ascii_lowercase)
        && b.last()
            .is_some_and(|c| c.is_ascii_lowercase() || c.is_ascii_digit())
        && b.iter()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == b'-');
    if !ok {
        errs.push("a DNS-1035 label must consist of lower case alphanumeric characters or '-', start with an alphabetic character, and end with an alphanumeric character (e.g. 'my-name',  or 'abc-123', regex used for validation is '[a-z]([-a-z0-9]*[a-z0-9])?')".to_string());
    }
    errs
}

/// Checks one embedded object at `path` (`spec.template`).
pub(super) fn validate_embedded(m: &serde_json::Map<String, Value>, path: &str, out: &mut Vec<FieldError>) {
    let at = |k: &str| {
        if path.is_empty() {
            k.to_string()
        } else {
            format!("{path}.{k}")
        }
    };
    for k in ["apiVersion", "kind"] {
        if !m.contains_key(k) {
            err(
                out,
                at(k),
                FieldErrorKind::Required,
                "Required value: must not be empty".into(),
            );
        }
    }
    match m.get("apiVersion") {
        None => {}
        Some(Value::String(v)) if v.is_empty() => err(
            out,
            at("apiVersion"),
            FieldErrorKind::Invalid,
            "Invalid value: \"\": must not be empty".into(),
        ),
        Some(Value::String(v)) if v.matches('/').count() > 1 => err(
            out,
            at("apiVersion"),
            FieldErrorKind::Invalid,
            format!("Invalid value: {v:?}: unexpected GroupVersion string: {v}"),
        ),
        Some(Value::String(_)) => {}
        Some(other) => err(
            out,
            at("apiVersion"),
            FieldErrorKind::Invalid,
            format!("Invalid value: {other}: must be a string"),
        ),
    }
    match m.get("kind") {
        None => {}
        Some(Value::String(k)) if k.is_empty() => err(
            out,
            at("kind"),
            FieldErrorKind::Invalid,
            "Invalid value: \"\": must not be empty".into(),
        ),
        Some(Value::String(k)) => {
            let errs = dns1035_errors(&k.to_lowercase());
            if !errs.is_empty() {
                err(
                    out,
                    at("kind"),
                    FieldErrorKind::Invalid,
                    format!(
                        "Invalid value: {k:?}: may have mixed case, but should otherwise match: {}",
                        errs.join(",")
                    ),
                );
            }
        }
        Some(other) => err(
            out,
            at("kind"),
            FieldErrorKind::Invalid,
            format!("Invalid value: {other}: must be a string"),
        ),
    }
    match m.get("metadata") {
        None | Some(Value::Null) => {}
        Some(Value::Object(meta)) => embedded_meta(meta, &at("metadata"), out),
        Some(meta) => err(
            out,
            at("metadata"),
            FieldErrorKind::Invalid,
            format!("Invalid value: {meta}: must be an object"),
        ),
    }
}

/// `ValidateObjectMeta(meta, len(namespace) > 0, path.ValidatePathSegmentName, …)` as upstream runs it on
/// embedded metadata: name and generateName as path segments, the namespace as a DNS label when set, labels,
/// annotations and owner references as on any object.
fn embedded_meta(meta: &serde_json::Map<String, Value>, path: &str, out: &mut Vec<FieldError>) {
    use crate::store::names::{dns_label_errors, path_segment_errors};
    let text = |k: &str| meta.get(k).and_then(Value::as_str).filter(|v| !v.is_empty());
    if let Some(name) = text("name") {
        for e in path_segment_errors(name) {
            err(
                out,
                format!("{path}.name"),
                FieldErrorKind::Invalid,
                format!("Invalid value: {name:?}: {e}"),
            );
        }
    }
    if let Some(prefix) = text("generateName") {
        // `IsValidPathSegmentPrefix`: "." and ".." are fine as prefixes.
        for e in path_segment_errors(prefix)
            .into_iter()
            .filter(|e| e.starts_with("may not contain"))
        {
            err(
                out,
                format!("{path}.generateName"),
                FieldErrorKind::Invalid,
                format!("Invalid value: {prefix:?}: {e}"),
            );
        }
    }
    if let Some(ns) = text("namespace") {
        for e in dns_label_errors(ns) {
            err(
                out,
                format!("{path}.namespace"),
                FieldErrorKind::Invalid,
                format!("Invalid value: {ns:?}: {e}"),
            );
        }
    }
    for cause in crate::store::validate::meta_causes(meta) {
        let kind = match cause.reason.as_str() {
            "FieldValueTooLong" => FieldErrorKind::TooLong,
            _ => FieldErrorKind::Invalid,
        };
        let field = cause.field.strip_prefix("metadata").unwrap_or(&cause.field);
        err(out, format!("{path}{field}"), kind, cause.message);
    }
}
