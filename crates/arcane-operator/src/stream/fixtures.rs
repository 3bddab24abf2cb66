//! Test data: valid stream definitions of every layout, as JSON, and a way to turn them into
//! [`DynamicObject`]s. Shared by the parser, state-machine and builder tests; not used at run time.
//!
//! Every fixture lives in [`NAMESPACE`], has UID `uid-<name>`, generation 1, and carries a secret
//! reference under `.spec.secretRef` (see [`SECRET_REF_FIELD`]) naming `<name>-secret`. Template
//! references carry no namespace, so they resolve to the stream's namespace. Mutate the returned
//! JSON with [`set_path`] / [`remove_path`] to derive variants.

use kube::api::DynamicObject;
use kube::core::{ObjectMeta, TypeMeta};
use serde_json::{Map, Value, json};

/// Namespace of every fixture stream.
pub const NAMESPACE: &str = "streams";
/// `apiVersion` of the fixture plugin kind.
pub const API_VERSION: &str = "streaming.sneaksanddata.com/v1";
/// `kind` of the fixture plugin kind.
pub const KIND: &str = "MockStreamDefinition";
/// The class's secret-reference field every fixture fills.
pub const SECRET_REF_FIELD: &str = "secretRef";
/// Streaming template of change-capture (and v0) fixtures.
pub const STREAMING_TEMPLATE: &str = "streaming-template";
/// Template of the CronJob's job in batch fixtures.
pub const BATCH_TEMPLATE: &str = "batch-template";
/// Backfill template of every fixture that has one.
pub const BACKFILL_TEMPLATE: &str = "backfill-template";
/// Schedule used by [`stream_v1_cron`] / [`stream_v2_cron`] callers that have no preference.
pub const SCHEDULE: &str = "*/5 * * * *";

/// `secret_ref_fields` matching the fixtures: `["secretRef"]`.
pub fn secret_ref_fields() -> Vec<String> {
    vec![SECRET_REF_FIELD.to_owned()]
}

/// The secret name the fixture named `name` references.
pub fn secret_name(name: &str) -> String {
    format!("{name}-secret")
}

fn envelope(name: &str, spec: Value) -> Value {
    json!({
        "apiVersion": API_VERSION,
        "kind": KIND,
        "metadata": {
            "name": name,
            "namespace": NAMESPACE,
            "uid": format!("uid-{name}"),
            "generation": 1,
        },
        "spec": spec,
    })
}

fn plugin_fields(name: &str) -> Map<String, Value> {
    let mut fields = Map::new();
    fields.insert("source".into(), json!({"table": format!("{name}_source")}));
    fields.insert("destination".into(), json!({"table": format!("{name}_sink")}));
    fields.insert(SECRET_REF_FIELD.into(), json!({"name": secret_name(name)}));
    fields
}

/// A v0 (flat) stream: Job backend, streaming and backfill templates at the top of `.spec`.
pub fn stream_v0(name: &str, suspended: bool) -> Value {
    let mut spec = plugin_fields(name);
    spec.insert("suspended".into(), json!(suspended));
    spec.insert("jobTemplateRef".into(), json!({"name": STREAMING_TEMPLATE}));
    spec.insert(
        "backfillJobTemplateRef".into(),
        json!({"name": BACKFILL_TEMPLATE}),
    );
    envelope(name, Value::Object(spec))
}

fn execution_stream(name: &str, execution: Value) -> Value {
    let mut spec = plugin_fields(name);
    spec.insert("execution".into(), execution);
    envelope(name, Value::Object(spec))
}

/// A v1 change-capture stream: Job backend, execution-level backfill template.
pub fn stream_v1_job(name: &str, suspended: bool) -> Value {
    execution_stream(
        name,
        json!({
            "layoutVersion": "v1",
            "suspended": suspended,
            "backfillJobTemplateRef": {"name": BACKFILL_TEMPLATE},
            "streamingBackend": {
                "changeCapture": {"jobTemplateRef": {"name": STREAMING_TEMPLATE}},
            },
        }),
    )
}

/// A v1 batch stream: CronJob backend with `schedule`, execution-level backfill template.
pub fn stream_v1_cron(name: &str, suspended: bool, schedule: &str) -> Value {
    execution_stream(
        name,
        json!({
            "layoutVersion": "v1",
            "suspended": suspended,
            "backfillJobTemplateRef": {"name": BACKFILL_TEMPLATE},
            "streamingBackend": {
                "batch": {"schedule": schedule, "jobTemplateRef": {"name": BATCH_TEMPLATE}},
            },
        }),
    )
}

/// A v2 change-capture stream: Job backend, backfill template under `changeCapture`.
pub fn stream_v2_job(name: &str, suspended: bool) -> Value {
    execution_stream(
        name,
        json!({
            "layoutVersion": "v2",
            "suspended": suspended,
            "streamingBackend": {
                "changeCapture": {
                    "jobTemplateRef": {"name": STREAMING_TEMPLATE},
                    "backfillJobTemplateRef": {"name": BACKFILL_TEMPLATE},
                },
            },
        }),
    )
}

