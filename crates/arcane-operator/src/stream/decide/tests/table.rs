//! One table per rule of the state machine (SPEC §4), each row a scenario, plus the precedence
//! conflicts between rules. Expected lists are complete: commands in order, status writes as
//! (phase, Ready reason), Events by reason.

use crate::stream::model::{Phase, WorkloadKind};

use super::super::reasons::{event as ev, ready};
use super::support::{Act, Scenario, check, event, new_request, status};

const JOB: WorkloadKind = WorkloadKind::Job;
const CRON: WorkloadKind = WorkloadKind::CronJob;

fn running_job() -> Scenario {
    Scenario::job()
        .phase(Phase::Running)
        .streaming_workload()
        .settled()
}

fn failed_job() -> Scenario {
    Scenario::job().phase(Phase::Running).streaming_workload().failed(
        "BackoffLimitExceeded",
        "Job has reached the specified backoff limit",
    )
}

#[test]
fn rule0_invalid_definition() {
    let failed = vec![
        status(Phase::Failed, ready::INVALID_SPEC),
        event(ev::INVALID_SPEC),
    ];
    check(vec![
        (
            "invalid definition fails with InvalidSpec",
            Scenario::job().invalid("spec.execution"),
            failed.clone(),
        ),
        (
            "invalid definition leaves its running workload alone",
            running_job().invalid("spec.execution"),
            failed.clone(),
        ),
        (
            "invalid beats suspended, failed Job and an active request",
            failed_job()
                .suspended()
                .request("bf", 10)
                .invalid("spec.execution"),
            failed.clone(),
        ),
        (
            "invalid beats the legacy reload annotation (nothing is known about the stream)",
            Scenario::job().reload_requested().invalid("spec"),
            failed,
        ),
        (
            "invalid definition already reported: nothing is retried",
            Scenario::job().invalid("spec.execution").settled(),
            vec![],
        ),
    ]);
}

#[test]
fn rule1_legacy_reload_annotation() {
    check(vec![
        (
            "reload annotation becomes a request; the running Job waits for it to be observed",
            running_job().reload_requested(),
            vec![
                new_request("reload"),
                Act::RemoveAnnotation,
                status(Phase::Pending, ready::STREAM_PENDING),
                event(ev::BACKFILL_REQUESTED),
            ],
        ),
        (
            "reload annotation on a new stream creates one request, no initial backfill",
            Scenario::job().reload_requested(),
            vec![
                new_request("reload"),
                Act::RemoveAnnotation,
                status(Phase::Pending, ready::STREAM_PENDING),
                event(ev::BACKFILL_REQUESTED),
            ],
        ),
        (
            "reload annotation + suspended: request created, the stream stays suspended",
            Scenario::job()
                .suspended()
                .phase(Phase::Suspended)
                .settled()
                .reload_requested(),
            vec![
                new_request("reload"),
                Act::RemoveAnnotation,
                event(ev::BACKFILL_REQUESTED),
            ],
        ),
        (
            "reload annotation + failed Job: request created, the stream stays Failed",
            failed_job().settled().reload_requested(),
            vec![
                new_request("reload"),
                Act::RemoveAnnotation,
                event(ev::BACKFILL_REQUESTED),
            ],
        ),
        (
            "reload annotation + active backfill: the new request queues behind it",
            Scenario::job()
                .phase(Phase::Backfilling)
                .request("bf", 10)
                .backfill_workload("bf")
                .settled()
                .reload_requested(),
            vec![
                new_request("reload"),
                Act::RemoveAnnotation,
                event(ev::BACKFILL_REQUESTED),
            ],
        ),
        (
            "reload annotation without a backfill template is dropped with a warning",
            Scenario::cron()
                .no_backfill_template_ref()
                .phase(Phase::Scheduled)
                .streaming_workload()
                .settled()
                .reload_requested(),
            vec![Act::RemoveAnnotation, event(ev::BACKFILL_REJECTED)],
        ),
    ]);
}

