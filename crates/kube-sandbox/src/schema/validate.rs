//! OpenAPI schema validation of custom resources, with the messages of kube-openapi's validator as the
//! apiserver reports them (`spec.size: Invalid value: "string": spec.size in body must be of type integer: "string"`).

use std::collections::HashMap;
use std::sync::{LazyLock, Mutex};

use regex::Regex;
use serde_json::Value;

use super::{FieldError, FieldErrorKind};

/// Validates `obj` against the schema; root `apiVersion`, `kind` and `metadata` are the apiserver's business.
/// Not covered: `multipleOf`, CEL rules and the `anyOf`/`allOf`/`oneOf`/`not` value validations; a `pattern`
/// the regex engine cannot compile is not enforced.
pub fn validate(obj: &Value, schema: &Value) -> Vec<FieldError> {
    let mut out = Vec::new();
    node(obj, schema, "", true, &mut out);
    out
}

fn err(out: &mut Vec<FieldError>, path: &str, kind: FieldErrorKind, message: String) {
    out.push(FieldError {
        path: path.to_string(),
        kind,
        message,
    });
}

fn type_name(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(n) if n.is_f64() => "number",
        Value::Number(_) => "integer",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

fn is_integer(v: &Value) -> bool {
    v.is_i64() || v.is_u64() || v.as_f64().is_some_and(|f| f.fract() == 0.0)
}

fn has_type(v: &Value, t: &str) -> bool {
    match t {
        "string" => v.is_string(),
        "integer" => is_integer(v),
        "number" => v.is_number(),
        "boolean" => v.is_boolean(),
        "object" => v.is_object(),
        "array" => v.is_array(),
        _ => true,
    }
}

/// How a bad value is shown after `Invalid value: `: strings quoted, numbers and booleans bare.
fn show(v: &Value) -> String {
    match v {
        Value::String(s) => format!("{s:?}"),
        Value::Object(_) => "\"object\"".to_string(),
        Value::Array(_) => "\"array\"".to_string(),
        other => other.to_string(),
    }
}

fn child(path: &str, key: &str) -> String {
    if path.is_empty() {
        key.to_string()
    } else {
        format!("{path}.{key}")
    }
}

fn num(s: &Value, k: &str) -> Option<f64> {
    s.get(k).and_then(Value::as_f64)
}

fn node(v: &Value, s: &Value, path: &str, root: bool, out: &mut Vec<FieldError>) {
    let flag = |k: &str| s.get(k).and_then(Value::as_bool).unwrap_or(false);
    if v.is_null() {
        if !flag("nullable")
            && let Some(t) = s.get("type").and_then(Value::as_str)
        {
            err(
                out,
                path,
                FieldErrorKind::TypeInvalid,
                format!("Invalid value: \"null\": {path} in body must be of type {t}: \"null\""),
            );
        }
        return;
    }
    if flag("x-kubernetes-int-or-string") {
        if !(is_integer(v) || v.is_string()) {
            let tn = type_name(v);
            err(
                out,
                path,
                FieldErrorKind::TypeInvalid,
                format!("Invalid value: {tn:?}: {path} in body must be of type integer,string: {tn:?}"),
            );
        }
    } else if let Some(t) = s.get("type").and_then(Value::as_str)
        && !has_type(v, t)
    {
        let tn = type_name(v);
        err(
            out,
            path,
            FieldErrorKind::TypeInvalid,
            format!("Invalid value: {tn:?}: {path} in body must be of type {t}: {tn:?}"),
        );
        return;
    }
    if let Some(allowed) = s.get("enum").and_then(Value::as_array)
        && !allowed.contains(v)
    {
        let list: Vec<String> = allowed.iter().map(show).collect();
        err(
            out,
            path,
            FieldErrorKind::NotSupported,
            format!(
                "Unsupported value: {}: supported values: {}",
                show(v),
                list.join(", ")
            ),
        );
    }
    match v {
        Value::String(st) => string_checks(st, s, path, out),
        Value::Number(_) => number_checks(v, s, path, out),
        Value::Array(items) => {
            let n = items.len();
            if let Some(max) = s.get("maxItems").and_then(Value::as_u64)
                && n as u64 > max
            {
                err(
                    out,
                    path,
                    FieldErrorKind::TooMany,
                    format!("Too many: {n}: must have at most {max} items"),
                );
            }
            if let Some(min) = s.get("minItems").and_then(Value::as_u64)
                && (n as u64) < min
            {
                err(
                    out,
                    path,
                    FieldErrorKind::Invalid,
                    format!("Invalid value: {n}: {path} in body should have at least {min} items"),
                );
            }
            if s.get("x-kubernetes-list-type").and_then(Value::as_str) == Some("set") {
                for (i, item) in items.iter().enumerate() {
                    if items[..i].contains(item) {
                        err(
                            out,
                            &format!("{path}[{i}]"),
                            FieldErrorKind::Duplicate,
                            format!("Duplicate value: {item}"),
                        );
                    }
                }
            }
            if s.get("x-kubernetes-list-type").and_then(Value::as_str) == Some("map") {
                duplicate_keys(items, s, path, out);
            }
            if let Some(is) = s.get("items").filter(|i| i.is_object()) {
                for (i, item) in items.iter().enumerate() {
                    node(item, is, &format!("{path}[{i}]"), false, out);
                }
            }
        }
        Value::Object(m) => {
            if !root && flag("x-kubernetes-embedded-resource") {
                super::embedded::validate_embedded(m, path, out);
            }
            if let Some(required) = s.get("required").and_then(Value::as_array) {
                for r in required.iter().filter_map(Value::as_str) {
                    if root && matches!(r, "apiVersion" | "kind" | "metadata") {
                        continue;
                    }
                    if !m.contains_key(r) {
                        err(
                            out,
                            &child(path, r),
                            FieldErrorKind::Required,
                            "Required value".to_string(),
                        );
                    }
                }
            }
            let props = s.get("properties").and_then(Value::as_object);
            let additional = s.get("additionalProperties").filter(|a| a.is_object());
            for (k, cv) in m {
                if root && matches!(k.as_str(), "apiVersion" | "kind" | "metadata") {
                    continue;
                }
                if let Some(cs) = props.and_then(|p| p.get(k)).or(additional) {
                    node(cv, cs, &child(path, k), false, out);
                }
            }
        }
        _ => {}
    }
}

/// Items of a `map` list sharing their key values: `Duplicate value: map[string]interface {}{"name":"a"}`.
fn duplicate_keys(items: &[Value], s: &Value, path: &str, out: &mut Vec<FieldError>) {
    let keys: Vec<&str> = s
        .get("x-kubernetes-list-map-keys")
        .and_then(Value::as_array)
        .map(|a| a.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    if keys.is_empty() {
        return;
    }
    let key_of = |item: &Value| -> Vec<(String, Value)> {
        keys.iter()
            .filter_map(|k| item.get(*k).map(|v| ((*k).to_string(), v.clone())))
            .collect()
    };
    for (i, item) in items.iter().enumerate() {
        let k = key_of(item);
        if items[..i].iter().any(|prev| key_of(prev) == k) {
            let shown: Vec<String> = k.iter().map(|(name, v)| format!("{name:?}:{v}")).collect();
            err(
                out,
                &format!("{path}[{i}]"),
                FieldErrorKind::Duplicate,
                format!(
                    "Duplicate value: map[string]interface {{}}{{{}}}",
                    shown.join(", ")
                ),
            );
        }
    }
}

fn string_checks(st: &str, s: &Value, path: &str, out: &mut Vec<FieldError>) {
    let len = st.chars().count() as u64;
    if let Some(max) = s.get("maxLength").and_then(Value::as_u64)
        && len > max
    {
        err(
            out,
            path,
            FieldErrorKind::TooLong,
            format!("Too long: may not be more than {max} bytes"),
        );
    }
    if let Some(min) = s.get("minLength").and_then(Value::as_u64)
        && len < min
    {
        err(
            out,
            path,
            FieldErrorKind::Invalid,
            format!("Invalid value: {st:?}: {path} in body should be at least {min} chars long"),
        );
    }
    if let Some(pattern) = s.get("pattern").and_then(Value::as_str)
        && matches_pattern(pattern, st) == Some(false)
    {
        err(
            out,
            path,
            FieldErrorKind::Invalid,
            format!("Invalid value: {st:?}: {path} in body should match '{pattern}'"),
        );
    }
    let format_ok = match s.get("format").and_then(Value::as_str) {
        Some("date-time") => st.parse::<jiff::Timestamp>().is_ok(),
        Some("date") => st.parse::<jiff::civil::Date>().is_ok(),
        _ => true,
    };
    if !format_ok {
        let f = s.get("format").and_then(Value::as_str).unwrap_or_default();
        err(
            out,
            path,
            FieldErrorKind::Invalid,
            format!("Invalid value: {st:?}: {path} in body must be of type {f}: {st:?}"),
        );
    }
}

/// Compiled patterns, shared: CRD schemas repeat the same few patterns on every write.
static PATTERNS: LazyLock<Mutex<HashMap<String, Option<Regex>>>> =
    LazyLock::new(|| Mutex::new(HashMap::new()));
const MAX_CACHED_PATTERNS: usize = 512;

/// Whether `s` matches the ECMA/RE2-style `pattern`; None when the pattern does not compile here. Without
/// the regex crate's Unicode tables, `\d`/`\w` compile in ASCII mode, which is what CRD patterns mean.
fn matches_pattern(pattern: &str, s: &str) -> Option<bool> {
    let mut cache = PATTERNS.lock().ok()?;
    if cache.len() > MAX_CACHED_PATTERNS {
        cache.clear();
    }
    let re = cache.entry(pattern.to_string()).or_insert_with(|| {
        Regex::new(pattern)
            .or_else(|_| Regex::new(&format!("(?-u){pattern}")))
            .ok()
    });
    re.as_ref().map(|r| r.is_match(s))
}

fn number_checks(v: &Value, s: &Value, path: &str, out: &mut Vec<FieldError>) {
    let Some(x) = v.as_f64() else { return };
    let shown = v.to_string();
    if s.get("format").and_then(Value::as_str) == Some("int32")
        && !(f64::from(i32::MIN)..=f64::from(i32::MAX)).contains(&x)
    {
        err(
            out,
            path,
            FieldErrorKind::Invalid,
            format!("Invalid value: {shown}: {path} in body must be of type int32: {shown:?}"),
        );
    }
    let exclusive = |k: &str| s.get(k).and_then(Value::as_bool).unwrap_or(false);
    if let Some(min) = num(s, "minimum") {
        let (bad, words) = if exclusive("exclusiveMinimum") {
            (x <= min, "greater than")
        } else {
            (x < min, "greater than or equal to")
        };
        if bad {
            err(
                out,
                path,
                FieldErrorKind::Invalid,
                format!(
                    "Invalid value: {shown}: {path} in body should be {words} {}",
                    fmt_num(min)
                ),
            );
        }
    }
    if let Some(max) = num(s, "maximum") {
        let (bad, words) = if exclusive("exclusiveMaximum") {
            (x >= max, "less than")
        } else {
            (x > max, "less than or equal to")
        };
        if bad {
            err(
                out,
                path,
                FieldErrorKind::Invalid,
                format!(
                    "Invalid value: {shown}: {path} in body should be {words} {}",
                    fmt_num(max)
                ),
            );
        }
    }
}

fn fmt_num(x: f64) -> String {
    if x.fract() == 0.0 && x.abs() < 1e15 {
        format!("{}", x as i64)
    } else {
        x.to_string()
    }
}
