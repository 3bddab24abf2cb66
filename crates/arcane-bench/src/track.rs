//! Follows the sandbox store's events in-process and timestamps what the benchmark measures: when a
//! stream was unsuspended, when its Job appeared, when its status said Running; and the "no duplicate
//! Job" and "no lost backfill" invariants (N2, N3) with the tests' monitor (`arcane-testkit`).

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Instant;

use arcane_operator::crd::BackfillRequest;
use arcane_testkit::monitor::{BACKFILL_ANNOTATION, InvariantMonitor};
use kube::Resource;
use kube_sandbox::Store;
use kube_sandbox::store::{Change, EventKind, Gvr};
use serde_json::Value;
use tokio::sync::broadcast::error::RecvError;

use crate::env::{Class, GROUP, NS};

#[derive(Default)]
pub(crate) struct TrackState {
    /// Times the tracker fell behind the store's event channel and caught up by re-listing, and the
    /// changes it skipped then. What a re-list finds new is timestamped at the re-list (an upper
    /// bound), and a Job created and deleted in the gap is not counted.
    pub relists: u32,
    pub skipped_changes: u64,
    /// First time each stream was seen unsuspended.
    pub unsuspended: HashMap<String, Instant>,
    /// First time each stream's status said Running.
    pub running: HashMap<String, Instant>,
    /// Latest status phase of each stream.
    pub phase: HashMap<String, String>,
    /// First time each Job name was created.
    pub job_first_added: HashMap<String, Instant>,
    /// Creations and deletions of each Job name.
    pub job_adds: HashMap<String, u32>,
    pub job_deletes: HashMap<String, u32>,
    /// Backfill Jobs created per BackfillRequest name.
    pub backfill_job_adds: HashMap<String, u32>,
    /// N2 and N3, checked as the tests check them; also which BackfillRequests completed and
    /// whose backfill Job succeeded.
    pub invariants: InvariantMonitor,
}

impl TrackState {
    fn observe(
        &mut self,
        resource: &str,
        group: &str,
        kind: EventKind,
        obj: &Value,
        layouts: &HashMap<String, Class>,
    ) {
        let now = Instant::now();
        let name = obj
            .pointer("/metadata/name")
            .and_then(Value::as_str)
            .unwrap_or_default();
        if group == GROUP {
            if kind == EventKind::Deleted {
                return;
            }
            if let Some(class) = layouts.get(resource)
                && !class.is_suspended(obj)
            {
                self.unsuspended.entry(name.to_string()).or_insert(now);
            }
            if let Some(phase) = obj.pointer("/status/phase").and_then(Value::as_str) {
                if phase == "Running" {
                    self.running.entry(name.to_string()).or_insert(now);
                }
                if self.phase.get(name).map(String::as_str) != Some(phase) {
                    self.phase.insert(name.to_string(), phase.to_string());
                }
            }
            return;
        }
        if resource == "jobs" {
            self.observe_job(kind, name, obj, now);
        }
        self.invariants.observe(resource, kind, obj);
    }

    fn observe_job(&mut self, kind: EventKind, name: &str, obj: &Value, now: Instant) {
        let request = obj
            .pointer("/metadata/annotations")
            .and_then(|a| a.get(BACKFILL_ANNOTATION))
            .and_then(Value::as_str);
        match kind {
            EventKind::Added => {
                self.job_first_added.entry(name.to_string()).or_insert(now);
                *self.job_adds.entry(name.to_string()).or_insert(0) += 1;
                if let Some(request) = request {
                    *self.backfill_job_adds.entry(request.to_string()).or_insert(0) += 1;
                }
            }
            EventKind::Deleted => {
                *self.job_deletes.entry(name.to_string()).or_insert(0) += 1;
            }
            _ => {}
        }
    }
}

/// The tracking task and its shared state.
pub(crate) struct Tracker {
    state: Arc<Mutex<TrackState>>,
    task: tokio::task::JoinHandle<()>,
}

/// What the tracker follows.
struct Follow {
    layouts: HashMap<String, Class>,
    /// The workload and request types the invariants read (any other change is skipped unparsed).
    workloads: [Gvr; 3],
    /// After a re-list, the resourceVersion each type was listed at: the changes still buffered
    /// up to it are in the list already.
    listed_at: HashMap<String, u64>,
}

