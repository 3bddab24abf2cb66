//! L2 (batched unsuspend), L4 (churn), L5 (hot object) and L6 (backfills).

use std::sync::Arc;
use std::time::{Duration, Instant};

use arcane_operator::crd::BackfillRequest;
use kube::Api;
use kube::api::{Patch, PatchParams, PostParams};
use serde_json::{Value, json};
use tokio::sync::Semaphore;

use crate::env::{self, NS, StreamRef};
use crate::error::BenchError;
use crate::report::percentile;
use crate::run::Bench;

/// L2: a fresh population created suspended, then unsuspended in batches; per-batch convergence.
pub(crate) async fn l2(bench: &mut Bench) -> Result<(), BenchError> {
    let sizes = bench.sizes.clone();
    let streams = env::streams("l2", sizes.l2_streams, sizes.classes);
    eprintln!(
        "[L2] {} streams created suspended, unsuspended in batches of {}",
        streams.len(),
        sizes.batch
    );
    bench
        .env
        .create_streams(NS, &streams, true, sizes.workers())
        .await?;
    bench
        .wait_phase(&streams, "Suspended", "L2 streams Suspended")
        .await?;
    let mut batch_secs = Vec::new();
    for batch in streams.chunks(sizes.batch) {
        let t0 = Instant::now();
        bench.env.set_suspended(batch, false, sizes.workers()).await?;
        bench.wait_running(batch, "an L2 batch Running").await?;
        batch_secs.push(t0.elapsed().as_secs_f64());
        bench.sample_memory();
    }
    let worst = batch_secs.iter().copied().fold(0.0, f64::max);
    let mean = batch_secs.iter().sum::<f64>() / batch_secs.len().max(1) as f64;
    bench.report.row(
        "L2",
        &format!(
            "{} batches of {}: slowest / mean convergence",
            batch_secs.len(),
            sizes.batch
        ),
        format!("{worst:.2}s / {mean:.2}s"),
        "≤ 60 s each",
        Some(worst <= 60.0),
    );
    let mut ms = bench.latencies_ms(&streams);
    let (p50, p99) = (percentile(&mut ms, 50.0), percentile(&mut ms, 99.0));
    bench.report.row(
        "L2",
        "latency under batches p50 / p99",
        format!("{p50:.1} / {p99:.1} ms"),
        "",
        None,
    );
    bench.check_alive()
}

/// Whether the operator has caught up with the stream's latest generation: status observed it, the
/// stream is Running and its Job was built from it.
fn caught_up(bench: &Bench, stream: &StreamRef) -> bool {
    let Some(obj) = bench.env.stored_stream(stream) else {
        return false;
    };
    let generation = obj.pointer("/metadata/generation").and_then(Value::as_i64);
    // The plugin's CRD prunes `status.observedGeneration`; the Ready condition keeps its own.
    let observed = obj
        .pointer("/status/conditions")
        .and_then(Value::as_array)
        .and_then(|cs| cs.iter().find(|c| c["type"] == "Ready"))
        .and_then(|c| c.get("observedGeneration"))
        .and_then(Value::as_i64);
    let running = obj.pointer("/status/phase").and_then(Value::as_str) == Some("Running");
    let job_generation = bench.env.stored_job(&stream.name).and_then(|j| {
        j.pointer("/metadata/annotations")
            .and_then(|a| a.get("arcane/stream-generation"))
            .and_then(Value::as_str)
            .and_then(|g| g.parse::<i64>().ok())
    });
    generation.is_some() && observed == generation && running && job_generation == generation
}

fn job_creates(bench: &Bench, streams: &[StreamRef]) -> u32 {
    let state = bench.env.tracker.state();
    streams
        .iter()
        .map(|s| state.job_adds.get(&s.name).copied().unwrap_or(0))
        .sum()
}

