//! The operator binary as a child process against a test's sandbox: `arcane-operator run` with its
//! probe and metrics servers on free loopback ports, started, SIGKILLed, SIGTERMed and restarted by
//! its process id only. The one launcher of the tests; the binary's path comes from the caller
//! ([`operator_binary!`](crate::operator_binary): Cargo tells only the operator's own tests where
//! it is).

use std::fs::File;
use std::net::{SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::env::{Env, NS};
use crate::wait::eventually;

/// The path of the `arcane-operator` binary Cargo built for the calling test crate.
#[macro_export]
macro_rules! operator_binary {
    () => {
        ::std::path::Path::new(env!("CARGO_BIN_EXE_arcane-operator"))
    };
}

/// The name of the Lease the replicas elect a leader with (in namespace [`NS`]).
pub const LEASE: &str = "arcane-operator";

/// Timing flags of a fast election: lease 3 s, renew deadline 2 s, retry 500 ms.
pub const FAST_ELECTION: [&str; 7] = [
    "--leader-elect",
    "--lease-duration",
    "3s",
    "--renew-deadline",
    "2s",
    "--retry-period",
    "500ms",
];

/// A loopback address nobody listens on right now (bound, then released).
pub fn free_addr() -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind a free port");
    listener.local_addr().expect("local addr")
}

/// A fresh directory under the system temp dir, unique per process and call.
pub fn temp_dir(tag: &str) -> PathBuf {
    static N: AtomicU32 = AtomicU32::new(0);
    let dir = std::env::temp_dir().join(format!(
        "arcane-test-{tag}-{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::SeqCst)
    ));
    std::fs::create_dir_all(&dir).expect("temp dir");
    dir
}

/// The User-Agent the operator sends as replica `identity` (see `cli::run::user_agent`).
pub fn operator_agent(identity: &str) -> String {
    format!("arcane-operator/{} ({identity})", env!("CARGO_PKG_VERSION"))
}

/// Starts operator processes on one test's sandbox: the binary, a kubeconfig for the sandbox and
/// a fresh directory for the replicas' logs.
pub struct Launcher {
    binary: PathBuf,
    pub kubeconfig: PathBuf,
    pub dir: PathBuf,
}

impl Launcher {
    /// Writes a kubeconfig for `env`'s sandbox into a fresh directory named after `tag`; `binary`
    /// is [`operator_binary!()`](crate::operator_binary).
    pub fn new(binary: &Path, env: &Env, tag: &str) -> Launcher {
        let dir = temp_dir(tag);
        let kubeconfig = dir.join("kubeconfig");
        env.sandbox
            .write_kubeconfig(&kubeconfig)
            .expect("kubeconfig written");
        Launcher {
            binary: binary.to_path_buf(),
            kubeconfig,
            dir,
        }
    }

    /// A sandbox with the demo plugin and no operator in-process, and a launcher on it.
    pub async fn with_sandbox(binary: &Path, tag: &str) -> (Env, Launcher) {
        let env = Env::without_operator().await;
        let launcher = Launcher::new(binary, &env, tag);
        (env, launcher)
    }

    /// Starts replica `identity` with `extra` flags, logging to `<dir>/<identity>.log` (appended
    /// to: a restarted replica continues its log).
    pub fn spawn(&self, identity: &str, extra: &[&str]) -> OperatorProcess {
        let log = self.dir.join(format!("{identity}.log"));
        OperatorProcess::spawn(&self.binary, &self.kubeconfig, &log, identity, extra)
    }

    /// Starts the single replica `operator-0` with default flags.
    pub fn start(&self) -> OperatorProcess {
        self.spawn("operator-0", &[])
    }
}

impl Drop for Launcher {
    /// Removes the directory (kubeconfig and logs), unless the test is failing: then it stays for
    /// a post-mortem.
    fn drop(&mut self) {
        if !std::thread::panicking() {
            let _ = std::fs::remove_dir_all(&self.dir);
        }
    }
}

/// One run of `arcane-operator run`; SIGKILLed (and reaped) when dropped if still running.
pub struct OperatorProcess {
    child: Child,
    /// The replica's identity (`POD_NAME`).
    pub identity: String,
    /// The probe server's address (`/healthz`, `/readyz`).
    pub health: SocketAddr,
    /// The metrics server's address (`/metrics`).
    pub metrics: SocketAddr,
    log: PathBuf,
    status: Option<ExitStatus>,
}

