//! The one internal model every stream-definition layout is parsed into, and the values the state
//! machine consumes and produces. Plain data: no I/O, no clock.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use k8s_openapi::api::batch::v1::{CronJob, Job};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition;
use serde_json::Value;

use crate::crd::{BackfillRequest, BackfillRequestState, StreamingJobTemplate};

/// Labels the operator puts on every workload.
pub const LABEL_STREAM_ID: &str = "arcane/stream-id";
pub const LABEL_STREAM_KIND: &str = "arcane/stream-kind";
pub const LABEL_STREAM_CLASS: &str = "arcane/stream-class";
pub const LABEL_BACKFILLING: &str = "arcane/backfilling";

/// Annotations the operator puts on workloads. Everything the operator must remember about a
/// workload lives here, because a plugin CRD may prune any status field but `phase`, `conditions`
/// and `configurationHash`.
pub const ANNOTATION_CONFIGURATION_HASH: &str = "configuration-hash";
/// Name of the BackfillRequest a backfill Job was built for.
pub const ANNOTATION_BACKFILL_REQUEST: &str = "arcane/backfill-request";
/// `metadata.generation` of the stream definition the workload was built from.
pub const ANNOTATION_STREAM_GENERATION: &str = "arcane/stream-generation";
/// Number of restarts of a completed streaming Job that preceded this workload.
pub const ANNOTATION_RESTARTS: &str = "arcane/restarts";
/// Full values of labels that had to be shortened (`<label key>` -> full value), as JSON object.
pub const ANNOTATION_FULL_LABELS: &str = "arcane/full-label-values";

/// Legacy (C# era) annotation on stream definitions.
pub const ANNOTATION_LEGACY_STATE: &str = "arcane/state";
pub const LEGACY_STATE_SUSPENDED: &str = "suspended";
pub const LEGACY_STATE_RELOAD_REQUESTED: &str = "reload-requested";

/// Reporting controller name for Events and field manager for writes.
pub const CONTROLLER_NAME: &str = "arcane-operator";

/// The phases written to `status.phase` (exact strings).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Phase {
    Pending,
    Running,
    Scheduled,
    Backfilling,
    Suspended,
    Failed,
}

impl Phase {
    pub const ALL: [Phase; 6] = [
        Phase::Pending,
        Phase::Running,
        Phase::Scheduled,
        Phase::Backfilling,
        Phase::Suspended,
        Phase::Failed,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Phase::Pending => "Pending",
            Phase::Running => "Running",
            Phase::Scheduled => "Scheduled",
            Phase::Backfilling => "Backfilling",
            Phase::Suspended => "Suspended",
            Phase::Failed => "Failed",
        }
    }

    /// Parses an exact phase string; anything else (C#-era `RUNNING`, garbage) is `None`.
    pub fn parse(value: &str) -> Option<Phase> {
        Phase::ALL.into_iter().find(|p| p.as_str() == value)
    }
}

impl std::fmt::Display for Phase {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Which stream-definition layout an object uses (`spec.execution.layoutVersion`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Layout {
    V0,
    V1,
    V2,
}

/// Identity of a stream definition; known even when its spec cannot be parsed.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct StreamIdentity {
    /// `group/version` (or `version` for the core group) of the plugin's stream kind.
    pub api_version: String,
    pub kind: String,
    pub namespace: String,
    pub name: String,
    pub uid: String,
    /// `metadata.generation`; 0 when the server did not set one.
    pub generation: i64,
}

/// A reference to a StreamingJobTemplate, its namespace already resolved (never empty).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct TemplateRef {
    pub namespace: String,
    pub name: String,
}

/// What keeps the stream running when it is not backfilling.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Backend {
    /// One long-running Job (`changeCapture`, and every v0 stream).
    Job,
    /// One CronJob with this schedule (`batch`).
    CronJob { schedule: String },
}

/// A validated stream definition: every layout ends up here.
#[derive(Debug, Clone, PartialEq)]
pub struct StreamDefinition {
    pub layout: Layout,
    /// The spec flag, or the legacy `arcane/state: suspended` annotation.
    pub suspended: bool,
    /// Suspended by the legacy annotation alone (the spec's flag is not set): the status says so,
    /// or a user reading `suspended: false` in the spec would not know why nothing runs.
    pub suspended_by_annotation: bool,
    pub backend: Backend,
    /// Template of the streaming Job or of the CronJob's job.
    pub streaming_template: TemplateRef,
    /// Template of backfill Jobs; `None` only for a batch-only v2 stream.
    pub backfill_template: Option<TemplateRef>,
    /// Secret names from the fields the class lists in `secretRefs`, in the class's order.
    pub secret_names: Vec<String>,
    /// The legacy `arcane/state: reload-requested` annotation is present.
    pub reload_requested: bool,
    /// The raw `.spec`, passed to the workload as `STREAMCONTEXT__SPEC`.
    pub spec: Value,
}

