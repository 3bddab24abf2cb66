//! Follows the sandbox store's events in-process and timestamps what the benchmark measures: when a
//! stream was unsuspended, when its Job appeared, when its status said Running; and the "no duplicate
//! Job" and "no lost backfill" invariants (N2, N3) with the tests' monitor (`arcane-testkit`).

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Instant;

use arcane_testkit::monitor::{BACKFILL_ANNOTATION, InvariantMonitor};
use kube_sandbox::Store;
use kube_sandbox::store::EventKind;
use serde_json::Value;
use tokio::sync::broadcast::error::RecvError;

use crate::env::{Class, GROUP, NS};

#[derive(Default)]
pub(crate) struct TrackState {
    /// The tracker fell behind the store's event channel: some figures may miss events.
    pub lagged: bool,
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

impl Tracker {
    pub(crate) fn start(store: &Store, classes: &[Class]) -> Tracker {
        let state = Arc::new(Mutex::new(TrackState::default()));
        let layouts: HashMap<String, Class> = classes.iter().map(|c| (c.plural.clone(), c.clone())).collect();
        let mut events = store.subscribe();
        let task = {
            let state = state.clone();
            tokio::spawn(async move {
                loop {
                    match events.recv().await {
                        Ok(event) => {
                            let ns = event
                                .object
                                .pointer("/metadata/namespace")
                                .and_then(Value::as_str);
                            if ns != Some(NS) {
                                continue;
                            }
                            let mut state = state.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
                            state.observe(
                                &event.gvr.resource,
                                &event.gvr.group,
                                event.kind,
                                &event.object,
                                &layouts,
                            );
                        }
                        Err(RecvError::Lagged(_)) => {
                            state
                                .lock()
                                .unwrap_or_else(std::sync::PoisonError::into_inner)
                                .lagged = true;
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
