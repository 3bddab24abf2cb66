//! Capacity benchmark of the sandbox over loopback: starts a Sandbox in-process and measures GET, LIST (1,000
//! objects), CREATE and merge-PATCH throughput with N keep-alive clients, watch fan-out to 10 watchers, and
//! resident memory per 10,000 stored objects. Prints a table and one JSON line.
//!
//! `cargo run --release -p kube-sandbox --bin sandbox-bench -- --clients 8 --seconds 3`

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use clap::Parser;
use futures::{AsyncBufReadExt, StreamExt};
use http::Request;
use kube_sandbox::{Sandbox, SandboxConfig};
use serde_json::json;

/// The allocator the operator uses: glibc malloc keeps freed memory in per-thread arenas, so RSS figures
/// measured with it say more about fragmentation than about what is stored.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Parser, Debug)]
#[command(about = "Capacity benchmark of the kube-sandbox API server")]
struct Args {
    /// Concurrent clients (each a keep-alive connection).
    #[arg(long, default_value_t = 8)]
    clients: usize,
    /// Duration of each measurement, in seconds.
    #[arg(long, default_value_t = 3.0)]
    seconds: f64,
    /// Watchers for the fan-out measurement.
    #[arg(long, default_value_t = 10)]
    watchers: usize,
    /// Objects in the listed namespace.
    #[arg(long, default_value_t = 1000)]
    list_size: usize,
    /// Objects created for the memory measurement.
    #[arg(long, default_value_t = 10_000)]
    mem_objects: usize,
    /// Run without the simulated controllers (no controller event subscription).
    #[arg(long)]
    no_controllers: bool,
    /// Instead of the capacity table: memory with this many stream-like custom resources, each with a Job run
    /// to completion, a status write and an Event.
    #[arg(long)]
    streams: Option<usize>,
    /// Watch history kept per type (StoreConfig::history_per_type) for `--streams`.
    #[arg(long)]
    history: Option<usize>,
}

mod streams;

#[derive(Debug, thiserror::Error)]
enum BenchError {
    #[error("sandbox: {0}")]
    Sandbox(#[from] kube_sandbox::SandboxError),
    #[error("request: {0}")]
    Kube(#[from] kube::Error),
    #[error("http: {0}")]
    Http(#[from] http::Error),
    #[error("unexpected status {0} for {1}")]
    Status(u16, String),
}

/// Result of one throughput measurement.
struct Measure {
    name: &'static str,
    ops: u64,
    errors: u64,
    secs: f64,
    latencies_us: Vec<u32>,
}

impl Measure {
    fn rate(&self) -> f64 {
        self.ops as f64 / self.secs
    }

    fn percentile_ms(&self, p: f64) -> f64 {
        if self.latencies_us.is_empty() {
            return 0.0;
        }
        let idx = ((self.latencies_us.len() - 1) as f64 * p).round() as usize;
        f64::from(self.latencies_us[idx]) / 1000.0
    }
}

async fn send(
    client: &kube::Client,
    method: &str,
    path: &str,
    ct: &str,
    body: Vec<u8>,
) -> Result<(), BenchError> {
    let req = Request::builder()
        .method(method)
        .uri(path)
        .header("Content-Type", ct)
        .body(body)?;
    let resp = client.send(req.map(kube::client::Body::from)).await?;
    let status = resp.status().as_u16();
    // Read the whole body: a benchmark that skips it measures nothing.
    resp.into_body().collect_bytes().await?;
    if status >= 300 {
        return Err(BenchError::Status(status, format!("{method} {path}")));
    }
    Ok(())
}

/// Runs `op(worker, iteration)` from `clients` workers for `secs` seconds.
async fn measure<F, Fut>(name: &'static str, clients: usize, secs: f64, op: F) -> Measure
where
    F: Fn(usize, u64) -> Fut + Send + Sync + 'static,
    Fut: std::future::Future<Output = Result<(), BenchError>> + Send,
{
    let op = Arc::new(op);
    let deadline = Instant::now() + Duration::from_secs_f64(secs);
    let started = Instant::now();
    let mut tasks = Vec::new();
    for worker in 0..clients {
        let op = op.clone();
        tasks.push(tokio::spawn(async move {
            let (mut ops, mut errors, mut lat) = (0u64, 0u64, Vec::new());
            let mut i = 0u64;
            while Instant::now() < deadline {
                let t = Instant::now();
                match op(worker, i).await {
                    Ok(()) => {
                        ops += 1;
                        lat.push(u32::try_from(t.elapsed().as_micros()).unwrap_or(u32::MAX));
                    }
                    Err(e) => {
                        if errors == 0 {
                            eprintln!("{name}: {e}");
                        }
                        errors += 1;
                    }
                }
                i += 1;
            }
            (ops, errors, lat)
        }));
    }
    let mut m = Measure {
        name,
        ops: 0,
        errors: 0,
        secs: 0.0,
        latencies_us: Vec::new(),
    };
    for t in tasks {
        if let Ok((ops, errors, lat)) = t.await {
            m.ops += ops;
            m.errors += errors;
            m.latencies_us.extend(lat);
        }
    }
    m.secs = started.elapsed().as_secs_f64();
    m.latencies_us.sort_unstable();
    m
}

fn rss_kib() -> u64 {
    status_kib("VmRSS:")
}

/// The peak RSS so far (`VmHWM`).
fn peak_rss_kib() -> u64 {
    status_kib("VmHWM:")
}

fn status_kib(field: &str) -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with(field))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|v| v.parse().ok())
        })
        .unwrap_or(0)
}

