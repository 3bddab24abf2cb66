//! The production surface of `arcane-operator run`, tested on the real binary as a child process
//! against a sandbox API server: Prometheus metrics (controller-runtime names, parsed from a
//! scrape), probes, leader failover, graceful shutdown, and the chart's RBAC against the requests
//! the operator actually made.

// Test helpers may panic on unexpected output, like the tests themselves.
#![allow(clippy::unwrap_used)]

mod dashboard;
/// Issue 11, "operable": the operator's logs, probes, metrics and statuses when things go wrong.
mod operability;
mod prom;
mod rbac;
mod scenario;
/// F18: clock skew between replicas, next to F10 below (in its own file for size).
mod skew;
mod support;

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use crate::scenario::{create_demo_streams, exercise, wait_demo_streams};
use crate::support::{Scraping, Setup, describe, is_lease};
use arcane_testkit::process::{FAST_ELECTION, http_get};
use arcane_testkit::{Kind, secs, stream};
use arcane_testkit::{eventually, eventually_every};
use kube_sandbox::faults::{FaultAction, FaultMatch, FaultSpec};
use kube_sandbox::requestlog::RequestRecord;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_carry_controller_runtime_names_and_arcane_series() {
    let setup = Setup::start("metrics").await;
    let op = setup.spawn(
        "metrics-0",
        &[&FAST_ELECTION[..], &["--concurrency", "3"]].concat(),
    );
    op.wait_master_status(1.0, secs(15)).await;
    create_demo_streams(&setup).await;
    wait_demo_streams(&setup).await;

    // arcane_streams follows the phases; the operator recounts them every 10 s.
    eventually(
        "arcane_streams to match the streams' phases",
        secs(25),
        || async {
            let scrape = op.scrape().await.ok_or("no scrape")?;
            let mut expected: BTreeMap<(String, String), f64> = BTreeMap::new();
            for (class, _, phase) in setup.stream_phases() {
                *expected.entry((class, phase.unwrap_or_default())).or_default() += 1.0;
            }
            let got: BTreeMap<(String, String), f64> = scrape
                .find("arcane_streams", &[])
                .into_iter()
                .filter(|s| s.value != 0.0)
                .map(|s| {
                    (
                        (s.labels["stream_class"].clone(), s.labels["phase"].clone()),
                        s.value,
                    )
                })
                .collect();
            (got == expected)
                .then_some(())
                .ok_or(format!("got {got:?}, expected {expected:?}"))
        },
    )
    .await;

    let scrape = op.scrape().await.unwrap();
    for (name, kind) in [
        ("controller_runtime_reconcile_total", "counter"),
        ("controller_runtime_reconcile_errors_total", "counter"),
        ("controller_runtime_reconcile_time_seconds", "histogram"),
        ("controller_runtime_active_workers", "gauge"),
        ("controller_runtime_max_concurrent_reconciles", "gauge"),
        ("leader_election_master_status", "gauge"),
        ("process_resident_memory_bytes", "gauge"),
        ("arcane_streams", "gauge"),
        ("arcane_workloads_created_total", "counter"),
        ("arcane_backfills_completed_total", "counter"),
    ] {
        let family = name.strip_suffix("_total").unwrap_or(name);
        let declared = scrape.types.get(name).or_else(|| scrape.types.get(family));
        assert_eq!(declared.map(String::as_str), Some(kind), "# TYPE of {name}");
    }

    for kind in Kind::ALL {
        let controller = format!("stream/{}", kind.class());
        let c = [("controller", controller.as_str())];
        for result in ["success", "error", "requeue", "requeue_after"] {
            let labels = [("controller", controller.as_str()), ("result", result)];
            assert!(
                scrape
                    .get("controller_runtime_reconcile_total", &labels)
                    .is_some(),
                "controller_runtime_reconcile_total{labels:?} is missing"
            );
        }
        let success = scrape.value(
            "controller_runtime_reconcile_total",
            &[("controller", controller.as_str()), ("result", "success")],
        );
        assert!(success >= 1.0, "{controller}: no successful reconcile counted");
        assert!(
            scrape
                .get("controller_runtime_reconcile_errors_total", &c)
                .is_some()
        );
        assert_eq!(
            scrape.value("controller_runtime_max_concurrent_reconciles", &c),
            3.0
        );
        let active = scrape.value("controller_runtime_active_workers", &c);
        assert!(
            (0.0..=3.0).contains(&active),
            "{controller}: {active} active workers"
        );

        // The histogram: controller-runtime's 40 buckets plus +Inf, cumulative, and a count that
        // covers at least every counted reconcile of that controller.
        let buckets = scrape.find("controller_runtime_reconcile_time_seconds_bucket", &c);
        assert_eq!(buckets.len(), 41, "{controller}: buckets {buckets:#?}");
        let mut bounds: Vec<(f64, f64)> = buckets
            .iter()
            .map(|b| {
                let le = &b.labels["le"];
                (
                    if le == "+Inf" {
                        f64::INFINITY
                    } else {
                        le.parse().unwrap()
                    },
                    b.value,
                )
            })
            .collect();
        bounds.sort_by(|a, b| a.0.total_cmp(&b.0));
        assert_eq!(bounds[0].0, 0.005);
        assert_eq!(bounds[39].0, 60.0);
        assert!(
            bounds.windows(2).all(|w| w[0].1 <= w[1].1),
            "buckets are cumulative"
        );
        let count = scrape.value("controller_runtime_reconcile_time_seconds_count", &c);
        assert_eq!(bounds[40].1, count);
        let reconciles = scrape.sum("controller_runtime_reconcile_total", &c);
        assert!(
            count >= reconciles && count > 0.0,
            "{controller}: {count} timed, {reconciles} counted"
        );
        assert!(scrape.value("controller_runtime_reconcile_time_seconds_sum", &c) > 0.0);
    }

    assert_eq!(
        scrape.value(
            "leader_election_master_status",
            &[("name", arcane_testkit::process::LEASE)]
        ),
        1.0
    );
    assert!(scrape.value("process_resident_memory_bytes", &[]) > 0.0);

    // Workloads: a backfill and a streaming Job per Job-backed stream, a CronJob for the batch one.
    let created = |class: &str, kind: &str, mode: &str| {
        scrape.sum(
            "arcane_workloads_created_total",
            &[("stream_class", class), ("kind", kind), ("mode", mode)],
        )
    };
    assert!(scrape.sum("arcane_workloads_created_total", &[]) >= 7.0);
    for class in ["mock-stream-v0", "mock-stream-v1", "mock-stream-v2"] {
        assert!(
            created(class, "Job", "backfill") >= 1.0,
            "{class}: no backfill Job counted"
        );
        assert!(
            created(class, "Job", "streaming") >= 1.0,
            "{class}: no streaming Job counted"
        );
    }
    assert!(
        created("mock-stream-v1", "CronJob", "streaming") >= 1.0,
        "no CronJob counted"
    );

    // Backfills completed, per class, equal the completed BackfillRequests in the store (the
    // initial backfills: every request here was created and completed by the operator).
    let mut completed: BTreeMap<String, f64> = BTreeMap::new();
    for request in setup.env.requests() {
        assert_eq!(request["spec"]["completed"], true, "{request}");
        *completed
            .entry(request["spec"]["streamClass"].as_str().unwrap().to_string())
            .or_default() += 1.0;
    }
    assert_eq!(
        completed.values().sum::<f64>(),
        3.0,
        "one initial backfill per Job-backed running stream"
    );
    for (class, n) in &completed {
        assert_eq!(
            scrape.value("arcane_backfills_completed_total", &[("stream_class", class)]),
            *n
        );
    }

    // Prometheus asks for OpenMetrics; the same registry must answer it.
    let (status, body) = http_get(
        op.metrics,
        "/metrics",
        Some("application/openmetrics-text; version=1.0.0"),
    )
    .await
    .unwrap();
    assert_eq!(status, 200);
    assert!(body.trim_end().ends_with("# EOF"), "OpenMetrics ends with # EOF");
    assert!(body.contains("controller_runtime_reconcile_total{"));
    drop(op);
    setup.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn probes_flip_when_initial_lists_finish_and_sigterm_exits_zero() {
    let setup = Setup::start("probes").await;
    setup
        .create(Kind::V1, stream(Kind::V1, "early", false, None))
        .await;
    // Lists (not watches, not gets) of the stream kinds answer 3 s late.
    let rule = setup
        .env
        .sandbox
        .add_fault(FaultSpec {
            matcher: FaultMatch {
                method: Some("GET".into()),
                path_regex: Some(r"^/apis/streaming\.demo\.arcane\.dev/v1/mockstreamv[0-2]s$".into()),
                watch: Some(false),
                ..FaultMatch::default()
            },
            count: None,
            probability: None,
            action: FaultAction::Delay { ms: 3000 },
        })
        .unwrap();
    let start = setup.env.last_seq();
    let mut op = setup.spawn("probes-0", &[]);

    // Liveness answers 200 from the first moment the probe server answers at all.
    let first = eventually_every(
        "the probe server to answer",
        secs(15),
        Duration::from_millis(20),
        || async {
            match http_get(op.health, "/healthz", None).await {
                Some((status, _)) => Ok(status),
                None => Err(op.log_tail()),
            }
        },
    )
    .await;
    assert_eq!(first, 200, "/healthz at start");
    let not_ready_seen = std::cell::Cell::new(0);
    eventually("readiness", secs(30), || async {
        let (live, _) = http_get(op.health, "/healthz", None).await.unwrap();
        let (ready, body) = http_get(op.health, "/readyz", None).await.unwrap();
        assert_eq!(live, 200, "liveness failed while starting");
        if ready == 200 {
            return Ok(());
        }
        assert_eq!(ready, 503, "readiness: {body}");
        assert!(!body.is_empty(), "a 503 says what it waits for");
        not_ready_seen.set(not_ready_seen.get() + 1);
        Err(format!("not ready: {body}; log:\n{}", op.log_tail()))
    })
    .await;
    let not_ready_seen = not_ready_seen.get();
    // Ready only after the delayed list of every stream kind has been answered (the sandbox logs
    // a request once its response is sent).
    let lists: Vec<String> = setup
        .env
        .requests_since(start)
        .iter()
        .filter(|r| r.fault == Some(rule) && r.user_agent == op.agent())
        .map(|r| r.path.clone())
        .collect();
    for kind in Kind::ALL {
        let path = format!(
            "/apis/{}/v1/{}s",
            arcane_testkit::GROUP,
            kind.kind().to_lowercase()
        );
        assert!(
            lists.contains(&path),
            "ready before the list of {path} finished: {lists:?}"
        );
    }
    assert!(
        not_ready_seen > 0,
        "/readyz was never 503 while lists were delayed"
    );
    setup.env.sandbox.clear_faults();
    for (path, status) in [
        ("/health", 200),
        ("/health/ready", 200),
        ("/readyz", 200),
        ("/healthz", 200),
    ] {
        assert_eq!(http_get(op.health, path, None).await.unwrap().0, status, "{path}");
    }
    setup.env.wait_phase(Kind::V1, "early", "Running", secs(20)).await;

    // SIGTERM while streams are being worked on: exit 0 within 10 s.
    for i in 0..4 {
        setup
            .create(Kind::V0, stream(Kind::V0, &format!("late-{i}"), false, None))
            .await;
    }
    op.sigterm();
    let status = op.wait_exit(secs(10)).await;
    assert!(
        status.is_some_and(|s| s.success()),
        "exit {status:?} after SIGTERM:\n{}",
        op.logs()
    );
    assert!(
        http_get(op.health, "/healthz", None).await.is_none(),
        "probe server still up"
    );
    setup.env.assert_invariants();
    setup.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn leader_failover_after_sigkill_with_no_writes_from_the_standby() {
    let setup = Setup::start("failover").await;
    let started = setup.env.last_seq();
    let mut a = setup.spawn("replica-a", &FAST_ELECTION);
    a.wait_master_status(1.0, secs(15)).await;
    let b = setup.spawn("replica-b", &FAST_ELECTION);
    b.wait_master_status(0.0, secs(15)).await;
    // A standby is ready (a documented choice: rolling updates of several replicas complete).
    b.wait_probe("/readyz", 200, secs(5)).await;
    a.wait_probe("/readyz", 200, secs(15)).await;
    assert_eq!(setup.lease_holder().as_deref(), Some("replica-a"));

    setup
        .create(Kind::V1, stream(Kind::V1, "before", false, None))
        .await;
    setup
        .env
        .wait_phase(Kind::V1, "before", "Running", secs(20))
        .await;
    assert_eq!(b.master_status().await, Some(0.0), "exactly one leader");
    assert_eq!(a.master_status().await, Some(1.0), "exactly one leader");

    let killed_at_seq = setup.env.last_seq();
    support::kill_leader_and_take_over(&setup, &mut a, &b, "F10").await;

    // The audit: who wrote what, and when.
    let log = setup.env.requests_since(0);
    fn from<'a>(log: &'a [RequestRecord], agent: &'a str) -> impl Iterator<Item = &'a RequestRecord> + 'a {
        log.iter().filter(move |r| r.user_agent == agent)
    }
    let (agent_a, agent_b) = (a.agent(), b.agent());
    assert!(
        from(&log, &agent_a).count() > 0 && from(&log, &agent_b).count() > 0,
        "replicas are told apart by User-Agent"
    );
    assert!(
        from(&log, &agent_a).all(|r| r.seq <= killed_at_seq),
        "replica-a made requests after SIGKILL"
    );
    // replica-b acquired the Lease with a successful write; before that it only read the Lease.
    let acquired = from(&log, &agent_b)
        .find(|r| is_lease(r) && r.is_write() && r.status < 300)
        .map(|r| r.seq)
        .unwrap();
    assert!(
        acquired > killed_at_seq,
        "replica-b wrote the Lease while replica-a led"
    );
    let standby: Vec<String> = from(&log, &agent_b)
        .filter(|r| r.seq < acquired && (r.is_write() || !is_lease(r)))
        .map(describe)
        .collect();
    assert!(
        standby.is_empty(),
        "the standby did more than read the Lease: {standby:#?}"
    );
    let a_writes = from(&log, &agent_a)
        .filter(|r| r.is_write() && !is_lease(r))
        .count();
    let b_writes = from(&log, &agent_b)
        .filter(|r| r.is_write() && !is_lease(r))
        .count();
    assert!(
        a_writes > 0 && b_writes > 0,
        "both leaders acted: {a_writes} / {b_writes} writes"
    );
    // Once the replicas run, every write comes from one of them or from the test itself.
    let strangers: Vec<String> = log
        .iter()
        .filter(|r| r.seq > started && r.is_write())
        .filter(|r| r.user_agent != agent_a && r.user_agent != agent_b && r.user_agent != support::TEST_AGENT)
        .map(describe)
        .collect();
    assert!(strangers.is_empty(), "{strangers:#?}");
    setup.env.assert_invariants();
    drop(b);
    setup.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_releases_the_lease_so_the_standby_takes_over_at_once() {
    let setup = Setup::start("shutdown").await;
    // A long lease: a takeover well within it can only come from the release.
    let election = [
        "--leader-elect",
        "--lease-duration",
        "20s",
        "--renew-deadline",
        "10s",
        "--retry-period",
        "500ms",
    ];
    let mut a = setup.spawn("replica-a", &election);
    a.wait_master_status(1.0, secs(15)).await;
    let b = setup.spawn("replica-b", &election);
    b.wait_master_status(0.0, secs(15)).await;

    // SIGTERM in the middle of work.
    for i in 0..6 {
        setup
            .create(Kind::V0, stream(Kind::V0, &format!("busy-{i}"), false, None))
            .await;
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    a.sigterm();
    let status = a.wait_exit(secs(10)).await;
    let exited = Instant::now();
    assert!(
        status.is_some_and(|s| s.success()),
        "exit {status:?} after SIGTERM:\n{}",
        a.logs()
    );
    // Its last write released the Lease (after in-flight work finished).
    let last_write = setup
        .env
        .requests_since(0)
        .into_iter()
        .rfind(|r| r.user_agent == a.agent() && r.is_write())
        .unwrap();
    assert!(
        is_lease(&last_write) && last_write.method == "PUT" && last_write.status == 200,
        "replica-a's last write was not the release of the Lease: {}",
        describe(&last_write)
    );
    let holder = setup.lease_holder();
    assert!(
        holder.is_none() || holder.as_deref() == Some("replica-b"),
        "the Lease still names {holder:?} after replica-a exited"
    );
    let took_over = b.wait_master_status(1.0, secs(10)).await;
    let takeover = took_over.saturating_duration_since(exited);
    assert!(
        takeover <= secs(3),
        "takeover {takeover:?} after release (lease duration 20 s)"
    );
    eprintln!("shutdown: replica-b leads {takeover:?} after replica-a exited");
    assert_eq!(setup.lease_holder().as_deref(), Some("replica-b"));
    for i in 0..6 {
        setup
            .env
            .wait_phase(Kind::V0, &format!("busy-{i}"), "Running", secs(30))
            .await;
    }
    setup.env.assert_invariants();
    drop(b);
    setup.stop().await;
}

/// Grants no run of this test exercises, each with the reason the operator needs it anyway.
/// (apiGroup, resource, verb); a stream kind's resource is written `<stream>`.
const UNEXERCISED_GRANTS: &[(&str, &str, &str, &str)] = &[(
    "streaming.demo.arcane.dev",
    "<stream>/finalizers",
    "update",
    "the Jobs and CronJobs the operator creates carry blockOwnerDeletion on their owner reference to \
     the stream; an API server with OwnerReferencesPermissionEnforcement checks update on the owner's \
     finalizers at create time; the sandbox does not enforce it, so no request is logged",
)];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chart_rbac_covers_exactly_what_the_operator_uses() {
    let Some(rules) = rbac::chart_rules(&[
        "leaderElection.enabled=true",
        "leaderElection.leaseName=arcane-operator",
        "leaderElection.leaseNamespace=default",
        "streamKinds[0].apiGroup=streaming.demo.arcane.dev",
        "streamKinds[0].resources={mockstreamv0s,mockstreamv1s,mockstreamv2s}",
    ]) else {
        return;
    };
    let setup = Setup::start("rbac").await;
    let op = setup.spawn("rbac-0", &FAST_ELECTION);
    op.wait_master_status(1.0, secs(15)).await;
    exercise(&setup).await;

    let mut needs: Vec<rbac::Need> = setup
        .env
        .requests_since(0)
        .iter()
        .filter(|r| r.user_agent == op.agent())
        .filter_map(rbac::Need::of)
        .collect();
    needs.sort();
    needs.dedup();
    let uncovered: Vec<&rbac::Need> = needs
        .iter()
        .filter(|n| !rules.iter().any(|r| r.covers(n)))
        .collect();
    assert!(uncovered.is_empty(), "the chart does not grant: {uncovered:#?}");

    let allowed = |group: &str, resource: &str, verb: &str| {
        let generic = resource
            .split_once('/')
            .map_or("<stream>".to_string(), |(_, sub)| format!("<stream>/{sub}"));
        let is_stream = resource.starts_with("mockstreamv");
        UNEXERCISED_GRANTS
            .iter()
            .any(|(g, r, v, _)| *g == group && *v == verb && (*r == resource || (is_stream && *r == generic)))
    };
    let mut unused = Vec::new();
    for rule in &rules {
        for group in &rule.groups {
            for resource in &rule.resources {
                for verb in &rule.verbs {
                    let used = needs.iter().any(|n| {
                        n.group == *group && n.resource == *resource && n.verb == *verb && rule.covers(n)
                    });
                    if !used && !allowed(group, resource, verb) {
                        unused.push(format!(
                            "{}: {group}/{resource} {verb} {:?}",
                            rule.role, rule.names
                        ));
                    }
                }
            }
        }
    }
    eprintln!(
        "operator used: {:#?}",
        needs
            .iter()
            .map(|n| format!("{}/{} {}", n.group, n.resource, n.verb))
            .collect::<std::collections::BTreeSet<_>>()
    );
    assert!(
        unused.is_empty(),
        "granted but never used (and not justified): {unused:#?}"
    );
    drop(op);
    setup.stop().await;
}
