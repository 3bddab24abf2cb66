//! Drop-in compatibility with the Go operator's world (issue 10): plugin CRDs generated from Go
//! types (status fields required), plugins whose status schema refuses the operator's writes, and
//! a cluster the Go operator ran on — its workloads adopted, not restarted.

use arcane_testkit::scenario::{
    IMAGE, apply, create_stream, events, merge_patch, request, stream_api, stream_obj, stream_state,
    template, wait_stream,
};
use arcane_testkit::{Env, GROUP, Kind, NS, secs, stream, wait_until};
use kube::api::ApiResource;
use kube::core::GroupVersionKind;
use serde_json::{Value, json};

/// A plugin CRD as kubebuilder generates it from Go types: `phase`, `configurationHash` and
/// `conditions` required (no `omitempty`), conditions as `metav1.Condition`, everything else in
/// the status pruned. `phase_enum` restricts the phase strings (a plugin that admits other values).
fn go_typed_crd(kind: &str, phase_enum: Option<&[&str]>) -> Value {
    let plural = format!("{}s", kind.to_lowercase());
    let mut phase = json!({"type": "string"});
    if let Some(values) = phase_enum {
        phase["enum"] = json!(values);
    }
    let condition = condition_schema();
    let status = json!({
        "type": "object",
        "required": ["conditions", "configurationHash", "phase"],
        "properties": {
            "phase": phase,
            "configurationHash": {"type": "string"},
            "conditions": {"type": "array", "items": condition},
        },
    });
    let schema = json!({
        "type": "object",
        "properties": {
            "spec": {"type": "object", "x-kubernetes-preserve-unknown-fields": true},
            "status": status,
        },
    });
    json!({
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": format!("{plural}.{GROUP}")},
        "spec": {
            "group": GROUP,
            "scope": "Namespaced",
            "names": {"kind": kind, "plural": plural, "singular": kind.to_lowercase(), "listKind": format!("{kind}List")},
            "versions": [{
                "name": "v1", "served": true, "storage": true,
                "subresources": {"status": {}},
                "schema": {"openAPIV3Schema": schema},
            }],
        },
    })
}

/// `metav1.Condition` as controller-gen writes its schema (required fields, lengths, status enum).
fn condition_schema() -> Value {
    json!({
        "type": "object",
        "required": ["lastTransitionTime", "message", "reason", "status", "type"],
        "properties": {
            "lastTransitionTime": {"type": "string", "format": "date-time"},
            "message": {"type": "string", "maxLength": 32768},
            "observedGeneration": {"type": "integer", "format": "int64", "minimum": 0},
            "reason": {"type": "string", "maxLength": 1024, "minLength": 1},
            "status": {"type": "string", "enum": ["True", "False", "Unknown"]},
            "type": {"type": "string", "maxLength": 316},
        },
    })
}

fn resource(kind: &str) -> ApiResource {
    let gvk = GroupVersionKind::gvk(GROUP, "v1", kind);
    ApiResource::from_gvk_with_plural(&gvk, &format!("{}s", kind.to_lowercase()))
}

fn class_for(kind: &str) -> Value {
    arcane_testkit::scenario::class(&kind.to_lowercase(), kind, &[])
}

/// A v1-layout stream of `kind` with the given templates.
fn v1_stream(kind: &str, name: &str, suspended: bool, streaming: &str, backfill: &str) -> Value {
    let mut obj = stream(Kind::V1, name, suspended, None);
    obj["apiVersion"] = json!(format!("{GROUP}/v1"));
    obj["kind"] = json!(kind);
    obj["spec"]["execution"]["streamingBackend"]["changeCapture"]["jobTemplateRef"]["name"] =
        json!(streaming);
    obj["spec"]["execution"]["backfillJobTemplateRef"]["name"] = json!(backfill);
    obj
}

fn requests_for(env: &Env, stream: &str) -> Vec<Value> {
    env.requests()
        .into_iter()
        .filter(|r| r["spec"]["streamId"] == stream)
        .collect()
}

