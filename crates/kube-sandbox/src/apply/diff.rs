//! The fields a write changed, computed by walking the old and new objects side by side: equal subtrees are
//! skipped whole, so a status update costs about the size of the status.

use std::collections::HashMap;

use serde_json::Value;

use super::fieldset::{self, FieldSet, ListResolver, Path, Pe, item_key, untracked};
use crate::patch::ListKind;

/// (fields `new` sets with a value that is new or different, fields `old` sets that `new` no longer has).
pub(super) fn diff(old: Option<&Value>, new: &Value, lists: ListResolver<'_>) -> (FieldSet, FieldSet) {
    let mut d = Diff {
        lists,
        changed: FieldSet::new(),
        removed: FieldSet::new(),
    };
    let mut path = Vec::new();
    let mut names = Vec::new();
    match old {
        Some(o) => d.node(o, new, &mut path, &mut names),
        None => fieldset::walk(new, &mut path, &mut names, lists, &mut d.changed, true),
    }
    (d.changed, d.removed)
}

struct Diff<'l> {
    lists: ListResolver<'l>,
    changed: FieldSet,
    removed: FieldSet,
}

/// How a node takes part in ownership.
#[derive(PartialEq)]
enum Shape {
    Leaf,
    Object,
    Set,
    Map(Vec<String>),
}

impl Diff<'_> {
    fn shape(&self, v: &Value, path: &Path, names: &[&str]) -> Shape {
        match v {
            Value::Object(m) if !m.is_empty() || path.is_empty() => Shape::Object,
            Value::Array(items) => match (self.lists)(names) {
                ListKind::Atomic => Shape::Leaf,
                ListKind::Set => Shape::Set,
                ListKind::Map(keys) if items.iter().all(|i| item_key(i, &keys).is_some()) => Shape::Map(keys),
                ListKind::Map(_) => Shape::Leaf,
            },
            _ => Shape::Leaf,
        }
    }

    fn node<'v>(&mut self, old: &'v Value, new: &'v Value, path: &mut Path, names: &mut Vec<&'v str>) {
        if old == new {
            return;
        }
        let (so, sn) = (self.shape(old, path, names), self.shape(new, path, names));
        if so != sn {
            fieldset::walk(old, path, names, self.lists, &mut self.removed, true);
            fieldset::walk(new, path, names, self.lists, &mut self.changed, true);
            return;
        }
        match sn {
            Shape::Leaf => {
                self.changed.insert(path.clone());
            }
            Shape::Object => self.object(old, new, path, names),
            Shape::Set => {
                let (Value::Array(o), Value::Array(n)) = (old, new) else {
                    return;
                };
                for item in n.iter().filter(|i| !o.contains(i)) {
                    let mut p = path.clone();
                    p.push(Pe::Value(item.to_string()));
                    self.changed.insert(p);
                }
                for item in o.iter().filter(|i| !n.contains(i)) {
                    let mut p = path.clone();
                    p.push(Pe::Value(item.to_string()));
                    self.removed.insert(p);
                }
            }
            Shape::Map(keys) => {
                let (Value::Array(o), Value::Array(n)) = (old, new) else {
                    return;
                };
                let old_items: HashMap<String, &Value> =
                    o.iter().filter_map(|i| Some((item_key(i, &keys)?, i))).collect();
                let mut seen = Vec::new();
                for item in n {
                    let Some(k) = item_key(item, &keys) else { continue };
                    path.push(Pe::Key(k.clone()));
                    match old_items.get(&k) {
                        Some(prev) => self.object(prev, item, path, names),
                        None => fieldset::walk_item(item, path, names, self.lists, &mut self.changed, true),
                    }
                    path.pop();
                    seen.push(k);
                }
                for (k, item) in &old_items {
                    if !seen.contains(k) {
                        path.push(Pe::Key(k.clone()));
                        fieldset::walk_item(item, path, names, self.lists, &mut self.removed, true);
                        path.pop();
                    }
                }
            }
        }
    }

    /// Field by field; a field only on one side is wholly changed or removed.
    fn object<'v>(&mut self, old: &'v Value, new: &'v Value, path: &mut Path, names: &mut Vec<&'v str>) {
        if old == new {
            return;
        }
        let (Some(om), Some(nm)) = (old.as_object(), new.as_object()) else {
            fieldset::walk(old, path, names, self.lists, &mut self.removed, true);
            fieldset::walk(new, path, names, self.lists, &mut self.changed, true);
            return;
        };
        for (k, nv) in nm {
            names.push(k);
            if !untracked(names) {
                path.push(Pe::Field(k.clone()));
                match om.get(k) {
                    Some(ov) => self.node(ov, nv, path, names),
                    None => fieldset::walk(nv, path, names, self.lists, &mut self.changed, true),
                }
                path.pop();
            }
            names.pop();
        }
        for (k, ov) in om {
            if nm.contains_key(k) {
                continue;
            }
            names.push(k);
            if !untracked(names) {
                path.push(Pe::Field(k.clone()));
                fieldset::walk(ov, path, names, self.lists, &mut self.removed, true);
                path.pop();
            }
            names.pop();
        }
    }
}
