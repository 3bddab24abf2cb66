//! Issue 11, "operable": what an on-call engineer sees of `arcane-operator run` (a child process
//! against a sandbox) when things go wrong — its log lines (captured and read by content), its
//! `/readyz` answer, its `/metrics` scrape (parsed, and checked against the standard kubebuilder
//! dashboard's queries) and the StreamClass statuses and Events it writes.
//!
//! RBAC is simulated with the sandbox's fault injection (a 403 for a resource's list and watch),
//! and a missing Lease namespace with a 404 on the Lease create.

use std::time::Duration;

use crate::support::{Scraping, Setup};
use arcane_operator::sandbox::{DEMO_YAML, install};
use arcane_testkit::eventually;
use arcane_testkit::process::{FAST_ELECTION, OperatorProcess, http_get};
use arcane_testkit::scenario::{class_state, has_event, ready_of, stored, stream_classes, wait_class};
use arcane_testkit::{Kind, secs, stream};
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::Api;
use kube::api::DeleteParams;
use kube_sandbox::faults::{FaultAction, FaultMatch, FaultSpec};
use serde_json::Value;

/// Rust `Debug` text that must never reach a person.
const DEBUG_TEXT: [&str; 3] = ["Status {", "GroupVersionKind {", "ErrorResponse {"];

fn assert_no_debug_text(what: &str, text: &str) {
    for debug in DEBUG_TEXT {
        assert!(!text.contains(debug), "{what} leaks `{debug}`:\n{text}");
    }
}

/// The lines of `log` containing every one of `parts`.
fn lines_with<'a>(log: &'a str, parts: &[&str]) -> Vec<&'a str> {
    log.lines()
        .filter(|l| parts.iter().all(|p| l.contains(p)))
        .collect()
}

/// The JSON log lines of `log` whose fields include every `(key, value)` of `fields`.
fn json_lines(log: &str, fields: &[(&str, &str)]) -> Vec<Value> {
    log.lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter(|v| {
            fields
                .iter()
                .all(|(k, want)| v.get(*k).and_then(Value::as_str) == Some(*want))
        })
        .collect()
}

/// Requests of the operator replica `op` to a path starting with `prefix`, with `method`.
fn requests_to(setup: &Setup, op: &OperatorProcess, method: &str, prefix: &str) -> usize {
    setup
        .env
        .requests_since(0)
        .iter()
        .filter(|r| r.user_agent == op.agent() && r.method == method && r.path.starts_with(prefix))
        .count()
}

async fn readyz(op: &OperatorProcess) -> Option<(u16, String)> {
    http_get(op.health, "/readyz", None).await
}

/// Waits until `/readyz` answers `status` with a body containing `body`.
async fn wait_readyz(op: &OperatorProcess, status: u16, body: &str, timeout: Duration) {
    eventually(&format!("/readyz {status} saying {body:?}"), timeout, || async {
        match readyz(op).await {
            Some((s, b)) if s == status && b.contains(body) => Ok(()),
            other => Err(format!("{other:?}\n{}", op.logs())),
        }
    })
    .await;
}

async fn delete_crd(setup: &Setup, name: &str) {
    let api: Api<CustomResourceDefinition> = Api::all(setup.client.clone());
    api.delete(name, &DeleteParams::default()).await.unwrap();
    let gone = || async {
        match api.get_opt(name).await.unwrap() {
            None => Ok(()),
            Some(_) => Err(format!("{name} still exists")),
        }
    };
    eventually(&format!("CRD {name} to be gone"), secs(20), gone).await;
}

/// The demo plugin's CRD of `kind`.
fn demo_crd(kind: &str) -> Value {
    install::parse_documents(DEMO_YAML)
        .unwrap()
        .into_iter()
        .find(|d| d["kind"] == "CustomResourceDefinition" && d["spec"]["names"]["kind"] == kind)
        .unwrap()
}

/// (message) of a class's Ready condition.
fn class_message(setup: &Setup, class: &str) -> String {
    stored(&setup.env, &stream_classes(), None, class)
        .as_ref()
        .and_then(ready_of)
        .and_then(|c| c["message"].as_str().map(str::to_string))
        .unwrap_or_default()
}

