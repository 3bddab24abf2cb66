//! Restart of a streaming Job that completed: exponential back-off, reset after a healthy run, and
//! the restart count carried to the next Job even when the CRD prunes `status.restarts`.

use std::time::Duration;

use crate::stream::model::{ANNOTATION_RESTARTS, Command, Phase, Workload};

use super::super::reasons::{event as ev, ready};
use super::super::restart_delay;
use super::sim::World;
use super::support::{Act, Scenario, event, meta, status, summary, written};

#[test]
fn delay_doubles_from_10s_and_caps_at_300s() {
    let table = [
        (0, 10),
        (1, 20),
        (2, 40),
        (3, 80),
        (4, 160),
        (5, 300),
        (6, 300),
        (40, 300),
        (u32::MAX, 300),
    ];
    for (restarts, seconds) in table {
        assert_eq!(
            restart_delay(restarts),
            Duration::from_secs(seconds),
            "after {restarts} restarts"
        );
    }
}

/// A Running stream whose Job (built after `restarts` restarts) completed `ago` seconds ago after
/// running `ran` seconds.
fn completed(restarts: u32, ago: i64, ran: i64) -> Scenario {
    Scenario::job()
        .phase(Phase::Running)
        .streaming_workload()
        .settled()
        .with(|s| s.observed.status.restarts = Some(restarts))
        .workload_restarts(restarts)
        .completed(ago, ran)
}

#[test]
fn waits_for_the_delay_then_restarts() {
    // (restarts so far, completed ago, ran for, expected wait or None = restart now)
    let rows: [(u32, i64, i64, Option<u64>); 9] = [
        (0, 3, 60, Some(7)),
        (0, 10, 60, None),
        (1, 5, 60, Some(15)),
        (2, 30, 60, Some(10)),
        (3, 79, 60, Some(1)),
        (4, 100, 60, Some(60)),
        (7, 299, 60, Some(1)),
        (7, 300, 60, None),
        // A healthy run (>= 10 min) starts the back-off over: 10 s, whatever came before.
        (7, 3, 600, Some(7)),
    ];
    for (restarts, ago, ran, wait) in rows {
        let decision = completed(restarts, ago, ran).decide();
        match wait {
            Some(seconds) => {
                assert_eq!(
                    decision.commands,
                    vec![],
                    "restarts {restarts}, {ago}s ago: waiting changes nothing"
                );
                assert_eq!(
                    decision.requeue_after,
                    Some(Duration::from_secs(seconds)),
                    "restarts {restarts}, {ago}s ago"
                );
            }
            None => {
                assert_eq!(
                    summary(&decision),
                    vec![
                        Act::Delete(crate::stream::model::WorkloadKind::Job),
                        status(Phase::Pending, ready::STREAM_RESTARTING),
                        event(ev::STREAM_RESTARTED)
                    ],
                    "restarts {restarts}, {ago}s ago"
                );
                assert_eq!(written(&decision).restarts, restarts + 1);
                assert_eq!(decision.requeue_after, None);
            }
        }
    }
}

#[test]
fn healthy_run_resets_the_count() {
    let just_short = completed(6, 20, 599).decide();
    assert_eq!(
        just_short.requeue_after,
        Some(Duration::from_secs(280)),
        "599 s is not a healthy run"
    );
    let healthy = completed(6, 20, 600).decide();
    assert_eq!(written(&healthy).restarts, 1, "the count restarts from zero");
}

#[test]
fn count_is_the_larger_of_annotation_and_status() {
    let from_status = completed(0, 1, 60)
        .with(|s| s.observed.status.restarts = Some(4))
        .decide();
    assert_eq!(from_status.requeue_after, Some(Duration::from_secs(159)));
    let from_annotation = completed(0, 1, 60)
        .workload_restarts(3)
        .with(|s| s.observed.status.restarts = None)
        .decide();
    assert_eq!(from_annotation.requeue_after, Some(Duration::from_secs(79)));
}

