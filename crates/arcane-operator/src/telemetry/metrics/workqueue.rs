//! The `workqueue_*` series, derived from what the operator can see of kube-runtime's scheduler.
//!
//! kube-runtime's `Controller` exposes no queue. What it does is observable from outside, though:
//! every trigger the operator feeds it (a stream event, an owned Job's event, a mapped
//! BackfillRequest or template), every requeue it returns, and every reconcile start and end.
//! The scheduler deduplicates by object and runs the earliest due time, so a map from object to
//! earliest due time, emptied when the object's reconcile starts, is its queue:
//!
//! * `workqueue_adds_total`: an object entered the map (or its delay elapsed), as client-go counts;
//! * `workqueue_depth`: objects due and not started, at scrape time;
//! * `workqueue_queue_duration_seconds`: due time → reconcile start;
//! * `workqueue_work_duration_seconds`: reconcile start → end;
//! * `workqueue_unfinished_work_seconds` / `workqueue_longest_running_processor_seconds`: the sum
//!   and the maximum age of the reconciles running at scrape time;
//! * `workqueue_retries_total`: failed reconciles queued again.
//!
//! A trigger for an object kube then finds missing from its cache is dropped by kube (an
//! `ObjectNotFound` result) and is forgotten here too.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;
use tokio::time::Instant;

use super::{Metrics, QueueLabels};

type QueueHistogramFamily = Family<QueueLabels, Histogram, fn() -> Histogram>;
type FloatGauge = Gauge<f64, std::sync::atomic::AtomicU64>;

/// The series only this view feeds, and the queue of each registered controller.
pub(super) struct QueueFamilies {
    duration: QueueHistogramFamily,
    work: QueueHistogramFamily,
    unfinished: Family<QueueLabels, FloatGauge>,
    longest: Family<QueueLabels, FloatGauge>,
    queues: Mutex<HashMap<String, Arc<QueueTracker>>>,
}

fn workqueue_histogram() -> Histogram {
    Histogram::new(WORKQUEUE_BUCKETS)
}

impl QueueFamilies {
    pub(super) fn register(registry: &mut Registry) -> Self {
        let mut histogram = |name: &str, help: &str| {
            let f: QueueHistogramFamily = Family::new_with_constructor(workqueue_histogram);
            registry.register(name, help, f.clone());
            f
        };
        let duration = histogram(
            "workqueue_queue_duration_seconds",
            "How long in seconds an item stays in workqueue before being requested",
        );
        let work = histogram(
            "workqueue_work_duration_seconds",
            "How long in seconds processing an item from workqueue takes",
        );
        let unfinished = Family::default();
        registry.register(
            "workqueue_unfinished_work_seconds",
            "How many seconds of work has been done that is in progress and hasn't been observed by work_duration. Large values indicate stuck threads. One can deduce the number of stuck threads by observing the rate at which this increases.",
            unfinished.clone(),
        );
        let longest = Family::default();
        registry.register(
            "workqueue_longest_running_processor_seconds",
            "How many seconds has the longest running processor for workqueue been running.",
            longest.clone(),
        );
        QueueFamilies {
            duration,
            work,
            unfinished,
            longest,
            queues: Mutex::new(HashMap::new()),
        }
    }

    /// Creates a controller's queue and its series at 0.
    pub(super) fn add_controller(&self, controller: &str, q: &QueueLabels) {
        drop(self.duration.get_or_create(q));
        drop(self.work.get_or_create(q));
        self.unfinished.get_or_create(q).set(0.0);
        self.longest.get_or_create(q).set(0.0);
        self.queues
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .entry(controller.to_string())
            .or_default();
    }
}

/// controller-runtime's workqueue latency buckets: 10 ns × 10^k, k = 0…11 (up to 1000 s).
pub const WORKQUEUE_BUCKETS: [f64; 12] = [
    1e-8, 1e-7, 1e-6, 1e-5, 1e-4, 1e-3, 1e-2, 1e-1, 1.0, 10.0, 100.0, 1000.0,
];

#[derive(Debug)]
struct Pending {
    due: Instant,
    counted: bool,
}

#[derive(Debug, Default)]
struct State {
    pending: HashMap<String, Pending>,
    running: HashMap<u64, Instant>,
    next_id: u64,
}

/// The queue of one controller; see the module documentation.
#[derive(Debug, Default)]
pub struct QueueTracker {
    state: Mutex<State>,
}

/// The queue at one instant.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Snapshot {
    pub depth: usize,
    pub unfinished_s: f64,
    pub longest_s: f64,
    /// Delayed objects that became due since the last look, not yet counted as adds.
    pub new_adds: u64,
}

