//! Status writes: only on change, never because a pruned field is absent, and `lastTransitionTime`
//! kept while the `Ready` status is unchanged. Events only with a transition or an action.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;

use crate::stream::model::{Command, Phase};

use super::super::reasons::ready;
use super::support::{Act, Scenario, at, now, status, summary, written};

fn stable_states() -> Vec<(&'static str, Scenario)> {
    vec![
        (
            "running",
            Scenario::job()
                .phase(Phase::Running)
                .streaming_workload()
                .settled(),
        ),
        (
            "scheduled",
            Scenario::cron()
                .phase(Phase::Scheduled)
                .streaming_workload()
                .settled(),
        ),
        (
            "backfilling",
            Scenario::job()
                .phase(Phase::Backfilling)
                .request("bf", 10)
                .backfill_workload("bf")
                .settled(),
        ),
        (
            "suspended",
            Scenario::job()
                .suspended()
                .phase(Phase::Suspended)
                .request("bf", 10)
                .settled(),
        ),
        (
            "failed",
            Scenario::job()
                .phase(Phase::Running)
                .streaming_workload()
                .failed("BackoffLimitExceeded", "x")
                .settled(),
        ),
        (
            "template not found",
            Scenario::job()
                .phase(Phase::Pending)
                .no_streaming_template()
                .settled(),
        ),
        (
            "invalid template",
            Scenario::job()
                .phase(Phase::Pending)
                .broken_streaming_template()
                .settled(),
        ),
        (
            "invalid spec",
            Scenario::job().invalid("spec.execution").settled(),
        ),
        (
            "waiting for a deletion",
            Scenario::job()
                .phase(Phase::Pending)
                .streaming_workload()
                .deleting()
                .settled(),
        ),
    ]
}

#[test]
fn identical_state_gives_zero_commands() {
    for (name, scenario) in stable_states() {
        assert_eq!(scenario.decide().commands, vec![], "{name}");
    }
}

#[test]
fn pruned_optional_fields_cause_no_rewrite() {
    for (name, scenario) in stable_states() {
        let pruned = scenario.with(|s| {
            let status = &mut s.observed.status;
            status.observed_generation = None;
            status.backfill_request = None;
            status.restarts = None;
            status.configuration_hash = None;
            for condition in &mut status.conditions {
                condition.observed_generation = None;
            }
        });
        assert_eq!(pruned.decide().commands, vec![], "{name}");
    }
}

#[test]
fn a_present_optional_field_that_differs_is_rewritten_without_an_event() {
    let base = || {
        Scenario::job()
            .phase(Phase::Running)
            .streaming_workload()
            .settled()
    };
    let cases: Vec<(&str, Scenario)> = vec![
        (
            "configurationHash",
            base().with(|s| s.observed.status.configuration_hash = Some("old".into())),
        ),
        (
            "observedGeneration",
            base().with(|s| s.observed.status.observed_generation = Some(0)),
        ),
        (
            "backfillRequest",
            base().with(|s| s.observed.status.backfill_request = Some("done".into())),
        ),
        (
            "condition observedGeneration",
            base().with(|s| s.observed.status.conditions[0].observed_generation = Some(0)),
        ),
        (
            "condition message",
            base().with(|s| s.observed.status.conditions[0].message = "RUNNING".into()),
        ),
    ];
    for (name, scenario) in cases {
        assert_eq!(
            summary(&scenario.decide()),
            vec![status(Phase::Running, ready::STREAM_RUNNING)],
            "{name}"
        );
    }
}

#[test]
fn last_transition_time_is_kept_while_the_ready_status_is_unchanged() {
    let old = Time(at(-3600));
    // Go wrote `Ready=True` with another message: rewritten, transition time kept.
    let rewritten = Scenario::job()
        .phase(Phase::Running)
        .streaming_workload()
        .ready("True", "StreamRunning", "The stream is currently running.", None)
        .decide();
    assert_eq!(written(&rewritten).ready.last_transition_time, old);
    // Suspension turns Ready False: the time moves to now.
    let suspended = Scenario::job()
        .phase(Phase::Running)
        .streaming_workload()
        .ready("True", "StreamRunning", "x", Some(1))
        .suspended()
        .decide();
    assert_eq!(written(&suspended).ready.last_transition_time, Time(now()));
    // Pending (False) after Suspended (False): reason changes, time kept.
    let pending = Scenario::job()
        .phase(Phase::Suspended)
        .ready("False", "StreamSuspended", "x", Some(1))
        .streaming_workload()
        .stale_hash()
        .decide();
    assert_eq!(written(&pending).ready.last_transition_time, old);
    // No Ready condition yet: now.
    assert_eq!(
        written(&Scenario::job().decide()).ready.last_transition_time,
        Time(now())
    );
}

