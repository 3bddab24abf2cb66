//! Bad-input rows B9–B14 (ecosystem-reliability B.7): BackfillRequests the operator cannot or must
//! not serve, huge and deep objects, a definition stuck in deletion, unicode in labels, and changes
//! during a backfill. Part of the `e2e` test binary, beside `bad_input`.

use std::time::{Duration, Instant};

use arcane_operator::stream::WorkloadKind;
use arcane_operator::stream::names::workload_name;
use kube::Api;
use kube::api::{DeleteParams, DynamicObject, Patch, PatchParams};
use serde_json::{Value, json};

use super::bad::*;
use arcane_testkit::{Env, Kind, NS, secs, stream, wait_until};

/// How many backfills of `stream` started, by its `BackfillStarted` Events: kube's Recorder folds
/// repeated Events of one reason into a series, so each Event counts `series.count` times.
fn backfills_started(env: &Env, stream: &str) -> u64 {
    events(env, stream)
        .into_iter()
        .filter(|e| e["reason"] == "BackfillStarted")
        .map(|e| e["series"]["count"].as_u64().unwrap_or(1))
        .sum()
}

/// B9 (decided): a request for a stream that does not exist waits harmlessly (no Job; its status
/// says why, written once) and is served when the stream appears, instead of an initial backfill; a request naming an unknown
/// class is never served and changes nothing; a request created `completed: true` is ignored.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn b9_requests_for_unknown_targets_wait_harmlessly() {
    watch_panics();
    let env = Env::start().await;
    healthy_converges(&env, "b9-healthy").await;
    let job_uid = env.job("b9-healthy").unwrap()["metadata"]["uid"].clone();
    create_request(&env, "b9-ghost-request", "mock-stream-v1", "b9-ghost", false).await;
    create_request(&env, "b9-unknown-class", "no-such-class", "b9-healthy", false).await;
    create_request(&env, "b9-done-already", "mock-stream-v1", "b9-healthy", true).await;
    settled(&env).await;
    assert!(env.job("b9-ghost").is_none());
    assert_eq!(
        env.job("b9-healthy").unwrap()["metadata"]["uid"],
        job_uid,
        "no backfill for the healthy stream"
    );
    // Each says why it waits, once: no such stream, no such class.
    for (name, why) in [
        ("b9-ghost-request", "no MockStreamV1 named b9-ghost"),
        ("b9-unknown-class", "no StreamClass named no-such-class"),
    ] {
        let r = request(&env, name).unwrap();
        assert_eq!(r["spec"]["completed"], false, "{name}");
        assert_eq!(r["status"]["phase"], "Pending", "{name}: {r}");
        let message = r["status"]["conditions"][0]["message"]
            .as_str()
            .unwrap_or_default();
        assert!(message.contains(why), "{name}: {message}");
    }
    // The stream appears: the waiting request is its backfill.
    env.create(Kind::V1, stream(Kind::V1, "b9-ghost", false, None))
        .await;
    wait_until("the waiting request to be served", secs(20), || async {
        request(&env, "b9-ghost-request").is_some_and(|r| r["spec"]["completed"] == true)
    })
    .await;
    env.wait_phase(Kind::V1, "b9-ghost", "Running", secs(20)).await;
    let for_ghost = env
        .requests()
        .into_iter()
        .filter(|r| r["spec"]["streamId"] == "b9-ghost")
        .count();
    assert_eq!(for_ghost, 1, "no initial backfill besides the waiting request");
    assert_eq!(
        request(&env, "b9-unknown-class").unwrap()["spec"]["completed"],
        false
    );
    settled(&env).await;
    env.stop().await;
}

