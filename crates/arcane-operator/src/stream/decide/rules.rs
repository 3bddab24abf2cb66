//! The rules that come before running anything: invalid definitions, legacy annotations, refused
//! requests, suspension, failure and the initial backfill. Each returns `None` when it does not apply.

use k8s_openapi::api::batch::v1::JobCondition;

use crate::crd::BackfillRequestState;
use crate::stream::builder;
use crate::stream::go_hash;
use crate::stream::model::{
    Backend, Command, DeleteCause, EventType, InvalidSpec, Observed, Phase, RequestPurpose,
};

use super::facts::{
    WorkloadFacts, crash_loop_condition, is_new, observed_phase, request_name, request_uid,
    requests_for_stream,
};
use super::outcome::{Ctx, Outcome, Preamble, delete, new_request, note};
use super::reasons::{event, ready};

/// Rule 0: a definition that cannot be parsed fails until it changes; its workloads are left alone.
pub(super) fn invalid_spec(observed: &Observed, invalid: &InvalidSpec) -> Outcome {
    let message = format!("Invalid stream definition: {invalid}");
    let status = &observed.status;
    let mut outcome = Outcome::new(Phase::Failed, ready::INVALID_SPEC, message.clone())
        .hash(status.configuration_hash.clone())
        .event(EventType::Warning, event::INVALID_SPEC, message);
    // Nothing is known about the stream beyond its identity: keep what the status already says.
    outcome.backfill_request = status.backfill_request.clone();
    outcome.restarts = status.restarts.unwrap_or(0);
    outcome
}

/// Rule 1: the C#-era `arcane/state: reload-requested` annotation becomes a BackfillRequest.
pub(super) fn legacy_reload(ctx: &mut Ctx<'_>, preamble: &mut Preamble) {
    if !ctx.definition.reload_requested {
        return;
    }
    if ctx.definition.backfill_template.is_none() {
        preamble.actions.push(Command::RemoveLegacyAnnotation);
        preamble.events.push(note(
            EventType::Warning,
            event::BACKFILL_REJECTED,
            "Legacy reload request ignored: the stream has no backfill template",
        ));
        return;
    }
    // Create before removing the annotation: a failed create leaves the annotation for a retry.
    preamble
        .actions
        .push(new_request(ctx.observed, RequestPurpose::Reload));
    preamble.actions.push(Command::RemoveLegacyAnnotation);
    preamble.events.push(note(
        EventType::Normal,
        event::BACKFILL_REQUESTED,
        "Legacy annotation arcane/state: reload-requested turned into a BackfillRequest",
    ));
    ctx.request_pending = true;
}

/// Requests that can never be served are refused once (a refused request is not active any more)
/// instead of waiting forever: every request of a stream without a backfill template, and a request
/// whose payload cannot be passed to a container (over the kernel's per-string limit).
pub(super) fn refuse_unservable(ctx: &mut Ctx<'_>, preamble: &mut Preamble) {
    let no_template = ctx.definition.backfill_template.is_none();
    let stream = ctx.observed.identity.name.clone();
    let (refused, servable): (Vec<_>, Vec<_>) = std::mem::take(&mut ctx.active)
        .into_iter()
        .map(|request| {
            let why = if no_template {
                Some(format!("Stream {stream} has no backfill template"))
            } else {
                builder::check_request(request).err().map(|e| e.to_string())
            };
            (request, why)
        })
        .partition(|(_, why)| why.is_some());
    ctx.active = servable.into_iter().map(|(request, _)| request).collect();
    for (request, why) in refused {
        let name = request_name(request);
        let message = why.unwrap_or_default();
        preamble.actions.push(Command::SetRequestState {
            name: name.clone(),
            uid: request_uid(request),
            resource_version: request.metadata.resource_version.clone().unwrap_or_default(),
            state: BackfillRequestState::Invalid,
            message: message.clone(),
        });
        preamble.events.push(note(
            EventType::Warning,
            event::BACKFILL_REJECTED,
            format!("BackfillRequest {name} rejected: {message}"),
        ));
    }
}

/// Rule 2: a suspended stream has no workload, in every phase. Its active request stays active.
pub(super) fn suspended(ctx: &Ctx<'_>) -> Option<Outcome> {
    if !ctx.definition.suspended {
        return None;
    }
    let message = if ctx.definition.suspended_by_annotation {
        "The stream is suspended by the legacy annotation arcane/state: suspended (its spec does not \
         say suspended); remove the annotation to resume it."
    } else {
        "The stream is suspended."
    };
    let mut outcome = ctx
        .outcome(Phase::Suspended, ready::STREAM_SUSPENDED, message)
        .event(
            EventType::Normal,
            event::STREAM_SUSPENDED,
            "The stream was suspended; nothing runs",
        );
    if let Some(workload) = ctx.workload.filter(|w| !w.deleting()) {
        outcome = outcome.act(delete(&workload, DeleteCause::Suspend));
    }
    Some(outcome)
}

