//! Scenario helpers on top of the [`Env`] fixture: more templates, classes,
//! stream CRDs and BackfillRequests; reads straight from the sandbox's store (so that waiting does
//! not add requests to the log a test is counting); and a recorder of the store's events, to check
//! the order in which things happened after the fact.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use arcane_operator::sandbox::{DEMO_YAML, install};
use kube::api::{ApiResource, DeleteParams, DynamicObject, Patch, PatchParams};
use kube::core::GroupVersionKind;
use kube::{Api, Client};
use kube_sandbox::Gvr;
use kube_sandbox::requestlog::RequestRecord;
use kube_sandbox::store::EventKind;
use serde_json::{Value, json};

use crate::env::{Env, GROUP, NS};
use crate::wait::{eventually, wait_until};

/// The operator's own API group.
pub const ARCANE_GROUP: &str = "streaming.sneaksanddata.com";

pub fn jobs() -> Gvr {
    Gvr::new("batch", "v1", "jobs")
}

pub fn cronjobs() -> Gvr {
    Gvr::new("batch", "v1", "cronjobs")
}

pub fn backfill_requests() -> Gvr {
    Gvr::new(ARCANE_GROUP, "v1", "backfillrequests")
}

pub fn stream_classes() -> Gvr {
    Gvr::new(ARCANE_GROUP, "v1", "streamclasses")
}

pub fn templates() -> Gvr {
    Gvr::new(ARCANE_GROUP, "v1", "streamingjobtemplates")
}

/// The store's name of a stream kind's resource.
pub fn gvr_of(resource: &ApiResource) -> Gvr {
    Gvr::new(&resource.group, &resource.version, &resource.plural)
}

/// A stream kind of the demo group that the demo plugin does not install (`MockStreamV3`, ...).
pub fn extra_kind(kind: &str) -> ApiResource {
    let gvk = GroupVersionKind::gvk(GROUP, "v1", kind);
    ApiResource::from_gvk_with_plural(&gvk, &format!("{}s", kind.to_lowercase()))
}

/// The CRD of an extra stream kind: the demo's MockStreamV0 CRD under another name.
pub fn stream_crd(kind: &str) -> Value {
    let mut crd = install::parse_documents(DEMO_YAML)
        .expect("demo parses")
        .into_iter()
        .find(|d| d["kind"] == "CustomResourceDefinition")
        .expect("the demo has a stream CRD");
    let plural = format!("{}s", kind.to_lowercase());
    crd["metadata"] = json!({"name": format!("{plural}.{GROUP}")});
    crd["spec"]["names"] = json!({
        "kind": kind,
        "plural": plural,
        "singular": kind.to_lowercase(),
        "listKind": format!("{kind}List"),
    });
    crd
}

/// A StreamClass for a stream kind of the demo group.
pub fn class(name: &str, kind: &str, secret_refs: &[&str]) -> Value {
    let mut spec = json!({
        "apiGroupRef": GROUP,
        "apiVersion": "v1",
        "kindRef": kind,
        "pluralName": format!("{}s", kind.to_lowercase()),
    });
    if !secret_refs.is_empty() {
        spec["secretRefs"] = json!(secret_refs);
    }
    json!({
        "apiVersion": format!("{ARCANE_GROUP}/v1"),
        "kind": "StreamClass",
        "metadata": {"name": name},
        "spec": spec,
    })
}

/// A StreamingJobTemplate like the demo's, whose Jobs end with `outcome` (`Succeed`, `Fail`, `Run`)
/// after `after` in the sandbox.
pub fn template(name: &str, outcome: &str, after: &str, image: &str) -> Value {
    json!({
        "apiVersion": format!("{ARCANE_GROUP}/v1"),
        "kind": "StreamingJobTemplate",
        "metadata": {"name": name, "namespace": NS},
        "spec": {
            "apiVersion": "batch/v1",
            "kind": "Job",
            "metadata": {
                "labels": {"app.kubernetes.io/name": "arcane-stream-mock"},
                "annotations": {"sandbox.arcane.dev/outcome": outcome, "sandbox.arcane.dev/after": after},
            },
            "spec": {
                "backoffLimit": 1,
                "template": {"spec": {
                    "restartPolicy": "Never",
                    "containers": [{"name": "stream", "image": image}],
                }},
            },
        },
    })
}

pub const IMAGE: &str = "ghcr.io/sneaksanddata/arcane-stream-mock:demo";

