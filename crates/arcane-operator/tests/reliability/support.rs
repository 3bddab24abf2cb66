//! Shared pieces of the reliability scenarios (ecosystem-reliability §B.7): an operator whose
//! requests carry their own user agent (so faults hit the operator, never the test's own writes),
//! checks of the invariants N1–N8 from the sandbox's store and request log, and a Job-creation
//! counter fed by the sandbox's event stream.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use kube::api::DeleteParams;
use kube_sandbox::Gvr;
use kube_sandbox::faults::{FaultAction, FaultMatch, FaultSpec};
use kube_sandbox::requestlog::RequestRecord;
use kube_sandbox::store::EventKind;
use serde_json::Value;

use arcane_testkit::scenario::wait_classes_ready;
use arcane_testkit::{Env, Kind, NS, eventually, wait_until};

/// The user agent of the in-process operator's client.
pub(crate) const OP_UA: &str = "arcane-reliability-operator";

/// Requests to one object path in one wall-clock second above which a scenario calls it a storm
/// (ecosystem-reliability F1: "> 10 req/s per object fails").
/// A healthy reconcile touches an object a handful of times; a retry loop without back-off
/// reaches dozens.
pub(crate) const STORM_PER_SECOND: usize = 10;

/// A sandbox with the demo plugin and the operator in-process, the operator's requests tagged with
/// [`OP_UA`].
pub(crate) async fn start() -> Env {
    let env = Env::without_operator().await;
    let uri: http::Uri = env.sandbox.url().parse().expect("sandbox URL");
    let mut config = kube::Config::new(uri);
    config
        .headers
        .push((http::header::USER_AGENT, http::HeaderValue::from_static(OP_UA)));
    let client = kube::Client::try_from(config).expect("operator client");
    let env = env.with_operator_client(client);
    // A fault injected before every StreamClass is Ready also hits those status writes, which the
    // class controller retries only on its 5 s re-check: a scenario could see that retry as a
    // write of a settled system.
    wait_classes_ready(&env).await;
    env
}

/// A fault rule for the operator's requests only.
pub(crate) fn op_fault(
    method: Option<&str>,
    path: Option<&str>,
    probability: Option<f64>,
    action: FaultAction,
) -> FaultSpec {
    FaultSpec {
        matcher: FaultMatch {
            method: method.map(str::to_string),
            path: path.map(str::to_string),
            user_agent: Some(OP_UA.to_string()),
            ..FaultMatch::default()
        },
        count: None,
        probability,
        action,
    }
}

pub(crate) fn status(code: u16, retry_after_seconds: Option<u64>) -> FaultAction {
    FaultAction::Status {
        code,
        retry_after_seconds,
        message: None,
    }
}

/// The operator's requests after `since`.
pub(crate) fn op_requests(env: &Env, since: u64) -> Vec<RequestRecord> {
    env.requests_since(since)
        .into_iter()
        .filter(|r| r.user_agent == OP_UA)
        .collect()
}

/// The path of a stream definition (what the operator reads and patches).
pub(crate) fn stream_path(kind: Kind, name: &str) -> String {
    format!(
        "/apis/{}/v1/namespaces/{NS}/{}/{name}",
        arcane_testkit::GROUP,
        kind.resource().plural
    )
}

/// The busiest (object path, second) among `records`: non-watch requests naming one object
/// (`/status` folded into its object), grouped by the wall-clock second they arrived in.
pub(crate) fn busiest_second(records: &[RequestRecord]) -> (usize, String) {
    let mut counts: HashMap<(String, String), usize> = HashMap::new();
    for r in records.iter().filter(|r| !r.watch && names_an_object(&r.path)) {
        let object = r.path.trim_end_matches("/status").to_string();
        let second = r.time.get(..19).unwrap_or(&r.time).to_string();
        *counts.entry((object, second)).or_default() += 1;
    }
    counts
        .into_iter()
        .max_by_key(|(_, n)| *n)
        .map_or((0, String::new()), |((path, second), n)| {
            (n, format!("{path} at {second}"))
        })
}

/// Asserts no object was hit more than [`STORM_PER_SECOND`] times in one second.
pub(crate) fn assert_no_storm(records: &[RequestRecord], what: &str) {
    let (n, at) = busiest_second(records);
    println!("{what}: busiest object saw {n} requests in one second ({at})");
    if n > STORM_PER_SECOND {
        let (path, second) = at.split_once(" at ").unwrap_or((at.as_str(), ""));
        let storm: Vec<String> = records
            .iter()
            .filter(|r| !r.watch && r.path.trim_end_matches("/status") == path && r.time.starts_with(second))
            .map(|r| {
                format!(
                    "{} {} {}{} -> {}",
                    &r.time[11..r.time.len().min(23)],
                    r.method,
                    r.path,
                    r.query,
                    r.status
                )
            })
            .collect();
        panic!(
            "{what}: request storm: {n} requests to {at}:\n{}",
            storm.join("\n")
        );
    }
}

