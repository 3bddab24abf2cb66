//! End-to-end backfill scenarios (SPEC §4 "Backfill", §3 legacy annotations) and backend switches
//! (SPEC §4 "Switching a stream between backends"; arcane-behavior §6.6 items 73–78).

use arcane_testkit::scenario::{
    IMAGE, Recorder, annotation, apply, completed, env_var, hash_of, label, live_job, ready_of, request,
    request_api, stored_request, stream_obj, template, uid_of, wait_event, wait_stream,
};
use arcane_testkit::{Env, Kind, secs, stream, wait_until};
use kube_sandbox::store::EventKind;
use serde_json::{Value, json};

/// A schedule that does not fire during a test, even with the sandbox's short cron minutes.
const RARELY: &str = "0 3 * * *";

/// Backfill Jobs of `name` created so far, as recorded.
fn backfill_jobs(recorder: &Recorder, name: &str) -> Vec<Value> {
    recorder
        .created("jobs", name)
        .into_iter()
        .filter(|j| label(j, "arcane/backfilling") == Some("true"))
        .collect()
}

fn request_of(job: &Value) -> String {
    annotation(job, "arcane/backfill-request")
        .unwrap_or_default()
        .to_string()
}

/// The workload changes of `name` from the `skip`-th on, as (resource, Added | Deleted).
fn timeline_from(recorder: &Recorder, name: &str, skip: usize) -> Vec<(String, EventKind)> {
    recorder.workload_timeline(name).into_iter().skip(skip).collect()
}

fn step(resource: &str, kind: EventKind) -> (String, EventKind) {
    (resource.to_string(), kind)
}

/// A v1 Job-backend stream whose backfills never end (until the test says so).
async fn backfilling_stream(env: &Env, name: &str) -> String {
    apply(env, template("endless-backfill", "Run", "1s", IMAGE)).await;
    let mut obj = stream(Kind::V1, name, false, None);
    obj["spec"]["execution"]["backfillJobTemplateRef"]["name"] = json!("endless-backfill");
    env.create(Kind::V1, obj).await;
    wait_stream(
        env,
        &Kind::V1.resource(),
        name,
        "Backfilling",
        "StreamBackfilling",
        secs(10),
    )
    .await;
    let requests = env.requests();
    assert_eq!(requests.len(), 1, "the initial backfill request");
    requests[0]["metadata"]["name"]
        .as_str()
        .expect("a named request")
        .to_string()
}

