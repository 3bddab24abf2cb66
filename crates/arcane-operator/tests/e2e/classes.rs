//! End-to-end StreamClass lifecycle scenarios (SPEC §6): classes waiting for their CRD, conflicting
//! classes, deleted and re-created classes, class spec changes, isolation between classes, and the
//! number of watch connections.

use std::collections::BTreeSet;
use std::time::Duration;

use arcane_testkit::scenario::{
    apply, class, class_api, class_state, create_stream, env_var, extra_kind, hash_of, live_job, merge_patch,
    stream_crd, stream_obj, uid_of, wait_class, wait_event, wait_stream,
};
use arcane_testkit::{Env, GROUP, Kind, secs, stream, wait_until};
use serde_json::{Value, json};

/// Watches the operator keeps whatever the number of classes: StreamClasses, Jobs, CronJobs,
/// BackfillRequests and StreamingJobTemplates (SPEC §6 "API watches are shared").
const SHARED_WATCHES: usize = 5;

/// A v1-layout stream of an extra kind (one the demo plugin does not install).
fn extra_stream(kind: &str, name: &str) -> Value {
    let mut obj = stream(Kind::V1, name, false, None);
    obj["apiVersion"] = json!(format!("{GROUP}/v1"));
    obj["kind"] = json!(kind);
    obj
}

/// A class whose stream CRD does not exist is `Pending` with `Ready=False CrdNotFound` and a Warning
/// Event, and starts by itself once the CRD is established; its streams are then reconciled
/// (SPEC §6 "starts by itself once the CRD is established"; arcane-behavior §6.1 items 1–2, §7.5).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn class_without_crd_is_pending_then_starts_by_itself() {
    let env = Env::start().await;
    apply(&env, class("mock-stream-v3", "MockStreamV3", &[])).await;
    wait_class(&env, "mock-stream-v3", "Pending", "CrdNotFound", secs(10)).await;
    assert_eq!(
        class_state(&env, "mock-stream-v3").1,
        "False",
        "Ready=False while the CRD is missing"
    );
    wait_event(&env, "mock-stream-v3", "Warning", "CrdNotFound").await;

    apply(&env, stream_crd("MockStreamV3")).await;
    let v3 = extra_kind("MockStreamV3");
    create_stream(&env, &v3, extra_stream("MockStreamV3", "late-kind")).await;
    wait_class(
        &env,
        "mock-stream-v3",
        "Ready",
        "StreamControllerStarted",
        secs(10),
    )
    .await;
    assert_eq!(class_state(&env, "mock-stream-v3").1, "True");
    wait_event(&env, "mock-stream-v3", "Normal", "StreamClassReady").await;
    wait_stream(&env, &v3, "late-kind", "Running", "StreamRunning", secs(10)).await;
    let job = live_job(&env, "late-kind").expect("the stream of the late class runs");
    assert_eq!(job["metadata"]["labels"]["arcane/stream-class"], "mock-stream-v3");
    arcane_testkit::scenario::assert_settled(&env).await;
    env.stop().await;
}

