//! Reliability scenarios under API faults (ecosystem-reliability §B.7, rows F1–F7 and F16; F11–F15
//! are in `reliability/objects.rs`): the operator in-process against the sandbox, with faults
//! injected into the operator's requests only. Every scenario ends with the invariants checked from
//! the API state and the request log: N1 (desired state), N2 and N3 (the testkit's monitor), N4 (a
//! deleted stream's Jobs and requests are collected), N5 (no write once settled), N8 (no /secrets).
//!
//! Not here: F10 (two replicas, leader killed) and F17 (RBAC sufficiency) are covered by
//! the `production` tier (`leader_failover_after_sigkill_with_no_writes_from_the_standby`,
//! `chart_rbac_covers_exactly_what_the_operator_uses`); F18 (clock skew ±10 s between two replicas)
//! by `tests/production/skew.rs` and the paused-clock tests in `src/leader/tests/skew.rs`. F6, F8
//! and F9 need the operator as a process: `crash.rs`.

use std::collections::HashMap;
use std::time::Duration;

use crate::support::{
    JobCreations, assert_delete_not_lost, assert_no_storm, assert_running, create_all, live_jobs_of, names,
    op_fault, op_requests, requests_of, status, wait_all,
};
use arcane_testkit::{Kind, secs, wait_until};
use kube_sandbox::faults::{FaultAction, FaultMatch};
use serde_json::json;

/// Every stream Running with its one streaming Job; one backfill and then one streaming Job created
/// per stream, ever (no duplicate create, no streaming ahead of the initial backfill).
async fn assert_converged_once(env: &arcane_testkit::Env, streams: &[(Kind, String)], jobs: &JobCreations) {
    for (kind, name) in streams {
        assert_running(env, *kind, name).await;
        let created = jobs.names_of(name);
        assert!(
            created.first().is_some_and(|j| j.contains("(backfill)")),
            "{name}: the initial backfill runs first: {created:?}"
        );
        assert_eq!(
            jobs.of(name),
            2,
            "{name}: one backfill Job and one streaming Job created: {:?}",
            jobs.names_of(name)
        );
    }
}

/// F1: 500 on ~20 % of the operator's writes for 6 s while streams start. Everything converges
/// after; failed reconciles back off per object (no storm on any object path).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn f1_server_errors_on_a_fifth_of_writes() {
    let env = crate::support::start().await;
    let (jobs, counter) = JobCreations::start(&env);
    let streams = names("f1", 6);
    let since = env.last_seq();
    env.sandbox
        .add_fault(op_fault(Some("write"), None, Some(0.2), status(500, None)))
        .unwrap();
    create_all(&env, &streams).await;
    let (hits, _) = keep_faults_until_hit(&env, since, 500, 1, secs(6)).await;
    println!("F1: {hits} writes answered 500");
    wait_all(&env, &streams, "Running", secs(25)).await;
    assert_converged_once(&env, &streams, &jobs).await;
    assert_no_storm(&op_requests(&env, since), "F1");
    env.assert_invariants_and_settled(secs(2)).await;
    assert_delete_not_lost(&env, streams[0].0, &streams[0].1, secs(10)).await;
    counter.abort();
    env.stop().await;
}

/// Keeps the injected faults for `window`, and beyond it until the operator has met at least
/// `min` answers with `code` (bounded), then clears them; returns how many it met and how long
/// the faults were on. A fixed window alone can end on a loaded machine before the operator made
/// the requests the fault targets.
async fn keep_faults_until_hit(
    env: &arcane_testkit::Env,
    since: u64,
    code: u16,
    min: usize,
    window: Duration,
) -> (usize, Duration) {
    let hits = || {
        op_requests(env, since)
            .iter()
            .filter(|r| r.status == code)
            .count()
    };
    let started = tokio::time::Instant::now();
    wait_until(
        &format!("{min} operator requests answered {code}"),
        window + secs(30),
        || async { started.elapsed() >= window && hits() >= min },
    )
    .await;
    env.sandbox.clear_faults();
    (hits(), started.elapsed())
}

