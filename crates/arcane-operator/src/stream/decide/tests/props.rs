//! Properties over arbitrary observed states.
//!
//! Exact one-step idempotency cannot hold: replacing a workload is "delete, wait for it to go,
//! create", three decisions by design. What holds, and is checked here, is: deciding is
//! deterministic; deciding and applying the commands (with [`World`]) reaches, within 6 steps, a
//! state where `decide` returns no command, and stays there; and every single decision is safe
//! (never creates over an existing workload, never deletes one already going, completes a request
//! only for its own finished backfill Job, publishes Events only alongside a write).

use proptest::prelude::*;
use serde_json::{Value, json};

use crate::stream::fixtures;
use crate::stream::model::{
    ANNOTATION_BACKFILL_REQUEST, Command, Decision, Observed, Phase, StreamStatus, Workload,
};
use crate::stream::parse;

use super::super::decide;
use super::super::reasons::ready;
use super::sim::World;
use super::support::{Scenario, meta, template};

const MAX_STEPS: usize = 6;

fn config() -> ProptestConfig {
    ProptestConfig {
        cases: 256,
        ..ProptestConfig::default()
    }
}

#[derive(Debug, Clone)]
struct RequestSeed {
    age: i64,
    completed: bool,
    foreign: bool,
    rejected: bool,
    deleting: bool,
}

fn request_seed() -> impl Strategy<Value = RequestSeed> {
    (
        0i64..1000,
        any::<bool>(),
        prop::bool::weighted(0.2),
        prop::bool::weighted(0.2),
        prop::bool::weighted(0.1),
    )
        .prop_map(|(age, completed, foreign, rejected, deleting)| RequestSeed {
            age,
            completed,
            foreign,
            rejected,
            deleting,
        })
}

#[derive(Debug, Clone)]
struct WorkloadSeed {
    /// 0 none, 1 streaming, 2 backfill for the first request, 3 backfill for a gone request,
    /// 4 the other backend's workload.
    shape: u8,
    stale: bool,
    /// 0 running, 1 complete, 2 failed.
    state: u8,
    deleting: bool,
    generation: Option<i64>,
    restarts: u32,
    completed_ago: i64,
    ran: i64,
}

fn workload_seed() -> impl Strategy<Value = WorkloadSeed> {
    (
        0u8..5,
        any::<bool>(),
        0u8..3,
        prop::bool::weighted(0.2),
        prop::option::of(0i64..4),
        0u32..8,
        0i64..400,
        0i64..1200,
    )
        .prop_map(
            |(shape, stale, state, deleting, generation, restarts, completed_ago, ran)| WorkloadSeed {
                shape,
                stale,
                state,
                deleting,
                generation,
                restarts,
                completed_ago,
                ran,
            },
        )
}

const PHASES: [Option<&str>; 10] = [
    None,
    Some(""),
    Some("RUNNING"),
    Some("Pending"),
    Some("Running"),
    Some("Scheduled"),
    Some("Backfilling"),
    Some("Suspended"),
    Some("Failed"),
    Some("Failed"),
];

const REASONS: [&str; 6] = [
    ready::CRASH_LOOP_DETECTED.as_str(),
    ready::STREAM_RUNNING.as_str(),
    ready::STREAM_PENDING.as_str(),
    ready::STREAM_RESTARTING.as_str(),
    ready::INVALID_SPEC.as_str(),
    "Whatever",
];

#[derive(Debug, Clone)]
struct StateSeed {
    cron: bool,
    suspended: bool,
    backfill_ref: bool,
    reload: bool,
    invalid: bool,
    phase: usize,
    ready: Option<(bool, usize, Option<i64>, u8)>,
    generation: i64,
    status_restarts: Option<u32>,
    templates: (bool, bool, bool),
    workload: WorkloadSeed,
    requests: Vec<RequestSeed>,
    prune: bool,
}

fn state_seed() -> impl Strategy<Value = StateSeed> {
    (
        (
            any::<bool>(),
            prop::bool::weighted(0.3),
            prop::bool::weighted(0.85),
            prop::bool::weighted(0.2),
            prop::bool::weighted(0.1),
        ),
        (
            0..PHASES.len(),
            prop::option::of((
                any::<bool>(),
                0..REASONS.len(),
                prop::option::of(0i64..4),
                0u8..12,
            )),
        ),
        (1i64..4, prop::option::of(0u32..8)),
        (
            prop::bool::weighted(0.9),
            prop::bool::weighted(0.9),
            prop::bool::weighted(0.1),
        ),
        workload_seed(),
        prop::collection::vec(request_seed(), 0..4),
        any::<bool>(),
    )
        .prop_map(
            |(
                (cron, suspended, backfill_ref, reload, invalid),
                (phase, ready),
                (generation, status_restarts),
                templates,
                workload,
                requests,
                prune,
            )| {
                StateSeed {
                    cron,
                    suspended,
                    backfill_ref,
                    reload,
                    invalid,
                    phase,
                    ready,
                    generation,
                    status_restarts,
                    templates,
                    workload,
                    requests,
                    prune,
                }
            },
        )
}

