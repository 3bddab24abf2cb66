//! Bad inputs (ecosystem-reliability B.7, rows B1–B14) end to end: the operator in-process against
//! the sandbox. Every row ends with a `Ready` condition (non-empty PascalCase reason) and, for an
//! error, a Warning Event on the object concerned; a healthy stream created alongside still reaches
//! `Running`; no thread panics. Decided outcomes, where the row offers a choice, are in each test's
//! doc comment. Rows B9–B14 and the fuzz test are in `e2e/bad_rows.rs` and `e2e/fuzz.rs`.

use std::time::{Duration, Instant};

use crate::bad::*;
use arcane_operator::stream::WorkloadKind;
use arcane_operator::stream::names::workload_name;
use arcane_testkit::{Env, Kind, secs, stream, wait_until};
use serde_json::{Value, json};

fn v1_spec(template: &str, backfill: &str) -> Value {
    json!({
        "source": "t",
        "execution": {
            "layoutVersion": "v1",
            "suspended": false,
            "backfillJobTemplateRef": {"name": backfill},
            "streamingBackend": {"changeCapture": {"jobTemplateRef": {"name": template}}},
        },
    })
}

/// B1: wrong types fail with `InvalidSpec` naming the field, are not retried until they change, and
/// do not disturb the other streams of the same class (kube#774 regression). Fixing the spec
/// recovers the stream.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn b1_wrong_types_are_invalid_spec() {
    watch_panics();
    let env = Env::start().await;
    let mut v0 = stream(Kind::V0, "b1-suspended-yes", false, None)["spec"].clone();
    v0["suspended"] = json!("yes");
    let mut v1 = v1_spec("streaming-job", "backfill-job");
    v1["execution"]["streamingBackend"]["changeCapture"]["jobTemplateRef"]["name"] = json!(42);
    let mut v2 = stream(Kind::V2, "x", false, None)["spec"].clone();
    v2["execution"]["streamingBackend"] = json!("changeCapture");
    let cases = [
        (Kind::V0, "b1-suspended-yes", v0, "spec.suspended"),
        (
            Kind::V1,
            "b1-name-number",
            v1,
            "spec.execution.streamingBackend.changeCapture.jobTemplateRef.name",
        ),
        (
            Kind::V2,
            "b1-backend-string",
            v2,
            "spec.execution.streamingBackend",
        ),
    ];
    for (kind, name, spec, _) in &cases {
        create_stream(&env, *kind, name, spec.clone()).await;
    }
    healthy_converges(&env, "b1-healthy").await;
    env.create(Kind::V0, stream(Kind::V0, "b1-healthy-v0", false, None))
        .await;
    env.wait_phase(Kind::V0, "b1-healthy-v0", "Running", secs(20))
        .await;
    for (kind, name, _, field) in &cases {
        let condition = assert_rejected(&env, *kind, name, "InvalidSpec", "InvalidSpec").await;
        assert_eq!(env.phase(*kind, name).await.as_deref(), Some("Failed"));
        let message = condition["message"].as_str().unwrap();
        assert!(
            message.contains(field),
            "{name}: message {message:?} does not name {field}"
        );
        assert!(
            env.job(name).is_none(),
            "{name}: no Job for an invalid definition"
        );
        assert!(env.requests().iter().all(|r| r["spec"]["streamId"] != *name));
    }
    // Not retried until it changes: nothing is written while everything waits.
    settled(&env).await;
    env.patch_spec(Kind::V0, "b1-suspended-yes", json!({"suspended": false}))
        .await;
    env.wait_phase(Kind::V0, "b1-suspended-yes", "Running", secs(20))
        .await;
    assert_no_panic();
    env.stop().await;
}

/// B2: a missing `jobTemplateRef` / `backfillJobTemplateRef` is `InvalidSpec`; no Job, no request,
/// no retry.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn b2_missing_template_refs_are_invalid_spec() {
    watch_panics();
    let env = Env::start().await;
    let mut v0 = stream(Kind::V0, "x", false, None)["spec"].clone();
    v0.as_object_mut().unwrap().remove("backfillJobTemplateRef");
    let mut v1 = v1_spec("streaming-job", "backfill-job");
    v1["execution"]["streamingBackend"]["changeCapture"] = json!({});
    let mut v2 = stream(Kind::V2, "x", false, None)["spec"].clone();
    v2["execution"]["streamingBackend"]["changeCapture"]
        .as_object_mut()
        .unwrap()
        .remove("backfillJobTemplateRef");
    let cases = [
        (Kind::V0, "b2-no-backfill-ref", v0, "spec.backfillJobTemplateRef"),
        (
            Kind::V1,
            "b2-no-job-ref",
            v1,
            "spec.execution.streamingBackend.changeCapture.jobTemplateRef",
        ),
        (
            Kind::V2,
            "b2-v2-no-backfill-ref",
            v2,
            "spec.execution.streamingBackend.changeCapture.backfillJobTemplateRef",
        ),
    ];
    for (kind, name, spec, _) in &cases {
        create_stream(&env, *kind, name, spec.clone()).await;
    }
    for (kind, name, _, field) in &cases {
        let condition = assert_rejected(&env, *kind, name, "InvalidSpec", "InvalidSpec").await;
        let message = condition["message"].as_str().unwrap();
        assert!(
            message.contains(field),
            "{name}: {message:?} does not name {field}"
        );
        assert!(env.job(name).is_none());
    }
    healthy_converges(&env, "b2-healthy").await;
    assert!(
        env.requests()
            .iter()
            .all(|r| r["spec"]["streamId"] == "b2-healthy")
    );
    settled(&env).await;
    env.stop().await;
}