/// A request for a running stream runs one backfill Job (labelled, with the request's id and
/// payload), completes the request, and the stream streams again (SPEC §4 rule 3, §5 env vars).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn request_for_a_running_stream_backfills_then_streams_again() {
    let env = Env::start().await;
    let v1 = Kind::V1.resource();
    let recorder = Recorder::start(&env, &["jobs", "cronjobs", "mockstreamv1s"]);
    env.create(Kind::V1, stream(Kind::V1, "flow", false, None)).await;
    wait_stream(&env, &v1, "flow", "Running", "StreamRunning", secs(10)).await;
    let initial = backfill_jobs(&recorder, "flow");
    assert_eq!(initial.len(), 1);
    assert!(
        env_var(&initial[0], "STREAMCONTEXT__OVERRIDE").is_none(),
        "no payload, no override"
    );
    let streaming = live_job(&env, "flow").unwrap();
    let seen = recorder.workload_timeline("flow").len();
    let phases_before = recorder.phases("mockstreamv1s", "flow").len();

    let payload = json!({"since": "2026-01-01", "tables": ["a", "b"]});
    apply(
        &env,
        request("flow-manual", "mock-stream-v1", "flow", Some(payload.clone())),
    )
    .await;
    wait_until("the request to complete", secs(10), || async {
        stored_request(&env, "flow-manual").is_some_and(|r| completed(&r))
    })
    .await;
    wait_stream(&env, &v1, "flow", "Running", "StreamRunning", secs(10)).await;

    let backfills = backfill_jobs(&recorder, "flow");
    assert_eq!(backfills.len(), 2, "one backfill Job for the request");
    let job = &backfills[1];
    assert_eq!(request_of(job), "flow-manual");
    assert_eq!(env_var(job, "STREAMCONTEXT__BACKFILL").as_deref(), Some("true"));
    assert_eq!(
        env_var(job, "STREAMCONTEXT__BACKFILL_ID").as_deref(),
        Some("flow-manual")
    );
    let overridden: Value = serde_json::from_str(&env_var(job, "STREAMCONTEXT__OVERRIDE").unwrap()).unwrap();
    assert_eq!(overridden, payload);
    use EventKind::{Added, Deleted};
    assert_eq!(
        timeline_from(&recorder, "flow", seen),
        vec![
            step("jobs", Deleted),
            step("jobs", Added),
            step("jobs", Deleted),
            step("jobs", Added)
        ],
        "streaming Job out, backfill in and out, streaming Job back"
    );
    let phases: Vec<String> = recorder
        .phases("mockstreamv1s", "flow")
        .into_iter()
        .skip(phases_before)
        .collect();
    assert!(
        phases.contains(&"Backfilling".to_string()) && phases.last().map(String::as_str) == Some("Running"),
        "the stream backfilled, then ran again: {phases:?}"
    );
    let fresh = live_job(&env, "flow").unwrap();
    assert_ne!(uid_of(&fresh), uid_of(&streaming));
    assert_eq!(label(&fresh, "arcane/backfilling"), Some("false"));
    let request = stored_request(&env, "flow-manual").unwrap();
    let condition = &request["status"]["conditions"][0];
    assert_eq!(
        (condition["type"].as_str(), condition["status"].as_str()),
        (Some("Completed"), Some("True"))
    );
    wait_event(&env, "flow", "Normal", "BackfillCompleted").await;
    arcane_testkit::scenario::assert_settled(&env).await;
    env.stop().await;
}

/// A request for a scheduled stream removes the CronJob, runs the backfill Job, and brings the
/// CronJob back (SPEC §4 rules 3–4; arcane-behavior §6.2 "Pending_To_Backfilling_with_schedule").
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn request_for_a_scheduled_stream_swaps_the_cronjob_out_and_back() {
    let env = Env::start().await;
    let v1 = Kind::V1.resource();
    let recorder = Recorder::start(&env, &["jobs", "cronjobs", "mockstreamv1s"]);
    env.create(Kind::V1, stream(Kind::V1, "nightly", false, Some(RARELY)))
        .await;
    wait_stream(&env, &v1, "nightly", "Scheduled", "StreamScheduled", secs(10)).await;
    let cronjob = env.cronjob("nightly").unwrap();

    apply(
        &env,
        request("nightly-catch-up", "mock-stream-v1", "nightly", None),
    )
    .await;
    wait_until("the request to complete", secs(10), || async {
        stored_request(&env, "nightly-catch-up").is_some_and(|r| completed(&r))
    })
    .await;
    wait_until("a new CronJob", secs(10), || async {
        env.cronjob("nightly")
            .is_some_and(|c| uid_of(&c) != uid_of(&cronjob))
    })
    .await;
    wait_stream(&env, &v1, "nightly", "Scheduled", "StreamScheduled", secs(10)).await;
    let phases = recorder.phases("mockstreamv1s", "nightly");
    assert!(
        phases.windows(2).any(|w| w == ["Backfilling", "Pending"]) && !phases.contains(&"Failed".to_string()),
        "{phases:?}"
    );
    use EventKind::{Added, Deleted};
    assert_eq!(
        recorder.workload_timeline("nightly"),
        vec![
            step("cronjobs", Added),
            step("cronjobs", Deleted),
            step("jobs", Added),
            step("jobs", Deleted),
            step("cronjobs", Added)
        ]
    );
    let backfills = backfill_jobs(&recorder, "nightly");
    assert_eq!(backfills.len(), 1);
    assert_eq!(request_of(&backfills[0]), "nightly-catch-up");
    assert!(env.job("nightly").is_none());
    arcane_testkit::scenario::assert_settled(&env).await;
    env.stop().await;
}

