//! The run: sandbox, bare loop, operator process, then L1 (always) and the selected scenarios.

use std::collections::{BTreeMap, HashSet};
use std::path::PathBuf;
use std::time::{Duration, Instant};

use kube_sandbox::requestlog::RequestRecord;

use crate::bare;
use crate::cli::Sizes;
use crate::env::{self, BENCH_USER_AGENT, Env, StreamRef};
use crate::error::BenchError;
use crate::load;
use crate::operator::{self, OperatorProcess};
use crate::report::{Report, mib, percentile};

/// Watches the operator opens besides one per class: StreamClasses, Jobs, CronJobs,
/// BackfillRequests and StreamingJobTemplates.
pub(crate) const SHARED_WATCHES: usize = 5;

/// Everything a scenario needs.
pub(crate) struct Bench {
    pub sizes: Sizes,
    pub env: Env,
    pub report: Report,
    pub operator: Option<OperatorProcess>,
    /// Highest VmHWM of every operator process so far (KiB).
    pub peak_kib: u64,
    pub main: Vec<StreamRef>,
    dir: PathBuf,
    kubeconfig: PathBuf,
    starts: usize,
}

impl Bench {
    pub(crate) fn timeout(&self) -> Duration {
        Duration::from_secs(self.sizes.timeout_secs)
    }

    pub(crate) fn expected_watches(&self) -> usize {
        self.sizes.classes + SHARED_WATCHES
    }

    /// Samples the operator's memory into the peak.
    pub(crate) fn sample_memory(&mut self) -> operator::Memory {
        let m = self
            .operator
            .as_ref()
            .map(OperatorProcess::memory)
            .unwrap_or_default();
        self.peak_kib = self.peak_kib.max(m.hwm_kib);
        m
    }

    pub(crate) fn check_alive(&mut self) -> Result<(), BenchError> {
        match self.operator.as_mut() {
            Some(op) => op.check_alive(),
            None => Err(BenchError::Setup("the operator is not running".into())),
        }
    }

    fn spawn_operator(&mut self) -> Result<(), BenchError> {
        self.starts += 1;
        let log = self.dir.join(format!("operator-{}.log", self.starts));
        self.operator = Some(OperatorProcess::spawn(
            &self.kubeconfig,
            self.sizes.concurrency,
            log,
        )?);
        Ok(())
    }

    /// Request log records after `since`, and the new cursor.
    pub(crate) fn requests_since(&self, since: u64) -> (Vec<RequestRecord>, u64) {
        let records = self.env.sandbox.request_log().since(since);
        let last = records.last().map_or(since, |r| r.seq);
        (records, last)
    }

    pub(crate) fn cursor(&self) -> u64 {
        self.env.sandbox.request_log().last_seq()
    }

