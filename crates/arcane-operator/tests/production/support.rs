//! The operator as a child process (`arcane-operator run`) against a sandbox started in the test
//! process, a minimal HTTP client for its probe and metrics servers, and a test client with its
//! own User-Agent so the sandbox's request log tells test, installer and replicas apart.

use std::net::{SocketAddr, TcpListener};
use std::path::PathBuf;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use kube::api::{DynamicObject, Patch, PatchParams, PostParams};
use kube::{Api, Client};
use kube_sandbox::requestlog::RequestRecord;
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use super::harness::{Env, Kind, NS};
use super::prom::Scrape;

/// The User-Agent of the test's own client.
pub const TEST_AGENT: &str = "arcane-production-test";
pub const LEASE: &str = "arcane-operator";

/// The User-Agent the operator sends as replica `identity` (see `cli::run::user_agent`).
pub fn operator_agent(identity: &str) -> String {
    format!("arcane-operator/{} ({identity})", env!("CARGO_PKG_VERSION"))
}

/// A port nobody listens on right now (bound, then released).
pub fn free_addr() -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    listener.local_addr().unwrap()
}

/// A fresh directory under the system temp dir.
pub fn temp_dir(tag: &str) -> PathBuf {
    static N: AtomicU32 = AtomicU32::new(0);
    let dir = std::env::temp_dir().join(format!(
        "arcane-production-{tag}-{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::SeqCst)
    ));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// The sandbox with the operator's CRDs and the demo plugin (installed before any operator
/// process starts), its kubeconfig, and a client for the test's own requests.
pub struct Setup {
    pub env: Env,
    pub client: Client,
    pub kubeconfig: PathBuf,
    pub dir: PathBuf,
}

impl Setup {
    pub async fn start(tag: &str) -> Setup {
        let env = Env::without_operator().await;
        let dir = temp_dir(tag);
        let kubeconfig = dir.join("kubeconfig");
        env.sandbox.write_kubeconfig(&kubeconfig).unwrap();
        let mut config = kube::Config::new(env.sandbox.url().parse().unwrap());
        config.headers.push((
            axum::http::header::USER_AGENT,
            axum::http::HeaderValue::from_static(TEST_AGENT),
        ));
        let client = Client::try_from(config).unwrap();
        Setup {
            env,
            client,
            kubeconfig,
            dir,
        }
    }

    /// The sequence number of the last logged request.
    pub fn seq(&self) -> u64 {
        self.env.sandbox.request_log().last_seq()
    }

    /// Logged requests after `seq`.
    pub fn requests_since(&self, seq: u64) -> Vec<RequestRecord> {
        self.env.sandbox.request_log().since(seq)
    }

    pub fn api(&self, kind: Kind) -> Api<DynamicObject> {
        Api::namespaced_with(self.client.clone(), NS, &kind.resource())
    }

    pub async fn create(&self, kind: Kind, obj: Value) {
        let obj: DynamicObject = serde_json::from_value(obj).unwrap();
        self.api(kind).create(&PostParams::default(), &obj).await.unwrap();
    }

    pub async fn patch(&self, kind: Kind, name: &str, patch: Value) {
        self.api(kind)
            .patch(name, &PatchParams::default(), &Patch::Merge(patch))
            .await
            .unwrap();
    }

    pub async fn set_suspended(&self, kind: Kind, name: &str, suspended: bool) {
        let spec = match kind {
            Kind::V0 => json!({"suspended": suspended}),
            _ => json!({"execution": {"suspended": suspended}}),
        };
        self.patch(kind, name, json!({"spec": spec})).await;
    }

    /// The Lease, if it exists.
    pub fn lease(&self) -> Option<Value> {
        let gvr = kube_sandbox::Gvr::new("coordination.k8s.io", "v1", "leases");
        self.env.sandbox.store().get(&gvr, Some(NS), LEASE)
    }

    /// The Lease's holder, if the Lease exists and names one.
    pub fn lease_holder(&self) -> Option<String> {
        self.lease()?
            .pointer("/spec/holderIdentity")
            .and_then(Value::as_str)
            .filter(|h| !h.is_empty())
            .map(str::to_string)
    }

    /// Every stream of every demo kind in the store: (class, name, phase).
    pub fn stream_phases(&self) -> Vec<(String, String, Option<String>)> {
        let mut out = Vec::new();
        for kind in Kind::ALL {
            let resource = format!("{}s", kind.kind().to_lowercase());
            let gvr = kube_sandbox::Gvr::new(super::harness::GROUP, "v1", &resource);
            for obj in self.env.sandbox.store().list(&gvr, Some(NS)).0 {
                let name = obj
                    .pointer("/metadata/name")
                    .and_then(Value::as_str)
                    .unwrap_or_default();
                let phase = obj
                    .pointer("/status/phase")
                    .and_then(Value::as_str)
                    .map(str::to_string);
                out.push((kind.class().to_string(), name.to_string(), phase));
            }
        }
        out
    }

    pub async fn stop(self) {
        self.env.stop().await;
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

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

/// One `arcane-operator run` child process; killed when dropped.
pub struct Operator {
    child: Child,
    pub identity: String,
    pub health: SocketAddr,
    pub metrics: SocketAddr,
    log: PathBuf,
    status: Option<ExitStatus>,
}

impl Operator {
    /// Starts `arcane-operator run` as replica `identity` (POD_NAME) with extra flags.
    pub fn spawn(setup: &Setup, identity: &str, extra: &[&str]) -> Operator {
        let health = free_addr();
        let metrics = free_addr();
        let log = setup.dir.join(format!("{identity}.log"));
        let out = std::fs::File::create(&log).unwrap();
        let err = out.try_clone().unwrap();
        let child = Command::new(env!("CARGO_BIN_EXE_arcane-operator"))
            .arg("run")
            .arg("--kubeconfig")
            .arg(&setup.kubeconfig)
            .args([
                "--health-addr",
                &health.to_string(),
                "--metrics-addr",
                &metrics.to_string(),
            ])
            .args(["--lease-name", LEASE, "--lease-namespace", NS])
            .args(extra)
            .env("POD_NAME", identity)
            .env("RUST_LOG", "info")
            .env_remove("ARCANE_LOG_LEVEL")
            .stdin(Stdio::null())
            .stdout(Stdio::from(out))
            .stderr(Stdio::from(err))
            .spawn()
            .unwrap();
        Operator {
            child,
            identity: identity.to_string(),
            health,
            metrics,
            log,
            status: None,
        }
    }

    pub fn agent(&self) -> String {
        operator_agent(&self.identity)
    }

    pub fn logs(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    pub fn sigterm(&self) {
        let status = Command::new("kill")
            .arg("-TERM")
            .arg(self.child.id().to_string())
            .status()
            .unwrap();
        assert!(status.success(), "kill -TERM failed");
    }

    /// SIGKILL, and reaps the process.
    pub fn sigkill(&mut self) {
        self.child.kill().unwrap();
        self.status = Some(self.child.wait().unwrap());
    }

    /// Waits up to `timeout` for the process to exit.
    pub async fn wait_exit(&mut self, timeout: Duration) -> Option<ExitStatus> {
        let deadline = Instant::now() + timeout;
        while Instant::now() < deadline {
            if let Some(status) = self.child.try_wait().unwrap() {
                self.status = Some(status);
                return Some(status);
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
        None
    }

    /// Scrapes `/metrics` (Prometheus text) and parses it.
    pub async fn scrape(&self) -> Option<Scrape> {
        let (status, body) = http_get(self.metrics, "/metrics", None).await?;
        assert_eq!(status, 200, "/metrics answered {status}: {body}");
        Some(Scrape::parse(&body).unwrap_or_else(|e| panic!("unparsable /metrics: {e}\n{body}")))
    }

    /// `leader_election_master_status` of the Lease, once the metrics server answers.
    pub async fn master_status(&self) -> Option<f64> {
        self.scrape()
            .await?
            .get("leader_election_master_status", &[("name", LEASE)])
    }

    /// Waits until `leader_election_master_status` is `value`; returns when it saw it.
    pub async fn wait_master_status(&self, value: f64, timeout: Duration) -> Instant {
        let deadline = Instant::now() + timeout;
        loop {
            if self.master_status().await == Some(value) {
                return Instant::now();
            }
            assert!(
                Instant::now() < deadline,
                "{}: leader_election_master_status never became {value} within {timeout:?}\n{}",
                self.identity,
                self.logs()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Waits until `path` on the probe server answers `status`.
    pub async fn wait_probe(&self, path: &str, status: u16, timeout: Duration) {
        let deadline = Instant::now() + timeout;
        loop {
            if http_get(self.health, path, None).await.map(|r| r.0) == Some(status) {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "{}: {path} never answered {status} within {timeout:?}\n{}",
                self.identity,
                self.logs()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

impl Drop for Operator {
    fn drop(&mut self) {
        if self.status.is_none() && matches!(self.child.try_wait(), Ok(None)) {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// `GET path` over HTTP/1.0; `None` when nothing listens yet or the answer is incomplete.
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

/// Polls `check` every 50 ms until it holds; panics with `what` after `timeout`.
pub async fn eventually<F, Fut>(what: &str, timeout: Duration, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<(), String>>,
{
    let deadline = Instant::now() + timeout;
    loop {
        match check().await {
            Ok(()) => return,
            Err(last) if Instant::now() >= deadline => panic!("timed out waiting for {what}: {last}"),
            Err(_) => tokio::time::sleep(Duration::from_millis(100)).await,
        }
    }
}

/// Whether a logged request addresses the coordination.k8s.io Leases.
pub fn is_lease(r: &RequestRecord) -> bool {
    r.path.starts_with("/apis/coordination.k8s.io/")
}

pub fn describe(r: &RequestRecord) -> String {
    format!(
        "#{} {} {}?{} [{}] -> {}",
        r.seq, r.method, r.path, r.query, r.user_agent, r.status
    )
}

/// Kills the leader `a` with SIGKILL and waits for the standby `b` to lead: asserts the takeover
/// time and that `b` holds the Lease and acts (a new V2 stream runs; V1 `before` still runs).
pub async fn kill_leader_and_take_over(setup: &Setup, a: &mut Operator, b: &Operator, label: &str) {
    use super::harness::{secs, stream};
    a.sigkill();
    let killed = Instant::now();
    let took_over = b.wait_master_status(1.0, secs(10)).await;
    let takeover = took_over - killed;
    // The standby may take over once the record is a lease duration (3 s) old on its own clock,
    // and it polls every retry period (500 ms, +20 % jitter): it saw the last renewal up to one
    // poll late and sees the expiry up to one poll late (≤ 4.2 s); the assertion allows 1.8 s on
    // top. Clock skew between the replicas must add nothing (F18).
    assert!(takeover <= secs(6), "{label}: takeover took {takeover:?}");
    eprintln!("{label}: replica-b leads {takeover:?} after replica-a was killed");
    assert_eq!(setup.lease_holder().as_deref(), Some("replica-b"));
    setup
        .create(Kind::V2, stream(Kind::V2, "after", false, None))
        .await;
    setup.env.wait_phase(Kind::V2, "after", "Running", secs(20)).await;
    setup.env.wait_phase(Kind::V1, "before", "Running", secs(5)).await;
}