/// Deleting the request during a backfill stops the backfill Job and returns to streaming (SPEC §4
/// rule 3 "Deleting the request during a backfill").
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deleting_the_request_stops_the_backfill() {
    let env = Env::start().await;
    let v1 = Kind::V1.resource();
    let name = backfilling_stream(&env, "cancelled").await;
    let backfill = live_job(&env, "cancelled").unwrap();
    assert_eq!(request_of(&backfill), name);
    arcane_testkit::scenario::delete(&request_api(&env), &name).await;
    wait_stream(&env, &v1, "cancelled", "Running", "StreamRunning", secs(10)).await;
    let job = live_job(&env, "cancelled").unwrap();
    assert_eq!(label(&job, "arcane/backfilling"), Some("false"));
    wait_event(&env, "cancelled", "Normal", "BackfillNotRequested").await;
    assert!(env.requests().is_empty(), "no request is re-created");
    arcane_testkit::scenario::assert_settled(&env).await;
    env.stop().await;
}

/// Suspending during a backfill removes the Job without completing the request; resuming serves the
/// same request again (SPEC §4 rule 1 "a running backfill stops without completing its request").
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn suspension_interrupts_a_backfill_and_resuming_continues_it() {
    let env = Env::start().await;
    let v1 = Kind::V1.resource();
    let name = backfilling_stream(&env, "paused").await;
    let first = live_job(&env, "paused").unwrap();
    env.set_suspended(Kind::V1, "paused", true).await;
    wait_stream(&env, &v1, "paused", "Suspended", "StreamSuspended", secs(10)).await;
    wait_until("the backfill Job to be removed", secs(10), || async {
        env.job("paused").is_none()
    })
    .await;
    assert!(!completed(&stored_request(&env, &name).unwrap()));

    env.set_suspended(Kind::V1, "paused", false).await;
    wait_stream(&env, &v1, "paused", "Backfilling", "StreamBackfilling", secs(10)).await;
    let second = live_job(&env, "paused").unwrap();
    assert_ne!(uid_of(&second), uid_of(&first));
    assert_eq!(request_of(&second), name, "the same request continues");
    assert!(!completed(&stored_request(&env, &name).unwrap()));
    assert_eq!(env.requests().len(), 1);
    let ready = ready_of(&stream_obj(&env, &v1, "paused").unwrap()).unwrap();
    assert!(ready["message"].as_str().unwrap().contains(&name), "{ready}");
    arcane_testkit::scenario::assert_settled(&env).await;
    env.stop().await;
}

/// A spec change during a backfill restarts the backfill Job with the new configuration, for the
/// same request (SPEC §4 "a spec change during a backfill restarts the backfill").
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn spec_change_during_a_backfill_restarts_it() {
    let env = Env::start().await;
    let v1 = Kind::V1.resource();
    let name = backfilling_stream(&env, "reshaped").await;
    let before = live_job(&env, "reshaped").unwrap();
    env.patch_spec(Kind::V1, "reshaped", json!({"source": "reshaped-table"}))
        .await;
    wait_until("the backfill Job to be replaced", secs(10), || async {
        live_job(&env, "reshaped").is_some_and(|j| uid_of(&j) != uid_of(&before))
    })
    .await;
    wait_stream(
        &env,
        &v1,
        "reshaped",
        "Backfilling",
        "StreamBackfilling",
        secs(10),
    )
    .await;
    let after = live_job(&env, "reshaped").unwrap();
    assert_eq!(label(&after, "arcane/backfilling"), Some("true"));
    assert_eq!(request_of(&after), name);
    assert!(
        env_var(&after, "STREAMCONTEXT__SPEC")
            .unwrap()
            .contains("reshaped-table")
    );
    assert_ne!(hash_of(&after), hash_of(&before));
    assert!(!completed(&stored_request(&env, &name).unwrap()));
    arcane_testkit::scenario::assert_settled(&env).await;
    env.stop().await;
}

