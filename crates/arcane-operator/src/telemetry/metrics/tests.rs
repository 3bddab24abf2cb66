use std::collections::{BTreeMap, HashMap};

use super::*;

/// One sample line of the text exposition: name, labels, value.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Sample {
    pub name: String,
    pub labels: BTreeMap<String, String>,
    pub value: f64,
}

/// Parses the sample lines of an OpenMetrics or Prometheus text exposition. Label values here
/// never contain `,`, `"` or `}`, which keeps the parser small.
pub(crate) fn parse_samples(text: &str) -> Vec<Sample> {
    text.lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
        .map(|line| {
            let (head, value) = line.rsplit_once(' ').unwrap();
            let (name, labels) = match head.split_once('{') {
                Some((name, rest)) => {
                    let inner = rest.strip_suffix('}').unwrap();
                    let labels = inner
                        .split(',')
                        .filter(|p| !p.is_empty())
                        .map(|pair| {
                            let (k, v) = pair.split_once('=').unwrap();
                            (k.to_string(), v.trim_matches('"').to_string())
                        })
                        .collect();
                    (name.to_string(), labels)
                }
                None => (head.to_string(), BTreeMap::new()),
            };
            let value = match value {
                "+Inf" => f64::INFINITY,
                v => v.parse().unwrap(),
            };
            Sample { name, labels, value }
        })
        .collect()
}

pub(crate) fn value(text: &str, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
    let want: BTreeMap<String, String> = labels
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    parse_samples(text)
        .into_iter()
        .find(|s| s.name == name && s.labels == want)
        .map(|s| s.value)
}

const C: &str = "stream/kafka";

#[test]
fn registered_controller_has_every_controller_runtime_series_at_zero() {
    let m = Metrics::new();
    m.register_controller(C, 8);
    let text = m.encode();
    for result in ["success", "error", "requeue", "requeue_after"] {
        assert_eq!(
            value(
                &text,
                "controller_runtime_reconcile_total",
                &[("controller", C), ("result", result)]
            ),
            Some(0.0),
            "result {result}\n{text}"
        );
    }
    let c = [("controller", C)];
    let expected = [
        ("controller_runtime_reconcile_errors_total", 0.0),
        ("controller_runtime_terminal_reconcile_errors_total", 0.0),
        ("controller_runtime_reconcile_panics_total", 0.0),
        ("controller_runtime_reconcile_time_seconds_count", 0.0),
        ("controller_runtime_max_concurrent_reconciles", 8.0),
        ("controller_runtime_active_workers", 0.0),
    ];
    for (name, v) in expected {
        assert_eq!(value(&text, name, &c), Some(v), "{name}\n{text}");
    }
    let q = [("name", C), ("controller", C)];
    for name in [
        "workqueue_adds_total",
        "workqueue_retries_total",
        "workqueue_depth",
        "workqueue_unfinished_work_seconds",
        "workqueue_longest_running_processor_seconds",
        "workqueue_queue_duration_seconds_count",
        "workqueue_work_duration_seconds_count",
    ] {
        assert_eq!(value(&text, name, &q), Some(0.0), "{name}\n{text}");
    }
    assert!(text.ends_with("# EOF\n"), "OpenMetrics needs its terminator");
}

#[test]
fn histogram_uses_the_forty_controller_runtime_buckets() {
    let m = Metrics::new();
    m.register_controller(C, 1);
    let buckets: Vec<Sample> = parse_samples(&m.encode())
        .into_iter()
        .filter(|s| s.name == "controller_runtime_reconcile_time_seconds_bucket")
        .collect();
    assert_eq!(buckets.len(), 41, "40 bounds and +Inf");
    assert_eq!(buckets[0].labels.get("le").map(String::as_str), Some("0.005"));
    assert_eq!(buckets[39].labels.get("le").map(String::as_str), Some("60.0"));
}

#[test]
fn guard_counts_workers_results_and_time() {
    let m = Metrics::new();
    m.register_controller(C, 4);
    let a = m.reconcile_guard(C);
    let b = m.reconcile_guard(C);
    assert_eq!(
        value(
            &m.encode(),
            "controller_runtime_active_workers",
            &[("controller", C)]
        ),
        Some(2.0)
    );
    a.finish(ReconcileResult::Success);
    b.finish(ReconcileResult::RequeueAfter);
    let text = m.encode();
    let total = |result| {
        value(
            &text,
            "controller_runtime_reconcile_total",
            &[("controller", C), ("result", result)],
        )
    };
    assert_eq!(total("success"), Some(1.0));
    assert_eq!(total("requeue_after"), Some(1.0));
    assert_eq!(total("error"), Some(0.0));
    let c = [("controller", C)];
    assert_eq!(value(&text, "controller_runtime_active_workers", &c), Some(0.0));
    assert_eq!(
        value(&text, "controller_runtime_reconcile_time_seconds_count", &c),
        Some(2.0)
    );
}