/// Without the operator's CRDs: readiness says what is missing and how to install it; each failing
/// watch logs one WARN with the fix however often it retries; installing the CRDs recovers.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn missing_crds_log_once_with_the_fix_and_keep_the_operator_unready() {
    let setup = Setup::start("no-crds").await;
    for plural in ["streamclasses", "backfillrequests", "streamingjobtemplates"] {
        delete_crd(&setup, &format!("{plural}.streaming.sneaksanddata.com")).await;
    }
    let op = setup.spawn("no-crds-0", &["--log-format", "json"]);
    wait_readyz(&op, 503, "arcane-operator crd | kubectl apply -f -", secs(20)).await;

    // The StreamClass watch retries with a backoff (0.8 s, 1.6 s, 3.2 s, …): let it fail 4 times.
    let lists = "/apis/streaming.sneaksanddata.com/v1/streamclasses";
    eventually("4 failed StreamClass lists", secs(30), || async {
        let n = requests_to(&setup, &op, "GET", lists);
        (n >= 4).then_some(()).ok_or(format!("{n} lists"))
    })
    .await;
    let log = op.logs();
    assert_no_debug_text("the log", &log);
    let warned = json_lines(&log, &[("level", "WARN"), ("watch", "streamclasses")]);
    assert_eq!(warned.len(), 1, "one WARN for 4 failures:\n{log}");
    let line = &warned[0];
    assert_eq!(line["code"], "404", "{line}");
    let hint = line["hint"].as_str().unwrap_or_default();
    assert!(
        hint.contains("streaming.sneaksanddata.com/v1, Kind=StreamClass")
            && hint.contains("arcane-operator crd"),
        "{line}"
    );
    let warns = json_lines(&log, &[("level", "WARN")]);
    assert!(warns.len() <= 3, "one WARN per failing watch:\n{log}");

    let scrape = op.scrape().await.unwrap();
    assert!(
        scrape.sum("arcane_api_errors_total", &[("verb", "list"), ("code", "404")]) >= 4.0,
        "failed watch lists are counted"
    );

    install::install_crds(&setup.client).await.unwrap();
    wait_readyz(&op, 200, "", secs(60)).await;
    let log = op.logs();
    assert_eq!(
        json_lines(&log, &[("level", "INFO"), ("watch", "streamclasses")])
            .iter()
            .filter(|l| l["message"] == "watch recovered")
            .count(),
        1,
        "{log}"
    );
    setup.stop().await;
}

