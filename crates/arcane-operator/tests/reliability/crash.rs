//! Reliability scenarios with the operator as a child process (ecosystem-reliability §B.7 rows F6,
//! F8, F9) and crash consistency: SIGKILL at seeded random moments during a rollout, restarting each
//! time; afterwards every stream is in its target state (N1), no stream ever had two live workloads
//! (N2), no BackfillRequest completed without its Job succeeding (N3), nothing is written once
//! settled (N5), and no Secret was touched (N8).

use std::time::{Duration, Instant};

use crate::support::{JobCreations, assert_running, create_all, live_jobs_of, names, requests_of, wait_all};
use arcane_testkit::operator_binary;
use arcane_testkit::process::{Launcher, OperatorProcess};
use arcane_testkit::{Env, Kind, eventually_every, secs, stream, wait_until};
use kube_sandbox::faults::{FaultAction, FaultMatch, FaultSpec};

/// F6: the API server refuses connections for 5 s. The operator process stays up with its liveness
/// probe answering, and converges afterwards: a stream created once the API is back runs.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn f6_api_outage_keeps_the_process_alive() {
    let (env, launcher) = Launcher::with_sandbox(operator_binary!(), "f6").await;
    let mut operator = launcher.start();
    let streams = names("f6", 3);
    create_all(&env, &streams).await;
    wait_all(&env, &streams, "Running", secs(20)).await;
    env.sandbox.outage(secs(5)).unwrap();
    let down = Instant::now();
    while down.elapsed() < secs(6) {
        assert!(
            operator.alive(),
            "the operator exited during the outage; log:\n{}",
            operator.log_tail()
        );
        assert!(operator.live().await, "liveness failed during the outage");
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    // The outage starts once open connections close, so it may end a little after 6 s.
    wait_until("the API to serve again", secs(10), || async {
        env.client.apiserver_version().await.is_ok()
    })
    .await;
    assert!(
        operator.alive() && operator.live().await,
        "the operator is up after the outage"
    );
    let later = vec![(Kind::V1, "f6-after".to_string())];
    create_all(&env, &later).await;
    wait_all(&env, &later, "Running", secs(30)).await;
    assert!(operator.alive());
    for (kind, name) in streams.iter().chain(&later) {
        assert_running(&env, *kind, name).await;
    }
    env.wait_quiet(secs(1), secs(10)).await;
    env.assert_invariants_and_settled(secs(2)).await;
    drop(operator);
    env.stop().await;
}

/// F8: SIGKILL after the streaming Job's POST succeeded and before the status patch (held by a
/// delay fault): after the restart exactly one Job — the same — and the status is fixed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn f8_kill_between_job_create_and_status_patch() {
    let (env, launcher) = Launcher::with_sandbox(operator_binary!(), "f8").await;
    let (jobs, counter) = JobCreations::start(&env);
    let mut operator = launcher.start();
    env.create(Kind::V2, stream(Kind::V2, "f8", true, None)).await;
    env.wait_phase(Kind::V2, "f8", "Suspended", secs(15)).await;
    let held = env
        .sandbox
        .add_fault(FaultSpec {
            matcher: FaultMatch {
                method: Some("PATCH|PUT".into()),
                path: Some(format!("{}/status", crate::support::stream_path(Kind::V2, "f8"))),
                ..FaultMatch::default()
            },
            count: Some(1),
            probability: None,
            action: FaultAction::Delay { ms: 30_000 },
        })
        .unwrap();
    env.set_suspended(Kind::V2, "f8", false).await;
    let held = || env.sandbox.faults().iter().any(|f| f.id == held && f.hits > 0);
    eventually_every(
        "the Job's create, its status write held",
        secs(15),
        Duration::from_millis(5),
        || async {
            if !live_jobs_of(&env, "f8").is_empty() && held() {
                Ok(())
            } else {
                Err(format!("log:\n{}", operator.log_tail()))
            }
        },
    )
    .await;
    operator.kill();
    let job = live_jobs_of(&env, "f8").remove(0);
    assert_eq!(
        env.phase(Kind::V2, "f8").await.as_deref(),
        Some("Suspended"),
        "the status write was held"
    );
    env.sandbox.clear_faults();
    let restarted = launcher.start();
    env.wait_phase(Kind::V2, "f8", "Running", secs(20)).await;
    assert_running(&env, Kind::V2, "f8").await;
    assert_eq!(
        live_jobs_of(&env, "f8")[0]["metadata"]["uid"],
        job["metadata"]["uid"],
        "the Job is adopted"
    );
    assert_eq!(
        jobs.of("f8"),
        1,
        "exactly one Job created: {:?}",
        jobs.names_of("f8")
    );
    env.wait_quiet(secs(1), secs(10)).await;
    env.assert_invariants_and_settled(secs(2)).await;
    drop(restarted);
    counter.abort();
    env.stop().await;
}