/// Two active requests are served one after the other, the oldest first (SPEC §4 rule 3 "the
/// oldest first when several exist").
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_requests_are_served_oldest_first() {
    let env = Env::start().await;
    let v1 = Kind::V1.resource();
    let recorder = Recorder::start(&env, &["jobs"]);
    env.create(Kind::V1, stream(Kind::V1, "queue", true, None)).await;
    wait_stream(&env, &v1, "queue", "Suspended", "StreamSuspended", secs(10)).await;
    // Creation times have a resolution of one second; the older request's name sorts last, so only
    // its age can put it first.
    apply(&env, request("z-older", "mock-stream-v1", "queue", None)).await;
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    apply(&env, request("a-newer", "mock-stream-v1", "queue", None)).await;
    env.set_suspended(Kind::V1, "queue", false).await;
    wait_until("both requests to complete", secs(10), || async {
        ["z-older", "a-newer"]
            .iter()
            .all(|n| stored_request(&env, n).is_some_and(|r| completed(&r)))
    })
    .await;
    wait_stream(&env, &v1, "queue", "Running", "StreamRunning", secs(10)).await;
    let order: Vec<String> = backfill_jobs(&recorder, "queue").iter().map(request_of).collect();
    assert_eq!(order, ["z-older", "a-newer"]);
    arcane_testkit::scenario::assert_settled(&env).await;
    env.stop().await;
}

/// Requests of another class, for another stream name, or in another namespace do not touch the
/// stream (SPEC §4 rule 3 "same namespace, spec.streamId ..., spec.streamClass ...").
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn requests_for_other_classes_streams_or_namespaces_are_ignored() {
    let env = Env::start().await;
    let v1 = Kind::V1.resource();
    env.create(Kind::V1, stream(Kind::V1, "target", false, None))
        .await;
    wait_stream(&env, &v1, "target", "Running", "StreamRunning", secs(10)).await;
    let job = live_job(&env, "target").unwrap();
    let recorder = Recorder::start(&env, &["jobs"]);

    apply(
        &env,
        json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "elsewhere"}}),
    )
    .await;
    let mut foreign = request("other-namespace", "mock-stream-v1", "target", None);
    foreign["metadata"]["namespace"] = json!("elsewhere");
    apply(&env, foreign).await;
    apply(&env, request("other-class", "mock-stream-v0", "target", None)).await;
    apply(&env, request("other-stream", "mock-stream-v1", "nobody", None)).await;
    tokio::time::sleep(secs(2)).await;
    assert!(recorder.created("jobs", "target").is_empty(), "no backfill Job");
    assert_eq!(uid_of(&live_job(&env, "target").unwrap()), uid_of(&job));
    assert_eq!(
        arcane_testkit::scenario::stream_state(&env, &v1, "target").0,
        "Running"
    );
    // Neither is served; each says why it waits (its class has no such stream).
    for (name, why) in [
        ("other-class", "no MockStreamV0 named target"),
        ("other-stream", "no MockStreamV1 named nobody"),
    ] {
        let request = stored_request(&env, name).unwrap();
        assert!(!completed(&request), "{name} not served");
        assert_eq!(request["status"]["phase"], "Pending", "{name}: {request}");
        let message = request["status"]["conditions"][0]["message"]
            .as_str()
            .unwrap_or_default();
        assert!(message.contains(why), "{name}: {message}");
    }
    let gvr = arcane_testkit::scenario::backfill_requests();
    let foreign = arcane_testkit::scenario::stored(&env, &gvr, Some("elsewhere"), "other-namespace").unwrap();
    assert!(!completed(&foreign));
    arcane_testkit::scenario::assert_settled(&env).await;
    env.stop().await;
}

async fn set_legacy_state(env: &Env, name: &str, state: Option<&str>) {
    let patch = json!({"metadata": {"annotations": {"arcane/state": state}}});
    arcane_testkit::scenario::merge_patch(&env.api(Kind::V1), name, patch).await;
}

