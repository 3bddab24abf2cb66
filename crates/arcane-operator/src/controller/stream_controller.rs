//! The stream controller of one StreamClass: observe → decide → execute, per stream definition.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::StreamExt;
use kube::api::{ApiResource, DynamicObject};
use kube::runtime::WatchStreamExt;
use kube::runtime::reflector::ObjectRef;
use kube::runtime::watcher::{self, Event};
use kube::{Api, ResourceExt};
use tokio_util::sync::CancellationToken;
use tracing::Instrument;

use super::compact::{StreamCache, StreamKey};
use super::context::Context;
use super::error::{Error, Failures};
use super::handlers::{self, Target};
use super::memory::{self, Memory};
use super::observe::observe;
use super::runner::{self, Requeue};
use super::written::Written;
use crate::crd::{BackfillRequest, StreamingJobTemplate};
use crate::stream::decide::decide;
use crate::stream::{
    ANNOTATION_CONFIGURATION_HASH, ClassInfo, Command, Phase, Workload, WorkloadKind, parse,
};
use crate::telemetry::metrics::stream_controller as controller_label;
use crate::telemetry::metrics::workqueue::{QueueHook, queue_key};
use crate::telemetry::{ReconcileResult, WatchHealth};

/// One class's controller state, shared by its reconciles.
pub struct StreamClassRuntime {
    pub ctx: Arc<Context>,
    pub class: ClassInfo,
    pub resource: ApiResource,
    failures: Mutex<HashMap<ObjectRef<DynamicObject>, Failures>>,
    /// Streams written by this controller whose cache has not shown the write yet.
    written: Written,
    /// What the controller remembers of each stream between reconciles (`controller/memory.rs`).
    memory: Memory,
    /// The `controller` label of this class's metrics.
    label: String,
}

/// How often the `arcane_streams{stream_class,phase}` gauge is refreshed from the cache.
const PHASE_GAUGE_PERIOD: Duration = Duration::from_secs(10);

