//! Table tests of the StreamClass decision: one row per rule.

use std::time::Duration;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, Time};
use kube::api::ApiResource;

use super::*;

fn now() -> jiff::Timestamp {
    "2026-01-01T00:00:00Z".parse().unwrap_or_default()
}

fn resource() -> ApiResource {
    ApiResource::erase::<k8s_openapi::api::core::v1::ConfigMap>(&())
}

/// A class seen for the first time: nothing runs, nothing written.
fn class() -> ClassObserved {
    ClassObserved {
        now: now(),
        resource_version: Some("10".to_owned()),
        generation: Some(1),
        status: StreamClassStatus::default(),
        claimed_by: None,
        running: Running::None,
        resolution: Resolution::NotNeeded,
        written: None,
    }
}

fn running(listed: bool, problem: Option<(WatchProblemKind, &str, u64)>) -> Running {
    Running::Current(WatchObserved {
        listed,
        problem: problem.map(|(k, m, s)| (k, m.to_owned(), Duration::from_secs(s))),
    })
}

/// A command reduced to what a row states.
#[derive(Debug, PartialEq)]
enum Act {
    Stop(StopCause),
    Start,
    Status(StreamClassPhase, ClassReason),
    Warning(ClassReason),
    Normal(ClassReason),
}

fn summary(decision: &ClassDecision) -> Vec<Act> {
    decision
        .commands
        .iter()
        .map(|c| match c {
            ClassCommand::Stop(cause) => Act::Stop(*cause),
            ClassCommand::Start(_) => Act::Start,
            ClassCommand::WriteStatus { state, .. } => Act::Status(state.phase, state.reason),
            ClassCommand::PublishEvent {
                warning: true,
                reason,
                ..
            } => Act::Warning(*reason),
            ClassCommand::PublishEvent { reason, .. } => Act::Normal(*reason),
        })
        .collect()
}

/// The class as it looks after its status for `state` was written and cached.
fn showing(mut observed: ClassObserved, state: &ClassState) -> ClassObserved {
    let decision = decide(&ClassObserved {
        status: StreamClassStatus::default(),
        written: None,
        ..observed.clone()
    });
    for command in decision.commands {
        if let ClassCommand::WriteStatus {
            ready,
            observed_generation,
            ..
        } = command
        {
            observed.status = StreamClassStatus {
                phase: Some(state.phase),
                conditions: Some(vec![*ready]),
                observed_generation,
            };
        }
    }
    observed
}

