//! The StreamClass controller: starts, restarts and stops one stream controller per class, and
//! reports each class's state in its status and Events.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition;
use kube::api::{ApiResource, Patch, PatchParams};
use kube::core::GroupVersionKind;
use kube::discovery::{self, Scope};
use kube::runtime::reflector::{self, Store};
use kube::runtime::{WatchStreamExt, watcher};
use kube::{Api, Resource, ResourceExt};
use serde_json::json;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use super::context::Context;
use super::events::{Event, EventType};
use super::stream_controller::{self, SHUTDOWN_GRACE};
use crate::crd::{StreamClass, StreamClassSpec};
use crate::stream::class_decide::{
    self, ClassCommand, ClassDecision, ClassObserved, ClassReason, Resolution, Running as RunningState,
    StopCause, WatchObserved, WatchProblemKind, Written,
};
use crate::stream::{CONTROLLER_NAME, ClassInfo};
use crate::telemetry::metrics::STREAMCLASS_CONTROLLER;
use crate::telemetry::watch::describe_kube_error;
use crate::telemetry::{ProblemKind, ReconcileResult, WatchHealth, WatchTarget, format_gvk};

/// How often classes waiting for their stream CRD look again.
const CRD_RECHECK: Duration = Duration::from_secs(5);

struct Running {
    uid: String,
    spec: StreamClassSpec,
    token: CancellationToken,
    task: JoinHandle<()>,
    /// The health of the stream controller's watch.
    health: Arc<WatchHealth>,
}

/// Runs the StreamClass controller until `shutdown` is cancelled, then stops every stream controller.
pub async fn run(ctx: Arc<Context>, shutdown: CancellationToken) {
    let api: Api<StreamClass> = Api::all(ctx.client.clone());
    let (store, writer) = reflector::store();
    // Registered now, so every series exists (at 0) before the first class is seen.
    ctx.metrics.register_controller(STREAMCLASS_CONTROLLER, 1);
    let health = ctx.class_watch.clone();
    let events = watcher::watcher(api, watcher::Config::default())
        .default_backoff()
        .inspect(move |item| health.observe(item))
        .reflect(writer);
    let unknown_classes = tokio::spawn(super::orphans::report_unknown_classes(ctx.clone(), store.clone()));
    let mut events = std::pin::pin!(events);
    let mut running: HashMap<String, Running> = HashMap::new();
    let mut written: HashMap<String, Written> = HashMap::new();
    let mut tick = tokio::time::interval(CRD_RECHECK);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = shutdown.cancelled() => break,
            event = events.next() => match event {
                Some(Ok(event)) if !store_complete(&event) => continue,
                Some(Ok(_)) => {}
                // Logged by the watch's health: once, with the fix, then rate-limited.
                Some(Err(_)) => continue,
                None => break,
            },
            _ = tick.tick() => {}
            // A stream controller's watch listed, failed or recovered.
            _ = ctx.class_events.notified() => {}
        }
        sync(&ctx, &store, &mut running, &mut written).await;
    }
    unknown_classes.abort();
    stop_all(running).await;
}

/// Whether the reflector's store shows every class after `event`. It buffers a (re)list and
/// publishes it whole on `InitDone`: a sync on `Init` or `InitApply` would see the store without the
/// listed classes and start nothing until the next re-check.
fn store_complete<K>(event: &watcher::Event<K>) -> bool {
    !matches!(event, watcher::Event::Init | watcher::Event::InitApply(_))
}

