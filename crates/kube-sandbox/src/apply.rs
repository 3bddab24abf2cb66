//! Server-side apply with `metadata.managedFields`, after structured-merge-diff: the applied configuration's
//! fields become owned by the manager, fields it no longer applies are removed unless someone else owns them,
//! and changing a field another manager owns is a conflict unless forced. Non-apply writes record `Update`
//! ownership of the fields they change ([`track_update`]), which later applies by others conflict with.

mod diff;
mod fieldset;
mod managed;

use serde_json::{Map, Value};

use crate::patch::{ListKind, builtin_list_kind, is_builtin_group, schema_list_kind};
use fieldset::{FieldSet, Path, Pe};
use managed::Entry;

pub struct ApplyOptions<'a> {
    pub manager: &'a str,
    pub force: bool,
    /// RFC 3339 time recorded in the manager's entry.
    pub now: &'a str,
    /// `Some("status")` for an apply to the status subresource.
    pub subresource: Option<&'a str>,
}

/// Fields another manager owns with a different value. `conflicts` holds (manager name, field path such as
/// `.spec.holderIdentity`).
#[derive(Debug)]
pub struct ApplyConflict {
    pub conflicts: Vec<(String, String)>,
}

impl ApplyConflict {
    /// The Status message, e.g. `Apply failed with 1 conflict: conflict with "mgr" using coordination.k8s.io/v1:
    /// .spec.holderIdentity`. `live` is the object applied to: it tells how each manager wrote (Apply/Update).
    pub fn message(&self, live: Option<&Value>) -> String {
        let n = self.conflicts.len();
        let plural = if n == 1 { "" } else { "s" };
        let head = format!("Apply failed with {n} conflict{plural}: ");
        if let [(manager, path)] = self.conflicts.as_slice() {
            return format!("{head}conflict with {}: {path}", describe(live, manager));
        }
        let mut managers: Vec<&String> = self.conflicts.iter().map(|(m, _)| m).collect();
        managers.sort();
        managers.dedup();
        let mut lines = Vec::new();
        for m in managers {
            lines.push(format!("conflicts with {}:", describe(live, m)));
            lines.extend(
                self.conflicts
                    .iter()
                    .filter(|(cm, _)| cm == m)
                    .map(|(_, p)| format!("- {p}")),
            );
        }
        format!("{head}{}", lines.join("\n"))
    }

    /// Status `details.causes`: (message, field) pairs of type `FieldManagerConflict`.
    pub fn causes(&self, live: Option<&Value>) -> Vec<(String, String)> {
        self.conflicts
            .iter()
            .map(|(m, p)| (format!("conflict with {}", describe(live, m)), p.clone()))
            .collect()
    }
}

fn describe(live: Option<&Value>, manager: &str) -> String {
    live.map(managed::read)
        .unwrap_or_default()
        .iter()
        .find(|e| e.manager == manager)
        .map_or_else(|| format!("{manager:?}"), Entry::describe)
}

/// Server-side apply of `applied` onto `live` (None = create), for built-in kinds and, without a schema, custom
/// resources (whose lists are then atomic). Returns the new object with updated `metadata.managedFields`.
pub fn apply(live: Option<&Value>, applied: &Value, opts: &ApplyOptions<'_>) -> Result<Value, ApplyConflict> {
    apply_with_schema(live, applied, opts, None)
}