impl Follow {
    /// Whether `change` is one the tracker reads: in the benchmark's namespace, of a stream kind or
    /// of a type the invariants read. Decided without parsing the object.
    fn wants(&self, change: &Change) -> bool {
        if change.namespace.as_deref() != Some(NS) {
            return false;
        }
        let (group, resource) = (change.gvr.group.as_str(), change.gvr.resource.as_str());
        (group == GROUP && self.layouts.contains_key(resource))
            || self
                .workloads
                .iter()
                .any(|w| w.group == group && w.resource == resource)
    }

    fn apply(&self, state: &mut TrackState, change: &Change) {
        if self
            .listed_at
            .get(&change.gvr.resource)
            .is_some_and(|rv| change.rv <= *rv)
        {
            return;
        }
        let object = change.object.decode();
        state.observe(
            &change.gvr.resource,
            &change.gvr.group,
            change.kind,
            &object,
            &self.layouts,
        );
    }

    /// Catches up after missing changes: every stream and workload as the store holds it now.
    fn relist(&mut self, state: &mut TrackState, store: &Store, skipped: u64) {
        state.relists += 1;
        state.skipped_changes += skipped;
        for (plural, class) in &self.layouts {
            let gvr = Gvr::new(GROUP, &class.resource.version, plural);
            let (list, rv) = store.list_stored(&gvr, Some(NS));
            self.listed_at.insert(plural.clone(), rv);
            for stored in list {
                state.observe(
                    plural,
                    GROUP,
                    EventKind::Modified,
                    &stored.decode(),
                    &self.layouts,
                );
            }
        }
        for gvr in &self.workloads {
            let resource = gvr.resource.as_str();
            let (list, rv) = store.list_stored(gvr, Some(NS));
            self.listed_at.insert(resource.to_string(), rv);
            let objects: Vec<_> = list.iter().map(kube_sandbox::store::Stored::decode).collect();
            let now = Instant::now();
            for obj in &objects {
                let name = obj
                    .pointer("/metadata/name")
                    .and_then(Value::as_str)
                    .unwrap_or_default();
                if resource == "jobs" && !state.job_first_added.contains_key(name) {
                    state.observe_job(EventKind::Added, name, obj, now);
                }
                if resource == "backfillrequests" {
                    state.invariants.observe(resource, EventKind::Modified, obj);
                }
            }
            if resource != "backfillrequests" {
                state
                    .invariants
                    .relist(resource, objects.iter().map(std::convert::AsRef::as_ref));
            }
        }
    }
}

impl Tracker {
    /// Follows `store` from now on. Changes are taken as stored and only those the benchmark reads
    /// are parsed; if the tracker still falls behind the store's channel, it re-lists what it
    /// follows rather than lose Running streams (see [`TrackState::relists`]).
    pub(crate) fn start(store: &Store, classes: &[Class]) -> Tracker {
        let state = Arc::new(Mutex::new(TrackState::default()));
        let mut follow = Follow {
            listed_at: HashMap::new(),
            layouts: classes.iter().map(|c| (c.plural.clone(), c.clone())).collect(),
            workloads: [
                Gvr::new("batch", "v1", "jobs"),
                Gvr::new("batch", "v1", "cronjobs"),
                Gvr::new(
                    &BackfillRequest::group(&()),
                    &BackfillRequest::version(&()),
                    &BackfillRequest::plural(&()),
                ),
            ],
        };
        let mut events = store.subscribe();
        let task = {
            let state = state.clone();
            let store = store.clone();
            tokio::spawn(async move {
                loop {
                    match events.recv_change().await {
                        Ok(change) => {
                            if follow.wants(&change) {
                                follow.apply(
                                    &mut state.lock().unwrap_or_else(std::sync::PoisonError::into_inner),
                                    &change,
                                );
                            }
                        }
                        Err(RecvError::Lagged(skipped)) => {
                            let mut state = state.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
                            follow.relist(&mut state, &store, skipped);
                        }
                        Err(RecvError::Closed) => return,
                    }
                }
            })
        };
        Tracker { state, task }
    }

