//! The value every rule returns, and the per-decision context the rules read.

use std::time::Duration;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, ObjectMeta, OwnerReference};

use crate::crd::{BackfillRequest, BackfillRequestSpec, StreamingJobTemplate};
use crate::stream::builder::{self, BuildInput, Mode};
use crate::stream::model::{
    Command, DeleteCause, EventNote, EventType, Observed, Phase, RequestPurpose, StreamDefinition,
    TemplateRef, Workload,
};

use super::facts::{
    WorkloadFacts, active_requests, observed_phase, ready_condition, ready_reason, remembered_restarts,
    request_name,
};
use super::reasons::{Reason, event, ready};

pub(super) const PENDING_MESSAGE: &str = "The workload is being created or replaced.";

/// Shortest life of a workload before a configuration change replaces it. A definition edited many
/// times a second (a script, a fight between two writers) would otherwise replace its Job on every
/// edit (ecosystem-reliability L5: ≤ 20 replacements for 1,000 edits in 10 s); edits within the
/// interval are folded into one replacement with the latest definition. Creation times have a
/// resolution of one second, so the actual wait after a create is between 1 and 2 seconds.
pub const MIN_REPLACE_INTERVAL: Duration = Duration::from_secs(2);

/// What one rule decided: the commands that change the world, the status the stream should show,
/// and the Events that explain it.
#[derive(Debug, Clone)]
pub(super) struct Outcome {
    pub actions: Vec<Command>,
    pub events: Vec<EventNote>,
    pub phase: Phase,
    pub reason: Reason,
    pub message: String,
    /// Write this `Ready` condition verbatim (a sticky state keeps what it once wrote).
    pub kept_condition: Option<Condition>,
    pub configuration_hash: Option<String>,
    pub backfill_request: Option<String>,
    pub restarts: u32,
    pub requeue_after: Option<Duration>,
    /// Leave the status as it is and say nothing: the decision only waits (see [`Ctx::holding`]).
    pub hold: bool,
}

impl Outcome {
    pub(super) fn new(phase: Phase, reason: Reason, message: impl Into<String>) -> Self {
        Outcome {
            actions: Vec::new(),
            events: Vec::new(),
            phase,
            reason,
            message: message.into(),
            kept_condition: None,
            configuration_hash: None,
            backfill_request: None,
            restarts: 0,
            requeue_after: None,
            hold: false,
        }
    }

    pub(super) fn act(mut self, command: Command) -> Self {
        self.actions.push(command);
        self
    }

    pub(super) fn event(mut self, type_: EventType, reason: Reason, message: impl Into<String>) -> Self {
        self.events.push(note(type_, reason, message));
        self
    }

    pub(super) fn hash(mut self, hash: Option<impl Into<String>>) -> Self {
        self.configuration_hash = hash.map(Into::into);
        self
    }
}

pub(super) fn note(type_: EventType, reason: Reason, message: impl Into<String>) -> EventNote {
    EventNote {
        type_,
        reason,
        message: message.into(),
    }
}

/// Commands and Events that come before any rule's outcome (legacy annotation, refused requests).
/// They are published whatever the outcome, because each one goes with an action.
#[derive(Debug, Default)]
pub(super) struct Preamble {
    pub actions: Vec<Command>,
    pub events: Vec<EventNote>,
}

/// What the rules of a valid definition read.
pub(super) struct Ctx<'a> {
    pub observed: &'a Observed,
    pub definition: &'a StreamDefinition,
    pub workload: Option<WorkloadFacts<'a>>,
    /// Requests this stream will serve, oldest first.
    pub active: Vec<&'a BackfillRequest>,
    /// Restarts of completed streaming Jobs so far.
    pub restarts: u32,
    /// A request was created in this decision and is not observed yet.
    pub request_pending: bool,
}

impl<'a> Ctx<'a> {
    pub(super) fn new(observed: &'a Observed, definition: &'a StreamDefinition) -> Self {
        let workload = observed.workload.as_ref().map(WorkloadFacts::new);
        Ctx {
            observed,
            definition,
            workload,
            active: active_requests(observed),
            restarts: remembered_restarts(observed, workload.as_ref()),
            request_pending: false,
        }
    }

    /// An outcome with this context's defaults: the active request, the remembered restarts.
    pub(super) fn outcome(&self, phase: Phase, reason: Reason, message: impl Into<String>) -> Outcome {
        let mut outcome = Outcome::new(phase, reason, message);
        outcome.backfill_request = self.active.first().map(|r| request_name(r));
        outcome.restarts = self.restarts;
        outcome
    }

    pub(super) fn pending(&self) -> Outcome {
        self.outcome(Phase::Pending, ready::STREAM_PENDING, PENDING_MESSAGE)
    }

    /// Waiting for a workload to go away: keeps the Pending condition already written (it may carry
    /// the restart count), so a wait never rewrites the status.
    pub(super) fn waiting(&self) -> Outcome {
        let status = &self.observed.status;
        let kept = ready_condition(status)
            .zip(ready_reason(status))
            .filter(|(_, reason)| {
                observed_phase(self.observed) == Some(Phase::Pending)
                    && matches!(reason, Reason::StreamPending | Reason::StreamRestarting)
            });
        let outcome = match kept {
            Some((c, reason)) => self.outcome(Phase::Pending, reason, c.message.clone()),
            None => self.pending(),
        };
        outcome.event(
            EventType::Normal,
            event::STREAM_PENDING,
            "Waiting for the previous workload to be deleted",
        )
    }