fn describe_failure(condition: &JobCondition) -> String {
    let reason = condition.reason.as_deref().unwrap_or_default();
    let message = condition.message.as_deref().unwrap_or_default();
    match (reason.is_empty(), message.is_empty()) {
        (false, false) => format!("{reason}: {message}"),
        (false, true) => reason.to_owned(),
        (true, false) => message.to_owned(),
        (true, true) => "the Job failed".to_owned(),
    }
}

/// How a user gets a failed stream going again, appended to every `Failed` message.
pub(super) const RECOVERY_HINT: &str =
    "Suspend and resume the stream, or change its definition or template, to start it again.";

/// Rule 3: a failed Job pins the stream in `Failed` until its configuration changes (the stream's
/// spec or the template: a different configuration hash) or the stream is suspended (rule 2 then
/// removes the Job).
pub(super) fn failed(ctx: &Ctx<'_>) -> Option<Outcome> {
    let observed = ctx.observed;
    if let Some(workload) = ctx.workload
        && let Some(condition) = workload.failed()
    {
        return Some(failed_job(ctx, &workload, condition));
    }
    if observed_phase(observed) != Some(Phase::Failed) {
        return None;
    }
    // The failed Job is gone (deleted out of band, or by the Go operator, which deletes a failed
    // Job): the Failed status alone stays sticky while the configuration it failed with is current.
    let recorded = observed.status.configuration_hash.as_deref();
    // Failed under the Go operator: it recorded the Go hash of the spec that failed (and this
    // operator keeps it when it writes its own condition over the Go one).
    let go_failed = recorded.is_some_and(|hash| {
        go_hash::streaming_hashes(&ctx.definition.spec)
            .iter()
            .any(|h| h == hash)
    });
    if let Some(written) = crash_loop_condition(observed) {
        let generation = written
            .observed_generation
            .or(observed.status.observed_generation);
        if !go_failed && ctx.changed_since_failure(recorded, generation) {
            return None;
        }
        let mut outcome = ctx
            .outcome(Phase::Failed, ready::CRASH_LOOP_DETECTED, written.message.clone())
            .hash(recorded);
        outcome.kept_condition = Some(written.clone());
        return Some(outcome);
    }
    go_failed.then(|| {
        let message = format!("The stream failed under the previous operator. {RECOVERY_HINT}");
        ctx.outcome(Phase::Failed, ready::CRASH_LOOP_DETECTED, message.clone())
            .hash(recorded)
            .event(EventType::Warning, ready::CRASH_LOOP_DETECTED, message)
    })
}

fn failed_job(ctx: &Ctx<'_>, workload: &WorkloadFacts<'_>, condition: &JobCondition) -> Outcome {
    let observed = ctx.observed;
    let what = if workload.is_backfill() {
        "Backfill Job"
    } else {
        "Job"
    };
    let name = workload.name();
    // A Job built before the generation annotation existed is dated by the Failed status written
    // for it (only consulted when no configuration hash can be computed).
    let failed_generation = workload
        .stream_generation()
        .or_else(|| crash_loop_condition(observed).and_then(|c| c.observed_generation));
    if ctx.changed_since_failure(workload.hash(), failed_generation) {
        let mut outcome = ctx.pending().hash(ctx.current_hash()).event(
            EventType::Normal,
            event::STREAM_RESTARTED,
            format!("The configuration changed since {what} {name} failed; starting again"),
        );
        if !workload.deleting() {
            outcome = outcome.act(delete(workload, DeleteCause::Recover));
        }
        return outcome;
    }
    if workload.deleting() && observed_phase(observed) != Some(Phase::Failed) {
        // Being removed by a suspension the stream has since left: not a new failure.
        return ctx.waiting();
    }
    let failure = describe_failure(condition);
    let message = format!("{what} {name} failed: {failure}. {RECOVERY_HINT}");
    ctx.outcome(Phase::Failed, ready::CRASH_LOOP_DETECTED, message.clone())
        .hash(ctx.current_hash())
        .event(EventType::Warning, ready::CRASH_LOOP_DETECTED, message)
}

/// Rule 4: a new Job-backend stream starts with a backfill of everything.
pub(super) fn initial_backfill(ctx: &Ctx<'_>) -> Option<Outcome> {
    let definition = ctx.definition;
    let eligible = is_new(ctx.observed)
        && definition.backend == Backend::Job
        && definition.backfill_template.is_some()
        && !ctx.request_pending
        && requests_for_stream(ctx.observed).next().is_none();
    if !eligible {
        return None;
    }
    Some(
        ctx.pending()
            .act(new_request(ctx.observed, RequestPurpose::Initial))
            .event(
                EventType::Normal,
                event::STREAM_CREATED,
                format!(
                    "Initial backfill requested for the new stream {}",
                    ctx.observed.identity.name
                ),
            ),
    )
}
