//! Defaulting from `default` (`apiextensions-apiserver/pkg/apiserver/schema/defaulting`).

use serde_json::Value;

/// Applies `default` values where a field is absent and its parent exists, recursively (also inside array
/// items, map values and inside freshly defaulted values). A `null` in a non-nullable field is replaced by its
/// default, or dropped when it has none, as upstream does before validation. Root `metadata` is left alone.
pub fn apply_defaults(obj: &mut Value, schema: &Value) {
    node(obj, schema, true);
}

fn node(v: &mut Value, s: &Value, root: bool) {
    match v {
        Value::Object(m) => {
            if let Some(props) = s.get("properties").and_then(Value::as_object) {
                for (k, ps) in props {
                    if root && k == "metadata" {
                        continue;
                    }
                    let nullable = ps.get("nullable").and_then(Value::as_bool).unwrap_or(false);
                    let default = ps.get("default");
                    match (m.get(k), default) {
                        (None, Some(d)) => {
                            m.insert(k.clone(), d.clone());
                        }
                        (Some(Value::Null), Some(d)) if !nullable => {
                            m.insert(k.clone(), d.clone());
                        }
                        (Some(Value::Null), None) if !nullable => {
                            m.remove(k);
                        }
                        _ => {}
                    }
                    if let Some(child) = m.get_mut(k) {
                        node(child, ps, false);
                    }
                }
            } else if let Some(additional) = s.get("additionalProperties").filter(|a| a.is_object()) {
                for child in m.values_mut() {
                    node(child, additional, false);
                }
            }
        }
        Value::Array(items) => {
            if let Some(is) = s.get("items").filter(|i| i.is_object()) {
                for item in items.iter_mut() {
                    node(item, is, false);
                }
            }
        }
        _ => {}
    }
}
