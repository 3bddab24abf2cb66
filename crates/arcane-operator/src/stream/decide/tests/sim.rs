//! A tiny world simulator: applies a decision's commands to an [`Observed`] the way idempotent
//! handlers and the API server would, so properties can drive `decide` to a fixed point.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;

use crate::crd::BackfillRequestState;
use crate::stream::model::{
    Command, Decision, DesiredStatus, Observed, StreamStatus, Workload, WorkloadKind,
};

use super::super::decide;
use super::support::{meta, meta_mut};

/// Writes `desired` as the status-subresource handler does; with `prune`, the fields a minimal
/// plugin CRD does not declare are dropped, as the API server would.
pub(super) fn write_status(status: &mut StreamStatus, desired: &DesiredStatus, prune: bool) {
    status.phase = Some(desired.phase.as_str().to_owned());
    status.conditions.clone_from(&desired.conditions);
    // An empty hash is written as "" and read back as absent.
    status.configuration_hash = Some(desired.configuration_hash.clone()).filter(|h| !h.is_empty());
    if prune {
        status.observed_generation = None;
        status.backfill_request = None;
        status.restarts = None;
    } else {
        status.observed_generation = Some(desired.observed_generation);
        status.backfill_request = desired.backfill_request.clone();
        status.restarts = Some(desired.restarts);
    }
}

fn kind_of(workload: &Workload) -> WorkloadKind {
    match workload {
        Workload::Job(_) => WorkloadKind::Job,
        Workload::CronJob(_) => WorkloadKind::CronJob,
    }
}

/// The simulated cluster around one stream.
#[derive(Debug, Clone)]
pub(super) struct World {
    pub observed: Observed,
    /// The plugin CRD prunes `observedGeneration`, `backfillRequest` and `restarts`.
    pub prune: bool,
    serial: u32,
}

impl World {
    pub(super) fn new(observed: Observed, prune: bool) -> Self {
        World {
            observed,
            prune,
            serial: 0,
        }
    }

    fn next(&mut self) -> u32 {
        self.serial += 1;
        self.serial
    }

    /// Applies the commands, then remembers what the controller remembers of a carried-out
    /// decision (`controller/memory.rs`): its restart count, and no refusal after a create.
    pub(super) fn apply(&mut self, decision: &Decision) {
        for command in &decision.commands {
            self.apply_one(command);
        }
        if decision.restarts.is_some() {
            self.observed.remembered.restarts = decision.restarts;
        }
        if decision
            .commands
            .iter()
            .any(|c| matches!(c, Command::CreateWorkload(_)))
        {
            self.observed.remembered.refusal = None;
        }
    }

    fn apply_one(&mut self, command: &Command) {
        let now = self.observed.now;
        match command {
            Command::CreateWorkload(workload) => {
                // AlreadyExists is resolved by reading what exists: the existing object stays.
                if self.observed.workload.is_none() {
                    let serial = self.next();
                    let mut created = workload.clone();
                    let meta = meta_mut(&mut created);
                    meta.uid = Some(format!("sim-uid-{serial}"));
                    meta.creation_timestamp = Some(Time(now));
                    self.observed.workload = Some(created);
                }
            }
            Command::DeleteWorkload { kind, name, uid, .. } => {
                let matches = self.observed.workload.as_ref().is_some_and(|w| {
                    kind_of(w) == *kind
                        && meta(w).name.as_deref() == Some(name.as_str())
                        && meta(w).uid.as_deref() == Some(uid.as_str())
                });
                if matches {
                    // Foreground deletion: the object lingers with a deletionTimestamp first.
                    if let Some(w) = self.observed.workload.as_mut() {
                        meta_mut(w).deletion_timestamp = Some(Time(now));
                    }
                }
            }
            Command::AdoptWorkload {
                kind,
                name,
                uid,
                labels,
                annotations,
            } => {
                let workload = self.observed.workload.as_mut().filter(|w| {
                    kind_of(w) == *kind
                        && meta(w).name.as_deref() == Some(name.as_str())
                        && meta(w).uid.as_deref() == Some(uid.as_str())
                });
                if let Some(w) = workload {
                    let meta = meta_mut(w);
                    meta.labels.get_or_insert_default().extend(labels.clone());
                    meta.annotations
                        .get_or_insert_default()
                        .extend(annotations.clone());
                }
            }
            Command::CreateBackfillRequest { request, .. } => {
                let serial = self.next();
                let mut created = request.as_ref().clone();
                let prefix = created.metadata.generate_name.clone().unwrap_or_default();
                created.metadata.name = Some(format!("{prefix}{serial:05}"));
                created.metadata.uid = Some(format!("sim-request-{serial}"));
                created.metadata.creation_timestamp = Some(Time(now));
                self.observed.backfill_requests.push(created);
            }
            Command::CompleteBackfillRequest { name, uid } => {
                let status = BackfillRequestState::Completed.status("", Time(now), None);
                for r in self.requests_named(name, uid) {
                    r.spec.completed = true;
                    r.status = Some(status.clone());
                }
            }
            Command::SetRequestState { name, uid, state, .. } => {
                let status = state.status("", Time(now), None);
                for r in self.requests_named(name, uid) {
                    r.status = Some(status.clone());
                }
            }
            Command::PatchStatus(desired) => write_status(&mut self.observed.status, desired, self.prune),
            Command::RemoveLegacyAnnotation => {
                if let Ok(definition) = self.observed.definition.as_mut() {
                    definition.reload_requested = false;
                }
            }
            Command::PublishEvent(_) => {}
        }
    }

    fn requests_named<'a>(
        &'a mut self,
        name: &'a str,
        uid: &'a str,
    ) -> impl Iterator<Item = &'a mut crate::crd::BackfillRequest> {
        self.observed.backfill_requests.iter_mut().filter(move |r| {
            r.metadata.name.as_deref() == Some(name) && r.metadata.uid.as_deref() == Some(uid)
        })
    }

    /// Time passes for the garbage collector: objects being deleted are gone.
    pub(super) fn collect_garbage(&mut self) {
        if self
            .observed
            .workload
            .as_ref()
            .is_some_and(|w| meta(w).deletion_timestamp.is_some())
        {
            self.observed.workload = None;
        }
        self.observed
            .backfill_requests
            .retain(|r| r.metadata.deletion_timestamp.is_none());
    }

    fn settled(&self) -> bool {
        self.observed
            .workload
            .as_ref()
            .is_none_or(|w| meta(w).deletion_timestamp.is_none())
    }

    /// Decides and applies until a decision has no commands and nothing is being deleted;
    /// `inspect` sees every state with its decision before it is applied. Returns the number of
    /// decisions that acted, or `None` when `max_steps` were not enough.
    pub(super) fn converge_with<E>(
        &mut self,
        max_steps: usize,
        mut inspect: impl FnMut(&Observed, &Decision) -> Result<(), E>,
    ) -> Result<Option<usize>, E> {
        for step in 0..=max_steps {
            let decision = decide(&self.observed);
            inspect(&self.observed, &decision)?;
            if decision.commands.is_empty() && self.settled() {
                return Ok(Some(step));
            }
            // What was already being deleted is gone by now; what this decision deletes lingers
            // for one more observation, as a foreground deletion does.
            self.collect_garbage();
            self.apply(&decision);
        }
        Ok(None)
    }

    pub(super) fn converge(&mut self, max_steps: usize) -> Option<usize> {
        match self.converge_with(max_steps, |_, _| Ok::<(), std::convert::Infallible>(())) {
            Ok(steps) => steps,
            Err(never) => match never {},
        }
    }
}
