//! Figures: percentiles, the printed table and the final JSON line.

use serde_json::json;

/// Nearest-rank percentile of `samples` (sorted in place); 0 when empty.
pub(crate) fn percentile(samples: &mut [f64], p: f64) -> f64 {
    if samples.is_empty() {
        return 0.0;
    }
    samples.sort_by(f64::total_cmp);
    let rank = (p / 100.0 * samples.len() as f64).ceil() as usize;
    samples[rank.clamp(1, samples.len()) - 1]
}

/// One table row: scenario, figure, value, target (empty when none) and verdict.
struct Row {
    scenario: String,
    figure: String,
    value: String,
    target: String,
    ok: Option<bool>,
}

/// The headline figures of the JSON line.
#[derive(Debug, Default, Clone)]
pub(crate) struct Headline {
    pub streams: usize,
    pub classes: usize,
    pub throughput_ratio: f64,
    pub latency_p50_ms: f64,
    pub latency_p99_ms: f64,
    pub rss_peak_mib: f64,
    pub rss_settled_mib: f64,
    /// The anonymous part of the settled RSS (heap; not the binary's pages).
    pub rss_settled_anon_mib: f64,
    /// RSS after the L3 restart's settle window (no burst before it).
    pub rss_restart_mib: Option<f64>,
    pub restart_ready_s: Option<f64>,
    pub restart_writes: Option<u64>,
    pub watch_connections: usize,
    /// L1 burst: latency percentiles under load and the time the burst took to drain.
    pub load_p50_ms: f64,
    pub load_p99_ms: f64,
    pub drain_s: f64,
    /// Operator CPU (user + system, from /proc) from its start to the end of L1's settled window:
    /// initial lists, the first pass over every stream and the burst.
    pub operator_cpu_s: f64,
}

#[derive(Default)]
pub(crate) struct Report {
    rows: Vec<Row>,
    pub headline: Headline,
    pub notes: Vec<String>,
}

impl Report {
    /// Adds a row; `ok` is the verdict against `target` when there is one.
    pub(crate) fn row(
        &mut self,
        scenario: &str,
        figure: &str,
        value: impl Into<String>,
        target: &str,
        ok: Option<bool>,
    ) {
        let row = Row {
            scenario: scenario.to_string(),
            figure: figure.to_string(),
            value: value.into(),
            target: target.to_string(),
            ok,
        };
        eprintln!("  {:<4} {:<48} {}", row.scenario, row.figure, row.value);
        self.rows.push(row);
    }

    pub(crate) fn note(&mut self, note: impl Into<String>) {
        let note = note.into();
        eprintln!("  note: {note}");
        self.notes.push(note);
    }

    /// The table, the notes and, as the last line, the JSON object.
    pub(crate) fn print(&self) {
        let w_fig = self
            .rows
            .iter()
            .map(|r| r.figure.chars().count())
            .max()
            .unwrap_or(6)
            .max(6);
        let w_val = self
            .rows
            .iter()
            .map(|r| r.value.chars().count())
            .max()
            .unwrap_or(5)
            .max(5);
        let w_tgt = self
            .rows
            .iter()
            .map(|r| r.target.chars().count())
            .max()
            .unwrap_or(6)
            .max(6);
        println!();
        println!(
            "{:<4}  {:<w_fig$}  {:>w_val$}  {:<w_tgt$}  result",
            "", "figure", "value", "target"
        );
        println!("{}", "-".repeat(4 + 2 + w_fig + 2 + w_val + 2 + w_tgt + 8));
        for r in &self.rows {
            let verdict = match r.ok {
                Some(true) => "ok",
                Some(false) => "MISSED",
                None => "",
            };
            println!(
                "{:<4}  {:<w_fig$}  {:>w_val$}  {:<w_tgt$}  {verdict}",
                r.scenario, r.figure, r.value, r.target
            );
        }
        if !self.notes.is_empty() {
            println!();
            for n in &self.notes {
                println!("* {n}");
            }
        }
        println!("{}", self.json());
    }

    pub(crate) fn json(&self) -> String {
        let h = &self.headline;
        let round = |v: f64, digits: i32| {
            let f = 10f64.powi(digits);
            (v * f).round() / f
        };
        json!({
            "streams": h.streams,
            "classes": h.classes,
            "throughput_ratio": round(h.throughput_ratio, 3),
            "latency_p50_ms": round(h.latency_p50_ms, 2),
            "latency_p99_ms": round(h.latency_p99_ms, 2),
            "rss_peak_mib": round(h.rss_peak_mib, 1),
            "rss_settled_mib": round(h.rss_settled_mib, 1),
            "rss_settled_anon_mib": round(h.rss_settled_anon_mib, 1),
            "rss_restart_mib": h.rss_restart_mib.map(|v| round(v, 1)),
            "restart_ready_s": h.restart_ready_s.map(|v| round(v, 3)),
            "restart_writes": h.restart_writes,
            "watch_connections": h.watch_connections,
            "load_p50_ms": round(h.load_p50_ms, 1),
            "load_p99_ms": round(h.load_p99_ms, 1),
            "drain_s": round(h.drain_s, 3),
            "operator_cpu_s": round(h.operator_cpu_s, 2),
        })
        .to_string()
    }
}

pub(crate) fn mib(kib: u64) -> f64 {
    kib as f64 / 1024.0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles() {
        let cases: [(&[f64], f64, f64); 5] = [
            (&[], 50.0, 0.0),
            (&[7.0], 99.0, 7.0),
            (&[3.0, 1.0, 2.0, 4.0], 50.0, 2.0),
            (&[3.0, 1.0, 2.0, 4.0], 100.0, 4.0),
            (&[5.0, 1.0, 9.0, 2.0, 8.0, 3.0, 7.0, 4.0, 6.0, 10.0], 90.0, 9.0),
        ];
        for (samples, p, want) in cases {
            let mut s = samples.to_vec();
            assert_eq!(percentile(&mut s, p), want, "p{p} of {samples:?}");
        }
    }

    #[test]
    fn json_has_exactly_the_issue_keys() {
        let mut r = Report::default();
        r.headline.streams = 10;
        r.headline.restart_writes = Some(0);
        let v: serde_json::Value = serde_json::from_str(&r.json()).unwrap();
        let mut keys: Vec<&str> = v.as_object().unwrap().keys().map(String::as_str).collect();
        keys.sort_unstable();
        assert_eq!(
            keys,
            [
                "classes",
                "drain_s",
                "latency_p50_ms",
                "latency_p99_ms",
                "load_p50_ms",
                "load_p99_ms",
                "operator_cpu_s",
                "restart_ready_s",
                "restart_writes",
                "rss_peak_mib",
                "rss_restart_mib",
                "rss_settled_anon_mib",
                "rss_settled_mib",
                "streams",
                "throughput_ratio",
                "watch_connections"
            ]
        );
        assert_eq!(v["restart_writes"], 0);
        assert_eq!(v["restart_ready_s"], serde_json::Value::Null);
    }
}