#[test]
fn rule2_suspended() {
    let suspend = |kind| {
        vec![
            Act::Delete(kind),
            status(Phase::Suspended, ready::STREAM_SUSPENDED),
            event(ev::STREAM_SUSPENDED),
        ]
    };
    let no_workload = vec![
        status(Phase::Suspended, ready::STREAM_SUSPENDED),
        event(ev::STREAM_SUSPENDED),
    ];
    check(vec![
        (
            "suspend while Running deletes the Job",
            running_job().suspended(),
            suspend(JOB),
        ),
        (
            "suspend while Scheduled deletes the CronJob",
            Scenario::cron()
                .phase(Phase::Scheduled)
                .streaming_workload()
                .settled()
                .suspended(),
            suspend(CRON),
        ),
        (
            "suspend while Pending is honoured (Go ignored it)",
            Scenario::job()
                .phase(Phase::Pending)
                .streaming_workload()
                .suspended(),
            suspend(JOB),
        ),
        (
            "new suspended stream: Suspended, no initial backfill",
            Scenario::job().suspended(),
            no_workload.clone(),
        ),
        (
            "new suspended cron stream: Suspended",
            Scenario::cron().suspended(),
            no_workload.clone(),
        ),
        (
            "suspended + workload already being deleted: no second delete",
            running_job().deleting().suspended(),
            no_workload.clone(),
        ),
        (
            "suspended beats a failed Job: the failed Job is removed (recovery path)",
            failed_job().settled().suspended(),
            suspend(JOB),
        ),
        (
            "suspended beats a running backfill: Job removed, request not completed",
            Scenario::job()
                .phase(Phase::Backfilling)
                .request("bf", 10)
                .backfill_workload("bf")
                .settled()
                .suspended(),
            suspend(JOB),
        ),
        (
            "suspended beats a completed backfill Job: the request is not completed",
            Scenario::job()
                .phase(Phase::Backfilling)
                .request("bf", 10)
                .backfill_workload("bf")
                .completed(5, 60)
                .suspended(),
            suspend(JOB),
        ),
        (
            "suspended + leftover Job: the Job is deleted",
            Scenario::job()
                .suspended()
                .phase(Phase::Suspended)
                .streaming_workload(),
            suspend(JOB),
        ),
        (
            "already suspended, nothing running: nothing to do",
            Scenario::job().suspended().phase(Phase::Suspended).settled(),
            vec![],
        ),
        (
            "already suspended with an active request: nothing to do",
            Scenario::job()
                .suspended()
                .phase(Phase::Suspended)
                .request("bf", 10)
                .settled(),
            vec![],
        ),
    ]);
}