/// RBAC forbids one stream kind (403 on its list and watch from the start): the operator still
/// becomes ready, that class is `Failed`/`Forbidden` with a Warning Event and a log line naming the
/// missing rule, the 403s are counted, the other classes run, and granting it makes the class Ready.
/// The same run checks the scrape against the kubebuilder dashboard's queries.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_forbidden_kind_fails_its_class_only_and_is_counted() {
    let setup = Setup::start("forbidden").await;
    let path = r"^/apis/streaming\.demo\.arcane\.dev/v1/(namespaces/[^/]+/)?mockstreamv2s$";
    setup
        .env
        .sandbox
        .add_fault(FaultSpec {
            matcher: FaultMatch {
                method: Some("GET".into()),
                path_regex: Some(path.into()),
                ..FaultMatch::default()
            },
            count: None,
            probability: None,
            action: FaultAction::Status {
                code: 403,
                retry_after_seconds: None,
                message: Some("mockstreamv2s.streaming.demo.arcane.dev is forbidden".into()),
            },
        })
        .unwrap();
    let op = setup.spawn("forbidden-0", &[]);
    op.wait_probe("/readyz", 200, secs(30)).await;
    let env = &setup.env;
    wait_class(env, Kind::V2.class(), "Failed", "Forbidden", secs(20)).await;
    let message = class_message(&setup, Kind::V2.class());
    assert!(
        message.contains(
            r#"verbs [get, list, watch] on resource "mockstreamv2s" in apiGroup "streaming.demo.arcane.dev""#
        ),
        "{message}"
    );
    assert_no_debug_text("the class message", &message);
    eventually("a Warning Forbidden Event", secs(10), || async {
        has_event(env, Kind::V2.class(), "Warning", "Forbidden")
            .then_some(())
            .ok_or_else(|| format!("{:?}", arcane_testkit::scenario::events(env, Kind::V2.class())))
    })
    .await;
    for kind in [Kind::V0, Kind::V1] {
        wait_class(env, kind.class(), "Ready", "StreamControllerStarted", secs(10)).await;
    }
    setup
        .create(Kind::V1, stream(Kind::V1, "works", false, None))
        .await;
    env.wait_phase(Kind::V1, "works", "Running", secs(20)).await;

    let log = op.logs();
    assert_no_debug_text("the log", &log);
    let rbac = lines_with(
        &log,
        &[
            "WARN",
            "forbidden by RBAC",
            "group=streaming.demo.arcane.dev",
            "resource=mockstreamv2s",
        ],
    );
    assert_eq!(rbac.len(), 1, "one line naming the missing rule:\n{log}");
    assert!(rbac[0].contains("hint="), "{}", rbac[0]);
    for class in [Kind::V0, Kind::V1, Kind::V2] {
        let started = lines_with(&log, &["INFO", "StreamClass started", class.class()]);
        assert_eq!(started.len(), 1, "{}:\n{log}", class.class());
    }

    let scrape = op.scrape().await.unwrap();
    assert!(scrape.sum("arcane_api_errors_total", &[("code", "403")]) >= 1.0);
    let host = setup.env.sandbox.addr().to_string();
    assert!(
        scrape.sum(
            "rest_client_requests_total",
            &[("code", "403"), ("method", "GET"), ("host", host.as_str())]
        ) >= 1.0,
        "a watch failing with 403 is counted"
    );
    assert!(
        scrape.sum(
            "rest_client_requests_total",
            &[("code", "201"), ("method", "POST")]
        ) >= 1.0
    );
    for result in ["success", "error", "requeue", "requeue_after"] {
        let labels = [("controller", "streamclass"), ("result", result)];
        assert!(
            scrape
                .get("controller_runtime_reconcile_total", &labels)
                .is_some(),
            "{labels:?}"
        );
    }
    assert!(
        scrape.value(
            "controller_runtime_reconcile_total",
            &[("controller", "streamclass"), ("result", "success")]
        ) >= 1.0
    );
    let q = [
        ("name", "stream/mock-stream-v1"),
        ("controller", "stream/mock-stream-v1"),
    ];
    assert!(scrape.value("workqueue_adds_total", &q) >= 1.0);
    assert!(scrape.value("workqueue_work_duration_seconds_count", &q) >= 1.0);
    assert!(scrape.value("workqueue_queue_duration_seconds_count", &q) >= 1.0);
    let empty = crate::dashboard::empty_panels(&scrape);
    assert!(empty.is_empty(), "dashboard queries without a series: {empty:?}");

    setup.env.sandbox.clear_faults();
    wait_class(
        env,
        Kind::V2.class(),
        "Ready",
        "StreamControllerStarted",
        secs(60),
    )
    .await;
    assert!(lines_with(&op.logs(), &["INFO", "watch recovered", "stream/mock-stream-v2"]).len() == 1);
    op.wait_probe("/readyz", 200, secs(5)).await;
    setup.stop().await;
}

