//! The optional PrometheusRule and Grafana dashboard read only series the operator exports: the
//! names in their PromQL are checked against the operator's own registry.

use super::*;

use arcane_operator::telemetry::metrics::{Metrics, ReconcileResult};

/// Series that come from elsewhere: Prometheus' own `up`, and kube-state-metrics' Deployment
/// availability (the not-ready alert).
const EXTERNAL: [&str; 2] = ["up", "kube_deployment_status_replicas_available"];

/// Every sample name the operator's registry can produce: `# TYPE` lines give the family names;
/// counters are sampled as `_total`, histograms as `_bucket`, `_sum` and `_count`. A family shows
/// only once it has a series, so each is given one first through the operator's own calls.
fn exported() -> BTreeSet<String> {
    let metrics = Metrics::new();
    metrics.register_controller("c", 1);
    metrics
        .reconcile_guard("c")
        .finish(ReconcileResult::TerminalError);
    metrics.workqueue_add("c", "k");
    metrics.workqueue_retry("c", "k", std::time::Duration::ZERO);
    metrics.set_leader("lease", true);
    metrics.set_stream_phases("class", &std::collections::HashMap::from([("Failed", 1)]));
    metrics.workload_created("class", "Job", "streaming");
    metrics.workload_replaced("class", "Job");
    metrics.workload_deleted("class", "Job");
    metrics.backfill_completed("class");
    metrics.api_call("create", "POST", "127.0.0.1:6443", Some(409));
    let text = metrics.encode();
    let mut names = BTreeSet::new();
    for line in text.lines() {
        let mut words = line.split_whitespace();
        if words.next() != Some("#") || words.next() != Some("TYPE") {
            continue;
        }
        let (Some(name), Some(kind)) = (words.next(), words.next()) else {
            continue;
        };
        match kind {
            "counter" => {
                names.insert(format!("{}_total", name.trim_end_matches("_total")));
            }
            "histogram" => {
                for suffix in ["_bucket", "_sum", "_count"] {
                    names.insert(format!("{name}{suffix}"));
                }
            }
            _ => {
                names.insert(name.to_string());
            }
        }
    }
    names
}

/// The metric names a PromQL expression selects: identifiers followed by `{`.
fn selected_metrics(expr: &str) -> Vec<String> {
    let bytes = expr.as_bytes();
    let mut out = Vec::new();
    let mut start = None;
    for (i, &b) in bytes.iter().enumerate() {
        let ident = b.is_ascii_alphanumeric() || b == b'_' || b == b':';
        match (start, ident) {
            (None, true) => start = Some(i),
            (Some(s), false) => {
                if b == b'{' {
                    out.push(expr[s..i].to_string());
                }
                start = None;
            }
            _ => {}
        }
    }
    out
}

fn check_names(what: &str, exprs: &[String]) {
    let exported = exported();
    assert!(
        exported.contains("controller_runtime_reconcile_total") && exported.contains("arcane_streams"),
        "the registry lists its families: {exported:?}"
    );
    for expr in exprs {
        let names = selected_metrics(expr);
        assert!(!names.is_empty(), "{what}: no metric in {expr}");
        for name in names {
            assert!(
                exported.contains(&name) || EXTERNAL.contains(&name.as_str()),
                "{what} reads {name}, which the operator does not export ({expr})"
            );
        }
    }
}

#[test]
fn prometheus_rule_alerts_on_exported_metrics_and_is_off_by_default() {
    let Some(helm) = helm() else { return };
    assert!(of_kind(&render(&helm, &[]), "PrometheusRule").is_empty());
    let alerts = |sets: &[&str]| -> Vec<(String, String)> {
        let docs = render(&helm, sets);
        let rule = one(&docs, "PrometheusRule");
        rule["spec"]["groups"][0]["rules"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| {
                (
                    r["alert"].as_str().unwrap().to_string(),
                    r["expr"].as_str().unwrap().to_string(),
                )
            })
            .collect()
    };
    let elected = alerts(&["prometheusRule.enabled=true", "leaderElection.enabled=true"]);
    let names: Vec<&str> = elected.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(
        names,
        [
            "ArcaneStreamFailed",
            "ArcaneReconcileErrors",
            "ArcaneNoLeader",
            "ArcaneOperatorDown",
            "ArcaneOperatorNotReady"
        ]
    );
    let exprs: Vec<String> = elected.iter().map(|(_, e)| e.clone()).collect();
    check_names("PrometheusRule", &exprs);
    for (alert, expr) in &elected {
        if alert != "ArcaneOperatorNotReady" {
            assert!(
                expr.contains(r#"job="t-arcane-operator-metrics",namespace="arcane""#),
                "{alert} selects the release's series: {expr}"
            );
        }
    }
    let plain = alerts(&["prometheusRule.enabled=true"]);
    assert!(
        !plain.iter().any(|(n, _)| n == "ArcaneNoLeader"),
        "no Lease without leader election"
    );
    let custom = alerts(&[
        "prometheusRule.enabled=true",
        r#"prometheusRule.metricSelector=job="arcane""#,
    ]);
    assert!(
        custom[0]
            .1
            .contains(r#"arcane_streams{job="arcane",phase="Failed"}"#),
        "{custom:?}"
    );
}

#[test]
fn grafana_dashboard_reads_exported_metrics_and_is_off_by_default() {
    let Some(helm) = helm() else { return };
    assert!(of_kind(&render(&helm, &[]), "ConfigMap").is_empty());
    let docs = render(&helm, &["grafanaDashboard.enabled=true"]);
    let cm = one(&docs, "ConfigMap");
    assert_eq!(cm["metadata"]["labels"]["grafana_dashboard"], "1");
    let dashboard: Value =
        serde_json::from_str(cm["data"]["arcane-operator.json"].as_str().unwrap()).unwrap();
    let exprs: Vec<String> = dashboard["panels"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|p| p["targets"].as_array().unwrap().iter())
        .map(|t| t["expr"].as_str().unwrap().to_string())
        .collect();
    assert!(exprs.len() >= 10, "{exprs:?}");
    check_names("dashboard", &exprs);
}
