//! End-to-end failure scenarios (SPEC §4 "Failed", §3 invalid definitions, §5 missing templates,
//! §4 template roll-out): what the operator shows, what it keeps, and how a user recovers.

use arcane_testkit::scenario::{
    IMAGE, Recorder, annotation, apply, completed, describe, hash_of, job_condition, label, live_job,
    ready_of, stored_request, stream_obj, template, uid_of, wait_event, wait_stream,
};
use arcane_testkit::{Env, Kind, secs, stream, wait_until};
use serde_json::{Value, json};

/// A v1 Job-backend stream with the given streaming and backfill templates.
fn v1_stream(name: &str, streaming: &str, backfill: &str) -> Value {
    let mut obj = stream(Kind::V1, name, false, None);
    obj["spec"]["execution"]["streamingBackend"]["changeCapture"]["jobTemplateRef"]["name"] =
        json!(streaming);
    obj["spec"]["execution"]["backfillJobTemplateRef"]["name"] = json!(backfill);
    obj
}

/// Streaming Jobs (not backfills) created for `name`, as recorded.
fn streaming_jobs_created(recorder: &Recorder, name: &str) -> Vec<Value> {
    recorder
        .created("jobs", name)
        .into_iter()
        .filter(|j| label(j, "arcane/backfilling") == Some("false"))
        .collect()
}

/// Starts a stream whose streaming Jobs fail and waits until it is `Failed`.
async fn failed_stream(env: &Env, name: &str) {
    apply(env, template("failing-job", "Fail", "300ms", IMAGE)).await;
    env.create(Kind::V1, v1_stream(name, "failing-job", "backfill-job"))
        .await;
    wait_stream(
        env,
        &Kind::V1.resource(),
        name,
        "Failed",
        "CrashLoopDetected",
        secs(10),
    )
    .await;
}

/// A failed streaming Job pins the stream in `Failed` (reason `CrashLoopDetected`, Warning Event
/// `CrashLoopDetected`, the same reason as the status); the failed Job is kept and nothing is restarted (SPEC §4 rule 2;
/// arcane-behavior §6.6 item 71, whose deletion of the Job is deliberately not reproduced).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failed_job_is_kept_and_not_restarted() {
    let env = Env::start().await;
    let recorder = Recorder::start(&env, &["jobs"]);
    failed_stream(&env, "crashy").await;
    let ready = ready_of(&stream_obj(&env, &Kind::V1.resource(), "crashy").unwrap()).unwrap();
    assert_eq!(ready["status"], "False");
    assert!(
        ready["message"]
            .as_str()
            .unwrap()
            .contains("BackoffLimitExceeded"),
        "the message gives the Job's failure reason: {ready}"
    );
    wait_event(&env, "crashy", "Warning", "CrashLoopDetected").await;
    let job = env.job("crashy").expect("the failed Job is kept for its logs");
    assert!(job_condition(&job, "Failed"));

    let mark = env.last_seq();
    tokio::time::sleep(secs(3)).await;
    assert_eq!(
        streaming_jobs_created(&recorder, "crashy").len(),
        1,
        "nothing is restarted"
    );
    let job_writes: Vec<String> = describe(&env.requests_since(mark))
        .into_iter()
        .filter(|r| r.contains("/jobs"))
        .filter(|r| !r.starts_with("GET"))
        .collect();
    assert!(
        job_writes.is_empty(),
        "no Job is created or deleted: {job_writes:?}"
    );
    assert_eq!(uid_of(&env.job("crashy").unwrap()), uid_of(&job));
    assert_eq!(
        env.sandbox
            .store()
            .list(&arcane_testkit::scenario::jobs(), None)
            .0
            .len(),
        1
    );
    arcane_testkit::scenario::assert_settled(&env).await;
    env.stop().await;
}

/// Suspending removes the failed Job and resuming starts a new one (SPEC §4 rule 2 "The user
/// recovers by suspending and unsuspending"); the Failed message says so.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn suspend_and_resume_recovers_a_failed_stream() {
    let env = Env::start().await;
    let v1 = Kind::V1.resource();
    let recorder = Recorder::start(&env, &["jobs"]);
    failed_stream(&env, "crashy").await;
    let failed = env.job("crashy").unwrap();
    let ready = arcane_testkit::scenario::ready_of(
        &arcane_testkit::scenario::stream_obj(&env, &v1, "crashy").unwrap(),
    )
    .unwrap();
    let message = ready["message"].as_str().unwrap_or_default();
    assert!(message.contains("Suspend and resume the stream"), "{message}");

    env.set_suspended(Kind::V1, "crashy", true).await;
    wait_stream(&env, &v1, "crashy", "Suspended", "StreamSuspended", secs(10)).await;
    wait_until("the failed Job to be removed", secs(10), || async {
        env.job("crashy").is_none()
    })
    .await;
    env.set_suspended(Kind::V1, "crashy", false).await;
    wait_stream(&env, &v1, "crashy", "Running", "StreamRunning", secs(10)).await;
    let fresh = live_job(&env, "crashy").expect("a new streaming Job");
    assert_ne!(uid_of(&fresh), uid_of(&failed));
    assert_eq!(streaming_jobs_created(&recorder, "crashy").len(), 2);
    arcane_testkit::scenario::assert_settled(&env).await;
    env.stop().await;
}