/// A BackfillRequest in the test namespace.
pub fn request(name: &str, class: &str, stream_id: &str, payload: Option<Value>) -> Value {
    let mut spec = json!({"streamClass": class, "streamId": stream_id, "completed": false});
    if let Some(payload) = payload {
        spec["payload"] = payload;
    }
    json!({
        "apiVersion": format!("{ARCANE_GROUP}/v1"),
        "kind": "BackfillRequest",
        "metadata": {"name": name, "namespace": NS},
        "spec": spec,
    })
}

/// Creates or updates an object with server-side apply (CRDs are waited for until established).
pub async fn apply(env: &Env, doc: Value) {
    install::apply_documents(&env.client, &[doc])
        .await
        .expect("apply");
}

fn dynamic(
    client: &Client,
    group: &str,
    kind: &str,
    plural: &str,
    namespace: Option<&str>,
) -> Api<DynamicObject> {
    let gvk = GroupVersionKind::gvk(group, "v1", kind);
    let resource = ApiResource::from_gvk_with_plural(&gvk, plural);
    match namespace {
        Some(ns) => Api::namespaced_with(client.clone(), ns, &resource),
        None => Api::all_with(client.clone(), &resource),
    }
}

pub fn class_api(env: &Env) -> Api<DynamicObject> {
    dynamic(&env.client, ARCANE_GROUP, "StreamClass", "streamclasses", None)
}

pub fn request_api(env: &Env) -> Api<DynamicObject> {
    dynamic(
        &env.client,
        ARCANE_GROUP,
        "BackfillRequest",
        "backfillrequests",
        Some(NS),
    )
}

pub fn template_api(env: &Env) -> Api<DynamicObject> {
    dynamic(
        &env.client,
        ARCANE_GROUP,
        "StreamingJobTemplate",
        "streamingjobtemplates",
        Some(NS),
    )
}

pub fn stream_api(env: &Env, resource: &ApiResource) -> Api<DynamicObject> {
    Api::namespaced_with(env.client.clone(), NS, resource)
}

pub async fn merge_patch(api: &Api<DynamicObject>, name: &str, patch: Value) {
    api.patch(name, &PatchParams::default(), &Patch::Merge(patch))
        .await
        .expect("merge patch");
}

pub async fn delete(api: &Api<DynamicObject>, name: &str) {
    api.delete(name, &DeleteParams::background())
        .await
        .expect("delete");
}

/// Creates a stream object of any kind, retrying while a just-established CRD is not served yet.
pub async fn create_stream(env: &Env, resource: &ApiResource, obj: Value) {
    let obj: DynamicObject = serde_json::from_value(obj).expect("valid object");
    let api = stream_api(env, resource);
    for _ in 0..50 {
        match api.create(&Default::default(), &obj).await {
            Ok(_) => return,
            Err(kube::Error::Api(s)) if s.code == 404 => tokio::time::sleep(Duration::from_millis(100)).await,
            Err(e) => panic!("create stream: {e}"),
        }
    }
    panic!("the kind {} was never served", resource.kind);
}

/// An object straight from the store (no request to the API).
pub fn stored(env: &Env, gvr: &Gvr, namespace: Option<&str>, name: &str) -> Option<Value> {
    env.sandbox.store().get(gvr, namespace, name)
}

pub fn stream_obj(env: &Env, resource: &ApiResource, name: &str) -> Option<Value> {
    stored(env, &gvr_of(resource), Some(NS), name)
}

pub fn phase_of(obj: &Value) -> Option<String> {
    obj.pointer("/status/phase")
        .and_then(Value::as_str)
        .map(str::to_string)
}

/// The `Ready` condition of an object's status.
pub fn ready_of(obj: &Value) -> Option<Value> {
    obj.pointer("/status/conditions")?
        .as_array()?
        .iter()
        .find(|c| c["type"] == "Ready")
        .cloned()
}

/// (phase, Ready status, Ready reason) of a stream or class, as strings ("" when absent).
pub fn state_of(obj: &Value) -> (String, String, String) {
    let ready = ready_of(obj).unwrap_or(Value::Null);
    let s = |v: &Value| v.as_str().unwrap_or_default().to_string();
    (
        phase_of(obj).unwrap_or_default(),
        s(&ready["status"]),
        s(&ready["reason"]),
    )
}

pub fn stream_state(env: &Env, resource: &ApiResource, name: &str) -> (String, String, String) {
    stream_obj(env, resource, name)
        .map(|o| state_of(&o))
        .unwrap_or_default()
}

