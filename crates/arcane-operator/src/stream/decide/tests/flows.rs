//! Whole lifecycles (`reference/arcane-behavior.md` §2.7, as SPEC §4 wants them), driven through the
//! world simulator: the test plays the user and the Job controller, `decide` plays the operator.

use serde_json::json;

use crate::stream::model::{ANNOTATION_BACKFILL_REQUEST, Phase, Workload};

use super::sim::World;
use super::support::{Scenario, meta};

fn phase(world: &World) -> Option<&str> {
    world.observed.status.phase.as_deref()
}

fn settle(world: &mut World) {
    assert!(
        world.converge(6).is_some(),
        "no fixed point: {:#?}",
        world.observed.status
    );
}

/// The Job controller marks the current Job finished.
fn finish_job(world: &mut World) {
    let mut s = Scenario {
        observed: world.observed.clone(),
    };
    s = s.completed(1, 60);
    world.observed = s.observed;
}

fn workload_request(world: &World) -> Option<String> {
    let workload = world.observed.workload.as_ref()?;
    meta(workload)
        .annotations
        .as_ref()?
        .get(ANNOTATION_BACKFILL_REQUEST)
        .cloned()
}

#[test]
fn new_job_stream_backfills_then_streams() {
    let mut world = World::new(Scenario::job().observed, false);
    settle(&mut world);
    assert_eq!(phase(&world), Some("Backfilling"));
    let request = world
        .observed
        .backfill_requests
        .first()
        .and_then(|r| r.metadata.name.clone());
    assert!(
        request
            .as_deref()
            .is_some_and(|n| n.starts_with("stream1-initial-backfill-"))
    );
    assert_eq!(workload_request(&world), request);

    finish_job(&mut world);
    settle(&mut world);
    assert_eq!(phase(&world), Some("Running"));
    assert!(world.observed.backfill_requests.iter().all(|r| r.spec.completed));
    assert_eq!(
        world.observed.backfill_requests.len(),
        1,
        "no second initial backfill"
    );
    assert_eq!(
        workload_request(&world),
        None,
        "the streaming Job is not a backfill Job"
    );
}

#[test]
fn new_cron_stream_is_scheduled_without_backfill() {
    let mut world = World::new(Scenario::cron().observed, false);
    settle(&mut world);
    assert_eq!(phase(&world), Some("Scheduled"));
    assert!(world.observed.backfill_requests.is_empty());
    assert!(matches!(world.observed.workload, Some(Workload::CronJob(_))));
}

#[test]
fn suspend_during_backfill_then_resume_continues_the_same_request() {
    let mut world = World::new(
        Scenario::job().phase(Phase::Running).request("bf", 10).observed,
        false,
    );
    settle(&mut world);
    assert_eq!(phase(&world), Some("Backfilling"));
    if let Ok(d) = world.observed.definition.as_mut() {
        d.suspended = true;
    }
    settle(&mut world);
    assert_eq!(phase(&world), Some("Suspended"));
    assert!(world.observed.workload.is_none());
    assert!(!world.observed.backfill_requests[0].spec.completed);
    if let Ok(d) = world.observed.definition.as_mut() {
        d.suspended = false;
    }
    settle(&mut world);
    assert_eq!(phase(&world), Some("Backfilling"));
    assert_eq!(workload_request(&world).as_deref(), Some("bf"));
}

#[test]
fn spec_change_replaces_the_running_job_and_restarts_a_running_backfill() {
    let mut world = World::new(Scenario::job().phase(Phase::Running).observed, false);
    settle(&mut world);
    let first = world.observed.workload.as_ref().and_then(|w| meta(w).uid.clone());
    let change_spec = |world: &mut World, value: i64| {
        // The workload has run for a minute: no replacement interval holds the change back.
        world.observed.now += jiff::SignedDuration::from_secs(60);
        if let Ok(d) = world.observed.definition.as_mut() {
            d.spec["source"]["table"] = json!(format!("t{value}"));
        }
        world.observed.identity.generation += 1;
    };
    change_spec(&mut world, 2);
    settle(&mut world);
    let second = world.observed.workload.as_ref().and_then(|w| meta(w).uid.clone());
    assert_eq!(phase(&world), Some("Running"));
    assert_ne!(first, second, "the Job was replaced");

    world
        .observed
        .backfill_requests
        .push(super::support::request("bf", 1));
    settle(&mut world);
    assert_eq!(phase(&world), Some("Backfilling"));
    let backfill = world.observed.workload.as_ref().and_then(|w| meta(w).uid.clone());
    change_spec(&mut world, 3);
    settle(&mut world);
    assert_eq!(phase(&world), Some("Backfilling"));
    let restarted = world.observed.workload.as_ref().and_then(|w| meta(w).uid.clone());
    assert_ne!(backfill, restarted, "the backfill restarted with the new spec");
}

