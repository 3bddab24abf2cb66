//! Rules 5 (backfill) and 6 (streaming): tables of the workload decisions, plus focused checks of
//! what is built and which request is served.

use crate::stream::model::{ANNOTATION_BACKFILL_REQUEST, Command, Phase, WorkloadKind};

use super::super::reasons::{event as ev, ready};
use super::support::{Act, Scenario, check, event, meta, pending_after, status, written};

const JOB: WorkloadKind = WorkloadKind::Job;
const CRON: WorkloadKind = WorkloadKind::CronJob;

fn backfilling() -> Scenario {
    Scenario::job()
        .phase(Phase::Backfilling)
        .request("bf", 10)
        .backfill_workload("bf")
        .settled()
}

#[test]
fn rule5_backfill() {
    check(vec![
        (
            "active request, no workload: backfill Job created, Backfilling directly",
            Scenario::job().phase(Phase::Running).request("bf", 10),
            vec![
                Act::Create(JOB, true),
                status(Phase::Backfilling, ready::STREAM_BACKFILLING),
                event(ev::BACKFILL_STARTED),
            ],
        ),
        ("backfill Job running: nothing to do", backfilling(), vec![]),
        (
            "backfill Job complete: request completed, Job deleted, Pending",
            backfilling().completed(5, 60),
            vec![
                Act::Complete("bf".into()),
                Act::Delete(JOB),
                status(Phase::Pending, ready::STREAM_PENDING),
                event(ev::BACKFILL_COMPLETED),
            ],
        ),
        (
            "completed non-backfill Job in Backfilling does not complete the request (Go did, 7.3.4)",
            Scenario::job()
                .phase(Phase::Backfilling)
                .request("bf", 10)
                .streaming_workload()
                .completed(5, 60),
            pending_after(Act::Delete(JOB), ev::BACKFILL_REQUESTED),
        ),
        (
            "completed backfill Job of another request does not complete this one",
            Scenario::job()
                .phase(Phase::Backfilling)
                .request("bf", 10)
                .backfill_workload("other")
                .completed(5, 60),
            pending_after(Act::Delete(JOB), ev::BACKFILL_REQUESTED),
        ),
        (
            "spec change during backfill restarts it (SPEC §4; Go kept the old backfill)",
            backfilling().stale_hash(),
            pending_after(Act::Delete(JOB), ev::CONFIGURATION_CHANGED),
        ),
        (
            "streaming Job running when a request arrives: stopped first",
            Scenario::job()
                .phase(Phase::Running)
                .streaming_workload()
                .settled()
                .request("bf", 10),
            pending_after(Act::Delete(JOB), ev::BACKFILL_REQUESTED),
        ),
        (
            "CronJob present when a request arrives: stopped first",
            Scenario::cron()
                .phase(Phase::Scheduled)
                .streaming_workload()
                .settled()
                .request("bf", 10),
            pending_after(Act::Delete(CRON), ev::BACKFILL_REQUESTED),
        ),
        (
            "workload being deleted: wait",
            Scenario::job()
                .phase(Phase::Running)
                .streaming_workload()
                .settled()
                .request("bf", 10)
                .deleting(),
            vec![
                status(Phase::Pending, ready::STREAM_PENDING),
                event(ev::STREAM_PENDING),
            ],
        ),
        (
            "workload being deleted while already Pending: nothing to write",
            Scenario::job()
                .phase(Phase::Pending)
                .request("bf", 10)
                .streaming_workload()
                .deleting()
                .settled(),
            vec![],
        ),
        (
            "backfill template missing: TemplateNotFound, streaming Job untouched, no retry",
            Scenario::job()
                .phase(Phase::Running)
                .streaming_workload()
                .settled()
                .request("bf", 10)
                .no_backfill_template(),
            vec![
                status(Phase::Pending, ready::TEMPLATE_NOT_FOUND),
                event(ev::TEMPLATE_NOT_FOUND),
            ],
        ),
        (
            "backfill template missing, already reported: nothing",
            Scenario::job()
                .phase(Phase::Running)
                .request("bf", 10)
                .no_backfill_template()
                .settled(),
            vec![],
        ),
        (
            "backfill template broken: InvalidTemplate, FailedCreateJob",
            Scenario::job().phase(Phase::Running).request("bf", 10).with(|s| {
                if let Some(t) = s.observed.backfill_template.as_mut() {
                    std::sync::Arc::make_mut(t).spec.job = serde_json::json!([]);
                }
            }),
            vec![
                status(Phase::Pending, ready::INVALID_TEMPLATE),
                event(ready::INVALID_TEMPLATE),
            ],
        ),
        (
            "stream without backfill template rejects the request and keeps streaming (SPEC §3; Go crashed)",
            Scenario::cron()
                .no_backfill_template_ref()
                .phase(Phase::Scheduled)
                .streaming_workload()
                .settled()
                .request("bf", 10),
            vec![Act::Reject("bf".into()), event(ev::BACKFILL_REJECTED)],
        ),
        (
            "every unservable request is rejected once",
            Scenario::cron()
                .no_backfill_template_ref()
                .phase(Phase::Scheduled)
                .streaming_workload()
                .settled()
                .request("a", 10)
                .request("b", 20),
            vec![
                Act::Reject("b".into()),
                Act::Reject("a".into()),
                event(ev::BACKFILL_REJECTED),
                event(ev::BACKFILL_REJECTED),
            ],
        ),
        (
            "a rejected request is not active: nothing to do",
            Scenario::cron()
                .no_backfill_template_ref()
                .phase(Phase::Scheduled)
                .streaming_workload()
                .settled()
                .rejected_request("bf"),
            vec![],
        ),
    ]);
}

