//! Field sets: which fields of an object a manager owns, in the structured-merge-diff model, with the FieldsV1
//! wire encoding (`f:<name>`, `k:{"name":"x"}`, `v:<json>`, `i:<n>`, `.` for a node that is itself a member).

use std::collections::BTreeSet;

use serde_json::{Map, Value};

use crate::patch::ListKind;

/// One step of a field path.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub(super) enum Pe {
    /// A struct/map field.
    Field(String),
    /// An item of an associative list, by its key fields: the canonical JSON object (sorted keys).
    Key(String),
    /// An item of a set, by its JSON value.
    Value(String),
    /// An item of a list by position (only read from foreign managedFields; never produced here).
    Index(usize),
}

pub(super) type Path = Vec<Pe>;
pub(super) type FieldSet = BTreeSet<Path>;

/// Resolves the merge behaviour of the list at a path of field names.
pub(super) type ListResolver<'a> = &'a dyn Fn(&[&str]) -> ListKind;

/// Metadata fields the apiserver never tracks in managedFields (structured-merge-diff's reset set).
const UNTRACKED_METADATA: &[&str] = &[
    "name",
    "namespace",
    "uid",
    "resourceVersion",
    "generation",
    "creationTimestamp",
    "deletionTimestamp",
    "deletionGracePeriodSeconds",
    "selfLink",
    "managedFields",
];

/// Whether the top-level key (or metadata key) is excluded from ownership and from apply merging.
pub(super) fn untracked(path: &[&str]) -> bool {
    match path {
        [top] => matches!(*top, "apiVersion" | "kind"),
        ["metadata", field] => UNTRACKED_METADATA.contains(field),
        _ => false,
    }
}

/// The canonical `k:` key of an associative-list item, or None when a key field is missing.
pub(super) fn item_key(item: &Value, keys: &[String]) -> Option<String> {
    let mut fields: Vec<(&str, &Value)> = Vec::new();
    for k in keys {
        fields.push((k.as_str(), item.get(k)?));
    }
    fields.sort_by(|a, b| a.0.cmp(b.0));
    let body: Vec<String> = fields
        .iter()
        .map(|(k, v)| format!("{}:{}", Value::String((*k).to_string()), v))
        .collect();
    Some(format!("{{{}}}", body.join(",")))
}

/// The set of fields `obj` sets: leaves, atomic lists, empty maps, and associative/set list items.
pub(super) fn of_object(obj: &Value, lists: ListResolver<'_>) -> FieldSet {
    let mut out = FieldSet::new();
    let mut path = Vec::new();
    let mut names = Vec::new();
    walk(obj, &mut path, &mut names, lists, &mut out, false);
    out
}

/// Whether an Update that creates the map or list at `names` owns the node itself (`".": {}` in FieldsV1), as
/// upstream records it for the optional (`omitempty`) maps and lists operators see most: labels, annotations,
/// finalizers, ownerReferences and ConfigMap/Secret data; not for the always-present structs such as `spec`.
fn own_container(names: &[&str]) -> bool {
    match names {
        [
            "metadata",
            "labels" | "annotations" | "finalizers" | "ownerReferences",
        ] => true,
        ["data" | "binaryData" | "stringData"] => true,
        [
            ..,
            "labels" | "annotations" | "nodeSelector" | "matchLabels" | "limits" | "requests",
        ] => names.len() > 2,
        _ => false,
    }
}

