//! Follows the sandbox store's events in-process and timestamps what the benchmark measures: when a
//! stream was unsuspended, when its Job appeared, when its status said Running, and the facts behind
//! the "no duplicate Job" and "no lost backfill" invariants (N2, N3).

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Instant;

use kube_sandbox::Store;
use kube_sandbox::store::EventKind;
use serde_json::Value;
use tokio::sync::broadcast::error::RecvError;

use crate::env::{Class, GROUP, NS};

const BACKFILL_ANNOTATION: &str = "arcane/backfill-request";

#[derive(Default)]
pub struct TrackState {
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
    /// BackfillRequests whose backfill Job succeeded.
    pub backfill_succeeded: HashSet<String>,
    /// BackfillRequests seen with `spec.completed: true`.
    pub completed_requests: HashSet<String>,
    /// Live Jobs per controlling owner UID (N2: never two at once).
    live: HashMap<String, HashSet<String>>,
    pub violations: Vec<String>,
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
        match resource {
            "jobs" => self.observe_job(kind, name, obj, now),
            "backfillrequests" => {
                let completed = obj.pointer("/spec/completed").and_then(Value::as_bool) == Some(true);
                let first = completed
                    && kind != EventKind::Deleted
                    && self.completed_requests.insert(name.to_string());
                if first && !self.backfill_succeeded.contains(name) {
                    self.violations.push(format!(
                        "BackfillRequest {name} completed before its backfill Job succeeded"
                    ));
                }
            }
            _ => {}
        }
    }

    fn observe_job(&mut self, kind: EventKind, name: &str, obj: &Value, now: Instant) {
        let request = obj
            .pointer("/metadata/annotations")
            .and_then(|a| a.get(BACKFILL_ANNOTATION))
            .and_then(Value::as_str);
        let owner = obj
            .pointer("/metadata/ownerReferences")
            .and_then(Value::as_array)
            .and_then(|refs| {
                refs.iter()
                    .find(|r| r.get("controller") == Some(&Value::Bool(true)))
            })
            .and_then(|r| r.get("uid"))
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string();
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
                if let Some(live) = self.live.get_mut(&owner) {
                    live.remove(name);
                }
                return;
            }
            _ => {}
        }
        let live = self.live.entry(owner.clone()).or_default();
        live.insert(name.to_string());
        if live.len() > 1 && self.violations.len() < 100 {
            self.violations
                .push(format!("owner {owner} has two live Jobs: {live:?}"));
        }
        let complete = obj
            .pointer("/status/conditions")
            .and_then(Value::as_array)
            .is_some_and(|cs| {
                cs.iter()
                    .any(|c| c["type"] == "Complete" && c["status"] == "True")
            });
        if let (true, Some(request)) = (complete, request) {
            self.backfill_succeeded.insert(request.to_string());
        }
    }
}

/// The tracking task and its shared state.
pub struct Tracker {
    state: Arc<Mutex<TrackState>>,
    task: tokio::task::JoinHandle<()>,
}

impl Tracker {
    pub fn start(store: &Store, classes: &[Class]) -> Tracker {
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
                            let mut state = state.lock().unwrap_or_else(|e| e.into_inner());
                            state.observe(
                                &event.gvr.resource,
                                &event.gvr.group,
                                event.kind,
                                &event.object,
                                &layouts,
                            );
                        }
                        Err(RecvError::Lagged(_)) => {
                            state.lock().unwrap_or_else(|e| e.into_inner()).lagged = true
                        }
                        Err(RecvError::Closed) => return,
                    }
                }
            })
        };
        Tracker { state, task }
    }

    pub fn state(&self) -> MutexGuard<'_, TrackState> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl Drop for Tracker {
    fn drop(&mut self) {
        self.task.abort();
    }
}