/// Gaps between a 429 answer and the next request to the same path and query (a list's label
/// selector names one stream); watches by path alone (their resourceVersion moves on). Creates
/// (POST to a collection) are left out: the log does not name the object created, and two
/// different objects posted one after the other (two Events of two reconciles) are not a retry. The
/// client's one retry policy covers them as it covers the requests checked here.
fn retry_gaps(records: &[kube_sandbox::requestlog::RequestRecord]) -> Vec<(String, f64)> {
    let at = |r: &kube_sandbox::requestlog::RequestRecord| -> f64 {
        r.time
            .parse::<jiff::Timestamp>()
            .map_or(0.0, |t| t.as_millisecond() as f64 / 1000.0)
    };
    let mut last_429: HashMap<(String, String, bool), f64> = HashMap::new();
    let mut gaps = Vec::new();
    for r in records.iter().filter(|r| r.method != "POST") {
        let query = if r.watch { String::new() } else { r.query.clone() };
        let key = (r.path.clone(), query, r.watch);
        if let Some(t) = last_429.remove(&key) {
            let watch = if r.watch { " (watch)" } else { "" };
            gaps.push((format!("{} {}?{}{watch}", r.method, r.path, key.1), at(r) - t));
        }
        if r.status == 429 {
            last_429.insert(key.clone(), at(r));
        }
    }
    gaps
}

/// F2: 429 with `Retry-After: 2` on every request of the operator for 4 s while streams are
/// created. No request is repeated before Retry-After elapses (kube 5's client retries 429/503/504
/// itself with `RetryPolicy::server_retry()`, honouring Retry-After, since `Config::default_retry`
/// is on), no storm, and everything converges after.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn f2_throttled_with_retry_after() {
    let env = crate::support::start().await;
    let (jobs, counter) = JobCreations::start(&env);
    let early = names("f2-early", 3);
    create_all(&env, &early).await;
    wait_all(&env, &early, "Running", secs(20)).await;
    let streams = names("f2", 3);
    let since = env.last_seq();
    env.sandbox
        .add_fault(op_fault(None, None, None, status(429, Some(2))))
        .unwrap();
    create_all(&env, &streams).await;
    let (throttled, held) = keep_faults_until_hit(&env, since, 429, 1, secs(4)).await;
    wait_all(&env, &streams, "Running", secs(25)).await;
    let all = op_requests(&env, since);
    let gaps = retry_gaps(&all);
    let early_retries: Vec<&(String, f64)> = gaps.iter().filter(|(_, gap)| *gap < 2.0).collect();
    println!(
        "F2: {throttled} requests answered 429; {} retried, {} of them before Retry-After (2 s) elapsed: {:?}; \
         all retry gaps: {gaps:?}",
        gaps.len(),
        early_retries.len(),
        &early_retries[..early_retries.len().min(8)]
    );
    assert!(!gaps.is_empty(), "throttled requests were retried");
    assert!(
        early_retries.is_empty(),
        "retried before Retry-After elapsed: {early_retries:?}"
    );
    assert_no_storm(&all, "F2");
    let watch_storm = all.iter().filter(|r| r.watch && r.status == 429).count();
    // At most 5 tries of each of the 8 watches per 4 s of throttling.
    let limit = 8 * (5.0 * held.as_secs_f64() / 4.0).ceil() as usize;
    assert!(
        watch_storm <= limit,
        "watches re-tried {watch_storm} times in {held:?}"
    );
    assert_converged_once(&env, &streams, &jobs).await;
    for (kind, name) in &early {
        assert_running(&env, *kind, name).await;
    }
    env.assert_invariants_and_settled(secs(2)).await;
    counter.abort();
    env.stop().await;
}

/// F3: 409 Conflict on half the status patches and AlreadyExists on the first Job creates (the Job
/// was not made). No duplicate Job; status converges.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn f3_conflicts_on_status_and_job_create() {
    let env = crate::support::start().await;
    let (jobs, counter) = JobCreations::start(&env);
    let streams = names("f3", 6);
    let since = env.last_seq();
    let mut already = op_fault(
        Some("POST"),
        Some("/apis/batch/v1/namespaces/*/jobs"),
        None,
        status(409, None),
    );
    already.count = Some(4);
    env.sandbox.add_fault(already).unwrap();
    env.sandbox
        .add_fault(op_fault(
            Some("PATCH|PUT"),
            Some("/apis/**/status"),
            Some(0.5),
            status(409, None),
        ))
        .unwrap();
    create_all(&env, &streams).await;
    keep_faults_until_hit(&env, since, 409, 4, secs(5)).await;
    // A stream refused several times in a row waits out its back-off (1, 2, 4, 8 s …) first; on
    // a loaded machine the last retry can come well after the faults end.
    wait_all(&env, &streams, "Running", secs(40)).await;
    assert_converged_once(&env, &streams, &jobs).await;
    assert_no_storm(&op_requests(&env, since), "F3");
    env.assert_invariants_and_settled(secs(2)).await;
    counter.abort();
    env.stop().await;
}