#[test]
fn failure_is_sticky_until_suspend_and_resume() {
    let mut world = World::new(Scenario::job().phase(Phase::Running).observed, false);
    settle(&mut world);
    world.observed = Scenario {
        observed: world.observed.clone(),
    }
    .failed("BackoffLimitExceeded", "x")
    .observed;
    settle(&mut world);
    assert_eq!(phase(&world), Some("Failed"));
    assert!(
        world.observed.workload.is_some(),
        "the failed Job is kept for its logs"
    );
    for suspended in [true, false] {
        if let Ok(d) = world.observed.definition.as_mut() {
            d.suspended = suspended;
        }
        settle(&mut world);
    }
    assert_eq!(phase(&world), Some("Running"));
    let fresh = world.observed.workload.as_ref().and_then(|w| match w {
        Workload::Job(job) => Some(job.status.is_none()),
        Workload::CronJob(_) => None,
    });
    assert_eq!(fresh, Some(true), "a new Job runs");
}

#[test]
fn backend_switch_removes_the_old_workload_first_and_never_fails() {
    let mut world = World::new(Scenario::job().phase(Phase::Running).observed, false);
    settle(&mut world);
    let cron = Scenario::cron();
    world.observed.definition = cron.observed.definition.clone();
    world.observed.streaming_template = cron.observed.streaming_template.clone();
    world.observed.identity.generation += 1;
    let mut phases = Vec::new();
    let steps = world.converge_with(6, |_, decision| {
        // Every status this switch writes, in order.
        for command in &decision.commands {
            if let crate::stream::model::Command::PatchStatus(status) = command {
                phases.push(status.phase);
            }
        }
        Ok::<(), ()>(())
    });
    assert!(matches!(steps, Ok(Some(_))), "converges");
    assert!(!phases.contains(&Phase::Failed), "{phases:?}");
    assert_eq!(phases.first(), Some(&Phase::Pending), "{phases:?}");
    assert_eq!(phase(&world), Some("Scheduled"));
    assert!(matches!(world.observed.workload, Some(Workload::CronJob(_))));
}

/// Edits right after a replacement wait for the rest of the replacement interval, with the status
/// left as it is, then fold into one replacement built from the latest definition (L5).
#[test]
fn rapid_spec_changes_fold_into_one_replacement_after_the_interval() {
    let mut world = World::new(Scenario::job().phase(Phase::Running).observed, false);
    settle(&mut world);
    let first = world.observed.workload.as_ref().and_then(|w| meta(w).uid.clone());
    let status_before = world.observed.status.clone();
    for value in 2..=5 {
        if let Ok(d) = world.observed.definition.as_mut() {
            d.spec["source"]["table"] = json!(format!("t{value}"));
        }
        world.observed.identity.generation += 1;
        world.observed.now += jiff::SignedDuration::from_millis(300);
        let decision = crate::stream::decide::decide(&world.observed);
        assert!(decision.commands.is_empty(), "held: {decision:?}");
        let wait = decision.requeue_after.expect("a held change is looked at again");
        assert!(wait <= crate::stream::decide::MIN_REPLACE_INTERVAL);
        assert!(!wait.is_zero());
    }
    assert_eq!(
        world.observed.status, status_before,
        "the status is left as it is"
    );
    world.observed.now +=
        jiff::SignedDuration::try_from(crate::stream::decide::MIN_REPLACE_INTERVAL).unwrap_or_default();
    settle(&mut world);
    let second = world.observed.workload.as_ref().and_then(|w| meta(w).uid.clone());
    assert_ne!(first, second, "replaced once the interval passed");
    let hash = world
        .observed
        .workload
        .as_ref()
        .and_then(|w| meta(w).annotations.as_ref())
        .and_then(|a| a.get(crate::stream::ANNOTATION_CONFIGURATION_HASH).cloned());
    assert_eq!(
        hash, world.observed.status.configuration_hash,
        "built from the last edit"
    );
    assert_eq!(
        world.observed.status.observed_generation,
        Some(world.observed.identity.generation)
    );
    assert_eq!(phase(&world), Some("Running"));
}
