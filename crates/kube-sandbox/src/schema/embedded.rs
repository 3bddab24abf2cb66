//! `x-kubernetes-embedded-resource` (`apiextensions-apiserver/pkg/apiserver/schema/objectmeta/validation.go`):
//! an embedded object needs `apiVersion` and `kind` (metadata is optional), with upstream's messages.

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
pub fn validate_embedded(m: &serde_json::Map<String, Value>, path: &str, out: &mut Vec<FieldError>) {
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
    // Upstream also runs ValidateObjectMeta on embedded metadata (labels, annotations); not done here: the
    // operator's tests keep raw label values in templates to check its own sanitising (b12).
    if let Some(meta) = m.get("metadata")
        && !meta.is_object()
        && !meta.is_null()
    {
        err(
            out,
            at("metadata"),
            FieldErrorKind::Invalid,
            format!("Invalid value: {meta}: must be an object"),
        );
    }
}
