//! Rule 6: keeping the stream's own workload (a long-running Job or a CronJob) as the definition
//! says, including the restart back-off of a streaming Job that exits.

use std::time::Duration;

use jiff::SignedDuration;

use crate::stream::builder::{self, Mode};
use crate::stream::go_hash;
use crate::stream::model::{Backend, DeleteCause, EventType, Phase, Workload, WorkloadKind};

use super::facts::{WorkloadFacts, observed_phase};
use super::outcome::{Ctx, Outcome, adopt, create, delete};
use super::reasons::{Reason, event, ready};

/// Start of the `StreamRestarting` message, which the restart count follows (for people: the count
/// is read back from `status.restarts` or the controller's memory, never from this message).
pub(super) const RESTARTING_PREFIX: &str = "The streaming Job completed and is restarted, restart ";

/// First restart delay of a completed streaming Job; doubles with every restart.
pub const RESTART_BACKOFF_BASE: Duration = Duration::from_secs(10);
/// Longest restart delay.
pub const RESTART_BACKOFF_CAP: Duration = Duration::from_secs(300);
/// A Job that ran this long before completing starts the back-off from the beginning again.
pub const HEALTHY_RUN: Duration = Duration::from_secs(600);

/// Delay before restarting a streaming Job that completed after `previous` restarts.
pub fn restart_delay(previous: u32) -> Duration {
    // 10 s · 2^5 already exceeds the cap; shifting further would only risk overflow.
    let factor = 1u32 << previous.min(5);
    RESTART_BACKOFF_BASE
        .saturating_mul(factor)
        .min(RESTART_BACKOFF_CAP)
}

struct Target {
    phase: Phase,
    reason: Reason,
    message: &'static str,
    kind: WorkloadKind,
}

fn target(backend: &Backend) -> Target {
    match backend {
        Backend::Job => Target {
            phase: Phase::Running,
            reason: ready::STREAM_RUNNING,
            message: "The stream is running.",
            kind: WorkloadKind::Job,
        },
        Backend::CronJob { .. } => Target {
            phase: Phase::Scheduled,
            reason: ready::STREAM_SCHEDULED,
            message: "The stream is scheduled.",
            kind: WorkloadKind::CronJob,
        },
    }
}

pub(super) fn streaming(ctx: &Ctx<'_>) -> Outcome {
    let definition = ctx.definition;
    let template = ctx.observed.streaming_template.as_deref();
    let input = template.map(|template| ctx.input(template, Mode::Streaming));

    // A backfill Job whose request was deleted or completed: back to streaming.
    if let Some(workload) = ctx.workload.filter(|w| w.is_backfill() && !w.deleting()) {
        let hash = input.as_ref().map(builder::configuration_hash);
        let message = format!(
            "No active BackfillRequest any more: stopping backfill Job {}",
            workload.name()
        );
        return ctx
            .pending()
            .hash(hash)
            .act(delete(&workload, DeleteCause::BackfillDone))
            .event(EventType::Normal, event::BACKFILL_NOT_REQUESTED, message);
    }
    let Some(input) = input else {
        return ctx.template_not_found(&definition.streaming_template);
    };
    let hash = builder::configuration_hash(&input);
    let target = target(&definition.backend);
    // A workload of the same kind and hash was built from the same inputs (most reconciles): the
    // desired one is built only to be created, or to be checked before it replaces the current one.
    let current = ctx
        .workload
        .filter(|w| !w.deleting() && w.kind == target.kind && w.hash() == Some(hash.as_str()));
    let Some(workload) = current else {
        return match builder::build(&input) {
            Ok(desired) => changed(ctx, &target, hash, desired),
            Err(error) => ctx.invalid_template(&error),
        };
    };
    let running = ctx
        .outcome(target.phase, target.reason, target.message)
        .hash(Some(hash));
    if workload.complete().is_some() {
        return restart_completed(ctx, &workload, running);
    }
    let reason = match target.phase {
        Phase::Scheduled => event::STREAM_SCHEDULED,
        _ => event::STREAM_RUNNING,
    };
    running.event(EventType::Normal, reason, target.message)
}