/// Waits until every StreamClass reports Ready (a class's status may land after its streams').
pub async fn wait_classes_ready(env: &Env) {
    wait_until(
        "every StreamClass to be Ready",
        Duration::from_secs(30),
        || async {
            let classes = env.sandbox.store().list(&stream_classes(), None).0;
            !classes.is_empty() && classes.iter().all(|c| phase_of(c).as_deref() == Some("Ready"))
        },
    )
    .await;
}

pub fn class_state(env: &Env, name: &str) -> (String, String, String) {
    stored(env, &stream_classes(), None, name)
        .map(|o| state_of(&o))
        .unwrap_or_default()
}

/// Waits until a stream shows `phase` with the `Ready` reason `reason`, reading the store only.
pub async fn wait_stream(
    env: &Env,
    resource: &ApiResource,
    name: &str,
    phase: &str,
    reason: &str,
    timeout: Duration,
) {
    eventually(format!("{name} to be {phase}/{reason}"), timeout, || async {
        let state = stream_state(env, resource, name);
        if state.0 == phase && state.2 == reason {
            Ok(())
        } else {
            Err(format!("still {state:?}"))
        }
    })
    .await;
}

/// Waits until a class shows `phase` with the `Ready` reason `reason`.
pub async fn wait_class(env: &Env, name: &str, phase: &str, reason: &str, timeout: Duration) {
    eventually(
        format!("class {name} to be {phase}/{reason}"),
        timeout,
        || async {
            let state = class_state(env, name);
            if state.0 == phase && state.2 == reason {
                Ok(())
            } else {
                Err(format!("still {state:?}"))
            }
        },
    )
    .await;
}

pub fn uid_of(obj: &Value) -> String {
    obj.pointer("/metadata/uid")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string()
}

/// A live (not terminating) Job of that name.
pub fn live_job(env: &Env, name: &str) -> Option<Value> {
    env.job(name)
        .filter(|j| j.pointer("/metadata/deletionTimestamp").is_none())
}

pub fn label<'a>(obj: &'a Value, key: &str) -> Option<&'a str> {
    obj.pointer("/metadata/labels")?.get(key)?.as_str()
}

pub fn annotation<'a>(obj: &'a Value, key: &str) -> Option<&'a str> {
    obj.pointer("/metadata/annotations")?.get(key)?.as_str()
}

pub fn hash_of(obj: &Value) -> Option<&str> {
    annotation(obj, "configuration-hash")
}

/// The plain value of an environment variable of a Job's first container.
pub fn env_var(job: &Value, name: &str) -> Option<String> {
    job.pointer("/spec/template/spec/containers/0/env")?
        .as_array()?
        .iter()
        .find(|e| e["name"] == name)?
        .get("value")?
        .as_str()
        .map(str::to_string)
}

/// Whether a Job's `condition` (`Complete`, `Failed`) is true.
pub fn job_condition(job: &Value, condition: &str) -> bool {
    job.pointer("/status/conditions")
        .and_then(Value::as_array)
        .is_some_and(|cs| cs.iter().any(|c| c["type"] == condition && c["status"] == "True"))
}

/// A BackfillRequest from the store.
pub fn stored_request(env: &Env, name: &str) -> Option<Value> {
    stored(env, &backfill_requests(), Some(NS), name)
}

pub fn completed(request: &Value) -> bool {
    request.pointer("/spec/completed") == Some(&json!(true))
}

/// Events regarding the object `name`, in any namespace: (type, reason, note).
pub fn events(env: &Env, name: &str) -> Vec<(String, String, String)> {
    let gvr = Gvr::new("events.k8s.io", "v1", "events");
    let s = |v: &Value| v.as_str().unwrap_or_default().to_string();
    env.sandbox
        .store()
        .list(&gvr, None)
        .0
        .iter()
        .filter(|e| e.pointer("/regarding/name").and_then(Value::as_str) == Some(name))
        .map(|e| (s(&e["type"]), s(&e["reason"]), s(&e["note"])))
        .collect()
}

pub fn has_event(env: &Env, name: &str, type_: &str, reason: &str) -> bool {
    events(env, name)
        .iter()
        .any(|(t, r, _)| t == type_ && r == reason)
}

pub fn describe(requests: &[RequestRecord]) -> Vec<String> {
    requests
        .iter()
        .map(|r| format!("{} {}?{}", r.method, r.path, r.query))
        .collect()
}

