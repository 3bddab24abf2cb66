//! Every command carries why it is given, as a type: metrics and handlers read the cause or the
//! purpose, never an Event's reason or a generated name.

use crate::stream::model::{Command, DeleteCause, Phase, RequestPurpose};

use super::support::{NAME, Scenario};

fn delete_cause(scenario: Scenario) -> Option<DeleteCause> {
    scenario.decide().commands.into_iter().find_map(|c| match c {
        Command::DeleteWorkload { cause, .. } => Some(cause),
        _ => None,
    })
}

#[test]
fn each_delete_says_why() {
    let rows = [
        (
            "configuration changed",
            Scenario::job()
                .phase(Phase::Running)
                .streaming_workload()
                .stale_hash(),
            DeleteCause::Replace,
        ),
        (
            "backend switched",
            Scenario::job().phase(Phase::Running).other_backend_workload(),
            DeleteCause::BackendSwitch,
        ),
        (
            "suspended",
            Scenario::job()
                .suspended()
                .phase(Phase::Running)
                .streaming_workload(),
            DeleteCause::Suspend,
        ),
        (
            "a backfill requested",
            Scenario::job()
                .phase(Phase::Running)
                .streaming_workload()
                .request("bf", 10),
            DeleteCause::MakeWayForBackfill,
        ),
        (
            "the backfill's request is gone",
            Scenario::job()
                .phase(Phase::Backfilling)
                .backfill_workload("gone"),
            DeleteCause::BackfillDone,
        ),
    ];
    for (name, scenario, expected) in rows {
        assert_eq!(delete_cause(scenario), Some(expected), "{name}");
        assert_eq!(
            expected.replaces(),
            matches!(expected, DeleteCause::Replace | DeleteCause::BackendSwitch)
        );
    }
}

#[test]
fn a_new_request_says_what_it_is_for() {
    let purpose = |scenario: Scenario| {
        scenario.decide().commands.into_iter().find_map(|c| match c {
            Command::CreateBackfillRequest { request, purpose } => Some((request, purpose)),
            _ => None,
        })
    };
    let (request, initial) = purpose(Scenario::job()).expect("an initial request");
    assert_eq!(initial, RequestPurpose::Initial);
    assert_eq!(
        request.metadata.generate_name.as_deref(),
        Some(format!("{NAME}-initial-backfill-").as_str())
    );
    let (_, reload) =
        purpose(Scenario::job().phase(Phase::Running).reload_requested()).expect("a reload request");
    assert_eq!(reload, RequestPurpose::Reload);
}
