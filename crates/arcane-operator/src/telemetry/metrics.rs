//! The operator's Prometheus registry: controller-runtime's metric names and labels (so existing
//! kubebuilder dashboards and alerts work unchanged), process metrics, and Arcane's own series.
//!
//! Counters are registered without the `_total` suffix because the encoder appends it, as the
//! OpenMetrics and Prometheus text formats require.

use std::collections::{BTreeSet, HashMap};
use std::fmt::Display;
use std::sync::{Arc, Mutex};

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;
use tokio::time::Instant;

use super::process::ProcessCollector;

/// controller-runtime's `controller_runtime_reconcile_time_seconds` buckets (5 ms … 60 s).
pub const RECONCILE_TIME_BUCKETS: [f64; 40] = [
    0.005, 0.01, 0.025, 0.05, 0.1, 0.15, 0.2, 0.25, 0.3, 0.35, 0.4, 0.45, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0, 1.25,
    1.5, 1.75, 2.0, 2.5, 3.0, 3.5, 4.0, 4.5, 5.0, 6.0, 7.0, 8.0, 9.0, 10.0, 15.0, 20.0, 25.0, 30.0, 40.0,
    50.0, 60.0,
];

/// The `controller` label of the StreamClass controller.
pub const STREAMCLASS_CONTROLLER: &str = "streamclass";

/// The `controller` label of the stream controller of one StreamClass.
pub fn stream_controller(class: &str) -> String {
    format!("stream/{class}")
}

/// How one reconcile ended, as controller-runtime labels it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReconcileResult {
    /// Done; wait for the next change.
    Success,
    /// Done; run again soon (rate-limited).
    Requeue,
    /// Done; run again after a fixed delay.
    RequeueAfter,
    /// Failed; will be retried.
    Error,
    /// Failed on input that a retry cannot fix.
    TerminalError,
}

impl ReconcileResult {
    /// The `result` label value; terminal errors count as `error`, like controller-runtime.
    pub fn label(self) -> &'static str {
        match self {
            ReconcileResult::Success => "success",
            ReconcileResult::Requeue => "requeue",
            ReconcileResult::RequeueAfter => "requeue_after",
            ReconcileResult::Error | ReconcileResult::TerminalError => "error",
        }
    }
}

