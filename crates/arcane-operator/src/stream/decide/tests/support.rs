//! Test scaffolding: an [`Observed`] builder with readable steps, real workloads from the real
//! builder, and a compact summary of a [`Decision`] for table rows.

use std::collections::BTreeMap;
use std::sync::Arc;

use jiff::{SignedDuration, Timestamp};
use k8s_openapi::api::batch::v1::{JobCondition, JobStatus};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, ObjectMeta, Time};
use serde_json::json;

use crate::crd::{
    BackfillRequest, BackfillRequestSpec, BackfillRequestState, BackfillRequestStatus, StreamClassPhase,
    StreamingJobTemplate, StreamingJobTemplateSpec,
};
use crate::stream::builder::{self, BuildInput, Mode};
use crate::stream::fixtures;
use crate::stream::model::{
    ANNOTATION_CONFIGURATION_HASH, ANNOTATION_RESTARTS, ANNOTATION_STREAM_GENERATION, Backend, ClassInfo,
    Command, Decision, InvalidSpec, Layout, Observed, Phase, StreamDefinition, StreamIdentity, StreamStatus,
    TemplateRef, Workload, WorkloadKind,
};

use super::super::decide;

pub(super) const NAME: &str = "stream1";
pub(super) const CLASS: &str = "mock-class";

pub(super) fn now() -> Timestamp {
    Timestamp::from_second(1_800_000_000).unwrap()
}

/// `now` shifted by `seconds` (negative: in the past).
pub(super) fn at(seconds: i64) -> Timestamp {
    now().checked_add(SignedDuration::from_secs(seconds)).unwrap()
}

pub(super) fn template(name: &str) -> StreamingJobTemplate {
    let job = json!({
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {"labels": {"app": name}},
        "spec": {
            "backoffLimit": 0,
            "template": {"spec": {
                "restartPolicy": "Never",
                "containers": [{"name": "plugin", "image": format!("plugin/{name}:1")}],
            }},
        },
    });
    let mut template = StreamingJobTemplate::new(name, StreamingJobTemplateSpec { job });
    template.metadata.namespace = Some(fixtures::NAMESPACE.to_owned());
    template
}

fn template_ref(name: &str) -> TemplateRef {
    TemplateRef {
        namespace: fixtures::NAMESPACE.to_owned(),
        name: name.to_owned(),
    }
}

pub(super) fn definition(backend: Backend) -> StreamDefinition {
    let streaming = match backend {
        Backend::Job => fixtures::STREAMING_TEMPLATE,
        Backend::CronJob { .. } => fixtures::BATCH_TEMPLATE,
    };
    StreamDefinition {
        layout: Layout::V1,
        suspended: false,
        suspended_by_annotation: false,
        backend,
        streaming_template: template_ref(streaming),
        backfill_template: Some(template_ref(fixtures::BACKFILL_TEMPLATE)),
        secret_names: vec![fixtures::secret_name(NAME)],
        reload_requested: false,
        spec: json!({"source": {"table": "t"}, "secretRef": {"name": fixtures::secret_name(NAME)}}),
    }
}

pub(super) fn cron() -> Backend {
    Backend::CronJob {
        schedule: fixtures::SCHEDULE.to_owned(),
    }
}

pub(super) fn request(name: &str, age_seconds: i64) -> BackfillRequest {
    let mut request = BackfillRequest::new(
        name,
        BackfillRequestSpec {
            stream_class: CLASS.to_owned(),
            stream_id: NAME.to_owned(),
            completed: false,
            payload: None,
        },
    );
    request.metadata.namespace = Some(fixtures::NAMESPACE.to_owned());
    request.metadata.uid = Some(format!("uid-{name}"));
    request.metadata.creation_timestamp = Some(Time(at(-age_seconds)));
    request
}

fn job_condition(type_: &str, reason: &str, message: &str, at: Timestamp) -> JobCondition {
    JobCondition {
        type_: type_.to_owned(),
        status: "True".to_owned(),
        reason: Some(reason.to_owned()),
        message: Some(message.to_owned()),
        last_transition_time: Some(Time(at)),
        last_probe_time: None,
    }
}

/// A readable way to build the observed state of stream `stream1`.
#[derive(Debug, Clone)]
pub(super) struct Scenario {
    pub observed: Observed,
}

