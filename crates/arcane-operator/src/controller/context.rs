//! The one context every controller and handler works through.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use kube::runtime::watcher;
use kube::{Api, Client};
use tokio::sync::Notify;

use super::cached::{CachedCronJob, CachedJob};
use super::events::{Recorder, Reporter};
use super::fanout::SharedWatch;
use crate::crd::StreamClass;
use crate::crd::{BackfillRequest, StreamingJobTemplate};
use crate::stream::{CONTROLLER_NAME, LABEL_STREAM_ID};
use crate::telemetry::{Metrics, WatchHealth, WatchTarget};

/// Operator settings that shape the controllers.
#[derive(Debug, Clone)]
pub struct Config {
    /// Watch and act in this namespace only (`None`: every namespace).
    pub namespace: Option<String>,
    /// Streams reconciled at the same time, per class.
    pub concurrency: u16,
    /// Identity of this replica in Events (`reportingInstance`).
    pub instance: Option<String>,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            namespace: None,
            concurrency: 8,
            instance: None,
        }
    }
}

/// The shared watches every stream controller reads from.
pub struct SharedWatches {
    /// Jobs labelled by the operator and every CronJob, cached without their spec.
    pub jobs: Arc<SharedWatch<CachedJob>>,
    pub cronjobs: Arc<SharedWatch<CachedCronJob>>,
    pub requests: Arc<SharedWatch<BackfillRequest>>,
    pub templates: Arc<SharedWatch<StreamingJobTemplate>>,
    /// Woken whenever any of these caches changes: what a read-your-writes wait waits on.
    pub changed: Arc<Notify>,
}

impl SharedWatches {
    /// Starts the shared watches as tasks on the current runtime.
    pub fn start(client: &Client, namespace: Option<&str>) -> (Self, Vec<tokio::task::JoinHandle<()>>) {
        fn api<K>(client: &Client, namespace: Option<&str>) -> Api<K>
        where
            K: kube::Resource<Scope = k8s_openapi::NamespaceResourceScope, DynamicType = ()>,
        {
            match namespace {
                Some(ns) => Api::namespaced(client.clone(), ns),
                None => Api::all(client.clone()),
            }
        }
        // Jobs are watched by label, not per class: only what the operator built is cached (CronJobs
        // run Jobs of their own, many and unlabelled). CronJobs are few and watched whole: the Go
        // operator left its CronJobs unlabelled, and a stream's CronJob is found by its owner.
        let labelled = watcher::Config::default().labels(LABEL_STREAM_ID);
        let changed = Arc::new(Notify::new());
        let (jobs, jobs_task) = SharedWatch::start("jobs", api(client, namespace), labelled, changed.clone());
        let (cronjobs, cronjobs_task) = SharedWatch::start(
            "cronjobs",
            api(client, namespace),
            watcher::Config::default(),
            changed.clone(),
        );
        let (requests, requests_task) = SharedWatch::start(
            "backfillrequests",
            api(client, namespace),
            watcher::Config::default(),
            changed.clone(),
        );
        let (templates, templates_task) = SharedWatch::start(
            "streamingjobtemplates",
            api(client, namespace),
            watcher::Config::default(),
            changed.clone(),
        );
        let tasks = vec![
            tokio::spawn(jobs_task),
            tokio::spawn(cronjobs_task),
            tokio::spawn(requests_task),
            tokio::spawn(templates_task),
        ];
        (
            SharedWatches {
                jobs,
                cronjobs,
                requests,
                templates,
                changed,
            },
            tasks,
        )
    }

    /// Whether every shared watch has finished its initial list and none is misconfigured.
    pub fn is_ready(&self) -> bool {
        self.jobs.is_ready()
            && self.cronjobs.is_ready()
            && self.requests.is_ready()
            && self.templates.is_ready()
    }
}