/// The CRD of a running class's kind is deleted: the class turns `Pending`/`CrdNotFound` (its
/// message in Kubernetes' GVK words) while the operator stays ready, and returns to Ready — and
/// reconciles again — when the CRD is back.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_deleted_stream_crd_makes_its_class_pending_until_it_returns() {
    let setup = Setup::start("crd-deleted").await;
    let op = setup.spawn("crd-deleted-0", &[]);
    op.wait_probe("/readyz", 200, secs(30)).await;
    let env = &setup.env;
    let class = Kind::V1.class();
    wait_class(env, class, "Ready", "StreamControllerStarted", secs(10)).await;

    delete_crd(&setup, "mockstreamv1s.streaming.demo.arcane.dev").await;
    wait_class(env, class, "Pending", "CrdNotFound", secs(30)).await;
    assert_eq!(class_state(env, class).1, "False");
    let message = class_message(&setup, class);
    assert!(
        message.contains("streaming.demo.arcane.dev/v1, Kind=MockStreamV1"),
        "{message}"
    );
    assert_no_debug_text("the class message", &message);
    // The Event is sent after the status write, in the background.
    arcane_testkit::scenario::wait_event(env, class, "Warning", "CrdNotFound").await;
    assert_eq!(
        readyz(&op).await.map(|r| r.0),
        Some(200),
        "one plugin's CRD does not unready the operator"
    );
    let log = op.logs();
    assert_no_debug_text("the log", &log);
    assert_eq!(
        lines_with(&log, &["INFO", "StreamClass stopped", class, "CrdNotFound"]).len(),
        1,
        "{log}"
    );

    install::apply_documents(&setup.client, &[demo_crd("MockStreamV1")])
        .await
        .unwrap();
    wait_class(env, class, "Ready", "StreamControllerStarted", secs(30)).await;
    setup
        .create(Kind::V1, stream(Kind::V1, "back", false, None))
        .await;
    env.wait_phase(Kind::V1, "back", "Running", secs(20)).await;
    assert_eq!(
        lines_with(&op.logs(), &["INFO", "StreamClass started", class]).len(),
        2
    );
    setup.stop().await;
}

/// The Lease cannot be created (its namespace missing: the API server answers 404): one WARN with
/// the reason and the fix however often it retries, `/readyz` 503 saying so, and once the
/// namespace exists the replica leads and is ready.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lease_that_cannot_be_created_is_a_warning_and_unready() {
    let setup = Setup::start("lease").await;
    setup
        .env
        .sandbox
        .add_fault(FaultSpec {
            matcher: FaultMatch {
                method: Some("POST".into()),
                path: Some("/apis/coordination.k8s.io/v1/namespaces/*/leases".into()),
                ..FaultMatch::default()
            },
            count: None,
            probability: None,
            action: FaultAction::Status {
                code: 404,
                retry_after_seconds: None,
                message: Some("namespaces \"default\" not found".into()),
            },
        })
        .unwrap();
    let op = setup.spawn("lease-0", &FAST_ELECTION);
    wait_readyz(&op, 503, "does not exist", secs(20)).await;
    eventually("5 failed Lease creates", secs(20), || async {
        let n = requests_to(&setup, &op, "POST", "/apis/coordination.k8s.io/");
        (n >= 5).then_some(()).ok_or(format!("{n} creates"))
    })
    .await;
    let log = op.logs();
    let warned = lines_with(&log, &["WARN", "cannot use the leader election Lease"]);
    assert_eq!(warned.len(), 1, "one WARN for 5 failures:\n{log}");
    assert!(
        warned[0].contains("404") && warned[0].contains("--lease-namespace"),
        "{}",
        warned[0]
    );
    assert_no_debug_text("the log", &log);
    assert_eq!(op.master_status().await, Some(0.0));
    let scrape = op.scrape().await.unwrap();
    assert!(scrape.sum("arcane_api_errors_total", &[("verb", "create"), ("code", "404")]) >= 5.0);

    setup.env.sandbox.clear_faults();
    op.wait_master_status(1.0, secs(15)).await;
    op.wait_probe("/readyz", 200, secs(15)).await;
    assert_eq!(
        lines_with(&op.logs(), &["INFO", "the Lease is reachable again"]).len(),
        1
    );
    setup.stop().await;
}