/// Collects the members under `v` at `path`. With `containers`, the maps and lists [`own_container`] names
/// count as members too, for Update tracking.
pub(super) fn walk<'v>(
    v: &'v Value,
    path: &mut Path,
    names: &mut Vec<&'v str>,
    lists: ListResolver<'_>,
    out: &mut FieldSet,
    containers: bool,
) {
    match v {
        Value::Object(m) if !m.is_empty() || path.is_empty() => {
            if containers && own_container(names) {
                out.insert(path.clone());
            }
            for (k, child) in m {
                names.push(k);
                if !untracked(names) {
                    path.push(Pe::Field(k.clone()));
                    walk(child, path, names, lists, out, containers);
                    path.pop();
                }
                names.pop();
            }
        }
        Value::Array(items) => match lists(names) {
            ListKind::Atomic => {
                out.insert(path.clone());
            }
            ListKind::Set => {
                if containers && own_container(names) {
                    out.insert(path.clone());
                }
                for item in items {
                    let mut p = path.clone();
                    p.push(Pe::Value(item.to_string()));
                    out.insert(p);
                }
            }
            ListKind::Map(keys) => {
                let keyed: Option<Vec<String>> = items.iter().map(|i| item_key(i, &keys)).collect();
                match keyed {
                    Some(ks) => {
                        if containers && own_container(names) {
                            out.insert(path.clone());
                        }
                        for (item, k) in items.iter().zip(ks) {
                            path.push(Pe::Key(k));
                            walk_item(item, path, names, lists, out, containers);
                            path.pop();
                        }
                    }
                    // Items without their keys cannot be tracked one by one; own the list as a whole.
                    None => {
                        out.insert(path.clone());
                    }
                }
            }
        },
        _ => {
            out.insert(path.clone());
        }
    }
}

/// An associative-list item at `path` (ending in its key): the item itself and its fields.
pub(super) fn walk_item<'v>(
    item: &'v Value,
    path: &mut Path,
    names: &mut Vec<&'v str>,
    lists: ListResolver<'_>,
    out: &mut FieldSet,
    containers: bool,
) {
    out.insert(path.clone());
    if let Value::Object(fields) = item {
        for (f, child) in fields {
            names.push(f);
            path.push(Pe::Field(f.clone()));
            walk(child, path, names, lists, out, containers);
            path.pop();
            names.pop();
        }
    }
}

/// The value at `path`, if present.
pub(super) fn get<'v>(obj: &'v Value, path: &[Pe]) -> Option<&'v Value> {
    path.iter().try_fold(obj, |cur, pe| match pe {
        Pe::Field(f) => cur.get(f),
        Pe::Key(k) => {
            let want = parse_key(k)?;
            cur.as_array()?.iter().find(|i| key_matches(i, &want))
        }
        Pe::Value(v) => {
            let want: Value = serde_json::from_str(v).ok()?;
            cur.as_array()?.iter().find(|i| **i == want)
        }
        Pe::Index(n) => cur.get(n),
    })
}

fn parse_key(key: &str) -> Option<Map<String, Value>> {
    match serde_json::from_str::<Value>(key) {
        Ok(Value::Object(m)) => Some(m),
        _ => None,
    }
}

fn key_matches(item: &Value, want: &Map<String, Value>) -> bool {
    want.iter().all(|(k, v)| item.get(k) == Some(v))
}

/// Removes the node at `path` (a field, or a list item); missing intermediate nodes are fine.
pub(super) fn remove(obj: &mut Value, path: &[Pe]) {
    let Some((last, parents)) = path.split_last() else {
        return;
    };
    let mut cur = obj;
    for pe in parents {
        let next = match pe {
            Pe::Field(f) => cur.get_mut(f),
            Pe::Key(k) => {
                let Some(want) = parse_key(k) else { return };
                cur.as_array_mut()
                    .and_then(|a| a.iter_mut().find(|i| key_matches(i, &want)))
            }
            Pe::Value(v) => {
                let Ok(want) = serde_json::from_str::<Value>(v) else {
                    return;
                };
                cur.as_array_mut()
                    .and_then(|a| a.iter_mut().find(|i| **i == want))
            }
            Pe::Index(n) => cur.get_mut(n),
        };
        match next {
            Some(n) => cur = n,
            None => return,
        }
    }
    match (last, cur) {
        (Pe::Field(f), Value::Object(m)) => {
            m.remove(f);
        }
        (Pe::Key(k), Value::Array(a)) => {
            if let Some(want) = parse_key(k) {
                a.retain(|i| !key_matches(i, &want));
            }
        }
        (Pe::Value(v), Value::Array(a)) => {
            if let Ok(want) = serde_json::from_str::<Value>(v) {
                a.retain(|i| *i != want);
            }
        }
        (Pe::Index(n), Value::Array(a)) if *n < a.len() => {
            a.remove(*n);
        }
        _ => {}
    }
}