/// `arcane/state: suspended` on a definition counts as suspended (SPEC §3 legacy annotations).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn legacy_suspended_annotation_suspends() {
    let env = Env::start().await;
    let v1 = Kind::V1.resource();
    let mut obj = stream(Kind::V1, "old-style", false, None);
    obj["metadata"]["annotations"] = json!({"arcane/state": "suspended"});
    env.create(Kind::V1, obj).await;
    wait_stream(&env, &v1, "old-style", "Suspended", "StreamSuspended", secs(10)).await;
    let ready = arcane_testkit::scenario::ready_of(&stream_obj(&env, &v1, "old-style").unwrap()).unwrap();
    let message = ready["message"].as_str().unwrap_or_default();
    assert!(
        message.contains("legacy annotation arcane/state: suspended"),
        "the status says why: {message}"
    );
    assert!(env.job("old-style").is_none());
    assert!(
        env.requests().is_empty(),
        "created suspended: no initial backfill"
    );

    set_legacy_state(&env, "old-style", None).await;
    wait_stream(&env, &v1, "old-style", "Running", "StreamRunning", secs(10)).await;
    set_legacy_state(&env, "old-style", Some("suspended")).await;
    wait_stream(&env, &v1, "old-style", "Suspended", "StreamSuspended", secs(10)).await;
    wait_until("the Job to be removed", secs(10), || async {
        env.job("old-style").is_none()
    })
    .await;
    arcane_testkit::scenario::assert_settled(&env).await;
    env.stop().await;
}

/// `arcane/state: reload-requested` becomes a BackfillRequest, which is served, and the annotation
/// is removed (SPEC §3 legacy annotations).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn legacy_reload_annotation_becomes_a_backfill_request() {
    let env = Env::start().await;
    let v1 = Kind::V1.resource();
    let recorder = Recorder::start(&env, &["jobs"]);
    env.create(Kind::V1, stream(Kind::V1, "reloadable", false, None))
        .await;
    wait_stream(&env, &v1, "reloadable", "Running", "StreamRunning", secs(10)).await;
    let before: Vec<Value> = env.requests();

    set_legacy_state(&env, "reloadable", Some("reload-requested")).await;
    wait_until("a reload request", secs(10), || async {
        env.requests().len() > before.len()
    })
    .await;
    let reload = env
        .requests()
        .into_iter()
        .find(|r| {
            !before.contains(r)
                && r["metadata"]["name"]
                    .as_str()
                    .unwrap()
                    .starts_with("reloadable-reload-")
        })
        .expect("the reload request, named after the stream");
    let name = reload["metadata"]["name"].as_str().unwrap().to_string();
    assert_eq!(reload["spec"]["streamClass"], "mock-stream-v1");
    wait_until("the annotation to be removed", secs(10), || async {
        stream_obj(&env, &v1, "reloadable").is_some_and(|o| annotation(&o, "arcane/state").is_none())
    })
    .await;
    wait_until("the reload to complete", secs(10), || async {
        stored_request(&env, &name).is_some_and(|r| completed(&r))
    })
    .await;
    wait_stream(&env, &v1, "reloadable", "Running", "StreamRunning", secs(10)).await;
    let backfills: Vec<String> = backfill_jobs(&recorder, "reloadable")
        .iter()
        .map(request_of)
        .collect();
    assert_eq!(backfills.last(), Some(&name));
    assert_eq!(
        env.requests().len(),
        before.len() + 1,
        "exactly one reload request"
    );
    arcane_testkit::scenario::assert_settled(&env).await;
    env.stop().await;
}

