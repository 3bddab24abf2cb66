//! The stream cache, compact: one small record per stream definition in place of kube's reflector
//! store of `DynamicObject`s.
//!
//! A `DynamicObject` keeps its spec and status as a `serde_json::Value` tree, where every object,
//! however small, is a B-tree node of about 640 bytes: a stream of the benchmark (spec, status
//! with one condition) took about 7 kB that way. The record keeps the object as its JSON text
//! (without `managedFields` and `kubectl`'s last-applied copy, which the operator never reads),
//! and the phase for the per-phase gauge. A reconcile gets the
//! stream back as the same `DynamicObject` (rebuilt from the text, a few microseconds).
//!
//! Like kube's reflector, a re-list is collected aside and replaces the contents when complete, so
//! lookups never see a partial list; the cache is ready after its first complete list.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};

use kube::api::{ApiResource, DynamicObject, ObjectMeta, TypeMeta};
use kube::runtime::reflector::ObjectRef;
use kube::runtime::watcher::Event;
use serde_json::Value;
use tokio::sync::watch;

use crate::stream::Phase;

/// The annotation `kubectl apply` keeps a whole copy of the object in.
const LAST_APPLIED: &str = "kubectl.kubernetes.io/last-applied-configuration";

/// A stream's key: namespace and name (the kind is the cache's).
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct StreamKey {
    pub namespace: Option<String>,
    pub name: String,
}

impl StreamKey {
    pub fn of_meta(meta: &ObjectMeta) -> Option<StreamKey> {
        Some(StreamKey {
            namespace: meta.namespace.clone(),
            name: meta.name.clone()?,
        })
    }

    pub fn of_ref(r: &ObjectRef<DynamicObject>) -> StreamKey {
        StreamKey {
            namespace: r.namespace.clone(),
            name: r.name.clone(),
        }
    }

    pub fn object_ref(&self, resource: &ApiResource) -> ObjectRef<DynamicObject> {
        let r = ObjectRef::new_with(&self.name, resource.clone());
        match &self.namespace {
            Some(ns) => r.within(ns),
            None => r,
        }
    }
}

/// One stream as cached.
struct Record {
    /// `[metadata, data]` as compact JSON: the metadata without name and namespace (they are the
    /// key), managedFields and the last-applied copy; the data every field besides `apiVersion`,
    /// `kind` and `metadata` (spec, status). (An `ObjectMeta` alone takes 360 bytes before its
    /// strings; as text the metadata of a stream is about 150.)
    text: Box<str>,
    phase: Option<Phase>,
}

impl Record {
    fn new(object: &DynamicObject) -> Record {
        let mut metadata = object.metadata.clone();
        metadata.name = None;
        metadata.namespace = None;
        metadata.managed_fields = None;
        if let Some(annotations) = metadata.annotations.as_mut() {
            annotations.remove(LAST_APPLIED);
        }
        // Serializing these cannot fail (string keys only).
        let text = serde_json::to_string(&(&metadata, &object.data)).unwrap_or_default();
        let phase = object
            .data
            .pointer("/status/phase")
            .and_then(Value::as_str)
            .and_then(Phase::parse);
        Record {
            text: text.into_boxed_str(),
            phase,
        }
    }

    fn object(&self, key: &StreamKey, types: &TypeMeta) -> DynamicObject {
        // Text this cache wrote from the same types reads back.
        let (mut metadata, data): (ObjectMeta, Value) =
            serde_json::from_str(&self.text).unwrap_or_else(|_| (ObjectMeta::default(), Value::Null));
        metadata.name = Some(key.name.clone());
        metadata.namespace = key.namespace.clone();
        DynamicObject {
            types: Some(types.clone()),
            metadata,
            data,
        }
    }
}

#[derive(Default)]
struct State {
    streams: HashMap<StreamKey, Record>,
    /// A list in progress (after `Init`), replacing `streams` at `InitDone`.
    relisting: Option<HashMap<StreamKey, Record>>,
}

