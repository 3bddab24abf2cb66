//! The operator as a separate process: this binary started again with the hidden `operator`
//! subcommand, pointed at the sandbox by kubeconfig; its memory and CPU read from /proc.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Instant;

use crate::env::NS;
use crate::error::BenchError;

/// The allocator setting the container image sets (`Dockerfile`): mimalloc returns memory freed
/// after a burst to the system at once instead of after a second's delay, which at 10,000 streams
/// took the settled RSS from 68.5 to 64.6 MiB and the RSS after a restart from 85.4 to 51.0 MiB
/// (mimalloc reads its options from the environment only; setting them in code needs `unsafe`).
pub(crate) const PURGE_DELAY: (&str, &str) = ("MIMALLOC_PURGE_DELAY", "0");

pub(crate) struct OperatorProcess {
    child: tokio::process::Child,
    /// Started under `ARCANE_BENCH_WRAP`: stopped with SIGTERM first, so the wrapper can write out.
    wrapped: bool,
    pub pid: u32,
    pub started: Instant,
    pub log: PathBuf,
}

/// Resident memory of a process, in KiB.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Memory {
    pub rss_kib: u64,
    /// Peak resident memory (VmHWM).
    pub hwm_kib: u64,
    /// The anonymous part of `rss_kib` (heap and stacks; not the binary's mapped pages).
    pub anon_kib: u64,
}

impl OperatorProcess {
    /// Starts the operator on the sandbox of `kubeconfig`, watching the benchmark namespace only.
    ///
    /// `ARCANE_BENCH_WRAP` (for profiling) names a command the operator is started under, e.g.
    /// `heaptrack -o /tmp/operator` or `perf record -g -o /tmp/perf.data --`; memory and CPU
    /// figures are then the wrapper's, not the operator's.
    pub(crate) fn spawn(
        kubeconfig: &Path,
        concurrency: u16,
        log: PathBuf,
    ) -> Result<OperatorProcess, BenchError> {
        let exe = std::env::current_exe()?;
        let out = std::fs::File::create(&log)?;
        let err = out.try_clone()?;
        let wrap = std::env::var("ARCANE_BENCH_WRAP").unwrap_or_default();
        let wrapped = !wrap.trim().is_empty();
        let mut wrap = wrap.split_whitespace();
        let mut command = match wrap.next() {
            Some(program) => {
                let mut command = tokio::process::Command::new(program);
                command.args(wrap).arg(exe);
                command
            }
            None => tokio::process::Command::new(exe),
        };
        // As the container image starts it (see `PURGE_DELAY`), unless the benchmark's own
        // environment sets another value to compare.
        if std::env::var_os(PURGE_DELAY.0).is_none() {
            command.env(PURGE_DELAY.0, PURGE_DELAY.1);
        }
        let child = command
            .arg("operator")
            .arg("--kubeconfig")
            .arg(kubeconfig)
            .args([
                // Loopback and any free port: the benchmark reads neither, and tests may run beside it.
                "--health-addr",
                "127.0.0.1:0",
                "--metrics-addr",
                "127.0.0.1:0",
                "--namespace",
                NS,
                "--concurrency",
                &concurrency.to_string(),
                "--log-level",
                "warn",
            ])
            .env_remove("RUST_LOG")
            .env_remove("KUBECONFIG")
            .env_remove("POD_NAME")
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err)
            .kill_on_drop(true)
            // Its own process group, so a kill also reaches an operator started under a wrapper.
            .process_group(0)
            .spawn()?;
        let pid = child
            .id()
            .ok_or_else(|| BenchError::Setup("the operator process exited at once".into()))?;
        Ok(OperatorProcess {
            child,
            wrapped,
            pid,
            started: Instant::now(),
            log,
        })
    }

    pub(crate) fn memory(&self) -> Memory {
        memory(&format!("/proc/{}/status", self.pid))
    }

    /// User + system CPU seconds used so far.
    pub(crate) fn cpu_secs(&self) -> f64 {
        cpu_secs(&format!("/proc/{}/stat", self.pid))
    }

    /// Fails when the process has exited (a crash is a finding, not something to measure around).
    pub(crate) fn check_alive(&mut self) -> Result<(), BenchError> {
        match self.child.try_wait()? {
            None => Ok(()),
            Some(status) => Err(BenchError::Setup(format!(
                "the operator exited ({status}); see {}",
                self.log.display()
            ))),
        }
    }

    /// SIGKILL to the process group (the operator, and its wrapper if any), then reap. A wrapped
    /// operator gets SIGTERM and up to 10 s first, for the profiler to write its data.
    pub(crate) async fn kill(mut self) -> Result<(), BenchError> {
        use rustix::process::{Pid, Signal, kill_process_group};
        if let Some(group) = i32::try_from(self.pid).ok().and_then(Pid::from_raw) {
            // Already gone is fine: the child is reaped below either way.
            if self.wrapped {
                let _ = kill_process_group(group, Signal::TERM);
                let grace = std::time::Duration::from_secs(10);
                let _ = tokio::time::timeout(grace, self.child.wait()).await;
            }
            let _ = kill_process_group(group, Signal::KILL);
        }
        self.child.start_kill()?;
        self.child.wait().await?;
        Ok(())
    }
}

fn memory(path: &str) -> Memory {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let field = |key: &str| {
        text.lines()
            .find(|l| l.starts_with(key))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|v| v.parse().ok())
            .unwrap_or(0)
    };
    Memory {
        rss_kib: field("VmRSS:"),
        hwm_kib: field("VmHWM:"),
        anon_kib: field("RssAnon:"),
    }
}

/// Clock ticks per second of `/proc/<pid>/stat` times: 100 on every Linux build we run on
/// (USER_HZ is fixed at 100 for x86 and arm64 userspace).
const USER_HZ: f64 = 100.0;

fn cpu_secs(path: &str) -> f64 {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    // Fields after the parenthesised command name, which may itself contain spaces.
    let Some(rest) = text.rsplit_once(')').map(|(_, r)| r) else {
        return 0.0;
    };
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // utime and stime are fields 14 and 15 of the whole line, 12 and 13 after the name.
    let ticks = |i: usize| fields.get(i).and_then(|v| v.parse::<f64>().ok()).unwrap_or(0.0);
    (ticks(11) + ticks(12)) / USER_HZ
}

/// CPU seconds of this process (the sandbox, the tracker and the benchmark's own writers).
pub(crate) fn own_cpu_secs() -> f64 {
    cpu_secs("/proc/self/stat")
}

pub(crate) fn own_memory() -> Memory {
    memory("/proc/self/status")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_own_figures() {
        let m = own_memory();
        assert!(m.rss_kib > 0 && m.hwm_kib >= m.rss_kib);
        assert!(m.anon_kib > 0 && m.anon_kib <= m.rss_kib);
        // Burn a little CPU so the counter cannot stay at zero.
        let mut x = 0u64;
        let start = Instant::now();
        while start.elapsed().as_millis() < 50 {
            x = x.wrapping_mul(31).wrapping_add(7);
        }
        assert!(x != 1);
        assert!(own_cpu_secs() > 0.0);
    }

    #[test]
    fn missing_process_reads_as_zero() {
        assert_eq!(memory("/proc/0/nonexistent").rss_kib, 0);
        assert_eq!(cpu_secs("/proc/0/nonexistent"), 0.0);
    }
}