/// A definition that cannot be parsed: names the offending field.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {message}")]
pub struct InvalidSpec {
    /// JSON path of the field, e.g. `spec.execution.streamingBackend.batch.schedule`.
    pub field: String,
    pub message: String,
}

/// The stream definition's `status` as read from the cluster. Any field may be absent, because the
/// plugin's CRD may prune it.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct StreamStatus {
    /// Raw `status.phase`; may be a C#-era or garbage value.
    pub phase: Option<String>,
    pub conditions: Vec<Condition>,
    pub observed_generation: Option<i64>,
    pub configuration_hash: Option<String>,
    pub backfill_request: Option<String>,
    pub restarts: Option<u32>,
}

/// The one workload of a stream, as observed or as built.
#[derive(Debug, Clone, PartialEq)]
pub enum Workload {
    Job(Box<Job>),
    CronJob(Box<CronJob>),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum WorkloadKind {
    Job,
    CronJob,
}

impl WorkloadKind {
    pub fn as_str(self) -> &'static str {
        match self {
            WorkloadKind::Job => "Job",
            WorkloadKind::CronJob => "CronJob",
        }
    }
}

/// The class a stream controller runs for, as far as decisions and building need it.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ClassInfo {
    /// `metadata.name` of the StreamClass.
    pub name: String,
    /// Field names under `.spec` holding `{name: <secret>}` references.
    pub secret_refs: Vec<String>,
}

/// Everything `decide` looks at: the level-based view of one stream.
#[derive(Debug, Clone)]
pub struct Observed {
    pub now: jiff::Timestamp,
    pub class: ClassInfo,
    pub identity: StreamIdentity,
    pub definition: Result<StreamDefinition, InvalidSpec>,
    pub status: StreamStatus,
    /// The Job or CronJob named for this stream and controlled by it, if any.
    pub workload: Option<Workload>,
    /// BackfillRequests in the stream's namespace whose `spec.streamId` is the stream's name
    /// (any class, completed or not); `decide` picks the active one.
    pub backfill_requests: Vec<BackfillRequest>,
    /// The streaming template, when it exists (shared with the cache).
    pub streaming_template: Option<Arc<StreamingJobTemplate>>,
    /// The backfill template, when the stream has one and it exists (shared with the cache).
    pub backfill_template: Option<Arc<StreamingJobTemplate>>,
    /// What the controller remembers of earlier decisions and of the API server's answers to them.
    pub remembered: Remembered,
}

/// What the stream controller remembers about one stream between reconciles: facts that no object
/// in the cluster holds for sure. It is fed back into the next [`Observed`]; an operator restart
/// forgets it, and every rule stays correct without it (it only loses a count or a back-off).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Remembered {
    /// The restart count of the last decision ([`Decision::restarts`]). A plugin CRD may prune
    /// `status.restarts`, and between deleting a completed streaming Job and creating the next no
    /// workload carries the count in its `arcane/restarts` annotation.
    pub restarts: Option<u32>,
    /// The last workload create the API server refused.
    pub refusal: Option<WorkloadRefusal>,
}

/// A workload create the API server refused in a way an unchanged retry cannot fix (a 4xx other
/// than a conflict or throttling, e.g. 422 for a template's invalid Job, or a foreign object holding
/// the name). It applies to the same workload only: same kind, name and configuration hash, so a
/// change of the template or of the definition clears it.
#[derive(Debug, Clone, PartialEq)]
pub struct WorkloadRefusal {
    pub kind: WorkloadKind,
    pub name: String,
    /// The `configuration-hash` annotation of the refused workload.
    pub hash: Option<String>,
    /// The API server's message.
    pub message: String,
    /// When the create may be tried again (the controller's back-off).
    pub retry_at: jiff::Timestamp,
}

/// `Normal` or `Warning`, as in a Kubernetes Event.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum EventType {
    Normal,
    Warning,
}