/// Switches `kind` streams Job → CronJob and CronJob → Job: the old workload is removed before the
/// new one is created and no `Failed` phase is ever written (SPEC §4; arcane-behavior §6.6 items
/// 73–78).
async fn backend_switches(kind: Kind) {
    let env = Env::start().await;
    let resource = kind.resource();
    let recorder = Recorder::start(&env, &["jobs", "cronjobs", resource.plural.as_str()]);
    let batch = json!({"schedule": RARELY, "jobTemplateRef": {"name": "batch-job"}});
    let mut change_capture = json!({"jobTemplateRef": {"name": "streaming-job"}});
    if kind == Kind::V2 {
        change_capture["backfillJobTemplateRef"] = json!({"name": "backfill-job"});
    }
    // Items 73/76: suspended change-capture stream → Running → batch.
    env.create(kind, stream(kind, "to-cron", true, None)).await;
    // Items 74/77: suspended cron stream → Scheduled → change capture.
    env.create(kind, stream(kind, "to-job", true, Some(RARELY))).await;
    wait_stream(
        &env,
        &resource,
        "to-cron",
        "Suspended",
        "StreamSuspended",
        secs(10),
    )
    .await;
    wait_stream(
        &env,
        &resource,
        "to-job",
        "Suspended",
        "StreamSuspended",
        secs(10),
    )
    .await;
    env.set_suspended(kind, "to-cron", false).await;
    env.set_suspended(kind, "to-job", false).await;
    wait_stream(&env, &resource, "to-cron", "Running", "StreamRunning", secs(10)).await;
    wait_stream(
        &env,
        &resource,
        "to-job",
        "Scheduled",
        "StreamScheduled",
        secs(10),
    )
    .await;
    // Items 75/78: every run of the CronJob is a backfill identified by its Job's name.
    let cronjob = env.cronjob("to-job").expect("the CronJob");
    let container = &cronjob["spec"]["jobTemplate"]["spec"]["template"]["spec"]["containers"][0];
    let var = |n: &str| {
        container["env"]
            .as_array()
            .expect("an env list")
            .iter()
            .find(|e| e["name"] == n)
            .cloned()
    };
    assert_eq!(var("STREAMCONTEXT__BACKFILL").expect("BACKFILL")["value"], "true");
    assert_eq!(
        var("STREAMCONTEXT__BACKFILL_ID").expect("BACKFILL_ID")["valueFrom"]["fieldRef"]["fieldPath"],
        "metadata.labels['job-name']"
    );

    // Both backends at once are an ambiguous, invalid spec: the switch drops the change-capture
    // streaming template (a v2 cron stream keeps its backfill template under changeCapture).
    let without_change_capture = match kind {
        Kind::V2 => json!({"jobTemplateRef": null}),
        _ => Value::Null,
    };
    env.patch_spec(
        kind,
        "to-cron",
        json!({"execution": {"streamingBackend": {"batch": batch, "changeCapture": without_change_capture}}}),
    )
    .await;
    let to_job = json!({"execution": {"streamingBackend": {"batch": null, "changeCapture": change_capture}}});
    env.patch_spec(kind, "to-job", to_job).await;
    wait_stream(
        &env,
        &resource,
        "to-cron",
        "Scheduled",
        "StreamScheduled",
        secs(10),
    )
    .await;
    wait_stream(&env, &resource, "to-job", "Running", "StreamRunning", secs(10)).await;
    assert!(env.job("to-cron").is_none() && env.cronjob("to-cron").is_some());
    assert!(env.cronjob("to-job").is_none() && live_job(&env, "to-job").is_some());

    use EventKind::{Added, Deleted};
    let expected =
        |first: &str, second: &str| vec![step(first, Added), step(first, Deleted), step(second, Added)];
    assert_eq!(
        recorder.workload_timeline("to-cron"),
        expected("jobs", "cronjobs")
    );
    assert_eq!(recorder.workload_timeline("to-job"), expected("cronjobs", "jobs"));
    for name in ["to-cron", "to-job"] {
        let phases = recorder.phases(&resource.plural, name);
        assert!(
            !phases.iter().any(|p| p == "Failed"),
            "{name}: a Failed phase was written: {phases:?}"
        );
        wait_event(&env, name, "Normal", "BackendChanged").await;
    }
    arcane_testkit::scenario::assert_settled(&env).await;
    env.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn backend_switch_v1_removes_the_old_workload_first() {
    backend_switches(Kind::V1).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn backend_switch_v2_removes_the_old_workload_first() {
    backend_switches(Kind::V2).await;
}
