//! The operator binary as a child process against the test's sandbox: started, SIGKILLed,
//! SIGTERMed and restarted by its process id only.

use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

/// A loopback port free at the time of asking.
pub fn free_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind a free port");
    listener.local_addr().expect("local addr").port()
}

/// One run of `arcane-operator run`; SIGKILLed when dropped if still running.
pub struct OperatorProcess {
    child: Child,
    log: PathBuf,
    pub health_port: u16,
}

impl OperatorProcess {
    /// Starts the operator with its probe and metrics servers on free loopback ports, appending its
    /// output to `log`.
    pub fn start(kubeconfig: &Path, log: &Path) -> OperatorProcess {
        let out = File::options()
            .create(true)
            .append(true)
            .open(log)
            .expect("log file");
        let err = out.try_clone().expect("log file");
        let health_port = free_port();
        let metrics_port = free_port();
        let child = Command::new(env!("CARGO_BIN_EXE_arcane-operator"))
            .arg("run")
            .arg("--kubeconfig")
            .arg(kubeconfig)
            .arg("--health-addr")
            .arg(format!("127.0.0.1:{health_port}"))
            .arg("--metrics-addr")
            .arg(format!("127.0.0.1:{metrics_port}"))
            .env("ARCANE_LOG_LEVEL", "info")
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err)
            .spawn()
            .expect("the operator starts");
        OperatorProcess {
            child,
            log: log.to_path_buf(),
            health_port,
        }
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Whether the process is still running.
    pub fn alive(&mut self) -> bool {
        self.child.try_wait().expect("try_wait").is_none()
    }

    /// SIGKILL, then reap.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// SIGTERM (by pid) and wait up to `grace` for the exit.
    pub fn terminate(&mut self, grace: Duration) -> Option<ExitStatus> {
        let sent = Command::new("kill")
            .arg("-TERM")
            .arg(self.pid().to_string())
            .status()
            .expect("kill runs");
        assert!(sent.success(), "SIGTERM sent");
        let deadline = Instant::now() + grace;
        while Instant::now() < deadline {
            if let Some(status) = self.child.try_wait().expect("try_wait") {
                return Some(status);
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        None
    }

    /// The liveness probe answers 200.
    pub async fn live(&self) -> bool {
        probe(self.health_port, "/healthz").await
    }

    pub fn log_tail(&self) -> String {
        let text = std::fs::read_to_string(&self.log).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(40)..].join("\n")
    }
}

impl Drop for OperatorProcess {
    fn drop(&mut self) {
        if self.alive() {
            self.kill();
        }
    }
}

/// A bare HTTP/1.0 GET on loopback (the probe server needs nothing more); true on a 200.
async fn probe(port: u16, path: &str) -> bool {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let attempt = async {
        let mut stream = tokio::net::TcpStream::connect(("127.0.0.1", port)).await.ok()?;
        stream
            .write_all(format!("GET {path} HTTP/1.0\r\nHost: localhost\r\n\r\n").as_bytes())
            .await
            .ok()?;
        let mut head = [0u8; 12];
        stream.read_exact(&mut head).await.ok()?;
        Some(head.starts_with(b"HTTP/1.1 200") || head.starts_with(b"HTTP/1.0 200"))
    };
    tokio::time::timeout(Duration::from_secs(2), attempt)
        .await
        .ok()
        .flatten()
        .unwrap_or(false)
}

/// Temporary kubeconfig and log paths for a test, unique per process.
pub fn paths(test: &str) -> (PathBuf, PathBuf) {
    let dir = std::env::temp_dir();
    let kubeconfig = dir.join(format!("arcane-rel-{test}-{}.kubeconfig", std::process::id()));
    let log = dir.join(format!("arcane-rel-{test}-{}.log", std::process::id()));
    let _ = std::fs::remove_file(&log);
    (kubeconfig, log)
}
