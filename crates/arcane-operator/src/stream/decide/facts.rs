//! Read-only facts derived from the observed state: what the workload is, which BackfillRequest is
//! active, what the operator remembers about restarts. Nothing here decides anything.

use std::collections::BTreeMap;

use k8s_openapi::api::batch::v1::JobCondition;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, ObjectMeta};

use crate::crd::{BackfillRequest, BackfillRequestState};
use crate::stream::model::{
    ANNOTATION_BACKFILL_REQUEST, ANNOTATION_CONFIGURATION_HASH, ANNOTATION_RESTARTS,
    ANNOTATION_STREAM_GENERATION, LABEL_BACKFILLING, Observed, Phase, StreamStatus, Workload, WorkloadKind,
};

use super::reasons::Reason;

/// Type of the condition the operator writes on stream definitions.
pub(super) const READY: &str = "Ready";

/// What `decide` needs to know about the observed workload.
#[derive(Debug, Clone, Copy)]
pub(super) struct WorkloadFacts<'a> {
    pub workload: &'a Workload,
    pub kind: WorkloadKind,
    pub meta: &'a ObjectMeta,
}

impl<'a> WorkloadFacts<'a> {
    pub(super) fn new(workload: &'a Workload) -> Self {
        let (kind, meta) = match workload {
            Workload::Job(job) => (WorkloadKind::Job, &job.metadata),
            Workload::CronJob(cron) => (WorkloadKind::CronJob, &cron.metadata),
        };
        WorkloadFacts { workload, kind, meta }
    }

    pub(super) fn name(&self) -> &'a str {
        self.meta.name.as_deref().unwrap_or_default()
    }

    pub(super) fn uid(&self) -> &'a str {
        self.meta.uid.as_deref().unwrap_or_default()
    }

    pub(super) fn deleting(&self) -> bool {
        self.meta.deletion_timestamp.is_some()
    }

    fn annotation(&self, key: &str) -> Option<&'a str> {
        lookup(self.meta.annotations.as_ref(), key)
    }

    pub(super) fn hash(&self) -> Option<&'a str> {
        self.annotation(ANNOTATION_CONFIGURATION_HASH)
    }

    /// `metadata.generation` of the definition this workload was built from.
    pub(super) fn stream_generation(&self) -> Option<i64> {
        self.annotation(ANNOTATION_STREAM_GENERATION)
            .and_then(|v| v.trim().parse().ok())
    }

    pub(super) fn restarts(&self) -> Option<u32> {
        self.annotation(ANNOTATION_RESTARTS)
            .and_then(|v| v.trim().parse().ok())
    }

    /// A Job labelled as a backfill Job (a CronJob never is one).
    pub(super) fn is_backfill(&self) -> bool {
        self.kind == WorkloadKind::Job && lookup(self.meta.labels.as_ref(), LABEL_BACKFILLING) == Some("true")
    }

    /// A backfill Job built for exactly this request: only such a Job may complete it.
    pub(super) fn is_backfill_for(&self, request: &str) -> bool {
        self.is_backfill() && self.annotation(ANNOTATION_BACKFILL_REQUEST) == Some(request)
    }

    fn job_condition(&self, type_: &str) -> Option<&'a JobCondition> {
        let Workload::Job(job) = self.workload else {
            return None;
        };
        job.status
            .as_ref()?
            .conditions
            .as_ref()?
            .iter()
            .find(|c| c.type_ == type_ && c.status == "True")
    }

    pub(super) fn failed(&self) -> Option<&'a JobCondition> {
        self.job_condition("Failed")
    }

    pub(super) fn complete(&self) -> Option<&'a JobCondition> {
        self.job_condition("Complete")
    }

    pub(super) fn start_time(&self) -> Option<jiff::Timestamp> {
        let Workload::Job(job) = self.workload else {
            return None;
        };
        job.status.as_ref()?.start_time.as_ref().map(|t| t.0)
    }

    /// How long ago the workload was created (`None` without a creation time).
    pub(super) fn age(&self, now: jiff::Timestamp) -> Option<jiff::SignedDuration> {
        self.meta
            .creation_timestamp
            .as_ref()
            .map(|created| now.duration_since(created.0))
    }

    /// When the Job completed: its `Complete` condition's transition, else `status.completionTime`.
    pub(super) fn completed_at(&self) -> Option<jiff::Timestamp> {
        let from_condition = self
            .complete()
            .and_then(|c| c.last_transition_time.as_ref())
            .map(|t| t.0);
        let Workload::Job(job) = self.workload else {
            return from_condition;
        };
        from_condition.or_else(|| job.status.as_ref()?.completion_time.as_ref().map(|t| t.0))
    }
}

