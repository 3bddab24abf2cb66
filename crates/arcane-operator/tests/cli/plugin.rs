//! `kubectl arcane` against the sandbox with the operator running: the status table, JSON and the
//! description of a failed stream against golden files (times and generated names fixed), every
//! write and what the operator makes of it, the watch, and the errors users see.
//!
//! `UPDATE_GOLDEN=1 cargo nextest run -p arcane-operator --test cli` rewrites the golden
//! files under `tests/golden/`; review the diff.

#![cfg(feature = "kubectl-plugin")]
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::Write;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::support::{T0, fixed, golden, mask_suffix, now, run, scene};
use arcane_operator::cli::plugin::{self, Output, PluginCli, PluginCommand, PluginError, Scope, StreamRef};
use arcane_testkit::{Env, Kind, NS, secs, stream, wait_until};
use clap::Parser;
use kube_sandbox::faults::{FaultAction, FaultMatch, FaultSpec};
use serde_json::{Value, json};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn status_and_describe_match_the_golden_files() {
    let env = Env::start().await;
    scene(&env).await;

    let mut report = plugin::collect(&env.client, &Scope::Namespace(NS.to_owned()))
        .await
        .unwrap();
    fixed(&mut report);
    golden("status.txt", &report.table(now()));
    let mut json = Vec::new();
    report.write(Output::Json, now(), &mut json).unwrap();
    golden("status.json", &String::from_utf8(json).unwrap());

    // `-A` adds the NAMESPACE column; YAML parses back to the JSON report.
    let mut all = plugin::collect(&env.client, &Scope::All).await.unwrap();
    fixed(&mut all);
    assert!(all.table(now()).starts_with("CLASS"), "{}", all.table(now()));
    assert!(
        all.table(now()).contains("\nNAMESPACE  KIND"),
        "{}",
        all.table(now())
    );
    let yaml = run(&env, &["status", "-o", "yaml"]).await.unwrap();
    let parsed: Value = serde_saphyr::from_str(&yaml).unwrap();
    assert_eq!(parsed["streams"].as_array().map(Vec::len), Some(4), "{yaml}");

    // `only`: the Event reasons to keep (all when empty).
    let described = |name: &'static str, only: &'static [&'static str]| {
        let env = &env;
        async move {
            let mut d = plugin::describe(
                &env.client,
                &StreamRef {
                    namespace: NS.to_owned(),
                    name: name.to_owned(),
                    kind: None,
                },
            )
            .await
            .unwrap();
            d.created = Some(T0.to_owned());
            for c in &mut d.conditions {
                c.last_transition_time =
                    k8s_openapi::apimachinery::pkg::apis::meta::v1::Time(T0.parse().unwrap());
            }
            d.events
                .retain(|e| only.is_empty() || only.contains(&e.reason.as_str()));
            for e in &mut d.events {
                e.last_seen = Some(T0.to_owned());
            }
            for b in &mut d.backfills {
                let masked = mask_suffix(&b.name);
                for e in &mut d.events {
                    e.note = e.note.replace(&b.name, &masked);
                }
                b.name = masked;
                b.created = Some(T0.to_owned());
            }
            d.render(now())
        }
    };
    // The Events a convergence posts: the last may land just after the phase, and the operator
    // sometimes adds one more on the way (e.g. BackfillNotRequested as it removes the finished
    // backfill Job), so the golden keeps the ones every start posts, in order.
    wait_until("orders' StreamStarted Event", secs(30), || async {
        env.events_for("orders")
            .iter()
            .any(|(_, reason)| reason == "StreamStarted")
    })
    .await;
    wait_until("broken's InvalidSpec Event", secs(30), || async {
        env.events_for("broken")
            .iter()
            .any(|(_, reason)| reason == "InvalidSpec")
    })
    .await;
    // The initial request's Completed status may be written just after the stream runs.
    wait_until(
        "orders' initial backfill recorded Completed",
        secs(30),
        || async {
            env.requests().iter().any(|r| {
                r["spec"]["streamId"] == "orders"
                    && r.pointer("/status/conditions/0/reason") == Some(&json!("Completed"))
            })
        },
    )
    .await;
    golden("describe-broken.txt", &described("broken", &[]).await);
    const STABLE: [&str; 4] = [
        "StreamCreated",
        "BackfillStarted",
        "BackfillCompleted",
        "StreamStarted",
    ];
    golden("describe-orders.txt", &described("orders", &STABLE).await);
    env.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn writes_do_what_editing_the_yaml_does() {
    let env = Env::start().await;
    scene(&env).await;

    // suspend/resume: one merge patch where the layout keeps the flag; a no-op writes nothing.
    assert_eq!(
        run(&env, &["suspend", "customers"]).await.unwrap(),
        "mockstreamv1/customers already suspended (unchanged)\n"
    );
    assert_eq!(
        run(&env, &["resume", "customers"]).await.unwrap(),
        "mockstreamv1/customers resumed\n"
    );
    let patches: Vec<_> = env
        .sandbox
        .requests()
        .into_iter()
        .filter(|r| r.method == "PATCH" && r.path.ends_with("/mockstreamv1s/customers"))
        .collect();
    assert_eq!(patches.len(), 1, "{patches:?}");
    env.wait_phase(Kind::V1, "customers", "Running", secs(30)).await;
    run(&env, &["suspend", "orders"]).await.unwrap();
    let orders = env.get(Kind::V0, "orders").await.unwrap();
    assert_eq!(orders.data["spec"]["suspended"], json!(true));
    env.wait_phase(Kind::V0, "orders", "Suspended", secs(30)).await;
    run(&env, &["resume", "orders"]).await.unwrap();
    env.wait_phase(Kind::V0, "orders", "Running", secs(30)).await;

    // backfill --wait: a BackfillRequest the operator serves, then completes.
    let out = run(&env, &["backfill", "customers", "--wait", "--timeout", "60s"])
        .await
        .unwrap();
    let mut lines = out.lines();
    let created = lines.next().unwrap();
    assert!(
        created.starts_with("backfillrequest/customers-backfill-")
            && created.ends_with(" created for mockstreamv1/customers"),
        "{out}"
    );
    assert!(lines.next().unwrap().contains("completed"), "{out}");
    let name = created
        .split_whitespace()
        .next()
        .unwrap()
        .trim_start_matches("backfillrequest/");
    let request = env
        .requests()
        .into_iter()
        .find(|r| r["metadata"]["name"] == name)
        .unwrap();
    assert_eq!(request["spec"]["streamClass"], "mock-stream-v1");
    assert_eq!(request["spec"]["streamId"], "customers");
    assert_eq!(request["spec"]["completed"], json!(true));

    // A batch-only stream has no backfill template: its request is Invalid, and --wait says why.
    let invalid = run(&env, &["backfill", "archive", "--wait", "--timeout", "60s"])
        .await
        .unwrap_err();
    assert!(
        matches!(invalid, PluginError::BackfillInvalid { .. }),
        "{invalid}"
    );
    assert!(
        invalid
            .to_string()
            .starts_with("backfillrequest/archive-backfill-"),
        "{invalid}"
    );

    // restart: the Job is deleted and the operator creates a new one.
    env.wait_phase(Kind::V1, "customers", "Running", secs(30)).await;
    let before = env.job("customers").unwrap()["metadata"]["uid"].clone();
    let out = run(&env, &["restart", "customers"]).await.unwrap();
    assert_eq!(
        out,
        "mockstreamv1/customers restarting: deleted job/customers; the operator creates a new one\n"
    );
    wait_until("a new job/customers", secs(30), || async {
        env.job("customers")
            .is_some_and(|j| j["metadata"]["uid"] != before)
    })
    .await;
    env.wait_phase(Kind::V1, "customers", "Running", secs(30)).await;

    // Refusals say what to do instead.
    let failed = run(&env, &["restart", "broken"]).await.unwrap_err().to_string();
    assert!(
        failed.contains("invalid definition") && failed.contains("kubectl arcane describe broken"),
        "{failed}"
    );
    run(&env, &["suspend", "orders"]).await.unwrap();
    env.wait_phase(Kind::V0, "orders", "Suspended", secs(30)).await;
    let suspended = run(&env, &["restart", "orders"]).await.unwrap_err().to_string();
    assert!(suspended.contains("kubectl arcane resume orders"), "{suspended}");
    let waiting = run(&env, &["backfill", "orders"]).await.unwrap();
    assert!(
        waiting.ends_with(
            "note: mockstreamv0/orders is Suspended; the request stays Pending until the stream runs\n"
        ),
        "{waiting}"
    );

    env.assert_invariants();
    env.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn errors_name_the_problem_and_the_way_out() {
    let env = Env::start().await;
    env.create(Kind::V0, stream(Kind::V0, "twin", true, None)).await;
    env.create(Kind::V1, stream(Kind::V1, "twin", true, None)).await;

    let missing = run(&env, &["describe", "nope"]).await.unwrap_err();
    assert!(matches!(missing, PluginError::NoSuchStream { .. }), "{missing}");
    assert_eq!(
        missing.to_string(),
        "no stream named \"nope\" in namespace \"default\" (looked in kinds MockStreamV0, MockStreamV1, MockStreamV2)"
    );
    let ambiguous = run(&env, &["suspend", "twin"]).await.unwrap_err().to_string();
    assert_eq!(
        ambiguous,
        "\"twin\" is ambiguous in namespace \"default\": MockStreamV0/twin, MockStreamV1/twin; pick one with --kind KIND"
    );
    // --kind takes the kind, its plural or the class name, in any case.
    for kind in ["MockStreamV1", "mockstreamv1s", "MOCK-STREAM-V1"] {
        let out = run(&env, &["describe", "twin", "--kind", kind]).await.unwrap();
        assert!(
            out.contains("\nKind:              MockStreamV1 "),
            "--kind {kind}: {out}"
        );
    }
    let out = run(&env, &["resume", "twin", "--kind", "mockstreamv0"])
        .await
        .unwrap();
    assert_eq!(out, "mockstreamv0/twin resumed\n");
    // A call the account may not make names the RBAC rule it needs.
    env.sandbox
        .add_fault(FaultSpec {
            matcher: FaultMatch {
                method: Some("GET".into()),
                path: Some("/apis/events.k8s.io/v1/namespaces/default/events".into()),
                watch: Some(false),
                ..FaultMatch::default()
            },
            count: Some(1),
            probability: None,
            action: FaultAction::Status {
                code: 403,
                retry_after_seconds: None,
                message: Some("events.events.k8s.io is forbidden".into()),
            },
        })
        .unwrap();
    let forbidden = run(&env, &["describe", "twin", "--kind", "MockStreamV0"])
        .await
        .unwrap_err();
    assert!(
        forbidden.to_string().starts_with(
            "forbidden: cannot list events in namespace default; the account needs the RBAC rule \
             {apiGroups: [\"events.k8s.io\"], resources: [\"events\"], verbs: [\"list\"]}"
        ),
        "{forbidden}"
    );
    // KIND/NAME, as kubectl and the failed-stream hint of `status` print it.
    let out = run(&env, &["describe", "mockstreamv1/twin"]).await.unwrap();
    assert!(out.contains("\nKind:              MockStreamV1 "), "{out}");
    let unknown = run(&env, &["describe", "twin", "--kind", "Nope"])
        .await
        .unwrap_err()
        .to_string();
    assert!(
        unknown.contains("known kinds: MockStreamV0, MockStreamV1, MockStreamV2"),
        "{unknown}"
    );
    env.stop().await;
}

/// Output shared between the watch and the test that reads it.
#[derive(Clone, Default)]
struct Shared(Arc<Mutex<Vec<u8>>>);

impl Write for Shared {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Shared {
    fn text(&self) -> String {
        String::from_utf8(self.0.lock().unwrap().clone()).unwrap()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn watch_prints_again_when_a_stream_changes() {
    let env = Env::start().await;
    env.create(Kind::V0, stream(Kind::V0, "orders", true, None)).await;
    env.wait_phase(Kind::V0, "orders", "Suspended", secs(30)).await;
    arcane_testkit::scenario::wait_classes_ready(&env).await;

    let out = Shared::default();
    let lists = || {
        env.sandbox
            .requests()
            .into_iter()
            .filter(|r| r.method == "GET" && r.path.ends_with("/mockstreamv0s"))
            .count()
    };
    let watching = {
        let client = env.client.clone();
        let mut out = out.clone();
        tokio::spawn(async move {
            let scope = Scope::Namespace(NS.to_owned());
            plugin::watch(
                &client,
                &scope,
                Output::Table,
                &mut out,
                Duration::from_millis(100),
                None,
            )
            .await
        })
    };
    let reports = |text: &str| text.matches("CLASS ").count();
    wait_until("the first report", secs(10), || async {
        reports(&out.text()) == 1
    })
    .await;
    // Nothing changed: polling on prints nothing more.
    let polled = lists();
    wait_until("three more polls", secs(10), || async { lists() >= polled + 3 }).await;
    assert_eq!(reports(&out.text()), 1, "{}", out.text());
    assert!(out.text().contains("orders  Suspended"), "{}", out.text());

    env.set_suspended(Kind::V0, "orders", false).await;
    wait_until("a report with orders running", secs(30), || async {
        out.text()
            .rsplit("CLASS ")
            .next()
            .is_some_and(|last| last.contains("orders  Running"))
    })
    .await;
    watching.abort();
    let text = out.text();
    let frames: Vec<&str> = text.split("CLASS ").skip(1).collect();
    assert!(frames.len() >= 2, "{text}");
    for pair in frames.windows(2) {
        // Each frame ends with the next one's time: compare the tables alone.
        let table = |f: &str| {
            f.trim_end()
                .rsplit_once('\n')
                .map_or(f.to_owned(), |(t, _)| t.to_owned())
        };
        assert_ne!(table(pair[0]), table(pair[1]), "{text}");
    }
    env.stop().await;
}

#[test]
fn the_command_line_parses_like_kubectl() {
    let parse = |argv: &[&str]| {
        PluginCli::try_parse_from(std::iter::once("kubectl-arcane").chain(argv.iter().copied()))
    };
    let cli = parse(&["status", "-A", "-w", "-o", "json", "--interval", "10s"]).unwrap();
    let PluginCommand::Status(status) = cli.args.command else {
        panic!()
    };
    assert!(status.all_namespaces && status.watch && status.output == Output::Json);
    assert_eq!(status.interval, Duration::from_secs(10));
    let cli = parse(&["-n", "prod", "logs", "orders", "-f", "--tail", "10"]).unwrap();
    assert_eq!(cli.args.namespace.as_deref(), Some("prod"));
    assert!(parse(&["backfill"]).is_err(), "a stream name is required");
    assert!(parse(&["status", "-o", "wide"]).is_err());

    // The same commands under `arcane-operator kubectl`.
    let operator = arcane_operator::cli::Cli::try_parse_from([
        "arcane-operator",
        "kubectl",
        "describe",
        "orders",
        "-n",
        "x",
    ])
    .unwrap();
    assert!(matches!(
        operator.command,
        arcane_operator::cli::Command::Kubectl(_)
    ));

    let as_plugin = |argv0: &str| plugin::invoked_as(Some(argv0.as_ref()), plugin::PLUGIN_BINARY);
    assert!(as_plugin("/home/u/.local/bin/kubectl-arcane"));
    assert!(as_plugin("kubectl-arcane"));
    assert!(!as_plugin("/usr/bin/arcane-operator"));
    assert!(!as_plugin("/usr/bin/kubectl_complete-arcane"));
}

#[test]
fn help_has_examples_and_completion_is_generated() {
    use clap::CommandFactory;
    let help = PluginCli::command().render_long_help().to_string();
    for want in ["Examples:", "kubectl arcane status -A --watch", "ln -s"] {
        assert!(help.contains(want), "{want}: {help}");
    }
    let mut cmd = PluginCli::command();
    let mut script = Vec::new();
    clap_complete::generate(
        clap_complete::Shell::Bash,
        &mut cmd,
        plugin::PLUGIN_BINARY,
        &mut script,
    );
    let script = String::from_utf8(script).unwrap();
    assert!(
        script.contains("kubectl-arcane") && script.contains("backfill"),
        "{script}"
    );
}

/// A stream whose Jobs fail: `describe` and `restart` give the operator's recovery (suspend, then
/// resume), and the first step of it works.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_crash_looping_stream_gets_the_recovery_hint() {
    let env = Env::start().await;
    let failing = json!({
        "apiVersion": "streaming.sneaksanddata.com/v1",
        "kind": "StreamingJobTemplate",
        "metadata": {"name": "failing-job", "namespace": NS},
        "spec": {
            "apiVersion": "batch/v1",
            "kind": "Job",
            "metadata": {"annotations": {
                "sandbox.arcane.dev/outcome": "Fail", "sandbox.arcane.dev/after": "300ms",
            }},
            "spec": {"backoffLimit": 1, "template": {"spec": {
                "restartPolicy": "Never",
                "containers": [{"name": "stream", "image": "demo"}],
            }}},
        },
    });
    arcane_operator::sandbox::install::apply_documents(&env.client, &[failing])
        .await
        .unwrap();
    let mut crashy = stream(Kind::V1, "crashy", false, None);
    crashy["spec"]["execution"]["streamingBackend"]["changeCapture"]["jobTemplateRef"]["name"] =
        json!("failing-job");
    env.create(Kind::V1, crashy).await;
    env.wait_phase(Kind::V1, "crashy", "Failed", secs(30)).await;

    let described = run(&env, &["describe", "crashy"]).await.unwrap();
    assert!(
        described.contains("Suspend and resume the stream"),
        "the operator's message: {described}"
    );
    assert!(
        described.contains("\nTo recover: kubectl arcane suspend crashy, wait for phase Suspended, then kubectl arcane resume crashy"),
        "{described}"
    );
    let status = run(&env, &["status"]).await.unwrap();
    assert!(
        status.ends_with("\nMockStreamV1/crashy failed: kubectl arcane describe mockstreamv1/crashy\n"),
        "{status}"
    );
    let refused = run(&env, &["restart", "crashy"]).await.unwrap_err().to_string();
    assert!(refused.contains("`kubectl arcane suspend crashy`"), "{refused}");
    run(&env, &["suspend", "crashy"]).await.unwrap();
    env.wait_phase(Kind::V1, "crashy", "Suspended", secs(30)).await;
    env.stop().await;
}