/// Runs the stream controller of `class` until `shutdown` is cancelled; its watch reports to `health`.
pub async fn run(
    ctx: Arc<Context>,
    class: ClassInfo,
    resource: ApiResource,
    health: Arc<WatchHealth>,
    shutdown: CancellationToken,
) {
    // Counted as unlisted from the start, so readiness cannot flip while this waits.
    let listing = ctx.listing(health.clone());
    if !shared_caches_listed(&ctx, &shutdown).await {
        return;
    }
    let api: Api<DynamicObject> = match &ctx.config.namespace {
        Some(ns) => Api::namespaced_with(ctx.client.clone(), ns, &resource),
        None => Api::all_with(ctx.client.clone(), &resource),
    };
    // The stream cache keeps a compact record per stream (see `compact`).
    let streams = StreamCache::new(&resource);
    let label = controller_label(&class.name);
    let queue = QueueHook::new(&ctx.metrics, &label);
    let trigger = watcher::watcher(api, watcher::Config::default())
        .default_backoff()
        .inspect(move |item| health.observe(item))
        .map({
            let (streams, queue) = (streams.clone(), queue.clone());
            move |item| {
                let Ok(event) = item else {
                    return Vec::new();
                };
                // Cached before the trigger, as kube's reflector does.
                streams.apply(&event);
                match event {
                    Event::Apply(object) | Event::InitApply(object) => {
                        queue.object(&object);
                        StreamKey::of_meta(&object.metadata).into_iter().collect()
                    }
                    // Its turn finds it gone from the cache: what the controller remembers of
                    // it is forgotten then (`missing` below).
                    Event::Delete(object) => StreamKey::of_meta(&object.metadata).into_iter().collect(),
                    Event::Init | Event::InitDone => Vec::new(),
                }
            }
        });
    let class_name = class.name.clone();
    let requests_resource = resource.clone();
    let templates_resource = resource.clone();
    let templates_store = streams.clone();
    let secret_refs = class.secret_refs.clone();
    ctx.metrics
        .register_controller(&label, u32::from(ctx.config.concurrency));
    let gauge = tokio::spawn(report_phases(
        ctx.clone(),
        class_name.clone(),
        streams.clone(),
        listing,
    ));
    let orphans = tokio::spawn(super::orphans::report(
        ctx.clone(),
        class_name.clone(),
        resource.clone(),
        streams.clone(),
    ));
    let runtime = Arc::new(StreamClassRuntime {
        ctx: ctx.clone(),
        class,
        resource,
        failures: Mutex::new(HashMap::new()),
        written: Written::default(),
        memory: Memory::default(),
        label: label.clone(),
    });
    let span = tracing::info_span!("stream_controller", class = %class_name);
    let metrics_class = class_name.clone();
    let owner = (
        runtime.resource.api_version.clone(),
        runtime.resource.kind.clone(),
    );
    let (requests_queue, templates_queue, forget) = (queue.clone(), queue.clone(), queue.clone());
    let jobs = ctx
        .shared
        .jobs
        .subscribe()
        .inspect(queue.owners_of((&owner.0, &owner.1)))
        .map(owners_keys(owner.clone()));
    let cronjobs = ctx
        .shared
        .cronjobs
        .subscribe()
        .inspect(queue.owners_of((&owner.0, &owner.1)))
        .map(owners_keys(owner));
    let requests = ctx
        .shared
        .requests
        .subscribe()
        .map(move |request: Arc<BackfillRequest>| {
            (request.spec.stream_class == class_name)
                .then(|| {
                    ObjectRef::new_with(&request.spec.stream_id, requests_resource.clone())
                        .within(&request.namespace().unwrap_or_default())
                })
                .inspect(|r| requests_queue.reference(r))
                .map(|r| StreamKey::of_ref(&r))
                .into_iter()
                .collect::<Vec<_>>()
        });
    let templates = ctx
        .shared
        .templates
        .subscribe()
        .map(move |template: Arc<StreamingJobTemplate>| {
            let keys = streams_using(&templates_store, &secret_refs, &template);
            keys.iter()
                .for_each(|k| templates_queue.reference(&k.object_ref(&templates_resource)));
            keys
        });
    let triggers = futures::stream::select_all([
        trigger.boxed(),
        jobs.boxed(),
        cronjobs.boxed(),
        requests.boxed(),
        templates.boxed(),
    ]);
    let controller = runner::run(
        streams.clone(),
        runtime.resource.clone(),
        triggers,
        ctx.config.concurrency,
        shutdown,
        {
            let runtime = runtime.clone();
            move |object| reconcile_or_retry(object, runtime.clone())
        },
        // A trigger whose stream is not in the cache is dropped: so does the queue view, and
        // the controller forgets what it remembered of the stream (a deleted stream costs nothing).
        {
            let runtime = runtime.clone();
            move |r| {
                forget.forget(r);
                runtime.forget(r);
            }
        },
    )
    .instrument(span);
    // A halt (lost leadership) drops the controller with its in-flight reconciles at once.
    tokio::select! {
        _ = controller => {}
        _ = ctx.halt.cancelled() => {}
    }
    gauge.abort();
    orphans.abort();
    ctx.metrics.forget_class(&metrics_class);
    ctx.metrics.forget_controller(&label);
}

/// Waits until the shared Job, CronJob, BackfillRequest and template caches hold their initial lists;
/// false when stopped first. Reconciling from a partial view is unsafe: after a restart, a stream
/// whose initial BackfillRequest is not listed yet would get its streaming Job ahead of the backfill.
async fn shared_caches_listed(ctx: &Context, shutdown: &CancellationToken) -> bool {
    while !ctx.shared.is_ready() {
        tokio::select! {
            _ = tokio::time::sleep(Duration::from_millis(50)) => {}
            _ = shutdown.cancelled() => return false,
            _ = ctx.halt.cancelled() => return false,
        }
    }
    true
}