/// B3: templates that do not exist yet: `TemplateNotFound` (phase Pending) with a Warning Event, no
/// busy retry while waiting, and the stream goes on by itself as soon as each template is created.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn b3_missing_template_then_created() {
    watch_panics();
    let env = Env::start().await;
    create_stream(
        &env,
        Kind::V1,
        "b3-late",
        v1_spec("late-streaming", "late-backfill"),
    )
    .await;
    let condition = assert_rejected(&env, Kind::V1, "b3-late", "TemplateNotFound", "TemplateNotFound").await;
    assert!(
        condition["message"].as_str().unwrap().contains("late-backfill"),
        "{condition}"
    );
    assert_eq!(env.phase(Kind::V1, "b3-late").await.as_deref(), Some("Pending"));
    healthy_converges(&env, "b3-healthy").await;
    settled(&env).await;

    apply(
        &env.client,
        &[template_from("backfill-job", "late-backfill", "300ms", |_| {})],
    )
    .await;
    wait_until(
        "the backfill to run and the streaming template to be missed",
        secs(20),
        || async {
            ready_condition(&env, Kind::V1, "b3-late").await.is_some_and(|c| {
                c["reason"] == "TemplateNotFound" && c["message"].as_str().unwrap().contains("late-streaming")
            })
        },
    )
    .await;
    let request = env
        .requests()
        .into_iter()
        .find(|r| r["spec"]["streamId"] == "b3-late")
        .unwrap();
    assert_eq!(
        request["spec"]["completed"], true,
        "the initial backfill ran once its template appeared"
    );
    apply(
        &env.client,
        &[template_from("streaming-job", "late-streaming", "1s", |_| {})],
    )
    .await;
    env.wait_phase(Kind::V1, "b3-late", "Running", secs(20)).await;
    settled(&env).await;
    env.stop().await;
}

/// B4 (decided: the Job renders with the reference, the kubelet reports a missing Secret; the
/// operator never reads Secrets): a reference to a Secret that does not exist is rendered as
/// `envFrom.secretRef`; a malformed reference (not an object, invalid name, missing) is `InvalidSpec`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn b4_secret_refs_render_without_reading_secrets() {
    watch_panics();
    let env = Env::start().await;
    let with_ref = |reference: Option<Value>| {
        let mut spec = stream(Kind::V2, "x", false, None)["spec"].clone();
        match reference {
            Some(r) => spec["connectionStringRef"] = r,
            None => {
                spec.as_object_mut().unwrap().remove("connectionStringRef");
            }
        }
        spec
    };
    create_stream(
        &env,
        Kind::V2,
        "b4-missing-secret",
        with_ref(Some(json!({"name": "no-such-secret"}))),
    )
    .await;
    let malformed = [
        (
            "b4-string-ref",
            Some(json!("demo-source-connection")),
            "spec.connectionStringRef",
        ),
        (
            "b4-bad-name",
            Some(json!({"name": "Not_A_Name"})),
            "spec.connectionStringRef.name",
        ),
        ("b4-no-ref", None, "spec.connectionStringRef"),
    ];
    for (name, reference, _) in &malformed {
        create_stream(&env, Kind::V2, name, with_ref(reference.clone())).await;
    }
    env.wait_phase(Kind::V2, "b4-missing-secret", "Running", secs(20))
        .await;
    let condition = wait_reason(&env, Kind::V2, "b4-missing-secret", "StreamRunning", secs(5)).await;
    assert_eq!(condition["status"], "True");
    let job = env.job("b4-missing-secret").unwrap();
    let env_from = &job["spec"]["template"]["spec"]["containers"][0]["envFrom"];
    assert_eq!(env_from, &json!([{"secretRef": {"name": "no-such-secret"}}]));
    for (name, _, field) in &malformed {
        let condition = assert_rejected(&env, Kind::V2, name, "InvalidSpec", "InvalidSpec").await;
        assert!(
            condition["message"].as_str().unwrap().contains(field),
            "{name}: {condition}"
        );
        assert!(env.job(name).is_none());
    }
    healthy_converges(&env, "b4-healthy").await;
    // N8: no request ever went to /secrets.
    settled(&env).await;
    env.stop().await;
}