/// B9 (decided): duplicate requests for one stream are served one after the other, oldest first; a
/// request whose status is `Failed` (Arcane #240) is final and never served.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn b9_duplicates_oldest_first_and_failed_requests_ignored() {
    watch_panics();
    let env = Env::start().await;
    env.create(Kind::V1, stream(Kind::V1, "b9-dup", true, None)).await;
    env.wait_phase(Kind::V1, "b9-dup", "Suspended", secs(10)).await;
    create_request(&env, "b9-dup-b-older", "mock-stream-v1", "b9-dup", false).await;
    // Creation timestamps have one-second resolution.
    tokio::time::sleep(Duration::from_millis(1100)).await;
    create_request(&env, "b9-dup-a-newer", "mock-stream-v1", "b9-dup", false).await;
    create_request(&env, "b9-failed", "mock-stream-v1", "b9-dup", false).await;
    let api: Api<DynamicObject> = Api::namespaced_with(env.client.clone(), NS, &request_resource());
    api.patch_status(
        "b9-failed",
        &PatchParams::default(),
        &Patch::Merge(json!({"status": {"phase": "Failed"}})),
    )
    .await
    .unwrap();
    env.set_suspended(Kind::V1, "b9-dup", false).await;
    // The order in which the backfill Jobs run: each takes 300 ms, polling every 50 ms sees both.
    let mut served: Vec<String> = Vec::new();
    let deadline = Instant::now() + secs(25);
    while served.len() < 2 && Instant::now() < deadline {
        if let Some(job) = env.job("b9-dup") {
            let request = job["metadata"]["annotations"]["arcane/backfill-request"]
                .as_str()
                .unwrap_or_default();
            if !request.is_empty() && served.last().map(String::as_str) != Some(request) {
                served.push(request.to_string());
            }
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(
        served,
        ["b9-dup-b-older", "b9-dup-a-newer"],
        "backfills run oldest first"
    );
    wait_until("both requests served", secs(25), || async {
        served
            .iter()
            .all(|n| request(&env, n).is_some_and(|r| r["spec"]["completed"] == true))
    })
    .await;
    env.wait_phase(Kind::V1, "b9-dup", "Running", secs(20)).await;
    // kube's Recorder folds Events of one reason into a series: both starts are counted in it.
    assert_eq!(
        backfills_started(&env, "b9-dup"),
        2,
        "one BackfillStarted per request: {:#?}",
        events(&env, "b9-dup")
            .iter()
            .map(|e| format!("{} {} x{}", e["reason"], e["note"], e["series"]["count"]))
            .collect::<Vec<_>>()
    );
    let failed = request(&env, "b9-failed").unwrap();
    assert_eq!(failed["spec"]["completed"], false);
    assert_eq!(failed["status"]["phase"], "Failed");
    settled(&env).await;
    env.stop().await;
}

/// B9: a request for a batch stream that has no backfill template is refused with a condition on
/// the request and a Warning Event on the stream (SPEC §3).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn b9_unservable_request_is_rejected() {
    watch_panics();
    let env = Env::start().await;
    env.create(Kind::V2, stream(Kind::V2, "b9-cron", false, Some("*/5 * * * *")))
        .await;
    env.wait_phase(Kind::V2, "b9-cron", "Scheduled", secs(10)).await;
    create_request(&env, "b9-refused", "mock-stream-v2", "b9-cron", false).await;
    wait_until("the request to be refused", secs(10), || async {
        request(&env, "b9-refused").is_some_and(|r| r["status"]["phase"] == "Failed")
    })
    .await;
    let refused = request(&env, "b9-refused").unwrap();
    assert_eq!(refused["spec"]["completed"], false);
    let condition = &refused["status"]["conditions"][0];
    assert_eq!(condition["status"], "False");
    assert!(
        is_pascal_case(condition["reason"].as_str().unwrap()),
        "{condition}"
    );
    wait_warning(&env, "b9-cron", "BackfillRejected", secs(10)).await;
    assert_eq!(env.phase(Kind::V2, "b9-cron").await.as_deref(), Some("Scheduled"));
    healthy_converges(&env, "b9-healthy").await;
    settled(&env).await;
    env.stop().await;
}

/// B10: a definition near 1.5 MiB (accepted by the API server, whose limit is 3 MiB) is rejected
/// quickly with `InvalidSpec` (the parser stops at 1 MiB of `.spec`); deeply nested unknown fields
/// are carried, not fatal.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn b10_huge_and_deep_definitions() {
    watch_panics();
    let env = Env::start().await;
    healthy_converges(&env, "b10-healthy").await;
    let mut huge = stream(Kind::V1, "b10-huge", false, None)["spec"].clone();
    huge["blob"] = json!("x".repeat(1536 * 1024));
    let mut deep = json!("bottom");
    for _ in 0..60 {
        deep = json!({ "nested": deep });
    }
    let mut nested = stream(Kind::V1, "b10-deep", false, None)["spec"].clone();
    nested["unknown"] = deep;
    let created = Instant::now();
    create_stream(&env, Kind::V1, "b10-huge", huge).await;
    let condition = assert_rejected(&env, Kind::V1, "b10-huge", "InvalidSpec", "InvalidSpec").await;
    let elapsed = created.elapsed();
    println!("b10: a 1.5 MiB definition was rejected {elapsed:?} after its create");
    assert!(elapsed < secs(1), "rejection took {elapsed:?} (B10: within 1 s)");
    let message = condition["message"].as_str().unwrap();
    assert!(message.contains("too large") && message.len() < 1024, "{message}");
    create_stream(&env, Kind::V1, "b10-deep", nested).await;
    env.wait_phase(Kind::V1, "b10-deep", "Running", secs(25)).await;
    healthy_converges(&env, "b10-after").await;
    settled(&env).await;
    env.stop().await;
}