/// Brings the running stream controllers in line with the StreamClasses that exist.
async fn sync(
    ctx: &Arc<Context>,
    store: &Store<StreamClass>,
    running: &mut HashMap<String, Running>,
    written: &mut HashMap<String, Written>,
) {
    let mut classes: Vec<Arc<StreamClass>> = store.state();
    classes.sort_by(|a, b| {
        (a.metadata.creation_timestamp.as_ref().map(|t| t.0), a.name_any())
            .cmp(&(b.metadata.creation_timestamp.as_ref().map(|t| t.0), b.name_any()))
    });
    // Deleted classes: stop their controllers; their streams, Jobs and requests are left alone.
    let names: Vec<String> = classes.iter().map(|c| c.name_any()).collect();
    written.retain(|name, _| names.contains(name));
    let gone: Vec<String> = running.keys().filter(|n| !names.contains(n)).cloned().collect();
    for name in gone {
        if let Some(r) = running.remove(&name) {
            stop_logged(&name, r, StopCause::StreamClassDeleted).await;
        }
    }
    // Every class is looked at in this pass: queued now, taken in order.
    for class in &classes {
        ctx.metrics
            .workqueue_add(STREAMCLASS_CONTROLLER, &class.name_any());
    }
    let mut claimed: BTreeMap<(String, String, String), String> = BTreeMap::new();
    for class in classes {
        let name = class.name_any();
        let guard = ctx.metrics.reconcile_item(STREAMCLASS_CONTROLLER, &name);
        let observed = observe(ctx, &class, &mut claimed, running, written).await;
        let decision = class_decide::decide(&observed);
        let result = execute(ctx, &class, &decision, running, written).await;
        guard.finish(result);
    }
}

/// What the decision about `class` looks at: its object, the stream controller running for it,
/// the older class claiming the same stream kind (`claimed` holds the kinds of the classes seen
/// so far in this pass), and — only when a controller must be started — where its kind is served.
async fn observe(
    ctx: &Context,
    class: &StreamClass,
    claimed: &mut BTreeMap<(String, String, String), String>,
    running: &HashMap<String, Running>,
    written: &HashMap<String, Written>,
) -> ClassObserved {
    let name = class.name_any();
    let claimed_by = match claimed.get(&gvk_key(&class.spec)) {
        Some(owner) => Some(owner.clone()),
        None => {
            claimed.insert(gvk_key(&class.spec), name.clone());
            None
        }
    };
    let uid = class.uid().unwrap_or_default();
    let state = match running.get(&name) {
        None => RunningState::None,
        Some(r) if r.uid == uid && r.spec == class.spec && !r.task.is_finished() => {
            RunningState::Current(watch_observed(&r.health))
        }
        Some(_) => RunningState::Stale,
    };
    let resolution = if claimed_by.is_none() && !matches!(state, RunningState::Current(_)) {
        resolve(ctx, &class.spec).await
    } else {
        Resolution::NotNeeded
    };
    ClassObserved {
        now: jiff::Timestamp::now(),
        resource_version: class.metadata.resource_version.clone(),
        generation: class.metadata.generation,
        status: class.status.clone().unwrap_or_default(),
        claimed_by,
        running: state,
        resolution,
        written: written.get(&name).cloned(),
    }
}

/// The health of a stream controller's watch.
fn watch_observed(health: &WatchHealth) -> WatchObserved {
    WatchObserved {
        listed: health.listed(),
        problem: health.problem().map(|p| {
            let kind = match p.kind {
                ProblemKind::NotFound => WatchProblemKind::NotFound,
                ProblemKind::Forbidden => WatchProblemKind::Forbidden,
                ProblemKind::Other => WatchProblemKind::Other,
            };
            (kind, p.message, p.since.elapsed())
        }),
    }
}

/// Carries out the decision about `class`, in order; stops at a failed status write.
async fn execute(
    ctx: &Arc<Context>,
    class: &StreamClass,
    decision: &ClassDecision,
    running: &mut HashMap<String, Running>,
    written: &mut HashMap<String, Written>,
) -> ReconcileResult {
    let name = class.name_any();
    for command in &decision.commands {
        match command {
            ClassCommand::Stop(cause) => {
                if let Some(r) = running.remove(&name) {
                    stop_logged(&name, r, *cause).await;
                }
            }
            ClassCommand::Start(resource) => start(ctx, class, resource, running),
            ClassCommand::WriteStatus {
                state,
                ready,
                observed_generation,
            } => {
                if write_status(ctx, class, state.phase, ready, *observed_generation)
                    .await
                    .is_err()
                {
                    return ReconcileResult::Error;
                }
                log_state(&name, state);
                let record = Written {
                    before: class.metadata.resource_version.clone(),
                    generation: class.metadata.generation,
                    state: state.clone(),
                };
                written.insert(name.clone(), record);
            }
            ClassCommand::PublishEvent {
                warning,
                reason,
                message,
            } => publish(ctx, class, *warning, *reason, message).await,
        }
    }
    match &decision.state {
        Some(state) if !state.ready => ReconcileResult::RequeueAfter,
        _ => ReconcileResult::Success,
    }
}

