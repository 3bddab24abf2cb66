//! The behaviour scenarios of the Go operator's tests (`reference/arcane-behavior.md` §6.2 items
//! 9–46 and §6.3 items 47–50), adapted where SPEC.md differs; each adaptation says so in the row.
//! `decide` sees one layout-independent model, so the v0/v1/v2 variants of a scenario are one row
//! (layouts are covered by the parser's tests).

use crate::stream::model::{Command, Phase, WorkloadKind};

use super::super::reasons::{event as ev, ready};
use super::support::{Act, Scenario, check, event, meta, new_request, pending_after, status, written};

const JOB: WorkloadKind = WorkloadKind::Job;
const CRON: WorkloadKind = WorkloadKind::CronJob;

fn suspended_phase() -> Vec<Act> {
    vec![
        status(Phase::Suspended, ready::STREAM_SUSPENDED),
        event(ev::STREAM_SUSPENDED),
    ]
}

fn suspend(kind: WorkloadKind) -> Vec<Act> {
    let mut acts = vec![Act::Delete(kind)];
    acts.extend(suspended_phase());
    acts
}

fn backfill_started() -> Vec<Act> {
    vec![
        Act::Create(JOB, true),
        status(Phase::Backfilling, ready::STREAM_BACKFILLING),
        event(ev::BACKFILL_STARTED),
    ]
}

fn failed_stream() -> Scenario {
    Scenario::job()
        .phase(Phase::Running)
        .streaming_workload()
        .failed("BackoffLimitExceeded", "limit")
        .settled()
}

#[test]
fn go_scenarios_9_to_23() {
    check(vec![
        (
            "9 new suspended stream -> Suspended",
            Scenario::job().suspended(),
            suspended_phase(),
        ),
        (
            "10 new unsuspended Job stream -> Pending, no Job, initial request",
            Scenario::job(),
            vec![
                new_request("initial-backfill"),
                status(Phase::Pending, ready::STREAM_PENDING),
                event(ev::STREAM_CREATED),
            ],
        ),
        (
            "11 new cron stream -> no request; SPEC: CronJob created and Scheduled directly (Go: Pending)",
            Scenario::cron(),
            vec![
                Act::Create(CRON, false),
                status(Phase::Scheduled, ready::STREAM_SCHEDULED),
                event(ev::STREAM_STARTED),
            ],
        ),
        (
            "12 no backend -> SPEC: InvalidSpec, Failed once (Go: stays new, warning every reconcile)",
            Scenario::job().invalid("spec.execution.streamingBackend"),
            vec![
                status(Phase::Failed, ready::INVALID_SPEC),
                event(ev::INVALID_SPEC),
            ],
        ),
        (
            "13 Pending, no request, no Job -> Running, Job created",
            Scenario::job().phase(Phase::Pending),
            vec![
                Act::Create(JOB, false),
                status(Phase::Running, ready::STREAM_RUNNING),
                event(ev::STREAM_STARTED),
            ],
        ),
        (
            "14 Pending, stale Job -> SPEC: deleted first, created once gone (Go: replaced in one step)",
            Scenario::job()
                .phase(Phase::Pending)
                .streaming_workload()
                .stale_hash(),
            pending_after(Act::Delete(JOB), ev::CONFIGURATION_CHANGED),
        ),
        (
            "15 Pending, current Job -> Running, Job kept",
            Scenario::job().phase(Phase::Pending).streaming_workload(),
            vec![
                status(Phase::Running, ready::STREAM_RUNNING),
                event(ev::STREAM_RUNNING),
            ],
        ),
        (
            "16 Pending cron, no CronJob -> Scheduled, CronJob created",
            Scenario::cron().phase(Phase::Pending),
            vec![
                Act::Create(CRON, false),
                status(Phase::Scheduled, ready::STREAM_SCHEDULED),
                event(ev::STREAM_STARTED),
            ],
        ),
        (
            "17 Pending, active request, no Job -> Backfilling",
            Scenario::job().phase(Phase::Pending).request("bf", 10),
            backfill_started(),
        ),
        (
            "18 Pending, active request, stale Job -> SPEC: Job deleted first, then the backfill",
            Scenario::job()
                .phase(Phase::Pending)
                .request("bf", 10)
                .streaming_workload()
                .stale_hash(),
            pending_after(Act::Delete(JOB), ev::BACKFILL_REQUESTED),
        ),
        (
            "19 Running, suspended, no Job -> Suspended",
            Scenario::job().phase(Phase::Running).suspended(),
            suspended_phase(),
        ),
        (
            "20 Running, suspended, active request, Job -> Suspended, Job deleted",
            Scenario::job()
                .phase(Phase::Running)
                .request("bf", 10)
                .streaming_workload()
                .suspended(),
            suspend(JOB),
        ),
        (
            "21 Suspended, unsuspended -> SPEC: Job created, Running directly (Go: Pending first)",
            Scenario::job().phase(Phase::Suspended),
            vec![
                Act::Create(JOB, false),
                status(Phase::Running, ready::STREAM_RUNNING),
                event(ev::STREAM_RESUMED),
            ],
        ),
        (
            "22 Suspended, still suspended, active request -> stays Suspended",
            Scenario::job()
                .suspended()
                .phase(Phase::Suspended)
                .request("bf", 10)
                .settled(),
            vec![],
        ),
        (
            "23 Suspended, unsuspended, active request -> SPEC: Backfilling directly (Go: Pending first)",
            Scenario::job().phase(Phase::Suspended).request("bf", 10),
            backfill_started(),
        ),
    ]);
}