/// B11 (decided): a definition stuck in deletion behind a foreign finalizer causes no tight loop
/// (requests about it counted over 2 s); its Job is left to the garbage collector, which removes it
/// once the finalizer goes (with foreground deletion it would remove it at once).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn b11_stuck_deletion_causes_no_loop() {
    watch_panics();
    let env = Env::start().await;
    let mut obj = stream(Kind::V1, "b11-stuck", false, None);
    obj["metadata"]["finalizers"] = json!(["example.com/hold"]);
    env.create(Kind::V1, obj).await;
    env.wait_phase(Kind::V1, "b11-stuck", "Running", secs(20)).await;
    env.api(Kind::V1)
        .delete("b11-stuck", &DeleteParams::background())
        .await
        .unwrap();
    wait_until("the deletionTimestamp", secs(5), || async {
        env.get(Kind::V1, "b11-stuck")
            .await
            .is_some_and(|o| o.metadata.deletion_timestamp.is_some())
    })
    .await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let since = env.last_seq();
    tokio::time::sleep(secs(2)).await;
    let about = count_requests(
        &env,
        since,
        &["GET", "POST", "PUT", "PATCH", "DELETE"],
        "b11-stuck",
    );
    assert!(
        about.len() <= 2,
        "requests about the stuck stream in 2 s: {about:#?}"
    );
    let writes = count_requests(&env, since, &["POST", "PUT", "PATCH", "DELETE"], "/");
    assert!(writes.len() <= 2, "writes in 2 s: {writes:#?}");
    // Decided (SPEC §4, deletion needs no action): the Job stays until the definition is really
    // gone and the garbage collector takes it; the stream keeps its last status meanwhile.
    assert!(env.job("b11-stuck").is_some());
    assert_eq!(env.phase(Kind::V1, "b11-stuck").await.as_deref(), Some("Running"));
    healthy_converges(&env, "b11-healthy").await;
    // The foreign controller lets go: the stream and its Job are gone (N4).
    let patch = json!({"metadata": {"finalizers": null}});
    env.api(Kind::V1)
        .patch("b11-stuck", &PatchParams::default(), &Patch::Merge(patch))
        .await
        .unwrap();
    wait_until("the Job to be collected", secs(15), || async {
        env.job("b11-stuck").is_none()
    })
    .await;
    settled(&env).await;
    env.stop().await;
}