/// Marks the class listed once its cache holds the initial list, then keeps the per-phase gauge of
/// its streams up to date.
async fn report_phases(
    ctx: Arc<Context>,
    class: String,
    streams: StreamCache,
    listing: super::context::ListingGuard,
) {
    streams.wait_until_ready().await;
    listing.listed();
    tracing::debug!(%class, "initial list of streams complete");
    let mut tick = tokio::time::interval(PHASE_GAUGE_PERIOD);
    loop {
        tick.tick().await;
        let mut counts: HashMap<&'static str, i64> = HashMap::new();
        for (phase, n) in streams.phases() {
            *counts.entry(phase.map_or("Unknown", Phase::as_str)).or_default() += n;
        }
        ctx.metrics.set_stream_phases(&class, &counts);
    }
}

/// Streams whose definition references `template` (as streaming or backfill template).
fn streams_using(
    streams: &StreamCache,
    secret_refs: &[String],
    template: &StreamingJobTemplate,
) -> Vec<StreamKey> {
    let (Some(name), Some(ns)) = (
        template.metadata.name.as_deref(),
        template.metadata.namespace.as_deref(),
    ) else {
        return Vec::new();
    };
    streams.select(|stream| {
        parse::parse(stream, secret_refs).is_ok_and(|d| {
            let uses = |r: &crate::stream::TemplateRef| r.name == name && r.namespace == ns;
            uses(&d.streaming_template) || d.backfill_template.as_ref().is_some_and(uses)
        })
    })
}

/// The streams `child` (a Job or CronJob) names as owner of `api_version`/`kind`, as kube's `owns`
/// maps them.
fn owned_by<K: kube::Resource>(child: &K, api_version: &str, kind: &str) -> Vec<StreamKey> {
    let meta = child.meta();
    meta.owner_references
        .iter()
        .flatten()
        .filter(|o| o.api_version == api_version && o.kind == kind)
        .map(|o| StreamKey {
            namespace: meta.namespace.clone(),
            name: o.name.clone(),
        })
        .collect()
}

/// [`owned_by`] for a shared stream of children; `owner` is (apiVersion, kind).
fn owners_keys<K: kube::Resource>(
    owner: (String, String),
) -> impl Fn(Arc<K>) -> Vec<StreamKey> + Send + 'static {
    move |child| owned_by(child.as_ref(), &owner.0, &owner.1)
}

/// One reconcile; a failure is retried after its backoff.
async fn reconcile_or_retry(cached: Arc<DynamicObject>, runtime: Arc<StreamClassRuntime>) -> Requeue {
    match reconcile(cached.clone(), runtime.clone()).await {
        Ok(requeue) => requeue,
        Err(error) => Some(error_policy(cached, &error, runtime)),
    }
}

