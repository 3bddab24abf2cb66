//! Where each active BackfillRequest stands, recorded on the request (its status and an Event), so
//! `kubectl get bfr` and `kubectl describe bfr` tell whether a request waits, runs or is done.

use crate::crd::{BackfillRequest, BackfillRequestState};
use crate::stream::model::{Command, Phase, WorkloadKind};
use crate::stream::names::workload_name;

use super::facts::{request_name, request_state, request_uid};
use super::outcome::{Ctx, Outcome};

/// Adds a state command for every active request whose recorded state is not the one the outcome
/// gives it: the served request `Running` while the stream backfills, the others `Pending` with
/// the reason they wait. A request `Running` stays so while its Job is being replaced.
pub(super) fn record_states(ctx: &Ctx<'_>, outcome: &mut Outcome) {
    let stream = &ctx.observed.identity.name;
    for (position, request) in ctx.active.iter().enumerate() {
        let name = request_name(request);
        let current = request_state(request);
        let completing = outcome.actions.iter().any(
            |c| matches!(c, Command::CompleteBackfillRequest { name: completed, .. } if *completed == name),
        );
        if completing {
            continue;
        }
        let served = position == 0
            && outcome.phase == Phase::Backfilling
            && outcome.backfill_request.as_deref() == Some(name.as_str());
        let (state, message) = if served {
            let job = workload_name(stream, WorkloadKind::Job);
            let message = format!("Backfill Job {job} of stream {stream} runs this request");
            (BackfillRequestState::Running, message)
        } else if current == Some(BackfillRequestState::Running) && outcome.phase == Phase::Pending {
            continue;
        } else {
            (BackfillRequestState::Pending, waiting(ctx, outcome, position))
        };
        if current == Some(state) {
            continue;
        }
        outcome.actions.push(Command::SetRequestState {
            name,
            uid: request_uid(request),
            resource_version: request.metadata.resource_version.clone().unwrap_or_default(),
            state,
            message,
        });
    }
}

/// Why the request at `position` of the active requests waits.
fn waiting(ctx: &Ctx<'_>, outcome: &Outcome, position: usize) -> String {
    let stream = &ctx.observed.identity.name;
    if position > 0 {
        let first = ctx.active.first().map(|r| request_name(r)).unwrap_or_default();
        return format!("Waiting for the earlier BackfillRequest {first} of stream {stream}");
    }
    match outcome.phase {
        Phase::Suspended => format!("Waiting: stream {stream} is suspended"),
        Phase::Failed => format!("Waiting: stream {stream} has failed ({})", outcome.message),
        _ if outcome.reason != super::reasons::ready::STREAM_PENDING => {
            format!("Waiting: stream {stream}: {}", outcome.message)
        }
        _ => format!("Waiting for stream {stream} to start the backfill"),
    }
}

/// A request of this class naming a stream the class's cache does not hold (not created yet, of
/// another kind, or a typo): recorded once as `Pending` with the reason, so it is not silent. It is
/// served as soon as such a stream appears; a request already recorded, completed or refused is
/// left alone.
pub fn unknown_stream(request: &BackfillRequest, kind: &str) -> Option<Command> {
    let namespace = request.metadata.namespace.as_deref().unwrap_or_default();
    let message = format!(
        "Waiting: no {kind} named {} in namespace {namespace} (StreamClass {}); the request is served once it exists",
        request.spec.stream_id, request.spec.stream_class
    );
    waiting_unserved(request, message)
}

/// A request naming a StreamClass that does not exist: recorded once as `Pending` with the reason.
pub fn unknown_class(request: &BackfillRequest) -> Option<Command> {
    let message = format!(
        "Waiting: no StreamClass named {}; the request is served once the class exists and has stream {}",
        request.spec.stream_class, request.spec.stream_id
    );
    waiting_unserved(request, message)
}

/// `Pending` with `message` for an active request on which nothing is recorded yet.
fn waiting_unserved(request: &BackfillRequest, message: String) -> Option<Command> {
    let active = !request.spec.completed && request.metadata.deletion_timestamp.is_none();
    if !active || request_state(request).is_some() {
        return None;
    }
    Some(Command::SetRequestState {
        name: request_name(request),
        uid: request_uid(request),
        resource_version: request.metadata.resource_version.clone().unwrap_or_default(),
        state: BackfillRequestState::Pending,
        message,
    })
}