#[test]
fn errors_terminal_errors_panics_and_cancellation() {
    struct Case {
        name: &'static str,
        run: fn(&Metrics),
        // errors, terminal, panics, result=error
        expect: [f64; 4],
    }
    let cases = [
        Case {
            name: "error",
            run: |m| m.reconcile_guard(C).finish(ReconcileResult::Error),
            expect: [1.0, 0.0, 0.0, 1.0],
        },
        Case {
            name: "terminal",
            run: |m| m.reconcile_guard(C).finish(ReconcileResult::TerminalError),
            expect: [1.0, 1.0, 0.0, 1.0],
        },
        Case {
            name: "panic",
            run: |m| {
                let m = m.clone();
                let caught = std::panic::catch_unwind(std::panic::AssertUnwindSafe(move || {
                    let _guard = m.reconcile_guard(C);
                    panic!("reconcile bug");
                }));
                assert!(caught.is_err());
            },
            expect: [1.0, 0.0, 1.0, 1.0],
        },
        Case {
            name: "cancelled",
            run: |m| drop(m.reconcile_guard(C)),
            expect: [0.0, 0.0, 0.0, 0.0],
        },
    ];
    for case in cases {
        let m = Metrics::new();
        m.register_controller(C, 1);
        (case.run)(&m);
        let text = m.encode();
        let c = [("controller", C)];
        let got = [
            value(&text, "controller_runtime_reconcile_errors_total", &c),
            value(&text, "controller_runtime_terminal_reconcile_errors_total", &c),
            value(&text, "controller_runtime_reconcile_panics_total", &c),
            value(
                &text,
                "controller_runtime_reconcile_total",
                &[("controller", C), ("result", "error")],
            ),
        ];
        assert_eq!(got, case.expect.map(Some), "case {}", case.name);
        assert_eq!(
            value(&text, "controller_runtime_active_workers", &c),
            Some(0.0),
            "case {}",
            case.name
        );
        assert_eq!(
            value(&text, "controller_runtime_reconcile_time_seconds_count", &c),
            Some(1.0),
            "case {}",
            case.name
        );
    }
}

#[test]
fn workqueue_and_leader_hooks() {
    let m = Metrics::new();
    m.register_controller(C, 2);
    m.workqueue_add(C, "ns/a");
    m.workqueue_add(C, "ns/a");
    m.workqueue_add(C, "ns/b");
    m.workqueue_retry(C, "ns/c", std::time::Duration::from_secs(3600));
    m.workqueue_add(C, "ns/gone");
    m.workqueue_forget(C, "ns/gone");
    m.set_leader("arcane-operator", true);
    let text = m.encode();
    let q = [("name", C), ("controller", C)];
    assert_eq!(value(&text, "workqueue_adds_total", &q), Some(3.0), "{text}");
    assert_eq!(value(&text, "workqueue_retries_total", &q), Some(1.0));
    assert_eq!(value(&text, "workqueue_depth", &q), Some(2.0), "c is not due yet");
    let guard = m.reconcile_item(C, "ns/a");
    let text = m.encode();
    assert_eq!(value(&text, "workqueue_depth", &q), Some(1.0));
    assert_eq!(
        value(&text, "workqueue_queue_duration_seconds_count", &q),
        Some(1.0)
    );
    guard.finish(ReconcileResult::Success);
    let text = m.encode();
    assert_eq!(
        value(&text, "workqueue_work_duration_seconds_count", &q),
        Some(1.0)
    );
    assert_eq!(value(&text, "workqueue_unfinished_work_seconds", &q), Some(0.0));
    let lease = [("name", "arcane-operator")];
    assert_eq!(value(&text, "leader_election_master_status", &lease), Some(1.0));
    m.set_leader("arcane-operator", false);
    assert_eq!(
        value(&m.encode(), "leader_election_master_status", &lease),
        Some(0.0)
    );
}