/// F17: the operator's BackfillRequests watch is down (dropped, re-watches refused) when a stream
/// is created, so the initial request the operator creates stays out of its cache for longer than a
/// reconcile waits for its own writes, while the stream's status write triggers the next reconcile.
/// The stream still backfills before it streams (the created request is expected,
/// `controller/memory.rs`): one backfill Job, then one streaming Job.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn f17_stream_created_while_the_requests_watch_is_down_backfills_first() {
    let env = crate::support::start().await;
    let (jobs, counter) = JobCreations::start(&env);
    let warm = names("f17-warm", 1);
    create_all(&env, &warm).await;
    wait_all(&env, &warm, "Running", secs(20)).await;
    let path = "/apis/**/backfillrequests";
    let mut refuse = op_fault(None, Some(path), None, status(503, None));
    refuse.matcher.watch = Some(true);
    let watches = refuse.matcher.clone();
    env.sandbox.add_fault(refuse).unwrap();
    env.sandbox.drop_watches(watches).unwrap();
    let streams = vec![(Kind::V1, "f17".to_string())];
    create_all(&env, &streams).await;
    wait_until("the initial BackfillRequest to be created", secs(20), || async {
        !requests_of(&env, "f17").is_empty()
    })
    .await;
    // The outage outlasts a reconcile's wait for its own writes (2 s) by a margin.
    tokio::time::sleep(secs(5)).await;
    env.sandbox.clear_faults();
    wait_all(&env, &streams, "Running", secs(30)).await;
    assert_converged_once(&env, &streams, &jobs).await;
    env.assert_invariants_and_settled(secs(2)).await;
    counter.abort();
    env.stop().await;
}

/// F4: the operator's watches are dropped again and again, and refused for a while; a spec edit
/// made while they are down is applied once they are back.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn f4_edit_made_while_watches_are_down_is_applied() {
    let env = crate::support::start().await;
    let streams = names("f4", 3);
    create_all(&env, &streams).await;
    wait_all(&env, &streams, "Running", secs(20)).await;
    let (kind, name) = (streams[1].0, streams[1].1.clone());
    let before = live_jobs_of(&env, &name)[0]["metadata"]["uid"].clone();
    let op_watches = || FaultMatch {
        user_agent: Some(crate::support::OP_UA.into()),
        ..FaultMatch::default()
    };
    for _ in 0..5 {
        env.sandbox.drop_watches(op_watches()).unwrap();
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    // Refuse re-watches, drop the open ones, then edit while the operator sees nothing.
    let mut refuse = op_fault(None, None, None, status(503, None));
    refuse.matcher.watch = Some(true);
    env.sandbox.add_fault(refuse).unwrap();
    env.sandbox.drop_watches(op_watches()).unwrap();
    env.patch_spec(kind, &name, json!({"source": "edited-offline"}))
        .await;
    tokio::time::sleep(secs(2)).await;
    env.sandbox.clear_faults();
    wait_until("the offline edit to be applied", secs(20), || async {
        live_jobs_of(&env, &name)
            .first()
            .is_some_and(|j| j["metadata"]["uid"] != before && j.to_string().contains("edited-offline"))
    })
    .await;
    wait_all(&env, &streams, "Running", secs(10)).await;
    for (kind, name) in &streams {
        assert_running(&env, *kind, name).await;
    }
    env.assert_invariants_and_settled(secs(2)).await;
    env.stop().await;
}

/// The resources whose list the operator re-reads after its watches expire (the shared watches
/// and the stream cache of each demo layout).
const RELISTED: [&str; 5] = [
    "/jobs",
    "/backfillrequests",
    "/mockstreamv0s",
    "/mockstreamv1s",
    "/mockstreamv2s",
];

