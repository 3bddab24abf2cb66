//! Process metrics read from `/proc/self` at scrape time, named as the Prometheus client
//! libraries name them (`process_resident_memory_bytes`, `process_cpu_seconds_total`, …) so
//! standard dashboards work. On systems without `/proc` nothing is reported.

use std::path::{Path, PathBuf};

use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric};
use prometheus_client::metrics::counter::ConstCounter;
use prometheus_client::metrics::gauge::ConstGauge;

/// Clock ticks per second in `/proc/<pid>/stat`. The kernel reports these times in `USER_HZ`,
/// which is 100 on every architecture Linux exports to user space (unlike the internal `HZ`).
const USER_HZ: f64 = 100.0;

/// One reading of the process's figures; `None` where the file or field could not be read.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ProcessSample {
    pub cpu_seconds: Option<f64>,
    pub resident_memory_bytes: Option<f64>,
    pub virtual_memory_bytes: Option<f64>,
    pub start_time_seconds: Option<f64>,
    pub open_fds: Option<f64>,
    pub max_fds: Option<f64>,
    pub threads: Option<f64>,
}

/// Reads [`ProcessSample`]s from a procfs directory (`/proc` in production, a fixture in tests).
#[derive(Debug, Clone)]
pub struct ProcessCollector {
    proc_root: PathBuf,
}

impl Default for ProcessCollector {
    fn default() -> Self {
        ProcessCollector::new()
    }
}

impl ProcessCollector {
    /// Reads this process's figures from `/proc`.
    pub fn new() -> Self {
        ProcessCollector::with_root("/proc")
    }

    /// Reads from `<root>/self/…` and `<root>/stat`.
    pub fn with_root(root: impl Into<PathBuf>) -> Self {
        ProcessCollector {
            proc_root: root.into(),
        }
    }

    /// Reads the current figures.
    pub fn sample(&self) -> ProcessSample {
        let me = self.proc_root.join("self");
        let stat = read(&me.join("stat")).and_then(|s| parse_stat(&s));
        let boot_time = read(&self.proc_root.join("stat")).and_then(|s| parse_boot_time(&s));
        let status = read(&me.join("status"));
        let kib = |key: &str| {
            status
                .as_deref()
                .and_then(|s| status_kib(s, key))
                .map(|k| k * 1024.0)
        };
        ProcessSample {
            cpu_seconds: stat.as_ref().map(|s| (s.utime + s.stime) / USER_HZ),
            resident_memory_bytes: kib("VmRSS:"),
            virtual_memory_bytes: stat.as_ref().map(|s| s.vsize).or_else(|| kib("VmSize:")),
            start_time_seconds: stat
                .as_ref()
                .zip(boot_time)
                .map(|(s, boot)| boot + s.starttime / USER_HZ),
            open_fds: std::fs::read_dir(me.join("fd")).ok().map(|d| d.count() as f64),
            max_fds: read(&me.join("limits")).and_then(|s| parse_max_fds(&s)),
            threads: stat.as_ref().map(|s| s.threads),
        }
    }
}

impl Collector for ProcessCollector {
    fn encode(&self, mut encoder: DescriptorEncoder<'_>) -> Result<(), std::fmt::Error> {
        let s = self.sample();
        if let Some(v) = s.cpu_seconds {
            let counter = ConstCounter::new(v);
            let metric = encoder.encode_descriptor(
                "process_cpu_seconds",
                "Total user and system CPU time spent in seconds",
                None,
                counter.metric_type(),
            )?;
            counter.encode(metric)?;
        }
        let gauges = [
            (
                "process_resident_memory_bytes",
                "Resident memory size in bytes",
                s.resident_memory_bytes,
            ),
            (
                "process_virtual_memory_bytes",
                "Virtual memory size in bytes",
                s.virtual_memory_bytes,
            ),
            (
                "process_start_time_seconds",
                "Start time of the process since unix epoch in seconds",
                s.start_time_seconds,
            ),
            ("process_open_fds", "Number of open file descriptors", s.open_fds),
            (
                "process_max_fds",
                "Maximum number of open file descriptors",
                s.max_fds,
            ),
            (
                "process_threads",
                "Number of OS threads in the process",
                s.threads,
            ),
        ];
        for (name, help, value) in gauges {
            if let Some(v) = value {
                let gauge = ConstGauge::new(v);
                let metric = encoder.encode_descriptor(name, help, None, gauge.metric_type())?;
                gauge.encode(metric)?;
            }
        }
        Ok(())
    }
}

fn read(path: &Path) -> Option<String> {
    std::fs::read_to_string(path).ok()
}