/// A Kubernetes Event to publish on the stream definition.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EventNote {
    pub type_: EventType,
    pub reason: crate::stream::reasons::Reason,
    pub message: String,
}

/// The status `decide` wants written (through the status subresource, merge patch).
#[derive(Debug, Clone, PartialEq)]
pub struct DesiredStatus {
    pub phase: Phase,
    /// The `Ready` condition, `lastTransitionTime` kept when its status did not change.
    pub ready: Condition,
    /// Every condition to write: the observed ones of other writers, then `ready` (in place of
    /// ours and of the Go operator's one condition).
    pub conditions: Vec<Condition>,
    pub observed_generation: i64,
    /// Always written (a plugin's CRD generated from Go types requires it): the hash of the
    /// workload that runs or would run, else the one already recorded, else empty.
    pub configuration_hash: String,
    pub backfill_request: Option<String>,
    pub restarts: u32,
}

/// What the operator must do; handlers perform these, idempotently, in order.
#[derive(Debug, Clone, PartialEq)]
pub enum Command {
    /// Create this fully built workload (a create answering `AlreadyExists` is resolved by reading).
    CreateWorkload(Workload),
    /// Delete the workload with this UID precondition, foreground propagation.
    DeleteWorkload {
        kind: WorkloadKind,
        name: String,
        uid: String,
        /// Why: metrics and logs read this, never an Event's reason.
        cause: DeleteCause,
    },
    /// Take over a workload another operator (the Go Arcane operator) built from the same
    /// definition: set this operator's labels and annotations on it, leaving it running.
    AdoptWorkload {
        kind: WorkloadKind,
        name: String,
        uid: String,
        labels: BTreeMap<String, String>,
        annotations: BTreeMap<String, String>,
    },
    /// Create this BackfillRequest (built with `generateName` and an owner reference to the stream),
    /// for this purpose: the handler checks the live stream still wants it.
    CreateBackfillRequest {
        request: Box<BackfillRequest>,
        purpose: RequestPurpose,
    },
    /// Set `spec.completed: true` on the request with this name and UID.
    CompleteBackfillRequest { name: String, uid: String },
    /// Record where the request stands on its status (phase and `Completed` condition, see
    /// [`BackfillRequestState`]) and in an Event on it: waiting, running, or refused for good (for
    /// example a stream without a backfill template). Completion is [`Self::CompleteBackfillRequest`].
    SetRequestState {
        name: String,
        uid: String,
        /// The request as decided on: a status written by someone else since wins (a 409).
        resource_version: String,
        state: BackfillRequestState,
        message: String,
    },
    /// Write the stream's status subresource.
    PatchStatus(Box<DesiredStatus>),
    /// Remove the legacy `arcane/state: reload-requested` annotation from the definition.
    RemoveLegacyAnnotation,
    /// Publish an Event on the stream definition.
    PublishEvent(EventNote),
}

/// Why a workload is deleted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DeleteCause {
    /// The configuration changed: the workload is replaced by one built from the new one.
    Replace,
    /// The backend changed (Job ↔ CronJob): the old workload goes before the new one is created.
    BackendSwitch,
    /// The stream is suspended: nothing runs.
    Suspend,
    /// A backfill Job whose request completed, or is not active any more.
    BackfillDone,
    /// A streaming workload stopped so that a backfill can run.
    MakeWayForBackfill,
    /// A streaming Job that completed, restarted with back-off.
    Restart,
    /// A failed Job removed because the configuration changed since it failed.
    Recover,
}

impl DeleteCause {
    /// A replacement: the same workload comes back built from another configuration.
    pub fn replaces(self) -> bool {
        matches!(self, DeleteCause::Replace | DeleteCause::BackendSwitch)
    }
}

/// Why the operator creates a BackfillRequest.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RequestPurpose {
    /// The initial backfill of a new stream (only while the live stream is still new).
    Initial,
    /// The legacy `arcane/state: reload-requested` annotation (only while the live stream has it).
    Reload,
}

/// The outcome of one reconcile decision.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Decision {
    /// Commands in the order they must run.
    pub commands: Vec<Command>,
    /// Decide again after this long even if nothing changes (restart back-off).
    pub requeue_after: Option<Duration>,
    /// The restart count this decision stands on, for the controller to remember
    /// ([`Remembered::restarts`]); `None` when the definition could not be read.
    pub restarts: Option<u32>,
}