const RESULT_LABELS: [&str; 4] = ["success", "error", "requeue", "requeue_after"];

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ControllerLabels {
    controller: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ResultLabels {
    controller: String,
    result: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct QueueLabels {
    name: String,
    controller: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct NameLabels {
    name: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct StreamLabels {
    stream_class: String,
    phase: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct CreatedLabels {
    stream_class: String,
    kind: String,
    mode: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct WorkloadLabels {
    stream_class: String,
    kind: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ClassLabels {
    stream_class: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ApiErrorLabels {
    verb: String,
    code: String,
}

/// client-go's `rest_client_requests_total` labels.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RestLabels {
    code: String,
    method: String,
    host: String,
}

type HistogramFamily = Family<ControllerLabels, Histogram, fn() -> Histogram>;

fn reconcile_histogram() -> Histogram {
    Histogram::new(RECONCILE_TIME_BUCKETS)
}

struct Inner {
    registry: Registry,
    reconcile_total: Family<ResultLabels, Counter>,
    reconcile_errors: Family<ControllerLabels, Counter>,
    terminal_errors: Family<ControllerLabels, Counter>,
    panics: Family<ControllerLabels, Counter>,
    reconcile_time: HistogramFamily,
    max_concurrent: Family<ControllerLabels, Gauge>,
    active_workers: Family<ControllerLabels, Gauge>,
    queue_depth: Family<QueueLabels, Gauge>,
    queue_adds: Family<QueueLabels, Counter>,
    queue_retries: Family<QueueLabels, Counter>,
    /// The derived `workqueue_*` series (see [`workqueue`]).
    queue: workqueue::QueueFamilies,
    rest_requests: Family<RestLabels, Counter>,
    leader: Family<NameLabels, Gauge>,
    streams: Family<StreamLabels, Gauge>,
    created: Family<CreatedLabels, Counter>,
    replaced: Family<WorkloadLabels, Counter>,
    deleted: Family<WorkloadLabels, Counter>,
    backfills: Family<ClassLabels, Counter>,
    status_refused: Family<ClassLabels, Counter>,
    api_errors: Family<ApiErrorLabels, Counter>,
    /// Phases last reported per class, so phases that emptied and classes that are gone lose their
    /// series (the registry cannot enumerate a family's label sets).
    stream_phases: Mutex<HashMap<String, BTreeSet<String>>>,
}

/// The operator's metrics. Cheap to clone; every clone updates the same registry.
#[derive(Clone)]
pub struct Metrics {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Metrics").finish_non_exhaustive()
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics::new()
    }
}

impl Metrics {
    /// A registry with every operator metric and the `/proc/self` process collector.
    pub fn new() -> Self {
        let mut registry = Registry::default();
        let inner = Inner {
            reconcile_total: family(
                &mut registry,
                "controller_runtime_reconcile",
                "Total number of reconciliations per controller",
            ),
            reconcile_errors: family(
                &mut registry,
                "controller_runtime_reconcile_errors",
                "Total number of reconciliation errors per controller",
            ),
            terminal_errors: family(
                &mut registry,
                "controller_runtime_terminal_reconcile_errors",
                "Total number of terminal reconciliation errors per controller",
            ),
            panics: family(
                &mut registry,
                "controller_runtime_reconcile_panics",
                "Total number of reconciliation panics per controller",
            ),
            reconcile_time: {
                let f: HistogramFamily = Family::new_with_constructor(reconcile_histogram);
                registry.register(
                    "controller_runtime_reconcile_time_seconds",
                    "Length of time per reconciliation per controller",
                    f.clone(),
                );
                f
            },
            max_concurrent: family(
                &mut registry,
                "controller_runtime_max_concurrent_reconciles",
                "Maximum number of concurrent reconciles per controller",
            ),
            active_workers: family(
                &mut registry,
                "controller_runtime_active_workers",
                "Number of currently used workers per controller",
            ),
            queue_depth: family(&mut registry, "workqueue_depth", "Current depth of workqueue"),
            queue_adds: family(
                &mut registry,
                "workqueue_adds",
                "Total number of adds handled by workqueue",
            ),
            queue_retries: family(
                &mut registry,
                "workqueue_retries",
                "Total number of retries handled by workqueue",
            ),
            queue: workqueue::QueueFamilies::register(&mut registry),
            rest_requests: family(
                &mut registry,
                "rest_client_requests",
                "Number of HTTP requests, partitioned by status code, method, and host",
            ),
            leader: family(
                &mut registry,
                "leader_election_master_status",
                "Gauge of if the reporting system is master of the relevant lease, 0 indicates backup, 1 indicates master. 'name' is the string used to identify the lease. Please make sure to group by name.",
            ),
            streams: family(
                &mut registry,
                "arcane_streams",
                "Stream definitions per StreamClass and phase",
            ),
            created: family(
                &mut registry,
                "arcane_workloads_created",
                "Jobs and CronJobs created, per StreamClass, kind and mode (streaming or backfill)",
            ),
            replaced: family(
                &mut registry,
                "arcane_workloads_replaced",
                "Workloads deleted to be recreated with a new configuration",
            ),
            deleted: family(
                &mut registry,
                "arcane_workloads_deleted",
                "Workloads deleted (suspension, completion, backend switch)",
            ),
            backfills: family(
                &mut registry,
                "arcane_backfills_completed",
                "BackfillRequests marked completed",
            ),
            status_refused: family(
                &mut registry,
                "arcane_status_writes_refused",
                "Stream status writes the API server refused for their content (the plugin's status schema), per StreamClass",
            ),
            api_errors: family(
                &mut registry,
                "arcane_api_errors",
                "Kubernetes API calls that failed, per verb and HTTP status code",
            ),
            stream_phases: Mutex::new(HashMap::new()),
            registry: {
                registry.register_collector(Box::new(ProcessCollector::new()));
                registry
            },
        };
        Metrics {
            inner: Arc::new(inner),
        }
    }

    /// Declares a controller: sets its concurrency and pre-initialises its series to 0, as
    /// controller-runtime does, so rates exist before the first reconcile.
    pub fn register_controller(&self, controller: &str, max_concurrent: u32) {
        let i = &self.inner;
        let c = controller_labels(controller);
        for result in RESULT_LABELS {
            drop(
                i.reconcile_total
                    .get_or_create(&result_labels(controller, result)),
            );
        }
        drop(i.reconcile_errors.get_or_create(&c));
        drop(i.terminal_errors.get_or_create(&c));
        drop(i.panics.get_or_create(&c));
        drop(i.reconcile_time.get_or_create(&c));
        i.active_workers.get_or_create(&c).set(0);
        i.max_concurrent.get_or_create(&c).set(i64::from(max_concurrent));
        let q = queue_labels(controller);
        drop(i.queue_adds.get_or_create(&q));
        drop(i.queue_retries.get_or_create(&q));
        i.queue_depth.get_or_create(&q).set(0);
        i.queue.add_controller(controller, &q);
    }

    /// Removes the gauges of a controller that stopped (a deleted StreamClass); its counters stay,
    /// because a counter that vanishes and comes back reads as a reset, not as lost history.
    pub fn forget_controller(&self, controller: &str) {
        let c = controller_labels(controller);
        self.inner.active_workers.remove(&c);
        self.inner.max_concurrent.remove(&c);
        self.forget_queue(controller);
    }

    /// Starts timing one reconcile of `controller` and counts it as an active worker until the
    /// guard is dropped. Call [`ReconcileGuard::finish`] with the outcome.
    pub fn reconcile_guard(&self, controller: &str) -> ReconcileGuard {
        self.inner
            .active_workers
            .get_or_create(&controller_labels(controller))
            .inc();
        ReconcileGuard {
            metrics: self.clone(),
            controller: controller.to_string(),
            started: Instant::now(),
            finished: false,
            run: None,
        }
    }

    /// [`Self::reconcile_guard`] for the object `key` taken from the controller's queue: also
    /// feeds the `workqueue_*` series (see [`workqueue`]).
    pub fn reconcile_item(&self, controller: &str, key: &str) -> ReconcileGuard {
        let run = self.workqueue_start(controller, key);
        let mut guard = self.reconcile_guard(controller);
        guard.run = Some(run);
        guard
    }

    fn record_result(&self, controller: &str, result: ReconcileResult) {
        let i = &self.inner;
        i.reconcile_total
            .get_or_create(&result_labels(controller, result.label()))
            .inc();
        let c = controller_labels(controller);
        match result {
            ReconcileResult::Error => {
                i.reconcile_errors.get_or_create(&c).inc();
            }
            ReconcileResult::TerminalError => {
                i.reconcile_errors.get_or_create(&c).inc();
                i.terminal_errors.get_or_create(&c).inc();
            }
            ReconcileResult::Success | ReconcileResult::Requeue | ReconcileResult::RequeueAfter => {}
        }
    }

    /// Whether this replica holds the lease `name`.
    pub fn set_leader(&self, name: &str, leading: bool) {
        let labels = NameLabels {
            name: name.to_string(),
        };
        self.inner.leader.get_or_create(&labels).set(i64::from(leading));
    }

    /// Replaces the stream counts of `class`; phases missing from `counts` lose their series.
    pub fn set_stream_phases<K: Display>(&self, class: &str, counts: &HashMap<K, i64>) {
        let mut known = self
            .inner
            .stream_phases
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let mut now = BTreeSet::new();
        for (phase, count) in counts {
            let phase = phase.to_string();
            self.inner
                .streams
                .get_or_create(&stream_labels(class, &phase))
                .set(*count);
            now.insert(phase);
        }
        let previous = known.insert(class.to_string(), now).unwrap_or_default();
        if let Some(now) = known.get(class) {
            for stale in previous.difference(now) {
                self.inner.streams.remove(&stream_labels(class, stale));
            }
        }
    }

    /// Drops every gauge series of a StreamClass that no longer exists.
    pub fn forget_class(&self, class: &str) {
        let phases = {
            let mut known = self
                .inner
                .stream_phases
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            known.remove(class).unwrap_or_default()
        };
        for phase in phases {
            self.inner.streams.remove(&stream_labels(class, &phase));
        }
        self.forget_controller(&stream_controller(class));
    }

    /// A Job or CronJob was created; `mode` is `streaming` or `backfill`.
    pub fn workload_created(&self, class: &str, kind: &str, mode: &str) {
        let labels = CreatedLabels {
            stream_class: class.to_string(),
            kind: kind.to_string(),
            mode: mode.to_string(),
        };
        self.inner.created.get_or_create(&labels).inc();
    }

    /// A workload was deleted to be recreated with a changed configuration.
    pub fn workload_replaced(&self, class: &str, kind: &str) {
        self.inner
            .replaced
            .get_or_create(&workload_labels(class, kind))
            .inc();
    }

    /// A workload was deleted.
    pub fn workload_deleted(&self, class: &str, kind: &str) {
        self.inner
            .deleted
            .get_or_create(&workload_labels(class, kind))
            .inc();
    }

    /// A BackfillRequest of `class` was marked completed.
    pub fn backfill_completed(&self, class: &str) {
        let labels = ClassLabels {
            stream_class: class.to_string(),
        };
        self.inner.backfills.get_or_create(&labels).inc();
    }

    /// The API server refused a status write of a stream of `class` for its content.
    pub fn status_write_refused(&self, class: &str) {
        let labels = ClassLabels {
            stream_class: class.to_string(),
        };
        self.inner.status_refused.get_or_create(&labels).inc();
    }

    /// A Kubernetes API call failed; `code` is the HTTP status, or a word such as `transport`
    /// when no response arrived.
    pub fn api_error(&self, verb: &str, code: impl Display) {
        let labels = ApiErrorLabels {
            verb: verb.to_string(),
            code: code.to_string(),
        };
        self.inner.api_errors.get_or_create(&labels).inc();
    }

    /// One Kubernetes API call ended with HTTP `status` (None: no answer). Counted by the client
    /// layer ([`super::api::ApiMetricsLayer`]) for every call the operator makes.
    pub fn api_call(&self, verb: &str, method: &str, host: &str, status: Option<u16>) {
        let code = status.map_or_else(|| "<error>".to_string(), |s| s.to_string());
        let labels = RestLabels {
            code,
            method: method.to_string(),
            host: host.to_string(),
        };
        self.inner.rest_requests.get_or_create(&labels).inc();
        match status {
            Some(s) if s >= 400 => self.api_error(verb, s),
            Some(_) => {}
            None => self.api_error(verb, "transport"),
        }
    }

    /// The registry in the OpenMetrics text format (what `/metrics` serves to Prometheus).
    pub fn encode(&self) -> String {
        self.refresh_workqueues();
        let mut out = String::new();
        // Writing to a String cannot fail, and no metric here returns an encoding error.
        if prometheus_client::encoding::text::encode(&mut out, &self.inner.registry).is_err() {
            out.clear();
        }
        out
    }

    /// The registry in the Prometheus text format 0.0.4, for scrapers that do not ask for
    /// OpenMetrics.
    pub fn encode_prometheus(&self) -> String {
        self.refresh_workqueues();
        let mut out = String::new();
        if prometheus_client::encoding::prometheus_text::encode(&mut out, &self.inner.registry).is_err() {
            out.clear();
        }
        out
    }
}

/// Times one reconcile and counts it as an active worker while alive.
///
/// Dropped without [`finish`](Self::finish): during a panic it counts a panic and an error (as
/// controller-runtime does); otherwise (the reconcile was cancelled) it records no result.
#[must_use = "a dropped guard records no result"]
pub struct ReconcileGuard {
    metrics: Metrics,
    controller: String,
    started: Instant,
    finished: bool,
    /// The queue run of [`Metrics::reconcile_item`].
    run: Option<u64>,
}

impl ReconcileGuard {
    /// Records how the reconcile ended.
    pub fn finish(mut self, result: ReconcileResult) {
        self.metrics.record_result(&self.controller, result);
        self.finished = true;
    }
}

impl Drop for ReconcileGuard {
    fn drop(&mut self) {
        let inner = &self.metrics.inner;
        let c = controller_labels(&self.controller);
        inner.active_workers.get_or_create(&c).dec();
        let worked = self.started.elapsed();
        inner
            .reconcile_time
            .get_or_create(&c)
            .observe(worked.as_secs_f64());
        if let Some(run) = self.run {
            self.metrics.workqueue_done(&self.controller, run, worked);
        }
        if !self.finished && std::thread::panicking() {
            inner.panics.get_or_create(&c).inc();
            self.metrics
                .record_result(&self.controller, ReconcileResult::Error);
        }
    }
}

fn family<S, M>(registry: &mut Registry, name: &str, help: &str) -> Family<S, M>
where
    S: Clone + std::hash::Hash + Eq + EncodeLabelSet + std::fmt::Debug + Send + Sync + 'static,
    M: Default + prometheus_client::metrics::TypedMetric + prometheus_client::encoding::EncodeMetric,
    M: std::fmt::Debug + Send + Sync + 'static,
{
    let f = Family::<S, M>::default();
    registry.register(name, help, f.clone());
    f
}

fn controller_labels(controller: &str) -> ControllerLabels {
    ControllerLabels {
        controller: controller.to_string(),
    }
}

fn result_labels(controller: &str, result: &str) -> ResultLabels {
    ResultLabels {
        controller: controller.to_string(),
        result: result.to_string(),
    }
}

/// controller-runtime names the queue after its controller and labels both.
fn queue_labels(controller: &str) -> QueueLabels {
    QueueLabels {
        name: controller.to_string(),
        controller: controller.to_string(),
    }
}

fn stream_labels(class: &str, phase: &str) -> StreamLabels {
    StreamLabels {
        stream_class: class.to_string(),
        phase: phase.to_string(),
    }
}

fn workload_labels(class: &str, kind: &str) -> WorkloadLabels {
    WorkloadLabels {
        stream_class: class.to_string(),
        kind: kind.to_string(),
    }
}

pub mod workqueue;

#[cfg(test)]
pub(crate) mod tests;
