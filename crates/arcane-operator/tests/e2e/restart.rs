//! The operator as a separate process (`arcane-operator run --kubeconfig …`) against a sandbox in the
//! test process, killed and restarted: a restart makes no write once everything is listed (N5, L3 in
//! small), a SIGKILL between a Job create and its status write leaves exactly one Job and a correct
//! status after the restart (ecosystem-reliability F8), and SIGTERM exits 0 promptly (SPEC §7).

use std::time::{Duration, Instant};

use crate::bad::{apply, template_from};
use arcane_testkit::operator_binary;
use arcane_testkit::process::{Launcher, OperatorProcess};
use arcane_testkit::{Env, Kind, eventually, eventually_every, secs, stream, wait_until};
use kube_sandbox::faults::{FaultAction, FaultMatch, FaultSpec};
use serde_json::Value;

/// Resources whose watch the operator opens once their initial list is done.
const WATCHED: [&str; 8] = [
    "/jobs",
    "/cronjobs",
    "/backfillrequests",
    "/streamingjobtemplates",
    "/streamclasses",
    "/mockstreamv0s",
    "/mockstreamv1s",
    "/mockstreamv2s",
];

/// Waits until, after request `since`, every watched resource has a watch open: the operator has
/// listed everything.
async fn wait_listed(env: &Env, since: u64, operator: &OperatorProcess) {
    eventually("the operator to list everything", secs(15), || async {
        let requests = env.requests_since(since);
        let missing: Vec<&str> = WATCHED
            .iter()
            .copied()
            .filter(|resource| !requests.iter().any(|r| r.watch && r.path.ends_with(resource)))
            .collect();
        if missing.is_empty() {
            Ok(())
        } else {
            Err(format!(
                "not listed: {missing:?}; its log:\n{}",
                operator.log_tail()
            ))
        }
    })
    .await;
}

fn writes_since(env: &Env, since: u64) -> Vec<String> {
    env.sandbox
        .requests()
        .into_iter()
        .filter(|r| r.seq > since && r.is_write())
        .map(|r| {
            format!(
                "{} {}?{} -> {} ({})",
                r.method, r.path, r.query, r.status, r.user_agent
            )
        })
        .collect()
}

fn names(count: usize) -> Vec<(Kind, String)> {
    (0..count)
        .map(|i| {
            let kind = Kind::ALL[i % 3];
            (kind, format!("restart-{i}"))
        })
        .collect()
}

async fn all_running(env: &Env, streams: &[(Kind, String)]) -> bool {
    for (kind, name) in streams {
        if env.phase(*kind, name).await.as_deref() != Some("Running") {
            return false;
        }
    }
    true
}

fn job_uids(env: &Env, streams: &[(Kind, String)]) -> Vec<Value> {
    streams
        .iter()
        .map(|(_, name)| {
            env.job(name)
                .map_or(Value::Null, |j| j["metadata"]["uid"].clone())
        })
        .collect()
}

/// 20 converged streams; SIGKILL; restart: after listing, the operator writes nothing at all, and
/// every stream keeps its Job and its phase.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn restart_of_a_converged_operator_writes_nothing() {
    let (env, launcher) = Launcher::with_sandbox(operator_binary!(), "quiet-restart").await;
    let mut operator = launcher.start();
    let streams = names(20);
    for (kind, name) in &streams {
        env.create(*kind, stream(*kind, name, false, None)).await;
    }
    wait_until("20 streams running", secs(30), || all_running(&env, &streams)).await;
    // Let in-flight status writes and Events land before the kill.
    // Converged means settled: stale-cache reconciles may still publish an Event or two.
    env.wait_quiet(secs(1), secs(10)).await;
    env.assert_invariants();
    let jobs_before = job_uids(&env, &streams);
    assert!(jobs_before.iter().all(|uid| !uid.is_null()));
    operator.kill();

    let since = env.last_seq();
    let restarted = launcher.start();
    wait_listed(&env, since, &restarted).await;
    // Each stream was reconciled from the fresh caches meanwhile; give stragglers time to act.
    tokio::time::sleep(secs(3)).await;
    let writes = writes_since(&env, since);
    assert!(
        writes.is_empty(),
        "the restarted operator wrote: {writes:#?}\nits log:\n{}",
        restarted.log_tail()
    );
    assert!(all_running(&env, &streams).await);
    assert_eq!(job_uids(&env, &streams), jobs_before, "no Job was replaced");
    env.assert_invariants();
    drop(restarted);
    env.stop().await;
}