impl Scenario {
    /// A new (never reconciled) stream with both templates present and nothing else.
    pub(super) fn new(backend: Backend) -> Self {
        let streaming = definition(backend.clone()).streaming_template.name;
        Scenario {
            observed: Observed {
                now: now(),
                class: ClassInfo {
                    name: CLASS.to_owned(),
                    secret_refs: fixtures::secret_ref_fields(),
                },
                identity: StreamIdentity {
                    api_version: fixtures::API_VERSION.to_owned(),
                    kind: fixtures::KIND.to_owned(),
                    namespace: fixtures::NAMESPACE.to_owned(),
                    name: NAME.to_owned(),
                    uid: format!("uid-{NAME}"),
                    generation: 1,
                },
                definition: Ok(definition(backend)),
                status: StreamStatus::default(),
                workload: None,
                backfill_requests: Vec::new(),
                streaming_template: Some(Arc::new(template(&streaming))),
                backfill_template: Some(Arc::new(template(fixtures::BACKFILL_TEMPLATE))),
                remembered: Default::default(),
            },
        }
    }

    pub(super) fn job() -> Self {
        Scenario::new(Backend::Job)
    }

    pub(super) fn cron() -> Self {
        Scenario::new(cron())
    }

    pub(super) fn def(&mut self) -> &mut StreamDefinition {
        self.observed.definition.as_mut().expect("a valid definition")
    }

    pub(super) fn with(mut self, change: impl FnOnce(&mut Self)) -> Self {
        change(&mut self);
        self
    }

    /// `status.phase` (and nothing else: no condition) as written by an earlier operator.
    pub(super) fn phase(self, phase: Phase) -> Self {
        self.with(|s| s.observed.status.phase = Some(phase.as_str().to_owned()))
    }

    pub(super) fn raw_phase(self, phase: &str) -> Self {
        self.with(|s| s.observed.status.phase = Some(phase.to_owned()))
    }

    pub(super) fn ready(
        self,
        status: &str,
        reason: impl std::fmt::Display,
        message: &str,
        generation: Option<i64>,
    ) -> Self {
        self.with(|s| {
            s.observed.status.conditions = vec![Condition {
                type_: "Ready".to_owned(),
                status: status.to_owned(),
                reason: reason.to_string(),
                message: message.to_owned(),
                observed_generation: generation,
                last_transition_time: Time(at(-3600)),
            }];
        })
    }

    pub(super) fn suspended(self) -> Self {
        self.with(|s| s.def().suspended = true)
    }

    pub(super) fn reload_requested(self) -> Self {
        self.with(|s| s.def().reload_requested = true)
    }

    pub(super) fn no_backfill_template_ref(self) -> Self {
        self.with(|s| {
            s.def().backfill_template = None;
            s.observed.backfill_template = None;
        })
    }

    /// The user edits the spec: a new field, the next generation.
    pub(super) fn spec_changed(self) -> Self {
        self.with(|s| {
            s.def().spec["edited"] = serde_json::Value::Bool(true);
            s.observed.identity.generation += 1;
        })
    }

    pub(super) fn generation(self, generation: i64) -> Self {
        self.with(|s| s.observed.identity.generation = generation)
    }

    pub(super) fn invalid(self, field: &str) -> Self {
        self.with(|s| {
            s.observed.definition = Err(InvalidSpec {
                field: field.to_owned(),
                message: "required field is missing".to_owned(),
            });
        })
    }

    pub(super) fn request(self, name: &str, age_seconds: i64) -> Self {
        self.with(|s| s.observed.backfill_requests.push(request(name, age_seconds)))
    }

    pub(super) fn request_with(self, name: &str, change: impl FnOnce(&mut BackfillRequest)) -> Self {
        let mut r = request(name, 100);
        change(&mut r);
        self.with(|s| s.observed.backfill_requests.push(r))
    }

    pub(super) fn rejected_request(self, name: &str) -> Self {
        self.request_with(name, |r| {
            r.status = Some(BackfillRequestStatus {
                phase: Some(StreamClassPhase::Failed),
                conditions: None,
            });
        })
    }

    fn build(&self, mode: Mode<'_>, restarts: u32) -> Workload {
        let definition = self.observed.definition.as_ref().expect("a valid definition");
        let template = match mode {
            Mode::Streaming => self.observed.streaming_template.clone(),
            Mode::Backfill(_) => self.observed.backfill_template.clone(),
        }
        .unwrap_or_else(|| Arc::new(template("fallback")));
        let input = BuildInput {
            identity: &self.observed.identity,
            definition,
            class: &self.observed.class,
            template: &template,
            mode,
            restarts,
        };
        let mut workload = builder::build(&input).expect("the test template builds");
        let meta = meta_mut(&mut workload);
        meta.uid = Some("uid-workload".to_owned());
        meta.creation_timestamp = Some(Time(at(-7200)));
        workload
    }

    /// The stream's own workload, exactly as it would be built now.
    pub(super) fn streaming_workload(self) -> Self {
        let workload = self.build(Mode::Streaming, 0);
        self.with(|s| s.observed.workload = Some(workload))
    }