/// One change the store made, as recorded.
#[derive(Clone, Debug)]
pub struct Record {
    pub resource: String,
    pub kind: EventKind,
    pub object: Value,
}

impl Record {
    pub fn name(&self) -> &str {
        self.object
            .pointer("/metadata/name")
            .and_then(Value::as_str)
            .unwrap_or_default()
    }
}

/// Records every change of the given resources (plural names), from its start on.
pub struct Recorder {
    records: Arc<Mutex<Vec<Record>>>,
    lagged: Arc<AtomicBool>,
    task: tokio::task::JoinHandle<()>,
}

impl Recorder {
    pub fn start(env: &Env, resources: &[&str]) -> Recorder {
        let records = Arc::new(Mutex::new(Vec::new()));
        let lagged = Arc::new(AtomicBool::new(false));
        let wanted: Vec<String> = resources.iter().map(std::string::ToString::to_string).collect();
        let mut events = env.sandbox.store().subscribe();
        let task = {
            let (records, lagged) = (records.clone(), lagged.clone());
            tokio::spawn(async move {
                loop {
                    match events.recv().await {
                        Ok(event) if wanted.contains(&event.gvr.resource) => {
                            records
                                .lock()
                                .unwrap_or_else(PoisonError::into_inner)
                                .push(Record {
                                    resource: event.gvr.resource.clone(),
                                    kind: event.kind,
                                    object: (*event.object).clone(),
                                });
                        }
                        Ok(_) => {}
                        Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => {
                            lagged.store(true, Ordering::SeqCst);
                        }
                        Err(tokio::sync::broadcast::error::RecvError::Closed) => return,
                    }
                }
            })
        };
        Recorder {
            records,
            lagged,
            task,
        }
    }

    /// Everything recorded so far; panics if the recorder missed events.
    pub fn records(&self) -> Vec<Record> {
        assert!(
            !self.lagged.load(Ordering::SeqCst),
            "the recorder lagged behind the store"
        );
        self.records
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// The objects of `resource` named `name` as they were created, in order.
    pub fn created(&self, resource: &str, name: &str) -> Vec<Value> {
        self.records()
            .into_iter()
            .filter(|r| r.resource == resource && r.kind == EventKind::Added && r.name() == name)
            .map(|r| r.object)
            .collect()
    }

    /// The distinct consecutive `status.phase` values an object of `resource` named `name` showed.
    pub fn phases(&self, resource: &str, name: &str) -> Vec<String> {
        let mut phases: Vec<String> = Vec::new();
        for record in self.records() {
            if record.resource != resource || record.name() != name {
                continue;
            }
            if let Some(phase) = phase_of(&record.object)
                && phases.last() != Some(&phase)
            {
                phases.push(phase);
            }
        }
        phases
    }

    /// Workload creations and removals of `name`, in order: ("jobs" | "cronjobs", Added | Deleted).
    pub fn workload_timeline(&self, name: &str) -> Vec<(String, EventKind)> {
        self.records()
            .into_iter()
            .filter(|r| matches!(r.resource.as_str(), "jobs" | "cronjobs") && r.name() == name)
            .filter(|r| r.kind != EventKind::Modified)
            .filter(|r| {
                // A CronJob's own runs are not the stream's workloads.
                r.object
                    .pointer("/metadata/ownerReferences/0/kind")
                    .and_then(Value::as_str)
                    != Some("CronJob")
            })
            .map(|r| (r.resource, r.kind))
            .collect()
    }
}

impl Drop for Recorder {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// The end of a scenario: once the last writes have landed, the system makes no write for 2 s, and
/// the harness's invariants held throughout.
pub async fn assert_settled(env: &Env) {
    env.wait_quiet(Duration::from_millis(500), Duration::from_secs(5))
        .await;
    env.assert_invariants_and_settled(Duration::from_secs(2)).await;
}

/// Waits (up to 5 s) for an Event of `type_` and `reason` regarding `name`: the operator publishes
/// Events after the status write a test may already have seen.
pub async fn wait_event(env: &Env, name: &str, type_: &str, reason: &str) {
    eventually(
        format!("{name}: a {type_} Event {reason}"),
        Duration::from_secs(5),
        || async {
            if has_event(env, name, type_, reason) {
                Ok(())
            } else {
                Err(format!("{:#?}", events(env, name)))
            }
        },
    )
    .await;
}
