//! The strategic merge patch algorithm (after `apimachinery/pkg/util/strategicpatch/patch.go` `mergeMap`).

use serde_json::{Map, Value};

use super::PatchError;
use super::keys::{ListKind, builtin_list_kind};

const PATCH: &str = "$patch";
const RETAIN_KEYS: &str = "$retainKeys";
const DELETE_FROM_PRIMITIVE: &str = "$deleteFromPrimitiveList/";
const SET_ELEMENT_ORDER: &str = "$setElementOrder/";

pub(super) fn merge_root(target: &mut Value, patch: &Value, kind: &str) -> Result<(), PatchError> {
    let Value::Object(p) = patch else {
        return Err(PatchError::Invalid(format!(
            "strategic merge patch must be a JSON object, got {}",
            type_name(patch)
        )));
    };
    if !target.is_object() {
        *target = Value::Object(Map::new());
    }
    let mut path = Vec::new();
    if let Value::Object(t) = target {
        merge_map(t, p, kind, &mut path)?;
    }
    Ok(())
}

fn type_name(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

fn merge_map(
    target: &mut Map<String, Value>,
    patch: &Map<String, Value>,
    kind: &str,
    path: &mut Vec<String>,
) -> Result<(), PatchError> {
    match patch.get(PATCH).map(|d| d.as_str()) {
        None | Some(Some("merge")) => {}
        Some(Some("replace")) => {
            *target = strip_directives(patch);
            return Ok(());
        }
        // Upstream turns `$patch: delete` on a map into an empty map.
        Some(Some("delete")) => {
            target.clear();
            return Ok(());
        }
        Some(other) => {
            return Err(PatchError::Invalid(format!(
                "Unknown patch type: {}, Patch: {}",
                other.unwrap_or("<non-string>"),
                Value::Object(patch.clone())
            )));
        }
    }
    if let Some(retain) = patch.get(RETAIN_KEYS) {
        let keys = retain.as_array().ok_or_else(|| {
            PatchError::Invalid(format!("{RETAIN_KEYS} must be a list of strings, got {retain}"))
        })?;
        let keep: Vec<&str> = keys.iter().filter_map(Value::as_str).collect();
        target.retain(|k, _| keep.contains(&k.as_str()));
    }
    for (key, value) in patch {
        if let Some(field) = key.strip_prefix(DELETE_FROM_PRIMITIVE) {
            let remove = value
                .as_array()
                .ok_or_else(|| PatchError::Invalid(format!("{key} must be a list, got {value}")))?;
            if let Some(Value::Array(list)) = target.get_mut(field) {
                list.retain(|v| !remove.contains(v));
            }
            continue;
        }
        if key.starts_with('$') {
            continue;
        }
        if value.is_null() {
            target.remove(key);
            continue;
        }
        path.push(key.clone());
        let result = merge_field(target, key, value, kind, path);
        path.pop();
        result?;
    }
    for (key, order) in patch {
        if let Some(field) = key.strip_prefix(SET_ELEMENT_ORDER)
            && let (Some(Value::Array(list)), Value::Array(order)) = (target.get_mut(field), order)
        {
            path.push(field.to_string());
            let list_kind = kind_at(kind, path);
            path.pop();
            apply_order(list, order, &list_kind);
        }
    }
    Ok(())
}

fn kind_at(kind: &str, path: &[String]) -> ListKind {
    let names: Vec<&str> = path.iter().map(String::as_str).collect();
    builtin_list_kind(kind, &names)
}

fn merge_field(
    target: &mut Map<String, Value>,
    key: &str,
    value: &Value,
    kind: &str,
    path: &mut Vec<String>,
) -> Result<(), PatchError> {
    match value {
        Value::Object(pm) => {
            let slot = target.entry(key.to_string()).or_insert(Value::Null);
            if !slot.is_object() {
                *slot = Value::Object(Map::new());
            }
            if let Value::Object(tm) = slot {
                merge_map(tm, pm, kind, path)?;
            }
        }
        Value::Array(pl) => {
            let list_kind = kind_at(kind, path);
            let slot = target.entry(key.to_string()).or_insert(Value::Null);
            if !slot.is_array() {
                *slot = Value::Array(Vec::new());
            }
            if let Value::Array(tl) = slot {
                merge_list(tl, pl, &list_kind, kind, path)?;
            }
        }
        scalar => {
            target.insert(key.to_string(), scalar.clone());
        }
    }
    Ok(())
}

fn merge_list(
    target: &mut Vec<Value>,
    patch: &[Value],
    list_kind: &ListKind,
    kind: &str,
    path: &mut Vec<String>,
) -> Result<(), PatchError> {
    // `[{"$patch": "replace"}, items...]` replaces the whole list, whatever its strategy.
    let replace = patch
        .iter()
        .any(|v| v.get(PATCH).and_then(Value::as_str) == Some("replace"));
    if replace {
        *target = patch
            .iter()
            .filter(|v| v.get(PATCH).is_none())
            .map(strip_value)
            .collect();
        return Ok(());
    }
    match list_kind {
        ListKind::Atomic => {
            *target = patch.iter().map(strip_value).collect();
        }
        ListKind::Set => {
            for item in patch {
                if !target.contains(item) {
                    target.push(item.clone());
                }
            }
        }
        ListKind::Map(keys) => {
            let key = keys.first().map_or("name", String::as_str);
            for item in patch {
                let Value::Object(pm) = item else {
                    return Err(PatchError::Invalid(format!(
                        "unable to find api field in struct for the list item {item}: items of {} must be objects",
                        path.join(".")
                    )));
                };
                let Some(key_value) = pm.get(key) else {
                    return Err(PatchError::Invalid(format!(
                        "map: {item} does not contain declared merge key: {key}"
                    )));
                };
                let pos = target.iter().position(|t| t.get(key) == Some(key_value));
                match (pm.get(PATCH).and_then(Value::as_str), pos) {
                    (Some("delete"), Some(i)) => {
                        target.remove(i);
                    }
                    (Some("delete"), None) => {}
                    (_, Some(i)) => {
                        if let Some(Value::Object(tm)) = target.get_mut(i) {
                            merge_map(tm, pm, kind, path)?;
                        }
                    }
                    (_, None) => {
                        let mut fresh = Map::new();
                        merge_map(&mut fresh, pm, kind, path)?;
                        target.push(Value::Object(fresh));
                    }
                }
            }
        }
    }
    Ok(())
}

/// Reorders `list` after `$setElementOrder`: listed elements take the given relative order, unlisted ones (only
/// present on the server) keep their place after them.
fn apply_order(list: &mut Vec<Value>, order: &[Value], list_kind: &ListKind) {
    let rank = |item: &Value| -> Option<usize> {
        match list_kind {
            ListKind::Map(keys) => {
                let key = keys.first()?;
                let value = item.get(key)?;
                order.iter().position(|o| o.get(key) == Some(value))
            }
            _ => order.iter().position(|o| o == item),
        }
    };
    let mut ranked: Vec<(usize, usize, Value)> = list
        .drain(..)
        .enumerate()
        .map(|(i, v)| (rank(&v).unwrap_or(order.len()), i, v))
        .collect();
    ranked.sort_by_key(|(r, i, _)| (*r, *i));
    list.extend(ranked.into_iter().map(|(_, _, v)| v));
}

fn strip_directives(map: &Map<String, Value>) -> Map<String, Value> {
    map.iter()
        .filter(|(k, v)| !k.starts_with('$') && !v.is_null())
        .map(|(k, v)| (k.clone(), strip_value(v)))
        .collect()
}

fn strip_value(v: &Value) -> Value {
    match v {
        Value::Object(m) => Value::Object(strip_directives(m)),
        Value::Array(a) => Value::Array(a.iter().map(strip_value).collect()),
        other => other.clone(),
    }
}