/// Status writes to `plural` the API server refused, as "METHOD path → status".
fn refused_status_writes(env: &Env, plural: &str) -> Vec<String> {
    env.sandbox
        .requests()
        .into_iter()
        .filter(|r| r.is_write() && r.path.contains(&format!("/{plural}/")) && r.path.ends_with("/status"))
        .filter(|r| r.status >= 400)
        .map(|r| format!("{} {} → {}", r.method, r.path, r.status))
        .collect()
}

async fn set_suspended(env: &Env, resource: &ApiResource, name: &str, suspended: bool) {
    let patch = json!({"spec": {"execution": {"suspended": suspended}}});
    merge_patch(&stream_api(env, resource), name, patch).await;
}

/// Every phase, written to a plugin whose CRD requires `phase`, `configurationHash` and
/// `conditions`: no write is refused, a stream created suspended shows `Suspended`, suspension is
/// shown from every phase, and resuming a stream created suspended starts no initial backfill.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_status_is_accepted_by_a_go_typed_plugin_crd() {
    const KIND: &str = "GoTypedStream";
    let env = Env::without_operator().await;
    apply(&env, go_typed_crd(KIND, None)).await;
    apply(&env, class_for(KIND)).await;
    apply(&env, template("failing-job", "Fail", "300ms", IMAGE)).await;
    apply(&env, template("slow-backfill", "Run", "1s", IMAGE)).await;
    let env = env.with_operator();
    let r = resource(KIND);
    let streams = [
        v1_stream(KIND, "created-suspended", true, "streaming-job", "backfill-job"),
        v1_stream(KIND, "running", false, "streaming-job", "backfill-job"),
        v1_stream(KIND, "backfilling", true, "streaming-job", "slow-backfill"),
        v1_stream(KIND, "failing", true, "failing-job", "backfill-job"),
        v1_stream(KIND, "no-template", false, "missing-job", "missing-backfill"),
        {
            let mut s = v1_stream(KIND, "scheduled", false, "batch-job", "backfill-job");
            s["spec"]["execution"]["streamingBackend"] =
                json!({"batch": {"schedule": "*/5 * * * *", "jobTemplateRef": {"name": "batch-job"}}});
            s
        },
        {
            let mut s = v1_stream(KIND, "invalid", false, "streaming-job", "backfill-job");
            s["spec"]["execution"]["layoutVersion"] = json!("v9");
            s
        },
    ];
    for s in streams {
        create_stream(&env, &r, s).await;
    }
    let t = secs(20);
    wait_stream(&env, &r, "created-suspended", "Suspended", "StreamSuspended", t).await;
    wait_stream(&env, &r, "invalid", "Failed", "InvalidSpec", t).await;
    wait_stream(&env, &r, "no-template", "Pending", "TemplateNotFound", t).await;
    wait_stream(&env, &r, "running", "Running", "StreamRunning", t).await;
    wait_stream(&env, &r, "scheduled", "Scheduled", "StreamScheduled", t).await;

    // Resuming a stream created suspended: straight to streaming, no initial backfill.
    set_suspended(&env, &r, "created-suspended", false).await;
    wait_stream(&env, &r, "created-suspended", "Running", "StreamRunning", t).await;
    assert!(requests_for(&env, "created-suspended").is_empty());

    // Backfilling, then suspended.
    set_suspended(&env, &r, "backfilling", false).await;
    wait_stream(&env, &r, "backfilling", "Running", "StreamRunning", t).await;
    apply(&env, request("bf-1", &KIND.to_lowercase(), "backfilling", None)).await;
    wait_stream(&env, &r, "backfilling", "Backfilling", "StreamBackfilling", t).await;

    // Failed, then suspended.
    set_suspended(&env, &r, "failing", false).await;
    wait_stream(&env, &r, "failing", "Failed", "CrashLoopDetected", t).await;

    for name in ["running", "scheduled", "backfilling", "failing"] {
        set_suspended(&env, &r, name, true).await;
    }
    for name in ["running", "scheduled", "backfilling", "failing"] {
        wait_stream(&env, &r, name, "Suspended", "StreamSuspended", t).await;
    }
    wait_until("the suspended streams' workloads removed", t, || async {
        ["running", "backfilling", "failing"]
            .iter()
            .all(|n| env.job(n).is_none())
            && env.cronjob("scheduled").is_none()
    })
    .await;
    let status = stream_obj(&env, &r, "running").expect("stream")["status"].clone();
    assert!(status["configurationHash"].is_string(), "{status}");
    let refused = refused_status_writes(&env, "gotypedstreams");
    assert!(refused.is_empty(), "status writes refused: {refused:#?}");
    for name in ["created-suspended", "running"] {
        arcane_testkit::scenario::wait_event(&env, name, "Normal", "StreamSuspended").await;
    }
    env.assert_invariants();
    env.stop().await;
}

