//! Serves `events.k8s.io/v1` Events through the core `v1` Events view too: upstream both are views of one
//! storage, and `kubectl describe` / `kubectl events` read the core view while kube-runtime's `Recorder` writes
//! the new one. The mirror copies in that direction only, so the two never feed each other.

use serde_json::{Map, Value, json};

use crate::store::meta::{self, name_of};
use crate::store::{DeleteOptions, EventKind, Gvr, Store, StoreEvent, Subresource, WriteOptions};

pub fn events_v1() -> Gvr {
    Gvr::new("events.k8s.io", "v1", "events")
}

pub fn core_events() -> Gvr {
    Gvr::new("", "v1", "events")
}

/// The core/v1 form of an events.k8s.io/v1 Event (field mapping of `pkg/apis/events/v1/conversion.go`).
pub fn to_core(ev: &Value) -> Value {
    let mut out = Map::new();
    out.insert("apiVersion".into(), json!("v1"));
    out.insert("kind".into(), json!("Event"));
    let mut m = Map::new();
    for k in ["name", "namespace", "labels", "annotations"] {
        if let Some(v) = ev.pointer(&format!("/metadata/{k}")) {
            m.insert(k.into(), v.clone());
        }
    }
    out.insert("metadata".into(), Value::Object(m));
    let copy = |out: &mut Map<String, Value>, from: &str, to: &str| {
        if let Some(v) = ev.get(from).filter(|v| !v.is_null()) {
            out.insert(to.into(), v.clone());
        }
    };
    copy(&mut out, "regarding", "involvedObject");
    copy(&mut out, "note", "message");
    copy(&mut out, "reason", "reason");
    copy(&mut out, "type", "type");
    copy(&mut out, "action", "action");
    copy(&mut out, "related", "related");
    copy(&mut out, "eventTime", "eventTime");
    copy(&mut out, "reportingController", "reportingComponent");
    copy(&mut out, "reportingInstance", "reportingInstance");
    copy(&mut out, "deprecatedSource", "source");
    if !out.contains_key("source")
        && let Some(c) = ev.get("reportingController")
    {
        out.insert("source".into(), json!({"component": c}));
    }
    let event_time = ev
        .get("eventTime")
        .and_then(Value::as_str)
        .map(|t| t.split('.').next().unwrap_or(t).trim_end_matches('Z').to_string() + "Z");
    let first = ev
        .get("deprecatedFirstTimestamp")
        .filter(|v| !v.is_null())
        .cloned()
        .or_else(|| event_time.clone().map(Value::String));
    let last = ev
        .pointer("/series/lastObservedTime")
        .and_then(Value::as_str)
        .map(|t| json!(t.split('.').next().unwrap_or(t).trim_end_matches('Z').to_string() + "Z"))
        .or_else(|| {
            ev.get("deprecatedLastTimestamp")
                .filter(|v| !v.is_null())
                .cloned()
        })
        .or_else(|| first.clone());
    if let Some(f) = first {
        out.insert("firstTimestamp".into(), f);
    }
    if let Some(l) = last {
        out.insert("lastTimestamp".into(), l);
    }
    let count = ev
        .pointer("/series/count")
        .or_else(|| ev.get("deprecatedCount"))
        .and_then(Value::as_i64)
        .unwrap_or(1);
    out.insert("count".into(), json!(count));
    Value::Object(out)
}

/// After missed store events (a lagging subscription): mirrors every events.k8s.io/v1 Event that has no core
/// view yet, parsing one at a time. Changes missed for Events already mirrored follow at their next change.
pub fn resync(store: &Store) {
    let (all, _) = store.list_stored(&events_v1(), None);
    for stored in all {
        let object = stored.decode();
        if store.contains(&core_events(), meta::namespace_of(&object), name_of(&object)) {
            continue;
        }
        let ev = StoreEvent {
            gvr: events_v1(),
            kind: EventKind::Added,
            object,
        };
        mirror(store, &ev);
    }
}

/// Reacts to one store event: keeps the core view in step with an events.k8s.io/v1 Event.
pub fn mirror(store: &Store, ev: &StoreEvent) {
    if ev.gvr != events_v1() {
        return;
    }
    let name = name_of(&ev.object).to_string();
    let ns = meta::namespace_of(&ev.object).map(str::to_string);
    let opts = WriteOptions::manager("kube-sandbox-events-mirror");
    if ev.kind == EventKind::Deleted {
        let _ = store.delete(&core_events(), ns.as_deref(), &name, &DeleteOptions::default());
        return;
    }
    let desired = to_core(&ev.object);
    let result = store.mutate(
        &core_events(),
        ns.as_deref(),
        &name,
        Subresource::Main,
        &opts,
        |cur| {
            let mut d = desired.clone();
            if let Some(c) = cur
                && let (Some(dm), Some(rv)) =
                    (meta::metadata_mut(&mut d), meta::meta_str(c, "resourceVersion"))
            {
                dm.insert("resourceVersion".into(), json!(rv));
            }
            Ok(d)
        },
    );
    if let Err(e) = result {
        tracing::debug!(%e, event = %name, "could not mirror event to core/v1");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// After a lag the mirror re-lists: Events without a core view get one, mirrored ones are left alone.
    #[test]
    fn resync_mirrors_missing_events() {
        let store = crate::registry::new_store(crate::store::StoreConfig::default());
        let event = |name: &str| {
            json!({"apiVersion": "events.k8s.io/v1", "kind": "Event",
                "metadata": {"name": name, "namespace": "default"},
                "eventTime": "2026-11-26T08:00:00.000000Z", "reportingController": "c", "reportingInstance": "i",
                "action": "A", "reason": "R", "type": "Normal", "note": "n",
                "regarding": {"kind": "ConfigMap", "name": "x", "namespace": "default"}})
        };
        for name in ["a", "b"] {
            store.create(&events_v1(), event(name)).unwrap();
        }
        let ev = StoreEvent {
            gvr: events_v1(),
            kind: EventKind::Added,
            object: std::sync::Arc::new(store.get(&events_v1(), Some("default"), "a").unwrap()),
        };
        mirror(&store, &ev);
        let rv_a =
            store.get(&core_events(), Some("default"), "a").unwrap()["metadata"]["resourceVersion"].clone();
        assert!(!store.contains(&core_events(), Some("default"), "b"));
        resync(&store);
        assert!(store.contains(&core_events(), Some("default"), "b"));
        assert_eq!(
            store.get(&core_events(), Some("default"), "a").unwrap()["metadata"]["resourceVersion"],
            rv_a
        );
    }

    #[test]
    fn maps_fields() {
        let ev = json!({"apiVersion": "events.k8s.io/v1", "kind": "Event",
            "metadata": {"name": "e1", "namespace": "default"},
            "regarding": {"kind": "Widget", "name": "w", "namespace": "default", "uid": "u"},
            "note": "hello", "reason": "Created", "type": "Normal", "action": "Create",
            "eventTime": "2026-11-26T08:00:00.123456Z", "reportingController": "arcane", "reportingInstance": "pod-1",
            "series": {"count": 3, "lastObservedTime": "2026-11-26T08:00:09.000000Z"}});
        let core = to_core(&ev);
        assert_eq!(core["involvedObject"]["name"], "w");
        assert_eq!(core["message"], "hello");
        assert_eq!(core["count"], 3);
        assert_eq!(core["firstTimestamp"], "2026-11-26T08:00:00Z");
        assert_eq!(core["lastTimestamp"], "2026-11-26T08:00:09Z");
        assert_eq!(core["source"]["component"], "arcane");
        assert_eq!(core["metadata"]["namespace"], "default");
    }
}
