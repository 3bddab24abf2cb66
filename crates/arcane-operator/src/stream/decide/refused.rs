//! A workload the API server refused to create: the stream says why until the template or the
//! definition changes, and the create is tried again only when the controller's back-off is over.

use std::time::Duration;

use crate::stream::model::{
    ANNOTATION_CONFIGURATION_HASH, Command, Phase, Workload, WorkloadKind, WorkloadRefusal,
};

use super::outcome::{Ctx, Outcome};
use super::reasons::ready;

/// Longest status message written for a refused workload (ecosystem-reliability B5: ≤ 1 kB).
pub(super) const REFUSAL_MESSAGE_MAX: usize = 1024;

/// When the outcome creates the very workload the API server refused (same kind, name and
/// configuration hash) and its retry is not due yet: no create, phase `Pending` with
/// `Ready=False` reason `FailedCreateJob` and the API server's message, and a look again when the
/// retry is due. A due retry leaves the outcome as it is: the create runs, and a refusal again
/// keeps the status already written (the status write comes after the create).
///
/// No Event: the failed create was reported by the Warning Event of its handler.
pub(super) fn apply(ctx: &Ctx<'_>, outcome: &mut Outcome) {
    let Some(refusal) = &ctx.observed.remembered.refusal else {
        return;
    };
    let now = ctx.observed.now;
    if now >= refusal.retry_at {
        return;
    }
    let Some(position) = outcome
        .actions
        .iter()
        .position(|c| matches!(c, Command::CreateWorkload(w) if is_refused(w, refusal)))
    else {
        return;
    };
    outcome.actions.remove(position);
    outcome.events.clear();
    outcome.phase = Phase::Pending;
    outcome.reason = ready::FAILED_CREATE_JOB;
    outcome.message = message(refusal);
    outcome.kept_condition = None;
    // The recorded hash stays: nothing of this configuration runs.
    outcome.configuration_hash = None;
    let wait = Duration::try_from(refusal.retry_at.duration_since(now)).unwrap_or_default();
    outcome.requeue_after = Some(outcome.requeue_after.map_or(wait, |w| w.min(wait)));
}

fn is_refused(workload: &Workload, refusal: &WorkloadRefusal) -> bool {
    let (kind, meta) = match workload {
        Workload::Job(job) => (WorkloadKind::Job, &job.metadata),
        Workload::CronJob(cronjob) => (WorkloadKind::CronJob, &cronjob.metadata),
    };
    let hash = meta
        .annotations
        .as_ref()
        .and_then(|a| a.get(ANNOTATION_CONFIGURATION_HASH));
    kind == refusal.kind
        && meta.name.as_deref() == Some(refusal.name.as_str())
        && hash == refusal.hash.as_ref()
}

/// The status message for a refused workload, cut to [`REFUSAL_MESSAGE_MAX`] bytes on a character
/// boundary.
pub(super) fn message(refusal: &WorkloadRefusal) -> String {
    let message = format!(
        "Cannot create {} {}: {}",
        refusal.kind.as_str(),
        refusal.name,
        refusal.message
    );
    if message.len() <= REFUSAL_MESSAGE_MAX {
        return message;
    }
    let mut end = REFUSAL_MESSAGE_MAX - '…'.len_utf8();
    while !message.is_char_boundary(end) {
        end -= 1;
    }
    let mut cut = message[..end].to_owned();
    cut.push('…');
    cut
}