/// [`apply`] with a CRD version's `openAPIV3Schema`, whose `x-kubernetes-list-type`/`-list-map-keys` make
/// lists merge as sets or maps. With `subresource: Some("status")` only `.status` of `applied` counts; for the
/// main resource of a type with a status subresource the caller removes `.status` from `applied` first (upstream
/// ignores it there, and must not record ownership of it).
pub fn apply_with_schema(
    live: Option<&Value>,
    applied: &Value,
    opts: &ApplyOptions<'_>,
    schema: Option<&Value>,
) -> Result<Value, ApplyConflict> {
    let scoped;
    let applied = if opts.subresource == Some("status") {
        scoped = status_only(applied);
        &scoped
    } else {
        applied
    };
    let resolver = resolver_for(applied, schema);
    let lists: fieldset::ListResolver<'_> = &resolver;
    let me = (opts.manager, "Apply", opts.subresource);
    let old_entries = live.map(managed::read).unwrap_or_default();
    let mut entries = old_entries.clone();
    let applied_set = fieldset::of_object(applied, lists);
    let mut out = live.cloned().unwrap_or_else(|| skeleton(applied));

    let mut conflicts: Vec<(usize, Path)> = Vec::new();
    for (i, e) in entries.iter().enumerate() {
        if e.same_owner(me.0, me.1, me.2) {
            continue;
        }
        for p in e.fields.intersection(&applied_set) {
            if is_value_node(p) && fieldset::get(applied, p) != fieldset::get(&out, p) {
                conflicts.push((i, p.clone()));
            }
        }
    }
    if !conflicts.is_empty() {
        if !opts.force {
            return Err(ApplyConflict {
                conflicts: conflicts
                    .iter()
                    .map(|(i, p)| (entries[*i].manager.clone(), fieldset::to_string(p)))
                    .collect(),
            });
        }
        // Forcing takes the conflicting fields away from their owners.
        for (i, p) in &conflicts {
            entries[*i].fields.remove(p);
        }
    }

    let mut names = Vec::new();
    merge_into(&mut out, applied, &mut names, lists);

    let previous = entries
        .iter()
        .find(|e| e.same_owner(me.0, me.1, me.2))
        .map(|e| e.fields.clone());
    let others: FieldSet = entries
        .iter()
        .filter(|e| !e.same_owner(me.0, me.1, me.2))
        .flat_map(|e| e.fields.iter().cloned())
        .collect();
    if let Some(prev) = &previous {
        let dropped: Vec<&Path> = prev
            .difference(&applied_set)
            .filter(|p| {
                !others.iter().any(|o| o.starts_with(p)) && !applied_set.iter().any(|a| a.starts_with(p))
            })
            .collect();
        // Removing a list item removes its fields too; removing those first would lose the item's key.
        for p in &dropped {
            let ancestor_dropped = dropped.iter().any(|a| a.len() < p.len() && p.starts_with(a));
            if !ancestor_dropped {
                fieldset::remove(&mut out, p);
            }
        }
    }

    let api_version = applied
        .get("apiVersion")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string();
    match entries.iter_mut().find(|e| e.same_owner(me.0, me.1, me.2)) {
        Some(e) => {
            e.fields = applied_set;
            e.api_version = api_version;
            e.time = Some(opts.now.to_string());
        }
        None => entries.push(Entry {
            manager: opts.manager.to_string(),
            operation: "Apply".to_string(),
            api_version,
            time: Some(opts.now.to_string()),
            subresource: opts.subresource.map(str::to_string),
            fields: applied_set,
        }),
    }
    // Re-applying the same configuration changes nothing, not even the entry's time, so it is a no-op write.
    if let Some(l) = live
        && same_apart_from_managed_fields(l, &out)
        && same_sets(&old_entries, &entries)
    {
        return Ok(l.clone());
    }
    managed::write(&mut out, &entries);
    Ok(out)
}

/// Records, for a non-apply write (create/update/patch), that `manager` with `operation` (usually `Update`) now
/// owns the fields the write changed; other managers lose them. A write that changes nothing leaves
/// `managedFields` untouched. A client-sent `managedFields: []` resets the tracking.
pub fn track_update(
    old: Option<&Value>,
    new: &mut Value,
    manager: &str,
    operation: &str,
    now: &str,
    subresource: Option<&str>,
) {
    track_update_with_schema(old, new, manager, operation, now, subresource, None);
}

