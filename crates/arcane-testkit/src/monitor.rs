//! The "nothing lost" invariants that can be checked on the sandbox's event stream alone
//! (ecosystem-reliability §B.7), for the tests and the benchmark:
//!
//! - N2: a stream never has two live workloads (Jobs or CronJobs controlled by the same owner)
//!   at once;
//! - N3: a BackfillRequest is never marked completed before its backfill Job succeeded (unless its
//!   author created it completed).

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use kube_sandbox::Store;
use kube_sandbox::store::EventKind;
use serde_json::Value;
use tokio::sync::broadcast::error::RecvError;

/// The annotation a backfill Job names its BackfillRequest with.
pub const BACKFILL_ANNOTATION: &str = "arcane/backfill-request";

/// At most this many violations are kept (a broken run at 100,000 streams must not hold millions);
/// [`InvariantMonitor::violation_count`] counts them all.
pub const KEPT_VIOLATIONS: usize = 100;

/// Records violations of N2 and N3 in the store events it is fed.
#[derive(Debug, Default)]
pub struct InvariantMonitor {
    /// Live workloads (resource, name) per controlling owner UID.
    live: HashMap<String, HashSet<(String, String)>>,
    /// BackfillRequests whose backfill Job succeeded.
    succeeded: HashSet<String>,
    /// BackfillRequests seen with `spec.completed: true`.
    completed: HashSet<String>,
    violations: Vec<String>,
    violation_count: usize,
    /// The monitor fell behind the store's event channel: it may have missed a violation.
    pub lagged: bool,
}

impl InvariantMonitor {
    /// Takes one store event of `resource` (a plural name) into account.
    pub fn observe(&mut self, resource: &str, kind: EventKind, obj: &Value) {
        let name = obj
            .pointer("/metadata/name")
            .and_then(Value::as_str)
            .unwrap_or_default();
        match resource {
            "jobs" | "cronjobs" => self.observe_workload(resource, name, kind, obj),
            "backfillrequests" => {
                let completed = obj.pointer("/spec/completed").and_then(Value::as_bool) == Some(true);
                if !completed || kind == EventKind::Deleted || !self.completed.insert(name.to_string()) {
                    return;
                }
                // A request created already completed was completed by its author, not the operator.
                if kind != EventKind::Added && !self.succeeded.contains(name) {
                    self.violate(format!(
                        "BackfillRequest {name} completed before its backfill Job succeeded"
                    ));
                }
            }
            _ => {}
        }
    }

    fn observe_workload(&mut self, resource: &str, name: &str, kind: EventKind, obj: &Value) {
        let controller = obj
            .pointer("/metadata/ownerReferences")
            .and_then(Value::as_array)
            .and_then(|refs| {
                refs.iter()
                    .find(|r| r.get("controller") == Some(&Value::Bool(true)))
            });
        let Some(controller) = controller else { return };
        if controller.get("kind").and_then(Value::as_str) == Some("CronJob") {
            return; // a CronJob's own runs, not a stream's workloads
        }
        let owner = controller
            .get("uid")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string();
        let key = (resource.to_string(), name.to_string());
        if kind == EventKind::Deleted {
            if let Some(live) = self.live.get_mut(&owner) {
                live.remove(&key);
                if live.is_empty() {
                    self.live.remove(&owner);
                }
            }
            return;
        }
        let live = self.live.entry(owner.clone()).or_default();
        live.insert(key);
        if live.len() > 1 {
            let mut names: Vec<String> = live.iter().map(|(r, n)| format!("{r}/{n}")).collect();
            names.sort();
            self.violate(format!("owner {owner} has two live workloads: {names:?}"));
        }
        let request = obj
            .pointer("/metadata/annotations")
            .and_then(|a| a.get(BACKFILL_ANNOTATION))
            .and_then(Value::as_str);
        let complete = obj
            .pointer("/status/conditions")
            .and_then(Value::as_array)
            .is_some_and(|cs| {
                cs.iter()
                    .any(|c| c["type"] == "Complete" && c["status"] == "True")
            });
        if let (true, Some(request)) = (complete, request) {
            self.succeeded.insert(request.to_string());
        }
    }