/// Sends `count` spec edits to `streams` (round-robin) at `rate` per second, `workers` in flight.
async fn edit_paced(
    bench: &Bench,
    streams: &[StreamRef],
    count: usize,
    rate: f64,
    workers: usize,
) -> (usize, Duration) {
    let semaphore = Arc::new(Semaphore::new(workers.max(1)));
    let interval = Duration::from_secs_f64(1.0 / rate);
    let mut tick = tokio::time::interval(interval);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Burst);
    let start = Instant::now();
    let mut tasks = Vec::with_capacity(count);
    for i in 0..count {
        tick.tick().await;
        let stream = &streams[i % streams.len()];
        let api = bench.env.class(stream).api(&bench.env.client, NS);
        // Spawned, so an edit in flight makes progress while the next one waits for a permit.
        let Ok(permit) = semaphore.clone().acquire_owned().await else {
            break;
        };
        let name = stream.name.clone();
        tasks.push(tokio::spawn(async move {
            let _permit = permit;
            let patch = json!({"spec": {"benchRevision": i}});
            api.patch(&name, &PatchParams::default(), &Patch::Merge(&patch))
                .await
                .is_err()
        }));
    }
    let mut failed = 0;
    for task in tasks {
        failed += usize::from(task.await.unwrap_or(true));
    }
    (failed, start.elapsed())
}

/// L4: spec edits at a fixed rate over a subset for a bounded time; drain time and replacements.
pub(crate) async fn l4(bench: &mut Bench) -> Result<(), BenchError> {
    let sizes = bench.sizes.clone();
    let subset: Vec<StreamRef> = bench.main[..sizes.churn_streams].to_vec();
    let edits = (sizes.churn_rate * sizes.churn_secs).round() as usize;
    eprintln!(
        "[L4] {edits} edits at {}/s over {} streams",
        sizes.churn_rate,
        subset.len()
    );
    let before = job_creates(bench, &subset);
    let (failed, took) = edit_paced(bench, &subset, edits, sizes.churn_rate, sizes.workers()).await;
    let drain = env::wait_until(
        "L4 streams caught up",
        bench.timeout(),
        Duration::from_millis(50),
        || subset.iter().all(|s| caught_up(bench, s)),
    )
    .await?;
    bench.sample_memory();
    let replacements = job_creates(bench, &subset) - before;
    let edited = edits.min(subset.len());
    bench.report.row(
        "L4",
        &format!(
            "{edits} edits in {:.1}s over {} streams ({failed} failed)",
            took.as_secs_f64(),
            subset.len()
        ),
        format!("{replacements} Job replacements"),
        &format!("≤ {edits} (one per edit at most)"),
        Some(replacements as usize <= edits && replacements as usize >= edited.min(1)),
    );
    bench.report.row(
        "L4",
        "queue drained after the last edit",
        format!("{:.2}s", drain.as_secs_f64()),
        "≤ 30 s",
        Some(drain.as_secs_f64() <= 30.0),
    );
    bench.check_alive()
}

/// L5: many updates to one stream in a short time: Job replacements, final Job up to date.
pub(crate) async fn l5(bench: &mut Bench) -> Result<(), BenchError> {
    let sizes = bench.sizes.clone();
    let hot = bench.main[sizes.churn_streams.min(bench.main.len() - 1)].clone();
    let rate = sizes.hot_updates as f64 / sizes.hot_secs.max(0.1);
    eprintln!(
        "[L5] {} updates to {} in {:.0}s",
        sizes.hot_updates, hot.name, sizes.hot_secs
    );
    let one = std::slice::from_ref(&hot);
    let before = job_creates(bench, one);
    // One writer: a user hammering one object does not send overlapping writes.
    let (failed, took) = edit_paced(bench, one, sizes.hot_updates, rate, 1).await;
    let drain = env::wait_until(
        "the hot stream caught up",
        bench.timeout(),
        Duration::from_millis(20),
        || caught_up(bench, &hot),
    )
    .await?;
    let replacements = job_creates(bench, one) - before;
    bench.report.row(
        "L5",
        &format!(
            "{} updates in {:.1}s to one stream ({failed} failed)",
            sizes.hot_updates,
            took.as_secs_f64()
        ),
        format!("{replacements} Job replacements"),
        "≤ 20",
        Some(replacements <= 20),
    );
    bench.report.row(
        "L5",
        "final Job built from the last generation",
        format!("yes, {:.2}s after the last update", drain.as_secs_f64()),
        "",
        Some(true),
    );
    bench.check_alive()
}