/// A template fix is a configuration change (another configuration hash): it removes the failed
/// Job and starts again, without a suspension.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn template_fix_recovers_a_failed_stream() {
    let env = Env::start().await;
    let v1 = Kind::V1.resource();
    failed_stream(&env, "crashy").await;
    let failed = env.job("crashy").unwrap();
    apply(&env, template("failing-job", "Run", "1s", IMAGE)).await;
    wait_until(
        "a new streaming Job from the fixed template",
        secs(10),
        || async { live_job(&env, "crashy").is_some_and(|j| uid_of(&j) != uid_of(&failed)) },
    )
    .await;
    wait_stream(&env, &v1, "crashy", "Running", "StreamRunning", secs(10)).await;
    arcane_testkit::scenario::assert_settled(&env).await;
    env.stop().await;
}

/// A spec change (a new generation) removes the failed Job and starts again (SPEC §4 rule 2 "or by
/// changing the spec").
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn spec_change_recovers_a_failed_stream() {
    let env = Env::start().await;
    let v1 = Kind::V1.resource();
    failed_stream(&env, "crashy").await;
    let failed = env.job("crashy").unwrap();
    let fix = json!({"execution": {"streamingBackend": {"changeCapture": {"jobTemplateRef": {"name": "streaming-job"}}}}});
    env.patch_spec(Kind::V1, "crashy", fix).await;
    wait_until("a new streaming Job", secs(10), || async {
        live_job(&env, "crashy").is_some_and(|j| uid_of(&j) != uid_of(&failed))
    })
    .await;
    wait_stream(&env, &v1, "crashy", "Running", "StreamRunning", secs(10)).await;
    wait_event(&env, "crashy", "Normal", "StreamRestarted").await;
    let job = live_job(&env, "crashy").unwrap();
    assert_eq!(annotation(&job, "sandbox.arcane.dev/outcome"), Some("Run"));
    arcane_testkit::scenario::assert_settled(&env).await;
    env.stop().await;
}

/// A failed backfill Job fails the stream without completing its request; the request survives a
/// suspension and is served again after resuming (SPEC §4 rules 1–3).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failed_backfill_keeps_its_request_until_it_succeeds() {
    let env = Env::start().await;
    let v1 = Kind::V1.resource();
    let recorder = Recorder::start(&env, &["jobs"]);
    apply(&env, template("failing-backfill", "Fail", "300ms", IMAGE)).await;
    env.create(Kind::V1, v1_stream("refill", "streaming-job", "failing-backfill"))
        .await;
    wait_stream(&env, &v1, "refill", "Failed", "CrashLoopDetected", secs(10)).await;
    wait_event(&env, "refill", "Warning", "CrashLoopDetected").await;
    let requests = env.requests();
    assert_eq!(requests.len(), 1);
    let name = requests[0]["metadata"]["name"].as_str().unwrap().to_string();
    assert!(
        !completed(&requests[0]),
        "a failed backfill does not complete its request"
    );
    let job = env.job("refill").expect("the failed backfill Job is kept");
    assert_eq!(label(&job, "arcane/backfilling"), Some("true"));

    env.set_suspended(Kind::V1, "refill", true).await;
    wait_stream(&env, &v1, "refill", "Suspended", "StreamSuspended", secs(10)).await;
    wait_until("the failed Job to be removed", secs(10), || async {
        env.job("refill").is_none()
    })
    .await;
    assert!(
        !completed(&stored_request(&env, &name).unwrap()),
        "suspension keeps the request active"
    );

    let fix = json!({"execution": {"backfillJobTemplateRef": {"name": "backfill-job"}}});
    env.patch_spec(Kind::V1, "refill", fix).await;
    env.set_suspended(Kind::V1, "refill", false).await;
    wait_stream(&env, &v1, "refill", "Running", "StreamRunning", secs(10)).await;
    assert!(
        completed(&stored_request(&env, &name).unwrap()),
        "the same request completed"
    );
    assert_eq!(env.requests().len(), 1, "no new request");
    let backfills: Vec<Value> = recorder
        .created("jobs", "refill")
        .into_iter()
        .filter(|j| label(j, "arcane/backfilling") == Some("true"))
        .collect();
    assert_eq!(backfills.len(), 2, "one failed backfill, one that succeeded");
    for job in &backfills {
        assert_eq!(annotation(job, "arcane/backfill-request"), Some(name.as_str()));
    }
    arcane_testkit::scenario::assert_settled(&env).await;
    env.stop().await;
}