/// `/api/v1/namespaces/x/kind/name[/sub]` or `/apis/g/v/namespaces/x/kind/name[/sub]`.
fn names_an_object(path: &str) -> bool {
    let segs: Vec<&str> = path.trim_matches('/').split('/').collect();
    matches!(
        segs.as_slice(),
        ["api", _, "namespaces", _, _, _, ..] | ["apis", _, _, "namespaces", _, _, _, ..]
    )
}

fn jobs_gvr() -> Gvr {
    Gvr::new("batch", "v1", "jobs")
}

/// Jobs (live or being deleted) labelled with the stream id.
pub(crate) fn jobs_of(env: &Env, stream: &str) -> Vec<Value> {
    env.sandbox
        .store()
        .list(&jobs_gvr(), Some(NS))
        .0
        .into_iter()
        .filter(|j| {
            j.pointer("/metadata/labels/arcane~1stream-id")
                .and_then(Value::as_str)
                == Some(stream)
        })
        .collect()
}

/// Jobs of the stream not being deleted.
pub(crate) fn live_jobs_of(env: &Env, stream: &str) -> Vec<Value> {
    jobs_of(env, stream)
        .into_iter()
        .filter(|j| {
            j.pointer("/metadata/deletionTimestamp")
                .is_none_or(Value::is_null)
        })
        .collect()
}

/// BackfillRequests naming the stream.
pub(crate) fn requests_of(env: &Env, stream: &str) -> Vec<Value> {
    env.requests()
        .into_iter()
        .filter(|r| r.pointer("/spec/streamId").and_then(Value::as_str) == Some(stream))
        .collect()
}

/// N1 for a running Job-backed stream: phase Running, one live streaming Job whose configuration
/// hash is the status's, and every BackfillRequest of the stream completed.
pub(crate) async fn assert_running(env: &Env, kind: Kind, name: &str) {
    let obj = env.get(kind, name).await.expect("stream exists");
    let status = &obj.data["status"];
    assert_eq!(status["phase"], "Running", "{name}: status {status}");
    let live = live_jobs_of(env, name);
    assert_eq!(live.len(), 1, "{name}: one live Job, got {}", live.len());
    let job = &live[0];
    assert_eq!(
        job["metadata"]["labels"]["arcane/backfilling"], "false",
        "{name}: a streaming Job"
    );
    assert_eq!(
        status["configurationHash"], job["metadata"]["annotations"]["configuration-hash"],
        "{name}: status names the running configuration"
    );
    for request in requests_of(env, name) {
        assert_eq!(
            request["spec"]["completed"], true,
            "{name}: request {} completed",
            request["metadata"]["name"]
        );
    }
}

/// Waits until every stream is in `phase`.
pub(crate) async fn wait_all(env: &Env, streams: &[(Kind, String)], phase: &str, timeout: Duration) {
    eventually(
        format!("{} streams to be {phase}", streams.len()),
        timeout,
        || async {
            let mut behind = Vec::new();
            for (kind, name) in streams {
                let current = env.phase(*kind, name).await;
                if current.as_deref() != Some(phase) {
                    behind.push(format!("{name}: {current:?}"));
                }
            }
            if behind.is_empty() {
                Ok(())
            } else {
                Err(format!(
                    "{} behind: {:?}",
                    behind.len(),
                    &behind[..behind.len().min(10)]
                ))
            }
        },
    )
    .await;
}

/// Waits until no request of the operator (watches aside) has been answered for `window`. The
/// sandbox logs a request when it answers, so a window longer than any injected delay covers
/// the requests still on their way when the faults were cleared.
pub(crate) async fn wait_operator_quiet(env: &Env, window: Duration, timeout: Duration) {
    env.wait_quiet_of(
        "the operator's requests",
        |r| r.user_agent == OP_UA && !r.watch,
        window,
        timeout,
    )
    .await;
}

/// N4: deletes the stream; its Jobs and BackfillRequests are garbage-collected.
pub(crate) async fn assert_delete_not_lost(env: &Env, kind: Kind, name: &str, timeout: Duration) {
    env.api(kind)
        .delete(name, &DeleteParams::background())
        .await
        .expect("delete stream");
    wait_until(
        &format!("{name}'s Jobs and requests to be collected"),
        timeout,
        || async {
            env.get(kind, name).await.is_none()
                && jobs_of(env, name).is_empty()
                && requests_of(env, name).is_empty()
        },
    )
    .await;
}