/// F9: SIGTERM while dozens of streams are being started: exit 0 within 10 s; every Job created is
/// whole (labels, owner); the next start converges with no duplicate create.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn f9_sigterm_mid_rollout_exits_zero_and_restart_converges() {
    let (env, launcher) = Launcher::with_sandbox(operator_binary!(), "f9").await;
    let (jobs, counter) = JobCreations::start(&env);
    let streams = names("f9", 45);
    create_all(&env, &streams).await;
    let mut operator = launcher.start();
    wait_until("the rollout to be under way", secs(20), || async {
        jobs.all().len() >= 5
    })
    .await;
    let asked = Instant::now();
    let status = operator.terminate(secs(10)).await;
    let took = asked.elapsed();
    let status =
        status.unwrap_or_else(|| panic!("still running 10 s after SIGTERM; log:\n{}", operator.log_tail()));
    println!(
        "F9: exited {status} {took:?} after SIGTERM, {} streams had Jobs",
        jobs.all().len()
    );
    assert!(
        status.success(),
        "exit status {status}; log:\n{}",
        operator.log_tail()
    );
    for job in env
        .sandbox
        .store()
        .list(
            &kube_sandbox::Gvr::new("batch", "v1", "jobs"),
            Some(arcane_testkit::NS),
        )
        .0
    {
        let name = job["metadata"]["name"].as_str().unwrap_or_default();
        assert_eq!(
            job["metadata"]["labels"]["arcane/stream-id"], name,
            "labels of {name}"
        );
        assert_eq!(
            job["metadata"]["ownerReferences"][0]["controller"], true,
            "owner of {name}"
        );
    }
    let restarted = launcher.start();
    wait_all(&env, &streams, "Running", secs(40)).await;
    env.wait_quiet(secs(1), secs(15)).await;
    for (kind, name) in &streams {
        assert_running(&env, *kind, name).await;
        assert_eq!(
            jobs.of(name),
            2,
            "{name}: one backfill and one streaming Job: {:?}",
            jobs.names_of(name)
        );
    }
    env.assert_invariants_and_settled(secs(2)).await;
    drop(restarted);
    counter.abort();
    env.stop().await;
}

/// A small seeded generator (splitmix64): the kill moments are the same on every run.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// A duration in `[lo, hi)` milliseconds.
    fn millis(&mut self, lo: u64, hi: u64) -> Duration {
        Duration::from_millis(lo + self.next() % (hi - lo))
    }
}