    pub(crate) fn state(&self) -> MutexGuard<'_, TrackState> {
        self.state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

impl Drop for Tracker {
    fn drop(&mut self) {
        self.task.abort();
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use kube_sandbox::registry::builtins;
    use kube_sandbox::store::{DeleteOptions, Propagation, StoreConfig};
    use serde_json::json;

    use super::*;

    fn job(name: &str, owner: &str) -> Value {
        json!({
            "apiVersion": "batch/v1", "kind": "Job",
            "metadata": {"name": name, "namespace": NS,
                "ownerReferences": [{"apiVersion": "v1", "kind": "S", "name": owner, "uid": owner, "controller": true}]},
        })
    }

    /// A tracker that cannot keep up (a channel of 16 changes, nothing received while 300 are
    /// written) still sees every stream Running and every Job, by re-listing.
    #[tokio::test(flavor = "current_thread")]
    async fn a_tracker_that_falls_behind_catches_up_by_relisting() {
        let store = Store::new(StoreConfig {
            event_buffer: 16,
            ..StoreConfig::default()
        });
        let jobs = Gvr::new("batch", "v1", "jobs");
        let class = Class::new(1);
        let streams = Gvr::new(GROUP, "v1", &class.plural);
        for info in builtins() {
            if info.gvr == jobs {
                let mut info_streams = info.clone();
                info_streams.gvr = streams.clone();
                info_streams.kind = class.kind.clone();
                // The status as created (no status subresource to write it through).
                info_streams.status_subresource = false;
                store.register_type(info);
                store.register_type(info_streams);
            }
        }
        let tracker = Tracker::start(&store, std::slice::from_ref(&class));
        // Nothing below yields: the tracker's task runs only once the writes are done.
        let delete = DeleteOptions {
            propagation: Some(Propagation::Background),
            ..DeleteOptions::default()
        };
        for i in 0..100 {
            let name = format!("s-{i}");
            let mut stream = class.stream(NS, &name, false);
            stream["status"] = json!({"phase": "Running"});
            store.create(&streams, stream).expect("stream created");
            // The stream's first Job is replaced while the tracker is behind: not two live Jobs.
            store
                .create(&jobs, job(&format!("{name}-a"), &name))
                .expect("job created");
            store
                .delete(&jobs, Some(NS), &format!("{name}-a"), &delete)
                .expect("job deleted");
            store.create(&jobs, job(&name, &name)).expect("job created");
        }
        let deadline = Instant::now() + Duration::from_secs(10);
        while tracker.state().running.len() < 100 && Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        let state = tracker.state();
        assert_eq!(state.running.len(), 100, "every stream seen Running");
        assert!(state.relists >= 1 && state.skipped_changes > 0);
        assert!((0..100).all(|i| state.job_first_added.contains_key(&format!("s-{i}"))));
        assert!(state.unsuspended.len() == 100);
        assert_eq!(state.invariants.violation_count(), 0);
    }

    #[tokio::test(flavor = "current_thread")]
    async fn changes_of_other_namespaces_and_types_are_not_read() {
        let class = Class::new(0);
        let follow = Follow {
            listed_at: HashMap::new(),
            layouts: [(class.plural.clone(), class.clone())].into(),
            workloads: [
                Gvr::new("batch", "v1", "jobs"),
                Gvr::new("batch", "v1", "cronjobs"),
                Gvr::new("g", "v1", "backfillrequests"),
            ],
        };
        let change = |gvr: Gvr, ns: &str| Change {
            gvr,
            kind: EventKind::Added,
            rv: 1,
            namespace: Some(ns.to_string()),
            object: kube_sandbox::store::Stored::encode(&json!({})),
            old: None,
        };
        assert!(follow.wants(&change(Gvr::new(GROUP, "v1", &class.plural), NS)));
        assert!(follow.wants(&change(Gvr::new("batch", "v1", "jobs"), NS)));
        assert!(!follow.wants(&change(Gvr::new("batch", "v1", "jobs"), "other")));
        assert!(!follow.wants(&change(Gvr::new("", "v1", "events"), NS)));
        assert!(!follow.wants(&change(Gvr::new("g", "v1", &class.plural), NS)));
    }
}
