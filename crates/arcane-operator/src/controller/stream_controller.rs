//! The stream controller of one StreamClass: observe → decide → execute, per stream definition.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::StreamExt;
use kube::api::{ApiResource, DynamicObject};
use kube::runtime::WatchStreamExt;
use kube::runtime::controller::{Action, Config as ControllerConfig, Controller};
use kube::runtime::reflector::{ObjectRef, Store};
use kube::runtime::watcher;
use kube::{Api, ResourceExt};
use tokio_util::sync::CancellationToken;
use tracing::Instrument;

use super::context::Context;
use super::error::{Error, Failures};
use super::fanout::trim_managed_fields;
use super::handlers::{self, Target};
use super::observe::observe;
use super::written::Written;
use crate::crd::{BackfillRequest, StreamingJobTemplate};
use crate::stream::decide::decide;
use crate::stream::{ClassInfo, Command, Phase, Workload, WorkloadKind, parse};
use crate::telemetry::ReconcileResult;
use crate::telemetry::metrics::stream_controller as controller_label;

/// One class's controller state, shared by its reconciles.
pub struct StreamClassRuntime {
    pub ctx: Arc<Context>,
    pub class: ClassInfo,
    pub resource: ApiResource,
    failures: Mutex<HashMap<ObjectRef<DynamicObject>, Failures>>,
    /// Streams written by this controller whose cache has not shown the write yet.
    written: Written,
    /// The `controller` label of this class's metrics.
    label: String,
}

/// How often the `arcane_streams{stream_class,phase}` gauge is refreshed from the cache.
const PHASE_GAUGE_PERIOD: Duration = Duration::from_secs(10);

/// Runs the stream controller of `class` until `shutdown` is cancelled.
pub async fn run(ctx: Arc<Context>, class: ClassInfo, resource: ApiResource, shutdown: CancellationToken) {
    // Counted as unlisted from the start, so readiness cannot flip while this waits.
    let listing = ctx.listing();
    if !shared_caches_listed(&ctx, &shutdown).await {
        return;
    }
    let api: Api<DynamicObject> = match &ctx.config.namespace {
        Some(ns) => Api::namespaced_with(ctx.client.clone(), ns, &resource),
        None => Api::all_with(ctx.client.clone(), &resource),
    };
    // The stream cache drops managedFields, which the operator never reads (memory per stream).
    let writer = kube::runtime::reflector::store::Writer::new(resource.clone());
    let streams = writer.as_reader();
    let trigger = watcher::watcher(api, watcher::Config::default())
        .default_backoff()
        .modify(trim_managed_fields)
        .reflect(writer)
        .applied_objects();
    let controller = Controller::for_stream_with(trigger, streams.clone(), resource.clone())
        .with_config(ControllerConfig::default().concurrency(ctx.config.concurrency));
    let class_name = class.name.clone();
    let requests_resource = resource.clone();
    let templates_resource = resource.clone();
    let templates_store = streams.clone();
    let secret_refs = class.secret_refs.clone();
    let label = controller_label(&class_name);
    ctx.metrics
        .register_controller(&label, u32::from(ctx.config.concurrency));
    let gauge = tokio::spawn(report_phases(
        ctx.clone(),
        class_name.clone(),
        streams.clone(),
        listing,
    ));
    let runtime = Arc::new(StreamClassRuntime {
        ctx: ctx.clone(),
        class,
        resource,
        failures: Mutex::new(HashMap::new()),
        written: Written::default(),
        label: label.clone(),
    });
    let span = tracing::info_span!("stream_controller", class = %class_name);
    let metrics_class = class_name.clone();
    let controller = controller
        .owns_shared_stream(ctx.shared.jobs.subscribe())
        .owns_shared_stream(ctx.shared.cronjobs.subscribe())
        .watches_shared_stream(
            ctx.shared.requests.subscribe(),
            move |request: Arc<BackfillRequest>| {
                (request.spec.stream_class == class_name).then(|| {
                    ObjectRef::new_with(&request.spec.stream_id, requests_resource.clone())
                        .within(&request.namespace().unwrap_or_default())
                })
            },
        )
        .watches_shared_stream(
            ctx.shared.templates.subscribe(),
            move |template: Arc<StreamingJobTemplate>| {
                streams_using(&templates_store, &templates_resource, &secret_refs, &template)
            },
        )
        .graceful_shutdown_on(shutdown.cancelled_owned())
        .run(reconcile, error_policy, runtime)
        .for_each(|result| async move {
            if let Err(error) = result {
                tracing::debug!(%error, "reconcile not completed");
            }
        })
        .instrument(span);
    // A halt (lost leadership) drops the controller with its in-flight reconciles at once.
    tokio::select! {
        _ = controller => {}
        _ = ctx.halt.cancelled() => {}
    }
    gauge.abort();
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
    streams: Store<DynamicObject>,
    listing: super::context::ListingGuard,
) {
    // kube's readiness signal wakes only the last task that polled it (the controller's runner),
    // so poll again on a short timer rather than wait for a wake-up that may never come.
    loop {
        match tokio::time::timeout(Duration::from_millis(200), streams.wait_until_ready()).await {
            Ok(Ok(())) => break,
            Ok(Err(_)) => return,
            Err(_) => continue,
        }
    }
    listing.listed();
    tracing::debug!(%class, "initial list of streams complete");
    let mut tick = tokio::time::interval(PHASE_GAUGE_PERIOD);
    loop {
        tick.tick().await;
        let mut counts: HashMap<&'static str, i64> = HashMap::new();
        for stream in streams.state() {
            let phase = stream
                .data
                .pointer("/status/phase")
                .and_then(serde_json::Value::as_str)
                .and_then(Phase::parse)
                .map_or("Unknown", Phase::as_str);
            *counts.entry(phase).or_default() += 1;
        }
        ctx.metrics.set_stream_phases(&class, &counts);
    }
}