/// A plugin whose status schema admits only other phase strings (C#-era ones): every status write
/// is refused, yet the workload follows the definition, the refusal is reported in a Warning Event
/// naming the field, and resuming starts no second initial backfill.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_status_never_stops_the_workload() {
    const KIND: &str = "LegacyPhaseStream";
    let env = Env::without_operator().await;
    let phases: &[&str] = &["RUNNING", "RELOADING", "SUSPENDED", "FAILED"];
    apply(&env, go_typed_crd(KIND, Some(phases))).await;
    apply(&env, class_for(KIND)).await;
    let env = env.with_operator();
    let r = resource(KIND);
    create_stream(
        &env,
        &r,
        v1_stream(KIND, "legacy", false, "streaming-job", "backfill-job"),
    )
    .await;
    let streaming_job = |env: &Env| {
        env.job("legacy")
            .is_some_and(|j| j["metadata"]["labels"]["arcane/backfilling"] == "false")
    };
    wait_until(
        "the streaming Job after the initial backfill",
        secs(20),
        || async { streaming_job(&env) },
    )
    .await;
    let refusal = events(&env, "legacy")
        .into_iter()
        .find(|(t, r, _)| t == "Warning" && r == "FailedUpdateStatus")
        .expect("a FailedUpdateStatus Warning Event");
    assert!(refusal.2.contains("status.phase"), "{refusal:?}");

    set_suspended(&env, &r, "legacy", true).await;
    wait_until("the Job removed on suspension", secs(20), || async {
        env.job("legacy").is_none()
    })
    .await;
    set_suspended(&env, &r, "legacy", false).await;
    wait_until("the Job back on resumption", secs(20), || async {
        streaming_job(&env)
    })
    .await;
    assert_eq!(requests_for(&env, "legacy").len(), 1, "one initial backfill only");
    assert!(
        stream_state(&env, &r, "legacy").0.is_empty(),
        "no phase was ever accepted"
    );
    env.assert_invariants();
    env.stop().await;
}

/// What the Go operator leaves behind, built as it builds it (reference/arcane-behavior.md §3).
mod go_world {
    use super::*;
    use arcane_operator::stream::go_hash;

    pub(super) fn owner(kind: Kind, stream: &Value) -> Value {
        json!([{
            "apiVersion": format!("{GROUP}/v1"),
            "kind": kind.kind(),
            "name": stream["metadata"]["name"],
            "uid": stream["metadata"]["uid"],
            "controller": true,
        }])
    }

    fn env(name: &str, value: &str) -> Value {
        json!({"name": name, "value": value})
    }