#[test]
fn stream_phases_replace_and_forget() {
    let m = Metrics::new();
    m.register_controller(&stream_controller("kafka"), 2);
    let phases = |pairs: &[(&str, i64)]| {
        pairs
            .iter()
            .map(|(p, n)| (p.to_string(), *n))
            .collect::<HashMap<_, _>>()
    };
    m.set_stream_phases("kafka", &phases(&[("Running", 3), ("Failed", 1)]));
    m.set_stream_phases("sql", &phases(&[("Running", 2)]));
    let text = m.encode();
    let streams = |text: &str, class, phase| {
        value(
            text,
            "arcane_streams",
            &[("stream_class", class), ("phase", phase)],
        )
    };
    assert_eq!(streams(&text, "kafka", "Running"), Some(3.0));
    assert_eq!(streams(&text, "kafka", "Failed"), Some(1.0));

    m.set_stream_phases("kafka", &phases(&[("Running", 4)]));
    let text = m.encode();
    assert_eq!(streams(&text, "kafka", "Running"), Some(4.0));
    assert_eq!(
        streams(&text, "kafka", "Failed"),
        None,
        "an emptied phase loses its series"
    );

    m.forget_class("kafka");
    let text = m.encode();
    assert_eq!(streams(&text, "kafka", "Running"), None);
    assert_eq!(
        streams(&text, "sql", "Running"),
        Some(2.0),
        "other classes are untouched"
    );
    let c = [("controller", "stream/kafka")];
    assert_eq!(value(&text, "controller_runtime_active_workers", &c), None);
    assert_eq!(
        value(
            &text,
            "controller_runtime_reconcile_total",
            &[("controller", "stream/kafka"), ("result", "success")]
        ),
        Some(0.0),
        "counters keep their history"
    );
}

#[test]
fn arcane_counters_carry_their_labels() {
    let m = Metrics::new();
    m.workload_created("kafka", "Job", "streaming");
    m.workload_created("kafka", "Job", "streaming");
    m.workload_created("kafka", "Job", "backfill");
    m.workload_replaced("kafka", "CronJob");
    m.workload_deleted("kafka", "Job");
    m.backfill_completed("kafka");
    m.api_error("patch", 409);
    m.api_call("create", "POST", "h:443", None);
    m.api_call("get", "GET", "h:443", Some(200));
    let text = m.encode();
    type Case = (&'static str, &'static [(&'static str, &'static str)], f64);
    let cases: [Case; 7] = [
        (
            "arcane_workloads_created_total",
            &[("stream_class", "kafka"), ("kind", "Job"), ("mode", "streaming")],
            2.0,
        ),
        (
            "arcane_workloads_created_total",
            &[("stream_class", "kafka"), ("kind", "Job"), ("mode", "backfill")],
            1.0,
        ),
        (
            "arcane_workloads_replaced_total",
            &[("stream_class", "kafka"), ("kind", "CronJob")],
            1.0,
        ),
        (
            "arcane_workloads_deleted_total",
            &[("stream_class", "kafka"), ("kind", "Job")],
            1.0,
        ),
        (
            "arcane_backfills_completed_total",
            &[("stream_class", "kafka")],
            1.0,
        ),
        (
            "arcane_api_errors_total",
            &[("verb", "patch"), ("code", "409")],
            1.0,
        ),
        (
            "arcane_api_errors_total",
            &[("verb", "create"), ("code", "transport")],
            1.0,
        ),
    ];
    for (name, labels, expected) in cases {
        assert_eq!(
            value(&text, name, labels),
            Some(expected),
            "{name} {labels:?}\n{text}"
        );
    }
}

#[test]
fn prometheus_text_names_counters_with_total() {
    let m = Metrics::new();
    m.register_controller(C, 1);
    let text = m.encode_prometheus();
    assert!(
        text.contains("# TYPE controller_runtime_reconcile_total counter"),
        "{text}"
    );
    assert!(!text.contains("# EOF"));
    assert_eq!(
        value(
            &text,
            "controller_runtime_reconcile_total",
            &[("controller", C), ("result", "success")]
        ),
        Some(0.0)
    );
}

#[cfg(target_os = "linux")]
#[test]
fn process_metrics_are_scraped_from_proc() {
    let text = Metrics::new().encode();
    for name in [
        "process_cpu_seconds_total",
        "process_resident_memory_bytes",
        "process_virtual_memory_bytes",
        "process_open_fds",
        "process_start_time_seconds",
    ] {
        let v = value(&text, name, &[]).unwrap_or_else(|| panic!("{name} missing\n{text}"));
        assert!(v >= 0.0, "{name} = {v}");
    }
}