/// RBAC forbids Events: every Event is refused, for every class and stream, yet the log has one
/// WARN naming the rule to grant (then one a minute at most), and the streams still run.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refused_events_are_logged_once_with_the_rule() {
    let setup = Setup::start("events").await;
    setup
        .env
        .sandbox
        .add_fault(FaultSpec {
            matcher: FaultMatch {
                method: Some("POST".into()),
                path: Some("/apis/events.k8s.io/v1/namespaces/*/events".into()),
                ..FaultMatch::default()
            },
            count: None,
            probability: None,
            action: FaultAction::Status {
                code: 403,
                retry_after_seconds: None,
                message: Some("events.events.k8s.io is forbidden".into()),
            },
        })
        .unwrap();
    let op = setup.spawn("events-0", &[]);
    for (kind, name) in [(Kind::V0, "e0"), (Kind::V1, "e1"), (Kind::V2, "e2")] {
        setup.create(kind, stream(kind, name, false, None)).await;
    }
    for (kind, name) in [(Kind::V0, "e0"), (Kind::V1, "e1"), (Kind::V2, "e2")] {
        setup.env.wait_phase(kind, name, "Running", secs(30)).await;
    }
    eventually("4 refused Events", secs(20), || async {
        let n = requests_to(&setup, &op, "POST", "/apis/events.k8s.io/");
        (n >= 4).then_some(()).ok_or(format!("{n} Events"))
    })
    .await;
    let log = op.logs();
    assert_no_debug_text("the log", &log);
    let refused = lines_with(&log, &["WARN", "cannot publish event"]);
    assert_eq!(refused.len(), 1, "{log}");
    assert!(
        refused[0].contains("code=403")
            && refused[0].contains(r#"resource "events" in apiGroup "events.k8s.io""#),
        "{}",
        refused[0]
    );
    setup.stop().await;
}

/// At info, one line per phase transition (from → to, with the reason) and per workload created
/// or deleted and backfill requested or completed, each carrying the stream's identity — the same
/// fields in JSON as in text.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn phase_transitions_and_workload_changes_are_logged_with_the_stream() {
    let setup = Setup::start("transitions").await;
    let text = setup.spawn("transitions-0", &[]);
    text.wait_probe("/readyz", 200, secs(30)).await;
    setup
        .create(Kind::V1, stream(Kind::V1, "logged", false, None))
        .await;
    setup
        .env
        .wait_phase(Kind::V1, "logged", "Running", secs(30))
        .await;
    let name = "stream=logged";
    let running = ["INFO", "phase Pending → Running", "reason=StreamRunning", name];
    arcane_testkit::wait_until("the Running transition logged", secs(10), || async {
        !lines_with(&text.logs(), &running).is_empty()
    })
    .await;
    let log = text.logs();
    for parts in [
        &["INFO", "phase (none) → Pending", "reason=StreamPending", name][..],
        &["INFO", "backfill requested", "purpose=Initial", name],
        &["INFO", "Job created", "mode=\"backfill\"", name],
        &[
            "INFO",
            "phase Pending → Backfilling",
            "reason=StreamBackfilling",
            name,
        ],
        &["INFO", "backfill completed", name],
        &["INFO", "Job deleted", "cause=BackfillDone", name],
        &["INFO", "Job created", "mode=\"streaming\"", name],
    ] {
        assert!(
            !lines_with(&log, parts).is_empty(),
            "no line with {parts:?}:\n{log}"
        );
    }
    for line in lines_with(&log, &["phase ", "→"]) {
        for field in ["namespace=default", "kind=MockStreamV1", "class=mock-stream-v1"] {
            assert!(line.contains(field), "{field} missing: {line}");
        }
    }
    assert_no_debug_text("the log", &log);
    text.sigterm();

    // The same in JSON: the message and the fields, the stream's identity from the span.
    let json = setup.spawn("transitions-1", &["--log-format", "json"]);
    json.wait_probe("/readyz", 200, secs(30)).await;
    setup
        .create(Kind::V1, stream(Kind::V1, "logged-json", true, None))
        .await;
    setup
        .env
        .wait_phase(Kind::V1, "logged-json", "Suspended", secs(30))
        .await;
    let suspended = [("from", "(none)"), ("to", "Suspended")];
    arcane_testkit::wait_until("the Suspended transition logged", secs(10), || async {
        !json_lines(&json.logs(), &suspended).is_empty()
    })
    .await;
    let lines = json_lines(&json.logs(), &suspended);
    let line = &lines[0];
    assert_eq!(line["level"], "INFO", "{line}");
    assert_eq!(line["reason"], "StreamSuspended", "{line}");
    assert_eq!(line["span"]["stream"], "logged-json", "{line}");
    assert_eq!(line["span"]["namespace"], "default", "{line}");
    assert_eq!(line["span"]["kind"], "MockStreamV1", "{line}");
    assert_eq!(line["span"]["class"], "mock-stream-v1", "{line}");
    setup.stop().await;
}