fn lookup<'a>(map: Option<&'a BTreeMap<String, String>>, key: &str) -> Option<&'a str> {
    map?.get(key).map(String::as_str)
}

/// Requests that target this stream: same namespace, stream id and class, whatever their state.
pub(super) fn requests_for_stream(observed: &Observed) -> impl Iterator<Item = &BackfillRequest> {
    observed.backfill_requests.iter().filter(|r| {
        r.metadata.namespace.as_deref().unwrap_or_default() == observed.identity.namespace
            && r.spec.stream_id == observed.identity.name
            && r.spec.stream_class == observed.class.name
    })
}

/// Where the request stands by its status, as the operator last wrote it.
pub(super) fn request_state(request: &BackfillRequest) -> Option<BackfillRequestState> {
    request.status.as_ref().and_then(BackfillRequestState::of)
}

/// A request the operator refused, or whose backfill completed: final, whatever `spec.completed`
/// says. A GitOps tool that keeps a request in git with `completed: false` rewrites the spec on
/// every sync, never the status subresource, so a completed backfill is not run again.
fn finished(request: &BackfillRequest) -> bool {
    matches!(
        request_state(request),
        Some(BackfillRequestState::Invalid | BackfillRequestState::Completed)
    )
}

/// Requests waiting to be served, oldest first (creation time, then name).
pub(super) fn active_requests(observed: &Observed) -> Vec<&BackfillRequest> {
    let mut active: Vec<&BackfillRequest> = requests_for_stream(observed)
        .filter(|r| !r.spec.completed && r.metadata.deletion_timestamp.is_none() && !finished(r))
        .collect();
    active.sort_by(|a, b| {
        let key = |r: &BackfillRequest| (r.metadata.creation_timestamp.clone(), r.metadata.name.clone());
        key(a).cmp(&key(b))
    });
    active
}

pub(super) fn request_name(request: &BackfillRequest) -> String {
    request.metadata.name.clone().unwrap_or_default()
}

pub(super) fn request_uid(request: &BackfillRequest) -> String {
    request.metadata.uid.clone().unwrap_or_default()
}

/// The observed phase; `None` for absent, empty or unknown strings.
pub(super) fn observed_phase(observed: &Observed) -> Option<Phase> {
    observed.status.phase.as_deref().and_then(Phase::parse)
}

/// Never reconciled: no phase written yet, and still the definition as it was created. A C#-era or
/// garbage phase is not "new".
///
/// The generation matters when the plugin's status schema refuses the operator's status writes:
/// a stream created suspended then shows no phase when it is resumed, yet it is not new (resuming
/// it must not start an initial backfill). Resuming changes the spec, so the generation tells.
pub(super) fn is_new(observed: &Observed) -> bool {
    is_new_stream(observed.status.phase.as_deref(), observed.identity.generation)
}

/// Whether a stream with this `status.phase` and `metadata.generation` was never reconciled (also
/// checked by the handler against the live object before an initial BackfillRequest is created).
pub fn is_new_stream(phase: Option<&str>, generation: i64) -> bool {
    phase.is_none_or(str::is_empty) && generation <= 1
}

pub(super) fn ready_condition(status: &StreamStatus) -> Option<&Condition> {
    status.conditions.iter().find(|c| c.type_ == READY)
}

/// The reason of the observed `Ready` condition, when it is one of ours ([`Reason::parse`]).
pub(super) fn ready_reason(status: &StreamStatus) -> Option<Reason> {
    ready_condition(status).and_then(|c| Reason::parse(&c.reason))
}

/// The Failed status the operator wrote for a crashed workload, if that is what is observed.
pub(super) fn crash_loop_condition(observed: &Observed) -> Option<&Condition> {
    if observed_phase(observed) != Some(Phase::Failed) {
        return None;
    }
    ready_condition(&observed.status)
        .filter(|_| ready_reason(&observed.status) == Some(Reason::CrashLoopDetected))
}

/// Restarts of completed streaming Jobs so far, from typed sources only, most reliable first:
/// `status.restarts`; else (a plugin CRD that prunes that field) the count of the controller's last
/// decision; else the `arcane/restarts` annotation of the current streaming workload.
///
/// The remaining window: an operator that restarts between deleting a completed streaming Job and
/// creating the next, on a CRD that prunes `status.restarts`, finds no count and starts again from
/// 0. It loses back-off (the next restart waits 10 s), never a restart or a workload.
pub(super) fn remembered_restarts(observed: &Observed, workload: Option<&WorkloadFacts<'_>>) -> u32 {
    observed
        .status
        .restarts
        .or(observed.remembered.restarts)
        .or_else(|| {
            workload
                .filter(|w| !w.is_backfill())
                .and_then(WorkloadFacts::restarts)
        })
        .unwrap_or(0)
}