    /// How long a changed configuration waits before `workload` is replaced: the rest of
    /// [`MIN_REPLACE_INTERVAL`] since it was created; `None` when it may be replaced now.
    pub(super) fn replace_wait(&self, workload: &WorkloadFacts<'_>) -> Option<Duration> {
        let age = workload.age(self.observed.now)?;
        let interval = jiff::SignedDuration::try_from(MIN_REPLACE_INTERVAL).ok()?;
        let left = interval.checked_sub(age)?;
        left.is_positive()
            .then(|| Duration::try_from(left).ok())
            .flatten()
    }

    /// Waits `wait` before acting, leaving the status as it is: the workload it shows still runs.
    pub(super) fn holding(&self, wait: Duration) -> Outcome {
        let mut outcome = self.pending();
        outcome.hold = true;
        outcome.requeue_after = Some(wait);
        outcome
    }

    /// What a workload of `mode` is built from, with `template`.
    pub(super) fn input(&self, template: &'a StreamingJobTemplate, mode: Mode<'a>) -> BuildInput<'a> {
        BuildInput {
            identity: &self.observed.identity,
            definition: self.definition,
            class: &self.observed.class,
            template,
            mode,
            restarts: match mode {
                Mode::Streaming => self.restarts,
                Mode::Backfill(_) => 0,
            },
        }
    }

    /// The configuration hashes of what may run now: the streaming workload and the backfill of
    /// the oldest active request, as far as their templates exist.
    pub(super) fn desired_hashes(&self) -> Vec<String> {
        let mut hashes = Vec::new();
        if let Some(template) = self.observed.streaming_template.as_deref() {
            hashes.push(builder::configuration_hash(
                &self.input(template, Mode::Streaming),
            ));
        }
        if let (Some(request), Some(template)) =
            (self.active.first(), self.observed.backfill_template.as_deref())
        {
            hashes.push(builder::configuration_hash(
                &self.input(template, Mode::Backfill(request)),
            ));
        }
        hashes
    }

    /// Whether the configuration changed since a workload with `hash` (built from the definition
    /// of `generation`) failed: its hash is none of those of what may run now. When no hash can be
    /// computed (a template is missing), a newer generation of the definition tells.
    pub(super) fn changed_since_failure(&self, hash: Option<&str>, generation: Option<i64>) -> bool {
        let desired = self.desired_hashes();
        if desired.is_empty() {
            return generation.is_some_and(|g| self.observed.identity.generation > g);
        }
        !hash.is_some_and(|hash| desired.iter().any(|d| d == hash))
    }

    pub(super) fn current_hash(&self) -> Option<String> {
        self.workload.and_then(|w| w.hash()).map(str::to_owned)
    }

    pub(super) fn template_not_found(&self, template: &TemplateRef) -> Outcome {
        let message = format!(
            "StreamingJobTemplate {}/{} not found",
            template.namespace, template.name
        );
        self.outcome(Phase::Pending, ready::TEMPLATE_NOT_FOUND, message.clone())
            .hash(self.current_hash())
            .event(EventType::Warning, event::TEMPLATE_NOT_FOUND, message)
    }

    pub(super) fn invalid_template(&self, error: &impl std::fmt::Display) -> Outcome {
        let message = format!("Cannot build the workload: {error}");
        self.outcome(Phase::Pending, ready::INVALID_TEMPLATE, message.clone())
            .hash(self.current_hash())
            .event(EventType::Warning, ready::INVALID_TEMPLATE, message)
    }
}

/// Foreground delete of the observed workload, guarded by its UID.
pub(super) fn delete(workload: &WorkloadFacts<'_>, cause: DeleteCause) -> Command {
    Command::DeleteWorkload {
        kind: workload.kind,
        name: workload.name().to_owned(),
        uid: workload.uid().to_owned(),
        cause,
    }
}

/// A new BackfillRequest for the stream, `generateName: <stream>-initial-backfill-` or
/// `<stream>-reload-`. Owned by the stream so
/// the garbage collector removes it with the stream, but not as controller: requests are also
/// created by users, and blocking the owner's deletion would gain nothing.
pub(super) fn new_request(observed: &Observed, purpose: RequestPurpose) -> Command {
    let suffix = match purpose {
        RequestPurpose::Initial => "initial-backfill",
        RequestPurpose::Reload => "reload",
    };
    let identity = &observed.identity;
    let owner = OwnerReference {
        api_version: identity.api_version.clone(),
        kind: identity.kind.clone(),
        name: identity.name.clone(),
        uid: identity.uid.clone(),
        controller: Some(false),
        block_owner_deletion: Some(false),
    };
    let request = BackfillRequest {
        metadata: ObjectMeta {
            generate_name: Some(format!("{}-{suffix}-", identity.name)),
            namespace: Some(identity.namespace.clone()),
            owner_references: Some(vec![owner]),
            ..ObjectMeta::default()
        },
        spec: BackfillRequestSpec {
            stream_class: observed.class.name.clone(),
            stream_id: identity.name.clone(),
            completed: false,
            payload: None,
        },
        status: None,
    };
    Command::CreateBackfillRequest {
        request: Box::new(request),
        purpose,
    }
}

/// Adopts the observed `workload`, which the Go operator built from the current definition:
/// `desired` (what this operator builds now) gives the labels and annotations it gets.
pub(super) fn adopt(workload: &WorkloadFacts<'_>, desired: &Workload) -> Command {
    let meta = match desired {
        Workload::Job(job) => &job.metadata,
        Workload::CronJob(cronjob) => &cronjob.metadata,
    };
    Command::AdoptWorkload {
        kind: workload.kind,
        name: workload.name().to_owned(),
        uid: workload.uid().to_owned(),
        labels: meta.labels.clone().unwrap_or_default(),
        annotations: meta.annotations.clone().unwrap_or_default(),
    }
}

/// The workload to create, as a command.
pub(super) fn create(workload: Workload) -> Command {
    Command::CreateWorkload(workload)
}