impl OperatorProcess {
    /// Starts `binary run` against `kubeconfig` as replica `identity` (`POD_NAME`, Lease
    /// [`LEASE`] in [`NS`]), logging at info, its output appended to `log`, with `extra` flags.
    pub fn spawn(
        binary: &Path,
        kubeconfig: &Path,
        log: &Path,
        identity: &str,
        extra: &[&str],
    ) -> OperatorProcess {
        let out = File::options()
            .create(true)
            .append(true)
            .open(log)
            .expect("log file");
        let err = out.try_clone().expect("log file");
        let health = free_addr();
        let metrics = free_addr();
        let child = Command::new(binary)
            .arg("run")
            .arg("--kubeconfig")
            .arg(kubeconfig)
            .args(["--health-addr", &health.to_string()])
            .args(["--metrics-addr", &metrics.to_string()])
            .args(["--lease-name", LEASE, "--lease-namespace", NS])
            .args(extra)
            .env("POD_NAME", identity)
            .env("ARCANE_LOG_LEVEL", "info")
            .env_remove("RUST_LOG")
            .env_remove("KUBECONFIG")
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err)
            .spawn()
            .expect("the operator starts");
        OperatorProcess {
            child,
            identity: identity.to_string(),
            health,
            metrics,
            log: log.to_path_buf(),
            status: None,
        }
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// The User-Agent of this replica's requests.
    pub fn agent(&self) -> String {
        operator_agent(&self.identity)
    }

    /// Whether the process is still running (it is reaped once it has exited).
    pub fn alive(&mut self) -> bool {
        if self.status.is_none() {
            self.status = self.child.try_wait().expect("try_wait");
        }
        self.status.is_none()
    }

    /// SIGKILL, then reap.
    pub fn kill(&mut self) {
        if self.alive() {
            // It may exit between the check and the signal; it is reaped below either way.
            let _ = self.child.kill();
            self.status = Some(self.child.wait().expect("wait"));
        }
    }

    /// Sends SIGTERM (to the process id).
    pub fn sigterm(&self) {
        let pid = i32::try_from(self.pid())
            .ok()
            .and_then(rustix::process::Pid::from_raw)
            .expect("a process id");
        rustix::process::kill_process(pid, rustix::process::Signal::TERM).expect("SIGTERM sent");
    }

    /// Waits up to `timeout` for the process to exit; its status, or `None` if still running.
    pub async fn wait_exit(&mut self, timeout: Duration) -> Option<ExitStatus> {
        let deadline = tokio::time::Instant::now() + timeout;
        while self.alive() && tokio::time::Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        self.status
    }

    /// SIGTERM, then waits up to `grace` for the exit.
    pub async fn terminate(&mut self, grace: Duration) -> Option<ExitStatus> {
        self.sigterm();
        self.wait_exit(grace).await
    }

    /// Everything the process (and earlier runs logging to the same file) wrote.
    pub fn logs(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// The last 40 lines of the log, for a failure message.
    pub fn log_tail(&self) -> String {
        let text = self.logs();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(40)..].join("\n")
    }

    /// The liveness probe answers 200.
    pub async fn live(&self) -> bool {
        http_get(self.health, "/healthz", None).await.map(|r| r.0) == Some(200)
    }

    /// Waits until `path` on the probe server answers `status`.
    pub async fn wait_probe(&self, path: &str, status: u16, timeout: Duration) {
        eventually(
            format!("{}: {path} to answer {status}", self.identity),
            timeout,
            || async {
                match http_get(self.health, path, None).await {
                    Some((got, _)) if got == status => Ok(()),
                    got => Err(format!("answered {got:?}; log:\n{}", self.log_tail())),
                }
            },
        )
        .await;
    }
}

impl Drop for OperatorProcess {
    fn drop(&mut self) {
        if matches!(self.child.try_wait(), Ok(None)) {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// `GET path` over HTTP/1.0 (the probe and metrics servers need nothing more); the status and
/// the body, or `None` when nothing listens yet or the answer is incomplete (within 5 s).
pub async fn http_get(addr: SocketAddr, path: &str, accept: Option<&str>) -> Option<(u16, String)> {
    let exchange = async {
        let mut stream = tokio::net::TcpStream::connect(addr).await.ok()?;
        let accept = accept.map(|a| format!("Accept: {a}\r\n")).unwrap_or_default();
        let request = format!("GET {path} HTTP/1.0\r\nHost: {addr}\r\n{accept}\r\n");
        stream.write_all(request.as_bytes()).await.ok()?;
        let mut raw = Vec::new();
        stream.read_to_end(&mut raw).await.ok()?;
        let text = String::from_utf8(raw).ok()?;
        let (head, body) = text.split_once("\r\n\r\n")?;
        let status = head.split_whitespace().nth(1)?.parse().ok()?;
        Some((status, body.to_string()))
    };
    tokio::time::timeout(Duration::from_secs(5), exchange)
        .await
        .ok()
        .flatten()
}