/// B12 (decided: sanitised): a stream name longer than a label allows becomes a valid label value
/// (hashed) with the full value kept in an annotation; uppercase template label values are valid and
/// kept. Unicode or over-long label values and invalid keys in a template never reach the operator: the
/// API server validates an embedded resource's metadata (`x-kubernetes-embedded-resource`) and refuses
/// the template at apply time, as a real cluster does.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn b12_unicode_and_uppercase_labels_are_sanitised() {
    watch_panics();
    let env = Env::start().await;
    let invalid_values = |doc: &mut Value| {
        let labels = &mut doc["spec"]["metadata"]["labels"];
        labels["team"] = json!("Équipe-Données");
        labels["tier"] = json!("t".repeat(80));
        labels["emoji"] = json!("🚀");
    };
    let bad_key = |doc: &mut Value| doc["spec"]["metadata"]["labels"]["Équipe key!"] = json!("x");
    for (name, edit) in [
        ("b12-bad-values", &invalid_values as &dyn Fn(&mut Value)),
        ("b12-bad-key", &bad_key),
    ] {
        let template = template_from("streaming-job", name, "1s", edit);
        let refused = arcane_operator::sandbox::install::apply_documents(&env.client, &[template])
            .await
            .expect_err("a template with invalid labels is refused");
        assert!(refused.to_string().contains("spec.metadata.labels"), "{refused}");
    }
    let labelled = |doc: &mut Value| doc["spec"]["metadata"]["labels"]["owner"] = json!("ALICE");
    apply(
        &env.client,
        &[template_from("streaming-job", "b12-labels", "1s", labelled)],
    )
    .await;
    // Longer than a label value; dot-separated parts of at most 63 characters, as the sandbox wants.
    let name = format!("b12.{}end.{}end", "unicode-".repeat(6), "unicode-".repeat(6));
    let mut spec = stream(Kind::V1, &name, false, None)["spec"].clone();
    spec["execution"]["streamingBackend"]["changeCapture"]["jobTemplateRef"]["name"] = json!("b12-labels");
    create_stream(&env, Kind::V1, &name, spec).await;
    env.wait_phase(Kind::V1, &name, "Running", secs(20)).await;
    wait_reason(&env, Kind::V1, &name, "StreamRunning", secs(5)).await;
    let job = env.job(&workload_name(&name, WorkloadKind::Job)).unwrap();
    assert_valid_labels(&job);
    assert_eq!(
        job["metadata"]["labels"]["owner"], "ALICE",
        "uppercase is valid and kept"
    );
    assert_eq!(job["metadata"]["labels"]["arcane/stream-kind"], "MockStreamV1");
    let full = job["metadata"]["annotations"].to_string();
    assert!(full.contains(&name), "full values kept: {full}");
    for request in env.requests() {
        assert_valid_labels(&request);
    }
    healthy_converges(&env, "b12-healthy").await;
    settled(&env).await;
    env.stop().await;
}

/// A long-running backfill template, so a test can act during the backfill.
async fn slow_backfill(env: &Env) {
    apply(
        &env.client,
        &[template_from("backfill-job", "slow-backfill", "60s", |_| {})],
    )
    .await;
}

fn slow_spec(name: &str) -> Value {
    let mut obj = stream(Kind::V1, name, false, None);
    obj["spec"]["execution"]["backfillJobTemplateRef"]["name"] = json!("slow-backfill");
    obj
}

/// Makes the slow backfill template quick again, so running backfills restart and finish.
async fn finish_backfills(env: &Env) {
    apply(
        &env.client,
        &[template_from("backfill-job", "slow-backfill", "300ms", |_| {})],
    )
    .await;
}

/// B13: a spec edit during a backfill restarts the backfill with the new spec (same request), and
/// says so in an Event; the request completes only when the restarted Job succeeds.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn b13_spec_edit_during_backfill_restarts_it() {
    watch_panics();
    let env = Env::start().await;
    slow_backfill(&env).await;
    env.create(Kind::V1, slow_spec("b13")).await;
    env.wait_phase(Kind::V1, "b13", "Backfilling", secs(15)).await;
    wait_until("the backfill Job", secs(10), || async {
        env.job("b13").is_some()
    })
    .await;
    let before = env.job("b13").unwrap();
    let request_name = before["metadata"]["annotations"]["arcane/backfill-request"].clone();
    env.patch_spec(Kind::V1, "b13", json!({"source": "edited"})).await;
    wait_until("the restarted backfill Job", secs(15), || async {
        env.job("b13").is_some_and(|j| {
            j["metadata"]["uid"] != before["metadata"]["uid"] && j["metadata"]["deletionTimestamp"].is_null()
        })
    })
    .await;
    let after = env.job("b13").unwrap();
    assert_eq!(after["metadata"]["labels"]["arcane/backfilling"], "true");
    assert_eq!(
        after["metadata"]["annotations"]["arcane/backfill-request"],
        request_name
    );
    assert!(
        after.to_string().contains("edited"),
        "the restarted backfill has the new spec"
    );
    let restarted = events(&env, "b13").into_iter().any(|e| {
        e["reason"] == "ConfigurationChanged" && e["note"].as_str().unwrap_or_default().contains("backfill")
    });
    assert!(restarted, "an Event says the backfill was restarted");
    let request = env
        .requests()
        .into_iter()
        .find(|r| r["metadata"]["name"] == request_name)
        .unwrap();
    assert_eq!(request["spec"]["completed"], false);
    env.wait_phase(Kind::V1, "b13", "Backfilling", secs(10)).await;
    finish_backfills(&env).await;
    env.wait_phase(Kind::V1, "b13", "Running", secs(25)).await;
    let request = env
        .requests()
        .into_iter()
        .find(|r| r["metadata"]["name"] == request_name)
        .unwrap();
    assert_eq!(request["spec"]["completed"], true);
    settled(&env).await;
    env.stop().await;
}