#[test]
fn rule5_only_matching_requests_are_active() {
    let running = Scenario::job()
        .phase(Phase::Running)
        .streaming_workload()
        .settled();
    check(vec![
        (
            "completed request",
            running.clone().request_with("r", |r| r.spec.completed = true),
            vec![],
        ),
        (
            "request of another class",
            running
                .clone()
                .request_with("r", |r| r.spec.stream_class = "x".into()),
            vec![],
        ),
        (
            "request for another stream",
            running
                .clone()
                .request_with("r", |r| r.spec.stream_id = "x".into()),
            vec![],
        ),
        (
            "request in another namespace",
            running
                .clone()
                .request_with("r", |r| r.metadata.namespace = Some("elsewhere".into())),
            vec![],
        ),
        (
            "request being deleted",
            running.clone().request_with("r", |r| {
                r.metadata.deletion_timestamp = Some(k8s_openapi::apimachinery::pkg::apis::meta::v1::Time(
                    super::support::now(),
                ));
            }),
            vec![],
        ),
        ("request already rejected", running.rejected_request("r"), vec![]),
    ]);
}

#[test]
fn rule5_serves_the_oldest_request_first() {
    let decision = Scenario::job()
        .phase(Phase::Pending)
        .request("young", 10)
        .request("old", 500)
        .request("mid", 100)
        .decide();
    let created = decision.commands.iter().find_map(|c| match c {
        Command::CreateWorkload(w) => Some(w.clone()),
        _ => None,
    });
    let created = created.expect("a backfill Job");
    let annotations = meta(&created).annotations.clone().unwrap_or_default();
    assert_eq!(
        annotations.get(ANNOTATION_BACKFILL_REQUEST).map(String::as_str),
        Some("old")
    );
    assert_eq!(written(&decision).backfill_request.as_deref(), Some("old"));
    // Same creation time: the name breaks the tie.
    let tie = Scenario::job()
        .phase(Phase::Pending)
        .request("b", 10)
        .request("a", 10)
        .decide();
    assert_eq!(written(&tie).backfill_request.as_deref(), Some("a"));
}

#[test]
fn rule5_after_completion_status_names_the_next_request() {
    let decision = backfilling().request("next", 5).completed(5, 60).decide();
    assert_eq!(written(&decision).backfill_request.as_deref(), Some("next"));
}