/// The path as structured-merge-diff prints it: `.spec.containers[name="x"].image`, `.metadata.finalizers[="a"]`.
pub(super) fn to_string(path: &[Pe]) -> String {
    let mut s = String::new();
    for pe in path {
        match pe {
            Pe::Field(f) => {
                s.push('.');
                s.push_str(f);
            }
            Pe::Key(k) => {
                let parts: Vec<String> = match serde_json::from_str::<Value>(k) {
                    Ok(Value::Object(m)) => m.iter().map(|(k, v)| format!("{k}={v}")).collect(),
                    _ => vec![k.clone()],
                };
                s.push_str(&format!("[{}]", parts.join(",")));
            }
            Pe::Value(v) => s.push_str(&format!("[={v}]")),
            Pe::Index(n) => s.push_str(&format!("[{n}]")),
        }
    }
    s
}

/// Encodes a field set as FieldsV1 JSON.
pub(super) fn to_fields_v1(set: &FieldSet) -> Value {
    let mut root = Map::new();
    for path in set {
        insert_member(&mut root, path);
    }
    collapse_leaves(&mut root);
    Value::Object(root)
}

/// Marks `path` as a member: its node gets ".": {} (collapsed to a plain `{}` leaf when it has no children).
fn insert_member(node: &mut Map<String, Value>, path: &[Pe]) {
    let Some((first, rest)) = path.split_first() else {
        node.insert(".".to_string(), Value::Object(Map::new()));
        return;
    };
    let key = match first {
        Pe::Field(f) => format!("f:{f}"),
        Pe::Key(k) => format!("k:{k}"),
        Pe::Value(v) => format!("v:{v}"),
        Pe::Index(n) => format!("i:{n}"),
    };
    if let Value::Object(next) = node.entry(key).or_insert_with(|| Value::Object(Map::new())) {
        insert_member(next, rest);
    }
}

/// A node holding only "." is a plain leaf `{}`.
fn collapse_leaves(node: &mut Map<String, Value>) {
    for (_, child) in node.iter_mut() {
        if let Value::Object(m) = child {
            collapse_leaves(m);
            if m.len() == 1 && m.contains_key(".") {
                m.clear();
            }
        }
    }
}

/// Decodes FieldsV1 JSON. Unknown key prefixes are skipped.
pub(super) fn from_fields_v1(v: &Value) -> FieldSet {
    let mut out = FieldSet::new();
    let mut path = Vec::new();
    if let Value::Object(m) = v {
        decode(m, &mut path, &mut out);
    }
    out
}

fn decode(m: &Map<String, Value>, path: &mut Path, out: &mut FieldSet) {
    for (k, child) in m {
        if k == "." {
            out.insert(path.clone());
            continue;
        }
        let pe = if let Some(f) = k.strip_prefix("f:") {
            Pe::Field(f.to_string())
        } else if let Some(key) = k.strip_prefix("k:") {
            // Re-canonicalize, in case a client wrote the keys in another order or spacing.
            match serde_json::from_str::<Value>(key) {
                Ok(obj) => {
                    let keys: Vec<String> = obj
                        .as_object()
                        .map(|o| o.keys().cloned().collect())
                        .unwrap_or_default();
                    Pe::Key(item_key(&obj, &keys).unwrap_or_else(|| key.to_string()))
                }
                Err(_) => continue,
            }
        } else if let Some(val) = k.strip_prefix("v:") {
            match serde_json::from_str::<Value>(val) {
                Ok(v) => Pe::Value(v.to_string()),
                Err(_) => continue,
            }
        } else if let Some(n) = k.strip_prefix("i:").and_then(|n| n.parse().ok()) {
            Pe::Index(n)
        } else {
            continue;
        };
        path.push(pe);
        match child {
            Value::Object(c) if !c.is_empty() => decode(c, path, out),
            _ => {
                out.insert(path.clone());
            }
        }
        path.pop();
    }
}