/// No workload, or one that is not the desired one (being deleted, of the other kind, or of
/// another configuration): create it, or remove the old one first.
fn changed(ctx: &Ctx<'_>, target: &Target, hash: String, desired: Workload) -> Outcome {
    let Some(workload) = ctx.workload else {
        let (reason, message) = if observed_phase(ctx.observed) == Some(Phase::Suspended) {
            (event::STREAM_RESUMED, "The stream was resumed")
        } else {
            (event::STREAM_STARTED, "The stream was started")
        };
        return ctx
            .outcome(target.phase, target.reason, target.message)
            .hash(Some(hash))
            .act(create(desired))
            .event(EventType::Normal, reason, message);
    };
    if workload.deleting() {
        return ctx.waiting().hash(Some(hash));
    }
    if workload.kind == target.kind && !workload.is_backfill() && go_built_from(ctx, &workload) {
        let message = format!(
            "Adopted {} {}, built by the previous operator from the current definition",
            workload.kind.as_str(),
            workload.name()
        );
        return ctx
            .outcome(target.phase, target.reason, target.message)
            .hash(Some(hash))
            .act(adopt(&workload, &desired))
            .event(EventType::Normal, event::WORKLOAD_ADOPTED, message);
    }
    if workload.kind != target.kind {
        // The old workload goes first; the new one is created once it is gone.
        let message = format!(
            "Backend changed: removing {} {} before creating a {}",
            workload.kind.as_str(),
            workload.name(),
            target.kind.as_str()
        );
        return ctx
            .pending()
            .hash(Some(hash))
            .act(delete(&workload, DeleteCause::BackendSwitch))
            .event(EventType::Normal, event::BACKEND_CHANGED, message);
    }
    if let Some(wait) = ctx.replace_wait(&workload) {
        return ctx.holding(wait);
    }
    let message = format!(
        "Configuration changed: replacing {} {}",
        workload.kind.as_str(),
        workload.name()
    );
    ctx.pending()
        .hash(Some(hash))
        .act(delete(&workload, DeleteCause::Replace))
        .event(EventType::Normal, event::CONFIGURATION_CHANGED, message)
}

/// Whether the Go operator built `workload` from the current definition: its `configuration-hash`
/// is the Go hash of the current spec (the Go rule ignores the template, as the Go operator did).
fn go_built_from(ctx: &Ctx<'_>, workload: &WorkloadFacts<'_>) -> bool {
    workload.hash().is_some_and(|hash| {
        go_hash::streaming_hashes(&ctx.definition.spec)
            .iter()
            .any(|h| h == hash)
    })
}

/// A streaming plugin should never exit: a completed streaming Job is restarted, after a delay that
/// doubles with each restart and starts over once a Job ran for [`HEALTHY_RUN`].
fn restart_completed(ctx: &Ctx<'_>, workload: &WorkloadFacts<'_>, running: Outcome) -> Outcome {
    let completed_at = workload.completed_at();
    let ran_long = match (workload.start_time(), completed_at) {
        (Some(start), Some(end)) => end.duration_since(start) >= signed(HEALTHY_RUN),
        _ => false,
    };
    let previous = if ran_long {
        0
    } else {
        workload.restarts().unwrap_or(0).max(ctx.restarts)
    };
    let delay = restart_delay(previous);
    // Without a completion time the delay cannot be measured: restart now rather than never.
    let remaining = completed_at
        .map(|end| end.duration_since(ctx.observed.now).saturating_add(signed(delay)))
        .filter(jiff::SignedDuration::is_positive)
        .and_then(|left| Duration::try_from(left).ok());
    if let Some(remaining) = remaining {
        let mut waiting = running;
        waiting.requeue_after = Some(remaining);
        return waiting;
    }
    let restarts = previous.saturating_add(1);
    let mut outcome = ctx
        .outcome(
            Phase::Pending,
            ready::STREAM_RESTARTING,
            format!("{RESTARTING_PREFIX}{restarts}."),
        )
        .hash(running.configuration_hash)
        .act(delete(workload, DeleteCause::Restart))
        .event(
            EventType::Normal,
            event::STREAM_RESTARTED,
            format!(
                "Streaming Job {} completed; restarting it (restart {restarts}, back-off {}s)",
                workload.name(),
                delay.as_secs()
            ),
        );
    outcome.restarts = restarts;
    outcome
}

fn signed(duration: Duration) -> SignedDuration {
    SignedDuration::try_from(duration).unwrap_or(SignedDuration::MAX)
}
