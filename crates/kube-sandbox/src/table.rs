//! meta.k8s.io/v1 Table rendering for `kubectl get`.

use serde_json::{Value, json};

#[derive(Clone, Debug, PartialEq)]
pub struct Column {
    pub name: String,
    pub type_: String,
    pub format: String,
    pub description: String,
    pub priority: i32,
    pub json_path: Option<String>,
}

fn col(name: &str, type_: &str, format: &str, json_path: Option<&str>) -> Column {
    Column {
        name: name.to_string(),
        type_: type_.to_string(),
        format: format.to_string(),
        description: String::new(),
        priority: 0,
        json_path: json_path.map(str::to_string),
    }
}

pub fn columns_for_builtin(group: &str, kind: &str) -> Vec<Column> {
    let _ = (group, kind);
    vec![
        col("Name", "string", "name", Some(".metadata.name")),
        col("Age", "date", "", Some(".metadata.creationTimestamp")),
    ]
}

pub fn columns_for_crd(additional_printer_columns: &[Value]) -> Vec<Column> {
    let _ = additional_printer_columns;
    columns_for_builtin("", "")
}

pub fn render(
    columns: &[Column],
    objects: &[Value],
    include_object: &str,
    list_meta: &Value,
    now: jiff::Timestamp,
) -> Value {
    let _ = now;
    let rows: Vec<Value> = objects
        .iter()
        .map(|o| {
            let cells: Vec<Value> = columns
                .iter()
                .map(|c| {
                    c.json_path
                        .as_deref()
                        .and_then(|p| o.pointer(&p.replace('.', "/")))
                        .cloned()
                        .unwrap_or(Value::Null)
                })
                .collect();
            let object = match include_object {
                "Object" => o.clone(),
                "None" => Value::Null,
                _ => json!({"kind": "PartialObjectMetadata", "apiVersion": "meta.k8s.io/v1",
                            "metadata": o.get("metadata").cloned().unwrap_or(json!({}))}),
            };
            json!({"cells": cells, "object": object})
        })
        .collect();
    let defs: Vec<Value> = columns
        .iter()
        .map(|c| json!({"name": c.name, "type": c.type_, "format": c.format, "description": c.description, "priority": c.priority}))
        .collect();
    json!({"kind": "Table", "apiVersion": "meta.k8s.io/v1", "metadata": list_meta, "columnDefinitions": defs, "rows": rows})
}
