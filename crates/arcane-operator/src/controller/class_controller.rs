//! The StreamClass controller: starts, restarts and stops one stream controller per class, and
//! reports each class's state in its status and Events.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, Time};
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
use crate::crd::{StreamClass, StreamClassPhase, StreamClassSpec};
use crate::stream::{CONTROLLER_NAME, ClassInfo};
use crate::telemetry::metrics::STREAMCLASS_CONTROLLER;
use crate::telemetry::watch::describe_kube_error;
use crate::telemetry::{ProblemKind, ReconcileResult, WatchHealth, WatchTarget, format_gvk};

/// How often classes waiting for their stream CRD look again.
const CRD_RECHECK: Duration = Duration::from_secs(5);

/// How long a stream watch may fail for a passing reason (server errors, connection loss) before
/// its class stops saying Ready. Forbidden and not-found count at once.
const WATCH_FAILING_AFTER: Duration = Duration::from_secs(30);

struct Running {
    uid: String,
    spec: StreamClassSpec,
    token: CancellationToken,
    task: JoinHandle<()>,
    /// The health of the stream controller's watch.
    health: Arc<WatchHealth>,
}

/// What a class should look like after a sync.
#[derive(Debug, Clone, PartialEq)]
struct ClassState {
    phase: StreamClassPhase,
    ready: bool,
    reason: &'static str,
    message: String,
}

/// The status this controller last wrote for a class, and the class's resourceVersion before that
/// write: until the cache shows a newer version, the cached status predates the write.
#[derive(Debug, Clone, PartialEq)]
struct Written {
    before: Option<String>,
    generation: Option<i64>,
    state: ClassState,
}

/// Whether the cached `class` is only behind our own write of `state`. Writing the statuses of
/// several classes in one pass makes the watch events of the first writes arrive while the
/// cache still shows the others unwritten: without this check each pass would write them again.
fn cache_behind_own_write(class: &StreamClass, state: &ClassState, written: Option<&Written>) -> bool {
    written.is_some_and(|w| {
        w.before == class.metadata.resource_version
            && w.generation == class.metadata.generation
            && w.state == *state
    })
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
            stop_logged(&name, r, "StreamClassDeleted").await;
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
        let key = gvk_key(&class.spec);
        let state = match claimed.get(&key) {
            Some(owner) => {
                if let Some(r) = running.remove(&name) {
                    stop_logged(&name, r, "Conflict").await;
                }
                Some(conflict(owner))
            }
            None => {
                claimed.insert(key, name.clone());
                ensure_running(ctx, &class, running).await
            }
        };
        // Undecided (the stream watch has not listed yet): its watch wakes this loop when it has.
        let Some(state) = state else {
            guard.finish(ReconcileResult::Success);
            continue;
        };
        let result = if state.ready {
            ReconcileResult::Success
        } else {
            ReconcileResult::RequeueAfter
        };
        if cache_behind_own_write(&class, &state, written.get(&name)) {
            guard.finish(result);
            continue;
        }
        match write_status(ctx, &class, &state).await {
            Ok(true) => {
                let record = Written {
                    before: class.metadata.resource_version.clone(),
                    generation: class.metadata.generation,
                    state,
                };
                written.insert(name, record);
                guard.finish(result);
            }
            Ok(false) => guard.finish(result),
            Err(()) => guard.finish(ReconcileResult::Error),
        }
    }
}

fn gvk_key(spec: &StreamClassSpec) -> (String, String, String) {
    (
        spec.api_group_ref.clone().unwrap_or_default(),
        spec.api_version.clone(),
        spec.kind_ref.clone(),
    )
}

fn conflict(owner: &str) -> ClassState {
    ClassState {
        phase: StreamClassPhase::Failed,
        ready: false,
        reason: "Conflict",
        message: format!("StreamClass {owner} already manages this stream kind"),
    }
}