/// Streams whose definition references `template` (as streaming or backfill template).
fn streams_using(
    streams: &Store<DynamicObject>,
    resource: &ApiResource,
    secret_refs: &[String],
    template: &StreamingJobTemplate,
) -> Vec<ObjectRef<DynamicObject>> {
    let (Some(name), Some(ns)) = (
        template.metadata.name.as_deref(),
        template.metadata.namespace.as_deref(),
    ) else {
        return Vec::new();
    };
    streams
        .state()
        .into_iter()
        .filter(|stream| {
            parse::parse(stream, secret_refs).is_ok_and(|d| {
                let uses = |r: &crate::stream::TemplateRef| r.name == name && r.namespace == ns;
                uses(&d.streaming_template) || d.backfill_template.as_ref().is_some_and(uses)
            })
        })
        .map(|stream| ObjectRef::from_obj_with(stream.as_ref(), resource.clone()))
        .collect()
}

async fn reconcile(cached: Arc<DynamicObject>, runtime: Arc<StreamClassRuntime>) -> Result<Action, Error> {
    let ctx = &runtime.ctx;
    let key = runtime.key(&cached);
    let object = runtime.written.freshest(&key, cached);
    let observed = observe(
        &object,
        &runtime.resource.api_version,
        &runtime.resource.kind,
        &runtime.class,
        &ctx.shared,
        jiff::Timestamp::now(),
    );
    let span = tracing::info_span!(
        "reconcile",
        namespace = %observed.identity.namespace,
        name = %observed.identity.name,
        kind = %observed.identity.kind,
        class = %runtime.class.name,
    );
    let guard = ctx.metrics.reconcile_guard(&runtime.label);
    ctx.metrics.workqueue_add(&runtime.label);
    let result = async {
        let decision = decide(&observed);
        if !decision.commands.is_empty() {
            tracing::debug!(commands = decision.commands.len(), "executing decision");
        }
        let target = Target {
            object: &object,
            resource: &runtime.resource,
            identity: &observed.identity,
        };
        let executed = handlers::execute(ctx, &target, &decision.commands).await?;
        if let Some(answer) = executed.stream {
            runtime.written.record(key.clone(), &object, answer);
        }
        await_request_writes(ctx, &observed, &decision.commands).await;
        await_workload_creates(ctx, &decision.commands).await;
        runtime.reset_failures(&object);
        count_commands(&runtime, &decision.commands);
        Ok(decision.requeue_after)
    }
    .instrument(span)
    .await;
    match result {
        Ok(Some(after)) => {
            guard.finish(ReconcileResult::RequeueAfter);
            Ok(Action::requeue(after))
        }
        Ok(None) => {
            guard.finish(ReconcileResult::Success);
            Ok(Action::await_change())
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
/// status write, which its watch may deliver first) decides from that cache: without the new
/// request it would start the streaming Job ahead of the initial backfill, and without the
/// completion it would run a finished backfill again.
async fn await_request_writes(ctx: &Context, observed: &crate::stream::Observed, commands: &[Command]) {
    let created = commands
        .iter()
        .any(|c| matches!(c, Command::CreateBackfillRequest(_)));
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
/// up is safe; it only loses the guard for this time. The worker is held only as long as the watch
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

/// The workloads a decision creates: (kind, namespace, name).
fn created_workloads(commands: &[Command]) -> Vec<(WorkloadKind, String, String)> {
    commands
        .iter()
        .filter_map(|command| {
            let Command::CreateWorkload(workload) = command else {
                return None;
            };
            let (kind, meta) = match workload {
                Workload::Job(job) => (WorkloadKind::Job, &job.metadata),
                Workload::CronJob(cronjob) => (WorkloadKind::CronJob, &cronjob.metadata),
            };
            Some((kind, meta.namespace.clone()?, meta.name.clone()?))
        })
        .collect()
}

/// Waits, at most [`READ_YOUR_WRITES`], until the shared Job and CronJob caches show the workloads
/// this reconcile created. A stream's Job and CronJob are of different kinds, so the API server's
/// `AlreadyExists` cannot stop the second: the next reconcile (triggered by the status write, or by
/// a BackfillRequest, which their watches may deliver first) must see the first one in the cache,
/// or it would create a backfill Job beside a CronJob it has not seen yet.
async fn await_workload_creates(ctx: &Context, commands: &[Command]) {
    let created = created_workloads(commands);
    if created.is_empty() {
        return;
    }
    until_cached(ctx, "workload creates", || {
        created.iter().all(|(kind, namespace, name)| match kind {
            WorkloadKind::Job => ctx
                .shared
                .jobs
                .store()
                .get(&ObjectRef::new(name).within(namespace))
                .is_some(),
            WorkloadKind::CronJob => ctx
                .shared
                .cronjobs
                .store()
                .get(&ObjectRef::new(name).within(namespace))
                .is_some(),
        })
    })
    .await;
}

/// Workload and backfill counters, from the commands a successful reconcile carried out.
fn count_commands(runtime: &StreamClassRuntime, commands: &[Command]) {
    let metrics = &runtime.ctx.metrics;
    let class = runtime.class.name.as_str();
    let replacing = commands.iter().any(|c| {
        matches!(c, Command::PublishEvent(note) if matches!(note.reason.as_str(), "ConfigurationChanged" | "BackendChanged"))
    });
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
                metrics.workload_created(class, "CronJob", "streaming")
            }
            Command::DeleteWorkload { kind, .. } => {
                metrics.workload_deleted(class, kind.as_str());
                if replacing {
                    metrics.workload_replaced(class, kind.as_str());
                }
            }
            Command::CompleteBackfillRequest { .. } => metrics.backfill_completed(class),
            _ => {}
        }
    }
}

fn error_policy(object: Arc<DynamicObject>, error: &Error, runtime: Arc<StreamClassRuntime>) -> Action {
    let delay = runtime.count_failure(&object);
    runtime.ctx.metrics.workqueue_retry(&runtime.label);
    tracing::warn!(
        namespace = %object.namespace().unwrap_or_default(),
        name = %object.name_any(),
        class = %runtime.class.name,
        error = %error,
        label = error.label(),
        retry_in_s = delay.as_secs(),
        "reconcile failed"
    );
    Action::requeue(delay)
}

impl StreamClassRuntime {
    fn key(&self, object: &DynamicObject) -> ObjectRef<DynamicObject> {
        ObjectRef::from_obj_with(object, self.resource.clone())
    }

    /// Records a failed reconcile; returns the delay until its retry.
    fn count_failure(&self, object: &DynamicObject) -> Duration {
        let now = std::time::Instant::now();
        let mut failures = self.failures.lock().unwrap_or_else(|e| e.into_inner());
        let key = self.key(object);
        let recorded = Failures::record(failures.get(&key).copied(), now);
        failures.insert(key, recorded);
        recorded.delay(now)
    }

    fn reset_failures(&self, object: &DynamicObject) {
        let mut failures = self.failures.lock().unwrap_or_else(|e| e.into_inner());
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

    /// Only workload creates are waited for, each under its own kind.
    #[test]
    fn created_workloads_are_the_create_commands() {
        let job = Job {
            metadata: meta(Some("ns"), "s"),
            ..Job::default()
        };
        let cronjob = CronJob {
            metadata: meta(Some("ns"), "c"),
            ..CronJob::default()
        };
        let unnamed = Job {
            metadata: meta(None, "x"),
            ..Job::default()
        };
        let commands = vec![
            Command::DeleteWorkload {
                kind: WorkloadKind::Job,
                name: "old".to_string(),
                uid: "u".to_string(),
            },
            Command::CreateWorkload(Workload::Job(Box::new(job))),
            Command::CreateWorkload(Workload::CronJob(Box::new(cronjob))),
            Command::CreateWorkload(Workload::Job(Box::new(unnamed))),
        ];
        assert_eq!(
            created_workloads(&commands),
            vec![
                (WorkloadKind::Job, "ns".to_string(), "s".to_string()),
                (WorkloadKind::CronJob, "ns".to_string(), "c".to_string()),
            ]
        );
        assert!(created_workloads(&[]).is_empty());
    }
}