#[test]
fn every_rule_has_its_row() {
    use ClassReason as R;
    use StreamClassPhase as P;
    let rows: Vec<(&str, ClassObserved, Vec<Act>)> = vec![
        (
            "a served kind starts the stream controller; the state waits for its watch",
            ClassObserved {
                resolution: Resolution::Served(resource()),
                ..class()
            },
            vec![Act::Start],
        ),
        (
            "a kind not served: Pending CrdNotFound",
            ClassObserved {
                resolution: Resolution::NotServed("not served".to_owned()),
                ..class()
            },
            vec![
                Act::Status(P::Pending, R::CrdNotFound),
                Act::Warning(R::CrdNotFound),
            ],
        ),
        (
            "a cluster-scoped kind: Failed UnsupportedScope",
            ClassObserved {
                resolution: Resolution::ClusterScoped("cluster".to_owned()),
                ..class()
            },
            vec![
                Act::Status(P::Failed, R::UnsupportedScope),
                Act::Warning(R::UnsupportedScope),
            ],
        ),
        (
            "discovery failed: Pending DiscoveryFailed",
            ClassObserved {
                resolution: Resolution::Failed("timeout".to_owned()),
                ..class()
            },
            vec![
                Act::Status(P::Pending, R::DiscoveryFailed),
                Act::Warning(R::DiscoveryFailed),
            ],
        ),
        (
            "a changed class: its controller is stopped and started again",
            ClassObserved {
                running: Running::Stale,
                resolution: Resolution::Served(resource()),
                ..class()
            },
            vec![Act::Stop(StopCause::StreamClassChanged), Act::Start],
        ),
        (
            "a running controller whose watch has not listed: nothing yet",
            ClassObserved {
                running: running(false, None),
                ..class()
            },
            vec![],
        ),
        (
            "a running controller whose watch listed: Ready",
            ClassObserved {
                running: running(true, None),
                ..class()
            },
            vec![
                Act::Status(P::Ready, R::StreamControllerStarted),
                Act::Normal(R::StreamClassReady),
            ],
        ),
        (
            "the kind's CRD was deleted: stop, Pending CrdNotFound",
            ClassObserved {
                running: running(true, Some((WatchProblemKind::NotFound, "gone", 0))),
                ..class()
            },
            vec![
                Act::Stop(StopCause::CrdNotFound),
                Act::Status(P::Pending, R::CrdNotFound),
                Act::Warning(R::CrdNotFound),
            ],
        ),
        (
            "RBAC forbids the watch: Failed Forbidden, the controller keeps trying",
            ClassObserved {
                running: running(true, Some((WatchProblemKind::Forbidden, "rbac", 0))),
                ..class()
            },
            vec![Act::Status(P::Failed, R::Forbidden), Act::Warning(R::Forbidden)],
        ),
        (
            "a passing watch failure is not reported before 30 s",
            ClassObserved {
                running: running(true, Some((WatchProblemKind::Other, "503", 29))),
                ..class()
            },
            vec![
                Act::Status(P::Ready, R::StreamControllerStarted),
                Act::Normal(R::StreamClassReady),
            ],
        ),
        (
            "a watch failing for 30 s: Pending WatchFailing",
            ClassObserved {
                running: running(true, Some((WatchProblemKind::Other, "503", 30))),
                ..class()
            },
            vec![
                Act::Status(P::Pending, R::WatchFailing),
                Act::Warning(R::WatchFailing),
            ],
        ),
        (
            "an older class manages the kind: Failed Conflict, nothing started",
            ClassObserved {
                claimed_by: Some("older".to_owned()),
                resolution: Resolution::NotNeeded,
                ..class()
            },
            vec![Act::Status(P::Failed, R::Conflict), Act::Warning(R::Conflict)],
        ),
        (
            "a conflict stops a running controller",
            ClassObserved {
                claimed_by: Some("older".to_owned()),
                running: running(true, None),
                ..class()
            },
            vec![
                Act::Stop(StopCause::Conflict),
                Act::Status(P::Failed, R::Conflict),
                Act::Warning(R::Conflict),
            ],
        ),
        (
            "a class that shows its state already: nothing",
            showing(
                ClassObserved {
                    running: running(true, None),
                    ..class()
                },
                &ready_state(),
            ),
            vec![],
        ),
        (
            "a cache behind our own write of the same state: nothing",
            ClassObserved {
                running: running(true, None),
                written: Some(Written {
                    before: Some("10".to_owned()),
                    generation: Some(1),
                    state: ready_state(),
                }),
                ..class()
            },
            vec![],
        ),
    ];
    let failures: Vec<String> = rows
        .into_iter()
        .filter_map(|(name, observed, expected)| {
            let got = summary(&decide(&observed));
            (got != expected).then(|| format!("{name}:\n  expected {expected:?}\n  got      {got:?}"))
        })
        .collect();
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// A class whose cache still shows the version before our write of the same state is not written
/// again; any newer version, generation or another state is compared as usual.
#[test]
fn own_writes_are_not_repeated_from_a_stale_cache() {
    let ready = ready_state();
    let wrote = |before: &str, generation: i64, state: ClassState| Written {
        before: Some(before.to_owned()),
        generation: Some(generation),
        state,
    };
    let cases = [
        (None, false),
        (Some(wrote("10", 1, ready.clone())), true),
        (Some(wrote("9", 1, ready.clone())), false),
        (Some(wrote("10", 2, ready.clone())), false),
        (Some(wrote("10", 1, conflict("b"))), false),
    ];
    for (written, behind) in cases {
        let observed = ClassObserved {
            written: written.clone(),
            ..class()
        };
        assert_eq!(cache_behind_own_write(&observed, &ready), behind, "{written:?}");
    }
}

/// `lastTransitionTime` moves only when the condition's status does; the message is rewritten.
#[test]
fn the_transition_time_moves_only_with_the_condition_status() {
    let earlier: jiff::Timestamp = "2025-06-01T00:00:00Z".parse().unwrap_or_default();
    let with_ready = |status: &str| StreamClassStatus {
        phase: Some(StreamClassPhase::Pending),
        conditions: Some(vec![Condition {
            type_: "Ready".to_owned(),
            status: status.to_owned(),
            reason: "CrdNotFound".to_owned(),
            message: "old".to_owned(),
            observed_generation: Some(1),
            last_transition_time: Time(earlier),
        }]),
        observed_generation: Some(1),
    };
    let time_written = |status: &str, observed: ClassObserved| {
        decide(&ClassObserved {
            status: with_ready(status),
            ..observed
        })
        .commands
        .into_iter()
        .find_map(|c| match c {
            ClassCommand::WriteStatus { ready, .. } => Some(ready.last_transition_time.0),
            _ => None,
        })
    };
    let failing = ClassObserved {
        running: running(true, Some((WatchProblemKind::Forbidden, "rbac", 0))),
        ..class()
    };
    assert_eq!(time_written("False", failing), Some(earlier));
    let ready = ClassObserved {
        running: running(true, None),
        ..class()
    };
    assert_eq!(time_written("False", ready), Some(now()));
}