/// Starts the class's stream controller if needed; the class's state, or None while its watch has
/// not listed yet and nothing is known to be wrong.
async fn ensure_running(
    ctx: &Arc<Context>,
    class: &StreamClass,
    running: &mut HashMap<String, Running>,
) -> Option<ClassState> {
    let name = class.name_any();
    let uid = class.uid().unwrap_or_default();
    if let Some(r) = running.get(&name) {
        if r.uid == uid && r.spec == class.spec && !r.task.is_finished() {
            let state = watch_state(&r.health);
            // The kind is gone (CRD deleted): stop, and resolve it again on the next passes.
            if state.as_ref().is_some_and(|s| s.reason == "CrdNotFound")
                && let Some(r) = running.remove(&name)
            {
                stop_logged(&name, r, "CrdNotFound").await;
            }
            return state;
        }
        if let Some(r) = running.remove(&name) {
            stop_logged(&name, r, "StreamClassChanged").await;
        }
    }
    let resource = match resolve(ctx, &class.spec).await {
        Ok(resource) => resource,
        Err(state) => return Some(state),
    };
    let info = ClassInfo {
        name: name.clone(),
        secret_refs: class.spec.secret_refs.clone().unwrap_or_default(),
    };
    let health = WatchHealth::new(stream_target(&name, &resource), Some(ctx.class_events.clone()));
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
            uid,
            spec: class.spec.clone(),
            token,
            task,
            health,
        },
    );
    None
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

/// A running class's state from its stream watch: Ready only while the watch works.
fn watch_state(health: &WatchHealth) -> Option<ClassState> {
    match health.problem() {
        Some(p) if p.kind == ProblemKind::NotFound => Some(ClassState {
            phase: StreamClassPhase::Pending,
            ready: false,
            reason: "CrdNotFound",
            message: p.message,
        }),
        Some(p) if p.kind == ProblemKind::Forbidden => Some(ClassState {
            phase: StreamClassPhase::Failed,
            ready: false,
            reason: "Forbidden",
            message: p.message,
        }),
        Some(p) if p.since.elapsed() >= WATCH_FAILING_AFTER => Some(ClassState {
            phase: StreamClassPhase::Pending,
            ready: false,
            reason: "WatchFailing",
            message: p.message,
        }),
        _ if health.listed() => Some(ready_state()),
        _ => None,
    }
}

fn ready_state() -> ClassState {
    ClassState {
        phase: StreamClassPhase::Ready,
        ready: true,
        reason: "StreamControllerStarted",
        message: "The stream controller of this class is running".to_string(),
    }
}

/// Finds the served resource of the class's stream kind.
async fn resolve(ctx: &Context, spec: &StreamClassSpec) -> Result<ApiResource, ClassState> {
    let gvk = GroupVersionKind::gvk(
        spec.api_group_ref.as_deref().unwrap_or_default(),
        &spec.api_version,
        &spec.kind_ref,
    );
    let pending = |message: String| ClassState {
        phase: StreamClassPhase::Pending,
        ready: false,
        reason: "CrdNotFound",
        message,
    };
    match discovery::pinned_kind(&ctx.client, &gvk).await {
        Ok((_, caps)) if caps.scope == Scope::Cluster => Err(ClassState {
            phase: StreamClassPhase::Failed,
            ready: false,
            reason: "UnsupportedScope",
            message: format!(
                "{} is cluster-scoped; stream definitions must be namespaced",
                format_gvk(&gvk.group, &gvk.version, &gvk.kind)
            ),
        }),
        Ok((resource, _)) => Ok(resource),
        // kube's discovery error names the kind with Rust `Debug` text: say it ourselves.
        Err(kube::Error::Api(status)) if status.code == 404 => Err(pending(not_served(&gvk))),
        Err(kube::Error::Discovery(_)) => Err(pending(not_served(&gvk))),
        Err(error) => Err(ClassState {
            phase: StreamClassPhase::Pending,
            ready: false,
            reason: "DiscoveryFailed",
            message: format!(
                "cannot look up {}: {}",
                format_gvk(&gvk.group, &gvk.version, &gvk.kind),
                describe_kube_error(&error)
            ),
        }),
    }
}

