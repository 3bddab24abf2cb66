//! The structural-schema check of CRD creation (`apiextensions-apiserver/pkg/apiserver/schema/validation.go`
//! and `apis/apiextensions/validation`). Messages are relative to `openAPIV3Schema`.

use serde_json::Value;

/// Checks that `schema` is structural: every node has a `type` (unless `x-kubernetes-int-or-string` or
/// `x-kubernetes-preserve-unknown-fields`), the root is an object, arrays have `items`, `properties` and
/// `additionalProperties` are exclusive, no `$ref`, valid extension values, and root `metadata` restricts only
/// `name`/`generateName`.
pub fn check_structural(schema: &Value) -> Result<(), Vec<String>> {
    let mut errs = Vec::new();
    match schema.get("type").and_then(Value::as_str) {
        Some("object") => {}
        Some(t) => errs.push(format!("type: Invalid value: {t:?}: must be object at the root")),
        None if is_true(schema, "x-kubernetes-preserve-unknown-fields") => {}
        None => errs.push("type: Required value: must not be empty at the root".to_string()),
    }
    if let Some(meta) = schema.pointer("/properties/metadata") {
        let extra = meta
            .get("properties")
            .and_then(Value::as_object)
            .is_some_and(|p| p.keys().any(|k| k != "name" && k != "generateName"));
        if extra {
            errs.push(
                "properties[metadata]: Forbidden: must not specify anything other than name and generateName, \
                 but metadata is implicitly specified"
                    .to_string(),
            );
        }
    }
    node(schema, "", &mut errs);
    if errs.is_empty() { Ok(()) } else { Err(errs) }
}

fn is_true(s: &Value, k: &str) -> bool {
    s.get(k).and_then(Value::as_bool) == Some(true)
}

fn at(path: &str, field: &str) -> String {
    if path.is_empty() {
        field.to_string()
    } else {
        format!("{path}.{field}")
    }
}

fn node(s: &Value, path: &str, errs: &mut Vec<String>) {
    let Value::Object(m) = s else {
        errs.push(format!(
            "{}: Invalid value: {s}: must be a schema object",
            if path.is_empty() { "<root>" } else { path }
        ));
        return;
    };
    let ty = m.get("type").and_then(Value::as_str);
    let preserve = m.get("x-kubernetes-preserve-unknown-fields");
    let int_or_string = is_true(s, "x-kubernetes-int-or-string");
    if m.contains_key("$ref") {
        errs.push(format!("{}: Forbidden: $ref is not supported", at(path, "$ref")));
    }
    if let Some(p) = preserve
        && p != &Value::Bool(true)
    {
        errs.push(format!(
            "{}: Invalid value: {p}: must be true or undefined",
            at(path, "x-kubernetes-preserve-unknown-fields")
        ));
    }
    if int_or_string {
        if let Some(t) = ty {
            errs.push(format!(
                "{}: Invalid value: {t:?}: must be empty if x-kubernetes-int-or-string is true",
                at(path, "type")
            ));
        }
    } else if ty.is_none() && !is_true(s, "x-kubernetes-preserve-unknown-fields") && !path.is_empty() {
        errs.push(format!(
            "{}: Required value: must not be empty for specified object fields",
            at(path, "type")
        ));
    }
    if let Some(t) = ty
        && !matches!(
            t,
            "object" | "array" | "string" | "integer" | "number" | "boolean"
        )
    {
        errs.push(format!(
            "{}: Unsupported value: {t:?}: supported values: \"array\", \"boolean\", \"integer\", \"number\", \"object\", \"string\"",
            at(path, "type")
        ));
    }
    if is_true(s, "x-kubernetes-embedded-resource") && ty != Some("object") {
        errs.push(format!(
            "{}: Invalid value: {:?}: must be object if x-kubernetes-embedded-resource is true",
            at(path, "type"),
            ty.unwrap_or("")
        ));
    }
    let props = m.get("properties").and_then(Value::as_object);
    if props.is_some() && m.contains_key("additionalProperties") {
        errs.push(format!(
            "{}: Forbidden: additionalProperties and properties are mutual exclusive",
            at(path, "additionalProperties")
        ));
    }
    if ty == Some("array") && !m.contains_key("items") {
        errs.push(format!(
            "{}: Required value: must be specified",
            at(path, "items")
        ));
    }
    match m.get("items") {
        Some(Value::Array(_)) => {
            errs.push(format!(
                "{}: Forbidden: items must be a schema object and not an array",
                at(path, "items")
            ));
        }
        Some(items) => node(items, &at(path, "items"), errs),
        None => {}
    }
    if let Some(props) = props {
        for (k, ps) in props {
            node(ps, &format!("{}[{k}]", at(path, "properties")), errs);
        }
    }
    if let Some(ap) = m.get("additionalProperties").filter(|a| a.is_object()) {
        node(ap, &at(path, "additionalProperties"), errs);
    }
}