/// N7: the stream's Ready condition is False with `reason`, and a Warning Event says `event`.
pub(crate) async fn assert_failure_visible(env: &Env, kind: Kind, name: &str, reason: &str, event: &str) {
    assert_eq!(
        env.reason(kind, name).await.as_deref(),
        Some(reason),
        "{name}: Ready reason"
    );
    let obj = env.get(kind, name).await.expect("stream exists");
    let ready = obj.data["status"]["conditions"]
        .as_array()
        .and_then(|cs| cs.iter().find(|c| c["type"] == "Ready").cloned())
        .expect("Ready condition");
    assert_eq!(ready["status"], "False", "{name}: Ready=False");
    // The Event is posted after the status write that a caller waited for.
    eventually(
        format!("{name}: a Warning {event} Event"),
        Duration::from_secs(10),
        || async {
            let events = env.events_for(name);
            if events.iter().any(|(t, r)| t == "Warning" && r == event) {
                Ok(())
            } else {
                Err(format!("{events:?}"))
            }
        },
    )
    .await;
}

/// Counts Job creations per stream id from the sandbox's own event stream (every create, however
/// it was made, so a duplicate create that a later delete hid is still counted).
#[derive(Clone, Default)]
pub(crate) struct JobCreations {
    counts: Arc<Mutex<BTreeMap<String, Vec<String>>>>,
}

impl JobCreations {
    pub(crate) fn start(env: &Env) -> (JobCreations, tokio::task::JoinHandle<()>) {
        let counter = JobCreations::default();
        let counts = counter.counts.clone();
        let mut events = env.sandbox.store().subscribe();
        let task = tokio::spawn(async move {
            loop {
                match events.recv().await {
                    Ok(event) if event.gvr.resource == "jobs" && event.kind == EventKind::Added => {
                        if let Some(id) = event
                            .object
                            .pointer("/metadata/labels/arcane~1stream-id")
                            .and_then(Value::as_str)
                        {
                            let name = event
                                .object
                                .pointer("/metadata/name")
                                .and_then(Value::as_str)
                                .unwrap_or_default();
                            let backfill = event
                                .object
                                .pointer("/metadata/labels/arcane~1backfilling")
                                .and_then(Value::as_str)
                                == Some("true");
                            let uid = event
                                .object
                                .pointer("/metadata/uid")
                                .and_then(Value::as_str)
                                .unwrap_or_default();
                            let what = format!("{name}{} {uid}", if backfill { " (backfill)" } else { "" });
                            counts
                                .lock()
                                .expect("counter lock")
                                .entry(id.to_string())
                                .or_default()
                                .push(what);
                        }
                    }
                    Ok(_) => {}
                    Err(tokio::sync::broadcast::error::RecvError::Lagged(n)) => {
                        panic!("the Job creation counter lagged by {n} events")
                    }
                    Err(tokio::sync::broadcast::error::RecvError::Closed) => return,
                }
            }
        });
        (counter, task)
    }

    pub(crate) fn of(&self, stream: &str) -> usize {
        self.counts
            .lock()
            .expect("counter lock")
            .get(stream)
            .map_or(0, Vec::len)
    }

    /// The names of the Jobs created for the stream, in order.
    pub(crate) fn names_of(&self, stream: &str) -> Vec<String> {
        self.counts
            .lock()
            .expect("counter lock")
            .get(stream)
            .cloned()
            .unwrap_or_default()
    }

    pub(crate) fn all(&self) -> BTreeMap<String, Vec<String>> {
        self.counts.lock().expect("counter lock").clone()
    }
}

/// `count` streams spread over the three layouts, named `<prefix>-<i>`.
pub(crate) fn names(prefix: &str, count: usize) -> Vec<(Kind, String)> {
    (0..count)
        .map(|i| (Kind::ALL[i % 3], format!("{prefix}-{i}")))
        .collect()
}

/// Creates the streams unsuspended, Job backend.
pub(crate) async fn create_all(env: &Env, streams: &[(Kind, String)]) {
    for (kind, name) in streams {
        env.create(*kind, arcane_testkit::stream(*kind, name, false, None))
            .await;
    }
}

/// The operator's requests after `since`, one line each, for a failure message.
pub(crate) fn dump(env: &Env, since: u64) -> String {
    op_requests(env, since)
        .iter()
        .map(|r| {
            format!(
                "{} {} {} {}{} -> {}",
                &r.time[11..r.time.len().min(23)],
                r.method,
                r.path,
                r.query,
                if r.watch { " (watch)" } else { "" },
                r.status
            )
        })
        .collect::<Vec<_>>()
        .join("\n")
}
