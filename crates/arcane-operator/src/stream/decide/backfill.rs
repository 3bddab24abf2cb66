//! Rule 5: serving the oldest active BackfillRequest with a backfill Job.

use crate::crd::BackfillRequest;
use crate::stream::builder::{self, Mode};
use crate::stream::go_hash;
use crate::stream::model::{Command, DeleteCause, EventType, Phase, Workload};

use super::facts::{WorkloadFacts, request_name, request_uid};
use super::outcome::{Ctx, Outcome, adopt, create, delete};
use super::reasons::{event, ready};

pub(super) fn backfill(ctx: &Ctx<'_>) -> Option<Outcome> {
    let Some(request) = ctx.active.first().copied() else {
        // A request created in this decision is not observed yet: start nothing that it would stop.
        return ctx
            .request_pending
            .then(|| ctx.pending().hash(ctx.current_hash()));
    };
    // `refuse_unservable` emptied `active` for streams without a backfill template.
    let template_ref = ctx.definition.backfill_template.as_ref()?;
    let Some(template) = ctx.observed.backfill_template.as_ref() else {
        return Some(ctx.template_not_found(template_ref));
    };
    let input = ctx.input(template, Mode::Backfill(request));
    let hash = builder::configuration_hash(&input);
    let name = request_name(request);
    // A backfill Job for this request with the same hash was built from the same inputs: the
    // desired one is built only to be created, or to be checked before anything is removed for it.
    let current = ctx
        .workload
        .filter(|w| !w.deleting() && w.is_backfill_for(&name) && w.hash() == Some(hash.as_str()));
    let Some(workload) = current else {
        return Some(match builder::build(&input) {
            Ok(desired) => changed(ctx, request, hash, desired),
            Err(error) => ctx.invalid_template(&error),
        });
    };
    if workload.complete().is_some() {
        return Some(completed(ctx, request, &workload, hash));
    }
    Some(
        ctx.outcome(
            Phase::Backfilling,
            ready::STREAM_BACKFILLING,
            backfilling_message(&name),
        )
        .hash(Some(hash))
        .event(
            EventType::Normal,
            event::STREAM_BACKFILLING,
            format!("Backfill {name} is running"),
        ),
    )
}

/// No workload, or not this request's backfill Job of this configuration: create it, or remove
/// what is in the way first.
fn changed(ctx: &Ctx<'_>, request: &BackfillRequest, hash: String, desired: Workload) -> Outcome {
    let name = request_name(request);
    let Some(workload) = ctx.workload else {
        return ctx
            .outcome(
                Phase::Backfilling,
                ready::STREAM_BACKFILLING,
                backfilling_message(&name),
            )
            .hash(Some(hash))
            .act(create(desired))
            .event(
                EventType::Normal,
                event::BACKFILL_STARTED,
                format!("Backfill {name} started"),
            );
    };
    if workload.deleting() {
        return ctx.waiting().hash(Some(hash));
    }
    if workload.is_backfill() && go_built_for(ctx, request, workload) {
        // The Go operator's backfill Job names no request; the Go operator served the oldest active
        // request of the stream, as this operator does, so it is this one's.
        return ctx
            .outcome(
                Phase::Backfilling,
                ready::STREAM_BACKFILLING,
                backfilling_message(&name),
            )
            .hash(Some(hash))
            .act(adopt(&workload, &desired))
            .event(
                EventType::Normal,
                event::WORKLOAD_ADOPTED,
                format!(
                    "Adopted backfill Job {} for {name}, built by the previous operator from the current definition",
                    workload.name()
                ),
            );
    }
    if !workload.is_backfill_for(&name) {
        let message = format!(
            "Backfill {name} requested: stopping {} {} to run it",
            workload.kind.as_str(),
            workload.name()
        );
        return ctx
            .pending()
            .hash(Some(hash))
            .act(delete(&workload, DeleteCause::MakeWayForBackfill))
            .event(EventType::Normal, event::BACKFILL_REQUESTED, message);
    }
    // Only a Job labelled as the backfill for this very request completes it.
    if workload.complete().is_some() {
        return completed(ctx, request, &workload, hash);
    }
    if let Some(wait) = ctx.replace_wait(&workload) {
        return ctx.holding(wait);
    }
    let message = format!("The definition or template changed during backfill {name}; restarting it");
    ctx.pending()
        .hash(Some(hash))
        .act(delete(&workload, DeleteCause::Replace))
        .event(EventType::Normal, event::CONFIGURATION_CHANGED, message)
}

/// Whether the Go operator built the backfill Job `workload` for `request` from the current
/// definition: its hash is the Go hash of the current spec with the request's spec.
fn go_built_for(ctx: &Ctx<'_>, request: &BackfillRequest, workload: WorkloadFacts<'_>) -> bool {
    let spec = &request.spec;
    let go = go_hash::backfill_hash(&ctx.definition.spec, &spec.stream_class, &spec.stream_id, false);
    workload.hash() == Some(go.as_str())
}

/// The request's backfill Job succeeded: the request is completed and the Job removed.
fn completed(
    ctx: &Ctx<'_>,
    request: &BackfillRequest,
    workload: &WorkloadFacts<'_>,
    hash: String,
) -> Outcome {
    let name = request_name(request);
    let mut outcome = ctx
        .pending()
        .hash(Some(hash))
        .act(Command::CompleteBackfillRequest {
            name: name.clone(),
            uid: request_uid(request),
        })
        .act(delete(workload, DeleteCause::BackfillDone))
        .event(
            EventType::Normal,
            event::BACKFILL_COMPLETED,
            format!("Backfill {name} completed"),
        );
    outcome.backfill_request = ctx.active.get(1).map(|next| request_name(next));
    outcome
}

fn backfilling_message(request: &str) -> String {
    format!("The stream is backfilling, request {request}.")
}