#[test]
fn go_scenarios_24_to_35() {
    check(vec![
        (
            "24 Running, switched to cron, old Job -> Pending, Job deleted",
            Scenario::cron().phase(Phase::Running).other_backend_workload(),
            pending_after(Act::Delete(JOB), ev::BACKEND_CHANGED),
        ),
        (
            "25 Running, active request, no Job -> SPEC: Backfilling directly (Go: Pending)",
            Scenario::job().phase(Phase::Running).request("bf", 10),
            backfill_started(),
        ),
        (
            "26 [v0] Suspended (flag set), active request -> Suspended",
            Scenario::job()
                .suspended()
                .phase(Phase::Suspended)
                .request("bf", 10),
            vec![
                status(Phase::Suspended, ready::STREAM_SUSPENDED),
                event(ev::STREAM_SUSPENDED),
            ],
        ),
        (
            "26 [v1,v2] Suspended (flag unset), active request -> SPEC: Backfilling directly (Go: Pending)",
            Scenario::job().phase(Phase::Suspended).request("bf", 10),
            backfill_started(),
        ),
        (
            "27 Suspended, no request, no Job -> Suspended, no Job",
            Scenario::job().suspended().phase(Phase::Suspended).settled(),
            vec![],
        ),
        (
            "28 Suspended, no request, leftover Job -> Suspended, Job deleted",
            Scenario::job()
                .suspended()
                .phase(Phase::Suspended)
                .settled()
                .streaming_workload(),
            vec![Act::Delete(JOB), event(ev::STREAM_SUSPENDED)],
        ),
        (
            "29 Backfilling, active request, Job running -> stays Backfilling, Job kept",
            Scenario::job()
                .phase(Phase::Backfilling)
                .request("bf", 10)
                .backfill_workload("bf")
                .settled(),
            vec![],
        ),
        (
            "30 Backfilling, active request, completed Job -> Pending, Job deleted, request completed",
            Scenario::job()
                .phase(Phase::Backfilling)
                .request("bf", 10)
                .backfill_workload("bf")
                .completed(1, 60),
            vec![
                Act::Complete("bf".into()),
                Act::Delete(JOB),
                status(Phase::Pending, ready::STREAM_PENDING),
                event(ev::BACKFILL_COMPLETED),
            ],
        ),
        (
            "31 Backfilling, request deleted, Job -> Pending, Job deleted",
            Scenario::job().phase(Phase::Backfilling).backfill_workload("bf"),
            pending_after(Act::Delete(JOB), ev::BACKFILL_NOT_REQUESTED),
        ),
        (
            "32 Backfilling, active request, no Job -> backfill Job created, request not completed",
            Scenario::job()
                .phase(Phase::Backfilling)
                .request("bf", 10)
                .backfill_workload("bf")
                .settled()
                .with(|s| {
                    s.observed.workload = None;
                }),
            vec![Act::Create(JOB, true), event(ev::BACKFILL_STARTED)],
        ),
        (
            "33 Pending cron, active request -> Backfilling, a Job (not a CronJob) from the backfill template",
            Scenario::cron().phase(Phase::Pending).request("bf", 10),
            backfill_started(),
        ),
        (
            "34 Backfilling cron, request deleted, old Job -> Pending, Job deleted",
            Scenario::cron().phase(Phase::Backfilling).backfill_workload("bf"),
            pending_after(Act::Delete(JOB), ev::BACKFILL_NOT_REQUESTED),
        ),
        (
            "35 Backfilling, suspended, active request -> Suspended, Job deleted, request not completed",
            Scenario::job()
                .phase(Phase::Backfilling)
                .request("bf", 10)
                .backfill_workload("bf")
                .suspended(),
            suspend(JOB),
        ),
    ]);
}