/// B5: a template whose Job the API server rejects (422, `restartPolicy: Always`): a Warning Event
/// and a condition carrying the API server's message (≤ 1 kB), creates retried with a growing
/// back-off (no hot loop); fixing the template recovers the stream.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn b5_rejected_job_is_reported_without_hot_loop() {
    watch_panics();
    let env = Env::start().await;
    let always = |doc: &mut Value| doc["spec"]["spec"]["template"]["spec"]["restartPolicy"] = json!("Always");
    apply(
        &env.client,
        &[template_from("streaming-job", "always-job", "1s", always)],
    )
    .await;
    let mut spec = v1_spec("always-job", "backfill-job");
    spec["execution"]["suspended"] = json!(true);
    create_stream(&env, Kind::V1, "b5-rejected", spec).await;
    env.wait_phase(Kind::V1, "b5-rejected", "Suspended", secs(10))
        .await;
    let since = env.last_seq();
    let started = Instant::now();
    env.set_suspended(Kind::V1, "b5-rejected", false).await;
    let note = wait_warning(&env, "b5-rejected", "FailedCreateJob", secs(10)).await;
    assert!(
        note.contains("restartPolicy"),
        "the Event carries the API server's message: {note}"
    );
    let condition = wait_reason(&env, Kind::V1, "b5-rejected", "FailedCreateJob", secs(5)).await;
    assert_eq!(condition["status"], "False");
    assert_eq!(
        env.phase(Kind::V1, "b5-rejected").await.as_deref(),
        Some("Pending")
    );
    let message = condition["message"].as_str().unwrap();
    assert!(
        message.contains("restartPolicy"),
        "the condition carries the API server's message: {condition}"
    );
    assert!(message.len() <= 1024);
    tokio::time::sleep(Duration::from_secs(3).saturating_sub(started.elapsed())).await;
    let creates: Vec<(u64, String)> = env
        .sandbox
        .requests()
        .into_iter()
        .filter(|r| r.seq > since && r.method == "POST" && r.path.ends_with("/jobs"))
        .map(|r| (r.seq, r.time.clone()))
        .collect();
    println!("b5: {} Job creates in the first 3 s: {creates:?}", creates.len());
    // 1 s doubling: at most 4 attempts in 3 s (0, 1, 3 s, and one caused by the status write).
    assert!(
        (1..=4).contains(&creates.len()),
        "Job creates in 3 s: {creates:?}"
    );
    // Growing back-off: each gap between attempts is at least the one before.
    let times: Vec<jiff::Timestamp> = creates.iter().map(|(_, t)| t.parse().unwrap()).collect();
    let gaps: Vec<i128> = times
        .windows(2)
        .map(|w| w[1].duration_since(w[0]).as_millis())
        .collect();
    assert!(
        gaps.windows(2).all(|g| g[1] >= g[0]),
        "gaps between creates (ms): {gaps:?}"
    );
    let fixed = template_from("streaming-job", "always-job", "1s", |_| {});
    apply(&env.client, &[fixed]).await;
    env.wait_phase(Kind::V1, "b5-rejected", "Running", secs(20)).await;
    healthy_converges(&env, "b5-healthy").await;
    settled(&env).await;
    env.stop().await;
}

/// B6: a 253-character stream name: the Job name is ≤ 63 characters, deterministic (the same after
/// an out-of-band delete) and unique across streams that share a long prefix; every label is valid.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn b6_names_at_limits() {
    watch_panics();
    let env = Env::start().await;
    // Dot-separated: the sandbox (unlike upstream) limits each dot-separated part to 63 characters.
    let segment = format!("{}long", "long-".repeat(11));
    let head = format!("b6.{segment}.{segment}.{segment}.{segment}.");
    let long = |last: char| format!("{head}{}{last}", "n".repeat(252 - head.len()));
    let (first, second) = (long('a'), long('b'));
    assert_eq!(first.len(), 253);
    for name in [&first, &second] {
        env.create(Kind::V1, stream(Kind::V1, name, false, None)).await;
    }
    let mut job_names = Vec::new();
    for name in [&first, &second] {
        env.wait_phase(Kind::V1, name, "Running", secs(25)).await;
        let expected = workload_name(name, WorkloadKind::Job);
        assert!(expected.len() <= 63);
        let job = env.job(&expected).expect("the Job has the shortened name");
        assert_valid_labels(&job);
        let condition = wait_reason(&env, Kind::V1, name, "StreamRunning", secs(5)).await;
        assert_eq!(condition["status"], "True");
        assert!(
            !events(&env, name).is_empty(),
            "Events are published for a 253-character name"
        );
        for request in env
            .requests()
            .iter()
            .filter(|r| r["spec"]["streamId"] == name.as_str())
        {
            assert_valid_labels(request);
        }
        job_names.push(expected);
    }
    assert_ne!(job_names[0], job_names[1]);
    let uid = env.job(&job_names[0]).unwrap()["metadata"]["uid"].clone();
    env.delete_job(&job_names[0]).await;
    wait_until("the Job recreated under the same name", secs(15), || async {
        env.job(&job_names[0])
            .is_some_and(|j| j["metadata"]["uid"] != uid && j["metadata"]["deletionTimestamp"].is_null())
    })
    .await;
    settled(&env).await;
    env.stop().await;
}

