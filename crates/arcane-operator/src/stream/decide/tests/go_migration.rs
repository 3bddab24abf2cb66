//! Taking over from the Go operator: workloads it built from the current definition are adopted
//! (no delete, no create), those of an older definition replaced, a stream it left `Failed` stays
//! `Failed` until suspended or changed, and a stream whose status could never be written is not
//! mistaken for a new one.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, Time};

use crate::stream::go_hash;
use crate::stream::model::{
    ANNOTATION_BACKFILL_REQUEST, ANNOTATION_CONFIGURATION_HASH, ANNOTATION_STREAM_GENERATION, Command,
    LABEL_STREAM_CLASS, Phase, WorkloadKind,
};

use super::super::reasons::{event as ev, ready};
use super::sim::World;
use super::support::{Act, NAME, Scenario, at, check, event, meta_mut, status, summary};

const JOB: WorkloadKind = WorkloadKind::Job;
const CRONJOB: WorkloadKind = WorkloadKind::CronJob;

impl Scenario {
    /// The observed workload as the Go operator leaves it: no class label, no generation or
    /// request annotation, and the Go hash (`configuration-hash`) of `spec`.
    fn go_built(self, hash: String) -> Self {
        self.with(|s| {
            let meta = meta_mut(s.workload_mut());
            meta.labels.get_or_insert_default().remove(LABEL_STREAM_CLASS);
            let annotations = meta.annotations.get_or_insert_default();
            annotations.remove(ANNOTATION_STREAM_GENERATION);
            annotations.remove(ANNOTATION_BACKFILL_REQUEST);
            annotations.insert(ANNOTATION_CONFIGURATION_HASH.to_owned(), hash);
        })
    }

    fn spec(&self) -> serde_json::Value {
        self.observed.definition.as_ref().expect("valid").spec.clone()
    }

    fn go_streaming(self) -> Self {
        let hash = go_hash::spec_hash(&self.spec());
        self.go_built(hash)
    }

    /// The status the Go operator writes: its phase, the Go hash, one condition of its own types.
    fn go_status(self, phase: Phase, type_: &str, reason: &str) -> Self {
        let hash = go_hash::spec_hash(&self.spec());
        self.with(|s| {
            s.observed.status.phase = Some(phase.as_str().to_owned());
            s.observed.status.configuration_hash = Some(hash);
            s.observed.status.conditions = vec![Condition {
                type_: type_.to_owned(),
                status: "True".to_owned(),
                reason: reason.to_owned(),
                message: "written by the Go operator".to_owned(),
                observed_generation: None,
                last_transition_time: Time(at(-3600)),
            }];
        })
    }
}

#[test]
fn go_built_workloads_of_the_current_definition_are_adopted() {
    let adopted = |kind, phase, reason| {
        vec![
            Act::Adopt(kind),
            status(phase, reason),
            event(ev::WORKLOAD_ADOPTED),
        ]
    };
    let go_backfill = |s: Scenario| {
        let hash = go_hash::backfill_hash(&s.spec(), super::support::CLASS, NAME, false);
        s.go_built(hash)
    };
    check(vec![
        (
            "Running, Go streaming Job of the current spec: adopted, keeps running",
            Scenario::job()
                .go_status(Phase::Running, "Ready", "StreamRunning")
                .streaming_workload()
                .go_streaming(),
            adopted(JOB, Phase::Running, ready::STREAM_RUNNING),
        ),
        (
            "Scheduled, unlabelled Go CronJob of the current spec: adopted",
            Scenario::cron()
                .go_status(Phase::Scheduled, "Ready", "StreamScheduled")
                .streaming_workload()
                .go_streaming(),
            adopted(CRONJOB, Phase::Scheduled, ready::STREAM_SCHEDULED),
        ),
        (
            "Backfilling, Go backfill Job for the active request: adopted for that request",
            go_backfill(
                Scenario::job()
                    .go_status(Phase::Backfilling, "Ready", "StreamBackfilling")
                    .request("go-initial-backfill-x", 100)
                    .backfill_workload("go-initial-backfill-x"),
            ),
            adopted(JOB, Phase::Backfilling, ready::STREAM_BACKFILLING),
        ),
        (
            "Running, Go Job of an older spec: replaced as any changed configuration",
            Scenario::job()
                .go_status(Phase::Running, "Ready", "StreamRunning")
                .streaming_workload()
                .go_built(go_hash::spec_hash(&serde_json::json!({"source": "old"}))),
            vec![
                Act::Delete(JOB),
                status(Phase::Pending, ready::STREAM_PENDING),
                event(ev::CONFIGURATION_CHANGED),
            ],
        ),
        (
            "a Go backfill Job for another stream's request spec is not adopted",
            Scenario::job()
                .go_status(Phase::Backfilling, "Ready", "StreamBackfilling")
                .request("go-initial-backfill-x", 100)
                .backfill_workload("go-initial-backfill-x")
                .go_built(go_hash::backfill_hash(
                    &serde_json::json!({"source": "old"}),
                    super::support::CLASS,
                    NAME,
                    false,
                )),
            vec![
                Act::Delete(JOB),
                status(Phase::Pending, ready::STREAM_PENDING),
                event(ev::BACKFILL_REQUESTED),
            ],
        ),
    ]);
}