async fn reconcile(cached: Arc<DynamicObject>, runtime: Arc<StreamClassRuntime>) -> Result<Requeue, Error> {
    let ctx = &runtime.ctx;
    let queued = queue_key(cached.metadata.namespace.as_deref(), &cached.name_any());
    let guard = ctx.metrics.reconcile_item(&runtime.label, &queued);
    let key = runtime.key(&cached);
    let object = runtime.written.freshest(&key, cached);
    let mut observed = observe(
        &object,
        &runtime.resource.api_version,
        &runtime.resource.kind,
        &runtime.class,
        &ctx.shared,
        jiff::Timestamp::now(),
    );
    observed.remembered = runtime.memory.recall(&observed.identity);
    runtime
        .memory
        .fill_expected(&mut observed, std::time::Instant::now());
    let span = tracing::info_span!(
        "reconcile",
        namespace = %observed.identity.namespace,
        // Not `name`: in JSON a span's own name sits under that key and would hide the stream's.
        stream = %observed.identity.name,
        kind = %observed.identity.kind,
        class = %runtime.class.name,
    );
    let result = async {
        let decision = decide(&observed);
        if !decision.commands.is_empty() {
            tracing::debug!(commands = decision.commands.len(), "executing decision");
        }
        let target = Target {
            object: &object,
            status: &observed.status,
            resource: &runtime.resource,
            identity: &observed.identity,
            class: &runtime.class.name,
        };
        let executed = match handlers::execute(ctx, &target, &decision.commands).await {
            Ok(executed) => executed,
            Err(error) => {
                memory::after_failure(ctx, &runtime.memory, &target, &observed, &error).await;
                return Err(error);
            }
        };
        runtime.memory.executed(&observed.identity, &decision);
        runtime
            .memory
            .expect(&observed.identity, executed.requests, std::time::Instant::now());
        if let Some(answer) = executed.stream {
            runtime.written.record(key.clone(), &object, answer);
        }
        await_request_writes(ctx, &observed, &decision.commands).await;
        await_workload_writes(ctx, &observed.identity.namespace, &decision.commands).await;
        runtime.reset_failures(&object);
        count_commands(&runtime, &decision.commands);
        Ok(decision.requeue_after)
    }
    .instrument(span)
    .await;
    match result {
        Ok(Some(after)) => {
            guard.finish(ReconcileResult::RequeueAfter);
            ctx.metrics.workqueue_add_after(&runtime.label, &queued, after);
            Ok(Some(after))
        }
        Ok(None) => {
            guard.finish(ReconcileResult::Success);
            Ok(None)
        }
        Err(error) => {
            guard.finish(ReconcileResult::Error);
            Err(error)
        }
    }
}

/// How long a reconcile waits for the shared caches to show its own writes.
const READ_YOUR_WRITES: Duration = Duration::from_secs(2);

/// Waits, at most [`READ_YOUR_WRITES`], until the shared requests cache shows the BackfillRequests
/// this reconcile created or completed. The next reconcile of the stream (triggered by its own
/// status write, which its watch may deliver first) decides from that cache. A created request the
/// cache still lacks after the wait is covered by its expectation (`controller/memory.rs`), so
/// the wait only spares that reconcile a stale view; a completion the cache still lacks is covered
/// by the live check before a backfill Job is created (`handlers`), never run twice.
async fn await_request_writes(ctx: &Context, observed: &crate::stream::Observed, commands: &[Command]) {
    let created = commands
        .iter()
        .any(|c| matches!(c, Command::CreateBackfillRequest { .. }));
    let completed: Vec<&str> = commands
        .iter()
        .filter_map(|c| match c {
            Command::CompleteBackfillRequest { name, .. } => Some(name.as_str()),
            _ => None,
        })
        .collect();
    if !created && completed.is_empty() {
        return;
    }
    let identity = &observed.identity;
    let known = observed.backfill_requests.len();
    until_cached(ctx, "BackfillRequest writes", || {
        let requests = super::observe::requests_for(&ctx.shared, identity);
        let created_seen = !created || requests.len() > known;
        // A request gone from the cache was deleted: nothing left to see.
        let completed_seen = completed.iter().all(|name| {
            requests
                .iter()
                .find(|r| r.name_any() == *name)
                .is_none_or(|r| r.spec.completed)
        });
        created_seen && completed_seen
    })
    .await;
}

/// Waits until `seen` holds, checking it each time a shared cache changes, or until
/// [`READ_YOUR_WRITES`] has passed: the shared caches show a reconcile's own writes a moment after
/// the API server answered them. A write that turned out to be unneeded never shows up, so giving
/// up is safe: what the callers need beyond this wait is guarded elsewhere. The worker is held only as long as the watch
/// takes to deliver (a fixed polling period held every create for 20 ms: arcane-bench L1).
async fn until_cached(ctx: &Context, what: &str, mut seen: impl FnMut() -> bool) {
    let deadline = tokio::time::Instant::now() + READ_YOUR_WRITES;
    loop {
        // Registered before the check, so a change between the check and the wait wakes it.
        let changed = ctx.shared.changed.notified();
        let mut changed = std::pin::pin!(changed);
        changed.as_mut().enable();
        if seen() {
            return;
        }
        if tokio::time::timeout_at(deadline, changed).await.is_err() {
            tracing::debug!(what, "the caches did not show this reconcile's writes in time");
            return;
        }
    }
}

