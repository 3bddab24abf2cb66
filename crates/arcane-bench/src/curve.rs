//! The cost curve: the benchmark once per size (L1 and L3, each size in its own process so one
//! size's sandbox and operator do not weigh on the next), one table of what each run measured.
//!
//! `cargo run --release -p arcane-bench -- --sizes 1000,10000,50000,100000 --classes 3`

use std::process::{ExitCode, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;
use tokio::io::AsyncReadExt;

use crate::cli::BenchArgs;

/// One size's figures, read from the JSON line of its run.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Point {
    pub streams: usize,
    pub rss_settled_mib: f64,
    pub rss_settled_anon_mib: Option<f64>,
    pub rss_restart_mib: Option<f64>,
    pub operator_cpu_s: f64,
    pub restart_ready_s: Option<f64>,
    pub restart_writes: Option<u64>,
    pub watch_connections: u64,
    pub load_p50_ms: f64,
    pub load_p99_ms: f64,
    pub drain_s: f64,
    pub wall_s: f64,
}

impl Point {
    /// Reads the last JSON line of a run's standard output.
    pub(crate) fn parse(stdout: &str, wall_s: f64) -> Option<Point> {
        let line = stdout.lines().rev().find(|l| l.trim_start().starts_with('{'))?;
        let v: Value = serde_json::from_str(line).ok()?;
        let f = |k: &str| v.get(k).and_then(Value::as_f64);
        Some(Point {
            streams: usize::try_from(v.get("streams")?.as_u64()?).ok()?,
            rss_settled_mib: f("rss_settled_mib")?,
            rss_settled_anon_mib: f("rss_settled_anon_mib"),
            rss_restart_mib: f("rss_restart_mib"),
            operator_cpu_s: f("operator_cpu_s")?,
            restart_ready_s: f("restart_ready_s"),
            restart_writes: v.get("restart_writes").and_then(Value::as_u64),
            watch_connections: v.get("watch_connections")?.as_u64()?,
            load_p50_ms: f("load_p50_ms")?,
            load_p99_ms: f("load_p99_ms")?,
            drain_s: f("drain_s")?,
            wall_s,
        })
    }

    fn rss_bytes_per_stream(&self) -> f64 {
        self.rss_settled_mib * 1024.0 * 1024.0 / self.streams.max(1) as f64
    }

    fn cpu_per_1000(&self) -> f64 {
        self.operator_cpu_s * 1000.0 / self.streams.max(1) as f64
    }
}

/// The table of `points` (Markdown, so it can go into a README as printed).
pub(crate) fn table(points: &[Point]) -> String {
    let mut out = String::from(
        "| streams | settled RSS MiB (anon) | RSS B/stream | Δ B/stream | RSS after restart MiB | CPU s/1k streams | restart ready s | restart writes | watches | burst p50 ms | burst p99 ms | drain s | run s |\n\
         |---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n",
    );
    let mut previous: Option<&Point> = None;
    for p in points {
        // Marginal memory per stream against the previous size: the fixed part drops out.
        let delta = previous.filter(|q| p.streams > q.streams).map_or_else(
            || "–".to_string(),
            |q| {
                let bytes = (p.rss_settled_mib - q.rss_settled_mib) * 1024.0 * 1024.0;
                format!("{:.0}", bytes / (p.streams - q.streams) as f64)
            },
        );
        let opt = |v: Option<f64>, digits: usize| v.map_or("–".to_string(), |v| format!("{v:.digits$}"));
        out.push_str(&format!(
            "| {} | {:.1} ({}) | {:.0} | {} | {} | {:.2} | {} | {} | {} | {:.0} | {:.0} | {:.2} | {:.0} |\n",
            p.streams,
            p.rss_settled_mib,
            opt(p.rss_settled_anon_mib, 1),
            p.rss_bytes_per_stream(),
            delta,
            opt(p.rss_restart_mib, 1),
            p.cpu_per_1000(),
            opt(p.restart_ready_s, 2),
            p.restart_writes.map_or("–".to_string(), |w| w.to_string()),
            p.watch_connections,
            p.load_p50_ms,
            p.load_p99_ms,
            p.drain_s,
            p.wall_s,
        ));
        previous = Some(p);
    }
    out
}

/// The arguments of one size's run: this run's knobs, with `--streams` set and L1, L3 selected.
fn size_args(args: &BenchArgs, streams: usize) -> Vec<String> {
    let mut out: Vec<String> = vec![
        "--streams".into(),
        streams.to_string(),
        "--classes".into(),
        args.classes.to_string(),
        "--concurrency".into(),
        args.concurrency.to_string(),
        "--scenarios".into(),
        "L1,L3".into(),
        "--timeout-secs".into(),
        args.timeout_secs.to_string(),
        "--run-timeout-secs".into(),
        args.size_timeout_secs.to_string(),
        "--backfill-ms".into(),
        args.backfill_ms.to_string(),
    ];
    if let Some(v) = args.settle_secs {
        out.extend(["--settle-secs".into(), v.to_string()]);
    }
    if let Some(v) = args.idle_samples {
        out.extend(["--idle-samples".into(), v.to_string()]);
    }
    if args.quick {
        out.push("--quick".into());
    }
    out
}

