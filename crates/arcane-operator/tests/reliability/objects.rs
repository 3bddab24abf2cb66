//! Reliability scenarios about the objects around a stream (ecosystem-reliability §B.7, rows
//! F11–F15): a StreamClass deleted under running streams, a class whose CRD appears late, a Job
//! deleted out of band, a Job failing again and again, and an Events API that refuses writes.

use arcane_operator::sandbox::{DEMO_YAML, install};
use kube::api::DeleteParams;
use serde_json::{Value, json};

use crate::support::{
    JobCreations, assert_failure_visible, assert_no_storm, assert_running, create_all, live_jobs_of, names,
    op_fault, op_requests, status, wait_all,
};
use arcane_testkit::scenario::{class, events, has_event, wait_class};
use arcane_testkit::{Env, GROUP, Kind, NS, secs, stream, wait_until};

/// Applies documents with the test's client (server-side apply, as `kubectl apply` would).
async fn apply(env: &Env, docs: &[Value]) {
    install::apply_documents(&env.client, docs).await.expect("apply");
}

/// The demo's MockStreamV1 CRD renamed to a kind the demo does not install.
fn extra_crd(kind: &str) -> Value {
    let plural = format!("{}s", kind.to_lowercase());
    let mut crd = install::parse_documents(DEMO_YAML)
        .expect("demo parses")
        .into_iter()
        .find(|d| d["kind"] == "CustomResourceDefinition" && d["spec"]["names"]["kind"] == "MockStreamV1")
        .expect("the demo has a MockStreamV1 CRD");
    crd["metadata"]["name"] = json!(format!("{plural}.{GROUP}"));
    crd["spec"]["names"] = json!({"kind": kind, "plural": plural, "singular": kind.to_lowercase(), "listKind": format!("{kind}List")});
    crd
}

/// F11: a StreamClass is deleted while its streams run. Its stream watch closes and the operator
/// sends no more requests for that kind; Jobs are kept; the other classes keep working.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn f11_deleted_class_stops_its_watch_only() {
    let env = crate::support::start().await;
    let streams = names("f11", 6);
    create_all(&env, &streams).await;
    wait_all(&env, &streams, "Running", secs(20)).await;
    let v1_streams: Vec<&String> = streams
        .iter()
        .filter(|(k, _)| *k == Kind::V1)
        .map(|(_, n)| n)
        .collect();
    let v1_jobs: Vec<Value> = v1_streams
        .iter()
        .map(|n| live_jobs_of(&env, n)[0]["metadata"]["uid"].clone())
        .collect();
    let watches = env.sandbox.open_watches();
    let api: kube::Api<kube::api::DynamicObject> = kube::Api::all_with(
        env.client.clone(),
        &kube::api::ApiResource::from_gvk_with_plural(
            &kube::core::GroupVersionKind::gvk("streaming.sneaksanddata.com", "v1", "StreamClass"),
            "streamclasses",
        ),
    );
    api.delete(Kind::V1.class(), &DeleteParams::default())
        .await
        .expect("delete class");
    wait_until("the class's stream watch to close", secs(10), || async {
        env.sandbox.open_watches() == watches - 1
    })
    .await;
    let since = env.last_seq();
    // Changes the deleted class would have acted on, and one for a class still there.
    env.patch_spec(Kind::V1, v1_streams[0], json!({"source": "unmanaged-edit"}))
        .await;
    let (v0_kind, v0_name) = streams.iter().find(|(k, _)| *k == Kind::V0).cloned().unwrap();
    let v0_before = live_jobs_of(&env, &v0_name)[0]["metadata"]["uid"].clone();
    env.patch_spec(v0_kind, &v0_name, json!({"source": "managed-edit"}))
        .await;
    wait_until("the other class's edit to roll out", secs(15), || async {
        live_jobs_of(&env, &v0_name)
            .first()
            .is_some_and(|j| j["metadata"]["uid"] != v0_before)
    })
    .await;
    env.wait_phase(v0_kind, &v0_name, "Running", secs(10)).await;
    tokio::time::sleep(secs(1)).await;
    let v1_requests: Vec<String> = op_requests(&env, since)
        .into_iter()
        .filter(|r| r.path.contains("/mockstreamv1s"))
        .map(|r| format!("{} {}", r.method, r.path))
        .collect();
    assert!(
        v1_requests.is_empty(),
        "requests for the deleted class's kind: {v1_requests:?}"
    );
    let kept: Vec<Value> = v1_streams
        .iter()
        .map(|n| live_jobs_of(&env, n)[0]["metadata"]["uid"].clone())
        .collect();
    assert_eq!(kept, v1_jobs, "the deleted class's Jobs are kept as they were");
    env.assert_invariants_and_settled(secs(2)).await;
    env.stop().await;
}

