//! The queries of the standard controller-runtime Grafana dashboard (kubebuilder's grafana/v1-alpha
//! plugin: `controller-runtime-metrics.json` and `controller-resources-metrics.json`), and a check
//! that each selects at least one series of a scrape. Dashboard variables (`$job`, `$namespace`)
//! are labels Prometheus adds at scrape time, so matchers on them are ignored here.

use super::prom::{Sample, Scrape};

/// The dashboards' expressions, panel by panel.
pub(crate) const KUBEBUILDER_QUERIES: [&str; 14] = [
    r#"sum(rate(controller_runtime_reconcile_total{job="$job", namespace="$namespace"}[5m])) by (instance, pod)"#,
    r#"sum(rate(controller_runtime_reconcile_errors_total{job="$job", namespace="$namespace"}[5m])) by (instance, pod)"#,
    r#"histogram_quantile(0.99, sum(rate(controller_runtime_reconcile_time_seconds_bucket{job="$job", namespace="$namespace"}[5m])) by (instance, pod, le))"#,
    r#"controller_runtime_active_workers{job="$job", namespace="$namespace"}"#,
    r#"controller_runtime_max_concurrent_reconciles{job="$job", namespace="$namespace"}"#,
    r#"workqueue_depth{job="$job", namespace="$namespace"}"#,
    r#"sum(rate(workqueue_adds_total{job="$job", namespace="$namespace"}[5m])) by (instance, name)"#,
    r#"histogram_quantile(0.50, sum(rate(workqueue_queue_duration_seconds_bucket{job="$job", namespace="$namespace"}[5m])) by (instance, name, le))"#,
    r#"histogram_quantile(0.50, sum(rate(workqueue_work_duration_seconds_bucket{job="$job", namespace="$namespace"}[5m])) by (instance, name, le))"#,
    r#"rate(workqueue_unfinished_work_seconds{job="$job", namespace="$namespace"}[5m])"#,
    r#"rate(workqueue_longest_running_processor_seconds{job="$job", namespace="$namespace"}[5m])"#,
    r#"sum(rate(workqueue_retries_total{job="$job", namespace="$namespace"}[5m])) by (instance, name)"#,
    r#"sum(rate(rest_client_requests_total{job="$job", namespace="$namespace", code=~"2.."}[5m])) by (instance, method)"#,
    r#"rate(process_cpu_seconds_total{job="$job", namespace="$namespace"}[5m]) * 100"#,
];

/// One vector selector of a query: the metric name and its label matchers.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Selector {
    pub metric: String,
    /// (label, operator, value); operator is `=`, `!=`, `=~` or `!~`.
    pub matchers: Vec<(String, String, String)>,
}

/// The vector selectors (`name{…}`) of a PromQL expression.
pub(crate) fn selectors(query: &str) -> Vec<Selector> {
    let mut out = Vec::new();
    let bytes: Vec<char> = query.chars().collect();
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i].is_ascii_alphabetic() || bytes[i] == '_' {
            let start = i;
            while i < bytes.len() && (bytes[i].is_ascii_alphanumeric() || bytes[i] == '_' || bytes[i] == ':')
            {
                i += 1;
            }
            if i < bytes.len() && bytes[i] == '{' {
                let name: String = bytes[start..i].iter().collect();
                let close = bytes[i..]
                    .iter()
                    .position(|c| *c == '}')
                    .map_or(bytes.len(), |p| i + p);
                let inner: String = bytes[i + 1..close].iter().collect();
                out.push(Selector {
                    metric: name,
                    matchers: matchers(&inner),
                });
                i = close;
            }
        }
        i += 1;
    }
    out
}

fn matchers(inner: &str) -> Vec<(String, String, String)> {
    inner
        .split(',')
        .filter_map(|m| {
            let m = m.trim();
            let op_at = m.find(['=', '!'])?;
            let (label, rest) = m.split_at(op_at);
            let op_len = if rest.starts_with("=~") || rest.starts_with("!~") || rest.starts_with("!=") {
                2
            } else {
                1
            };
            let (op, value) = rest.split_at(op_len);
            Some((
                label.trim().to_string(),
                op.to_string(),
                value.trim().trim_matches('"').to_string(),
            ))
        })
        .collect()
}

/// Whether `value` matches a PromQL regex made of literals and `.` (all the dashboards use).
fn regex_match(pattern: &str, value: &str) -> bool {
    pattern.chars().count() == value.chars().count()
        && pattern
            .chars()
            .zip(value.chars())
            .all(|(p, v)| p == '.' || p == v)
}

impl Selector {
    /// Whether a sample is selected; matchers on dashboard variables are Prometheus's own labels.
    pub(crate) fn selects(&self, sample: &Sample) -> bool {
        sample.name == self.metric
            && self.matchers.iter().all(|(label, op, value)| {
                if value.starts_with('$') {
                    return true;
                }
                let got = sample.labels.get(label).map(String::as_str).unwrap_or_default();
                match op.as_str() {
                    "=" => got == value,
                    "!=" => got != value,
                    "=~" => regex_match(value, got),
                    "!~" => !regex_match(value, got),
                    _ => false,
                }
            })
    }
}

/// The selectors of the dashboards that select nothing in `scrape`.
pub(crate) fn empty_panels(scrape: &Scrape) -> Vec<String> {
    KUBEBUILDER_QUERIES
        .iter()
        .flat_map(|q| selectors(q))
        .filter(|s| !scrape.samples.iter().any(|sample| s.selects(sample)))
        .map(|s| format!("{} {:?}", s.metric, s.matchers))
        .collect()
}

#[test]
fn selectors_are_read_from_the_queries() {
    let s = selectors(KUBEBUILDER_QUERIES[12]);
    assert_eq!(s.len(), 1);
    assert_eq!(s[0].metric, "rest_client_requests_total");
    assert!(
        s[0].matchers
            .contains(&("code".into(), "=~".into(), "2..".into()))
    );
    assert!(regex_match("2..", "200") && !regex_match("2..", "404"));
    let all: Vec<String> = KUBEBUILDER_QUERIES
        .iter()
        .flat_map(|q| selectors(q))
        .map(|s| s.metric)
        .collect();
    assert_eq!(all.len(), KUBEBUILDER_QUERIES.len(), "{all:?}");
}