    /// A Go-built Job: labels `arcane/stream-id|stream-kind|backfilling`, annotation
    /// `configuration-hash`, the controller owner reference, Go's environment.
    pub(super) fn job(
        kind: Kind,
        stream: &Value,
        hash: &str,
        backfill: Option<&str>,
        outcome: (&str, &str),
    ) -> Value {
        let name = stream["metadata"]["name"].as_str().unwrap_or_default();
        let spec = serde_json::to_string(&stream["spec"]).unwrap_or_default();
        let mut vars = vec![
            env("STREAMCONTEXT__STREAM_ID", name),
            env("STREAMCONTEXT__STREAM_KIND", kind.kind()),
            env("STREAMCONTEXT__SPEC", &spec),
        ];
        if let Some(request) = backfill {
            vars.push(env("STREAMCONTEXT__OVERRIDE", "{}"));
            vars.push(env("STREAMCONTEXT__BACKFILL", "true"));
            vars.push(env("STREAMCONTEXT__BACKFILL_ID", request));
        } else {
            vars.push(env("STREAMCONTEXT__BACKFILL", "false"));
        }
        json!({
            "apiVersion": "batch/v1",
            "kind": "Job",
            "metadata": {
                "name": name,
                "namespace": NS,
                "labels": {
                    "app.kubernetes.io/name": "arcane-stream-mock",
                    "arcane/stream-id": name,
                    "arcane/stream-kind": kind.kind(),
                    "arcane/backfilling": backfill.is_some().to_string(),
                },
                "annotations": {
                    "configuration-hash": hash,
                    "sandbox.arcane.dev/outcome": outcome.0,
                    "sandbox.arcane.dev/after": outcome.1,
                },
                "ownerReferences": owner(kind, stream),
            },
            "spec": {
                "backoffLimit": 1,
                "template": {"spec": {
                    "restartPolicy": "Never",
                    "containers": [{"name": "stream", "image": IMAGE, "env": vars}],
                }},
            },
        })
    }

    /// A Go-built CronJob: no labels at all.
    pub(super) fn cronjob(kind: Kind, stream: &Value, schedule: &str) -> Value {
        let name = stream["metadata"]["name"].as_str().unwrap_or_default();
        json!({
            "apiVersion": "batch/v1",
            "kind": "CronJob",
            "metadata": {
                "name": name,
                "namespace": NS,
                "annotations": {"configuration-hash": go_hash::spec_hash(&stream["spec"])},
                "ownerReferences": owner(kind, stream),
            },
            "spec": {
                "schedule": schedule,
                "concurrencyPolicy": "Forbid",
                "jobTemplate": {"spec": {"template": {"spec": {
                    "restartPolicy": "Never",
                    "containers": [{"name": "stream", "image": IMAGE}],
                }}}},
            },
        })
    }

    /// The Go status: phase, the Go hash, its one condition.
    pub(super) fn status(phase: &str, hash: &str, condition: (&str, &str, &str)) -> Value {
        json!({"status": {
            "phase": phase,
            "configurationHash": hash,
            "conditions": [{
                "type": condition.0,
                "status": "True",
                "reason": condition.1,
                "message": condition.2,
                "lastTransitionTime": "2026-11-01T00:00:00Z",
            }],
        }})
    }
}