/// F12: a class names a CRD that does not exist: `CrdNotFound` with a Warning Event; once the CRD
/// is created the class is Ready within 10 s and its streams run.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn f12_class_waits_for_its_crd() {
    let env = crate::support::start().await;
    apply(&env, &[class("mock-stream-v9", "MockStreamV9", &[])]).await;
    wait_class(&env, "mock-stream-v9", "Pending", "CrdNotFound", secs(10)).await;
    // The Event is posted after the status write waited for above.
    wait_until("a Warning CrdNotFound Event", secs(10), || async {
        has_event(&env, "mock-stream-v9", "Warning", "CrdNotFound")
    })
    .await;
    apply(&env, &[extra_crd("MockStreamV9")]).await;
    wait_class(
        &env,
        "mock-stream-v9",
        "Ready",
        "StreamControllerStarted",
        secs(10),
    )
    .await;
    let resource = kube::api::ApiResource::from_gvk_with_plural(
        &kube::core::GroupVersionKind::gvk(GROUP, "v1", "MockStreamV9"),
        "mockstreamv9s",
    );
    let api: kube::Api<kube::api::DynamicObject> =
        kube::Api::namespaced_with(env.client.clone(), NS, &resource);
    let mut obj = stream(Kind::V1, "late", false, None);
    obj["kind"] = json!("MockStreamV9");
    let obj: kube::api::DynamicObject = serde_json::from_value(obj).unwrap();
    api.create(&Default::default(), &obj)
        .await
        .expect("create stream of the late kind");
    wait_until("the late kind's stream to run", secs(20), || async {
        api.get_opt("late")
            .await
            .ok()
            .flatten()
            .and_then(|o| o.data.pointer("/status/phase").cloned())
            == Some(json!("Running"))
    })
    .await;
    assert_eq!(live_jobs_of(&env, "late").len(), 1);
    env.assert_invariants_and_settled(secs(2)).await;
    env.stop().await;
}

/// F13: a streaming Job deleted out of band is recreated exactly once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn f13_job_deleted_out_of_band_is_recreated_once() {
    let env = crate::support::start().await;
    let (jobs, counter) = JobCreations::start(&env);
    let streams = names("f13", 3);
    create_all(&env, &streams).await;
    wait_all(&env, &streams, "Running", secs(20)).await;
    let (kind, name) = streams[2].clone();
    let job = live_jobs_of(&env, &name).remove(0);
    let created = jobs.of(&name);
    env.delete_job(job["metadata"]["name"].as_str().unwrap()).await;
    wait_until("the Job to be recreated", secs(15), || async {
        live_jobs_of(&env, &name)
            .first()
            .is_some_and(|j| j["metadata"]["uid"] != job["metadata"]["uid"])
    })
    .await;
    env.wait_phase(kind, &name, "Running", secs(10)).await;
    env.assert_invariants_and_settled(secs(2)).await;
    assert_eq!(jobs.of(&name), created + 1, "recreated once");
    for (kind, name) in &streams {
        assert_running(&env, *kind, name).await;
    }
    counter.abort();
    env.stop().await;
}