/// Restart while a backfill runs, with the shared caches listed late (the sandbox delays the first
/// list of BackfillRequests and of Jobs): the stream controllers must not decide from caches that
/// have not finished their initial list — an unlisted request would make the running backfill Job
/// look orphaned and be deleted, an unlisted Job would be created again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn restart_with_slow_cache_lists_keeps_the_backfill() {
    let (env, launcher) = Launcher::with_sandbox(operator_binary!(), "slow-lists").await;
    apply(
        &env.client,
        &[template_from("backfill-job", "slow-backfill", "60s", |_| {})],
    )
    .await;
    let mut operator = launcher.start();
    let mut backfilling = stream(Kind::V1, "slow-lists", false, None);
    backfilling["spec"]["execution"]["backfillJobTemplateRef"]["name"] = "slow-backfill".into();
    env.create(Kind::V1, backfilling).await;
    env.create(Kind::V0, stream(Kind::V0, "slow-lists-running", false, None))
        .await;
    env.wait_phase(Kind::V1, "slow-lists", "Backfilling", secs(15))
        .await;
    env.wait_phase(Kind::V0, "slow-lists-running", "Running", secs(15))
        .await;
    env.wait_quiet(secs(1), secs(10)).await;
    let backfill_job = env.job("slow-lists").expect("backfill Job")["metadata"]["uid"].clone();
    let streaming_job = env.job("slow-lists-running").expect("Job")["metadata"]["uid"].clone();
    operator.kill();

    for path in [
        "/apis/streaming.sneaksanddata.com/v1/backfillrequests",
        "/apis/batch/v1/jobs",
    ] {
        let slow_list = FaultSpec {
            matcher: FaultMatch {
                method: Some("GET".into()),
                path: Some(path.into()),
                watch: Some(false),
                ..FaultMatch::default()
            },
            count: Some(1),
            probability: None,
            action: FaultAction::Delay { ms: 1500 },
        };
        env.sandbox.add_fault(slow_list).expect("fault installed");
    }
    let since = env.last_seq();
    let restarted = launcher.start();
    wait_listed(&env, since, &restarted).await;
    tokio::time::sleep(secs(2)).await;
    let writes = writes_since(&env, since);
    assert!(
        writes.is_empty(),
        "the restarted operator wrote: {writes:#?}\nits log:\n{}",
        restarted.log_tail()
    );
    assert_eq!(
        env.job("slow-lists").map(|j| j["metadata"]["uid"].clone()),
        Some(backfill_job)
    );
    assert_eq!(
        env.job("slow-lists-running")
            .map(|j| j["metadata"]["uid"].clone()),
        Some(streaming_job)
    );
    env.assert_invariants();
    drop(restarted);
    env.stop().await;
}

/// F8: the operator is killed after its Job create succeeded and before the status patch landed
/// (the patch is held by the sandbox); the restarted operator adopts that Job — exactly one Job, the
/// same one — and writes the correct status.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_between_job_create_and_status_write() {
    let (env, launcher) = Launcher::with_sandbox(operator_binary!(), "f8").await;
    let mut operator = launcher.start();
    env.create(Kind::V1, stream(Kind::V1, "f8", true, None)).await;
    env.wait_phase(Kind::V1, "f8", "Suspended", secs(15)).await;
    // Hold the next status write of the stream long enough for the kill to come first.
    let rule = env
        .sandbox
        .add_fault(FaultSpec {
            matcher: FaultMatch {
                method: Some("PATCH".into()),
                path: Some(
                    "/apis/streaming.demo.arcane.dev/v1/namespaces/default/mockstreamv1s/f8/status".into(),
                ),
                ..FaultMatch::default()
            },
            count: Some(1),
            probability: None,
            action: FaultAction::Delay { ms: 30_000 },
        })
        .expect("fault installed");
    env.set_suspended(Kind::V1, "f8", false).await;
    // The Job exists and the status write that follows its create is being held: kill now.
    let held = || env.sandbox.faults().iter().any(|f| f.id == rule && f.hits > 0);
    eventually_every(
        "the Job's create, its status write held",
        secs(15),
        Duration::from_millis(5),
        || async {
            if env.job("f8").is_some() && held() {
                Ok(())
            } else {
                Err(format!("log:\n{}", operator.log_tail()))
            }
        },
    )
    .await;
    operator.kill();
    let job = env.job("f8").unwrap();
    assert_eq!(
        env.phase(Kind::V1, "f8").await.as_deref(),
        Some("Suspended"),
        "the status write was held back"
    );

    let restarted = launcher.start();
    env.wait_phase(Kind::V1, "f8", "Running", secs(20)).await;
    let jobs = env
        .sandbox
        .store()
        .list(
            &kube_sandbox::Gvr::new("batch", "v1", "jobs"),
            Some(arcane_testkit::NS),
        )
        .0
        .into_iter()
        .filter(|j| j["metadata"]["labels"]["arcane/stream-id"] == "f8")
        .count();
    assert_eq!(jobs, 1, "exactly one Job for the stream");
    let now = env.job("f8").unwrap();
    assert_eq!(
        now["metadata"]["uid"], job["metadata"]["uid"],
        "the Job created before the kill is kept"
    );
    let status = env.get(Kind::V1, "f8").await.unwrap().data["status"].clone();
    assert_eq!(
        status["configurationHash"],
        now["metadata"]["annotations"]["configuration-hash"]
    );
    let ready = status["conditions"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["type"] == "Ready")
        .unwrap()
        .clone();
    assert_eq!(
        (ready["status"].as_str(), ready["reason"].as_str()),
        (Some("True"), Some("StreamRunning"))
    );
    env.assert_invariants();
    drop(restarted);
    env.stop().await;
}

/// SIGTERM: the operator stops taking work and exits 0 within 10 s.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_exits_zero_promptly() {
    let (env, launcher) = Launcher::with_sandbox(operator_binary!(), "sigterm").await;
    let since = env.last_seq();
    let mut operator = launcher.start();
    wait_listed(&env, since, &operator).await;
    for i in 0..5 {
        env.create(Kind::V0, stream(Kind::V0, &format!("term-{i}"), false, None))
            .await;
    }
    env.wait_phase(Kind::V0, "term-0", "Backfilling", secs(15)).await;
    // Mid-work: the other streams are still being started.
    let started = Instant::now();
    let status = operator.terminate(secs(10)).await;
    let took = started.elapsed();
    let status =
        status.unwrap_or_else(|| panic!("still running 10 s after SIGTERM; log:\n{}", operator.log_tail()));
    println!("sigterm: exited {status} after {took:?}");
    assert!(
        status.success(),
        "exit status {status}; log:\n{}",
        operator.log_tail()
    );
    env.assert_invariants();
    env.stop().await;
}