/// A stream in each state the Go operator leaves, taken over by this operator: nothing unchanged
/// is deleted, created or refused with 409; the running backfill completes its request; the Failed
/// stream stays Failed; then a spec change, a schedule change and a suspension act on the adopted
/// workloads.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn switching_from_the_go_operator_restarts_nothing() {
    use arcane_operator::stream::go_hash;
    let env = Env::without_operator().await;
    let jobs_api: kube::Api<kube::api::DynamicObject> = kube::Api::namespaced_with(
        env.client.clone(),
        NS,
        &ApiResource::erase::<k8s_openapi::api::batch::v1::Job>(&()),
    );
    let cron_api: kube::Api<kube::api::DynamicObject> = kube::Api::namespaced_with(
        env.client.clone(),
        NS,
        &ApiResource::erase::<k8s_openapi::api::batch::v1::CronJob>(&()),
    );
    // Running, one per layout.
    let mut running = Vec::new();
    for kind in Kind::ALL {
        let name = format!("go-running-{}", kind.class());
        let s = create(&env, kind, stream(kind, &name, false, None)).await;
        let hash = go_hash::spec_hash(&s["spec"]);
        post(&jobs_api, go_world::job(kind, &s, &hash, None, ("Run", "1s"))).await;
        let status = go_world::status(
            "Running",
            &hash,
            ("Ready", "StreamRunning", "The stream is currently running."),
        );
        set_status(&env, kind, name.clone(), status).await;
        running.push((kind, name));
    }
    // Backfilling: the initial request (no owner, no labels) and its running backfill Job.
    let bf = create(&env, Kind::V1, stream(Kind::V1, "go-backfilling", false, None)).await;
    let bf_request = "go-backfilling-initial-backfill-x7k2p";
    apply(
        &env,
        request(bf_request, Kind::V1.class(), "go-backfilling", None),
    )
    .await;
    let bf_hash = go_hash::backfill_hash(&bf["spec"], Kind::V1.class(), "go-backfilling", false);
    post(
        &jobs_api,
        go_world::job(Kind::V1, &bf, &bf_hash, Some(bf_request), ("Succeed", "6s")),
    )
    .await;
    let message = format!("The stream is currently backfilling data, request ID: {bf_request}");
    let status = go_world::status("Backfilling", &bf_hash, ("Ready", "StreamBackfilling", &message));
    set_status(&env, Kind::V1, "go-backfilling".into(), status).await;
    // Scheduled: an unlabelled CronJob.
    let sc = create(
        &env,
        Kind::V2,
        stream(Kind::V2, "go-scheduled", false, Some("*/5 * * * *")),
    )
    .await;
    post(&cron_api, go_world::cronjob(Kind::V2, &sc, "*/5 * * * *")).await;
    let status = go_world::status(
        "Scheduled",
        &go_hash::spec_hash(&sc["spec"]),
        (
            "Ready",
            "StreamScheduled",
            "The stream is scheduled to run at the specified time.",
        ),
    );
    set_status(&env, Kind::V2, "go-scheduled".into(), status).await;
    // Suspended, and Failed (the Go operator deleted the failed Job).
    for (name, suspended, phase, condition) in [
        (
            "go-suspended",
            true,
            "Suspended",
            ("Warning", "StreamSuspended", "The stream is suspended."),
        ),
        (
            "go-failed",
            false,
            "Failed",
            ("Error", "StreamFailed", "The stream has failed."),
        ),
    ] {
        let s = create(&env, Kind::V1, stream(Kind::V1, name, suspended, None)).await;
        let status = go_world::status(phase, &go_hash::spec_hash(&s["spec"]), condition);
        set_status(&env, Kind::V1, name.into(), status).await;
    }
    let uid = |env: &Env, name: &str| {
        env.job(name)
            .map(|j| j["metadata"]["uid"].as_str().unwrap_or_default().to_string())
    };
    let running_uids: Vec<Option<String>> = running.iter().map(|(_, n)| uid(&env, n)).collect();
    let cron_uid = env.cronjob("go-scheduled").expect("Go CronJob")["metadata"]["uid"].clone();

    let mark = env.last_seq();
    let env = env.with_operator();
    let t = secs(20);
    for (kind, name) in &running {
        harness_wait(&env, *kind, name, "Running", "StreamRunning").await;
    }
    harness_wait(&env, Kind::V2, "go-scheduled", "Scheduled", "StreamScheduled").await;
    harness_wait(&env, Kind::V1, "go-suspended", "Suspended", "StreamSuspended").await;
    harness_wait(&env, Kind::V1, "go-failed", "Failed", "CrashLoopDetected").await;
    // The adopted backfill completes its request; then the streaming Job starts.
    wait_until("the Go backfill's request completed", t, || async {
        env.requests()
            .iter()
            .any(|r| r["metadata"]["name"] == bf_request && r["spec"]["completed"] == true)
    })
    .await;
    harness_wait(&env, Kind::V1, "go-backfilling", "Running", "StreamRunning").await;
    wait_until("every Go workload adopted", t, || async {
        running.iter().all(|(_, n)| {
            env.job(n)
                .is_some_and(|j| j["metadata"]["labels"]["arcane/stream-class"].is_string())
        }) && env
            .cronjob("go-scheduled")
            .is_some_and(|c| c["metadata"]["labels"]["arcane/stream-id"] == "go-scheduled")
    })
    .await;

    let since = env.requests_since(mark);
    // No 409 for anything of the unchanged streams. The backfilling stream's request changes while
    // this runs (completed): a state write decided from an older version of it meets its
    // resourceVersion precondition, as designed.
    let conflicts: Vec<String> = since
        .iter()
        .filter(|r| r.is_write() && r.status == 409)
        .filter(|r| {
            !r.path
                .ends_with(&format!("/backfillrequests/{bf_request}/status"))
        })
        .map(|r| format!("{} {}", r.method, r.path))
        .collect();
    assert!(conflicts.is_empty(), "409s: {conflicts:#?}");
    let workload_writes = |method: &str| -> Vec<String> {
        since
            .iter()
            .filter(|r| r.method == method && (r.path.contains("/jobs") || r.path.contains("/cronjobs")))
            .map(|r| r.path.clone())
            .collect()
    };
    // Only the completed backfill is deleted (a delete repeated from a cache that did not show it
    // yet is idempotent: same UID precondition) and its streaming Job created.
    let mut deleted = workload_writes("DELETE");
    deleted.dedup();
    assert_eq!(
        deleted,
        vec![format!("/apis/batch/v1/namespaces/{NS}/jobs/go-backfilling")]
    );
    assert_eq!(workload_writes("POST").len(), 1, "{:?}", workload_writes("POST"));
    let now_uids: Vec<Option<String>> = running.iter().map(|(_, n)| uid(&env, n)).collect();
    assert_eq!(now_uids, running_uids, "the Go streaming Jobs kept running");
    assert_eq!(
        env.cronjob("go-scheduled").expect("CronJob")["metadata"]["uid"],
        cron_uid
    );
    assert!(
        env.job("go-failed").is_none(),
        "the Go-Failed stream is not restarted"
    );
    assert!(
        requests_for(&env, "go-suspended").is_empty() && requests_for(&env, "go-failed").is_empty(),
        "no backfill for streams the Go operator had seen"
    );
    let failed = stream_obj_kind(&env, Kind::V1, "go-failed");
    let conditions = failed["status"]["conditions"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    assert_eq!(
        conditions.len(),
        1,
        "the Go condition is replaced: {conditions:?}"
    );

    // Then the adopted workloads follow the definition.
    let (v1, v1_name) = running[1].clone();
    env.patch_spec(v1, &v1_name, json!({"source": "changed"})).await;
    let old = running_uids[1].clone();
    wait_until("the spec change replaced the adopted Job", t, || async {
        uid(&env, &v1_name).is_some_and(|u| Some(u) != old)
    })
    .await;
    harness_wait(&env, v1, &v1_name, "Running", "StreamRunning").await;
    env.patch_spec(
        Kind::V2,
        "go-scheduled",
        json!({"execution": {"streamingBackend": {"batch": {"schedule": "0 * * * *"}}}}),
    )
    .await;
    wait_until("the schedule change reached the CronJob", t, || async {
        env.cronjob("go-scheduled")
            .is_some_and(|c| c["spec"]["schedule"] == "0 * * * *")
    })
    .await;
    env.set_suspended(Kind::V2, "go-scheduled", true).await;
    wait_until("the suspension removed the CronJob", t, || async {
        env.cronjob("go-scheduled").is_none()
    })
    .await;
    harness_wait(&env, Kind::V2, "go-scheduled", "Suspended", "StreamSuspended").await;
    // The Go-Failed stream recovers by suspend and resume.
    env.set_suspended(Kind::V1, "go-failed", true).await;
    harness_wait(&env, Kind::V1, "go-failed", "Suspended", "StreamSuspended").await;
    env.set_suspended(Kind::V1, "go-failed", false).await;
    harness_wait(&env, Kind::V1, "go-failed", "Running", "StreamRunning").await;
    env.assert_invariants();
    env.stop().await;
}

