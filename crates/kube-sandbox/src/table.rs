//! The `meta.k8s.io/v1` Table responses of `kubectl get` (`Accept: application/json;as=Table;v=v1;g=meta.k8s.io`):
//! server-side columns of built-in kinds, CRD `additionalPrinterColumns` evaluated with JSONPath, and rows
//! carrying a PartialObjectMetadata (or the object, or nothing, per `includeObject`).

mod builtin;
mod format;
mod jsonpath;

pub use format::human_duration;

use serde_json::{Map, Value, json};

#[derive(Clone, Debug, PartialEq)]
pub struct Column {
    pub name: String,
    pub type_: String,
    pub format: String,
    pub description: String,
    pub priority: i32,
    /// The JSONPath of a CRD printer column; None for the server-computed columns of built-ins (and `Name`).
    pub json_path: Option<String>,
}

/// The server's columns for a built-in kind (`Name` first, `Age`, and `priority: 1` wide columns); kinds
/// without a printer get the apiserver's default `Name`, `Created At`.
pub fn columns_for_builtin(group: &str, kind: &str) -> Vec<Column> {
    builtin::columns(group, kind)
}

/// `Name` plus a CRD version's `additionalPrinterColumns`; with none, the apiserver's default `Age` column.
pub fn columns_for_crd(additional_printer_columns: &[Value]) -> Vec<Column> {
    let mut cols = vec![builtin::name_column()];
    if additional_printer_columns.is_empty() {
        let mut age = builtin::age_column();
        age.type_ = "date".to_string();
        age.json_path = Some(".metadata.creationTimestamp".to_string());
        cols.push(age);
        return cols;
    }
    for c in additional_printer_columns {
        let s = |k: &str| c.get(k).and_then(Value::as_str).unwrap_or_default().to_string();
        cols.push(Column {
            name: s("name"),
            type_: s("type"),
            format: s("format"),
            description: s("description"),
            priority: c
                .get("priority")
                .and_then(Value::as_i64)
                .and_then(|p| i32::try_from(p).ok())
                .unwrap_or(0),
            json_path: Some(s("jsonPath")),
        });
    }
    cols
}

/// A meta.k8s.io/v1 Table of `objects`. `include_object`: `Object` (whole object), `None` (no object) or
/// anything else (`Metadata`, the default: a PartialObjectMetadata). `list_meta` becomes the Table's metadata
/// (`resourceVersion`, `continue`). For a watch event, render one object per Table.
pub fn render(
    columns: &[Column],
    objects: &[Value],
    include_object: &str,
    list_meta: &Value,
    now: jiff::Timestamp,
) -> Value {
    let rows: Vec<Value> = objects
        .iter()
        .map(|o| {
            let mut row = Map::new();
            row.insert("cells".into(), Value::Array(cells(columns, o, now)));
            match include_object {
                "Object" => {
                    row.insert("object".into(), o.clone());
                }
                "None" => {}
                _ => {
                    row.insert("object".into(), partial_object_metadata(o));
                }
            }
            Value::Object(row)
        })
        .collect();
    let defs: Vec<Value> = columns
        .iter()
        .map(|c| {
            json!({"name": c.name, "type": c.type_, "format": c.format, "description": c.description,
                   "priority": c.priority})
        })
        .collect();
    let meta = if list_meta.is_object() {
        list_meta.clone()
    } else {
        json!({})
    };
    json!({"kind": "Table", "apiVersion": "meta.k8s.io/v1", "metadata": meta, "columnDefinitions": defs, "rows": rows})
}

/// `{"kind":"PartialObjectMetadata","apiVersion":"meta.k8s.io/v1","metadata":{…}}`, also what kube-rs
/// metadata watches (`as=PartialObjectMetadata`) expect per item.
pub fn partial_object_metadata(obj: &Value) -> Value {
    json!({"kind": "PartialObjectMetadata", "apiVersion": "meta.k8s.io/v1",
           "metadata": obj.get("metadata").cloned().unwrap_or_else(|| json!({}))})
}

fn group_of(obj: &Value) -> &str {
    obj.get("apiVersion")
        .and_then(Value::as_str)
        .and_then(|a| a.rsplit_once('/'))
        .map_or("", |(g, _)| g)
}

fn cells(columns: &[Column], obj: &Value, now: jiff::Timestamp) -> Vec<Value> {
    let group = group_of(obj);
    let kind = obj.get("kind").and_then(Value::as_str).unwrap_or_default();
    let mut builtin_cells: Option<(Vec<Column>, Vec<Value>)> = None;
    columns
        .iter()
        .map(|c| match &c.json_path {
            Some(path) => crd_cell(c, obj, path, now),
            None if c.name == "Name" => obj.pointer("/metadata/name").cloned().unwrap_or(Value::Null),
            None => {
                let (cols, cells) = builtin_cells.get_or_insert_with(|| {
                    (
                        builtin::columns(group, kind),
                        builtin::cells(group, kind, obj, now),
                    )
                });
                cols.iter()
                    .position(|b| b.name == c.name)
                    .and_then(|i| cells.get(i).cloned())
                    .unwrap_or(Value::Null)
            }
        })
        .collect()
}

/// A CRD printer-column cell (`apiextensions-apiserver/.../tableconvertor.go`): missing values are null (kubectl
/// shows `<none>`), `string` columns print any value, typed columns keep only values of their type, and `date`
/// columns become an age.
fn crd_cell(c: &Column, obj: &Value, path: &str, now: jiff::Timestamp) -> Value {
    let results = jsonpath::find(obj, path);
    let Some(value) = results.first().copied() else {
        return Value::Null;
    };
    match (c.type_.as_str(), value) {
        (_, Value::Null) => Value::Null,
        ("string", Value::String(s)) => json!(s),
        ("string", v @ (Value::Number(_) | Value::Bool(_))) => json!(v.to_string()),
        ("string", v) => json!(v.to_string()),
        ("integer", Value::Number(n)) => n
            .as_i64()
            .map_or_else(|| json!(n.as_f64().unwrap_or(0.0) as i64), |i| json!(i)),
        ("number", Value::Number(n)) => json!(n.as_f64()),
        ("boolean", Value::Bool(b)) => json!(b),
        ("date", Value::String(s)) => match s.parse::<jiff::Timestamp>() {
            Ok(t) => json!(human_duration(now.as_second() - t.as_second())),
            Err(_) => json!("<invalid>"),
        },
        _ => Value::Null,
    }
}

#[cfg(test)]
mod tests;