/// L6: one BackfillRequest for each of M running streams, backfill Jobs succeeding after a fixed
/// time: every request completed exactly once, never before its Job succeeded; streams back to Running.
pub(crate) async fn l6(bench: &mut Bench) -> Result<(), BenchError> {
    let sizes = bench.sizes.clone();
    let targets: Vec<StreamRef> = bench.main[bench.main.len() - sizes.backfills..].to_vec();
    eprintln!("[L6] {} BackfillRequests", targets.len());
    let api: Api<BackfillRequest> = Api::namespaced(bench.env.client.clone(), NS);
    let t0 = Instant::now();
    let results = env::for_each_stream(&targets, sizes.workers(), |s| {
        let api = api.clone();
        let class = bench.env.class(s).name.clone();
        async move {
            let request: BackfillRequest = serde_json::from_value(json!({
                "apiVersion": "streaming.sneaksanddata.com/v1",
                "kind": "BackfillRequest",
                "metadata": {"name": format!("bf-{}", s.name), "namespace": NS},
                "spec": {"streamClass": class, "streamId": s.name},
            }))?;
            api.create(&PostParams::default(), &request).await?;
            Ok(())
        }
    })
    .await;
    results.into_iter().collect::<Result<Vec<()>, _>>()?;
    let names: Vec<String> = targets.iter().map(|s| format!("bf-{}", s.name)).collect();
    let completed = env::wait_until(
        "every BackfillRequest completed",
        bench.timeout(),
        Duration::from_millis(50),
        || {
            let state = bench.env.tracker.state();
            names.iter().all(|n| state.invariants.request_completed(n))
        },
    )
    .await;
    let all_done = t0.elapsed();
    let back = env::wait_until(
        "backfilled streams Running again",
        bench.timeout(),
        Duration::from_millis(50),
        || {
            targets.iter().all(|s| {
                bench
                    .env
                    .stored_stream(s)
                    .and_then(|o| o.pointer("/status/phase").cloned())
                    == Some(json!("Running"))
                    && bench.env.stored_job(&s.name).is_some_and(|j| {
                        j.pointer("/metadata/annotations/arcane~1backfill-request")
                            .is_none()
                    })
            })
        },
    )
    .await;
    bench.sample_memory();
    let state = bench.env.tracker.state();
    let done = names
        .iter()
        .filter(|n| state.invariants.request_completed(n))
        .count();
    let not_once = names
        .iter()
        .filter(|n| state.backfill_job_adds.get(*n).copied().unwrap_or(0) != 1)
        .count();
    let early = names
        .iter()
        .filter(|n| state.invariants.request_completed(n) && !state.invariants.backfill_succeeded(n))
        .count();
    drop(state);
    bench.report.row(
        "L6",
        &format!("BackfillRequests completed ({} ms Jobs)", sizes.backfill_ms),
        format!("{done}/{} in {:.2}s", names.len(), all_done.as_secs_f64()),
        "all",
        Some(completed.is_ok() && done == names.len()),
    );
    bench.report.row(
        "L6",
        "requests without exactly one backfill Job",
        not_once.to_string(),
        "0",
        Some(not_once == 0),
    );
    bench.report.row(
        "L6",
        "requests completed without their Job succeeding",
        early.to_string(),
        "0",
        Some(early == 0),
    );
    bench.report.row(
        "L6",
        "streams back to Running with their streaming Job",
        match &back {
            Ok(d) => format!("yes, {:.2}s after the last completion", d.as_secs_f64()),
            Err(e) => e.to_string(),
        },
        "",
        Some(back.is_ok()),
    );
    bench.check_alive()
}
