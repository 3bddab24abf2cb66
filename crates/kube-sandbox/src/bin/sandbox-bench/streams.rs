//! `--streams N`: the sandbox's memory with N stream-like custom resources, each with its Job (run to completion
//! by the Job simulator), a status write and an Event, as the operator's benchmark leaves it; reports VmRSS and
//! bytes per stored object.

use std::time::{Duration, Instant};

use futures::StreamExt;
use kube_sandbox::{Gvr, Sandbox, SandboxConfig};
use serde_json::json;

use super::{BenchError, namespace, peak_rss_kib, rss_kib, send};

const CRD: &str = r#"{"apiVersion":"apiextensions.k8s.io/v1","kind":"CustomResourceDefinition",
 "metadata":{"name":"streams.bench.example.com"},
 "spec":{"group":"bench.example.com","scope":"Namespaced","names":{"plural":"streams","singular":"stream","kind":"Stream"},
  "versions":[{"name":"v1","served":true,"storage":true,"subresources":{"status":{}},
   "schema":{"openAPIV3Schema":{"type":"object","x-kubernetes-preserve-unknown-fields":true}}}]}}"#;

fn stream(i: usize) -> Vec<u8> {
    json!({"apiVersion": "bench.example.com/v1", "kind": "Stream",
        "metadata": {"name": format!("stream-{i}"), "labels": {"app.kubernetes.io/managed-by": "bench", "class": "mock"}},
        "spec": {"streamClass": "mock-stream-class", "jobTemplateRef": {"name": "standard-job", "kind": "StreamingJobTemplate"},
                 "suspended": false, "backfillRequest": null, "settings": {"source": format!("kafka://topic-{i}"),
                 "sink": format!("s3://bucket/stream-{i}"), "batchSize": 1000, "parallelism": 2}}})
    .to_string()
    .into_bytes()
}

fn job(i: usize) -> Vec<u8> {
    json!({"apiVersion": "batch/v1", "kind": "Job",
        "metadata": {"name": format!("stream-{i}"), "labels": {"arcane/stream": format!("stream-{i}"), "arcane/kind": "Stream"},
            "annotations": {"arcane/config-hash": "5f1d7c3a9e8b4d2f", "sandbox.arcane.dev/after": "100ms"}},
        "spec": {"backoffLimit": 3, "template": {"metadata": {"labels": {"arcane/stream": format!("stream-{i}")}},
            "spec": {"restartPolicy": "Never", "serviceAccountName": "arcane-stream-runner",
                "containers": [{"name": "stream", "image": "ghcr.io/example/stream-runner:1.4.2",
                    "args": ["--stream", format!("stream-{i}"), "--mode", "streaming"],
                    "env": [{"name": "STREAM_NAME", "value": format!("stream-{i}")}, {"name": "STREAM_KIND", "value": "Stream"},
                            {"name": "SPARK_CONF", "value": "spark.executor.memory=2g"}],
                    "resources": {"requests": {"cpu": "500m", "memory": "1Gi"}, "limits": {"memory": "2Gi"}}}]}}}})
    .to_string()
    .into_bytes()
}

fn event(i: usize) -> Vec<u8> {
    json!({"apiVersion": "events.k8s.io/v1", "kind": "Event",
        "metadata": {"name": format!("stream-{i}.17f0a1b2c3d4e5f6")},
        "eventTime": "2026-01-01T00:00:00.000000Z", "reportingController": "arcane-operator", "reportingInstance": "arcane-operator-0",
        "action": "Reconcile", "reason": "JobCreated", "type": "Normal", "note": format!("created Job stream-{i}"),
        "regarding": {"apiVersion": "bench.example.com/v1", "kind": "Stream", "name": format!("stream-{i}"), "namespace": "streams"}})
    .to_string()
    .into_bytes()
}