/// [`track_update`] with a CRD schema for list semantics.
pub fn track_update_with_schema(
    old: Option<&Value>,
    new: &mut Value,
    manager: &str,
    operation: &str,
    now: &str,
    subresource: Option<&str>,
    schema: Option<&Value>,
) {
    let resolver = resolver_for(new, schema);
    let lists: fieldset::ListResolver<'_> = &resolver;
    let (changed, removed) = diff::diff(old, new, lists);
    let incoming = new.pointer("/metadata/managedFields");
    let client_set = match (incoming, old.and_then(|o| o.pointer("/metadata/managedFields"))) {
        (None, _) => false,
        (Some(n), Some(o)) => n != o,
        (Some(_), None) => true,
    };
    if changed.is_empty() && removed.is_empty() && !client_set {
        // Nothing changed: keep the stored entries exactly (the write must stay a no-op).
        match old.and_then(|o| o.pointer("/metadata/managedFields")).cloned() {
            Some(mf) => {
                if let Some(Value::Object(m)) = new.get_mut("metadata") {
                    m.insert("managedFields".into(), mf);
                }
            }
            None => {
                if let Some(Value::Object(m)) = new.get_mut("metadata") {
                    m.remove("managedFields");
                }
            }
        }
        return;
    }
    let mut entries = match incoming {
        Some(Value::Array(a)) if a.is_empty() => Vec::new(),
        Some(Value::Array(_)) => managed::read(new),
        _ => old.map(managed::read).unwrap_or_default(),
    };
    if !changed.is_empty() || !removed.is_empty() {
        for e in &mut entries {
            e.fields.retain(|p| !removed.contains(p));
            if !e.same_owner(manager, operation, subresource) {
                e.fields.retain(|p| !changed.contains(p));
            }
        }
        let api_version = new
            .get("apiVersion")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string();
        match entries
            .iter_mut()
            .find(|e| e.same_owner(manager, operation, subresource))
        {
            Some(e) => {
                e.fields.extend(changed);
                e.api_version = api_version;
                e.time = Some(now.to_string());
            }
            None if !changed.is_empty() => entries.push(Entry {
                manager: manager.to_string(),
                operation: operation.to_string(),
                api_version,
                time: Some(now.to_string()),
                subresource: subresource.map(str::to_string),
                fields: changed,
            }),
            None => {}
        }
    }
    managed::write(new, &entries);
}

/// The list semantics for an object: from the CRD schema when given, the built-in table for built-in groups,
/// and otherwise only ObjectMeta's rules (custom resources without a schema have atomic lists).
fn resolver_for(obj: &Value, schema: Option<&Value>) -> impl Fn(&[&str]) -> ListKind + use<> {
    let api_version = obj.get("apiVersion").and_then(Value::as_str).unwrap_or_default();
    let group = api_version.rsplit_once('/').map_or("", |(g, _)| g).to_string();
    let kind = obj
        .get("kind")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string();
    let schema = schema.cloned();
    move |path: &[&str]| match &schema {
        Some(s) => schema_list_kind(s, path),
        None if is_builtin_group(&group) => builtin_list_kind(&kind, path),
        None if path.first() == Some(&"metadata") => builtin_list_kind(&kind, path),
        None => ListKind::Atomic,
    }
}

/// A leaf whose value can differ between managers (list items are identified by their keys instead).
fn is_value_node(p: &[Pe]) -> bool {
    matches!(p.last(), Some(Pe::Field(_) | Pe::Index(_)))
}

fn same_sets(a: &[Entry], b: &[Entry]) -> bool {
    let live = |es: &[Entry]| -> Vec<(String, String, Option<String>, FieldSet)> {
        es.iter()
            .filter(|e| !e.fields.is_empty())
            .map(|e| {
                (
                    e.manager.clone(),
                    e.operation.clone(),
                    e.subresource.clone(),
                    e.fields.clone(),
                )
            })
            .collect()
    };
    live(a) == live(b)
}

