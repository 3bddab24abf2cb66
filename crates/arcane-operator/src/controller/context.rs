//! The one context every controller and handler works through.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use k8s_openapi::api::batch::v1::{CronJob, Job};
use k8s_openapi::api::core::v1::ObjectReference;
use kube::runtime::events::{Event, Recorder, Reporter};
use kube::runtime::watcher;
use kube::{Api, Client};

use super::fanout::{SharedWatch, trim_cronjob, trim_job, trim_managed_fields};
use crate::crd::{BackfillRequest, StreamingJobTemplate};
use crate::stream::{CONTROLLER_NAME, LABEL_STREAM_ID};
use crate::telemetry::Metrics;

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
    pub jobs: Arc<SharedWatch<Job>>,
    pub cronjobs: Arc<SharedWatch<CronJob>>,
    pub requests: Arc<SharedWatch<BackfillRequest>>,
    pub templates: Arc<SharedWatch<StreamingJobTemplate>>,
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
        // Workloads are watched by label, not per class: only what the operator built is cached.
        let labelled = watcher::Config::default().labels(LABEL_STREAM_ID);
        let (jobs, jobs_task) =
            SharedWatch::start("jobs", api(client, namespace), labelled.clone(), trim_job);
        let (cronjobs, cronjobs_task) =
            SharedWatch::start("cronjobs", api(client, namespace), labelled, trim_cronjob);
        let (requests, requests_task) = SharedWatch::start(
            "backfillrequests",
            api(client, namespace),
            watcher::Config::default(),
            trim_managed_fields,
        );
        let (templates, templates_task) = SharedWatch::start(
            "streamingjobtemplates",
            api(client, namespace),
            watcher::Config::default(),
            trim_managed_fields,
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
            },
            tasks,
        )
    }

    /// Whether every shared watch has finished its initial list.
    pub fn is_ready(&self) -> bool {
        self.jobs.is_ready()
            && self.cronjobs.is_ready()
            && self.requests.is_ready()
            && self.templates.is_ready()
    }
}

/// Event recorders sharded by the regarding object. kube's `Recorder::publish` walks its whole
/// six-minute series cache (`HashMap::retain`) under a write lock on every call, so one recorder
/// costs O(events of the last 6 min) per Event: with 10,000 streams starting, that walk was 37 % of
/// the operator's CPU (arcane-bench, perf) and serialised every reconcile's publish. An object's
/// Events always go to the same shard, so series de-duplication is unchanged.
pub struct ShardedRecorder {
    shards: Vec<Recorder>,
}

/// Recorder shards: each cache holds about 1/64 of the recent Events.
const RECORDER_SHARDS: usize = 64;

impl ShardedRecorder {
    pub fn new(client: &Client, reporter: &Reporter) -> Self {
        ShardedRecorder {
            shards: (0..RECORDER_SHARDS)
                .map(|_| Recorder::new(client.clone(), reporter.clone()))
                .collect(),
        }
    }

    /// Publishes `ev` about `reference` through that object's shard.
    pub async fn publish(&self, ev: &Event, reference: &ObjectReference) -> Result<(), kube::Error> {
        use std::hash::{Hash, Hasher};
        let mut hasher = std::collections::hash_map::DefaultHasher::new();
        (&reference.uid, &reference.namespace, &reference.name).hash(&mut hasher);
        let index = usize::try_from(hasher.finish() % RECORDER_SHARDS as u64).unwrap_or(0);
        self.shards[index].publish(ev, reference).await
    }
}

/// Client, Event recorder, settings, metrics and shared caches.
pub struct Context {
    pub client: Client,
    pub recorder: ShardedRecorder,
    pub config: Config,
    pub shared: SharedWatches,
    pub metrics: Metrics,
    /// Cancelled when the operator must stop at once (leadership lost): reconciles are dropped
    /// mid-flight rather than finished.
    pub halt: tokio_util::sync::CancellationToken,
    /// Stream controllers whose initial list of stream definitions has not completed yet.
    unlisted: AtomicUsize,
}

impl Context {
    pub fn new(client: Client, config: Config, shared: SharedWatches, metrics: Metrics) -> Self {
        let reporter = Reporter {
            controller: CONTROLLER_NAME.to_string(),
            instance: config.instance.clone(),
        };
        Context {
            recorder: ShardedRecorder::new(&client, &reporter),
            client,
            config,
            shared,
            metrics,
            halt: tokio_util::sync::CancellationToken::new(),
            unlisted: AtomicUsize::new(0),
        }
    }

    /// Records that a stream controller started and has not listed its streams yet; the returned
    /// guard marks it listed (or gone) when called or dropped.
    pub fn listing(self: &Arc<Self>) -> ListingGuard {
        self.unlisted.fetch_add(1, Ordering::SeqCst);
        ListingGuard {
            ctx: Some(self.clone()),
        }
    }

    /// Whether every shared watch and every running stream controller has finished its initial list.
    pub fn is_ready(&self) -> bool {
        self.shared.is_ready() && self.unlisted.load(Ordering::SeqCst) == 0
    }
}

/// Pending initial list of one stream controller; see [`Context::listing`].
pub struct ListingGuard {
    ctx: Option<Arc<Context>>,
}

impl ListingGuard {
    pub fn listed(mut self) {
        self.release();
    }

    fn release(&mut self) {
        if let Some(ctx) = self.ctx.take() {
            ctx.unlisted.fetch_sub(1, Ordering::SeqCst);
        }
    }
}

impl Drop for ListingGuard {
    fn drop(&mut self) {
        self.release();
    }
}