async fn create(env: &Env, kind: Kind, obj: Value) -> Value {
    serde_json::to_value(env.create(kind, obj).await).expect("json")
}

async fn set_status(env: &Env, kind: Kind, name: String, status: Value) {
    env.api(kind)
        .patch_status(&name, &Default::default(), &kube::api::Patch::Merge(status))
        .await
        .expect("status");
}

async fn post(api: &kube::Api<kube::api::DynamicObject>, obj: Value) {
    let obj: kube::api::DynamicObject = serde_json::from_value(obj).expect("object");
    api.create(&Default::default(), &obj)
        .await
        .expect("create Go workload");
}

fn stream_obj_kind(env: &Env, kind: Kind, name: &str) -> Value {
    stream_obj(env, &kind.resource(), name).expect("stream")
}

async fn harness_wait(env: &Env, kind: Kind, name: &str, phase: &str, reason: &str) {
    wait_stream(env, &kind.resource(), name, phase, reason, secs(20)).await;
}

/// The three CRDs as the `arcane-crd` chart (generated from the Go types with controller-gen)
/// serves them, written from its documented schema: owned by the `arcane-crd` Helm release; a
/// BackfillRequest spec without `payload`; request and class statuses with the phase enum
/// `Pending|Ready|Failed|Stopped` and strict `metav1.Condition`s (reason pattern, required
/// fields); a template whose `spec` is a whole Job.
fn arcane_crd_chart_crds() -> Vec<Value> {
    let mut condition = condition_schema();
    condition["properties"]["reason"]["pattern"] = json!("^[A-Za-z]([A-Za-z0-9_,:]*[A-Za-z0-9_])?$");
    let status = json!({
        "type": "object",
        "properties": {
            "phase": {"type": "string", "enum": ["Pending", "Ready", "Failed", "Stopped"]},
            "conditions": {"type": "array", "items": condition},
        },
    });
    let opaque = json!({"type": "object", "x-kubernetes-preserve-unknown-fields": true});
    arcane_operator::crd::crds()
        .into_iter()
        .map(|crd| {
            let mut crd = serde_json::to_value(crd).expect("CRD as JSON");
            crd["metadata"]["labels"] = json!({"app.kubernetes.io/managed-by": "Helm"});
            crd["metadata"]["annotations"] = json!({
                "meta.helm.sh/release-name": "arcane-crd",
                "meta.helm.sh/release-namespace": "arcane",
            });
            let kind = crd["spec"]["names"]["kind"]
                .as_str()
                .unwrap_or_default()
                .to_string();
            let schema = &mut crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"];
            match kind.as_str() {
                "BackfillRequest" => {
                    if let Some(spec) = schema["spec"]["properties"].as_object_mut() {
                        spec.remove("payload");
                    }
                    schema["status"] = status.clone();
                }
                "StreamClass" => schema["status"] = status.clone(),
                "StreamingJobTemplate" => {
                    schema["spec"] = json!({
                        "type": "object",
                        "properties": {
                            "apiVersion": {"type": "string"},
                            "kind": {"type": "string"},
                            "metadata": opaque,
                            "spec": opaque,
                            "status": opaque,
                        },
                    });
                }
                _ => {}
            }
            crd
        })
        .collect()
}