/// A workload a decision creates or adopts, and the configuration hash the cache must show.
#[derive(Debug, PartialEq)]
struct WrittenWorkload {
    kind: WorkloadKind,
    name: String,
    hash: Option<String>,
}

/// The workloads a decision creates or adopts, in the stream's namespace.
fn written_workloads(commands: &[Command]) -> Vec<WrittenWorkload> {
    let hash_of = |annotations: Option<&std::collections::BTreeMap<String, String>>| {
        annotations.and_then(|a| a.get(ANNOTATION_CONFIGURATION_HASH).cloned())
    };
    commands
        .iter()
        .filter_map(|command| match command {
            Command::CreateWorkload(workload) => {
                let (kind, meta) = match workload {
                    Workload::Job(job) => (WorkloadKind::Job, &job.metadata),
                    Workload::CronJob(cronjob) => (WorkloadKind::CronJob, &cronjob.metadata),
                };
                Some(WrittenWorkload {
                    kind,
                    name: meta.name.clone()?,
                    hash: hash_of(meta.annotations.as_ref()),
                })
            }
            Command::AdoptWorkload {
                kind,
                name,
                annotations,
                ..
            } => Some(WrittenWorkload {
                kind: *kind,
                name: name.clone(),
                hash: hash_of(Some(annotations)),
            }),
            _ => None,
        })
        .collect()
}

/// Waits, at most [`READ_YOUR_WRITES`], until the shared Job and CronJob caches show the workloads
/// this reconcile created or adopted. A stream's Job and CronJob are of different kinds, so the API
/// server's `AlreadyExists` cannot stop the second: the next reconcile (triggered by the status
/// write, or by a BackfillRequest, which their watches may deliver first) must see the first one in
/// the cache, or it would create a backfill Job beside a CronJob it has not seen yet; and it must
/// see an adopted workload's new hash, or it would adopt it again.
async fn await_workload_writes(ctx: &Context, namespace: &str, commands: &[Command]) {
    let written = written_workloads(commands);
    if written.is_empty() {
        return;
    }
    until_cached(ctx, "workload writes", || {
        written.iter().all(|w| {
            let shows = |hash: Option<&str>| w.hash.is_none() || hash == w.hash.as_deref();
            match w.kind {
                WorkloadKind::Job => ctx
                    .shared
                    .jobs
                    .store()
                    .get(&ObjectRef::new(&w.name).within(namespace))
                    .is_some_and(|j| shows(j.annotation(ANNOTATION_CONFIGURATION_HASH))),
                WorkloadKind::CronJob => ctx
                    .shared
                    .cronjobs
                    .store()
                    .get(&ObjectRef::new(&w.name).within(namespace))
                    .is_some_and(|c| shows(c.annotation(ANNOTATION_CONFIGURATION_HASH))),
            }
        })
    })
    .await;
}

/// Workload and backfill counters, from the commands a successful reconcile carried out.
fn count_commands(runtime: &StreamClassRuntime, commands: &[Command]) {
    let metrics = &runtime.ctx.metrics;
    let class = runtime.class.name.as_str();
    for command in commands {
        match command {
            Command::CreateWorkload(Workload::Job(job)) => {
                let backfill = job
                    .metadata
                    .annotations
                    .as_ref()
                    .is_some_and(|a| a.contains_key(crate::stream::ANNOTATION_BACKFILL_REQUEST));
                metrics.workload_created(class, "Job", if backfill { "backfill" } else { "streaming" });
            }
            Command::CreateWorkload(Workload::CronJob(_)) => {
                metrics.workload_created(class, "CronJob", "streaming");
            }
            Command::DeleteWorkload { kind, cause, .. } => {
                metrics.workload_deleted(class, kind.as_str());
                if cause.replaces() {
                    metrics.workload_replaced(class, kind.as_str());
                }
            }
            Command::CompleteBackfillRequest { .. } => metrics.backfill_completed(class),
            _ => {}
        }
    }
}