    /// Replaces what the monitor knows of `resource`'s live workloads with `objects`, the type's
    /// current list (after it fell behind the store's events: deletions it missed would otherwise
    /// look like a second live workload). Two live workloads of one owner in the list are a
    /// violation; one that came and went while the monitor was behind is not seen (`lagged`).
    pub fn relist<'a>(&mut self, resource: &str, objects: impl IntoIterator<Item = &'a Value>) {
        for live in self.live.values_mut() {
            live.retain(|(r, _)| r != resource);
        }
        self.live.retain(|_, live| !live.is_empty());
        for obj in objects {
            self.observe(resource, EventKind::Added, obj);
        }
        self.lagged = true;
    }

    fn violate(&mut self, violation: String) {
        self.violation_count += 1;
        if self.violations.len() < KEPT_VIOLATIONS {
            self.violations.push(violation);
        }
    }

    /// The violations seen (the first [`KEPT_VIOLATIONS`]).
    pub fn violations(&self) -> &[String] {
        &self.violations
    }

    /// How many violations were seen, kept or not.
    pub fn violation_count(&self) -> usize {
        self.violation_count
    }

    /// Whether the backfill Job of the BackfillRequest `name` has succeeded.
    pub fn backfill_succeeded(&self, name: &str) -> bool {
        self.succeeded.contains(name)
    }

    /// Whether the BackfillRequest `name` has been seen completed.
    pub fn request_completed(&self, name: &str) -> bool {
        self.completed.contains(name)
    }

    /// Panics when the monitor lagged behind the store or saw a violation.
    pub fn assert_clean(&self) {
        assert!(
            !self.lagged,
            "the invariant monitor lagged behind the sandbox's events"
        );
        assert!(
            self.violations.is_empty(),
            "invariants violated ({} in all): {:#?}",
            self.violation_count,
            self.violations
        );
    }
}

/// An [`InvariantMonitor`] fed by a task following a store's events from its start on.
pub struct MonitorTask {
    monitor: Arc<Mutex<InvariantMonitor>>,
    task: tokio::task::JoinHandle<()>,
}

impl MonitorTask {
    /// Follows every event of `store`.
    pub fn start(store: &Store) -> MonitorTask {
        MonitorTask::start_filtered(store, |_| true)
    }

    /// Follows the events of `store` whose object `keep` accepts (e.g. one namespace).
    pub fn start_filtered(store: &Store, keep: impl Fn(&Value) -> bool + Send + 'static) -> MonitorTask {
        let monitor = Arc::new(Mutex::new(InvariantMonitor::default()));
        let mut events = store.subscribe();
        let task = {
            let monitor = monitor.clone();
            tokio::spawn(async move {
                loop {
                    match events.recv().await {
                        Ok(event) if keep(&event.object) => {
                            lock(&monitor).observe(&event.gvr.resource, event.kind, &event.object);
                        }
                        Ok(_) => {}
                        Err(RecvError::Lagged(_)) => lock(&monitor).lagged = true,
                        Err(RecvError::Closed) => return,
                    }
                }
            })
        };
        MonitorTask { monitor, task }
    }

    /// The monitor's state so far.
    pub fn state(&self) -> MutexGuard<'_, InvariantMonitor> {
        lock(&self.monitor)
    }
}

fn lock(monitor: &Mutex<InvariantMonitor>) -> MutexGuard<'_, InvariantMonitor> {
    monitor.lock().unwrap_or_else(PoisonError::into_inner)
}