/// Crash consistency: `count` unsuspended streams are created, the operator rolls them out and is
/// SIGKILLed `kills` times at seeded random moments (restarted at once each time); then it runs to
/// convergence. Checks N1 (every stream Running with its one streaming Job and its one, completed,
/// initial backfill), N2 and N3 (the monitor, over the whole run), one backfill and one streaming
/// Job created per stream, and N5 once settled.
async fn crash_rollout(
    test: &str,
    count: usize,
    kills: usize,
    window_ms: (u64, u64),
    seed: u64,
    converge: Duration,
) {
    let (env, launcher) = Launcher::with_sandbox(operator_binary!(), test).await;
    let (jobs, counter) = JobCreations::start(&env);
    // Backfills long enough for the kills to land while the rollout is under way.
    let templates: kube::Api<arcane_operator::crd::StreamingJobTemplate> =
        kube::Api::namespaced(env.client.clone(), arcane_testkit::NS);
    let slow =
        serde_json::json!({"spec": {"metadata": {"annotations": {"sandbox.arcane.dev/after": "1500ms"}}}});
    templates
        .patch(
            "backfill-job",
            &kube::api::PatchParams::default(),
            &kube::api::Patch::Merge(slow),
        )
        .await
        .expect("slow backfills");
    let streams = names(test, count);
    create_all(&env, &streams).await;
    let started = Instant::now();
    let mut rng = Rng(seed);
    let mut operator = launcher.start();
    let mut moments = Vec::new();
    for _ in 0..kills {
        let wait = rng.millis(window_ms.0, window_ms.1);
        tokio::time::sleep(wait).await;
        operator.kill();
        moments.push((wait.as_millis(), running(&env)));
        operator = launcher.start();
    }
    let killed_at = started.elapsed();
    // The kills must land during the rollout for the test to mean anything.
    let mid_rollout = moments.iter().filter(|(_, running)| *running < count).count();
    assert!(
        mid_rollout * 2 >= kills,
        "only {mid_rollout} of {kills} kills landed mid-rollout: {moments:?}"
    );
    let converged = wait_converged(&env, &streams, converge, &operator).await;
    env.wait_quiet(secs(1), secs(30)).await;
    let writes = env.sandbox.requests().iter().filter(|r| r.is_write()).count();
    println!(
        "crash {test}: {count} streams, {kills} SIGKILLs (wait ms, streams Running at the kill): {moments:?}; kills done after \
         {killed_at:?}, all Running after {converged:?}; {writes} writes in all; logs in {}",
        launcher.dir.display()
    );
    for (kind, name) in &streams {
        assert_running(&env, *kind, name).await;
        let requests = requests_of(&env, name);
        assert_eq!(
            requests.len(),
            1,
            "{name}: one initial backfill request, got {}",
            requests.len()
        );
        assert_eq!(
            jobs.of(name),
            2,
            "{name}: one backfill and one streaming Job: {:?}",
            jobs.names_of(name)
        );
    }
    env.assert_invariants_and_settled(secs(2)).await;
    drop(operator);
    counter.abort();
    env.stop().await;
}

/// Streams whose status says Running, from the store.
fn running(env: &Env) -> usize {
    Kind::ALL
        .iter()
        .map(|kind| {
            let resource = kind.resource();
            let gvr = kube_sandbox::Gvr::new(arcane_testkit::GROUP, "v1", &resource.plural);
            let (items, _) = env.sandbox.store().list(&gvr, Some(arcane_testkit::NS));
            items
                .iter()
                .filter(|s| s.pointer("/status/phase") == Some(&serde_json::json!("Running")))
                .count()
        })
        .sum()
}

/// Waits until every stream is Running; returns the time taken from the call.
async fn wait_converged(
    env: &Env,
    streams: &[(Kind, String)],
    timeout: Duration,
    operator: &OperatorProcess,
) -> Duration {
    let from = Instant::now();
    eventually_every(
        "every stream to be Running",
        timeout,
        Duration::from_millis(250),
        || async {
            let mut behind = 0;
            for (kind, name) in streams {
                if env.phase(*kind, name).await.as_deref() != Some("Running") {
                    behind += 1;
                }
            }
            if behind == 0 {
                Ok(())
            } else {
                Err(format!(
                    "{behind} not Running; operator log:\n{}",
                    operator.log_tail()
                ))
            }
        },
    )
    .await;
    from.elapsed()
}

/// The short variant, in the normal suite: 60 streams, 5 kills.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn crash_consistency_60_streams_5_kills() {
    crash_rollout("crash60", 60, 5, (100, 700), 0x5EED_0060, secs(60)).await;
}

/// The full scenario: 500 streams, 20 kills.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "long: run with cargo nextest run --run-ignored only -p arcane-operator --test reliability crash::crash_consistency_500"]
async fn crash_consistency_500_streams_20_kills() {
    crash_rollout("crash500", 500, 20, (200, 1500), 0x5EED_0500, secs(300)).await;
}