fn not_served(gvk: &GroupVersionKind) -> String {
    format!(
        "{} is not served by the API server: install the stream plugin's CustomResourceDefinition, or fix this StreamClass",
        format_gvk(&gvk.group, &gvk.version, &gvk.kind)
    )
}

/// Writes the class status and publishes an Event, only when the state changed: `Ok(true)` when it
/// wrote, `Err` when the write failed.
async fn write_status(ctx: &Context, class: &StreamClass, state: &ClassState) -> Result<bool, ()> {
    let status = class.status.clone().unwrap_or_default();
    let current = status
        .conditions
        .as_ref()
        .and_then(|cs| cs.iter().find(|c| c.type_ == "Ready"));
    let condition_status = if state.ready { "True" } else { "False" };
    let generation = class.metadata.generation;
    let unchanged = status.phase == Some(state.phase)
        && status.observed_generation == generation
        && current.is_some_and(|c| {
            c.status == condition_status && c.reason == state.reason && c.message == state.message
        });
    if unchanged {
        return Ok(false);
    }
    let last_transition = match current {
        Some(c) if c.status == condition_status => c.last_transition_time.clone(),
        _ => Time(jiff::Timestamp::now()),
    };
    let condition = Condition {
        type_: "Ready".to_string(),
        status: condition_status.to_string(),
        reason: state.reason.to_string(),
        message: state.message.clone(),
        observed_generation: generation,
        last_transition_time: last_transition,
    };
    let patch = json!({"status": {"phase": state.phase, "conditions": [condition], "observedGeneration": generation}});
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
    if state.ready {
        tracing::info!(class = %class.name_any(), phase = ?state.phase, reason = state.reason, "StreamClass ready");
    } else {
        tracing::warn!(
            class = %class.name_any(),
            phase = ?state.phase,
            reason = state.reason,
            detail = %state.message,
            "StreamClass not ready"
        );
    }
    let event = Event {
        type_: if state.ready {
            EventType::Normal
        } else {
            EventType::Warning
        },
        reason: if state.ready {
            "StreamClassReady".to_string()
        } else {
            state.reason.to_string()
        },
        note: state.message.clone(),
        action: "Reconcile".to_string(),
    };
    let regarding = class.object_ref(&());
    if let Err(error) = ctx.recorder.publish(&event, &regarding).await {
        super::events::log_refused(&error, &event, &regarding);
    }
    Ok(true)
}

async fn stop(running: Running) {
    running.token.cancel();
    let abort = running.task.abort_handle();
    if tokio::time::timeout(SHUTDOWN_GRACE, running.task).await.is_err() {
        abort.abort();
    }
}

/// Stops a class's stream controller with one INFO line saying why.
async fn stop_logged(class: &str, running: Running, reason: &str) {
    tracing::info!(class, reason, "StreamClass stopped");
    stop(running).await;
}

async fn stop_all(running: HashMap<String, Running>) {
    let stops = running
        .into_iter()
        .map(|(name, r)| async move { stop_logged(&name, r, "Shutdown").await });
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

    /// A class whose cache still shows the version before our write of the same state is not
    /// written again; any newer version, generation or another state is compared as usual.
    #[test]
    fn own_writes_are_not_repeated_from_a_stale_cache() {
        let mut cached = class("a");
        cached.metadata.resource_version = Some("10".to_string());
        cached.metadata.generation = Some(1);
        let ready = ready_state();
        let wrote = |before: &str, generation: i64, state: ClassState| Written {
            before: Some(before.to_string()),
            generation: Some(generation),
            state,
        };
        let cases = [
            (None, false),
            (Some(wrote("10", 1, ready.clone())), true),
            (Some(wrote("9", 1, ready.clone())), false),
            (Some(wrote("10", 2, ready.clone())), false),
            (Some(wrote("10", 1, conflict("b"))), false),
        ];
        for (written, behind) in cases {
            assert_eq!(
                cache_behind_own_write(&cached, &ready, written.as_ref()),
                behind,
                "{written:?}"
            );
        }
    }
}
