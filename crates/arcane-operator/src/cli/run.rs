//! `arcane-operator run`: the operator against a real cluster.

use axum::http::{HeaderValue, header};
use kube::client::ClientBuilder;
use kube::config::{KubeConfigOptions, Kubeconfig};
use kube::{Client, Config};
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

use super::RunArgs;
use crate::controller::{self, Operator};
use crate::leader::{self, LeaderConfig, LeaderElection};
use crate::telemetry::api::ApiMetricsLayer;
use crate::telemetry::{Metrics, Readiness, Telemetry, TelemetryConfig};

/// Errors that stop the operator.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error("cannot read kubeconfig: {0}")]
    Kubeconfig(#[from] kube::config::KubeconfigError),
    #[error("cannot infer a cluster configuration: {0}")]
    Infer(#[from] kube::config::InferConfigError),
    #[error("cannot create a Kubernetes client: {0}")]
    Client(#[from] kube::Error),
    #[error("cannot install the signal handler: {0}")]
    Signal(#[from] std::io::Error),
    #[error(transparent)]
    Telemetry(#[from] crate::telemetry::TelemetryError),
    #[error(transparent)]
    Leader(#[from] leader::LeaderError),
    #[error("leadership lost: stopped at once so that only one replica acts")]
    LeadershipLost,
}

/// A client for the cluster named by `--kubeconfig`, or inferred from the environment. Every call
/// through it (requests, watches, Events, the Lease) is counted in `metrics` by one layer:
/// `rest_client_requests_total` and `arcane_api_errors_total`.
pub async fn client(args: &RunArgs, metrics: &Metrics) -> Result<Client, RunError> {
    let mut config = match &args.kubeconfig {
        Some(path) => {
            let kubeconfig = Kubeconfig::read_from(path)?;
            Config::from_custom_kubeconfig(kubeconfig, &KubeConfigOptions::default()).await?
        }
        None => Config::infer().await?,
    };
    config.headers.push((header::USER_AGENT, user_agent()));
    let counted = ApiMetricsLayer::new(metrics.clone(), &ApiMetricsLayer::host_of(&config.cluster_url));
    Ok(ClientBuilder::try_from(config)?.with_layer(&counted).build())
}

/// `arcane-operator/<version> (<identity>)`: kube sends no User-Agent of its own, and with one per
/// replica the API server's audit log tells which replica made each request.
fn user_agent() -> HeaderValue {
    let product = concat!("arcane-operator/", env!("CARGO_PKG_VERSION"));
    let identity = leader::default_identity().unwrap_or_else(|| std::process::id().to_string());
    HeaderValue::from_str(&format!("{product} ({identity})"))
        .unwrap_or_else(|_| HeaderValue::from_static(product))
}

pub fn controller_config(args: &RunArgs) -> controller::Config {
    controller::Config {
        namespace: args.namespace.clone(),
        concurrency: args.concurrency.max(1),
        instance: leader::default_identity(),
    }
}

fn leader_config(args: &RunArgs) -> LeaderConfig {
    let namespace = args
        .lease_namespace
        .clone()
        .or_else(|| std::env::var("POD_NAMESPACE").ok().filter(|n| !n.is_empty()))
        .unwrap_or_else(|| "default".to_string());
    let identity =
        leader::default_identity().unwrap_or_else(|| format!("arcane-operator-{}", std::process::id()));
    LeaderConfig {
        lease_duration: args.lease_duration,
        renew_deadline: args.renew_deadline,
        retry_period: args.retry_period,
        clock_skew: args.lease_clock_skew,
        ..LeaderConfig::new(&args.lease_name, &namespace, &identity)
    }
}

/// What the readiness probe reports: the operator's watches once it runs; a replica waiting for
/// leadership is ready as a standby (so rolling updates of several replicas complete), and
/// `leader_election_master_status` tells which one leads.
/// A replica whose Lease calls fail (namespace missing, RBAC) is not ready: it can never lead.
#[derive(Clone)]
struct ProbeState {
    operator: watch::Receiver<Option<ReadyFn>>,
    standby: bool,
    lease: watch::Receiver<Option<watch::Receiver<Option<String>>>>,
}

/// What the operator still waits for (empty: ready).
type ReadyFn = std::sync::Arc<dyn Fn() -> Vec<String> + Send + Sync>;

impl ProbeState {
    fn readiness(&self) -> Readiness {
        let mut missing = match self.operator.borrow().as_ref() {
            Some(not_ready) => not_ready(),
            None if self.standby => Vec::new(),
            None => vec!["the operator to start".to_string()],
        };
        if let Some(trouble) = self.lease.borrow().as_ref().and_then(|t| t.borrow().clone()) {
            missing.push(format!("leader election: {trouble}"));
        }
        if missing.is_empty() {
            Readiness::Ready
        } else {
            Readiness::NotReady(format!("waiting for: {}", missing.join("; ")))
        }
    }
}

/// Runs the operator until SIGTERM or Ctrl-C, then shuts down gracefully.
pub async fn run(args: RunArgs) -> Result<(), RunError> {
    let metrics = Metrics::new();
    let client = client(&args, &metrics).await?;
    let shutdown = CancellationToken::new();
    let (publish_ready, ready_rx) = watch::channel::<Option<ReadyFn>>(None);
    let (publish_lease, lease_rx) = watch::channel(None);
    let probes = ProbeState {
        operator: ready_rx,
        standby: args.leader_elect,
        lease: lease_rx,
    };
    let telemetry_config = TelemetryConfig {
        health_addr: args.health_addr,
        metrics_addr: args.metrics_addr,
        ..TelemetryConfig::default()
    };
    let telemetry = Telemetry::start(
        &telemetry_config,
        metrics.clone(),
        move || probes.readiness(),
        shutdown.clone(),
    )
    .await?;
    let signal = wait_for_signal();
    tokio::pin!(signal);

    let election = if args.leader_elect {
        let config = leader_config(&args);
        if !config.clock_skew.is_zero() {
            tracing::warn!(skew = %config.clock_skew, "fault injection: Lease times are written with a skewed clock");
        }
        let election = LeaderElection::start(client.clone(), config, Some(metrics.clone()))?;
        publish_lease.send_replace(Some(election.trouble()));
        let mut leading = election.subscribe();
        tracing::info!("waiting for leadership");
        tokio::select! {
            result = &mut signal => {
                result?;
                release(election).await;
                shutdown.cancel();
                let _ = telemetry.wait().await;
                return Ok(());
            }
            _ = leading.wait_for(|l| *l) => tracing::info!("leading"),
        }
        Some((election, leading))
    } else {
        None
    };

    let operator = Operator::start_with_metrics(client, controller_config(&args), metrics);
    let ctx = operator.ctx.clone();
    let ready: ReadyFn = std::sync::Arc::new(move || ctx.not_ready());
    publish_ready.send_replace(Some(ready));
    tracing::info!(namespace = ?args.namespace, "arcane-operator started");

    let outcome = match election {
        Some((election, mut leading)) => {
            tokio::select! {
                result = &mut signal => {
                    result?;
                    tracing::info!("shutting down");
                    operator.shutdown().await;
                    release(election).await;
                    Ok(())
                }
                _ = leading.wait_for(|l| !*l) => {
                    tracing::error!("leadership lost, stopping at once");
                    operator.halt();
                    Err(RunError::LeadershipLost)
                }
            }
        }
        None => {
            signal.await?;
            tracing::info!("shutting down");
            operator.shutdown().await;
            Ok(())
        }
    };
    shutdown.cancel();
    if let Err(error) = telemetry.wait().await {
        tracing::warn!(%error, "telemetry servers ended with an error");
    }
    outcome
}

/// Gives the Lease up so that a successor takes over at once rather than after it expires.
async fn release(election: LeaderElection) {
    if let Err(error) = election.release().await {
        tracing::warn!(%error, "cannot release the Lease; it expires by itself");
    }
}

/// Waits for SIGTERM or SIGINT.
pub async fn wait_for_signal() -> Result<(), std::io::Error> {
    use tokio::signal::unix::{SignalKind, signal};
    let mut term = signal(SignalKind::terminate())?;
    let mut int = signal(SignalKind::interrupt())?;
    tokio::select! {
        _ = term.recv() => {}
        _ = int.recv() => {}
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use clap::Parser;
    use jiff::SignedDuration;

    use super::*;
    use crate::cli::{Cli, Command};

    fn leader_config_of(argv: &[&str]) -> LeaderConfig {
        let argv = ["arcane-operator", "run"].iter().chain(argv);
        match Cli::try_parse_from(argv).unwrap().command {
            Command::Run(args) => leader_config(&args),
            other => panic!("parsed as {other:?}"),
        }
    }

    #[test]
    fn leader_config_carries_the_flags() {
        let plain = leader_config_of(&["--lease-name", "l", "--lease-namespace", "ns"]);
        assert_eq!(plain.clock_skew, SignedDuration::ZERO);
        assert_eq!(
            (plain.lease_name.as_str(), plain.lease_namespace.as_str()),
            ("l", "ns")
        );
        plain.validate().unwrap();

        let skewed = leader_config_of(&[
            "--lease-clock-skew",
            "-10s",
            "--lease-duration",
            "3s",
            "--renew-deadline",
            "2s",
            "--retry-period",
            "500ms",
        ]);
        assert_eq!(skewed.clock_skew, SignedDuration::from_secs(-10));
        assert_eq!(skewed.lease_duration, std::time::Duration::from_secs(3));
        assert_eq!(skewed.retry_period, std::time::Duration::from_millis(500));
        skewed.validate().unwrap();
    }
}
