//! The sandbox fixture: a sandbox API server with the operator's CRDs and the demo plugin's stream
//! kinds, classes and templates, the operator in-process (or not, for tests that run the binary),
//! and the invariant monitor following the sandbox's own events.

use std::time::Duration;

use arcane_operator::controller::{self, Operator};
use arcane_operator::sandbox::{DEMO_YAML, install};
use kube::api::{ApiResource, DeleteParams, DynamicObject, Patch, PatchParams, PostParams};
use kube::core::GroupVersionKind;
use kube::{Api, Client};
use kube_sandbox::requestlog::RequestRecord;
use kube_sandbox::{Sandbox, SandboxConfig};
use serde_json::{Value, json};

use crate::monitor::MonitorTask;
use crate::wait::eventually;

pub const NS: &str = "default";
/// The demo plugin's API group.
pub const GROUP: &str = "streaming.demo.arcane.dev";

/// Shorthand for timeouts in tests.
pub fn secs(s: u64) -> Duration {
    Duration::from_secs(s)
}

/// The demo plugin's stream kinds, one per layout.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    V0,
    V1,
    V2,
}

impl Kind {
    pub const ALL: [Kind; 3] = [Kind::V0, Kind::V1, Kind::V2];

    pub fn kind(self) -> &'static str {
        match self {
            Kind::V0 => "MockStreamV0",
            Kind::V1 => "MockStreamV1",
            Kind::V2 => "MockStreamV2",
        }
    }

    pub fn class(self) -> &'static str {
        match self {
            Kind::V0 => "mock-stream-v0",
            Kind::V1 => "mock-stream-v1",
            Kind::V2 => "mock-stream-v2",
        }
    }

    pub fn resource(self) -> ApiResource {
        let gvk = GroupVersionKind::gvk(GROUP, "v1", self.kind());
        ApiResource::from_gvk_with_plural(&gvk, &format!("{}s", self.kind().to_lowercase()))
    }
}

/// A stream definition of `kind` using the demo templates; Job backend unless `schedule` is given.
pub fn stream(kind: Kind, name: &str, suspended: bool, schedule: Option<&str>) -> Value {
    let backend = match schedule {
        Some(schedule) => json!({"batch": {"schedule": schedule, "jobTemplateRef": {"name": "batch-job"}}}),
        None => json!({"changeCapture": {"jobTemplateRef": {"name": "streaming-job"}}}),
    };
    let spec = match kind {
        Kind::V0 => json!({
            "suspended": suspended,
            "source": format!("{name}-source"),
            "jobTemplateRef": {"name": "streaming-job"},
            "backfillJobTemplateRef": {"name": "backfill-job"},
        }),
        Kind::V1 => json!({
            "source": format!("{name}-source"),
            "execution": {
                "layoutVersion": "v1",
                "suspended": suspended,
                "backfillJobTemplateRef": {"name": "backfill-job"},
                "streamingBackend": backend,
            },
        }),
        Kind::V2 => {
            let mut backend = backend;
            if let Some(cc) = backend.get_mut("changeCapture") {
                cc["backfillJobTemplateRef"] = json!({"name": "backfill-job"});
            }
            json!({
                "source": format!("{name}-source"),
                "connectionStringRef": {"name": "demo-source-connection"},
                "execution": {"layoutVersion": "v2", "suspended": suspended, "streamingBackend": backend},
            })
        }
    };
    json!({
        "apiVersion": format!("{GROUP}/v1"),
        "kind": kind.kind(),
        "metadata": {"name": name, "namespace": NS},
        "spec": spec,
    })
}

/// A sandbox with the operator's CRDs, the demo plugin's kinds, classes and templates, and
/// (once started) the operator.
pub struct Env {
    pub sandbox: Sandbox,
    pub client: Client,
    pub operator: Option<Operator>,
    pub monitor: MonitorTask,
}

impl Env {
    /// Starts the sandbox and installs everything but the demo streams; the operator is started too.
    pub async fn start() -> Env {
        let env = Env::without_operator().await;
        env.with_operator()
    }

    /// Starts the sandbox and installs the plugin, without the operator.
    pub async fn without_operator() -> Env {
        Env::without_operator_where(|_| {}).await
    }

    /// The sandbox also runs a simulated Pod for every Job (`kubectl logs`, `get pods`), with the
    /// operator started.
    pub async fn start_with_pods() -> Env {
        let env = Env::without_operator_where(|c| c.controllers.simulate_pods = true).await;
        env.with_operator()
    }