#[derive(Debug, PartialEq)]
struct Stat {
    utime: f64,
    stime: f64,
    threads: f64,
    starttime: f64,
    vsize: f64,
}

/// Parses `/proc/<pid>/stat`. The command name (field 2) may contain spaces and parentheses,
/// so fields are counted from the last `)`.
fn parse_stat(text: &str) -> Option<Stat> {
    let rest = &text[text.rfind(')')? + 1..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // `fields[0]` is field 3 (state) of proc(5).
    let field = |n: usize| -> Option<f64> { fields.get(n.checked_sub(3)?)?.parse::<f64>().ok() };
    Some(Stat {
        utime: field(14)?,
        stime: field(15)?,
        threads: field(20)?,
        starttime: field(22)?,
        vsize: field(23)?,
    })
}

fn parse_boot_time(text: &str) -> Option<f64> {
    text.lines()
        .find_map(|line| line.strip_prefix("btime "))
        .and_then(|v| v.trim().parse().ok())
}

/// A `kB` value of `/proc/<pid>/status`, e.g. `VmRSS: 5124 kB`.
fn status_kib(text: &str, key: &str) -> Option<f64> {
    let line = text.lines().find(|l| l.starts_with(key))?;
    line[key.len()..].split_whitespace().next()?.parse().ok()
}

fn parse_max_fds(text: &str) -> Option<f64> {
    let line = text.lines().find(|l| l.starts_with("Max open files"))?;
    let soft = line["Max open files".len()..].split_whitespace().next()?;
    match soft {
        "unlimited" => Some(f64::INFINITY),
        n => n.parse().ok(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const STAT: &str = "4242 (arcane (op) x) S 1 4242 4242 0 -1 4194560 2000 0 0 0 250 50 0 0 20 0 7 0 123400 104857600 1280 18446744073709551615 0 0 0 0 0 0 0 0 0 0 0 0 17 1 0 0 0 0 0\n";

    #[test]
    fn stat_fields_are_counted_after_the_command_name() {
        let stat = parse_stat(STAT).unwrap();
        assert_eq!(
            stat,
            Stat {
                utime: 250.0,
                stime: 50.0,
                threads: 7.0,
                starttime: 123400.0,
                vsize: 104857600.0
            }
        );
    }

    #[test]
    fn malformed_stat_yields_nothing() {
        for text in ["", "12 (x)", "12 (x) S 1 2 3", "no parenthesis at all 1 2 3"] {
            assert_eq!(parse_stat(text), None, "{text:?}");
        }
    }

    #[test]
    fn sample_from_a_fixture_procfs() {
        let dir = std::env::temp_dir().join(format!("arcane-procfs-{}", std::process::id()));
        let me = dir.join("self");
        std::fs::create_dir_all(me.join("fd")).unwrap();
        for n in 0..3 {
            std::fs::write(me.join("fd").join(n.to_string()), "").unwrap();
        }
        std::fs::write(me.join("stat"), STAT).unwrap();
        std::fs::write(
            me.join("status"),
            "Name:\tx\nVmSize:\t  102400 kB\nVmRSS:\t    5120 kB\n",
        )
        .unwrap();
        std::fs::write(
            me.join("limits"),
            "Limit                     Soft Limit           Hard Limit           Units\nMax open files            1024                 524288               files\n",
        )
        .unwrap();
        std::fs::write(dir.join("stat"), "cpu 1 2 3\nbtime 1700000000\n").unwrap();
        let sample = ProcessCollector::with_root(&dir).sample();
        std::fs::remove_dir_all(&dir).unwrap();
        assert_eq!(
            sample,
            ProcessSample {
                cpu_seconds: Some(3.0),
                resident_memory_bytes: Some(5120.0 * 1024.0),
                virtual_memory_bytes: Some(104857600.0),
                start_time_seconds: Some(1700000000.0 + 1234.0),
                open_fds: Some(3.0),
                max_fds: Some(1024.0),
                threads: Some(7.0),
            }
        );
    }

    #[test]
    fn missing_procfs_reports_nothing() {
        let sample = ProcessCollector::with_root("/nonexistent/arcane/proc").sample();
        assert_eq!(sample, ProcessSample::default());
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn this_process_has_plausible_figures() {
        let s = ProcessCollector::new().sample();
        let rss = s.resident_memory_bytes.unwrap();
        assert!(rss > 1024.0 * 1024.0, "rss {rss}");
        assert!(s.virtual_memory_bytes.unwrap() >= rss);
        assert!(s.open_fds.unwrap() >= 3.0);
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs_f64();
        let start = s.start_time_seconds.unwrap();
        assert!(
            start <= now + 1.0 && start > now - 86_400.0 * 365.0,
            "start {start} now {now}"
        );
    }
}
