//! The stream state machine: a pure function from the observed state to a decision.
//!
//! Rules, in order of precedence (the first that applies decides the phase):
//!
//! 0. an invalid definition fails (`InvalidSpec`) and is left alone until it changes;
//! 1. the legacy `arcane/state: reload-requested` annotation becomes a BackfillRequest (then the
//!    rules below still apply); requests a stream can never serve (no backfill template) are refused;
//! 2. a suspended stream has no workload;
//! 3. a failed Job pins the stream in `Failed` until the spec changes or the stream is suspended;
//! 4. a new Job-backend stream gets an initial BackfillRequest;
//! 5. the oldest active BackfillRequest runs as a backfill Job;
//! 6. otherwise the stream's own workload (Job or CronJob) runs, replaced when its configuration
//!    hash differs (not before it is [`MIN_REPLACE_INTERVAL`] old: rapid edits fold into one
//!    replacement), restarted with back-off when a streaming Job exits.
//!
//! A workload the API server refused to create (remembered by the controller) is not created
//! again before its back-off is over: the stream shows `Pending`, `FailedCreateJob` and the API
//! server's message meanwhile (`refused.rs`).
//!
//! The status is written only when it changes, and Events go with a status transition (a new phase
//! or `Ready` reason) or with an action, never with an unchanged state. Commands come in the order
//! handlers must run them: workload and request commands, then the status, then Events.

mod backfill;
mod facts;
mod outcome;
pub use super::reasons;
mod refused;
mod requests;
mod rules;
mod status;
mod streaming;

#[cfg(test)]
mod tests;

pub use facts::is_new_stream;
pub use outcome::MIN_REPLACE_INTERVAL;
pub use requests::{unknown_class, unknown_stream};
pub use streaming::{HEALTHY_RUN, RESTART_BACKOFF_BASE, RESTART_BACKOFF_CAP, restart_delay};

use super::model::{Command, Decision, Observed};
use outcome::{Ctx, Outcome, Preamble};

/// Decides what to do for one stream, from its observed state alone.
pub fn decide(observed: &Observed) -> Decision {
    let (preamble, outcome) = match &observed.definition {
        Err(invalid) => (Preamble::default(), rules::invalid_spec(observed, invalid)),
        Ok(definition) => {
            let mut ctx = Ctx::new(observed, definition);
            let mut preamble = Preamble::default();
            rules::legacy_reload(&mut ctx, &mut preamble);
            rules::refuse_unservable(&mut ctx, &mut preamble);
            let outcome = rules::suspended(&ctx)
                .or_else(|| rules::failed(&ctx))
                .or_else(|| rules::initial_backfill(&ctx))
                .or_else(|| backfill::backfill(&ctx))
                .unwrap_or_else(|| streaming::streaming(&ctx));
            let mut outcome = outcome;
            if !outcome.hold {
                refused::apply(&ctx, &mut outcome);
                requests::record_states(&ctx, &mut outcome);
            }
            (preamble, outcome)
        }
    };
    let restarts = observed.definition.is_ok().then_some(outcome.restarts);
    Decision {
        restarts,
        ..finish(observed, preamble, outcome)
    }
}

fn finish(observed: &Observed, preamble: Preamble, outcome: Outcome) -> Decision {
    if outcome.hold {
        let mut commands = preamble.actions;
        commands.extend(preamble.events.into_iter().map(Command::PublishEvent));
        return Decision {
            commands,
            requeue_after: outcome.requeue_after,
            restarts: None,
        };
    }
    let desired = status::desired(observed, &outcome);
    let write = status::needs_write(&observed.status, &desired);
    // A request's state is said on the request itself: not a reason to announce the stream's state.
    let acts = outcome
        .actions
        .iter()
        .any(|c| !matches!(c, Command::SetRequestState { .. }));
    let announce = acts || status::is_transition(&observed.status, &desired, outcome.reason);

    let mut commands = preamble.actions;
    commands.extend(outcome.actions);
    if write {
        commands.push(Command::PatchStatus(Box::new(desired)));
    }
    commands.extend(preamble.events.into_iter().map(Command::PublishEvent));
    if announce {
        commands.extend(outcome.events.into_iter().map(Command::PublishEvent));
    }
    Decision {
        commands,
        requeue_after: outcome.requeue_after,
        restarts: None,
    }
}