/// Two classes naming the same kind: the later one is `Failed` with reason `Conflict`; the first
/// keeps its controller, which still acts on its streams (SPEC §6 "Two classes naming the same kind").
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn later_class_for_the_same_kind_fails_with_conflict() {
    let env = Env::start().await;
    let v1 = Kind::V1.resource();
    env.create(Kind::V1, stream(Kind::V1, "steady", false, None))
        .await;
    wait_stream(&env, &v1, "steady", "Running", "StreamRunning", secs(10)).await;
    let job = live_job(&env, "steady").unwrap();
    // Creation times have a resolution of one second: make the duplicate strictly later. Its name
    // sorts first, so only the creation time can make it the loser.
    tokio::time::sleep(Duration::from_millis(1100)).await;
    apply(&env, class("a-duplicate", "MockStreamV1", &[])).await;
    wait_class(&env, "a-duplicate", "Failed", "Conflict", secs(10)).await;
    wait_event(&env, "a-duplicate", "Warning", "Conflict").await;

    assert_eq!(class_state(&env, "mock-stream-v1").0, "Ready");
    assert_eq!(class_state(&env, "mock-stream-v1").2, "StreamControllerStarted");
    let current = live_job(&env, "steady").unwrap();
    assert_eq!(
        uid_of(&current),
        uid_of(&job),
        "the first class's Job is untouched: {}",
        current["metadata"]
    );
    assert_eq!(
        env.sandbox.open_watches(),
        3 + SHARED_WATCHES,
        "a conflicting class opens no watch"
    );
    // The first class's controller still works.
    env.patch_spec(Kind::V1, "steady", json!({"source": "moved"}))
        .await;
    wait_until("the Job to be replaced", secs(10), || async {
        live_job(&env, "steady").is_some_and(|j| uid_of(&j) != uid_of(&job))
    })
    .await;
    wait_stream(&env, &v1, "steady", "Running", "StreamRunning", secs(10)).await;
    arcane_testkit::scenario::assert_settled(&env).await;
    env.stop().await;
}

/// Deleting a class stops reconciliation only: its streams, Jobs and requests stay, and a spec change
/// made meanwhile is not acted upon; re-creating the class resumes and applies the pending change
/// (SPEC §6 "Stopping a class stops reconciliation only").
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deleted_class_leaves_streams_alone_and_recreating_it_resumes() {
    let env = Env::start().await;
    let v1 = Kind::V1.resource();
    env.create(Kind::V1, stream(Kind::V1, "orphan", false, None))
        .await;
    wait_stream(&env, &v1, "orphan", "Running", "StreamRunning", secs(10)).await;
    let job = live_job(&env, "orphan").unwrap();
    let requests = env.requests();
    assert_eq!(requests.len(), 1, "the initial backfill request");

    arcane_testkit::scenario::delete(&class_api(&env), "mock-stream-v1").await;
    wait_until("the class's stream watch to close", secs(10), || async {
        env.sandbox.open_watches() == 2 + SHARED_WATCHES
    })
    .await;
    env.patch_spec(Kind::V1, "orphan", json!({"source": "while-unmanaged"}))
        .await;
    let mark = env.last_seq();
    tokio::time::sleep(secs(2)).await;
    let writes: Vec<String> = env
        .requests_since(mark)
        .iter()
        .filter(|r| r.is_write())
        .map(|r| format!("{} {}", r.method, r.path))
        .collect();
    assert!(
        writes.is_empty(),
        "a stream without a class is not reconciled: {writes:?}"
    );
    let still = live_job(&env, "orphan").expect("the Job keeps running");
    assert_eq!(uid_of(&still), uid_of(&job));
    assert!(
        !env_var(&still, "STREAMCONTEXT__SPEC")
            .unwrap()
            .contains("while-unmanaged")
    );
    assert_eq!(env.requests(), requests, "requests are left as they are");
    assert_eq!(
        stream_obj(&env, &v1, "orphan").unwrap()["status"]["phase"],
        "Running"
    );

    apply(&env, class("mock-stream-v1", "MockStreamV1", &[])).await;
    wait_class(
        &env,
        "mock-stream-v1",
        "Ready",
        "StreamControllerStarted",
        secs(10),
    )
    .await;
    wait_until("the pending change to be applied", secs(10), || async {
        live_job(&env, "orphan").is_some_and(|j| {
            uid_of(&j) != uid_of(&job)
                && env_var(&j, "STREAMCONTEXT__SPEC")
                    .unwrap()
                    .contains("while-unmanaged")
        })
    })
    .await;
    wait_stream(&env, &v1, "orphan", "Running", "StreamRunning", secs(10)).await;
    arcane_testkit::scenario::assert_settled(&env).await;
    env.stop().await;
}

