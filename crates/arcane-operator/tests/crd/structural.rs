//! A checker for the Kubernetes "structural schema" rules (apiextensions.k8s.io/v1), run over the
//! generated `openAPIV3Schema` as plain JSON so that keys the typed model would drop (`$ref`,
//! `definitions`, type lists…) are seen too.
//!
//! Rules (from the CRD documentation and apiextensions validation):
//! - every node states a single `type`, unless it preserves unknown fields or is int-or-string;
//! - no `$ref`, `definitions`, `$schema`, `additionalItems`, `uniqueItems: true`;
//! - `properties` and `additionalProperties` are exclusive; `additionalProperties: false` is forbidden;
//! - inside `allOf`/`anyOf`/`oneOf`/`not`: no `type` (except the int-or-string pair), `description`,
//!   `default`, `additionalProperties`, `nullable`, and every property named there is also declared
//!   outside;
//! - `x-kubernetes-embedded-resource` nodes are objects that preserve unknown fields or list
//!   properties; `x-kubernetes-preserve-unknown-fields` is only ever `true`;
//! - arrays have one `items` schema; `enum` and `default` values match the node's type;
//! - the root is an object and restricts at most `metadata.name` / `metadata.generateName`.

use serde_json::{Map, Value};

const TYPES: [&str; 6] = ["object", "array", "string", "integer", "number", "boolean"];
const FORBIDDEN: [&str; 5] = ["$ref", "definitions", "$schema", "$defs", "additionalItems"];
const JUNCTORS: [&str; 3] = ["allOf", "anyOf", "oneOf"];
const NOT_IN_JUNCTOR: [&str; 5] = [
    "type",
    "description",
    "default",
    "additionalProperties",
    "nullable",
];

/// Every violation found, as `"<path>: <rule>"`; empty when the schema is structural.
pub(crate) fn violations(root: &Value) -> Vec<String> {
    let mut out = Vec::new();
    check_root(root, &mut out);
    node("", root, Place::Field, &mut out);
    out
}

#[derive(Clone, Copy, PartialEq)]
enum Place {
    /// A node that must carry its own type (root, property, items, additionalProperties).
    Field,
    /// A subschema of a junctor; `int_or_string` when the parent is `x-kubernetes-int-or-string`.
    Junctor { int_or_string: bool },
}

fn check_root(root: &Value, out: &mut Vec<String>) {
    if root.get("type").and_then(Value::as_str) != Some("object") {
        out.push("<root>: the root must be type object".into());
    }
    let Some(meta) = root.pointer("/properties/metadata") else {
        return;
    };
    let allowed = ["type", "properties"];
    if let Some(obj) = meta.as_object() {
        for key in obj.keys().filter(|k| !allowed.contains(&k.as_str())) {
            out.push(format!(
                ".metadata: only name/generateName may be restricted, found {key}"
            ));
        }
        for key in obj
            .get("properties")
            .and_then(Value::as_object)
            .into_iter()
            .flat_map(Map::keys)
        {
            if key != "name" && key != "generateName" {
                out.push(format!(
                    ".metadata: only name/generateName may be restricted, found {key}"
                ));
            }
        }
    }
}