    /// A backfill Job for the request named `request` (which needs not be observed).
    pub(super) fn backfill_workload(self, request_name: &str) -> Self {
        let found = self
            .observed
            .backfill_requests
            .iter()
            .find(|r| r.metadata.name.as_deref() == Some(request_name));
        let request = found.cloned().unwrap_or_else(|| request(request_name, 100));
        let workload = self.build(Mode::Backfill(&request), 0);
        self.with(|s| s.observed.workload = Some(workload))
    }

    /// A workload of the other backend than the definition's, as left by a backend switch.
    pub(super) fn other_backend_workload(self) -> Self {
        let mut other = self.clone();
        other.with_backend_switched();
        let workload = other.streaming_workload().observed.workload;
        self.with(|s| s.observed.workload = workload)
    }

    fn with_backend_switched(&mut self) {
        let switched = match self.def().backend {
            Backend::Job => cron(),
            Backend::CronJob { .. } => Backend::Job,
        };
        let reference = definition(switched.clone()).streaming_template;
        self.observed.streaming_template = Some(Arc::new(template(&reference.name)));
        self.def().streaming_template = reference;
        self.def().backend = switched;
    }

    pub(super) fn workload_mut(&mut self) -> &mut Workload {
        self.observed.workload.as_mut().expect("a workload")
    }

    pub(super) fn annotate(self, key: &str, value: &str) -> Self {
        self.with(|s| {
            meta_mut(s.workload_mut())
                .annotations
                .get_or_insert_with(BTreeMap::new)
                .insert(key.into(), value.into());
        })
    }

    pub(super) fn stale_hash(self) -> Self {
        self.annotate(ANNOTATION_CONFIGURATION_HASH, "stale")
    }

    pub(super) fn workload_generation(self, generation: i64) -> Self {
        self.annotate(ANNOTATION_STREAM_GENERATION, &generation.to_string())
    }

    pub(super) fn workload_restarts(self, restarts: u32) -> Self {
        self.annotate(ANNOTATION_RESTARTS, &restarts.to_string())
    }

    pub(super) fn deleting(self) -> Self {
        self.with(|s| meta_mut(s.workload_mut()).deletion_timestamp = Some(Time(at(-1))))
    }

    fn job_status(&mut self) -> &mut JobStatus {
        match self.workload_mut() {
            Workload::Job(job) => job.status.get_or_insert_with(JobStatus::default),
            Workload::CronJob(_) => panic!("job status on a CronJob"),
        }
    }

    /// The Job started `ran` seconds before completing `ago` seconds before now.
    pub(super) fn completed(self, ago: i64, ran: i64) -> Self {
        self.with(|s| {
            let status = s.job_status();
            status.start_time = Some(Time(at(-ago - ran)));
            status.completion_time = Some(Time(at(-ago)));
            status.conditions = Some(vec![job_condition("Complete", "Completed", "done", at(-ago))]);
        })
    }

    pub(super) fn failed(self, reason: &str, message: &str) -> Self {
        self.with(|s| {
            let status = s.job_status();
            status.start_time = Some(Time(at(-600)));
            status.conditions = Some(vec![job_condition("Failed", reason, message, at(-60))]);
        })
    }

    pub(super) fn no_streaming_template(self) -> Self {
        self.with(|s| s.observed.streaming_template = None)
    }

    pub(super) fn no_backfill_template(self) -> Self {
        self.with(|s| s.observed.backfill_template = None)
    }

    pub(super) fn broken_streaming_template(self) -> Self {
        self.with(|s| {
            if let Some(t) = s.observed.streaming_template.as_mut() {
                Arc::make_mut(t).spec.job = json!({"spec": {"template": {"spec": {"containers": []}}}});
            }
        })
    }

    /// The status exactly as the operator would have written it for the current state.
    pub(super) fn settled(self) -> Self {
        let decision = decide(&self.observed);
        self.with(|s| {
            for command in decision.commands {
                match command {
                    Command::PatchStatus(desired) => {
                        super::sim::write_status(&mut s.observed.status, &desired, false);
                    }
                    Command::SetRequestState { name, state, .. } => {
                        let requests = s.observed.backfill_requests.iter_mut();
                        for r in requests.filter(|r| r.metadata.name.as_deref() == Some(name.as_str())) {
                            r.status = Some(state.status("", Time(now()), None));
                        }
                    }
                    _ => {}
                }
            }
        })
    }

    pub(super) fn decide(&self) -> Decision {
        decide(&self.observed)
    }
}

pub(super) fn meta_mut(workload: &mut Workload) -> &mut ObjectMeta {
    match workload {
        Workload::Job(job) => &mut job.metadata,
        Workload::CronJob(cron) => &mut cron.metadata,
    }
}