/// Runs the measurement and prints one JSON line.
pub(crate) async fn run(n: usize, clients: usize, history: Option<usize>) -> Result<(), BenchError> {
    let mut config = SandboxConfig::default();
    if let Some(h) = history {
        config.store.history_per_type = h;
    }
    if let Some(b) = std::env::var("SANDBOX_BENCH_BUFFER")
        .ok()
        .and_then(|b| b.parse().ok())
    {
        config.store.watch_buffer = b;
        config.store.event_buffer = b;
    }
    config.controllers.job_after = Duration::from_millis(100);
    let sandbox = Sandbox::start(config).await?;
    let client = sandbox.client()?;
    namespace(&client, "streams").await?;
    send(
        &client,
        "POST",
        "/apis/apiextensions.k8s.io/v1/customresourcedefinitions",
        "application/json",
        CRD.as_bytes().to_vec(),
    )
    .await?;
    let streams = Gvr::new("bench.example.com", "v1", "streams");
    let deadline = Instant::now() + Duration::from_secs(10);
    while sandbox.store().info(&streams).is_none() && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    tokio::time::sleep(Duration::from_millis(200)).await;
    let rss_start = rss_kib();
    let started = Instant::now();
    let results = futures::stream::iter(0..n)
        .map(|i| {
            let client = client.clone();
            async move {
                let ns = "/apis/bench.example.com/v1/namespaces/streams/streams";
                send(&client, "POST", ns, "application/json", stream(i)).await?;
                send(&client, "POST", "/apis/batch/v1/namespaces/streams/jobs", "application/json", job(i)).await?;
                let status = json!({"status": {"phase": "Running", "jobName": format!("stream-{i}"),
                    "conditions": [{"type": "Ready", "status": "True", "reason": "JobRunning", "lastTransitionTime": "2026-01-01T00:00:00Z"}]}});
                send(&client, "PATCH", &format!("{ns}/stream-{i}/status"), "application/merge-patch+json",
                    status.to_string().into_bytes()).await?;
                send(&client, "POST", "/apis/events.k8s.io/v1/namespaces/streams/events", "application/json", event(i)).await
            }
        })
        .buffer_unordered(clients.max(1))
        .collect::<Vec<_>>()
        .await;
    results.into_iter().collect::<Result<Vec<()>, _>>()?;
    let jobs = Gvr::new("batch", "v1", "jobs");
    // Searched in the stored bytes: parsing 100,000 Jobs every poll would itself inflate the RSS measured.
    let done = |s: &Sandbox| {
        s.store()
            .list_stored(&jobs, Some("streams"))
            .0
            .iter()
            .filter(|j| j.bytes().windows(16).any(|w| w == b"\"completionTime\""))
            .count()
    };
    // The end state: every Job complete and every Event mirrored into core/v1 (the registry's mirror).
    let core_events = Gvr::new("", "v1", "events");
    let deadline = Instant::now() + Duration::from_secs(600);
    while (done(&sandbox) < n || sandbox.store().count(&core_events, None) < n) && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    let elapsed = started.elapsed().as_secs_f64();
    tokio::time::sleep(Duration::from_secs(1)).await;
    let rss_end = rss_kib();
    let rss_peak = peak_rss_kib();
    let objects: usize = sandbox
        .store()
        .types()
        .iter()
        .map(|t| sandbox.store().count(&t.gvr, None))
        .sum();
    let delta = rss_end.saturating_sub(rss_start) * 1024;
    // Serialized size per type (the stored bytes, nothing parsed).
    let mut json_bytes = serde_json::Map::new();
    for t in sandbox.store().types() {
        let (items, _) = sandbox.store().list_stored(&t.gvr, None);
        if items.len() >= n {
            let total: usize = items.iter().map(|o| o.bytes().len()).sum();
            json_bytes.insert(t.gvr.qualified(), json!(total / items.len()));
        }
    }
    let summary = json!({
        "streams": n, "jobs_completed": done(&sandbox), "stored_objects": objects, "seconds": (elapsed * 10.0).round() / 10.0,
        "rss_mib_start": rss_start / 1024, "rss_mib_end": rss_end / 1024, "rss_mib_peak": rss_peak / 1024,
        "bytes_per_stored_object": delta / objects.max(1) as u64, "requests_logged": sandbox.requests().len(),
        "json_bytes_per_object": json_bytes,
    });
    println!("{summary}");
    sandbox.shutdown().await;
    Ok(())
}