#[test]
fn written_status_fields() {
    let decision = Scenario::job()
        .phase(Phase::Pending)
        .request("bf", 10)
        .generation(4)
        .decide();
    let desired = written(&decision);
    assert_eq!(desired.phase, Phase::Backfilling);
    assert_eq!(desired.ready.type_, "Ready");
    assert_eq!(desired.ready.status, "True");
    assert_eq!(desired.ready.observed_generation, Some(4));
    assert_eq!(desired.observed_generation, 4);
    assert_eq!(desired.backfill_request.as_deref(), Some("bf"));
    assert!(!desired.configuration_hash.is_empty());
    let suspended = Scenario::job()
        .suspended()
        .phase(Phase::Running)
        .streaming_workload()
        .decide();
    let desired = written(&suspended);
    assert_eq!(desired.ready.status, "False");
    assert_eq!(
        desired.configuration_hash, "",
        "nothing runs: the recorded hash (none here) is kept, never null"
    );
}

#[test]
fn crash_loop_message_names_the_job_its_failure_and_the_way_out() {
    let decision = Scenario::job()
        .phase(Phase::Running)
        .streaming_workload()
        .failed(
            "BackoffLimitExceeded",
            "Job has reached the specified backoff limit",
        )
        .decide();
    assert_eq!(
        written(&decision).ready.message,
        "Job stream1 failed: BackoffLimitExceeded: Job has reached the specified backoff limit. \
         Suspend and resume the stream, or change its definition or template, to start it again."
    );
}

#[test]
fn invalid_spec_message_names_the_field() {
    let decision = Scenario::job()
        .invalid("spec.execution.streamingBackend.batch.schedule")
        .decide();
    assert!(
        written(&decision)
            .ready
            .message
            .contains("spec.execution.streamingBackend.batch.schedule")
    );
    let note = decision.commands.iter().find_map(|c| match c {
        Command::PublishEvent(note) => Some(note.clone()),
        _ => None,
    });
    assert!(note.is_some_and(
        |n| n.type_ == crate::stream::model::EventType::Warning && n.message.contains("schedule")
    ));
}

#[test]
fn template_not_found_names_the_template() {
    let decision = Scenario::job()
        .phase(Phase::Pending)
        .no_streaming_template()
        .decide();
    let expected = format!(
        "{}/{}",
        crate::stream::fixtures::NAMESPACE,
        crate::stream::fixtures::STREAMING_TEMPLATE
    );
    assert!(written(&decision).ready.message.contains(&expected));
    assert_eq!(
        decision.requeue_after, None,
        "the template watch, not a timer, brings the stream back"
    );
}

#[test]
fn commands_are_ordered_actions_status_events() {
    let decision = Scenario::job()
        .phase(Phase::Backfilling)
        .request("bf", 10)
        .backfill_workload("bf")
        .completed(1, 60)
        .reload_requested()
        .decide();
    let rank = |c: &Command| match c {
        Command::PatchStatus(_) => 1,
        Command::PublishEvent(_) => 2,
        _ => 0,
    };
    let ranks: Vec<u8> = decision.commands.iter().map(rank).collect();
    let mut sorted = ranks.clone();
    sorted.sort();
    assert_eq!(ranks, sorted);
    assert!(summary(&decision).starts_with(&[
        Act::NewRequest(format!("{}-reload-", super::support::NAME)),
        Act::RemoveAnnotation,
        Act::Complete("bf".into())
    ]));
}

/// The status written carries every condition: those of other writers stay, ours and the Go
/// operator's one condition (by its exact type and reason) give way to the new `Ready`.
#[test]
fn the_written_conditions_keep_other_writers_and_replace_the_go_condition() {
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition;
    let condition = |type_: &str, reason: &str| Condition {
        type_: type_.to_owned(),
        status: "True".to_owned(),
        reason: reason.to_owned(),
        message: String::new(),
        observed_generation: None,
        last_transition_time: Time(at(-60)),
    };
    let scenario = Scenario::job()
        .phase(Phase::Running)
        .streaming_workload()
        .with(|s| {
            s.observed.status.conditions = vec![
                condition("Warning", "StreamPending"),
                condition("Error", "StreamFailed"),
                condition("Ready", "StreamPending"),
                condition("Warning", "StreamlinedByAnotherTool"),
                condition("Progressing", "Whatever"),
            ];
        });
    let decision = scenario.decide();
    let kept: Vec<(&str, &str)> = written(&decision)
        .conditions
        .iter()
        .map(|c| (c.type_.as_str(), c.reason.as_str()))
        .collect();
    assert_eq!(
        kept,
        vec![
            ("Warning", "StreamlinedByAnotherTool"),
            ("Progressing", "Whatever"),
            ("Ready", ready::STREAM_RUNNING.as_str()),
        ]
    );
}