/// B7: each definition is parsed by the layout its spec names, whatever its kind; an unknown
/// `layoutVersion` is `InvalidSpec` (SPEC §3, which supersedes the table's `UnsupportedLayout`).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn b7_layouts_side_by_side() {
    watch_panics();
    let env = Env::start().await;
    for kind in Kind::ALL {
        env.create(kind, stream(kind, &format!("b7-{}", kind.class()), false, None))
            .await;
    }
    let mut unknown = v1_spec("streaming-job", "backfill-job");
    unknown["execution"]["layoutVersion"] = json!("v9");
    create_stream(&env, Kind::V1, "b7-v9", unknown).await;
    // A v1-layout definition of the v0 kind: the spec decides the layout.
    create_stream(
        &env,
        Kind::V0,
        "b7-v1-in-v0",
        v1_spec("streaming-job", "backfill-job"),
    )
    .await;
    let condition = assert_rejected(&env, Kind::V1, "b7-v9", "InvalidSpec", "InvalidSpec").await;
    let message = condition["message"].as_str().unwrap();
    assert!(
        message.contains("layoutVersion") && message.contains("v9"),
        "{message}"
    );
    for kind in Kind::ALL {
        env.wait_phase(kind, &format!("b7-{}", kind.class()), "Running", secs(25))
            .await;
    }
    env.wait_phase(Kind::V0, "b7-v1-in-v0", "Running", secs(20)).await;
    settled(&env).await;
    env.stop().await;
}

/// B8: a second class for an already managed kind is `Failed`/`Conflict`; a class naming a kind
/// that is not served is `Pending`/`CrdNotFound`; both with a Warning Event, and the first class
/// keeps working.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn b8_conflicting_and_unserved_classes() {
    watch_panics();
    let env = Env::start().await;
    healthy_converges(&env, "b8-before").await;
    // Creation timestamps have one-second resolution: make the duplicate strictly later.
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let class_doc = |name: &str, kind: &str, plural: &str| {
        json!({
            "apiVersion": format!("{ARCANE_GROUP}/v1"),
            "kind": "StreamClass",
            "metadata": {"name": name},
            "spec": {"apiGroupRef": arcane_testkit::GROUP, "apiVersion": "v1", "kindRef": kind, "pluralName": plural},
        })
    };
    apply(
        &env.client,
        &[
            class_doc("b8-duplicate", "MockStreamV1", "mockstreamv1s"),
            class_doc("b8-wrong-kind", "MockStreamV9", "mockstreamv9s"),
        ],
    )
    .await;
    for (name, phase, reason) in [
        ("b8-duplicate", "Failed", "Conflict"),
        ("b8-wrong-kind", "Pending", "CrdNotFound"),
    ] {
        wait_until(&format!("{name} to be {phase}/{reason}"), secs(15), || async {
            class(&env, name).is_some_and(|c| {
                c["status"]["phase"] == phase
                    && c["status"]["conditions"].as_array().is_some_and(|cs| {
                        cs.iter()
                            .any(|c| c["type"] == "Ready" && c["status"] == "False" && c["reason"] == reason)
                    })
            })
        })
        .await;
        wait_warning(&env, name, reason, secs(10)).await;
    }
    let first = class(&env, "mock-stream-v1").unwrap();
    assert_eq!(first["status"]["phase"], "Ready");
    healthy_converges(&env, "b8-after").await;
    // The first class still manages its streams: a spec change is acted on.
    env.patch_spec(Kind::V1, "b8-before", json!({"source": "changed"}))
        .await;
    wait_until("the first class's stream to be rebuilt", secs(15), || async {
        env.job("b8-before")
            .is_some_and(|j| j.to_string().contains("changed"))
    })
    .await;
    env.stop().await;
}