/// Client, Event recorder, settings, metrics and shared caches.
pub struct Context {
    pub client: Client,
    pub recorder: Recorder,
    pub config: Config,
    pub shared: SharedWatches,
    pub metrics: Metrics,
    /// Cancelled when the operator must stop at once (leadership lost): reconciles are dropped
    /// mid-flight rather than finished.
    pub halt: tokio_util::sync::CancellationToken,
    /// The StreamClass watch (run by the class controller).
    pub class_watch: Arc<WatchHealth>,
    /// Woken when a stream controller's watch lists, fails or recovers: the class controller then
    /// updates that class's status at once.
    pub class_events: Arc<Notify>,
    /// Stream controllers whose initial list of stream definitions has not completed yet, with
    /// the health of their watch.
    unlisted: Mutex<HashMap<u64, Arc<WatchHealth>>>,
    next_listing: AtomicU64,
}

impl Context {
    pub fn new(client: Client, config: Config, shared: SharedWatches, metrics: Metrics) -> Self {
        let reporter = Reporter {
            controller: CONTROLLER_NAME.to_string(),
            instance: config.instance.clone(),
        };
        let halt = tokio_util::sync::CancellationToken::new();
        let class_events = Arc::new(Notify::new());
        Context {
            class_watch: WatchHealth::new(class_target(), Some(class_events.clone())),
            class_events,
            recorder: Recorder::new(client.clone(), reporter, halt.clone()),
            client,
            config,
            shared,
            metrics,
            halt,
            unlisted: Mutex::new(HashMap::new()),
            next_listing: AtomicU64::new(0),
        }
    }

    /// Records that a stream controller started and has not listed its streams yet; the returned
    /// guard marks it listed (or gone) when called or dropped.
    pub fn listing(self: &Arc<Self>, health: Arc<WatchHealth>) -> ListingGuard {
        let id = self.next_listing.fetch_add(1, Ordering::SeqCst);
        self.lock_unlisted().insert(id, health);
        ListingGuard {
            ctx: Some(self.clone()),
            id,
        }
    }

    fn lock_unlisted(&self) -> std::sync::MutexGuard<'_, HashMap<u64, Arc<WatchHealth>>> {
        self.unlisted
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Whether the operator's own watches (StreamClasses and the shared ones) have listed and none
    /// is misconfigured, and every running stream controller has listed its streams. A stream
    /// controller whose watch is forbidden or whose kind is gone does not count: its StreamClass
    /// says so, and one plugin's missing RBAC must not keep the whole Deployment unready.
    pub fn is_ready(&self) -> bool {
        self.not_ready().is_empty()
    }

    /// What readiness waits for, for the probe's answer.
    pub fn not_ready(&self) -> Vec<String> {
        let mut missing = Vec::new();
        let watches = [
            &self.class_watch,
            self.shared.jobs.health(),
            self.shared.cronjobs.health(),
            self.shared.requests.health(),
            self.shared.templates.health(),
        ];
        for health in watches {
            if let Some(problem) = health.problem().filter(|p| p.kind.is_configuration()) {
                missing.push(problem.message);
            } else if !health.listed() {
                missing.push(format!("initial list of {}", health.target().resource()));
            }
        }
        let unlisted = self
            .lock_unlisted()
            .values()
            .filter(|h| !h.misconfigured())
            .count();
        if unlisted > 0 {
            missing.push(format!("initial list of streams of {unlisted} StreamClass(es)"));
        }
        missing
    }
}

/// The StreamClass watch, for messages.
fn class_target() -> WatchTarget {
    use kube::Resource;
    WatchTarget {
        name: "streamclasses".to_string(),
        class: None,
        group: StreamClass::group(&()).to_string(),
        version: StreamClass::version(&()).to_string(),
        kind: StreamClass::kind(&()).to_string(),
        plural: StreamClass::plural(&()).to_string(),
        fix_not_found: OWN_CRDS_FIX.to_string(),
    }
}

/// How to install the CRDs the operator owns.
pub const OWN_CRDS_FIX: &str = "install the operator's CRDs: `arcane-operator crd | kubectl apply -f -`";

/// Pending initial list of one stream controller; see [`Context::listing`].
pub struct ListingGuard {
    ctx: Option<Arc<Context>>,
    id: u64,
}

impl ListingGuard {
    pub fn listed(mut self) {
        self.release();
    }

    fn release(&mut self) {
        if let Some(ctx) = self.ctx.take() {
            ctx.lock_unlisted().remove(&self.id);
        }
    }
}

impl Drop for ListingGuard {
    fn drop(&mut self) {
        self.release();
    }
}