/// B14 (Arcane #299): suspending during a backfill removes the backfill Job without completing the
/// request; unsuspending resumes the same request.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn b14_suspend_during_backfill() {
    watch_panics();
    let env = Env::start().await;
    slow_backfill(&env).await;
    env.create(Kind::V1, slow_spec("b14")).await;
    env.wait_phase(Kind::V1, "b14", "Backfilling", secs(15)).await;
    wait_until("the backfill Job", secs(10), || async {
        env.job("b14").is_some()
    })
    .await;
    let request_name = env.job("b14").unwrap()["metadata"]["annotations"]["arcane/backfill-request"].clone();
    env.set_suspended(Kind::V1, "b14", true).await;
    env.wait_phase(Kind::V1, "b14", "Suspended", secs(10)).await;
    wait_until("the backfill Job to be gone", secs(10), || async {
        env.job("b14").is_none()
    })
    .await;
    let condition = wait_reason(&env, Kind::V1, "b14", "StreamSuspended", secs(5)).await;
    assert_eq!(condition["status"], "False");
    let request = env
        .requests()
        .into_iter()
        .find(|r| r["metadata"]["name"] == request_name)
        .unwrap();
    assert_eq!(
        request["spec"]["completed"], false,
        "a suspended backfill is not completed"
    );
    env.set_suspended(Kind::V1, "b14", false).await;
    env.wait_phase(Kind::V1, "b14", "Backfilling", secs(10)).await;
    wait_until("the resumed backfill Job", secs(10), || async {
        env.job("b14")
            .is_some_and(|j| j["metadata"]["annotations"]["arcane/backfill-request"] == request_name)
    })
    .await;
    finish_backfills(&env).await;
    env.wait_phase(Kind::V1, "b14", "Running", secs(25)).await;
    let request = env
        .requests()
        .into_iter()
        .find(|r| r["metadata"]["name"] == request_name)
        .unwrap();
    assert_eq!(request["spec"]["completed"], true);
    settled(&env).await;
    env.stop().await;
}

/// B10, beyond the parser: an object nested deeper than the client's JSON recursion limit (128) is
/// accepted by the API server but cannot be read by the operator at all. Decided: it is skipped
/// (no status can be written on what cannot be read) and it does not stop, nor make re-list in a
/// loop, the watch of its class.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn b10_unreadably_deep_object_does_not_stop_the_class_watch() {
    watch_panics();
    let env = Env::start().await;
    healthy_converges(&env, "b10-first").await;
    let mut deep = json!("bottom");
    for _ in 0..123 {
        deep = json!({ "n": deep });
    }
    let mut spec = stream(Kind::V1, "x", false, None)["spec"].clone();
    spec["unknown"] = deep;
    let obj = json!({
        "apiVersion": format!("{}/v1", arcane_testkit::GROUP),
        "kind": "MockStreamV1",
        "metadata": {"name": "b10-unreadable", "namespace": NS},
        "spec": spec,
    });
    let since = env.last_seq();
    // Stored, but even the test's client cannot read the reply.
    let created = try_create(&env, &Kind::V1.resource(), obj).await;
    assert!(created.is_err_and(|e| e.to_string().contains("recursion limit")));
    let gvr = kube_sandbox::Gvr::new(arcane_testkit::GROUP, "v1", "mockstreamv1s");
    assert!(
        env.sandbox
            .store()
            .get(&gvr, Some(NS), "b10-unreadable")
            .is_some()
    );
    healthy_converges(&env, "b10-second").await;
    tokio::time::sleep(secs(2)).await;
    let relists: Vec<String> = env
        .sandbox
        .requests()
        .into_iter()
        .filter(|r| r.seq > since && r.method == "GET" && r.path.ends_with("/mockstreamv1s"))
        .map(|r| format!("{}?{}", r.path, r.query))
        .collect();
    assert!(relists.is_empty(), "the class's watch re-listed: {relists:#?}");
    env.stop().await;
}
