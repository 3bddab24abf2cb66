//! Structural pruning (`apiextensions-apiserver/pkg/apiserver/schema/pruning`).

use serde_json::Value;

fn flag(s: &Value, name: &str) -> bool {
    s.get(name).and_then(Value::as_bool).unwrap_or(false)
}

/// Removes fields the schema does not specify and returns their paths (`.spec.foo`, `.spec.items[0].x`).
/// `x-kubernetes-preserve-unknown-fields: true` keeps unknown fields (known ones are still pruned inside);
/// `x-kubernetes-embedded-resource: true` keeps `apiVersion`, `kind` and `metadata` of the embedded object;
/// at the root `apiVersion`, `kind` and `metadata` are always kept, and metadata is never pruned.
pub fn prune(obj: &mut Value, schema: &Value) -> Vec<String> {
    let mut removed = Vec::new();
    node(obj, schema, "", Kind::Root, &mut removed);
    removed
}

#[derive(Clone, Copy, PartialEq)]
enum Kind {
    Root,
    Embedded,
    Plain,
}

fn node(v: &mut Value, s: &Value, path: &str, kind: Kind, out: &mut Vec<String>) {
    let preserve = flag(s, "x-kubernetes-preserve-unknown-fields");
    match v {
        Value::Object(m) => {
            let props = s.get("properties").and_then(Value::as_object);
            let additional = s.get("additionalProperties");
            let keys: Vec<String> = m.keys().cloned().collect();
            for k in keys {
                let child_path = format!("{path}.{k}");
                let type_meta =
                    kind != Kind::Plain && matches!(k.as_str(), "apiVersion" | "kind" | "metadata");
                if kind == Kind::Root && k == "metadata" {
                    continue;
                }
                let child_schema = props
                    .and_then(|p| p.get(&k))
                    .or_else(|| additional.filter(|a| a.is_object()));
                match (child_schema, m.get_mut(&k)) {
                    (Some(cs), Some(child)) => {
                        let child_kind = if flag(cs, "x-kubernetes-embedded-resource") {
                            Kind::Embedded
                        } else {
                            Kind::Plain
                        };
                        node(child, cs, &child_path, child_kind, out);
                    }
                    _ if type_meta || preserve || additional.and_then(Value::as_bool) == Some(true) => {}
                    _ => {
                        m.remove(&k);
                        out.push(child_path);
                    }
                }
            }
        }
        Value::Array(items) => {
            if let Some(is) = s.get("items").filter(|i| i.is_object()) {
                let item_kind = if flag(is, "x-kubernetes-embedded-resource") {
                    Kind::Embedded
                } else {
                    Kind::Plain
                };
                for (i, item) in items.iter_mut().enumerate() {
                    node(item, is, &format!("{path}[{i}]"), item_kind, out);
                }
            }
        }
        _ => {}
    }
}