/// Runs each size in turn; stops at the first size that fails or times out (a larger one would
/// too), printing the table of the sizes measured and what failed.
pub(crate) async fn run(args: &BenchArgs) -> ExitCode {
    let exe = match std::env::current_exe() {
        Ok(exe) => exe,
        Err(error) => {
            eprintln!("arcane-bench: {error}");
            return ExitCode::FAILURE;
        }
    };
    let mut points = Vec::new();
    let mut failure = None;
    for &streams in &args.sizes {
        eprintln!("arcane-bench: cost curve, {streams} streams");
        let started = Instant::now();
        let child = tokio::process::Command::new(&exe)
            .args(size_args(args, streams))
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .kill_on_drop(true)
            .spawn();
        let mut child = match child {
            Ok(child) => child,
            Err(error) => {
                failure = Some(format!("{streams} streams: could not start the run: {error}"));
                break;
            }
        };
        let mut stdout = String::new();
        // The run bounds itself (--run-timeout-secs); this bounds a run that hangs anyway.
        let backstop = Duration::from_secs(args.size_timeout_secs + 60);
        let outcome = tokio::time::timeout(backstop, async {
            if let Some(mut out) = child.stdout.take() {
                let _ = out.read_to_string(&mut stdout).await;
            }
            child.wait().await
        })
        .await;
        let wall = started.elapsed().as_secs_f64();
        // The run's own table, as it printed it.
        print!("{stdout}");
        match outcome {
            Err(_) => {
                let _ = child.start_kill();
                let _ = child.wait().await;
                failure = Some(format!(
                    "{streams} streams: TIMED OUT after {wall:.0}s (--size-timeout-secs {})",
                    args.size_timeout_secs
                ));
                break;
            }
            Ok(Err(error)) => {
                failure = Some(format!("{streams} streams: {error}"));
                break;
            }
            Ok(Ok(status)) if !status.success() => {
                failure = Some(format!(
                    "{streams} streams: FAILED ({status}) after {wall:.0}s; its error is above"
                ));
                break;
            }
            Ok(Ok(_)) => match Point::parse(&stdout, wall) {
                Some(point) => points.push(point),
                None => {
                    failure = Some(format!("{streams} streams: no JSON line in the run's output"));
                    break;
                }
            },
        }
    }
    println!();
    println!(
        "Cost curve ({} classes, concurrency {} per class; L1 + L3 per size):",
        args.classes, args.concurrency
    );
    print!("{}", table(&points));
    match failure {
        Some(failure) => {
            println!("{failure}");
            ExitCode::FAILURE
        }
        None => ExitCode::SUCCESS,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_a_runs_json_line_and_tabulates_it() {
        let out = "table\n{\"streams\":1000,\"classes\":3,\"rss_settled_mib\":20.0,\"operator_cpu_s\":3.0,\
                   \"restart_ready_s\":0.5,\"restart_writes\":0,\"watch_connections\":8,\
                   \"load_p50_ms\":100.0,\"load_p99_ms\":900.0,\"drain_s\":1.0}\n";
        let small = Point::parse(out, 60.0).expect("parses");
        assert_eq!(small.streams, 1000);
        assert_eq!(small.restart_writes, Some(0));
        assert!((small.cpu_per_1000() - 3.0).abs() < 1e-9);
        let big = Point {
            streams: 2000,
            rss_settled_mib: 30.0,
            ..small.clone()
        };
        let t = table(&[small, big]);
        let rows: Vec<&str> = t.lines().collect();
        assert_eq!(rows.len(), 4);
        // 10 MiB more for 1,000 more streams.
        assert!(rows[3].contains("| 10486 |"), "{}", rows[3]);
        assert!(rows[2].contains("| 20.0 (–) |"), "{}", rows[2]);
        assert!(Point::parse("no json", 1.0).is_none());
        assert!(Point::parse("{\"streams\": 5}", 1.0).is_none());
    }

    #[test]
    fn each_size_runs_l1_and_l3_bounded() {
        use clap::Parser;
        let cli =
            crate::cli::Cli::parse_from(["arcane-bench", "--sizes", "10,20", "--size-timeout-secs", "99"]);
        assert_eq!(cli.bench.sizes, vec![10, 20]);
        let args = size_args(&cli.bench, 20);
        let joined = args.join(" ");
        assert!(joined.contains("--streams 20"));
        assert!(joined.contains("--scenarios L1,L3"));
        assert!(joined.contains("--run-timeout-secs 99"));
    }
}