/// F14: a stream whose Job fails every time: Failed with `CrashLoopDetected` (condition and Warning
/// Event), one create per failure — the operator waits for the user (suspend/resume) rather than
/// restarting it in a loop.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn f14_failing_job_is_not_hot_looped() {
    let env = crate::support::start().await;
    let (jobs, counter) = JobCreations::start(&env);
    let mut template = install::parse_documents(DEMO_YAML)
        .expect("demo parses")
        .into_iter()
        .find(|d| d["kind"] == "StreamingJobTemplate" && d["metadata"]["name"] == "streaming-job")
        .expect("demo streaming template");
    template["metadata"]["name"] = json!("failing-job");
    template["spec"]["metadata"]["annotations"]["sandbox.arcane.dev/outcome"] = json!("Fail");
    template["spec"]["metadata"]["annotations"]["sandbox.arcane.dev/after"] = json!("300ms");
    apply(&env, &[template]).await;
    let mut obj = stream(Kind::V1, "f14", true, None);
    obj["spec"]["execution"]["streamingBackend"]["changeCapture"]["jobTemplateRef"]["name"] =
        json!("failing-job");
    env.create(Kind::V1, obj).await;
    env.wait_phase(Kind::V1, "f14", "Suspended", secs(10)).await;
    let failures = 3;
    for round in 1..=failures {
        env.set_suspended(Kind::V1, "f14", false).await;
        env.wait_phase(Kind::V1, "f14", "Failed", secs(15)).await;
        assert_failure_visible(&env, Kind::V1, "f14", "CrashLoopDetected", "CrashLoopDetected").await;
        // Failed stays Failed: no new Job while nobody touches the stream.
        let since = env.last_seq();
        tokio::time::sleep(secs(2)).await;
        let writes: Vec<String> = op_requests(&env, since)
            .into_iter()
            .filter(|r| r.is_write() && !r.path.contains("/events"))
            .map(|r| format!("{} {}", r.method, r.path))
            .collect();
        assert!(
            writes.is_empty(),
            "round {round}: a failed stream is left alone: {writes:?}"
        );
        assert_eq!(jobs.of("f14"), round, "one create per failure");
        env.set_suspended(Kind::V1, "f14", true).await;
        env.wait_phase(Kind::V1, "f14", "Suspended", secs(10)).await;
        wait_until("the failed Job to be removed", secs(10), || async {
            live_jobs_of(&env, "f14").is_empty()
        })
        .await;
    }
    assert_eq!(jobs.of("f14"), failures);
    env.assert_invariants_and_settled(secs(2)).await;
    counter.abort();
    env.stop().await;
}

/// F15: the Events API answers 403 to the operator. Reconciles still succeed, and the refused
/// Events are not retried in a storm (the system settles).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn f15_forbidden_events_do_not_block_reconciles() {
    let env = crate::support::start().await;
    let (jobs, counter) = JobCreations::start(&env);
    env.sandbox
        .add_fault(op_fault(
            Some("write"),
            Some("/apis/events.k8s.io/**"),
            None,
            status(403, None),
        ))
        .unwrap();
    env.sandbox
        .add_fault(op_fault(
            Some("write"),
            Some("/api/v1/namespaces/*/events**"),
            None,
            status(403, None),
        ))
        .unwrap();
    let since = env.last_seq();
    let streams = names("f15", 6);
    create_all(&env, &streams).await;
    wait_all(&env, &streams, "Running", secs(20)).await;
    for (kind, name) in &streams {
        assert_running(&env, *kind, name).await;
        assert_eq!(
            jobs.of(name),
            2,
            "{name}: a backfill and a streaming Job, no more: {:?}",
            jobs.names_of(name)
        );
    }
    let requests = op_requests(&env, since);
    let refused = requests.iter().filter(|r| r.status == 403).count();
    assert!(refused > 0, "the operator tried to publish Events");
    assert!(events(&env, &streams[0].1).is_empty(), "no Event got through");
    println!(
        "F15: {refused} Event writes refused for {} streams",
        streams.len()
    );
    // Each stream publishes a handful of Events on its way to Running; a retry loop would make dozens.
    assert!(
        refused <= streams.len() * 8,
        "{refused} refused Event writes: a retry storm"
    );
    assert_no_storm(&requests, "F15");
    env.assert_invariants_and_settled(secs(2)).await;
    counter.abort();
    env.stop().await;
}