    /// Waits until the operator has opened a watch on every resource it needs (it opens each one
    /// once its initial list is complete): the time since its process started.
    async fn wait_ready(&mut self, since: u64) -> Result<Duration, BenchError> {
        let expected = self.expected_watches();
        let mut cursor = since;
        let mut watched: HashSet<String> = HashSet::new();
        let deadline = Instant::now() + self.timeout();
        loop {
            let (records, next) = self.requests_since(cursor);
            cursor = next;
            watched.extend(
                records
                    .iter()
                    .filter(|r| r.watch && r.user_agent != BENCH_USER_AGENT && r.status < 300)
                    .map(|r| r.path.clone()),
            );
            if watched.len() >= expected {
                let started = self.operator.as_ref().map_or_else(Instant::now, |o| o.started);
                return Ok(started.elapsed());
            }
            self.check_alive()?;
            if Instant::now() > deadline {
                return Err(BenchError::Timeout {
                    what: format!("{expected} operator watches (saw {watched:?})"),
                    secs: self.timeout().as_secs_f64(),
                });
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }

    /// Sleeps through the settle window, sampling memory; returns the operator's writes in it.
    async fn settle(&mut self) -> Vec<RequestRecord> {
        let since = self.cursor();
        let end = Instant::now() + Duration::from_secs_f64(self.sizes.settle_secs);
        while Instant::now() < end {
            self.sample_memory();
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        operator_writes(&self.requests_since(since).0)
    }

    /// Waits until every stream has been seen Running.
    pub(crate) async fn wait_running(
        &self,
        streams: &[StreamRef],
        what: &str,
    ) -> Result<Duration, BenchError> {
        let mut done = 0;
        env::wait_until(what, self.timeout(), Duration::from_millis(10), || {
            let state = self.env.tracker.state();
            done = checked_prefix(streams, done, |s| state.running.contains_key(&s.name));
            done == streams.len()
        })
        .await
    }

    pub(crate) async fn wait_phase(
        &self,
        streams: &[StreamRef],
        phase: &str,
        what: &str,
    ) -> Result<Duration, BenchError> {
        let mut done = 0;
        env::wait_until(what, self.timeout(), Duration::from_millis(20), || {
            let state = self.env.tracker.state();
            let in_phase = |s: &StreamRef| state.phase.get(&s.name).map(String::as_str) == Some(phase);
            done = checked_prefix(streams, done, in_phase);
            // Phases can change back: a final pass over all of them confirms, else start over.
            if done == streams.len() && !streams.iter().all(in_phase) {
                done = 0;
            }
            done == streams.len()
        })
        .await
    }

    /// Stream write → Job created, per stream, in milliseconds (from the store's events).
    pub(crate) fn latencies_ms(&self, streams: &[StreamRef]) -> Vec<f64> {
        let state = self.env.tracker.state();
        streams
            .iter()
            .filter_map(|s| {
                let written = state.unsuspended.get(&s.name)?;
                let created = state.job_first_added.get(&s.name)?;
                Some(created.saturating_duration_since(*written).as_secs_f64() * 1000.0)
            })
            .collect()
    }
}

/// What the operator caches per stream, as the API serves it: the mean JSON size of a Job and of a
/// stream definition in the benchmark namespace, and the share of `managedFields` in it.
fn footprint(env: &Env) -> String {
    let store = env.sandbox.store();
    let mean = |objects: &[serde_json::Value]| {
        let sample = &objects[..objects.len().min(500)];
        let (mut total, mut managed) = (0usize, 0usize);
        for o in sample {
            total += o.to_string().len();
            managed += o
                .pointer("/metadata/managedFields")
                .map_or(0, |m| m.to_string().len());
        }
        let n = sample.len().max(1);
        (total / n, managed * 100 / total.max(1))
    };
    let jobs = store
        .list(&kube_sandbox::Gvr::new("batch", "v1", "jobs"), Some(env::NS))
        .0;
    let (job_bytes, job_managed) = mean(&jobs);
    let class = &env.classes[0].resource;
    let streams = store
        .list(
            &kube_sandbox::Gvr::new(&class.group, &class.version, &class.plural),
            Some(env::NS),
        )
        .0;
    let (stream_bytes, stream_managed) = mean(&streams);
    format!(
        "cached objects as served: Job {job_bytes} B JSON ({job_managed}% managedFields), \
         stream {stream_bytes} B JSON ({stream_managed}% managedFields); {} Jobs, {} streams of class 0",
        jobs.len(),
        streams.len()
    )
}

/// Writes the operator sent among `records` (the benchmark's own are marked by user agent).
pub(crate) fn operator_writes(records: &[RequestRecord]) -> Vec<RequestRecord> {
    records
        .iter()
        .filter(|r| r.is_write() && r.user_agent != BENCH_USER_AGENT)
        .cloned()
        .collect()
}

/// Counts requests by "METHOD resource[/subresource]".
pub(crate) fn by_kind(records: &[RequestRecord]) -> BTreeMap<String, usize> {
    let mut out = BTreeMap::new();
    for r in records {
        let parts: Vec<&str> = r.path.trim_matches('/').split('/').collect();
        // .../namespaces/<ns>/<resource>[/<name>[/<sub>]] or cluster-scoped .../<resource>[/<name>]
        let key = match parts.iter().position(|p| *p == "namespaces") {
            Some(i) if parts.len() > i + 2 => {
                let sub = parts.get(i + 4).map(|s| format!("/{s}")).unwrap_or_default();
                format!("{} {}{sub}", r.method, parts[i + 2])
            }
            _ => {
                let skip = if parts.first() == Some(&"api") { 2 } else { 3 };
                format!("{} {}", r.method, parts.get(skip).copied().unwrap_or("?"))
            }
        };
        let key = if r.watch { format!("{key} (watch)") } else { key };
        *out.entry(key).or_insert(0) += 1;
    }
    out
}

fn summarize(counts: &BTreeMap<String, usize>) -> String {
    counts
        .iter()
        .map(|(k, v)| format!("{k}: {v}"))
        .collect::<Vec<_>>()
        .join(", ")
}

pub(crate) async fn run(sizes: Sizes) -> Result<Report, BenchError> {
    let dir = std::env::temp_dir().join(format!("arcane-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    let started = Instant::now();
    let env = Env::start(sizes.classes, sizes.backfill_ms).await?;
    let kubeconfig = dir.join("kubeconfig");
    env.sandbox.write_kubeconfig(&kubeconfig)?;
    let mut bench = Bench {
        main: env::streams("s", sizes.streams - sizes.idle_samples, sizes.classes),
        sizes,
        env,
        report: Report::default(),
        operator: None,
        peak_kib: 0,
        dir,
        kubeconfig,
        starts: 0,
    };
    bench.report.headline.streams = bench.sizes.streams;
    bench.report.headline.classes = bench.sizes.classes;
    let result = scenarios(&mut bench).await;
    if let Some(op) = bench.operator.take() {
        op.kill().await?;
    }
    bench.report.note(format!(
        "operator run with {}={} ({})",
        crate::operator::PURGE_DELAY.0,
        std::env::var(crate::operator::PURGE_DELAY.0)
            .unwrap_or_else(|_| crate::operator::PURGE_DELAY.1.into()),
        if std::env::var_os(crate::operator::PURGE_DELAY.0).is_some() {
            "from the benchmark's environment"
        } else {
            "as the container image sets it"
        }
    ));
    bench.report.note(format!(
        "total run time {:.0}s; operator logs in {}",
        started.elapsed().as_secs_f64(),
        bench.dir.display()
    ));
    {
        let state = bench.env.tracker.state();
        if state.relists > 0 {
            bench.report.note(format!(
                "the event tracker fell behind the store {} time(s), skipping {} changes, and caught up by \
                 re-listing: what a re-list found new is timestamped at the re-list (latencies and drain \
                 are upper bounds), Jobs created and deleted in a gap are not counted",
                state.relists, state.skipped_changes
            ));
        }
    }
    result?;
    Ok(bench.report)
}

/// How many of `streams` from the start satisfy `ok`, given that the first `done` did when last
/// checked: waiting on 100,000 streams checks each once (streams converge roughly in the order they
/// were written) instead of all of them on every poll, which held the tracker's lock long enough
/// to make it fall behind the store.
fn checked_prefix(streams: &[StreamRef], done: usize, ok: impl Fn(&StreamRef) -> bool) -> usize {
    done + streams.iter().skip(done).take_while(|s| ok(s)).count()
}

async fn scenarios(bench: &mut Bench) -> Result<(), BenchError> {
    l1(bench).await?;
    if bench.sizes.runs("L3") {
        l3(bench).await?;
    }
    for scenario in ["L2", "L4", "L5", "L6"] {
        if !bench.sizes.runs(scenario) {
            continue;
        }
        let result = match scenario {
            "L2" => load::l2(bench).await,
            "L4" => load::l4(bench).await,
            "L5" => load::l5(bench).await,
            _ => load::l6(bench).await,
        };
        if let Err(error) = result {
            // A scenario that does not converge is a finding; the others still run if the operator lives.
            bench.report.row(
                scenario,
                "scenario did not complete",
                error.to_string(),
                "",
                Some(false),
            );
            bench.check_alive()?;
        }
    }
    let (count, violations) = {
        let state = bench.env.tracker.state();
        (
            state.invariants.violation_count(),
            state.invariants.violations().to_vec(),
        )
    };
    bench.report.row(
        "all",
        "N2/N3 violations seen in the store's events",
        count.to_string(),
        "0",
        Some(count == 0),
    );
    for v in violations.iter().take(5) {
        bench.report.note(format!("violation: {v}"));
    }
    let own = operator::own_memory();
    bench.report.row(
        "all",
        "sandbox+bench process RSS now / peak",
        format!("{:.1} / {:.1} MiB", mib(own.rss_kib), mib(own.hwm_kib)),
        "",
        None,
    );
    bench.report.headline.rss_peak_mib = mib(bench.peak_kib);
    bench.report.row(
        "all",
        "operator peak RSS (VmHWM, all processes)",
        format!("{:.1} MiB", mib(bench.peak_kib)),
        "",
        None,
    );
    Ok(())
}

/// L1: the bare loop, then the operator on N streams created suspended and unsuspended at once;
/// idle latency first (one stream at a time), throughput and latency under load, memory, watches.
async fn l1(bench: &mut Bench) -> Result<(), BenchError> {
    let sizes = bench.sizes.clone();
    let workers = sizes.workers();
    let n = bench.main.len();
    eprintln!("[L1] bare loop: {n} streams, {workers} workers");
    let bare_streams = env::streams("bare", n, sizes.classes);
    let bare = bare::run(&bench.env, &bare_streams, workers, bare::Extra::Nothing).await?;
    bench.report.row(
        "L1",
        &format!("bare loop ({workers} workers, 3 requests/stream)"),
        format!(
            "{:.0} streams/s ({:.2}s, {} errors)",
            bare.per_sec(),
            bare.elapsed.as_secs_f64(),
            bare.errors
        ),
        "",
        None,
    );

    let idle = env::streams("idle", sizes.idle_samples, sizes.classes);
    eprintln!("[L1] creating {} streams suspended", n + idle.len());
    let all: Vec<StreamRef> = idle.iter().chain(bench.main.iter()).cloned().collect();
    bench.env.create_streams(env::NS, &all, true, workers).await?;

    let since = bench.cursor();
    bench.spawn_operator()?;
    let ready = bench.wait_ready(since).await?;
    bench.report.row(
        "L1",
        "cold start to ready (initial lists done)",
        format!("{:.2}s", ready.as_secs_f64()),
        "",
        None,
    );
    let t = bench
        .wait_phase(&all, "Suspended", "every stream Suspended")
        .await?;
    bench.report.row(
        "L1",
        "first pass: every stream Suspended",
        format!(
            "{:.2}s after ready ({:.0} streams/s)",
            t.as_secs_f64(),
            all.len() as f64 / t.as_secs_f64().max(1e-9)
        ),
        "",
        None,
    );

    eprintln!("[L1] idle latency: {} streams one at a time", idle.len());
    for s in &idle {
        bench.env.set_suspended(std::slice::from_ref(s), false, 1).await?;
        let one = std::slice::from_ref(s);
        bench
            .wait_running(one, &format!("idle stream {} Running", s.name))
            .await?;
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let mut idle_ms = bench.latencies_ms(&idle);
    let (idle_p50, idle_p99) = (percentile(&mut idle_ms, 50.0), percentile(&mut idle_ms, 99.0));
    bench.report.headline.latency_p50_ms = idle_p50;
    bench.report.headline.latency_p99_ms = idle_p99;
    bench.report.row(
        "L1",
        &format!("latency idle p50 ({} samples)", idle_ms.len()),
        format!("{idle_p50:.1} ms"),
        "",
        None,
    );
    bench.report.row(
        "L1",
        "latency idle p99",
        format!("{idle_p99:.1} ms"),
        "≤ 50 ms",
        Some(idle_p99 <= 50.0),
    );

    eprintln!("[L1] unsuspending {n} streams at once");
    let (cpu_op0, cpu_own0) = (
        bench.operator.as_ref().map_or(0.0, OperatorProcess::cpu_secs),
        operator::own_cpu_secs(),
    );
    let since = bench.cursor();
    let t0 = Instant::now();
    let main = bench.main.clone();
    bench.env.set_suspended(&main, false, workers).await?;
    let writes_sent = t0.elapsed();
    bench.wait_running(&main, "every L1 stream Running").await?;
    let end = {
        let state = bench.env.tracker.state();
        main.iter()
            .filter_map(|s| state.running.get(&s.name))
            .max()
            .copied()
            .unwrap_or_else(Instant::now)
    };
    let elapsed = end.saturating_duration_since(t0);
    let (cpu_op, cpu_own) = (
        bench.operator.as_ref().map_or(0.0, OperatorProcess::cpu_secs) - cpu_op0,
        operator::own_cpu_secs() - cpu_own0,
    );
    bench.sample_memory();
    let op_rate = n as f64 / elapsed.as_secs_f64().max(1e-9);
    let ratio = op_rate / bare.per_sec().max(1e-9);
    bench.report.headline.throughput_ratio = ratio;
    bench.report.row(
        "L1",
        "operator: unsuspend → every stream Running",
        format!(
            "{op_rate:.0} streams/s ({:.2}s; unsuspend writes took {:.2}s)",
            elapsed.as_secs_f64(),
            writes_sent.as_secs_f64()
        ),
        "",
        None,
    );
    bench.report.row(
        "L1",
        "throughput ratio (operator ÷ bare loop)",
        format!("{ratio:.2}"),
        "≥ 0.7",
        Some(ratio >= 0.7),
    );
    bench.report.row(
        "L1",
        "CPU during L1: operator / sandbox+bench process",
        format!("{cpu_op:.1}s / {cpu_own:.1}s"),
        "",
        None,
    );
    let (records, _) = bench.requests_since(since);
    let op_records: Vec<RequestRecord> = records
        .iter()
        .filter(|r| r.user_agent != BENCH_USER_AGENT)
        .cloned()
        .collect();
    bench.report.note(format!(
        "L1 operator requests ({} for {n} streams): {}",
        op_records.len(),
        summarize(&by_kind(&op_records))
    ));
    let mut load_ms = bench.latencies_ms(&main);
    let (p50, p99) = (percentile(&mut load_ms, 50.0), percentile(&mut load_ms, 99.0));
    bench.report.headline.load_p50_ms = p50;
    bench.report.headline.load_p99_ms = p99;
    bench.report.headline.drain_s = elapsed.as_secs_f64();
    bench.report.row(
        "L1",
        &format!("latency under load p50 ({} samples)", load_ms.len()),
        format!("{p50:.1} ms"),
        "",
        None,
    );
    // Fairness: a stream waits no longer than the streams written before it, so the slowest
    // stream's latency stays within the time the burst takes to drain.
    let fair = 1.5 * elapsed.as_secs_f64() * 1000.0;
    bench.report.row(
        "L1",
        "latency under load p99",
        format!("{p99:.1} ms"),
        &format!("≤ 1.5 × drain = {fair:.0} ms"),
        Some(p99 <= fair),
    );
    {
        let state = bench.env.tracker.state();
        let extra = main
            .iter()
            .filter(|s| state.job_adds.get(&s.name).copied().unwrap_or(0) != 1)
            .count();
        drop(state);
        bench.report.row(
            "L1",
            "streams without exactly one Job create",
            extra.to_string(),
            "0",
            Some(extra == 0),
        );
    }

    eprintln!("[L1] settling {:.0}s", sizes.settle_secs);
    let writes = bench.settle().await;
    bench.report.row(
        "L1",
        &format!("writes in a {:.0}s settled window (N5)", sizes.settle_secs),
        writes.len().to_string(),
        "0",
        Some(writes.is_empty()),
    );
    if !writes.is_empty() {
        bench.report.note(format!(
            "L1 settled-window writes: {}",
            summarize(&by_kind(&writes))
        ));
    }
    let mem = bench.sample_memory();
    bench.report.headline.rss_settled_mib = mib(mem.rss_kib);
    bench.report.headline.rss_settled_anon_mib = mib(mem.anon_kib);
    bench.report.headline.operator_cpu_s = bench.operator.as_ref().map_or(0.0, OperatorProcess::cpu_secs);
    let target = if sizes.streams >= 10_000 {
        "≤ 150 MiB"
    } else {
        "(target set at 10,000)"
    };
    bench.report.row(
        "L1",
        &format!(
            "operator settled RSS (anonymous part) at {} streams",
            sizes.streams
        ),
        format!("{:.1} MiB ({:.1})", mib(mem.rss_kib), mib(mem.anon_kib)),
        target,
        (sizes.streams >= 10_000).then_some(mib(mem.rss_kib) <= 150.0),
    );
    let footprint = footprint(&bench.env);
    bench.report.note(footprint);
    let watches = bench.env.sandbox.open_watches();
    bench.report.headline.watch_connections = watches;
    let expected = bench.expected_watches();
    bench.report.row(
        "L1",
        "open watch connections",
        watches.to_string(),
        &format!("= {} classes + {SHARED_WATCHES}", sizes.classes),
        Some(watches == expected),
    );
    eprintln!("[L1] for context, the bare loop posting the Event too: {n} streams, {workers} workers");
    let evented_streams = env::streams("bare-ev", n, sizes.classes);
    let evented = bare::run(&bench.env, &evented_streams, workers, bare::Extra::Event).await?;
    bench.report.row(
        "L1",
        &format!("bare loop + the Event ({workers} workers, 4 requests/stream, run after L1; context)"),
        format!(
            "{:.0} streams/s ({:.2}s, {} errors)",
            evented.per_sec(),
            evented.elapsed.as_secs_f64(),
            evented.errors
        ),
        "",
        None,
    );

    bench.report.row(
        "L1",
        "operator ÷ bare loop + the Event (same requests; context)",
        format!("{:.2}", op_rate / evented.per_sec().max(1e-9)),
        "",
        None,
    );
    bench.check_alive()
}

/// L3: SIGKILL the operator with everything in place, start it again: time to ready, writes.
async fn l3(bench: &mut Bench) -> Result<(), BenchError> {
    eprintln!("[L3] restart with {} streams in place", bench.sizes.streams);
    bench.sample_memory();
    if let Some(op) = bench.operator.take() {
        op.kill().await?;
    }
    // The server ends a dead client's watches when it notices; wait so the count below is clean.
    let _ = env::wait_until(
        "old watches closed",
        Duration::from_secs(10),
        Duration::from_millis(10),
        || bench.env.sandbox.open_watches() == 0,
    )
    .await;
    let since = bench.cursor();
    bench.spawn_operator()?;
    let ready = bench.wait_ready(since).await?.as_secs_f64();
    let cpu0 = bench.operator.as_ref().map_or(0.0, OperatorProcess::cpu_secs);
    let settle = bench.sizes.settle_secs;
    let end = Instant::now() + Duration::from_secs_f64(settle);
    while Instant::now() < end {
        bench.sample_memory();
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let cpu = bench.operator.as_ref().map_or(0.0, OperatorProcess::cpu_secs) - cpu0;
    let (records, _) = bench.requests_since(since);
    let writes = operator_writes(&records);
    let reads: Vec<RequestRecord> = records
        .iter()
        .filter(|r| r.user_agent != BENCH_USER_AGENT && !r.is_write())
        .cloned()
        .collect();
    let big = bench.sizes.streams >= 10_000;
    bench.report.headline.restart_ready_s = Some(ready);
    bench.report.headline.restart_writes = Some(writes.len() as u64);
    bench.report.row(
        "L3",
        &format!("restart: time to ready at {} streams", bench.sizes.streams),
        format!("{ready:.2}s"),
        "≤ 10 s",
        Some(ready <= 10.0),
    );
    bench.report.row(
        "L3",
        &format!("restart: writes in ready + {settle:.0}s"),
        writes.len().to_string(),
        "0",
        Some(writes.is_empty()),
    );
    bench
        .report
        .note(format!("L3 restart reads: {}", summarize(&by_kind(&reads))));
    if !writes.is_empty() {
        bench
            .report
            .note(format!("L3 restart writes: {}", summarize(&by_kind(&writes))));
    }
    bench.report.row(
        "L3",
        &format!("restart: operator CPU in the {settle:.0}s after ready"),
        format!("{cpu:.2}s"),
        "",
        None,
    );
    let mem = bench.sample_memory();
    bench.report.headline.rss_restart_mib = Some(mib(mem.rss_kib));
    bench.report.row(
        "L3",
        "restart: RSS after the window / peak of this process",
        format!("{:.1} / {:.1} MiB", mib(mem.rss_kib), mib(mem.hwm_kib)),
        if big { "≤ 150 MiB settled" } else { "" },
        big.then_some(mib(mem.rss_kib) <= 150.0),
    );
    let watches = bench.env.sandbox.open_watches();
    bench.report.row(
        "L3",
        "open watch connections after restart",
        watches.to_string(),
        &format!("= {}", bench.expected_watches()),
        Some(watches == bench.expected_watches()),
    );
    bench.check_alive()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rec(method: &str, path: &str, watch: bool) -> RequestRecord {
        RequestRecord {
            seq: 0,
            method: method.into(),
            path: path.into(),
            query: String::new(),
            user_agent: String::new(),
            status: 200,
            time: String::new(),
            duration_ms: 0.0,
            watch,
            fault: None,
        }
    }

    #[test]
    fn a_wait_checks_each_stream_once_from_where_it_stopped() {
        let streams = env::streams("s", 5, 2);
        let checked = std::cell::RefCell::new(Vec::new());
        let ok = |upto: usize| {
            let checked = &checked;
            move |s: &StreamRef| {
                checked.borrow_mut().push(s.name.clone());
                s.name
                    .trim_start_matches("s-")
                    .parse::<usize>()
                    .is_ok_and(|i| i < upto)
            }
        };
        assert_eq!(checked_prefix(&streams, 0, ok(2)), 2);
        assert_eq!(checked_prefix(&streams, 2, ok(4)), 4);
        assert_eq!(checked_prefix(&streams, 4, ok(5)), 5);
        assert_eq!(checked_prefix(&streams, 5, ok(0)), 5);
        // s-2 and s-4 were checked twice (not yet, then done); none before the prefix again.
        assert_eq!(
            checked.into_inner(),
            ["s-0", "s-1", "s-2", "s-2", "s-3", "s-4", "s-4"]
        );
    }

    #[test]
    fn requests_are_grouped_by_verb_and_resource() {
        let cases = [
            ("POST", "/apis/batch/v1/namespaces/ns/jobs", false, "POST jobs"),
            (
                "PATCH",
                "/apis/g/v1/namespaces/ns/streams/s1/status",
                false,
                "PATCH streams/status",
            ),
            (
                "GET",
                "/apis/batch/v1/namespaces/ns/jobs",
                true,
                "GET jobs (watch)",
            ),
            (
                "GET",
                "/apis/streaming.sneaksanddata.com/v1/streamclasses",
                true,
                "GET streamclasses (watch)",
            ),
            ("GET", "/api/v1/namespaces", false, "GET namespaces"),
        ];
        for (method, path, watch, want) in cases {
            let got = by_kind(&[rec(method, path, watch)]);
            assert_eq!(got.keys().collect::<Vec<_>>(), vec![want], "{method} {path}");
        }
    }

    #[test]
    fn only_the_operators_writes_count() {
        let mut mine = rec("PATCH", "/apis/g/v1/namespaces/ns/streams/s1", false);
        mine.user_agent = BENCH_USER_AGENT.into();
        let theirs = rec("POST", "/apis/batch/v1/namespaces/ns/jobs", false);
        let read = rec("GET", "/apis/batch/v1/namespaces/ns/jobs/j", false);
        assert_eq!(operator_writes(&[mine, theirs.clone(), read]), vec![theirs]);
    }
}
