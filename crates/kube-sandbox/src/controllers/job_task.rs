//! Drives the Job simulator against the store: reacts to Job events, wakes Jobs when their simulated run
//! ends or their TTL expires, and (optionally) keeps one simulated Pod per Job in the matching phase.

use std::collections::HashMap;
use std::time::Duration;

use jiff::Timestamp;
use serde_json::{Value, json};
use tokio::time::Instant;
use tracing::{debug, warn};

use super::job::{self, JobPlan, JobPolicy, PodPhase};
use super::queue::DelayQueue;
use super::util::{format_time, name, namespace, uid};
use crate::store::{
    ApiError, DeleteOptions, EventKind, Gvr, Propagation, Store, StoreEvent, Subresource, WriteOptions,
};

const MANAGER: &str = "job-controller";
const KUBELET: &str = "kubelet";
const BATCH: usize = 256;

pub(super) fn jobs_gvr() -> Gvr {
    Gvr::new("batch", "v1", "jobs")
}

pub(super) fn pods_gvr() -> Gvr {
    Gvr::new("", "v1", "pods")
}

type Key = (String, String);

pub(super) struct JobSim {
    default: JobPolicy,
    simulate_pods: bool,
    /// Precise start instants by Job uid (the stored startTime has whole seconds only).
    started: HashMap<String, Timestamp>,
    queue: DelayQueue<Key>,
}

impl JobSim {
    pub(super) fn new(default: JobPolicy, simulate_pods: bool) -> Self {
        JobSim {
            default,
            simulate_pods,
            started: HashMap::new(),
            queue: DelayQueue::default(),
        }
    }

    pub(super) fn next_deadline(&self) -> Option<Instant> {
        self.queue.next_deadline()
    }

    pub(super) fn resync(&mut self, store: &Store) {
        // Parsed one at a time: a resync of 100,000 Jobs must not hold them all parsed.
        let (jobs, _) = store.list_stored(&jobs_gvr(), None);
        for stored in jobs {
            self.sync(store, &stored.decode());
        }
    }

    pub(super) fn on_event(&mut self, store: &Store, event: &StoreEvent) {
        if event.gvr != jobs_gvr() {
            return;
        }
        if event.kind == EventKind::Deleted {
            self.started.remove(uid(&event.object));
            self.queue.remove(&key_of(&event.object));
            return;
        }
        self.sync(store, &event.object);
    }

    pub(super) fn process_due(&mut self, store: &Store) {
        for (ns, n) in self.queue.pop_due(Instant::now(), BATCH) {
            if let Some(j) = store.get_arc(&jobs_gvr(), Some(&ns), &n) {
                self.sync(store, &j);
            }
        }
    }

    fn sync(&mut self, store: &Store, job_obj: &Value) {
        let policy = job::policy_for(job_obj, self.default);
        let now = Timestamp::now();
        let plan = job::plan(
            job_obj,
            policy,
            now,
            self.started.get(uid(job_obj)).copied(),
            self.simulate_pods,
        );
        if let Err(e) = self.carry_out(store, job_obj, plan, now) {
            // A conflict means a newer version exists; its event brings us back here.
            if e.code == 409 {
                debug!(job = name(job_obj), error = %e, "job simulator write conflicted");
            } else {
                warn!(job = name(job_obj), error = %e, "job simulator write failed");
            }
        }
    }

    fn carry_out(
        &mut self,
        store: &Store,
        job_obj: &Value,
        plan: JobPlan,
        now: Timestamp,
    ) -> Result<(), ApiError> {
        let key = key_of(job_obj);
        if let Some(at) = plan.wake_at {
            self.queue.schedule(key.clone(), instant_at(at, now));
        }
        if plan.delete {
            // The TTL-after-finished controller deletes in the foreground, so pods go first.
            let opts = DeleteOptions {
                propagation: Some(Propagation::Foreground),
                preconditions_uid: Some(uid(job_obj).to_owned()),
                ..DeleteOptions::default()
            };
            return match store.delete_ext(&jobs_gvr(), namespace(job_obj), name(job_obj), &opts) {
                Err(e) if e.code == 404 => Ok(()),
                other => other.map(|_| ()),
            };
        }
        let Some(status) = plan.status else { return Ok(()) };
        if self.simulate_pods {
            // Pods reach their phase before the Job controller counts them.
            sync_pod(store, job_obj, job::pod_phase(&status), now)?;
        }
        let starting = job_obj.pointer("/status/startTime").is_none() && status.get("startTime").is_some();
        let mut next = job_obj.clone();
        next["status"] = status;
        store.update_with(
            &jobs_gvr(),
            next,
            &WriteOptions::manager(MANAGER),
            Subresource::Status,
        )?;
        if starting {
            self.started.insert(uid(job_obj).to_owned(), now);
        }
        Ok(())
    }
}

fn key_of(obj: &Value) -> Key {
    (
        namespace(obj).unwrap_or_default().to_owned(),
        name(obj).to_owned(),
    )
}

/// Converts a wall-clock time into a tokio instant (past times are due now).
pub(super) fn instant_at(at: Timestamp, now: Timestamp) -> Instant {
    let ahead = at.duration_since(now);
    let ahead = Duration::try_from(ahead).unwrap_or(Duration::ZERO);
    Instant::now() + ahead.min(Duration::from_secs(365 * 24 * 3600))
}