fn scenario(seed: &StateSeed) -> Scenario {
    let mut s = if seed.cron {
        Scenario::cron()
    } else {
        Scenario::job()
    };
    for (i, r) in seed.requests.iter().enumerate() {
        s = s.request_with(&format!("req-{i}"), |req| {
            req.metadata.creation_timestamp = Some(k8s_openapi::apimachinery::pkg::apis::meta::v1::Time(
                super::support::at(-r.age),
            ));
            req.spec.completed = r.completed;
            if r.foreign {
                req.spec.stream_class = "other".into();
            }
            if r.rejected {
                req.status = Some(crate::crd::BackfillRequestStatus {
                    phase: Some(crate::crd::StreamClassPhase::Failed),
                    conditions: None,
                });
            }
            if r.deleting {
                req.metadata.deletion_timestamp = Some(k8s_openapi::apimachinery::pkg::apis::meta::v1::Time(
                    super::support::now(),
                ));
            }
        });
    }
    let w = &seed.workload;
    s = match w.shape {
        1 => s.streaming_workload(),
        2 if !seed.requests.is_empty() => s.backfill_workload("req-0"),
        2 | 3 => s.backfill_workload("gone"),
        4 => s.other_backend_workload(),
        _ => s,
    };
    if s.observed.workload.is_some() {
        if w.stale {
            s = s.stale_hash();
        }
        if let Some(generation) = w.generation {
            s = s.workload_generation(generation);
        }
        s = s.workload_restarts(w.restarts);
        let is_job = matches!(s.observed.workload, Some(Workload::Job(_)));
        if is_job && w.state == 1 {
            s = s.completed(w.completed_ago, w.ran);
        } else if is_job && w.state == 2 {
            s = s.failed("BackoffLimitExceeded", "boom");
        }
        if w.deleting {
            s = s.deleting();
        }
    }
    if seed.suspended {
        s = s.suspended();
    }
    if seed.reload {
        s = s.reload_requested();
    }
    if !seed.backfill_ref {
        s = s.no_backfill_template_ref();
    }
    let (streaming, backfill, broken) = seed.templates;
    if !streaming {
        s = s.no_streaming_template();
    }
    if !backfill {
        s = s.no_backfill_template();
    }
    if broken {
        s = s.broken_streaming_template();
    }
    if let Some(phase) = PHASES[seed.phase] {
        s = s.raw_phase(phase);
    }
    if let Some((status, reason, generation, message)) = seed.ready {
        let status = if status { "True" } else { "False" };
        let message = format!("{}{message}.", super::super::streaming::RESTARTING_PREFIX);
        s = s.ready(status, REASONS[reason], &message, generation);
    }
    s.observed.status.restarts = seed.status_restarts;
    s = s.generation(seed.generation);
    if seed.invalid {
        s = s.invalid("spec.execution");
    }
    s
}

/// Single-decision safety: what every decision must respect, whatever the state.
fn check_safety(observed: &Observed, decision: &Decision) -> Result<(), TestCaseError> {
    let workload = observed.workload.as_ref();
    let wrote = decision
        .commands
        .iter()
        .any(|c| !matches!(c, Command::PublishEvent(_)));
    for command in &decision.commands {
        match command {
            Command::CreateWorkload(_) => {
                prop_assert!(workload.is_none(), "create over an existing workload");
            }
            Command::DeleteWorkload { uid, .. } => {
                let w = workload.map(meta);
                prop_assert!(
                    w.is_some_and(|m| m.deletion_timestamp.is_none()),
                    "delete of an absent or deleting workload"
                );
                prop_assert_eq!(w.and_then(|m| m.uid.as_deref()), Some(uid.as_str()));
            }
            Command::CompleteBackfillRequest { name, .. } => {
                let Some(Workload::Job(job)) = workload else {
                    return Err(TestCaseError::fail("completion without a Job"));
                };
                let annotated = job
                    .metadata
                    .annotations
                    .as_ref()
                    .and_then(|a| a.get(ANNOTATION_BACKFILL_REQUEST));
                prop_assert_eq!(annotated, Some(name), "completion by another request's Job");
                let complete = job
                    .status
                    .as_ref()
                    .and_then(|s| s.conditions.as_ref())
                    .is_some_and(|cs| cs.iter().any(|c| c.type_ == "Complete" && c.status == "True"));
                prop_assert!(complete, "completion by an unfinished Job");
            }
            Command::PublishEvent(_) => prop_assert!(wrote, "an Event without any write"),
            _ => {}
        }
    }
    Ok(())
}