/// A class spec change restarts its controller with the new settings: a new secret reference is
/// hashed, so the Job is replaced by one with the new `envFrom` (SPEC §6 "restarts the watch with the
/// new settings", §5 "Secret references", §4 configuration hash).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn class_spec_change_restarts_its_streams_with_new_settings() {
    let env = Env::start().await;
    let v1 = Kind::V1.resource();
    let mut obj = stream(Kind::V1, "secretive", false, None);
    obj["spec"]["connectionStringRef"] = json!({"name": "v1-connection"});
    env.create(Kind::V1, obj).await;
    wait_stream(&env, &v1, "secretive", "Running", "StreamRunning", secs(10)).await;
    let before = live_job(&env, "secretive").unwrap();
    assert!(
        before
            .pointer("/spec/template/spec/containers/0/envFrom")
            .is_none()
    );

    merge_patch(
        &class_api(&env),
        "mock-stream-v1",
        json!({"spec": {"secretRefs": ["connectionStringRef"]}}),
    )
    .await;
    wait_until("a Job with the new secret reference", secs(10), || async {
        live_job(&env, "secretive").is_some_and(|j| uid_of(&j) != uid_of(&before))
    })
    .await;
    wait_stream(&env, &v1, "secretive", "Running", "StreamRunning", secs(10)).await;
    let after = live_job(&env, "secretive").unwrap();
    assert_eq!(
        after["spec"]["template"]["spec"]["containers"][0]["envFrom"],
        json!([{"secretRef": {"name": "v1-connection"}}])
    );
    assert_ne!(
        hash_of(&before),
        hash_of(&after),
        "the secret names are part of the hash"
    );
    assert_eq!(class_state(&env, "mock-stream-v1").0, "Ready");
    arcane_testkit::scenario::assert_settled(&env).await;
    env.stop().await;
}

/// A broken class (its kind no longer served) leaves the streams of the other classes alone; once it
/// is fixed, its own streams converge (SPEC §6; SPEC §3 "Other streams are unaffected").
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_broken_class_does_not_affect_other_classes() {
    let env = Env::start().await;
    let broken = json!({"spec": {"kindRef": "MockStreamGone", "pluralName": "mockstreamgones"}});
    merge_patch(&class_api(&env), "mock-stream-v2", broken).await;
    wait_class(&env, "mock-stream-v2", "Pending", "CrdNotFound", secs(10)).await;

    env.create(Kind::V2, stream(Kind::V2, "waiting", false, None))
        .await;
    env.create(Kind::V0, stream(Kind::V0, "fine-v0", false, None))
        .await;
    env.create(Kind::V1, stream(Kind::V1, "fine-v1", false, None))
        .await;
    wait_stream(
        &env,
        &Kind::V0.resource(),
        "fine-v0",
        "Running",
        "StreamRunning",
        secs(10),
    )
    .await;
    wait_stream(
        &env,
        &Kind::V1.resource(),
        "fine-v1",
        "Running",
        "StreamRunning",
        secs(10),
    )
    .await;
    assert!(
        stream_obj(&env, &Kind::V2.resource(), "waiting")
            .unwrap()
            .get("status")
            .is_none(),
        "the broken class reconciles nothing"
    );

    let fixed = json!({"spec": {"kindRef": "MockStreamV2", "pluralName": "mockstreamv2s"}});
    merge_patch(&class_api(&env), "mock-stream-v2", fixed).await;
    wait_class(
        &env,
        "mock-stream-v2",
        "Ready",
        "StreamControllerStarted",
        secs(10),
    )
    .await;
    wait_stream(
        &env,
        &Kind::V2.resource(),
        "waiting",
        "Running",
        "StreamRunning",
        secs(10),
    )
    .await;
    arcane_testkit::scenario::assert_settled(&env).await;
    env.stop().await;
}

/// The watch paths of the watch requests logged since `mark`.
fn watch_paths(env: &Env, mark: u64) -> BTreeSet<String> {
    env.requests_since(mark)
        .into_iter()
        .filter(|r| r.watch)
        .map(|r| r.path)
        .collect()
}