/// A batch-only v2 stream: CronJob backend and no backfill template at all.
pub fn stream_v2_cron(name: &str, suspended: bool, schedule: &str) -> Value {
    execution_stream(
        name,
        json!({
            "layoutVersion": "v2",
            "suspended": suspended,
            "streamingBackend": {
                "batch": {"schedule": schedule, "jobTemplateRef": {"name": BATCH_TEMPLATE}},
            },
        }),
    )
}

/// The object as the API server would hand it to a dynamic watch (`serde_json::from_value`).
///
/// A value that is not a deserializable object (test input is sometimes deliberately absurd) still
/// gives an object: its `apiVersion`/`kind` when they are strings, default metadata, and the whole
/// value as data, so callers never have to handle a failure here.
pub fn dynamic(value: Value) -> DynamicObject {
    match serde_json::from_value::<DynamicObject>(value.clone()) {
        Ok(object) => object,
        Err(_) => lenient(value),
    }
}

fn lenient(value: Value) -> DynamicObject {
    let text = |key: &str| value.get(key).and_then(Value::as_str).map(str::to_owned);
    let types = match (text("apiVersion"), text("kind")) {
        (Some(api_version), Some(kind)) => Some(TypeMeta { api_version, kind }),
        _ => None,
    };
    let metadata = value
        .get("metadata")
        .cloned()
        .and_then(|m| serde_json::from_value::<ObjectMeta>(m).ok())
        .unwrap_or_default();
    let data = match value {
        Value::Object(mut map) => {
            for key in ["apiVersion", "kind", "metadata"] {
                map.remove(key);
            }
            Value::Object(map)
        }
        other => other,
    };
    DynamicObject {
        types,
        metadata,
        data,
    }
}

/// Sets the value at `path` (object keys), creating intermediate objects and replacing non-objects
/// on the way.
pub fn set_path(root: &mut Value, path: &[&str], new: Value) {
    let Some((last, parents)) = path.split_last() else {
        *root = new;
        return;
    };
    let mut node = root;
    for key in parents {
        if !node.is_object() {
            *node = Value::Object(Map::new());
        }
        let Value::Object(map) = node else { return };
        node = map
            .entry((*key).to_owned())
            .or_insert_with(|| Value::Object(Map::new()));
    }
    if !node.is_object() {
        *node = Value::Object(Map::new());
    }
    if let Value::Object(map) = node {
        map.insert((*last).to_owned(), new);
    }
}

/// Removes the value at `path` (object keys), if present; returns it.
pub fn remove_path(root: &mut Value, path: &[&str]) -> Option<Value> {
    let (last, parents) = path.split_last()?;
    let mut node = root;
    for key in parents {
        node = node.get_mut(*key)?;
    }
    node.as_object_mut()?.remove(*last)
}

/// Sets the legacy `arcane/state` annotation to `state`.
pub fn with_legacy_state(mut value: Value, state: &str) -> Value {
    set_path(
        &mut value,
        &["metadata", "annotations", super::model::ANNOTATION_LEGACY_STATE],
        json!(state),
    );
    value
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fixtures_deserialize_as_dynamic_objects() {
        for value in [
            stream_v0("a", false),
            stream_v1_job("b", true),
            stream_v1_cron("c", false, SCHEDULE),
            stream_v2_job("d", false),
            stream_v2_cron("e", true, SCHEDULE),
        ] {
            let object: DynamicObject = serde_json::from_value(value.clone()).unwrap();
            assert_eq!(object.metadata.namespace.as_deref(), Some(NAMESPACE));
            assert_eq!(object.metadata.generation, Some(1));
            assert_eq!(object.types.as_ref().map(|t| t.kind.as_str()), Some(KIND));
            assert_eq!(object.data["spec"], value["spec"]);
            assert_eq!(dynamic(value), object);
        }
    }

    #[test]
    fn dynamic_tolerates_absurd_values() {
        let object = dynamic(json!([1, 2]));
        assert!(object.types.is_none());
        assert_eq!(object.data, json!([1, 2]));
        let object = dynamic(json!({"apiVersion": "v1", "kind": "X", "metadata": 7, "spec": {}}));
        assert_eq!(object.metadata, ObjectMeta::default());
        assert_eq!(object.data, json!({"spec": {}}));
    }

    #[test]
    fn set_and_remove_paths() {
        let mut value = json!({"a": 1});
        set_path(&mut value, &["a", "b", "c"], json!(true));
        assert_eq!(value, json!({"a": {"b": {"c": true}}}));
        assert_eq!(remove_path(&mut value, &["a", "b", "c"]), Some(json!(true)));
        assert_eq!(remove_path(&mut value, &["a", "x", "c"]), None);
        assert_eq!(value, json!({"a": {"b": {}}}));
        let annotated = with_legacy_state(stream_v0("s", false), "suspended");
        assert_eq!(
            annotated["metadata"]["annotations"]["arcane/state"],
            json!("suspended")
        );
    }
}