#[test]
fn unknown_completion_time_restarts_at_once() {
    let decision = completed(2, 5, 60)
        .with(|s| {
            if let Some(Workload::Job(job)) = s.observed.workload.as_mut()
                && let Some(status) = job.status.as_mut()
            {
                status.completion_time = None;
                for c in status.conditions.iter_mut().flatten() {
                    c.last_transition_time = None;
                }
            }
        })
        .decide();
    assert!(
        decision
            .commands
            .iter()
            .any(|c| matches!(c, Command::DeleteWorkload { .. }))
    );
}

#[test]
fn completed_job_with_a_stale_hash_is_replaced_without_back_off() {
    let decision = completed(3, 1, 60).stale_hash().decide();
    assert_eq!(decision.requeue_after, None);
    assert!(summary(&decision).contains(&event(ev::CONFIGURATION_CHANGED)));
}

fn restarted_job_annotation(prune: bool) -> (Option<String>, Option<u32>) {
    let start = completed(2, 100, 60).with(|s| {
        if prune {
            s.observed.status.restarts = None;
        }
    });
    let mut world = World::new(start.observed, prune);
    // Decide: delete; wait for the deletion; create.
    assert!(world.converge(6).is_some(), "converges");
    let workload = world.observed.workload.as_ref().expect("a new Job");
    let annotation = meta(workload)
        .annotations
        .as_ref()
        .and_then(|a| a.get(ANNOTATION_RESTARTS))
        .cloned();
    assert_eq!(world.observed.status.phase.as_deref(), Some("Running"));
    (annotation, world.observed.status.restarts)
}

#[test]
fn new_job_carries_the_restart_count() {
    assert_eq!(restarted_job_annotation(false), (Some("3".to_owned()), Some(3)));
}

#[test]
fn restart_count_survives_a_crd_that_prunes_status_restarts() {
    assert_eq!(restarted_job_annotation(true), (Some("3".to_owned()), None));
}

/// The new streaming Job's `arcane/restarts` annotation after `world` converged.
fn restarts_annotation(world: &World) -> Option<String> {
    let workload = world.observed.workload.as_ref()?;
    meta(workload)
        .annotations
        .as_ref()
        .and_then(|a| a.get(ANNOTATION_RESTARTS))
        .cloned()
}

/// A plugin CRD that prunes `status.restarts`, and a streaming Job that completes again and again:
/// the count comes from the controller's memory across each restart and from the new Job's
/// annotation after it (never from a condition message), so the back-off grows to its cap.
#[test]
fn a_pruned_restart_count_still_grows_the_back_off_to_its_cap() {
    let start = completed(0, 0, 60).with(|s| s.observed.status.restarts = None);
    let mut world = World::new(start.observed, true);
    let mut waits = Vec::new();
    for restart in 1..=7u32 {
        let just_completed = Scenario {
            observed: world.observed.clone(),
        }
        .completed(0, 60);
        let wait = just_completed.decide().requeue_after.map_or(0, |d| d.as_secs());
        waits.push(wait);
        let ago = i64::try_from(wait).unwrap_or(i64::MAX);
        world.observed = just_completed.completed(ago, 60).observed;
        assert!(world.converge(6).is_some(), "restart {restart} converges");
        assert_eq!(world.observed.status.restarts, None, "pruned");
        assert_eq!(restarts_annotation(&world), Some(restart.to_string()));
    }
    assert_eq!(waits, vec![10, 20, 40, 80, 160, 300, 300]);
}

/// The window left: an operator restart (its memory lost) between deleting the completed Job and
/// creating the next, on a pruning CRD, starts the count over. It loses back-off, not a restart.
#[test]
fn an_operator_restart_between_delete_and_create_starts_the_count_over() {
    let start = completed(3, 100, 60).with(|s| s.observed.status.restarts = None);
    let mut world = World::new(start.observed, true);
    let delete = super::super::decide(&world.observed);
    assert!(summary(&delete).contains(&Act::Delete(crate::stream::model::WorkloadKind::Job)));
    world.apply(&delete);
    world.collect_garbage();
    world.observed.remembered = Default::default();
    assert!(world.converge(6).is_some());
    assert_eq!(restarts_annotation(&world), Some("0".to_owned()));
}