/// After the adoption is applied, the stream is settled: nothing more is written or created.
#[test]
fn an_adopted_workload_is_left_alone() {
    for scenario in [
        Scenario::job()
            .go_status(Phase::Running, "Ready", "StreamRunning")
            .streaming_workload()
            .go_streaming(),
        Scenario::cron()
            .go_status(Phase::Scheduled, "Ready", "StreamScheduled")
            .streaming_workload()
            .go_streaming(),
    ] {
        let mut world = World::new(scenario.observed.clone(), false);
        let first = super::super::decide(&world.observed);
        world.apply(&first);
        let second = super::super::decide(&world.observed);
        assert!(
            second.commands.is_empty(),
            "after adoption: {:?}",
            summary(&second)
        );
        let adopted = first.commands.iter().any(|c| {
            matches!(c, Command::AdoptWorkload { annotations, .. }
                if annotations.contains_key(ANNOTATION_STREAM_GENERATION))
        });
        assert!(adopted, "the adoption sets this operator's annotations");
    }
}

#[test]
fn a_stream_the_go_operator_left_failed_stays_failed_until_changed_or_suspended() {
    let go_failed = || Scenario::job().go_status(Phase::Failed, "Error", "StreamFailed");
    check(vec![
        (
            "Go Failed, no Job: Failed with this operator's condition, nothing started",
            go_failed(),
            vec![
                status(Phase::Failed, ready::CRASH_LOOP_DETECTED),
                event(ready::CRASH_LOOP_DETECTED),
            ],
        ),
        ("Go Failed, settled: nothing more", go_failed().settled(), vec![]),
        (
            "Go Failed, then the spec changed: started again",
            go_failed().settled().spec_changed(),
            vec![
                Act::Create(JOB, false),
                status(Phase::Running, ready::STREAM_RUNNING),
                event(ev::STREAM_STARTED),
            ],
        ),
        (
            "Go Failed, then suspended: Suspended",
            go_failed().settled().suspended(),
            vec![
                status(Phase::Suspended, ready::STREAM_SUSPENDED),
                event(ev::STREAM_SUSPENDED),
            ],
        ),
    ]);
}

/// A plugin whose status schema refuses every write: a stream created suspended and resumed later
/// still shows no phase, but its second generation says it is not new: no initial backfill.
#[test]
fn a_stream_without_a_written_phase_is_new_only_at_its_first_generation() {
    check(vec![
        (
            "no phase, first generation: new, initial backfill",
            Scenario::job().generation(1),
            vec![
                Act::NewRequest(format!("{NAME}-initial-backfill-")),
                status(Phase::Pending, ready::STREAM_PENDING),
                event(ev::STREAM_CREATED),
            ],
        ),
        (
            "no phase, resumed (second generation): streams at once",
            Scenario::job().generation(2),
            vec![
                Act::Create(JOB, false),
                status(Phase::Running, ready::STREAM_RUNNING),
                event(ev::STREAM_STARTED),
            ],
        ),
    ]);
}

/// Where each active request stands is recorded on it once: `Running` while its Job runs,
/// `Pending` with the reason it waits, and nothing more while nothing changes.
#[test]
fn request_states_follow_the_stream() {
    use super::support::request_states;
    use crate::crd::BackfillRequestState::{Pending, Running};
    let rows = [
        (
            "served: Running",
            Scenario::job().phase(Phase::Running).request("bf", 10),
            vec![Act::RequestState("bf".into(), Running)],
        ),
        (
            "two requests: the older served, the other waits",
            Scenario::job()
                .phase(Phase::Running)
                .request("old", 20)
                .request("new", 10),
            vec![
                Act::RequestState("old".into(), Running),
                Act::RequestState("new".into(), Pending),
            ],
        ),
        (
            "stream suspended: Pending",
            Scenario::job()
                .suspended()
                .phase(Phase::Running)
                .request("bf", 10),
            vec![Act::RequestState("bf".into(), Pending)],
        ),
        (
            "already recorded: nothing",
            Scenario::job()
                .phase(Phase::Backfilling)
                .request("bf", 10)
                .backfill_workload("bf")
                .settled(),
            vec![],
        ),
    ];
    for (name, scenario, expected) in rows {
        assert_eq!(request_states(&scenario.decide()), expected, "{name}");
    }
}

/// A completed request kept in git with `completed: false` is rewritten by every sync; its status
/// says it completed, so it is not served again.
#[test]
fn a_completed_request_reset_by_a_gitops_sync_is_not_run_again() {
    let reset = Scenario::job()
        .phase(Phase::Running)
        .streaming_workload()
        .request_with("bf", |r| {
            r.spec.completed = false;
            r.status = Some(crate::crd::BackfillRequestState::Completed.status(
                "The backfill Job succeeded",
                Time(at(-60)),
                None,
            ));
        })
        .settled();
    assert_eq!(summary(&reset.decide()), vec![]);
}
