//! The operator's production surface: Prometheus metrics, process metrics, and the probe and
//! metrics HTTP servers.

pub mod api;
pub mod health;
pub mod metrics;
pub mod process;
pub mod ratelimit;
pub mod server;
pub mod watch;

use std::net::SocketAddr;
use std::time::Duration;

use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

pub use health::{HealthState, Heartbeat, Readiness, ReadinessCheck};
pub use metrics::{Metrics, ReconcileGuard, ReconcileResult};
pub use server::{ServerHandle, serve_health, serve_metrics};
pub use watch::{ProblemKind, WatchHealth, WatchProblem, WatchTarget, format_gvk};

/// Errors of the telemetry servers.
#[derive(Debug, thiserror::Error)]
pub enum TelemetryError {
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        addr: SocketAddr,
        source: std::io::Error,
    },
    #[error("HTTP server on {addr} failed: {source}")]
    Serve {
        addr: SocketAddr,
        source: std::io::Error,
    },
    #[error("HTTP server task on {addr} ended abnormally: {reason}")]
    Task { addr: SocketAddr, reason: String },
}

/// Where the servers listen and how liveness is judged.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TelemetryConfig {
    pub health_addr: SocketAddr,
    pub metrics_addr: SocketAddr,
    pub heartbeat_interval: Duration,
    pub liveness_threshold: Duration,
}

impl Default for TelemetryConfig {
    fn default() -> Self {
        TelemetryConfig {
            health_addr: SocketAddr::from(([0, 0, 0, 0], 8888)),
            metrics_addr: SocketAddr::from(([0, 0, 0, 0], 9090)),
            heartbeat_interval: health::DEFAULT_HEARTBEAT_INTERVAL,
            liveness_threshold: health::DEFAULT_LIVENESS_THRESHOLD,
        }
    }
}

/// The heartbeat, the probe server and the metrics server, running until `shutdown`.
#[derive(Debug)]
pub struct Telemetry {
    health: ServerHandle,
    metrics: ServerHandle,
    heartbeat: JoinHandle<()>,
}

impl Telemetry {
    /// Binds both addresses and starts serving. If either bind fails, nothing stays running.
    pub async fn start(
        config: &TelemetryConfig,
        metrics: Metrics,
        readiness: impl ReadinessCheck,
        shutdown: CancellationToken,
    ) -> Result<Telemetry, TelemetryError> {
        let own = shutdown.child_token();
        let heartbeat = Heartbeat::new(config.liveness_threshold);
        let beating = heartbeat.spawn(config.heartbeat_interval, own.clone());
        let state = HealthState::new(heartbeat, readiness);
        let started = async {
            let health = serve_health(config.health_addr, state, own.clone()).await?;
            let metrics = serve_metrics(config.metrics_addr, metrics, own.clone()).await?;
            Ok::<_, TelemetryError>((health, metrics))
        };
        match started.await {
            Ok((health, metrics)) => Ok(Telemetry {
                health,
                metrics,
                heartbeat: beating,
            }),
            Err(error) => {
                own.cancel();
                Err(error)
            }
        }
    }

    pub fn health_addr(&self) -> SocketAddr {
        self.health.local_addr()
    }

    pub fn metrics_addr(&self) -> SocketAddr {
        self.metrics.local_addr()
    }

    /// Waits for both servers and the heartbeat to stop (after `shutdown` was cancelled).
    pub async fn wait(self) -> Result<(), TelemetryError> {
        let health = self.health.wait().await;
        let metrics = self.metrics.wait().await;
        // The heartbeat only ends by cancellation; a panic in it has nothing left to report.
        let _ = self.heartbeat.await;
        health.and(metrics)
    }
}
