//! End-to-end lifecycle scenarios (SPEC §4, §5): the operator in-process against the sandbox,
//! driven through the API as a user would.

use arcane_testkit::{Env, Kind, NS, secs, stream, wait_until};
use serde_json::{Value, json};

fn env_value<'a>(job: &'a Value, name: &str) -> Option<&'a Value> {
    job.pointer("/spec/template/spec/containers/0/env")?
        .as_array()?
        .iter()
        .find(|e| e["name"] == name)
}

/// A new unsuspended stream of each layout gets an initial backfill, then its streaming Job
/// (arcane-behavior §6.6 items 70 and 72, SPEC §4 "initial BackfillRequest").
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn new_streams_backfill_then_run_in_every_layout() {
    let env = Env::start().await;
    for kind in Kind::ALL {
        env.create(kind, stream(kind, &format!("new-{}", kind.class()), false, None))
            .await;
    }
    for kind in Kind::ALL {
        let name = format!("new-{}", kind.class());
        env.wait_phase(kind, &name, "Running", secs(20)).await;
        let job = env.job(&name).expect("streaming Job exists");
        assert_eq!(job["metadata"]["labels"]["arcane/backfilling"], "false");
        assert_eq!(job["metadata"]["labels"]["arcane/stream-id"], name.as_str());
        assert_eq!(job["metadata"]["labels"]["arcane/stream-class"], kind.class());
        assert_eq!(
            env_value(&job, "STREAMCONTEXT__BACKFILL").unwrap()["value"],
            "false"
        );
        assert!(env_value(&job, "STREAMCONTEXT__BACKFILL_ID").is_none());
        assert_eq!(
            env_value(&job, "STREAMCONTEXT__STREAM_KIND").unwrap()["value"],
            kind.kind()
        );
        let owner = &job["metadata"]["ownerReferences"][0];
        assert_eq!(owner["kind"], kind.kind());
        assert_eq!(owner["controller"], true);
        let requests: Vec<Value> = env
            .requests()
            .into_iter()
            .filter(|r| r["spec"]["streamId"] == name.as_str())
            .collect();
        assert_eq!(requests.len(), 1, "exactly one initial backfill for {name}");
        assert_eq!(requests[0]["spec"]["completed"], true);
        assert_eq!(requests[0]["spec"]["streamClass"], kind.class());
        let reasons: Vec<String> = env.events_for(&name).into_iter().map(|(_, r)| r).collect();
        for expected in ["StreamCreated", "BackfillStarted", "BackfillCompleted"] {
            assert!(
                reasons.iter().any(|r| r == expected),
                "{name}: no {expected} event in {reasons:?}"
            );
        }
    }
    // The secret reference of the v2 class becomes envFrom, never a value.
    let job = env.job("new-mock-stream-v2").unwrap();
    let env_from = &job["spec"]["template"]["spec"]["containers"][0]["envFrom"];
    assert_eq!(
        env_from,
        &json!([{"secretRef": {"name": "demo-source-connection"}}])
    );
    env.assert_invariants_and_settled(secs(2)).await;
    env.stop().await;
}

/// Suspension is honoured from creation: no backfill, no workload; resuming starts streaming
/// without a backfill (arcane-behavior §2.7 "stream without backfill").
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn suspended_stream_runs_nothing_until_resumed() {
    let env = Env::start().await;
    env.create(Kind::V1, stream(Kind::V1, "quiet", true, None)).await;
    env.wait_phase(Kind::V1, "quiet", "Suspended", secs(10)).await;
    assert!(env.job("quiet").is_none());
    assert!(
        env.requests().is_empty(),
        "a suspended new stream gets no initial backfill"
    );
    env.set_suspended(Kind::V1, "quiet", false).await;
    env.wait_phase(Kind::V1, "quiet", "Running", secs(10)).await;
    assert_eq!(
        env.job("quiet").unwrap()["metadata"]["labels"]["arcane/backfilling"],
        "false"
    );
    assert!(env.requests().is_empty());
    // Suspending again removes the workload.
    env.set_suspended(Kind::V1, "quiet", true).await;
    env.wait_phase(Kind::V1, "quiet", "Suspended", secs(10)).await;
    wait_until("the Job to be gone", secs(10), || async {
        env.job("quiet").is_none()
    })
    .await;
    env.assert_invariants_and_settled(secs(2)).await;
    env.stop().await;
}