/// The lifecycle against the `arcane-crd` chart's CRDs: an initial backfill served and completed,
/// a request refused, a stream suspended; every write to a BackfillRequest or StreamClass status
/// is accepted by their stricter schemas.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_lifecycle_works_on_the_arcane_crd_charts_crds() {
    let env = Env::without_operator().await;
    for crd in arcane_crd_chart_crds() {
        apply(&env, crd).await;
    }
    let env = env.with_operator();
    let t = secs(20);
    env.create(Kind::V1, stream(Kind::V1, "crd-compat", false, None))
        .await;
    harness_wait(&env, Kind::V1, "crd-compat", "Running", "StreamRunning").await;
    let initial = requests_for(&env, "crd-compat");
    assert_eq!(initial.len(), 1);
    assert_eq!(initial[0]["status"]["phase"], "Stopped", "{}", initial[0]);
    assert_eq!(initial[0]["status"]["conditions"][0]["reason"], "Completed");

    // A v2 batch stream has no backfill template: its request is refused for good.
    env.create(
        Kind::V2,
        stream(Kind::V2, "crd-batch", false, Some("*/5 * * * *")),
    )
    .await;
    harness_wait(&env, Kind::V2, "crd-batch", "Scheduled", "StreamScheduled").await;
    apply(
        &env,
        request("crd-batch-refill", Kind::V2.class(), "crd-batch", None),
    )
    .await;
    wait_until("the request refused", t, || async {
        requests_for(&env, "crd-batch")
            .iter()
            .any(|r| r["status"]["phase"] == "Failed" && r["status"]["conditions"][0]["reason"] == "Invalid")
    })
    .await;
    // The Event on the request is sent after its status write, in the background.
    arcane_testkit::scenario::wait_event(&env, "crd-batch-refill", "Warning", "Invalid").await;

    env.set_suspended(Kind::V1, "crd-compat", true).await;
    harness_wait(&env, Kind::V1, "crd-compat", "Suspended", "StreamSuspended").await;
    let refused: Vec<String> = env
        .sandbox
        .requests()
        .into_iter()
        .filter(|r| r.is_write() && r.status >= 400 && r.status != 409)
        .filter(|r| r.path.contains("/backfillrequests") || r.path.contains("/streamclasses"))
        .map(|r| format!("{} {} → {}", r.method, r.path, r.status))
        .collect();
    assert!(
        refused.is_empty(),
        "writes refused by the arcane-crd schemas: {refused:#?}"
    );
    let class = arcane_testkit::scenario::stored(
        &env,
        &arcane_testkit::scenario::stream_classes(),
        None,
        Kind::V1.class(),
    )
    .expect("class");
    assert_eq!(class["status"]["phase"], "Ready", "{class}");
    env.assert_invariants();
    env.stop().await;
}