    /// Starts the sandbox with `adjust` applied to the tests' configuration, and installs the plugin.
    pub async fn without_operator_where(adjust: impl FnOnce(&mut SandboxConfig)) -> Env {
        let mut config = SandboxConfig::default();
        config.controllers.job_after = Duration::from_millis(300);
        config.controllers.cron_minute = Duration::from_secs(2);
        adjust(&mut config);
        let sandbox = Sandbox::start(config).await.expect("sandbox starts");
        let client = sandbox.client().expect("sandbox client");
        let monitor = MonitorTask::start(sandbox.store());
        install::install_crds(&client).await.expect("CRDs install");
        let docs: Vec<Value> = install::parse_documents(DEMO_YAML)
            .expect("demo parses")
            .into_iter()
            .filter(|d| !d["apiVersion"].as_str().unwrap_or_default().starts_with(GROUP))
            // The operator never needs the Secret itself; leaving it out keeps /secrets out of the log.
            .filter(|d| d["kind"] != "Secret")
            .map(fast_templates)
            .collect();
        install::apply_documents(&client, &docs)
            .await
            .expect("demo plugin installs");
        Env {
            sandbox,
            client,
            operator: None,
            monitor,
        }
    }

    /// Starts the operator in-process with the sandbox's client (concurrency 4).
    pub fn with_operator(self) -> Env {
        let client = self.client.clone();
        self.with_operator_client(client)
    }

    /// Starts the operator in-process with `client` (e.g. one with its own User-Agent).
    pub fn with_operator_client(mut self, client: Client) -> Env {
        let config = controller::Config {
            concurrency: 4,
            ..controller::Config::default()
        };
        self.operator = Some(Operator::start(client, config));
        self
    }

    pub fn api(&self, kind: Kind) -> Api<DynamicObject> {
        Api::namespaced_with(self.client.clone(), NS, &kind.resource())
    }

    pub async fn create(&self, kind: Kind, obj: Value) -> DynamicObject {
        let obj: DynamicObject = serde_json::from_value(obj).expect("valid object");
        self.api(kind)
            .create(&PostParams::default(), &obj)
            .await
            .expect("create stream")
    }

    /// Merge-patches a stream's spec.
    pub async fn patch_spec(&self, kind: Kind, name: &str, spec: Value) {
        self.api(kind)
            .patch(
                name,
                &PatchParams::default(),
                &Patch::Merge(json!({"spec": spec})),
            )
            .await
            .expect("patch stream");
    }

    /// Sets the suspended flag where the stream's layout keeps it.
    pub async fn set_suspended(&self, kind: Kind, name: &str, suspended: bool) {
        self.patch_spec(kind, name, suspended_spec(kind, suspended)).await;
    }

    pub async fn get(&self, kind: Kind, name: &str) -> Option<DynamicObject> {
        self.api(kind).get_opt(name).await.expect("get stream")
    }

    pub async fn phase(&self, kind: Kind, name: &str) -> Option<String> {
        self.get(kind, name).await.and_then(|o| {
            o.data
                .pointer("/status/phase")
                .and_then(Value::as_str)
                .map(str::to_string)
        })
    }

    /// The Ready condition's reason.
    pub async fn reason(&self, kind: Kind, name: &str) -> Option<String> {
        let obj = self.get(kind, name).await?;
        obj.data
            .pointer("/status/conditions")?
            .as_array()?
            .iter()
            .find(|c| c["type"] == "Ready")?
            .get("reason")?
            .as_str()
            .map(str::to_string)
    }

    /// Waits until the stream reaches `phase`; panics with the last state after `timeout`.
    pub async fn wait_phase(&self, kind: Kind, name: &str, phase: &str, timeout: Duration) {
        eventually(format!("{name} to reach phase {phase}"), timeout, || async {
            let current = self.phase(kind, name).await;
            if current.as_deref() == Some(phase) {
                return Ok(());
            }
            let reason = self.reason(kind, name).await;
            Err(format!("still {current:?} ({reason:?})"))
        })
        .await;
    }

    /// The Job named `name` in the test namespace, as JSON.
    pub fn job(&self, name: &str) -> Option<Value> {
        self.sandbox
            .store()
            .get(&kube_sandbox::Gvr::new("batch", "v1", "jobs"), Some(NS), name)
    }

    pub fn cronjob(&self, name: &str) -> Option<Value> {
        self.sandbox
            .store()
            .get(&kube_sandbox::Gvr::new("batch", "v1", "cronjobs"), Some(NS), name)
    }

    /// Every BackfillRequest in the test namespace.
    pub fn requests(&self) -> Vec<Value> {
        let gvr = kube_sandbox::Gvr::new("streaming.sneaksanddata.com", "v1", "backfillrequests");
        self.sandbox.store().list(&gvr, Some(NS)).0
    }

    /// Deletes a Job as a user would (background propagation).
    pub async fn delete_job(&self, name: &str) {
        let api: Api<k8s_openapi::api::batch::v1::Job> = Api::namespaced(self.client.clone(), NS);
        api.delete(name, &DeleteParams::background())
            .await
            .expect("delete job");
    }