#[test]
fn rule3_failed() {
    let failed = vec![
        status(Phase::Failed, ready::CRASH_LOOP_DETECTED),
        event(ready::CRASH_LOOP_DETECTED),
    ];
    let gone = |s: Scenario| s.with(|s| s.observed.workload = None);
    check(vec![
        (
            "failed streaming Job: Failed, the Job is kept",
            failed_job(),
            failed.clone(),
        ),
        (
            "failed state is sticky: nothing on the next reconcile",
            failed_job().settled(),
            vec![],
        ),
        (
            "failed backfill Job: Failed, Job kept, request stays active",
            Scenario::job()
                .phase(Phase::Backfilling)
                .request("bf", 10)
                .backfill_workload("bf")
                .failed("DeadlineExceeded", "too slow"),
            failed.clone(),
        ),
        (
            "failed beats backfill: a request does not replace the failed Job",
            failed_job().request("bf", 10),
            failed.clone(),
        ),
        (
            "a new generation with the same configuration (no hash change): still Failed, observed",
            failed_job().settled().generation(2),
            vec![status(Phase::Failed, ready::CRASH_LOOP_DETECTED)],
        ),
        (
            "a template change after the failure (another hash) recovers",
            failed_job().settled().stale_hash(),
            vec![
                Act::Delete(JOB),
                status(Phase::Pending, ready::STREAM_PENDING),
                event(ev::STREAM_RESTARTED),
            ],
        ),
        (
            "spec change after the failure recovers: failed Job deleted, Pending",
            failed_job().settled().spec_changed(),
            vec![
                Act::Delete(JOB),
                status(Phase::Pending, ready::STREAM_PENDING),
                event(ev::STREAM_RESTARTED),
            ],
        ),
        (
            "failed Job deleted out of band: the stream stays Failed",
            gone(failed_job().settled()),
            vec![],
        ),
        (
            "failed Job deleted out of band, then a spec change: started again",
            gone(failed_job().settled()).spec_changed(),
            vec![
                Act::Create(JOB, false),
                status(Phase::Running, ready::STREAM_RUNNING),
                event(ev::STREAM_STARTED),
            ],
        ),
        (
            "Failed, no Job, suspended: Suspended",
            gone(failed_job().settled()).suspended(),
            vec![
                status(Phase::Suspended, ready::STREAM_SUSPENDED),
                event(ev::STREAM_SUSPENDED),
            ],
        ),
        (
            "unsuspended while the failed Job is still being deleted: wait, not Failed again",
            failed_job().phase(Phase::Suspended).deleting(),
            vec![
                status(Phase::Pending, ready::STREAM_PENDING),
                event(ev::STREAM_PENDING),
            ],
        ),
        (
            "Failed with InvalidSpec, definition now valid: not sticky, starts normally",
            Scenario::job().invalid("spec").settled().with(|s| {
                s.observed.definition = Ok(super::support::definition(crate::stream::model::Backend::Job));
            }),
            vec![
                Act::Create(JOB, false),
                status(Phase::Running, ready::STREAM_RUNNING),
                event(ev::STREAM_STARTED),
            ],
        ),
    ]);
}

#[test]
fn rule4_initial_backfill() {
    let started = |kind, phase, reason| {
        vec![
            Act::Create(kind, false),
            status(phase, reason),
            event(ev::STREAM_STARTED),
        ]
    };
    check(vec![
        (
            "new Job-backend stream gets an initial BackfillRequest and no workload yet",
            Scenario::job(),
            vec![
                new_request("initial-backfill"),
                status(Phase::Pending, ready::STREAM_PENDING),
                event(ev::STREAM_CREATED),
            ],
        ),
        (
            "an empty phase string counts as new",
            Scenario::job().raw_phase(""),
            vec![
                new_request("initial-backfill"),
                status(Phase::Pending, ready::STREAM_PENDING),
                event(ev::STREAM_CREATED),
            ],
        ),
        (
            "new + request of another class: that request does not count",
            Scenario::job().request_with("foreign", |r| r.spec.stream_class = "other".into()),
            vec![
                new_request("initial-backfill"),
                status(Phase::Pending, ready::STREAM_PENDING),
                event(ev::STREAM_CREATED),
            ],
        ),
        (
            "new CronJob stream: no initial backfill, CronJob created, Scheduled directly",
            Scenario::cron(),
            started(CRON, Phase::Scheduled, ready::STREAM_SCHEDULED),
        ),
        (
            "new + an existing completed request: no second initial backfill",
            Scenario::job().request_with("old", |r| r.spec.completed = true),
            started(JOB, Phase::Running, ready::STREAM_RUNNING),
        ),
        (
            "new + an existing active request: that backfill runs",
            Scenario::job().request("bf", 10),
            vec![
                Act::Create(JOB, true),
                status(Phase::Backfilling, ready::STREAM_BACKFILLING),
                event(ev::BACKFILL_STARTED),
            ],
        ),
        (
            "a C#-era phase (RUNNING) is not new: no initial backfill",
            Scenario::job().raw_phase("RUNNING"),
            started(JOB, Phase::Running, ready::STREAM_RUNNING),
        ),
    ]);
}