#[test]
fn go_scenarios_36_to_46() {
    check(vec![
        (
            "36 Backfilling, failed Job -> Failed, request not completed; SPEC: the failed Job is kept (Go deleted it)",
            Scenario::job()
                .phase(Phase::Backfilling)
                .request("bf", 10)
                .backfill_workload("bf")
                .failed("BackoffLimitExceeded", "x"),
            vec![
                status(Phase::Failed, ready::CRASH_LOOP_DETECTED),
                event(ready::CRASH_LOOP_DETECTED),
            ],
        ),
        (
            "37 Backfilling, no request, leftover CronJob -> Pending, CronJob deleted",
            Scenario::job().phase(Phase::Backfilling).other_backend_workload(),
            pending_after(Act::Delete(CRON), ev::BACKEND_CHANGED),
        ),
        (
            "38 Failed, failed Job, suspended -> SPEC: suspension wins, Suspended, Job deleted (Go: stays Failed)",
            failed_stream().suspended(),
            suspend(JOB),
        ),
        (
            "39 Failed, no Job, not suspended -> stays Failed",
            failed_stream().with(|s| s.observed.workload = None),
            vec![],
        ),
        (
            "40 Failed, suspended, no Job -> Suspended",
            failed_stream().with(|s| s.observed.workload = None).suspended(),
            suspended_phase(),
        ),
        (
            "41 Failed, suspended, active request -> Suspended, request not completed",
            failed_stream()
                .with(|s| s.observed.workload = None)
                .suspended()
                .request("bf", 10),
            suspended_phase(),
        ),
        (
            "42 Scheduled, no CronJob -> CronJob created, phase stays Scheduled",
            Scenario::cron()
                .phase(Phase::Scheduled)
                .streaming_workload()
                .settled()
                .with(|s| s.observed.workload = None),
            vec![Act::Create(CRON, false), event(ev::STREAM_STARTED)],
        ),
        (
            "43 Scheduled, stale CronJob -> SPEC: deleted first, recreated once gone (Go: AlreadyExists loop risk)",
            Scenario::cron()
                .phase(Phase::Scheduled)
                .streaming_workload()
                .settled()
                .stale_hash(),
            pending_after(Act::Delete(CRON), ev::CONFIGURATION_CHANGED),
        ),
        (
            "44 Scheduled, current CronJob -> untouched",
            Scenario::cron()
                .phase(Phase::Scheduled)
                .streaming_workload()
                .settled(),
            vec![],
        ),
        (
            "45 Scheduled, suspended -> Suspended, CronJob deleted",
            Scenario::cron()
                .phase(Phase::Scheduled)
                .streaming_workload()
                .settled()
                .suspended(),
            suspend(CRON),
        ),
        (
            "46 Scheduled, active request -> Pending, CronJob deleted, request not completed",
            Scenario::cron()
                .phase(Phase::Scheduled)
                .streaming_workload()
                .settled()
                .request("bf", 10),
            pending_after(Act::Delete(CRON), ev::BACKFILL_REQUESTED),
        ),
    ]);
}

