//! A workload the API server refused to create (remembered by the controller): the status says
//! why, once per distinct message; the create waits for its back-off; a new configuration, or a
//! due retry, creates again.

use std::time::Duration;

use crate::crd::BackfillRequestState;
use crate::stream::model::{
    ANNOTATION_CONFIGURATION_HASH, Command, Phase, Workload, WorkloadKind, WorkloadRefusal,
};

use super::super::reasons::{event as ev, ready};
use super::super::refused::{REFUSAL_MESSAGE_MAX, message};
use super::sim::write_status;
use super::support::{Act, Scenario, at, event, meta, request_states, status, summary, written};

/// A Running stream without its Job: the decision creates it.
fn stream_without_job() -> Scenario {
    Scenario::job().phase(Phase::Running)
}

/// The workload `scenario`'s decision creates.
fn created(scenario: &Scenario) -> Workload {
    scenario
        .decide()
        .commands
        .into_iter()
        .find_map(|c| match c {
            Command::CreateWorkload(w) => Some(w),
            _ => None,
        })
        .expect("a create")
}

/// `scenario` with the create of its decision refused, retry due `retry_in` seconds from now.
fn refused(scenario: Scenario, refusal: &str, retry_in: i64) -> Scenario {
    let workload = created(&scenario);
    let meta = meta(&workload);
    let refusal = WorkloadRefusal {
        kind: WorkloadKind::Job,
        name: meta.name.clone().unwrap_or_default(),
        hash: meta
            .annotations
            .as_ref()
            .and_then(|a| a.get(ANNOTATION_CONFIGURATION_HASH))
            .cloned(),
        message: refusal.to_owned(),
        retry_at: at(retry_in),
    };
    scenario.with(|s| s.observed.remembered.refusal = Some(refusal))
}

#[test]
fn a_refused_create_is_reported_and_waits_for_its_retry() {
    let decision = refused(stream_without_job(), "restartPolicy: Unsupported value", 4).decide();
    assert_eq!(
        summary(&decision),
        vec![status(Phase::Pending, ready::FAILED_CREATE_JOB)],
        "no create, no Event (the handler's Warning told it)"
    );
    let ready = &written(&decision).ready;
    assert_eq!(ready.status, "False");
    assert_eq!(
        ready.message,
        "Cannot create Job stream1: restartPolicy: Unsupported value"
    );
    assert_eq!(decision.requeue_after, Some(Duration::from_secs(4)));
}

#[test]
fn the_refusal_is_written_once_per_distinct_message() {
    let scenario = refused(stream_without_job(), "invalid", 4);
    let first = scenario.decide();
    let again = scenario
        .clone()
        .with(|s| write_status(&mut s.observed.status, written(&first), true));
    assert_eq!(summary(&again.decide()), vec![]);
    let other = again.with(|s| {
        if let Some(r) = s.observed.remembered.refusal.as_mut() {
            r.message = "another reason".to_owned();
        }
    });
    assert_eq!(
        summary(&other.decide()),
        vec![status(Phase::Pending, ready::FAILED_CREATE_JOB)]
    );
}

#[test]
fn a_due_retry_or_a_new_configuration_creates_again() {
    let due = refused(stream_without_job(), "invalid", 0).decide();
    assert_eq!(
        summary(&due),
        vec![
            Act::Create(WorkloadKind::Job, false),
            status(Phase::Running, ready::STREAM_RUNNING),
            event(ev::STREAM_STARTED),
        ]
    );
    // The template or the definition changed: another configuration hash, not the refused one.
    let changed = refused(stream_without_job(), "invalid", 60)
        .spec_changed()
        .decide();
    assert!(
        summary(&changed).contains(&Act::Create(WorkloadKind::Job, false)),
        "{:?}",
        summary(&changed)
    );
    // Suspended: nothing to create, the refusal does not apply.
    let suspended = refused(stream_without_job(), "invalid", 60).suspended().decide();
    assert!(summary(&suspended).contains(&status(Phase::Suspended, ready::STREAM_SUSPENDED)));
}

#[test]
fn a_refused_backfill_job_leaves_its_request_waiting_with_the_reason() {
    let scenario = refused(stream_without_job().request("r1", 10), "forbidden by quota", 30);
    let decision = scenario.decide();
    assert_eq!(
        summary(&decision),
        vec![status(Phase::Pending, ready::FAILED_CREATE_JOB)]
    );
    assert_eq!(
        request_states(&decision),
        vec![Act::RequestState("r1".to_owned(), BackfillRequestState::Pending)]
    );
}

#[test]
fn refusal_messages_are_cut_to_one_kilobyte_on_a_character_boundary() {
    let refusal = |text: &str| WorkloadRefusal {
        kind: WorkloadKind::Job,
        name: "s".to_owned(),
        hash: None,
        message: text.to_owned(),
        retry_at: at(0),
    };
    assert_eq!(
        message(&refusal("spec.template: invalid")),
        "Cannot create Job s: spec.template: invalid"
    );
    for filler in ["x", "é", "🚀"] {
        let message = message(&refusal(&filler.repeat(2000)));
        let len = message.len();
        assert!(
            (REFUSAL_MESSAGE_MAX - 8..=REFUSAL_MESSAGE_MAX).contains(&len),
            "{filler}: {len}"
        );
        assert!(message.ends_with('…'));
    }
}