/// Expires every resourceVersion the operator's watches hold and cuts the watches, so each must
/// re-list. Compaction alone does not do it: the sandbox, like the API server, resumes a watch
/// from the newest resourceVersion (nothing was missed), and the watch that saw the last change
/// before compaction — say the last status patch of a settled stream — holds exactly that one.
/// This flaked F5 ("timed out waiting for the operator to re-list"): whichever type changed last
/// never re-listed. So a change no operator watch sees (a ConfigMap, written straight into the
/// store, no request in between) first moves the newest version past all of theirs.
fn expire_every_watch(env: &arcane_testkit::Env) {
    let configmaps = kube_sandbox::Gvr::new("", "v1", "configmaps");
    let bump = json!({"metadata": {"generateName": "f5-bump-", "namespace": arcane_testkit::NS}});
    env.sandbox
        .store()
        .create(&configmaps, bump)
        .expect("the bump ConfigMap is created");
    env.sandbox.expire_resource_versions();
    env.sandbox
        .drop_watches(FaultMatch {
            user_agent: Some(crate::support::OP_UA.into()),
            ..FaultMatch::default()
        })
        .expect("the operator's watches are cut");
}

/// Which of [`RELISTED`] have no list, or no watch after their list, among `requests`.
fn not_relisted(requests: &[kube_sandbox::requestlog::RequestRecord]) -> Vec<&'static str> {
    RELISTED
        .into_iter()
        .filter(|res| {
            let listed = requests
                .iter()
                .position(|r| !r.watch && r.method == "GET" && r.path.ends_with(res));
            !listed.is_some_and(|at| requests[at..].iter().any(|r| r.watch && r.path.ends_with(res)))
        })
        .collect()
}

/// F5: resourceVersions expire while the operator is settled: resumed watches get 410, the operator
/// re-lists, and the relist causes no write at all (N5).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn f5_relist_after_expired_resource_versions_writes_nothing() {
    let env = crate::support::start().await;
    let streams = names("f5", 6);
    create_all(&env, &streams).await;
    wait_all(&env, &streams, "Running", secs(20)).await;
    env.assert_invariants_and_settled(secs(2)).await;
    let since = env.last_seq();
    expire_every_watch(&env);
    // Re-listed and watching again from the new list; the watcher's back-off after a 410 is
    // under a second, so 15 s is only a bound for a loaded machine.
    let deadline = tokio::time::Instant::now() + secs(15);
    loop {
        let missing = not_relisted(&op_requests(&env, since));
        if missing.is_empty() {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the operator did not re-list {missing:?}; its requests since the expiry:\n{}",
            crate::support::dump(&env, since)
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // The reconciles the re-list triggers run now: settled again, and no write from `since`.
    env.assert_invariants_and_settled(secs(2)).await;
    let writes: Vec<String> = op_requests(&env, since)
        .into_iter()
        .filter(kube_sandbox::requestlog::RequestRecord::is_write)
        .map(|r| format!("{} {}", r.method, r.path))
        .collect();
    assert!(writes.is_empty(), "the relist caused writes: {writes:#?}");
    for (kind, name) in &streams {
        assert_running(&env, *kind, name).await;
    }
    env.stop().await;
}

/// F7: every request of the operator takes 2 s (watches excepted). Streams still start, with no
/// duplicate create and no create racing another (no 409).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn f7_slow_api_makes_no_duplicate_creates() {
    let env = crate::support::start().await;
    let (jobs, counter) = JobCreations::start(&env);
    wait_watching(&env).await;
    let mut slow = op_fault(None, None, None, FaultAction::Delay { ms: 2000 });
    slow.matcher.watch = Some(false);
    env.sandbox.add_fault(slow).unwrap();
    let streams = names("f7", 2);
    let since = env.last_seq();
    create_all(&env, &streams).await;
    wait_all(&env, &streams, "Running", secs(40)).await;
    env.sandbox.clear_faults();
    let delayed = op_requests(&env, since)
        .iter()
        .filter(|r| r.fault.is_some())
        .count();
    assert!(delayed > 0, "the delay applied");
    // Writes delayed before the faults were cleared may still be on their way (each takes 2 s):
    // wait until no request of the operator has been answered for longer than that.
    crate::support::wait_operator_quiet(&env, Duration::from_millis(2500), secs(30)).await;
    assert_converged_once(&env, &streams, &jobs).await;
    let conflicts: Vec<String> = op_requests(&env, since)
        .iter()
        .filter(|r| r.status == 409)
        .map(|r| format!("{} {}", r.method, r.path))
        .collect();
    assert!(
        conflicts.is_empty(),
        "no create or write raced another: {conflicts:?}"
    );
    env.assert_invariants_and_settled(secs(2)).await;
    counter.abort();
    env.stop().await;
}

