//! The StreamClass state machine: a pure function from what is observed of one class (its object,
//! the stream controller running for it, the resolution of its stream kind, another class claiming
//! the same kind) to the commands that keep one stream controller per class and say the class's
//! state in its status and Events. No I/O, no clock: the controller observes, this decides, the
//! handlers in `controller/class_controller.rs` act.

use std::time::Duration;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, Time};
use kube::api::ApiResource;

use crate::crd::{StreamClassPhase, StreamClassStatus};

/// How long a stream watch may fail for a passing reason (server errors, connection loss) before
/// its class stops saying Ready. Forbidden and not-found count at once.
pub const WATCH_FAILING_AFTER: Duration = Duration::from_secs(30);

/// Reasons of a class's `Ready` condition and Events.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ClassReason {
    /// Ready: the class's stream controller runs and its watch works.
    StreamControllerStarted,
    /// The Event of a class that became Ready.
    StreamClassReady,
    /// The stream kind is not served (its CRD is missing or was deleted).
    CrdNotFound,
    /// RBAC forbids watching the stream kind.
    Forbidden,
    /// The stream watch has failed for [`WATCH_FAILING_AFTER`].
    WatchFailing,
    /// An older class manages the same stream kind.
    Conflict,
    /// The stream kind is cluster-scoped.
    UnsupportedScope,
    /// Discovery failed for another reason.
    DiscoveryFailed,
}

impl ClassReason {
    pub fn as_str(self) -> &'static str {
        match self {
            ClassReason::StreamControllerStarted => "StreamControllerStarted",
            ClassReason::StreamClassReady => "StreamClassReady",
            ClassReason::CrdNotFound => "CrdNotFound",
            ClassReason::Forbidden => "Forbidden",
            ClassReason::WatchFailing => "WatchFailing",
            ClassReason::Conflict => "Conflict",
            ClassReason::UnsupportedScope => "UnsupportedScope",
            ClassReason::DiscoveryFailed => "DiscoveryFailed",
        }
    }
}

/// Why a class's stream controller is stopped (the log line says it).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum StopCause {
    StreamClassDeleted,
    StreamClassChanged,
    Conflict,
    CrdNotFound,
    Shutdown,
}

impl StopCause {
    pub fn as_str(self) -> &'static str {
        match self {
            StopCause::StreamClassDeleted => "StreamClassDeleted",
            StopCause::StreamClassChanged => "StreamClassChanged",
            StopCause::Conflict => "Conflict",
            StopCause::CrdNotFound => "CrdNotFound",
            StopCause::Shutdown => "Shutdown",
        }
    }
}

/// A problem of the stream watch, as its health reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WatchProblemKind {
    NotFound,
    Forbidden,
    Other,
}

/// The health of a running stream controller's watch.
#[derive(Debug, Clone, PartialEq)]
pub struct WatchObserved {
    /// The watch finished its initial list.
    pub listed: bool,
    /// The current problem, its message and how long it has lasted.
    pub problem: Option<(WatchProblemKind, String, Duration)>,
}

/// The stream controller of the class, as the controller holds it.
#[derive(Debug, Clone, PartialEq)]
pub enum Running {
    /// None runs.
    None,
    /// One runs for the class's current UID and spec: its watch's health.
    Current(WatchObserved),
    /// One runs for another UID or spec, or its task ended.
    Stale,
}

/// Where the class's stream kind is served; observed only when a controller must be started.
#[derive(Debug, Clone, PartialEq)]
pub enum Resolution {
    /// Not looked up: a current controller runs, or another class claims the kind.
    NotNeeded,
    Served(ApiResource),
    /// Not served by the API server (message for the status).
    NotServed(String),
    ClusterScoped(String),
    Failed(String),
}

/// What a class should look like.
#[derive(Debug, Clone, PartialEq)]
pub struct ClassState {
    pub phase: StreamClassPhase,
    pub ready: bool,
    pub reason: ClassReason,
    pub message: String,
}

/// The status this controller last wrote for a class, and the class's resourceVersion before that
/// write: until the cache shows a newer version, the cached status predates the write.
#[derive(Debug, Clone, PartialEq)]
pub struct Written {
    pub before: Option<String>,
    pub generation: Option<i64>,
    pub state: ClassState,
}

/// Everything the decision about one class looks at.
#[derive(Debug, Clone)]
pub struct ClassObserved {
    pub now: jiff::Timestamp,
    pub resource_version: Option<String>,
    pub generation: Option<i64>,
    pub status: StreamClassStatus,
    /// The older class that manages the same stream kind, if any.
    pub claimed_by: Option<String>,
    pub running: Running,
    pub resolution: Resolution,
    /// This controller's last status write for the class.
    pub written: Option<Written>,
}

/// What the class controller must do, in order.
#[derive(Debug, Clone, PartialEq)]
pub enum ClassCommand {
    Stop(StopCause),
    Start(ApiResource),
    /// Write the class status (`phase`, the one `Ready` condition, `observedGeneration`); the
    /// state is remembered once written.
    WriteStatus {
        state: ClassState,
        ready: Box<Condition>,
        observed_generation: Option<i64>,
    },
    /// Publish an Event on the class (after its status was written).
    PublishEvent {
        warning: bool,
        reason: ClassReason,
        message: String,
    },
}