fn check_converges(observed: Observed, prune: bool) -> Result<(), TestCaseError> {
    let mut world = World::new(observed, prune);
    let steps = world.converge_with(MAX_STEPS, |observed, decision| {
        check_safety(observed, decision)?;
        prop_assert_eq!(decision, &decide(observed), "deciding twice differs");
        Ok(())
    })?;
    prop_assert!(
        steps.is_some(),
        "no fixed point within {} steps: {:#?}",
        MAX_STEPS,
        world.observed.status
    );
    Ok(())
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn converges_from_arbitrary_states(seed in state_seed()) {
        let scenario = scenario(&seed);
        check_converges(scenario.observed, seed.prune)?;
    }

    #[test]
    fn arbitrary_definitions_never_panic_and_converge(
        base in 0usize..5,
        edits in prop::collection::vec((0..PATHS.len(), leaf()), 0..5),
        whole_spec in prop::option::weighted(0.15, json_value()),
        status in prop::option::of(0..PHASES.len()),
    ) {
        let mut value = match base {
            0 => fixtures::stream_v0(super::support::NAME, false),
            1 => fixtures::stream_v1_job(super::support::NAME, false),
            2 => fixtures::stream_v1_cron(super::support::NAME, false, fixtures::SCHEDULE),
            3 => fixtures::stream_v2_job(super::support::NAME, false),
            _ => fixtures::stream_v2_cron(super::support::NAME, false, fixtures::SCHEDULE),
        };
        for (path, leaf) in edits {
            fixtures::set_path(&mut value, PATHS[path], leaf);
        }
        if let Some(spec) = whole_spec {
            fixtures::set_path(&mut value, &["spec"], spec);
        }
        let object = fixtures::dynamic(value);
        let definition = parse::parse(&object, &fixtures::secret_ref_fields());
        let lookup = |r: &crate::stream::model::TemplateRef| {
            let known = [fixtures::STREAMING_TEMPLATE, fixtures::BATCH_TEMPLATE, fixtures::BACKFILL_TEMPLATE];
            (r.namespace == fixtures::NAMESPACE && known.contains(&r.name.as_str())).then(|| std::sync::Arc::new(template(&r.name)))
        };
        let observed = Observed {
            now: super::support::now(),
            class: Scenario::job().observed.class,
            identity: parse::identity(&object),
            streaming_template: definition.as_ref().ok().and_then(|d| lookup(&d.streaming_template)),
            backfill_template: definition.as_ref().ok().and_then(|d| d.backfill_template.as_ref()).and_then(lookup),
            definition,
            status: StreamStatus { phase: status.and_then(|i| PHASES[i]).map(str::to_owned), ..StreamStatus::default() },
            workload: None,
            backfill_requests: Vec::new(),
            remembered: Default::default(),
        };
        check_converges(observed, false)?;
    }
}

const PATHS: [&[&str]; 14] = [
    &["spec", "suspended"],
    &["spec", "jobTemplateRef"],
    &["spec", "jobTemplateRef", "name"],
    &["spec", "backfillJobTemplateRef", "namespace"],
    &["spec", "execution"],
    &["spec", "execution", "layoutVersion"],
    &["spec", "execution", "suspended"],
    &["spec", "execution", "streamingBackend"],
    &["spec", "execution", "streamingBackend", "batch", "schedule"],
    &[
        "spec",
        "execution",
        "streamingBackend",
        "changeCapture",
        "jobTemplateRef",
    ],
    &["spec", "execution", "backfillJobTemplateRef", "name"],
    &["spec", "secretRef"],
    &["metadata", "annotations", "arcane/state"],
    &["metadata", "generation"],
];

fn leaf() -> impl Strategy<Value = Value> {
    prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        (-2i64..3).prop_map(Value::from),
        prop::sample::select(vec![
            "",
            "v1",
            "v2",
            "v9",
            "x",
            "suspended",
            "reload-requested",
            "* * * * *"
        ])
        .prop_map(Value::from),
        Just(json!({})),
        Just(json!([])),
        Just(json!({"name": fixtures::BACKFILL_TEMPLATE})),
        Just(json!({"name": fixtures::STREAMING_TEMPLATE, "namespace": fixtures::NAMESPACE})),
        Just(json!({"changeCapture": {"jobTemplateRef": {"name": fixtures::STREAMING_TEMPLATE}}})),
    ]
}

fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        "[a-z]{0,6}".prop_map(Value::from),
    ];
    leaf.prop_recursive(3, 24, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::from),
            prop::collection::btree_map("[a-zA-Z]{1,8}", inner, 0..4)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

#[test]
fn failed_phase_written_by_this_operator_is_reached_and_kept() {
    // A sanity anchor for the simulator: a failed Job ends in Failed, and stays.
    let s = Scenario::job()
        .phase(Phase::Running)
        .streaming_workload()
        .failed("x", "y");
    let mut world = World::new(s.observed, false);
    assert_eq!(world.converge(MAX_STEPS), Some(1));
    assert_eq!(world.observed.status.phase.as_deref(), Some("Failed"));
}