/// A Job the operator cannot see any more (a user removed the label its watch selects on) is found
/// by its controller owner reference on the one create that meets it (409), labelled again and kept:
/// never a duplicate, never a 409 loop.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unlabelled_workload_is_found_by_its_owner_and_kept() {
    let env = Env::start().await;
    env.create(Kind::V1, stream(Kind::V1, "relabelled", true, None))
        .await;
    harness_wait(&env, Kind::V1, "relabelled", "Suspended", "StreamSuspended").await;
    env.set_suspended(Kind::V1, "relabelled", false).await;
    harness_wait(&env, Kind::V1, "relabelled", "Running", "StreamRunning").await;
    let uid = env.job("relabelled").expect("Job")["metadata"]["uid"].clone();
    let mark = env.last_seq();
    let jobs: kube::Api<k8s_openapi::api::batch::v1::Job> = kube::Api::namespaced(env.client.clone(), NS);
    let unlabel = json!({"metadata": {"labels": {"arcane/stream-id": null}}});
    jobs.patch(
        "relabelled",
        &Default::default(),
        &kube::api::Patch::Merge(unlabel),
    )
    .await
    .expect("unlabel");
    wait_until("the label restored", secs(20), || async {
        env.job("relabelled")
            .is_some_and(|j| j["metadata"]["labels"]["arcane/stream-id"] == "relabelled")
    })
    .await;
    env.assert_invariants_and_settled(std::time::Duration::from_secs(1))
        .await;
    let since = env.requests_since(mark);
    let conflicts = since.iter().filter(|r| r.status == 409).count();
    assert!(conflicts <= 1, "at most the one create that found it: {since:#?}");
    assert_eq!(
        env.job("relabelled").expect("Job")["metadata"]["uid"],
        uid,
        "the same Job"
    );
    env.stop().await;
}