/// The decision about one class.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct ClassDecision {
    pub commands: Vec<ClassCommand>,
    /// The class's state; `None` while its stream watch has not listed yet and nothing is known
    /// to be wrong (its watch wakes the controller when it has).
    pub state: Option<ClassState>,
}

/// Decides what to do for one class.
pub fn decide(observed: &ClassObserved) -> ClassDecision {
    let mut commands = Vec::new();
    let state = if let Some(owner) = &observed.claimed_by {
        if observed.running != Running::None {
            commands.push(ClassCommand::Stop(StopCause::Conflict));
        }
        Some(conflict(owner))
    } else {
        match &observed.running {
            Running::Current(watch) => {
                let state = watch_state(watch);
                // The kind is gone (CRD deleted): stop, and resolve it again on the next passes.
                if state
                    .as_ref()
                    .is_some_and(|s| s.reason == ClassReason::CrdNotFound)
                {
                    commands.push(ClassCommand::Stop(StopCause::CrdNotFound));
                }
                state
            }
            running => {
                if *running == Running::Stale {
                    commands.push(ClassCommand::Stop(StopCause::StreamClassChanged));
                }
                match &observed.resolution {
                    Resolution::Served(resource) => {
                        commands.push(ClassCommand::Start(resource.clone()));
                        None
                    }
                    Resolution::NotServed(message) => Some(state(
                        StreamClassPhase::Pending,
                        ClassReason::CrdNotFound,
                        message,
                    )),
                    Resolution::ClusterScoped(message) => Some(state(
                        StreamClassPhase::Failed,
                        ClassReason::UnsupportedScope,
                        message,
                    )),
                    Resolution::Failed(message) => Some(state(
                        StreamClassPhase::Pending,
                        ClassReason::DiscoveryFailed,
                        message,
                    )),
                    Resolution::NotNeeded => None,
                }
            }
        }
    };
    if let Some(state) = &state {
        commands.extend(report(observed, state));
    }
    ClassDecision { commands, state }
}

fn state(phase: StreamClassPhase, reason: ClassReason, message: &str) -> ClassState {
    ClassState {
        phase,
        ready: false,
        reason,
        message: message.to_owned(),
    }
}

pub fn conflict(owner: &str) -> ClassState {
    ClassState {
        phase: StreamClassPhase::Failed,
        ready: false,
        reason: ClassReason::Conflict,
        message: format!("StreamClass {owner} already manages this stream kind"),
    }
}

pub fn ready_state() -> ClassState {
    ClassState {
        phase: StreamClassPhase::Ready,
        ready: true,
        reason: ClassReason::StreamControllerStarted,
        message: "The stream controller of this class is running".to_owned(),
    }
}

/// A running class's state from its stream watch: Ready only while the watch works.
fn watch_state(watch: &WatchObserved) -> Option<ClassState> {
    match &watch.problem {
        Some((WatchProblemKind::NotFound, message, _)) => Some(state(
            StreamClassPhase::Pending,
            ClassReason::CrdNotFound,
            message,
        )),
        Some((WatchProblemKind::Forbidden, message, _)) => {
            Some(state(StreamClassPhase::Failed, ClassReason::Forbidden, message))
        }
        Some((WatchProblemKind::Other, message, lasted)) if *lasted >= WATCH_FAILING_AFTER => Some(state(
            StreamClassPhase::Pending,
            ClassReason::WatchFailing,
            message,
        )),
        _ if watch.listed => Some(ready_state()),
        _ => None,
    }
}

/// Whether the cached class is only behind our own write of `state`. Writing the statuses of
/// several classes in one pass makes the watch events of the first writes arrive while the cache
/// still shows the others unwritten: without this check each pass would write them again.
pub fn cache_behind_own_write(observed: &ClassObserved, state: &ClassState) -> bool {
    observed.written.as_ref().is_some_and(|w| {
        w.before == observed.resource_version && w.generation == observed.generation && w.state == *state
    })
}

/// The status write and its Event, when the class does not show `state` yet.
fn report(observed: &ClassObserved, state: &ClassState) -> Vec<ClassCommand> {
    if cache_behind_own_write(observed, state) {
        return Vec::new();
    }
    let status = &observed.status;
    let current = status
        .conditions
        .as_ref()
        .and_then(|cs| cs.iter().find(|c| c.type_ == "Ready"));
    let condition_status = if state.ready { "True" } else { "False" };
    let unchanged = status.phase == Some(state.phase)
        && status.observed_generation == observed.generation
        && current.is_some_and(|c| {
            c.status == condition_status && c.reason == state.reason.as_str() && c.message == state.message
        });
    if unchanged {
        return Vec::new();
    }
    // lastTransitionTime moves only when the condition's status does.
    let last_transition_time = match current {
        Some(c) if c.status == condition_status => c.last_transition_time.clone(),
        _ => Time(observed.now),
    };
    let ready = Condition {
        type_: "Ready".to_owned(),
        status: condition_status.to_owned(),
        reason: state.reason.as_str().to_owned(),
        message: state.message.clone(),
        observed_generation: observed.generation,
        last_transition_time,
    };
    vec![
        ClassCommand::WriteStatus {
            state: state.clone(),
            ready: Box::new(ready),
            observed_generation: observed.generation,
        },
        ClassCommand::PublishEvent {
            warning: !state.ready,
            reason: if state.ready {
                ClassReason::StreamClassReady
            } else {
                state.reason
            },
            message: state.message.clone(),
        },
    ]
}

#[cfg(test)]
mod tests;