fn error_policy(object: Arc<DynamicObject>, error: &Error, runtime: Arc<StreamClassRuntime>) -> Duration {
    let delay = runtime.count_failure(&object);
    let queued = queue_key(object.metadata.namespace.as_deref(), &object.name_any());
    runtime
        .ctx
        .metrics
        .workqueue_retry(&runtime.label, &queued, delay);
    tracing::warn!(
        namespace = %object.namespace().unwrap_or_default(),
        stream = %object.name_any(),
        class = %runtime.class.name,
        error = %error,
        label = error.label(),
        retry_in_s = delay.as_secs(),
        "reconcile failed"
    );
    delay
}

impl StreamClassRuntime {
    fn key(&self, object: &DynamicObject) -> ObjectRef<DynamicObject> {
        ObjectRef::from_obj_with(object, self.resource.clone())
    }

    /// Records a failed reconcile; returns the delay until its retry.
    fn count_failure(&self, object: &DynamicObject) -> Duration {
        let now = std::time::Instant::now();
        let mut failures = self
            .failures
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let key = self.key(object);
        let recorded = Failures::record(failures.get(&key).copied(), now);
        failures.insert(key, recorded);
        recorded.delay(now)
    }

    /// Forgets a stream gone from the cache: its failures and what the memory kept of it.
    fn forget(&self, key: &ObjectRef<DynamicObject>) {
        self.failures
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .remove(key);
        let namespace = key.namespace.as_deref().unwrap_or_default();
        self.memory.forget(namespace, &key.name);
    }

    fn reset_failures(&self, object: &DynamicObject) {
        let mut failures = self
            .failures
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if !failures.is_empty() {
            failures.remove(&self.key(object));
        }
    }
}

/// How long a stopped class's controller may take to finish its in-flight reconciles.
pub const SHUTDOWN_GRACE: Duration = Duration::from_secs(10);

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::api::batch::v1::{CronJob, Job};
    use kube::api::ObjectMeta;

    fn meta(namespace: Option<&str>, name: &str) -> ObjectMeta {
        ObjectMeta {
            namespace: namespace.map(str::to_string),
            name: Some(name.to_string()),
            ..ObjectMeta::default()
        }
    }

    /// Only workload creates and adoptions are waited for, each under its own kind.
    #[test]
    fn written_workloads_are_the_create_and_adopt_commands() {
        let job = Job {
            metadata: meta(Some("ns"), "s"),
            ..Job::default()
        };
        let cronjob = CronJob {
            metadata: meta(Some("ns"), "c"),
            ..CronJob::default()
        };
        let commands = vec![
            Command::DeleteWorkload {
                kind: WorkloadKind::Job,
                name: "old".to_string(),
                uid: "u".to_string(),
                cause: crate::stream::DeleteCause::Replace,
            },
            Command::CreateWorkload(Workload::Job(Box::new(job))),
            Command::CreateWorkload(Workload::CronJob(Box::new(cronjob))),
            Command::AdoptWorkload {
                kind: WorkloadKind::Job,
                name: "go".to_string(),
                uid: "u".to_string(),
                labels: Default::default(),
                annotations: [(ANNOTATION_CONFIGURATION_HASH.to_string(), "h".to_string())].into(),
            },
        ];
        let written = |kind, name: &str, hash: Option<&str>| WrittenWorkload {
            kind,
            name: name.to_string(),
            hash: hash.map(str::to_string),
        };
        assert_eq!(
            written_workloads(&commands),
            vec![
                written(WorkloadKind::Job, "s", None),
                written(WorkloadKind::CronJob, "c", None),
                written(WorkloadKind::Job, "go", Some("h")),
            ]
        );
        assert!(written_workloads(&[]).is_empty());
    }
}