/// The compact cache of one class's streams.
#[derive(Clone)]
pub struct StreamCache {
    state: Arc<RwLock<State>>,
    types: Arc<TypeMeta>,
    ready: watch::Sender<bool>,
}

impl StreamCache {
    pub fn new(resource: &ApiResource) -> StreamCache {
        StreamCache {
            state: Arc::default(),
            types: Arc::new(TypeMeta {
                api_version: resource.api_version.clone(),
                kind: resource.kind.clone(),
            }),
            ready: watch::Sender::new(false),
        }
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, State> {
        self.state
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, State> {
        self.state
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Applies one watch event, as kube's reflector does.
    pub fn apply(&self, event: &Event<DynamicObject>) {
        match event {
            Event::Apply(object) => {
                if let Some(key) = StreamKey::of_meta(&object.metadata) {
                    self.write().streams.insert(key, Record::new(object));
                }
            }
            Event::Delete(object) => {
                if let Some(key) = StreamKey::of_meta(&object.metadata) {
                    self.write().streams.remove(&key);
                }
            }
            Event::Init => self.write().relisting = Some(HashMap::new()),
            Event::InitApply(object) => {
                if let Some(key) = StreamKey::of_meta(&object.metadata) {
                    let record = Record::new(object);
                    let mut state = self.write();
                    state
                        .relisting
                        .get_or_insert_with(HashMap::new)
                        .insert(key, record);
                }
            }
            Event::InitDone => {
                {
                    let mut state = self.write();
                    let mut listed = state.relisting.take().unwrap_or_default();
                    listed.shrink_to_fit();
                    state.streams = listed;
                }
                self.ready.send_replace(true);
            }
        }
    }

    /// The stream of `key`, rebuilt as the watch served it (less managedFields).
    pub fn get(&self, key: &StreamKey) -> Option<Arc<DynamicObject>> {
        let state = self.read();
        let record = state.streams.get(key)?;
        Some(Arc::new(record.object(key, &self.types)))
    }

    pub fn contains(&self, key: &StreamKey) -> bool {
        self.read().streams.contains_key(key)
    }

    pub fn len(&self) -> usize {
        self.read().streams.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The number of streams per phase (`None`: no or an unknown phase).
    pub fn phases(&self) -> HashMap<Option<Phase>, i64> {
        let mut counts = HashMap::new();
        for record in self.read().streams.values() {
            *counts.entry(record.phase).or_default() += 1;
        }
        counts
    }

    /// The keys of the streams `pick` selects, given each stream rebuilt (for rare, whole-cache
    /// questions: which streams use a template).
    pub fn select(&self, mut pick: impl FnMut(&DynamicObject) -> bool) -> Vec<StreamKey> {
        let state = self.read();
        state
            .streams
            .iter()
            .filter(|(key, record)| pick(&record.object(key, &self.types)))
            .map(|(key, _)| key.clone())
            .collect()
    }

    /// Whether the first complete list has been applied.
    pub fn is_ready(&self) -> bool {
        *self.ready.borrow()
    }

    /// Waits until the first complete list has been applied.
    pub async fn wait_until_ready(&self) {
        let mut ready = self.ready.subscribe();
        // The sender lives as long as `self`: this cannot fail while waited on.
        let _ = ready.wait_for(|r| *r).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn resource() -> ApiResource {
        ApiResource {
            group: "g.example".into(),
            version: "v1".into(),
            api_version: "g.example/v1".into(),
            kind: "Stream".into(),
            plural: "streams".into(),
        }
    }

    fn stream(name: &str, rv: &str, phase: Option<&str>) -> DynamicObject {
        let mut value = json!({
            "apiVersion": "g.example/v1",
            "kind": "Stream",
            "metadata": {
                "name": name, "namespace": "ns", "uid": format!("uid-{name}"), "resourceVersion": rv,
                "generation": 2, "labels": {"team": "a"}, "creationTimestamp": "2026-01-01T00:00:00Z",
                "ownerReferences": [{"apiVersion": "v1", "kind": "K", "name": "o", "uid": "u"}],
                "annotations": {"arcane/state": "x", LAST_APPLIED: "{\"big\":true}"},
                "managedFields": [{"manager": "kubectl", "operation": "Apply"}],
            },
            "spec": {"source": "s", "execution": {"suspended": false, "nested": {"list": [1, "two", null]}}},
        });
        if let Some(phase) = phase {
            value["status"] = json!({"phase": phase, "conditions": [{"type": "Ready", "status": "True"}]});
        }
        serde_json::from_value(value).expect("a stream parses")
    }

    fn key(name: &str) -> StreamKey {
        StreamKey {
            namespace: Some("ns".into()),
            name: name.into(),
        }
    }

    #[test]
    fn a_stream_comes_back_as_served_less_what_the_operator_never_reads() {
        let cache = StreamCache::new(&resource());
        let served = stream("a", "1", Some("Running"));
        cache.apply(&Event::Apply(served.clone()));
        let back = cache.get(&key("a")).expect("cached");
        let mut want = served;
        want.metadata.managed_fields = None;
        want.metadata
            .annotations
            .as_mut()
            .expect("annotations")
            .remove(LAST_APPLIED);
        assert_eq!(back.types, want.types);
        assert_eq!(back.metadata, want.metadata);
        assert_eq!(back.data, want.data);
        assert_eq!(
            ObjectRef::from_obj_with(back.as_ref(), resource()),
            key("a").object_ref(&resource())
        );
        assert_eq!(StreamKey::of_ref(&key("a").object_ref(&resource())), key("a"));
    }

    #[test]
    fn applies_deletes_and_counts_phases() {
        let cache = StreamCache::new(&resource());
        cache.apply(&Event::Apply(stream("a", "1", Some("Running"))));
        cache.apply(&Event::Apply(stream("b", "1", Some("Running"))));
        cache.apply(&Event::Apply(stream("c", "1", None)));
        cache.apply(&Event::Apply(stream("a", "2", Some("Suspended"))));
        assert_eq!(cache.len(), 3);
        let phases = cache.phases();
        assert_eq!(phases.get(&Some(Phase::Running)), Some(&1));
        assert_eq!(phases.get(&Some(Phase::Suspended)), Some(&1));
        assert_eq!(phases.get(&None), Some(&1));
        cache.apply(&Event::Delete(stream("b", "3", Some("Running"))));
        assert!(!cache.contains(&key("b")));
        assert_eq!(
            cache
                .get(&key("a"))
                .and_then(|a| a.metadata.resource_version.clone())
                .as_deref(),
            Some("2")
        );
        let mut running = cache.select(|s| s.data.pointer("/status/phase") == Some(&json!("Suspended")));
        running.sort();
        assert_eq!(running, vec![key("a")]);
    }

    #[tokio::test]
    async fn a_relist_replaces_the_contents_when_complete_and_makes_it_ready() {
        let cache = StreamCache::new(&resource());
        assert!(!cache.is_ready());
        cache.apply(&Event::Init);
        cache.apply(&Event::InitApply(stream("a", "1", None)));
        assert!(cache.is_empty(), "a list in progress is not visible");
        cache.apply(&Event::InitDone);
        assert!(cache.is_ready());
        cache.wait_until_ready().await;
        assert!(cache.contains(&key("a")));
        // A re-list after a desync: `a` is gone, `b` is new; `a` stays visible until it completes.
        cache.apply(&Event::Init);
        cache.apply(&Event::InitApply(stream("b", "5", None)));
        assert!(cache.contains(&key("a")) && !cache.contains(&key("b")));
        cache.apply(&Event::InitDone);
        assert!(!cache.contains(&key("a")) && cache.contains(&key("b")));
    }
}