/// A missing template: `Pending` with `TemplateNotFound` and a Warning Event, no polling while it is
/// missing, and the stream starts as soon as the template is created (SPEC §5 "A missing template").
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn missing_template_waits_without_polling_and_starts_when_created() {
    let env = Env::start().await;
    let v1 = Kind::V1.resource();
    env.create(Kind::V1, v1_stream("early", "late-job", "backfill-job"))
        .await;
    wait_stream(&env, &v1, "early", "Pending", "TemplateNotFound", secs(10)).await;
    wait_event(&env, "early", "Warning", "TemplateNotFound").await;
    // The completed initial backfill Job goes; no streaming Job can be built.
    wait_until("the backfill Job to be removed", secs(5), || async {
        env.job("early").is_none()
    })
    .await;

    // Let the last status write and Event land, then count every request for 2 s.
    env.wait_quiet(std::time::Duration::from_millis(500), secs(5))
        .await;
    let mark = env.last_seq();
    tokio::time::sleep(secs(2)).await;
    let requests = env.requests_since(mark);
    assert!(
        requests.is_empty(),
        "the operator polls: {:#?}",
        describe(&requests)
    );

    apply(&env, template("late-job", "Run", "1s", IMAGE)).await;
    wait_stream(&env, &v1, "early", "Running", "StreamRunning", secs(5)).await;
    assert!(live_job(&env, "early").is_some());
    arcane_testkit::scenario::assert_settled(&env).await;
    env.stop().await;
}

/// A template change rolls out: the running Job is replaced by one with the new template and a new
/// configuration hash (SPEC §4 "a template change rolls out").
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn template_change_rolls_out_to_the_running_job() {
    let env = Env::start().await;
    let v1 = Kind::V1.resource();
    apply(&env, template("rolling-job", "Run", "1s", IMAGE)).await;
    env.create(Kind::V1, v1_stream("rolling", "rolling-job", "backfill-job"))
        .await;
    wait_stream(&env, &v1, "rolling", "Running", "StreamRunning", secs(10)).await;
    let before = live_job(&env, "rolling").unwrap();

    let image = "ghcr.io/sneaksanddata/arcane-stream-mock:next";
    apply(&env, template("rolling-job", "Run", "1s", image)).await;
    wait_until("the Job to be replaced", secs(10), || async {
        live_job(&env, "rolling").is_some_and(|j| uid_of(&j) != uid_of(&before))
    })
    .await;
    wait_stream(&env, &v1, "rolling", "Running", "StreamRunning", secs(10)).await;
    let after = live_job(&env, "rolling").unwrap();
    assert_eq!(after["spec"]["template"]["spec"]["containers"][0]["image"], image);
    assert_ne!(hash_of(&after), hash_of(&before));
    let status = stream_obj(&env, &v1, "rolling").unwrap();
    assert_eq!(status["status"]["configurationHash"].as_str(), hash_of(&after));
    arcane_testkit::scenario::assert_settled(&env).await;
    env.stop().await;
}

/// Invalid definitions are `Failed` with `InvalidSpec`, a message naming the field and a Warning
/// Event, are not retried until they change, leave the other streams of their class alone, and
/// recover when fixed (SPEC §3 "A definition that cannot be parsed").
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invalid_definitions_fail_alone_and_recover_when_fixed() {
    let env = Env::start().await;
    let v1 = Kind::V1.resource();
    let mut bad_flag = stream(Kind::V1, "bad-flag", false, None);
    bad_flag["spec"]["execution"]["suspended"] = json!("yes");
    let mut bad_layout = stream(Kind::V1, "bad-layout", false, None);
    bad_layout["spec"]["execution"]["layoutVersion"] = json!("v9");
    env.create(Kind::V1, bad_flag).await;
    env.create(Kind::V1, bad_layout).await;
    env.create(Kind::V1, stream(Kind::V1, "good", false, None)).await;

    for (name, field) in [("bad-flag", "suspended"), ("bad-layout", "layoutVersion")] {
        wait_stream(&env, &v1, name, "Failed", "InvalidSpec", secs(10)).await;
        let ready = ready_of(&stream_obj(&env, &v1, name).unwrap()).unwrap();
        assert_eq!(ready["status"], "False");
        let message = ready["message"].as_str().unwrap();
        assert!(
            message.contains(field),
            "{name}: the message names {field}: {message}"
        );
        wait_event(&env, name, "Warning", "InvalidSpec").await;
        assert!(env.job(name).is_none() && env.cronjob(name).is_none());
    }
    wait_stream(&env, &v1, "good", "Running", "StreamRunning", secs(10)).await;
    assert!(env.requests().iter().all(|r| r["spec"]["streamId"] == "good"));
    // Not retried until it changes.
    arcane_testkit::scenario::assert_settled(&env).await;

    env.patch_spec(Kind::V1, "bad-flag", json!({"execution": {"suspended": false}}))
        .await;
    env.patch_spec(
        Kind::V1,
        "bad-layout",
        json!({"execution": {"layoutVersion": "v1"}}),
    )
    .await;
    wait_stream(&env, &v1, "bad-flag", "Running", "StreamRunning", secs(10)).await;
    wait_stream(&env, &v1, "bad-layout", "Running", "StreamRunning", secs(10)).await;
    arcane_testkit::scenario::assert_settled(&env).await;
    env.stop().await;
}