pub(super) fn meta(workload: &Workload) -> &ObjectMeta {
    match workload {
        Workload::Job(job) => &job.metadata,
        Workload::CronJob(cron) => &cron.metadata,
    }
}

/// One command, reduced to what a table row states about it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Act {
    /// Create a workload; `true` for a backfill Job.
    Create(WorkloadKind, bool),
    Delete(WorkloadKind),
    /// Adopt the observed workload (built by the Go operator).
    Adopt(WorkloadKind),
    /// Create a BackfillRequest with this `generateName`.
    NewRequest(String),
    Complete(String),
    Reject(String),
    /// Record a request's state (other than `Invalid`, which is `Reject`).
    RequestState(String, BackfillRequestState),
    /// Write the status: phase and `Ready` reason.
    Status(Phase, String),
    RemoveAnnotation,
    Event(String),
}

pub(super) fn status(phase: Phase, reason: impl std::fmt::Display) -> Act {
    Act::Status(phase, reason.to_string())
}

pub(super) fn event(reason: impl std::fmt::Display) -> Act {
    Act::Event(reason.to_string())
}

/// The row of every "stop the workload, then wait" decision: the action, `Pending`, its Event.
pub(super) fn pending_after(action: Act, reason: impl std::fmt::Display) -> Vec<Act> {
    vec![
        action,
        status(Phase::Pending, super::super::reasons::ready::STREAM_PENDING),
        event(reason),
    ]
}

pub(super) fn new_request(prefix: &str) -> Act {
    Act::NewRequest(format!("{NAME}-{prefix}-"))
}

/// The commands of a decision, without the request states other than `Invalid` (see
/// [`request_states`]): the rule tables are about the stream.
pub(super) fn summary(decision: &Decision) -> Vec<Act> {
    full_summary(decision)
        .into_iter()
        .filter(|act| !matches!(act, Act::RequestState(..)))
        .collect()
}

/// The request states a decision records, with `Invalid` as `Reject`.
pub(super) fn request_states(decision: &Decision) -> Vec<Act> {
    full_summary(decision)
        .into_iter()
        .filter(|act| matches!(act, Act::RequestState(..) | Act::Reject(_)))
        .collect()
}

fn full_summary(decision: &Decision) -> Vec<Act> {
    decision
        .commands
        .iter()
        .map(|command| match command {
            Command::CreateWorkload(workload) => {
                let backfill = meta(workload)
                    .labels
                    .as_ref()
                    .and_then(|l| l.get(crate::stream::model::LABEL_BACKFILLING))
                    .is_some_and(|v| v == "true");
                let kind = match workload {
                    Workload::Job(_) => WorkloadKind::Job,
                    Workload::CronJob(_) => WorkloadKind::CronJob,
                };
                Act::Create(kind, backfill)
            }
            Command::DeleteWorkload { kind, .. } => Act::Delete(*kind),
            Command::AdoptWorkload { kind, .. } => Act::Adopt(*kind),
            Command::CreateBackfillRequest { request: r, .. } => {
                Act::NewRequest(r.metadata.generate_name.clone().unwrap_or_default())
            }
            Command::CompleteBackfillRequest { name, .. } => Act::Complete(name.clone()),
            Command::SetRequestState {
                name,
                state: BackfillRequestState::Invalid,
                ..
            } => Act::Reject(name.clone()),
            Command::SetRequestState { name, state, .. } => Act::RequestState(name.clone(), *state),
            Command::PatchStatus(s) => Act::Status(s.phase, s.ready.reason.clone()),
            Command::RemoveLegacyAnnotation => Act::RemoveAnnotation,
            Command::PublishEvent(note) => Act::Event(note.reason.to_string()),
        })
        .collect()
}

/// The status a decision writes (panics when it writes none).
pub(super) fn written(decision: &Decision) -> &crate::stream::model::DesiredStatus {
    decision
        .commands
        .iter()
        .find_map(|c| match c {
            Command::PatchStatus(s) => Some(s.as_ref()),
            _ => None,
        })
        .expect("a status write")
}

/// Runs table rows; reports every mismatching row at once.
pub(super) fn check(rows: Vec<(&str, Scenario, Vec<Act>)>) {
    let failures: Vec<String> = rows
        .into_iter()
        .filter_map(|(name, scenario, expected)| {
            let got = summary(&scenario.decide());
            (got != expected).then(|| format!("{name}:\n  expected {expected:?}\n  got      {got:?}"))
        })
        .collect();
    assert!(
        failures.is_empty(),
        "{} row(s) failed:\n{}",
        failures.len(),
        failures.join("\n")
    );
}