/// The simulated pod's name: `<job>-<5 chars>` like the real generateName suffix, derived from the Job's uid so
/// every sync finds the same pod without listing.
pub(super) fn pod_name(job_obj: &Value) -> String {
    const ALPHABET: &[u8] = b"bcdfghjklmnpqrstvwxz2456789";
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for b in uid(job_obj).bytes() {
        hash = (hash ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3);
    }
    let suffix: String = (0..5)
        .map(|i| {
            let idx = (hash >> (i * 8)) as usize % ALPHABET.len();
            char::from(ALPHABET[idx])
        })
        .collect();
    let base: String = name(job_obj).chars().take(57).collect();
    format!("{base}-{suffix}")
}

/// Creates the pod when the Job starts, moves it to its final phase, deletes it when the Job is suspended.
fn sync_pod(store: &Store, job_obj: &Value, phase: Option<PodPhase>, now: Timestamp) -> Result<(), ApiError> {
    let pod_name = pod_name(job_obj);
    let ns = namespace(job_obj);
    let existing = store.get(&pods_gvr(), ns, &pod_name);
    let Some(phase) = phase else {
        if existing.is_some() {
            let opts = DeleteOptions {
                propagation: Some(Propagation::Background),
                ..DeleteOptions::default()
            };
            match store.delete_ext(&pods_gvr(), ns, &pod_name, &opts) {
                Err(e) if e.code != 404 => return Err(e),
                _ => {}
            }
        }
        return Ok(());
    };
    let pod = match existing {
        Some(p) => p,
        // A pod deleted behind our back is not resurrected once the Job has moved on.
        None if phase == PodPhase::Running => store.create_with(
            &pods_gvr(),
            new_pod(job_obj, &pod_name),
            &WriteOptions::manager(MANAGER),
        )?,
        None => return Ok(()),
    };
    if pod.pointer("/status/phase").and_then(Value::as_str) == Some(phase.as_str()) {
        return Ok(());
    }
    let containers: Vec<String> = pod
        .pointer("/spec/containers")
        .and_then(Value::as_array)
        .map(|cs| {
            cs.iter()
                .filter_map(|c| c["name"].as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default();
    let mut next = pod;
    next["status"] = pod_status(phase, &format_time(now), &containers);
    store
        .update_with(
            &pods_gvr(),
            next,
            &WriteOptions::manager(KUBELET),
            Subresource::Status,
        )
        .map(|_| ())
}

fn new_pod(job_obj: &Value, pod_name: &str) -> Value {
    let template = job_obj
        .pointer("/spec/template")
        .cloned()
        .unwrap_or_else(|| json!({}));
    let mut spec = template.get("spec").cloned().unwrap_or_else(|| json!({}));
    if spec.get("restartPolicy").is_none() {
        spec["restartPolicy"] = json!("Never");
    }
    json!({
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "name": pod_name,
            "namespace": namespace(job_obj),
            "labels": template.pointer("/metadata/labels").cloned().unwrap_or_else(|| json!({})),
            "annotations": template.pointer("/metadata/annotations").cloned().unwrap_or_else(|| json!({})),
            "ownerReferences": [{
                "apiVersion": "batch/v1", "kind": "Job", "name": name(job_obj), "uid": uid(job_obj),
                "controller": true, "blockOwnerDeletion": true,
            }],
        },
        "spec": spec,
    })
}

fn pod_status(phase: PodPhase, now: &str, containers: &[String]) -> Value {
    let running = phase == PodPhase::Running;
    let ready = if running { "True" } else { "False" };
    let mut status = json!({
        "phase": phase.as_str(),
        "startTime": now,
        "conditions": [
            {"type": "PodScheduled", "status": "True", "lastTransitionTime": now},
            {"type": "Initialized", "status": "True", "lastTransitionTime": now},
            {"type": "ContainersReady", "status": ready, "lastTransitionTime": now},
            {"type": "Ready", "status": ready, "lastTransitionTime": now},
        ],
    });
    let state = if running {
        json!({"running": {"startedAt": now}})
    } else {
        let exit = if phase == PodPhase::Succeeded { 0 } else { 1 };
        let reason = if phase == PodPhase::Succeeded {
            "Completed"
        } else {
            "Error"
        };
        json!({"terminated": {"exitCode": exit, "reason": reason, "startedAt": now, "finishedAt": now}})
    };
    let statuses: Vec<Value> = containers
        .iter()
        .map(|c| {
            json!({"name": c, "ready": running, "started": running, "restartCount": 0, "image": "", "imageID": "",
                   "state": state})
        })
        .collect();
    status["containerStatuses"] = json!(statuses);
    status
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pod_names_are_stable_and_job_prefixed() {
        let a = json!({"metadata": {"name": "build", "uid": "0b5d6f0e-1"}});
        let b = json!({"metadata": {"name": "build", "uid": "0b5d6f0e-2"}});
        assert_eq!(pod_name(&a), pod_name(&a));
        assert_ne!(pod_name(&a), pod_name(&b));
        assert!(pod_name(&a).starts_with("build-"));
        assert_eq!(pod_name(&a).len(), "build-".len() + 5);
    }

    #[test]
    fn terminal_pod_status_is_not_ready() {
        let s = pod_status(PodPhase::Failed, "2026-01-01T00:00:00Z", &["main".to_string()]);
        assert_eq!(s["phase"], "Failed");
        assert_eq!(s["conditions"][3]["status"], "False");
        assert_eq!(s["containerStatuses"][0]["state"]["terminated"]["exitCode"], 1);
        assert_eq!(
            pod_status(PodPhase::Running, "x", &[])["conditions"][3]["status"],
            "True"
        );
    }
}