fn cm_body(name: &str) -> Vec<u8> {
    json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name, "labels": {"app": "bench"}},
           "data": {"key": "value", "size": "small"}})
    .to_string()
    .into_bytes()
}

async fn namespace(client: &kube::Client, name: &str) -> Result<(), BenchError> {
    let body = json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}}).to_string();
    send(
        client,
        "POST",
        "/api/v1/namespaces",
        "application/json",
        body.into_bytes(),
    )
    .await
}

/// Creates `count` ConfigMaps in `ns` with `clients` parallel writers.
async fn fill(
    client: &kube::Client,
    ns: &str,
    prefix: &str,
    count: usize,
    clients: usize,
) -> Result<(), BenchError> {
    let path = format!("/api/v1/namespaces/{ns}/configmaps");
    let results = futures::stream::iter(0..count)
        .map(|i| {
            let (client, path) = (client.clone(), path.clone());
            let name = format!("{prefix}-{i}");
            async move { send(&client, "POST", &path, "application/json", cm_body(&name)).await }
        })
        .buffer_unordered(clients.max(1))
        .collect::<Vec<_>>()
        .await;
    results.into_iter().collect()
}

/// Watch fan-out: `watchers` watches on one namespace while `clients` writers create objects.
async fn fan_out(client: &kube::Client, args: &Args) -> Result<(Measure, u64), BenchError> {
    namespace(client, "fan").await?;
    let delivered = Arc::new(AtomicU64::new(0));
    let stop = Arc::new(AtomicBool::new(false));
    let timeout = args.seconds.ceil() as u64 + 5;
    let mut watches = Vec::new();
    for _ in 0..args.watchers {
        let req = Request::get(format!(
            "/api/v1/namespaces/fan/configmaps?watch=true&timeoutSeconds={timeout}"
        ))
        .body(Vec::new())?;
        let stream = client.request_stream(req).await?;
        let (delivered, stop) = (delivered.clone(), stop.clone());
        watches.push(tokio::spawn(async move {
            let mut lines = stream.lines();
            while let Some(Ok(line)) = lines.next().await {
                if line.contains("\"ADDED\"") {
                    delivered.fetch_add(1, Ordering::Relaxed);
                }
                if stop.load(Ordering::Relaxed) {
                    break;
                }
            }
        }));
    }
    let c = client.clone();
    let writes = measure("watch fan-out writes", args.clients, args.seconds, move |w, i| {
        let c = c.clone();
        async move {
            let body = cm_body(&format!("f-{w}-{i}"));
            send(
                &c,
                "POST",
                "/api/v1/namespaces/fan/configmaps",
                "application/json",
                body,
            )
            .await
        }
    })
    .await;
    // Let the watchers drain what was written, bounded.
    let expected = writes.ops * args.watchers as u64;
    let drain_start = Instant::now();
    let drain_deadline = drain_start + Duration::from_secs(10);
    while delivered.load(Ordering::Relaxed) < expected && Instant::now() < drain_deadline {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let total_secs = writes.secs + drain_start.elapsed().as_secs_f64();
    stop.store(true, Ordering::Relaxed);
    for w in watches {
        w.abort();
    }
    let events = delivered.load(Ordering::Relaxed);
    let m = Measure {
        name: "watch events delivered",
        ops: events,
        errors: 0,
        secs: total_secs,
        latencies_us: Vec::new(),
    };
    Ok((m, writes.ops))
}

async fn run(args: Args) -> Result<(), BenchError> {
    let config = SandboxConfig {
        run_controllers: !args.no_controllers,
        ..SandboxConfig::default()
    };
    let sandbox = Sandbox::start(config).await?;
    let client = sandbox.client()?;
    for ns in ["bench", "list", "mem"] {
        namespace(&client, ns).await?;
    }
    // Memory first, on a fresh sandbox: later phases leave freed heap behind that new objects would reuse.
    tokio::time::sleep(Duration::from_millis(200)).await;
    let rss_start = rss_kib();
    fill(&client, "mem", "m", args.mem_objects, args.clients).await?;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let rss_first = rss_kib();
    fill(&client, "mem", "n", args.mem_objects, args.clients).await?;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let rss_second = rss_kib();
    let per_10k = |from: u64, to: u64| {
        to.saturating_sub(from) as f64 / 1024.0 * 10_000.0 / args.mem_objects.max(1) as f64
    };
    let (first_mib, second_mib) = (per_10k(rss_start, rss_first), per_10k(rss_first, rss_second));

    fill(&client, "bench", "g", 100, args.clients).await?;
    fill(&client, "list", "l", args.list_size, args.clients).await?;
    let mut table = Vec::new();

    let c = client.clone();
    table.push(
        measure("GET configmap", args.clients, args.seconds, move |w, i| {
            let c = c.clone();
            async move {
                let path = format!(
                    "/api/v1/namespaces/bench/configmaps/g-{}",
                    (w as u64 * 13 + i) % 100
                );
                send(&c, "GET", &path, "application/json", Vec::new()).await
            }
        })
        .await,
    );
    let c = client.clone();
    let list_name: &'static str = if args.list_size == 1000 {
        "LIST 1,000 configmaps"
    } else {
        "LIST configmaps"
    };
    table.push(
        measure(list_name, args.clients, args.seconds, move |_, _| {
            let c = c.clone();
            async move {
                send(
                    &c,
                    "GET",
                    "/api/v1/namespaces/list/configmaps",
                    "application/json",
                    Vec::new(),
                )
                .await
            }
        })
        .await,
    );
    let c = client.clone();
    table.push(
        measure("CREATE configmap", args.clients, args.seconds, move |w, i| {
            let c = c.clone();
            async move {
                let body = cm_body(&format!("c-{w}-{i}"));
                send(
                    &c,
                    "POST",
                    "/api/v1/namespaces/bench/configmaps",
                    "application/json",
                    body,
                )
                .await
            }
        })
        .await,
    );
    let c = client.clone();
    table.push(
        measure(
            "merge-PATCH configmap",
            args.clients,
            args.seconds,
            move |w, i| {
                let c = c.clone();
                async move {
                    let path = format!(
                        "/api/v1/namespaces/bench/configmaps/g-{}",
                        (w as u64 * 7 + i) % 100
                    );
                    let body = json!({"data": {"n": format!("{w}-{i}")}})
                        .to_string()
                        .into_bytes();
                    send(&c, "PATCH", &path, "application/merge-patch+json", body).await
                }
            },
        )
        .await,
    );
    let (fan, fan_writes) = fan_out(&client, &args).await?;
    table.push(fan);

    println!(
        "kube-sandbox capacity ({} clients, {:.1} s per measure, {} cores, controllers {})",
        args.clients,
        args.seconds,
        cores(),
        if args.no_controllers { "off" } else { "on" }
    );
    println!(
        "{:<26} {:>9} {:>8} {:>11} {:>9} {:>9} {:>7}",
        "measure", "ops", "secs", "per second", "p50 ms", "p99 ms", "errors"
    );
    for m in &table {
        println!(
            "{:<26} {:>9} {:>8.2} {:>11.0} {:>9.2} {:>9.2} {:>7}",
            m.name,
            m.ops,
            m.secs,
            m.rate(),
            m.percentile_ms(0.5),
            m.percentile_ms(0.99),
            m.errors
        );
    }
    println!(
        "watch fan-out: {} watchers, {} objects written during the measure",
        args.watchers, fan_writes
    );
    println!(
        "memory (VmRSS): {:.1} MiB at start; +{:.1} MiB for the first {} objects, +{:.1} MiB for the next {} \
         => {first_mib:.1} / {second_mib:.1} MiB per 10,000 objects",
        rss_start as f64 / 1024.0,
        (rss_first.saturating_sub(rss_start)) as f64 / 1024.0,
        args.mem_objects,
        (rss_second.saturating_sub(rss_first)) as f64 / 1024.0,
        args.mem_objects,
    );
    let rate = |i: usize| {
        table
            .get(i)
            .map_or(0.0, |m: &Measure| (m.rate() * 10.0).round() / 10.0)
    };
    let summary = json!({
        "clients": args.clients, "seconds": args.seconds, "cores": cores(), "controllers": !args.no_controllers,
        "get_per_s": rate(0), "list_1000_per_s": rate(1), "create_per_s": rate(2), "merge_patch_per_s": rate(3),
        "watch_events_per_s": rate(4), "watchers": args.watchers,
        "rss_mib_per_10k_objects": (first_mib * 10.0).round() / 10.0,
        "rss_mib_per_10k_objects_next": (second_mib * 10.0).round() / 10.0,
        "errors": table.iter().map(|m| m.errors).sum::<u64>(),
    });
    println!("{summary}");
    sandbox.shutdown().await;
    Ok(())
}

fn cores() -> usize {
    std::thread::available_parallelism().map_or(1, usize::from)
}

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let args = Args::parse();
    let result = match args.streams {
        Some(n) => streams::run(n, args.clients, args.history).await,
        None => run(args).await,
    };
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("sandbox-bench: {e}");
            std::process::ExitCode::FAILURE
        }
    }
}