/// A batch stream runs as one CronJob with `concurrencyPolicy: Forbid`, and gets no initial
/// backfill (arcane-behavior §6.2 item 16, §6.6 item 75).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cron_stream_is_scheduled() {
    let env = Env::start().await;
    env.create(Kind::V2, stream(Kind::V2, "nightly", false, Some("*/5 * * * *")))
        .await;
    env.wait_phase(Kind::V2, "nightly", "Scheduled", secs(10)).await;
    let cronjob = env.cronjob("nightly").expect("CronJob exists");
    assert_eq!(cronjob["spec"]["concurrencyPolicy"], "Forbid");
    assert_eq!(cronjob["spec"]["schedule"], "*/5 * * * *");
    let container = &cronjob["spec"]["jobTemplate"]["spec"]["template"]["spec"]["containers"][0];
    let backfill_id = container["env"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["name"] == "STREAMCONTEXT__BACKFILL_ID")
        .expect("dynamic backfill id");
    assert_eq!(
        backfill_id["valueFrom"]["fieldRef"]["fieldPath"],
        "metadata.labels['job-name']"
    );
    assert!(env.requests().is_empty());
    assert!(env.job("nightly").is_none());
    env.assert_invariants_and_settled(secs(2)).await;
    env.stop().await;
}

/// A streaming Job deleted out of band is recreated once (ecosystem-reliability F13).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deleted_job_is_recreated() {
    let env = Env::start().await;
    env.create(Kind::V0, stream(Kind::V0, "phoenix", false, None))
        .await;
    env.wait_phase(Kind::V0, "phoenix", "Running", secs(20)).await;
    let uid = env.job("phoenix").unwrap()["metadata"]["uid"].clone();
    env.delete_job("phoenix").await;
    wait_until("a new Job", secs(15), || async {
        env.job("phoenix")
            .is_some_and(|j| j["metadata"]["uid"] != uid && j["metadata"]["deletionTimestamp"].is_null())
    })
    .await;
    env.wait_phase(Kind::V0, "phoenix", "Running", secs(10)).await;
    assert_eq!(
        env.job("phoenix").unwrap()["metadata"]["labels"]["arcane/backfilling"],
        "false"
    );
    env.assert_invariants_and_settled(secs(2)).await;
    env.stop().await;
}

/// A spec change replaces the running Job with one built from the new spec (SPEC §4 "what runs is
/// what the definition says").
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn spec_change_replaces_the_job() {
    let env = Env::start().await;
    env.create(Kind::V1, stream(Kind::V1, "evolving", false, None))
        .await;
    env.wait_phase(Kind::V1, "evolving", "Running", secs(20)).await;
    let before = env.job("evolving").unwrap();
    env.patch_spec(Kind::V1, "evolving", json!({"source": "another-table"}))
        .await;
    wait_until("the replacement Job", secs(15), || async {
        env.job("evolving").is_some_and(|j| {
            j["metadata"]["uid"] != before["metadata"]["uid"] && j["metadata"]["deletionTimestamp"].is_null()
        })
    })
    .await;
    env.wait_phase(Kind::V1, "evolving", "Running", secs(10)).await;
    let after = env.job("evolving").unwrap();
    let spec = env_value(&after, "STREAMCONTEXT__SPEC").unwrap()["value"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(
        spec.contains("another-table"),
        "new Job carries the new spec: {spec}"
    );
    assert_ne!(
        before["metadata"]["annotations"]["configuration-hash"],
        after["metadata"]["annotations"]["configuration-hash"]
    );
    let status = env.get(Kind::V1, "evolving").await.unwrap();
    assert_eq!(
        status.data["status"]["configurationHash"],
        after["metadata"]["annotations"]["configuration-hash"]
    );
    env.assert_invariants_and_settled(secs(2)).await;
    env.stop().await;
}

#[allow(dead_code)]
const _: &str = NS;