fn gvk_key(spec: &StreamClassSpec) -> (String, String, String) {
    (
        spec.api_group_ref.clone().unwrap_or_default(),
        spec.api_version.clone(),
        spec.kind_ref.clone(),
    )
}

/// Starts the class's stream controller for its stream kind, served as `resource`.
fn start(
    ctx: &Arc<Context>,
    class: &StreamClass,
    resource: &ApiResource,
    running: &mut HashMap<String, Running>,
) {
    let name = class.name_any();
    let info = ClassInfo {
        name: name.clone(),
        secret_refs: class.spec.secret_refs.clone().unwrap_or_default(),
    };
    let health = WatchHealth::new(stream_target(&name, resource), Some(ctx.class_events.clone()));
    let token = CancellationToken::new();
    let task = tokio::spawn(stream_controller::run(
        ctx.clone(),
        info,
        resource.clone(),
        health.clone(),
        token.clone(),
    ));
    tracing::info!(
        class = %name,
        gvk = %format_gvk(&resource.group, &resource.version, &resource.kind),
        resource = %resource.plural,
        "StreamClass started"
    );
    running.insert(
        name,
        Running {
            uid: class.uid().unwrap_or_default(),
            spec: class.spec.clone(),
            token,
            task,
            health,
        },
    );
}

/// The watch of a class's stream kind, for messages.
fn stream_target(class: &str, resource: &ApiResource) -> WatchTarget {
    WatchTarget {
        name: format!("stream/{class}"),
        class: Some(class.to_string()),
        group: resource.group.clone(),
        version: resource.version.clone(),
        kind: resource.kind.clone(),
        plural: resource.plural.clone(),
        fix_not_found: "install the stream plugin's CustomResourceDefinition, or delete this StreamClass"
            .to_string(),
    }
}

/// Finds the served resource of the class's stream kind.
async fn resolve(ctx: &Context, spec: &StreamClassSpec) -> Resolution {
    let gvk = GroupVersionKind::gvk(
        spec.api_group_ref.as_deref().unwrap_or_default(),
        &spec.api_version,
        &spec.kind_ref,
    );
    match discovery::pinned_kind(&ctx.client, &gvk).await {
        Ok((_, caps)) if caps.scope == Scope::Cluster => Resolution::ClusterScoped(format!(
            "{} is cluster-scoped; stream definitions must be namespaced",
            format_gvk(&gvk.group, &gvk.version, &gvk.kind)
        )),
        Ok((resource, _)) => Resolution::Served(resource),
        // kube's discovery error names the kind with Rust `Debug` text: say it ourselves.
        Err(kube::Error::Api(status)) if status.code == 404 => Resolution::NotServed(not_served(&gvk)),
        Err(kube::Error::Discovery(_)) => Resolution::NotServed(not_served(&gvk)),
        Err(error) => Resolution::Failed(format!(
            "cannot look up {}: {}",
            format_gvk(&gvk.group, &gvk.version, &gvk.kind),
            describe_kube_error(&error)
        )),
    }
}

fn not_served(gvk: &GroupVersionKind) -> String {
    format!(
        "{} is not served by the API server: install the stream plugin's CustomResourceDefinition, or fix this StreamClass",
        format_gvk(&gvk.group, &gvk.version, &gvk.kind)
    )
}