fn node(path: &str, v: &Value, place: Place, out: &mut Vec<String>) {
    let at = if path.is_empty() { "<root>" } else { path };
    let Some(obj) = v.as_object() else {
        out.push(format!("{at}: a schema node must be an object"));
        return;
    };
    for key in FORBIDDEN.iter().filter(|k| obj.contains_key(**k)) {
        out.push(format!("{at}: {key} is not allowed"));
    }
    if obj.get("uniqueItems") == Some(&Value::Bool(true)) {
        out.push(format!("{at}: uniqueItems: true is not allowed"));
    }
    let preserve = match obj.get("x-kubernetes-preserve-unknown-fields") {
        None => false,
        Some(Value::Bool(true)) => true,
        Some(_) => {
            out.push(format!(
                "{at}: x-kubernetes-preserve-unknown-fields must be true or absent"
            ));
            false
        }
    };
    let int_or_string = obj.get("x-kubernetes-int-or-string") == Some(&Value::Bool(true));
    let ty = match obj.get("type") {
        None => None,
        Some(Value::String(t)) if TYPES.contains(&t.as_str()) => Some(t.as_str()),
        Some(other) => {
            out.push(format!("{at}: type must be one of {TYPES:?}, found {other}"));
            None
        }
    };

    match place {
        Place::Field => {
            if ty.is_none() && !obj.contains_key("type") && !preserve && !int_or_string {
                out.push(format!(
                    "{at}: missing type (and neither preserve-unknown-fields nor int-or-string)"
                ));
            }
        }
        Place::Junctor {
            int_or_string: parent_ios,
        } => {
            for key in NOT_IN_JUNCTOR.iter().filter(|k| obj.contains_key(**k)) {
                let ios_pair = *key == "type" && parent_ios && matches!(ty, Some("integer" | "string"));
                if !ios_pair {
                    out.push(format!("{at}: {key} is not allowed inside allOf/anyOf/oneOf/not"));
                }
            }
        }
    }

    if let Some(n) = obj.get("nullable")
        && !n.is_boolean()
    {
        out.push(format!("{at}: nullable must be a boolean"));
    }
    let nullable = obj.get("nullable") == Some(&Value::Bool(true));
    let props = obj.get("properties");
    let additional = obj.get("additionalProperties");
    if props.is_some() && additional.is_some() {
        out.push(format!(
            "{at}: properties and additionalProperties are mutually exclusive"
        ));
    }
    if additional == Some(&Value::Bool(false)) {
        out.push(format!("{at}: additionalProperties: false is not allowed"));
    }
    if obj.get("x-kubernetes-embedded-resource") == Some(&Value::Bool(true)) {
        if ty != Some("object") {
            out.push(format!(
                "{at}: x-kubernetes-embedded-resource requires type object"
            ));
        }
        if !preserve && props.is_none() {
            out.push(format!(
                "{at}: x-kubernetes-embedded-resource requires properties or preserve-unknown-fields"
            ));
        }
    }
    if ty == Some("array") && place == Place::Field && !obj.get("items").is_some_and(Value::is_object) {
        out.push(format!("{at}: an array needs a single items schema"));
    }
    if obj.contains_key("x-kubernetes-list-type") && ty != Some("array") {
        out.push(format!("{at}: x-kubernetes-list-type on a non-array"));
    }
    if let Some(values) = obj.get("enum") {
        match values.as_array() {
            Some(values) => {
                for e in values
                    .iter()
                    .filter(|e| !matches_type(e, ty, nullable, int_or_string))
                {
                    out.push(format!("{at}: enum value {e} does not match type {ty:?}"));
                }
            }
            None => out.push(format!("{at}: enum must be a list")),
        }
    }
    if let Some(d) = obj.get("default")
        && !matches_type(d, ty, nullable, int_or_string)
    {
        out.push(format!("{at}: default {d} does not match type {ty:?}"));
    }
    if let (Some(Value::Array(required)), Some(Value::Object(p))) = (obj.get("required"), props) {
        for r in required
            .iter()
            .filter(|r| !r.as_str().is_some_and(|r| p.contains_key(r)))
        {
            out.push(format!("{at}: required {r} is not a declared property"));
        }
    }

    if let Some(p) = props {
        match p.as_object() {
            Some(p) => {
                for (k, sub) in p {
                    node(&format!("{path}.{k}"), sub, Place::Field, out);
                }
            }
            None => out.push(format!("{at}: properties must be a map")),
        }
    }
    if let Some(a) = additional.filter(|a| a.is_object()) {
        node(&format!("{path}[*]"), a, Place::Field, out);
    }
    if let Some(items) = obj.get("items") {
        node(&format!("{path}[]"), items, Place::Field, out);
    }
    let junctor_place = Place::Junctor { int_or_string };
    for j in JUNCTORS {
        let Some(subs) = obj.get(j) else { continue };
        let Some(subs) = subs.as_array() else {
            out.push(format!("{at}: {j} must be a list"));
            continue;
        };
        for (i, sub) in subs.iter().enumerate() {
            let sub_path = format!("{path}.{j}[{i}]");
            node(&sub_path, sub, junctor_place, out);
            declared_outside(&sub_path, sub, obj, out);
        }
    }
    if let Some(sub) = obj.get("not") {
        let sub_path = format!("{path}.not");
        node(&sub_path, sub, junctor_place, out);
        declared_outside(&sub_path, sub, obj, out);
    }
}

/// Rule 2: a field or item constrained inside a junctor must also be specified outside it.
fn declared_outside(path: &str, sub: &Value, outer: &Map<String, Value>, out: &mut Vec<String>) {
    let outer_props = outer.get("properties").and_then(Value::as_object);
    for key in sub
        .get("properties")
        .and_then(Value::as_object)
        .into_iter()
        .flat_map(Map::keys)
    {
        if !outer_props.is_some_and(|p| p.contains_key(key)) {
            out.push(format!(
                "{path}: property {key} is not declared outside the junctor"
            ));
        }
    }
    if sub.get("items").is_some() && outer.get("items").is_none() {
        out.push(format!("{path}: items are not declared outside the junctor"));
    }
}

fn matches_type(v: &Value, ty: Option<&str>, nullable: bool, int_or_string: bool) -> bool {
    match v {
        Value::Null => nullable,
        _ if int_or_string => v.is_i64() || v.is_u64() || v.is_string(),
        _ => match ty {
            None => true,
            Some("object") => v.is_object(),
            Some("array") => v.is_array(),
            Some("string") => v.is_string(),
            Some("integer") => v.is_i64() || v.is_u64(),
            Some("number") => v.is_number(),
            Some("boolean") => v.is_boolean(),
            Some(_) => false,
        },
    }
}