/// Waits until the operator has its watches open (its initial lists are done).
async fn wait_watching(env: &arcane_testkit::Env) {
    wait_until("the operator's watches", secs(15), || async {
        let watches: std::collections::HashSet<String> = op_requests(env, 0)
            .into_iter()
            .filter(|r| r.watch)
            .map(|r| r.path)
            .collect();
        watches.len() >= 8
    })
    .await;
}

fn chaos(duplicate: bool, reorder: bool) -> kube_sandbox::faults::FaultSpec {
    op_fault(
        None,
        None,
        None,
        FaultAction::WatchChaos {
            duplicate,
            reorder,
            close_after_seconds: None,
            mid_event: false,
        },
    )
}

/// Makes the operator watch again (its open watches predate a new chaos rule, or carry it).
fn rewatch(env: &arcane_testkit::Env) {
    env.sandbox
        .drop_watches(FaultMatch {
            user_agent: Some(crate::support::OP_UA.into()),
            ..FaultMatch::default()
        })
        .expect("drop watches");
}

/// F16 (same resourceVersion twice): every watch event of the operator arrives twice. Streams start
/// and an edit rolls out with exactly one create per configuration; the system settles (N2, N5).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn f16_duplicate_watch_events_are_idempotent() {
    let env = crate::support::start().await;
    let (jobs, counter) = JobCreations::start(&env);
    env.sandbox.add_fault(chaos(true, false)).unwrap();
    rewatch(&env);
    let streams = names("f16", 6);
    create_all(&env, &streams).await;
    wait_all(&env, &streams, "Running", secs(25)).await;
    assert_converged_once(&env, &streams, &jobs).await;
    let (kind, name) = (streams[0].0, streams[0].1.clone());
    env.patch_spec(kind, &name, json!({"source": "chaos-edit"})).await;
    wait_until("the edit to roll out", secs(15), || async {
        live_jobs_of(&env, &name)
            .first()
            .is_some_and(|j| j.to_string().contains("chaos-edit"))
    })
    .await;
    wait_all(&env, &streams, "Running", secs(10)).await;
    assert_eq!(
        jobs.of(&name),
        3,
        "one more Job for the one edit: {:?}",
        jobs.names_of(&name)
    );
    let hits: u64 = env.sandbox.faults().iter().map(|f| f.hits).sum();
    assert!(hits > 0, "the chaos applied to the operator's watches");
    env.assert_invariants_and_settled(secs(2)).await;
    env.sandbox.clear_faults();
    counter.abort();
    env.stop().await;
}

/// F16 (older resourceVersion after a newer one): the previous event is re-sent after each event, so
/// the operator's caches keep going back in time. Never two live workloads (N2) meanwhile; once the
/// watches are clean again everything converges and settles (N1, N5).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn f16_reordered_watch_events_never_make_two_workloads() {
    let env = crate::support::start().await;
    let (jobs, counter) = JobCreations::start(&env);
    env.sandbox.add_fault(chaos(true, true)).unwrap();
    rewatch(&env);
    let streams = names("f16r", 6);
    create_all(&env, &streams).await;
    tokio::time::sleep(secs(8)).await;
    let (kind, name) = (streams[0].0, streams[0].1.clone());
    env.patch_spec(kind, &name, json!({"source": "chaos-edit"})).await;
    tokio::time::sleep(secs(5)).await;
    env.assert_invariants();
    let during = jobs.all();
    println!("F16 reorder: Jobs created during the chaos: {during:?}");
    env.sandbox.clear_faults();
    rewatch(&env);
    wait_all(&env, &streams, "Running", secs(20)).await;
    wait_until("the edit to roll out", secs(15), || async {
        live_jobs_of(&env, &name)
            .first()
            .is_some_and(|j| j.to_string().contains("chaos-edit"))
    })
    .await;
    wait_all(&env, &streams, "Running", secs(10)).await;
    for (kind, name) in &streams {
        assert_running(&env, *kind, name).await;
    }
    env.assert_invariants_and_settled(secs(2)).await;
    counter.abort();
    env.stop().await;
}