#[test]
fn go_scenario_33_backfill_job_uses_the_backfill_template() {
    let decision = Scenario::cron().phase(Phase::Pending).request("bf", 10).decide();
    let Some(Command::CreateWorkload(workload)) = decision.commands.first() else {
        panic!("expected a create, got {:?}", decision.commands);
    };
    let labels = meta(workload).labels.clone().unwrap_or_default();
    // The test templates label their Jobs `app: <template name>`.
    assert_eq!(
        labels.get("app").map(String::as_str),
        Some(crate::stream::fixtures::BACKFILL_TEMPLATE)
    );
    assert_eq!(written(&decision).backfill_request.as_deref(), Some("bf"));
}

#[test]
fn go_scenario_42_created_cronjob_carries_the_current_hash() {
    let decision = Scenario::cron().phase(Phase::Scheduled).decide();
    let Some(Command::CreateWorkload(workload)) = decision.commands.first() else {
        panic!("expected a create, got {:?}", decision.commands);
    };
    let hash = meta(workload)
        .annotations
        .as_ref()
        .and_then(|a| a.get(crate::stream::model::ANNOTATION_CONFIGURATION_HASH))
        .cloned();
    assert!(hash.is_some());
    assert_eq!(Some(written(&decision).configuration_hash.clone()), hash);
}

/// §6.3 (backfill manager) — adapted: in this design the manager's operations are commands, so the
/// scenarios become properties of the decisions that produce them.
#[test]
fn backfill_manager_scenarios_47_to_50() {
    // 47: the observed workload is what decisions act on; a missing one is no error.
    assert!(!Scenario::job().phase(Phase::Running).decide().commands.is_empty());
    // 48: removing a completed Job without the request being served leaves the request alone.
    let removal = Scenario::job()
        .phase(Phase::Running)
        .request("bf", 10)
        .streaming_workload()
        .completed(1, 60)
        .decide();
    assert!(
        !removal
            .commands
            .iter()
            .any(|c| matches!(c, Command::CompleteBackfillRequest { .. }))
    );
    // 49: a created request is not completed, targets the stream and its class, and is owned by the
    // stream without being its controller.
    let creation = Scenario::job().decide();
    let request = creation
        .commands
        .iter()
        .find_map(|c| match c {
            Command::CreateBackfillRequest { request, .. } => Some(request.clone()),
            _ => None,
        })
        .expect("an initial request");
    assert!(!request.spec.completed);
    assert_eq!(request.spec.stream_id, super::support::NAME);
    assert_eq!(request.spec.stream_class, super::support::CLASS);
    assert_eq!(
        request.metadata.namespace.as_deref(),
        Some(crate::stream::fixtures::NAMESPACE)
    );
    let owners = request.metadata.owner_references.clone().unwrap_or_default();
    assert_eq!(owners.len(), 1);
    assert_eq!(owners[0].uid, format!("uid-{}", super::support::NAME));
    assert_eq!(owners[0].kind, crate::stream::fixtures::KIND);
    assert_ne!(owners[0].controller, Some(true));
    assert_eq!(owners[0].block_owner_deletion, Some(false));
    // 50: no requests at all is no error: a running stream just runs.
    let idle = Scenario::job()
        .phase(Phase::Running)
        .streaming_workload()
        .settled()
        .decide();
    assert!(idle.commands.is_empty());
}
