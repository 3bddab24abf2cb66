//! The bare client loop: the minimum API work for the operator's end state, with the same
//! concurrency, against the same sandbox. Per stream, from "created suspended":
//! 1. merge-patch the spec unsuspended (the benchmark does this write for the operator too),
//! 2. create the Job (built by the operator's own builder, so the object is identical),
//! 3. merge-patch the status once (phase Running, Ready condition, observedGeneration, hash).
//!
//! The operator additionally posts one Event per stream (`StreamResumed`, which the contract requires
//! on every phase change) and reads nothing from the API (its caches are fed by watches). For context
//! the loop also runs a second time posting that Event too ([`Extra::Event`]): the same requests as
//! the operator's run, to tell the operator's overhead from the Event's cost.

use std::time::{Duration, Instant};

use arcane_operator::stream::builder::{self, BuildInput, Mode};
use arcane_operator::stream::{ClassInfo, Workload, parse};
use k8s_openapi::api::batch::v1::Job;
use kube::api::{ApiResource, DynamicObject, GroupVersionKind, Patch, PatchParams, PostParams};
use kube::{Api, ResourceExt};
use serde_json::json;

use crate::env::{BARE_NS, Env, StreamRef};
use crate::error::BenchError;

pub(crate) struct BareResult {
    pub streams: usize,
    pub elapsed: Duration,
    pub errors: usize,
}

impl BareResult {
    pub(crate) fn per_sec(&self) -> f64 {
        self.streams as f64 / self.elapsed.as_secs_f64().max(1e-9)
    }
}

/// What the loop does besides the minimum.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Extra {
    Nothing,
    /// Also post the `StreamResumed` Event the operator posts.
    Event,
}

/// Creates the streams (untimed), then times the loop over them.
pub(crate) async fn run(
    env: &Env,
    streams: &[StreamRef],
    workers: usize,
    extra: Extra,
) -> Result<BareResult, BenchError> {
    env.create_streams(BARE_NS, streams, true, workers).await?;
    let start = Instant::now();
    let results = crate::env::for_each_stream(streams, workers, |s| one(env, s, extra)).await;
    let elapsed = start.elapsed();
    let errors: Vec<BenchError> = results.into_iter().filter_map(Result::err).collect();
    if let Some(first) = errors.first() {
        eprintln!("bare loop: {} errors, first: {first}", errors.len());
    }
    Ok(BareResult {
        streams: streams.len() - errors.len(),
        elapsed,
        errors: errors.len(),
    })
}

async fn one(env: &Env, stream: &StreamRef, extra: Extra) -> Result<(), BenchError> {
    let class = env.class(stream);
    let api = class.api(&env.client, BARE_NS);
    let obj = api
        .patch(
            &stream.name,
            &PatchParams::default(),
            &Patch::Merge(class.suspend_patch(false)),
        )
        .await?;
    let identity = parse::identity(&obj);
    let definition = parse::parse(&obj, &class.secret_refs)
        .map_err(|e| BenchError::Setup(format!("bare stream {} does not parse: {e}", stream.name)))?;
    let info = ClassInfo {
        name: class.name.clone(),
        secret_refs: class.secret_refs.clone(),
    };
    let input = BuildInput {
        identity: &identity,
        definition: &definition,
        class: &info,
        template: &env.streaming_template,
        mode: Mode::Streaming,
        restarts: 0,
    };
    let Workload::Job(job) = builder::build(&input)? else {
        return Err(BenchError::Setup("a Job-backend stream built a CronJob".into()));
    };
    let jobs: Api<Job> = Api::namespaced(env.client.clone(), BARE_NS);
    jobs.create(&PostParams::default(), &job).await?;
    let status = json!({
        "metadata": {"uid": obj.uid()},
        "status": {
            "phase": "Running",
            "conditions": [{
                "type": "Ready", "status": "True", "reason": "StreamRunning",
                "message": "The stream is running.", "observedGeneration": identity.generation,
                "lastTransitionTime": jiff::Timestamp::now().to_string(),
            }],
            "observedGeneration": identity.generation,
            "configurationHash": builder::configuration_hash(&input),
        }
    });
    api.patch_status(&stream.name, &PatchParams::default(), &Patch::Merge(&status))
        .await?;
    if extra == Extra::Event {
        let now = jiff::Timestamp::now();
        let event = json!({
            "apiVersion": "events.k8s.io/v1",
            "kind": "Event",
            "metadata": {"name": format!("{}.{:x}", stream.name, now.as_nanosecond()), "namespace": BARE_NS},
            "eventTime": now.to_string(),
            "action": "Reconcile",
            "reason": "StreamResumed",
            "note": "The stream was resumed",
            "type": "Normal",
            "regarding": {"apiVersion": obj.types.as_ref().map(|t| t.api_version.clone()),
                          "kind": obj.types.as_ref().map(|t| t.kind.clone()),
                          "namespace": BARE_NS, "name": stream.name, "uid": obj.uid()},
            "reportingController": "arcane-bench",
            "reportingInstance": "arcane-bench",
        });
        let events: Api<DynamicObject> = Api::namespaced_with(
            env.client.clone(),
            BARE_NS,
            &ApiResource::from_gvk(&GroupVersionKind::gvk("events.k8s.io", "v1", "Event")),
        );
        let event: DynamicObject = serde_json::from_value(event)?;
        events.create(&PostParams::default(), &event).await?;
    }
    Ok(())
}
