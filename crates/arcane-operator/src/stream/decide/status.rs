//! The status a decision wants, and whether it differs from what is observed enough to be written.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, Time};

use crate::stream::model::{DesiredStatus, Observed, Phase, StreamStatus};

use super::facts::{READY, ready_condition, ready_reason};
use super::outcome::Outcome;
use super::reasons::Reason;

/// `Ready` is True exactly when the stream does its work.
fn ready_status(phase: Phase) -> &'static str {
    match phase {
        Phase::Running | Phase::Scheduled | Phase::Backfilling => "True",
        Phase::Pending | Phase::Suspended | Phase::Failed => "False",
    }
}

pub(super) fn desired(observed: &Observed, outcome: &Outcome) -> DesiredStatus {
    let generation = observed.identity.generation;
    let ready = match &outcome.kept_condition {
        Some(condition) => condition.clone(),
        None => {
            let status = ready_status(outcome.phase);
            // lastTransitionTime moves only when the condition's status does.
            let last_transition_time = ready_condition(&observed.status)
                .filter(|c| c.status == status)
                .map_or_else(|| Time(observed.now), |c| c.last_transition_time.clone());
            Condition {
                type_: READY.to_owned(),
                status: status.to_owned(),
                reason: outcome.reason.as_str().to_owned(),
                message: outcome.message.clone(),
                observed_generation: Some(generation),
                last_transition_time,
            }
        }
    };
    DesiredStatus {
        phase: outcome.phase,
        conditions: with_ready(&observed.status.conditions, &ready),
        ready,
        observed_generation: generation,
        // Never absent: a plugin CRD generated from Go types requires the field, and a merge patch
        // cannot remove it without `null`. A state with no workload keeps the recorded hash.
        configuration_hash: outcome
            .configuration_hash
            .clone()
            .or_else(|| observed.status.configuration_hash.clone())
            .unwrap_or_default(),
        backfill_request: outcome.backfill_request.clone(),
        restarts: outcome.restarts,
    }
}

/// The observed conditions with `ready` in place of ours and of the Go operator's one condition;
/// conditions of other writers stay.
fn with_ready(observed: &[Condition], ready: &Condition) -> Vec<Condition> {
    let mut conditions: Vec<Condition> = observed
        .iter()
        .filter(|c| c.type_ != ready.type_ && !is_go_condition(c))
        .cloned()
        .collect();
    conditions.push(ready.clone());
    conditions
}

/// The one condition the Go Arcane operator kept on a stream, superseded by our `Ready`
/// condition: type `Warning` (reason `StreamPending` or `StreamSuspended`) or `Error` (reason
/// `StreamFailed`), reference/arcane-behavior.md §2.6. Its `Ready` one is replaced by type.
fn is_go_condition(condition: &Condition) -> bool {
    matches!(
        (condition.type_.as_str(), condition.reason.as_str()),
        ("Warning", "StreamPending" | "StreamSuspended") | ("Error", "StreamFailed")
    )
}

/// An optional field differs only when the object still has it: a plugin CRD may prune it, and a
/// pruned field must not cause a write on every reconcile.
fn differs<T: PartialEq + ?Sized>(observed: Option<&T>, desired: Option<&T>) -> bool {
    observed.is_some() && observed != desired
}

/// Whether `desired` must be written over `observed`. `lastTransitionTime` is not compared: it is
/// carried over whenever the condition's status is unchanged.
pub(super) fn needs_write(observed: &StreamStatus, desired: &DesiredStatus) -> bool {
    if observed.phase.as_deref() != Some(desired.phase.as_str()) {
        return true;
    }
    let Some(ready) = ready_condition(observed) else {
        return true;
    };
    let wanted = &desired.ready;
    ready.status != wanted.status
        || ready.reason != wanted.reason
        || ready.message != wanted.message
        || differs(
            ready.observed_generation.as_ref(),
            wanted.observed_generation.as_ref(),
        )
        || differs(
            observed.observed_generation.as_ref(),
            Some(&desired.observed_generation),
        )
        || differs(
            observed.configuration_hash.as_deref(),
            Some(desired.configuration_hash.as_str()),
        )
        || differs(
            observed.backfill_request.as_deref(),
            desired.backfill_request.as_deref(),
        )
        || differs(observed.restarts.as_ref(), Some(&desired.restarts))
}

/// A change the user should hear about: a new phase or a new `Ready` reason.
pub(super) fn is_transition(observed: &StreamStatus, desired: &DesiredStatus, reason: Reason) -> bool {
    observed.phase.as_deref() != Some(desired.phase.as_str()) || ready_reason(observed) != Some(reason)
}