/// One watch per class plus a constant, whatever the number of classes and streams: the open watch
/// connections and the watched paths in the request log are exactly those (SPEC §6 "API watches
/// are shared").
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn watch_connections_are_one_per_class_plus_a_constant() {
    let env = Env::start().await;
    for kind in Kind::ALL {
        for i in 0..4 {
            env.create(kind, stream(kind, &format!("quiet-{i}"), true, None))
                .await;
        }
    }
    for kind in Kind::ALL {
        wait_class(&env, kind.class(), "Ready", "StreamControllerStarted", secs(10)).await;
        for i in 0..4 {
            wait_stream(
                &env,
                &kind.resource(),
                &format!("quiet-{i}"),
                "Suspended",
                "StreamSuspended",
                secs(10),
            )
            .await;
        }
    }
    let expected = |classes: usize| classes + SHARED_WATCHES;
    wait_until("one watch per class plus the shared ones", secs(5), || async {
        env.sandbox.open_watches() == expected(3)
    })
    .await;
    let mut paths: BTreeSet<String> = [
        "/apis/streaming.sneaksanddata.com/v1/streamclasses",
        "/apis/batch/v1/jobs",
        "/apis/batch/v1/cronjobs",
        "/apis/streaming.sneaksanddata.com/v1/backfillrequests",
        "/apis/streaming.sneaksanddata.com/v1/streamingjobtemplates",
    ]
    .into_iter()
    .map(str::to_string)
    .collect();
    assert_eq!(paths.len(), SHARED_WATCHES);
    for kind in Kind::ALL {
        paths.insert(format!("/apis/{GROUP}/v1/{}", kind.resource().plural));
    }
    assert_eq!(
        watch_paths(&env, 0),
        paths,
        "the operator watches exactly these paths"
    );

    // A fourth class adds exactly one watch.
    apply(&env, stream_crd("MockStreamV3")).await;
    apply(&env, class("mock-stream-v3", "MockStreamV3", &[])).await;
    wait_class(
        &env,
        "mock-stream-v3",
        "Ready",
        "StreamControllerStarted",
        secs(10),
    )
    .await;
    wait_until("one more watch", secs(5), || async {
        env.sandbox.open_watches() == expected(4)
    })
    .await;
    paths.insert(format!("/apis/{GROUP}/v1/mockstreamv3s"));
    assert_eq!(watch_paths(&env, 0), paths);
    // Stable: no watch is re-opened in a loop.
    let mark = env.last_seq();
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert!(watch_paths(&env, mark).is_empty(), "no watch was re-opened");
    assert_eq!(env.sandbox.open_watches(), expected(4));
    arcane_testkit::scenario::assert_settled(&env).await;
    env.stop().await;
}

/// Classes that exist when the operator starts are started at once, not on the periodic re-check
/// of classes waiting for their CRD (SPEC §6 "The operator starts watching that kind when the
/// class appears"). Regression: the class controller synced on the watch's initial objects before
/// its cache held them, so existing classes waited for the 5 s re-check.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn existing_classes_start_as_soon_as_the_operator_starts() {
    let env = Env::without_operator().await;
    env.create(Kind::V0, stream(Kind::V0, "early-bird", true, None))
        .await;
    let env = env.with_operator();
    let started = tokio::time::Instant::now();
    for kind in Kind::ALL {
        wait_class(&env, kind.class(), "Ready", "StreamControllerStarted", secs(10)).await;
    }
    wait_stream(
        &env,
        &Kind::V0.resource(),
        "early-bird",
        "Suspended",
        "StreamSuspended",
        secs(10),
    )
    .await;
    let elapsed = started.elapsed();
    assert!(
        elapsed < Duration::from_secs(2),
        "classes started after {elapsed:?}"
    );
    arcane_testkit::scenario::assert_settled(&env).await;
    env.stop().await;
}