/// Whether two objects are equal apart from `metadata.managedFields`, without copying them.
fn same_apart_from_managed_fields(a: &Value, b: &Value) -> bool {
    let (Some(am), Some(bm)) = (a.as_object(), b.as_object()) else {
        return a == b;
    };
    let meta_eq = |x: Option<&Value>, y: Option<&Value>| match (
        x.and_then(Value::as_object),
        y.and_then(Value::as_object),
    ) {
        (Some(xm), Some(ym)) => {
            let strip = |m: &'_ Map<String, Value>| m.iter().filter(|(k, _)| *k != "managedFields").count();
            strip(xm) == strip(ym)
                && xm
                    .iter()
                    .filter(|(k, _)| *k != "managedFields")
                    .all(|(k, v)| ym.get(k) == Some(v))
        }
        _ => x == y,
    };
    am.len() == bm.len()
        && am.iter().all(|(k, v)| {
            if k == "metadata" {
                meta_eq(Some(v), bm.get(k))
            } else {
                bm.get(k) == Some(v)
            }
        })
}

/// An apply to the status subresource only touches `.status`, as upstream's status reset strategy does.
fn status_only(applied: &Value) -> Value {
    let mut out = skeleton(applied);
    if let (Some(status), Value::Object(m)) = (applied.get("status"), &mut out) {
        m.insert("status".to_string(), status.clone());
    }
    out
}

/// The object an apply creates: type and identity from the applied configuration.
fn skeleton(applied: &Value) -> Value {
    let mut out = Map::new();
    for k in ["apiVersion", "kind"] {
        if let Some(v) = applied.get(k) {
            out.insert(k.to_string(), v.clone());
        }
    }
    let mut meta = Map::new();
    for k in ["name", "namespace", "generateName"] {
        if let Some(v) = applied.get("metadata").and_then(|m| m.get(k)) {
            meta.insert(k.to_string(), v.clone());
        }
    }
    out.insert("metadata".to_string(), Value::Object(meta));
    Value::Object(out)
}

fn merge_into<'v>(
    target: &mut Value,
    applied: &'v Value,
    names: &mut Vec<&'v str>,
    lists: fieldset::ListResolver<'_>,
) {
    let (Value::Object(t), Value::Object(a)) = (&mut *target, applied) else {
        *target = applied.clone();
        return;
    };
    for (k, av) in a {
        names.push(k);
        if !fieldset::untracked(names) {
            if av.is_null() {
                t.remove(k);
            } else if let Some(tv) = t.get_mut(k) {
                merge_value(tv, av, names, lists);
            } else {
                t.insert(k.clone(), av.clone());
            }
        }
        names.pop();
    }
}

fn merge_value<'v>(
    tv: &mut Value,
    av: &'v Value,
    names: &mut Vec<&'v str>,
    lists: fieldset::ListResolver<'_>,
) {
    match (&mut *tv, av) {
        (Value::Object(_), Value::Object(_)) => merge_into(tv, av, names, lists),
        (Value::Array(tl), Value::Array(al)) => match lists(names) {
            ListKind::Atomic => *tv = av.clone(),
            ListKind::Set => {
                for item in al {
                    if !tl.contains(item) {
                        tl.push(item.clone());
                    }
                }
            }
            ListKind::Map(keys) => {
                for item in al {
                    let Some(k) = fieldset::item_key(item, &keys) else {
                        *tv = av.clone();
                        return;
                    };
                    match tl
                        .iter_mut()
                        .find(|t| fieldset::item_key(t, &keys).as_deref() == Some(k.as_str()))
                    {
                        Some(existing) => merge_into(existing, item, names, lists),
                        None => tl.push(item.clone()),
                    }
                }
            }
        },
        _ => *tv = av.clone(),
    }
}

#[cfg(test)]
mod tests;