#[test]
fn rule6_streaming() {
    let started = |kind, phase, reason| {
        vec![
            Act::Create(kind, false),
            status(phase, reason),
            event(ev::STREAM_STARTED),
        ]
    };
    let running = || {
        Scenario::job()
            .phase(Phase::Running)
            .streaming_workload()
            .settled()
    };
    check(vec![
        (
            "Pending, no Job: Job created, Running",
            Scenario::job().phase(Phase::Pending),
            started(JOB, Phase::Running, ready::STREAM_RUNNING),
        ),
        (
            "Pending cron, no CronJob: created, Scheduled",
            Scenario::cron().phase(Phase::Pending),
            started(CRON, Phase::Scheduled, ready::STREAM_SCHEDULED),
        ),
        (
            "Pending, current Job: Running, Job kept",
            Scenario::job().phase(Phase::Pending).streaming_workload(),
            vec![
                status(Phase::Running, ready::STREAM_RUNNING),
                event(ev::STREAM_RUNNING),
            ],
        ),
        ("Running, current Job: nothing", running(), vec![]),
        (
            "Job deleted out of band: recreated",
            running().with(|s| s.observed.workload = None),
            vec![Act::Create(JOB, false), event(ev::STREAM_STARTED)],
        ),
        (
            "stale hash: replaced (delete first)",
            running().stale_hash(),
            pending_after(Act::Delete(JOB), ev::CONFIGURATION_CHANGED),
        ),
        (
            "stale CronJob: replaced (delete first)",
            Scenario::cron()
                .phase(Phase::Scheduled)
                .streaming_workload()
                .settled()
                .stale_hash(),
            pending_after(Act::Delete(CRON), ev::CONFIGURATION_CHANGED),
        ),
        (
            "Job -> CronJob switch: Job removed first, no transient Failed",
            Scenario::cron().phase(Phase::Running).other_backend_workload(),
            pending_after(Act::Delete(JOB), ev::BACKEND_CHANGED),
        ),
        (
            "CronJob -> Job switch: CronJob removed first, no transient Failed",
            Scenario::job().phase(Phase::Scheduled).other_backend_workload(),
            pending_after(Act::Delete(CRON), ev::BACKEND_CHANGED),
        ),
        (
            "backfill Job without an active request: removed, back to streaming",
            Scenario::job()
                .phase(Phase::Backfilling)
                .backfill_workload("gone"),
            pending_after(Act::Delete(JOB), ev::BACKFILL_NOT_REQUESTED),
        ),
        (
            "backfill Job whose request completed: removed, even with the template missing",
            Scenario::job()
                .phase(Phase::Backfilling)
                .request_with("bf", |r| r.spec.completed = true)
                .backfill_workload("bf")
                .no_streaming_template(),
            pending_after(Act::Delete(JOB), ev::BACKFILL_NOT_REQUESTED),
        ),
        (
            "workload being deleted: Pending, wait",
            running().deleting(),
            vec![
                status(Phase::Pending, ready::STREAM_PENDING),
                event(ev::STREAM_PENDING),
            ],
        ),
        (
            "streaming template missing: TemplateNotFound, no workload created",
            Scenario::job().phase(Phase::Pending).no_streaming_template(),
            vec![
                status(Phase::Pending, ready::TEMPLATE_NOT_FOUND),
                event(ev::TEMPLATE_NOT_FOUND),
            ],
        ),
        (
            "streaming template deleted while running: Job untouched",
            running().no_streaming_template(),
            vec![
                status(Phase::Pending, ready::TEMPLATE_NOT_FOUND),
                event(ev::TEMPLATE_NOT_FOUND),
            ],
        ),
        (
            "template appears again: the Job, unchanged, runs on",
            running().no_streaming_template().settled().with(|s| {
                s.observed.streaming_template = Some(std::sync::Arc::new(super::support::template(
                    crate::stream::fixtures::STREAMING_TEMPLATE,
                )));
            }),
            vec![
                status(Phase::Running, ready::STREAM_RUNNING),
                event(ev::STREAM_RUNNING),
            ],
        ),
        (
            "broken streaming template: InvalidTemplate, FailedCreateJob",
            Scenario::job().phase(Phase::Pending).broken_streaming_template(),
            vec![
                status(Phase::Pending, ready::INVALID_TEMPLATE),
                event(ready::INVALID_TEMPLATE),
            ],
        ),
        (
            "resumed after suspension: StreamResumed",
            Scenario::job().phase(Phase::Suspended),
            vec![
                Act::Create(JOB, false),
                status(Phase::Running, ready::STREAM_RUNNING),
                event(ev::STREAM_RESUMED),
            ],
        ),
    ]);
}

#[test]
fn rule6_created_workload_is_the_built_one() {
    let decision = Scenario::cron().phase(Phase::Pending).decide();
    let Some(Command::CreateWorkload(crate::stream::model::Workload::CronJob(cron))) =
        decision.commands.first()
    else {
        panic!("expected a CronJob create, got {:?}", decision.commands);
    };
    let spec = cron.spec.as_ref().expect("a CronJob spec");
    assert_eq!(spec.schedule, crate::stream::fixtures::SCHEDULE);
    assert_eq!(spec.concurrency_policy.as_deref(), Some("Forbid"));
    let hash = meta(&crate::stream::model::Workload::CronJob(cron.clone()))
        .annotations
        .as_ref()
        .and_then(|a| a.get(crate::stream::model::ANNOTATION_CONFIGURATION_HASH))
        .cloned();
    assert_eq!(Some(written(&decision).configuration_hash.clone()), hash);
}
