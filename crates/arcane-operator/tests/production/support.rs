//! The production tier's fixture: a sandbox started in the test process with a kubeconfig for
//! operator processes (the testkit's [`OperatorProcess`], one per replica), a test client with its
//! own User-Agent so the sandbox's request log tells test, installer and replicas apart, and the
//! operator's `/metrics` read through the Prometheus text parser.

use std::time::{Duration, Instant};

use arcane_testkit::process::{LEASE, Launcher, OperatorProcess, http_get};
use arcane_testkit::{Env, Kind, NS, eventually, operator_binary, secs, stream};
use kube::api::{DynamicObject, Patch, PatchParams, PostParams};
use kube::{Api, Client};
use kube_sandbox::requestlog::RequestRecord;
use serde_json::Value;

use crate::prom::Scrape;

/// The User-Agent of the test's own client.
pub(crate) const TEST_AGENT: &str = "arcane-production-test";

/// The sandbox with the operator's CRDs and the demo plugin (installed before any operator
/// process starts), its kubeconfig, and a client for the test's own requests.
pub(crate) struct Setup {
    pub env: Env,
    pub client: Client,
    pub launcher: Launcher,
}

impl Setup {
    pub(crate) async fn start(tag: &str) -> Setup {
        let env = Env::without_operator().await;
        let launcher = Launcher::new(operator_binary!(), &env, tag);
        let mut config = kube::Config::new(env.sandbox.url().parse().unwrap());
        config.headers.push((
            http::header::USER_AGENT,
            http::HeaderValue::from_static(TEST_AGENT),
        ));
        let client = Client::try_from(config).unwrap();
        Setup {
            env,
            client,
            launcher,
        }
    }

    pub(crate) fn api(&self, kind: Kind) -> Api<DynamicObject> {
        Api::namespaced_with(self.client.clone(), NS, &kind.resource())
    }

    pub(crate) async fn create(&self, kind: Kind, obj: Value) {
        let obj: DynamicObject = serde_json::from_value(obj).unwrap();
        self.api(kind).create(&PostParams::default(), &obj).await.unwrap();
    }

    pub(crate) async fn patch(&self, kind: Kind, name: &str, patch: Value) {
        self.api(kind)
            .patch(name, &PatchParams::default(), &Patch::Merge(patch))
            .await
            .unwrap();
    }

    pub(crate) async fn set_suspended(&self, kind: Kind, name: &str, suspended: bool) {
        let spec = arcane_testkit::env::suspended_spec(kind, suspended);
        self.patch(kind, name, serde_json::json!({"spec": spec})).await;
    }

    /// The Lease, if it exists.
    pub(crate) fn lease(&self) -> Option<Value> {
        let gvr = kube_sandbox::Gvr::new("coordination.k8s.io", "v1", "leases");
        self.env.sandbox.store().get(&gvr, Some(NS), LEASE)
    }

    /// The Lease's holder, if the Lease exists and names one.
    pub(crate) fn lease_holder(&self) -> Option<String> {
        self.lease()?
            .pointer("/spec/holderIdentity")
            .and_then(Value::as_str)
            .filter(|h| !h.is_empty())
            .map(str::to_string)
    }

    /// Every stream of every demo kind in the store: (class, name, phase).
    pub(crate) fn stream_phases(&self) -> Vec<(String, String, Option<String>)> {
        let mut out = Vec::new();
        for kind in Kind::ALL {
            let resource = format!("{}s", kind.kind().to_lowercase());
            let gvr = kube_sandbox::Gvr::new(arcane_testkit::GROUP, "v1", &resource);
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

    /// Starts `arcane-operator run` as replica `identity` with extra flags.
    pub(crate) fn spawn(&self, identity: &str, extra: &[&str]) -> OperatorProcess {
        self.launcher.spawn(identity, extra)
    }

    pub(crate) async fn stop(self) {
        self.env.stop().await;
    }
}

/// The operator's `/metrics`, parsed.
pub(crate) trait Scraping {
    /// Scrapes `/metrics` (Prometheus text) and parses it; `None` while nothing answers.
    async fn scrape(&self) -> Option<Scrape>;

    /// `leader_election_master_status` of the Lease, once the metrics server answers.
    async fn master_status(&self) -> Option<f64>;

    /// Waits until `leader_election_master_status` is `value`; returns when it saw it.
    async fn wait_master_status(&self, value: f64, timeout: Duration) -> Instant;
}

impl Scraping for OperatorProcess {
    async fn scrape(&self) -> Option<Scrape> {
        let (status, body) = http_get(self.metrics, "/metrics", None).await?;
        assert_eq!(status, 200, "/metrics answered {status}: {body}");
        Some(Scrape::parse(&body).unwrap_or_else(|e| panic!("unparsable /metrics: {e}\n{body}")))
    }

    async fn master_status(&self) -> Option<f64> {
        self.scrape()
            .await?
            .get("leader_election_master_status", &[("name", LEASE)])
    }

    async fn wait_master_status(&self, value: f64, timeout: Duration) -> Instant {
        eventually(
            format!(
                "{}: leader_election_master_status to become {value}",
                self.identity
            ),
            timeout,
            || async {
                match self.master_status().await {
                    Some(got) if got == value => Ok(Instant::now()),
                    got => Err(format!("{got:?}; log:\n{}", self.log_tail())),
                }
            },
        )
        .await
    }
}

/// Whether a logged request addresses the coordination.k8s.io Leases.
pub(crate) fn is_lease(r: &RequestRecord) -> bool {
    r.path.starts_with("/apis/coordination.k8s.io/")
}

pub(crate) fn describe(r: &RequestRecord) -> String {
    format!(
        "#{} {} {}?{} [{}] -> {}",
        r.seq, r.method, r.path, r.query, r.user_agent, r.status
    )
}

/// Kills the leader `a` with SIGKILL and waits for the standby `b` to lead: asserts the takeover
/// time and that `b` holds the Lease and acts (a new V2 stream runs; V1 `before` still runs).
pub(crate) async fn kill_leader_and_take_over(
    setup: &Setup,
    a: &mut OperatorProcess,
    b: &OperatorProcess,
    label: &str,
) {
    a.kill();
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