impl QueueTracker {
    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// `key` is due at `due` (the earlier of this and any due time it had); true when this counts
    /// as an add now.
    pub fn add(&self, key: &str, due: Instant, now: Instant) -> bool {
        let mut state = self.lock();
        match state.pending.get_mut(key) {
            Some(p) => {
                p.due = p.due.min(due);
                let add = p.due <= now && !p.counted;
                p.counted |= add;
                add
            }
            None => {
                let counted = due <= now;
                state.pending.insert(key.to_string(), Pending { due, counted });
                counted
            }
        }
    }

    /// The reconcile of `key` starts: returns how long it waited since it was due (None when this
    /// tracker never saw it queued), whether it counts as an add now, and the id of the run.
    pub fn start(&self, key: &str, now: Instant) -> (Option<Duration>, bool, u64) {
        let mut state = self.lock();
        let waited = state.pending.remove(key);
        crate::controller::queue::release_sparse(&mut state.pending);
        let id = state.next_id;
        state.next_id = state.next_id.wrapping_add(1);
        state.running.insert(id, now);
        match waited {
            Some(p) => (Some(now.saturating_duration_since(p.due)), !p.counted, id),
            None => (None, false, id),
        }
    }

    /// Run `id` ended.
    pub fn finish(&self, id: u64) {
        let mut state = self.lock();
        state.running.remove(&id);
        crate::controller::queue::release_sparse(&mut state.running);
    }

    /// kube dropped `key` (not in its cache).
    pub fn forget(&self, key: &str) {
        let mut state = self.lock();
        state.pending.remove(key);
        crate::controller::queue::release_sparse(&mut state.pending);
    }

    /// The queue as of `now`; marks delayed entries that became due as counted.
    pub fn snapshot(&self, now: Instant) -> Snapshot {
        let mut state = self.lock();
        let mut depth = 0;
        let mut new_adds = 0;
        for p in state.pending.values_mut().filter(|p| p.due <= now) {
            depth += 1;
            if !p.counted {
                p.counted = true;
                new_adds += 1;
            }
        }
        let ages = state
            .running
            .values()
            .map(|t| now.saturating_duration_since(*t).as_secs_f64());
        let (unfinished_s, longest_s) = ages.fold((0.0, 0.0_f64), |(sum, max), a| (sum + a, max.max(a)));
        Snapshot {
            depth,
            unfinished_s,
            longest_s,
            new_adds,
        }
    }
}

/// `namespace/name` (or `name`), the queue key of an object.
pub fn queue_key(namespace: Option<&str>, name: &str) -> String {
    match namespace {
        Some(ns) if !ns.is_empty() => format!("{ns}/{name}"),
        _ => name.to_string(),
    }
}

impl Metrics {
    fn queue(&self, controller: &str) -> Arc<QueueTracker> {
        let mut queues = self
            .inner
            .queue
            .queues
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        queues.entry(controller.to_string()).or_default().clone()
    }

    /// `controller` was triggered for object `key`.
    pub fn workqueue_add(&self, controller: &str, key: &str) {
        let now = Instant::now();
        if self.queue(controller).add(key, now, now) {
            self.count_adds(controller, 1);
        }
    }

    /// `controller` will reconcile `key` again after `delay`.
    pub fn workqueue_add_after(&self, controller: &str, key: &str, delay: Duration) {
        let now = Instant::now();
        if self.queue(controller).add(key, now + delay, now) {
            self.count_adds(controller, 1);
        }
    }

    /// A failed reconcile of `key` is queued again after `delay`.
    pub fn workqueue_retry(&self, controller: &str, key: &str, delay: Duration) {
        self.inner
            .queue_retries
            .get_or_create(&super::queue_labels(controller))
            .inc();
        self.workqueue_add_after(controller, key, delay);
    }

    /// kube dropped `key` of `controller` without reconciling it.
    pub fn workqueue_forget(&self, controller: &str, key: &str) {
        self.queue(controller).forget(key);
    }

    /// A reconcile of `key` starts; returns the run id for [`Self::workqueue_done`].
    pub(super) fn workqueue_start(&self, controller: &str, key: &str) -> u64 {
        let (waited, add, id) = self.queue(controller).start(key, Instant::now());
        let q = super::queue_labels(controller);
        if add {
            self.count_adds(controller, 1);
        }
        if let Some(waited) = waited {
            self.inner
                .queue
                .duration
                .get_or_create(&q)
                .observe(waited.as_secs_f64());
        }
        id
    }

    pub(super) fn workqueue_done(&self, controller: &str, id: u64, worked: Duration) {
        self.queue(controller).finish(id);
        self.inner
            .queue
            .work
            .get_or_create(&super::queue_labels(controller))
            .observe(worked.as_secs_f64());
    }

    fn count_adds(&self, controller: &str, n: u64) {
        self.inner
            .queue_adds
            .get_or_create(&super::queue_labels(controller))
            .inc_by(n);
    }