/// Writes the class status: its phase, its one `Ready` condition and `observedGeneration`.
async fn write_status(
    ctx: &Context,
    class: &StreamClass,
    phase: crate::crd::StreamClassPhase,
    ready: &Condition,
    observed_generation: Option<i64>,
) -> Result<(), ()> {
    let patch =
        json!({"status": {"phase": phase, "conditions": [ready], "observedGeneration": observed_generation}});
    let api: Api<StreamClass> = Api::all(ctx.client.clone());
    let params = PatchParams {
        field_manager: Some(CONTROLLER_NAME.to_string()),
        ..PatchParams::default()
    };
    if let Err(error) = api
        .patch_status(&class.name_any(), &params, &Patch::Merge(&patch))
        .await
    {
        tracing::warn!(
            class = %class.name_any(),
            error = %describe_kube_error(&error),
            "cannot write StreamClass status; retrying on the next pass"
        );
        return Err(());
    }
    Ok(())
}

/// One line per state a class is given: info when Ready, a warning otherwise.
fn log_state(class: &str, state: &class_decide::ClassState) {
    let reason = state.reason.as_str();
    if state.ready {
        tracing::info!(class, phase = ?state.phase, reason, "StreamClass ready");
    } else {
        tracing::warn!(
            class,
            phase = ?state.phase,
            reason,
            detail = %state.message,
            "StreamClass not ready"
        );
    }
}

/// Publishes an Event on the class; a refusal is logged, never fatal.
async fn publish(ctx: &Context, class: &StreamClass, warning: bool, reason: ClassReason, message: &str) {
    let event = Event {
        type_: if warning {
            EventType::Warning
        } else {
            EventType::Normal
        },
        reason: reason.as_str().to_string(),
        note: message.to_string(),
        action: "Reconcile".to_string(),
    };
    let regarding = class.object_ref(&());
    if let Err(error) = ctx.recorder.publish(&event, &regarding).await {
        super::events::log_refused(&error, &event, &regarding);
    }
}

async fn stop(running: Running) {
    running.token.cancel();
    let abort = running.task.abort_handle();
    if tokio::time::timeout(SHUTDOWN_GRACE, running.task).await.is_err() {
        abort.abort();
    }
}

/// Stops a class's stream controller with one INFO line saying why.
async fn stop_logged(class: &str, running: Running, cause: StopCause) {
    tracing::info!(class, reason = cause.as_str(), "StreamClass stopped");
    stop(running).await;
}

async fn stop_all(running: HashMap<String, Running>) {
    let stops = running
        .into_iter()
        .map(|(name, r)| async move { stop_logged(&name, r, StopCause::Shutdown).await });
    futures::future::join_all(stops).await;
}

#[cfg(test)]
mod tests {
    use super::*;
    use kube::api::ObjectMeta;

    fn class(name: &str) -> StreamClass {
        StreamClass {
            metadata: ObjectMeta {
                name: Some(name.to_string()),
                ..ObjectMeta::default()
            },
            spec: StreamClassSpec::default(),
            status: None,
        }
    }

    /// The class controller syncs exactly after the events that leave the store holding every class
    /// seen so far, checked against kube's own reflector.
    #[test]
    fn syncs_only_when_the_store_holds_every_class() {
        use watcher::Event;
        let (store, mut writer) = reflector::store::<StreamClass>();
        let cases: Vec<(Event<StreamClass>, bool, usize)> = vec![
            (Event::Init, false, 0),
            (Event::InitApply(class("a")), false, 0),
            (Event::InitApply(class("b")), false, 0),
            (Event::InitDone, true, 2),
            (Event::Apply(class("c")), true, 3),
            (Event::Delete(class("a")), true, 2),
            // A re-list after a lost watch: the old state stays until the new list is complete.
            (Event::Init, false, 2),
            (Event::InitApply(class("d")), false, 2),
            (Event::InitDone, true, 1),
        ];
        for (event, complete, in_store) in cases {
            writer.apply_watcher_event(&event);
            assert_eq!(store_complete(&event), complete, "{event:?}");
            assert_eq!(store.state().len(), in_store, "{event:?}");
        }
    }
}