impl Drop for MonitorTask {
    fn drop(&mut self) {
        self.task.abort();
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn job(name: &str, owner: &str, owner_kind: &str, request: Option<&str>, complete: bool) -> Value {
        let mut job = json!({
            "metadata": {
                "name": name,
                "ownerReferences": [{"kind": owner_kind, "uid": owner, "controller": true}],
                "annotations": {},
            },
        });
        if let Some(request) = request {
            job["metadata"]["annotations"][BACKFILL_ANNOTATION] = json!(request);
        }
        if complete {
            job["status"] = json!({"conditions": [{"type": "Complete", "status": "True"}]});
        }
        job
    }

    fn request(name: &str, completed: bool) -> Value {
        json!({"metadata": {"name": name}, "spec": {"completed": completed}})
    }

    #[test]
    fn a_relist_replaces_the_live_workloads_of_its_type() {
        let mut m = InvariantMonitor::default();
        m.observe("jobs", EventKind::Added, &job("a", "o", "Stream", None, false));
        m.observe(
            "cronjobs",
            EventKind::Added,
            &job("c", "p", "Stream", None, false),
        );
        // Job `a` was deleted and `b` created while the monitor was behind: not a violation.
        m.relist("jobs", [&job("b", "o", "Stream", None, false)]);
        assert!(m.violations().is_empty() && m.lagged);
        m.observe("jobs", EventKind::Deleted, &job("b", "o", "Stream", None, false));
        m.observe("jobs", EventKind::Added, &job("d", "o", "Stream", None, false));
        assert!(m.violations().is_empty());
        // The CronJob of `p` is still live: a Job of `p` is its second workload.
        m.relist("jobs", [&job("e", "p", "Stream", None, false)]);
        assert_eq!(m.violation_count(), 1);
    }

    #[test]
    fn two_live_workloads_of_one_owner_violate_n2() {
        let mut m = InvariantMonitor::default();
        m.observe(
            "jobs",
            EventKind::Added,
            &job("a", "s1", "MockStreamV1", None, false),
        );
        m.observe(
            "jobs",
            EventKind::Deleted,
            &job("a", "s1", "MockStreamV1", None, false),
        );
        m.observe(
            "cronjobs",
            EventKind::Added,
            &job("a", "s1", "MockStreamV1", None, false),
        );
        m.observe(
            "jobs",
            EventKind::Added,
            &job("b", "s2", "MockStreamV1", None, false),
        );
        assert!(m.violations().is_empty(), "{:?}", m.violations());
        m.observe(
            "jobs",
            EventKind::Added,
            &job("c", "s1", "MockStreamV1", None, false),
        );
        assert_eq!(m.violation_count(), 1, "{:?}", m.violations());
    }

    #[test]
    fn a_cronjobs_runs_and_ownerless_jobs_are_not_workloads() {
        let mut m = InvariantMonitor::default();
        m.observe(
            "cronjobs",
            EventKind::Added,
            &job("c", "s1", "MockStreamV2", None, false),
        );
        m.observe(
            "jobs",
            EventKind::Added,
            &job("c-1", "c-uid", "CronJob", None, false),
        );
        m.observe(
            "jobs",
            EventKind::Added,
            &job("c-2", "c-uid", "CronJob", None, false),
        );
        m.observe("jobs", EventKind::Added, &json!({"metadata": {"name": "x"}}));
        m.observe("jobs", EventKind::Added, &json!({"metadata": {"name": "y"}}));
        assert!(m.violations().is_empty(), "{:?}", m.violations());
    }

    #[test]
    fn a_request_completes_only_after_its_backfill_job_succeeded() {
        let mut m = InvariantMonitor::default();
        m.observe("backfillrequests", EventKind::Added, &request("by-author", true));
        m.observe("backfillrequests", EventKind::Added, &request("r1", false));
        m.observe(
            "jobs",
            EventKind::Added,
            &job("b1", "s1", "MockStreamV1", Some("r1"), false),
        );
        m.observe(
            "jobs",
            EventKind::Modified,
            &job("b1", "s1", "MockStreamV1", Some("r1"), true),
        );
        m.observe("backfillrequests", EventKind::Modified, &request("r1", true));
        assert!(m.violations().is_empty(), "{:?}", m.violations());
        assert!(m.backfill_succeeded("r1") && m.request_completed("r1"));
        m.observe("backfillrequests", EventKind::Added, &request("r2", false));
        m.observe("backfillrequests", EventKind::Modified, &request("r2", true));
        m.observe("backfillrequests", EventKind::Modified, &request("r2", true));
        assert_eq!(m.violation_count(), 1, "{:?}", m.violations());
    }
}