    /// Events recorded for an object name, as (type, reason) pairs.
    pub fn events_for(&self, name: &str) -> Vec<(String, String)> {
        let gvr = kube_sandbox::Gvr::new("events.k8s.io", "v1", "events");
        self.sandbox
            .store()
            .list(&gvr, Some(NS))
            .0
            .iter()
            .filter(|e| e.pointer("/regarding/name").and_then(Value::as_str) == Some(name))
            .map(|e| {
                (
                    e["type"].as_str().unwrap_or_default().into(),
                    e["reason"].as_str().unwrap_or_default().into(),
                )
            })
            .collect()
    }

    /// The sequence number of the last logged request.
    pub fn last_seq(&self) -> u64 {
        self.sandbox.request_log().last_seq()
    }

    /// Requests logged after sequence number `since`.
    pub fn requests_since(&self, since: u64) -> Vec<RequestRecord> {
        self.sandbox.request_log().since(since)
    }

    /// Mutating requests logged after sequence number `since`, one line each.
    pub fn writes_since(&self, since: u64) -> Vec<String> {
        self.requests_since(since)
            .into_iter()
            .filter(RequestRecord::is_write)
            .map(|r| format!("{} {}?{}", r.method, r.path, r.query))
            .collect()
    }

    /// Waits until the sandbox has answered no write for `window` (bounded by `timeout`). The
    /// sandbox logs a request when it answers, so a window longer than any injected delay covers
    /// the requests still on their way.
    pub async fn wait_quiet(&self, window: Duration, timeout: Duration) {
        self.wait_quiet_of("the sandbox's writes", RequestRecord::is_write, window, timeout)
            .await;
    }

    /// Waits until no request that `counts` selects has been answered for `window` (bounded by
    /// `timeout`); `what` names them in the failure message.
    pub async fn wait_quiet_of(
        &self,
        what: &str,
        counts: impl Fn(&RequestRecord) -> bool,
        window: Duration,
        timeout: Duration,
    ) {
        eventually(format!("{what} to stop"), timeout, || {
            let since = self.last_seq();
            let counts = &counts;
            async move {
                tokio::time::sleep(window).await;
                let seen: Vec<String> = self
                    .requests_since(since)
                    .into_iter()
                    .filter(|r| counts(r))
                    .map(|r| format!("{} {}?{} -> {}", r.method, r.path, r.query, r.status))
                    .collect();
                if seen.is_empty() {
                    Ok(())
                } else {
                    Err(format!("still going on: {seen:#?}"))
                }
            }
        })
        .await;
    }

    /// Asserts the "nothing lost" invariants recorded so far, and that a settled system makes no
    /// write during `window`.
    pub async fn assert_invariants_and_settled(&self, window: Duration) {
        // Settling first: the last Event of a convergence may land just after the phase a test
        // waited for. Then the system must stay silent for the whole window.
        let quiet = Duration::from_millis(500);
        let deadline = tokio::time::Instant::now() + secs(10);
        loop {
            let before = self.last_seq();
            tokio::time::sleep(quiet).await;
            if self.writes_since(before).is_empty() || tokio::time::Instant::now() > deadline {
                break;
            }
        }
        let before = self.last_seq();
        tokio::time::sleep(window).await;
        let writes = self.writes_since(before);
        assert!(writes.is_empty(), "a settled system made writes: {writes:#?}");
        self.assert_invariants();
    }

    /// Asserts N2 and N3 held so far (the monitor), and that nothing touched a Secret (N8).
    pub fn assert_invariants(&self) {
        self.monitor.state().assert_clean();
        let secrets: Vec<String> = self
            .sandbox
            .requests()
            .into_iter()
            .filter(|r| r.path.contains("/secrets"))
            .map(|r| format!("{} {}", r.method, r.path))
            .collect();
        assert!(secrets.is_empty(), "the operator touched Secrets: {secrets:?}");
    }

    pub async fn stop(mut self) {
        if let Some(operator) = self.operator.take() {
            operator.shutdown().await;
        }
        drop(self.monitor);
        self.sandbox.shutdown().await;
    }
}

/// The spec patch that sets the suspended flag where `kind`'s layout keeps it.
pub fn suspended_spec(kind: Kind, suspended: bool) -> Value {
    match kind {
        Kind::V0 => json!({"suspended": suspended}),
        _ => json!({"execution": {"suspended": suspended}}),
    }
}

/// Makes the demo templates quick: backfills succeed after 300 ms, batch runs after 200 ms.
fn fast_templates(mut doc: Value) -> Value {
    if doc["kind"] == "StreamingJobTemplate" {
        let after = match doc.pointer("/metadata/name").and_then(Value::as_str) {
            Some("backfill-job") => "300ms",
            Some("batch-job") => "200ms",
            _ => "1s",
        };
        doc["spec"]["metadata"]["annotations"]["sandbox.arcane.dev/after"] = json!(after);
    }
    doc
}