    /// Sets the scrape-time gauges of every queue (called before encoding).
    pub(super) fn refresh_workqueues(&self) {
        let queues: Vec<(String, Arc<QueueTracker>)> = {
            let queues = self
                .inner
                .queue
                .queues
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            queues.iter().map(|(k, v)| (k.clone(), v.clone())).collect()
        };
        let now = Instant::now();
        for (controller, queue) in queues {
            let s = queue.snapshot(now);
            let q = super::queue_labels(&controller);
            if s.new_adds > 0 {
                self.count_adds(&controller, s.new_adds);
            }
            self.inner
                .queue_depth
                .get_or_create(&q)
                .set(i64::try_from(s.depth).unwrap_or(i64::MAX));
            self.inner.queue.unfinished.get_or_create(&q).set(s.unfinished_s);
            self.inner.queue.longest.get_or_create(&q).set(s.longest_s);
        }
    }

    /// Drops the queue of a stopped controller.
    pub(super) fn forget_queue(&self, controller: &str) {
        self.inner
            .queue
            .queues
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .remove(controller);
        let q = super::queue_labels(controller);
        self.inner.queue_depth.remove(&q);
        self.inner.queue.unfinished.remove(&q);
        self.inner.queue.longest.remove(&q);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn the_queue_follows_triggers_requeues_and_runs() {
        let q = QueueTracker::default();
        let t0 = Instant::now();
        let s = Duration::from_secs;
        assert!(q.add("a", t0, t0), "a new object is an add");
        assert!(!q.add("a", t0, t0), "a queued object is not added twice");
        assert!(!q.add("b", t0 + s(10), t0), "a delayed object is added when due");
        let snap = q.snapshot(t0 + s(1));
        assert_eq!((snap.depth, snap.new_adds), (1, 0));
        let (waited, add, run) = q.start("a", t0 + s(2));
        assert_eq!((waited, add), (Some(s(2)), false));
        // Triggered again while it runs: queued behind the run, as kube's scheduler does.
        assert!(q.add("a", t0 + s(3), t0 + s(3)));
        let snap = q.snapshot(t0 + s(5));
        assert_eq!(snap.depth, 1);
        assert_eq!((snap.unfinished_s, snap.longest_s), (3.0, 3.0));
        q.finish(run);
        let snap = q.snapshot(t0 + s(11));
        assert_eq!((snap.depth, snap.new_adds), (2, 1), "b became due");
        assert_eq!(snap.unfinished_s, 0.0);
        // An earlier trigger moves a delayed object forward.
        assert!(!q.add("c", t0 + s(100), t0 + s(11)));
        assert!(q.add("c", t0 + s(11), t0 + s(11)));
        q.forget("c");
        assert_eq!(q.start("unknown", t0 + s(12)).0, None);
        assert_eq!(q.snapshot(t0 + s(12)).depth, 2);
    }
}

/// The trigger side of one controller's queue, for the streams fed into its kube `Controller`.
#[derive(Clone)]
pub struct QueueHook {
    metrics: Metrics,
    controller: String,
}

impl QueueHook {
    pub fn new(metrics: &Metrics, controller: &str) -> Self {
        QueueHook {
            metrics: metrics.clone(),
            controller: controller.to_string(),
        }
    }

    /// The object itself was triggered.
    pub fn object<K: kube::Resource>(&self, object: &K) {
        let meta = object.meta();
        if let Some(name) = &meta.name {
            self.metrics
                .workqueue_add(&self.controller, &queue_key(meta.namespace.as_deref(), name));
        }
    }

    /// A reference kube will reconcile.
    pub fn reference<K: kube::Resource>(&self, r: &kube::runtime::reflector::ObjectRef<K>) {
        self.metrics
            .workqueue_add(&self.controller, &queue_key(r.namespace.as_deref(), &r.name));
    }

    /// A child changed: its owners of `api_version`/`kind` are triggered, as kube's `owns` maps them.
    pub fn owners<K: kube::Resource>(&self, child: &K, api_version: &str, kind: &str) {
        let meta = child.meta();
        for owner in meta.owner_references.iter().flatten() {
            if owner.api_version == api_version && owner.kind == kind {
                self.metrics.workqueue_add(
                    &self.controller,
                    &queue_key(meta.namespace.as_deref(), &owner.name),
                );
            }
        }
    }
}

impl QueueHook {
    /// kube dropped the trigger of `r` (not in its cache).
    pub fn forget<K: kube::Resource>(&self, r: &kube::runtime::reflector::ObjectRef<K>) {
        self.metrics
            .workqueue_forget(&self.controller, &queue_key(r.namespace.as_deref(), &r.name));
    }
}

impl QueueHook {
    /// [`Self::owners`] for a shared stream of children; `owner` is (apiVersion, kind).
    pub fn owners_of<K: kube::Resource>(
        &self,
        owner: (&String, &String),
    ) -> impl Fn(&std::sync::Arc<K>) + Send + 'static {
        let queue = self.clone();
        let (version, kind) = (owner.0.clone(), owner.1.clone());
        move |child| queue.owners(child.as_ref(), &version, &kind)
    }
}
