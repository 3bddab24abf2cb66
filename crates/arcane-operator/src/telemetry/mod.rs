//! The operator's production surface: Prometheus metrics, process metrics, and the probe and
//! metrics HTTP servers.

pub mod health;
pub mod metrics;
pub mod process;
pub mod server;

use std::net::SocketAddr;

pub use health::{HealthState, Heartbeat, Readiness, ReadinessCheck};
pub use metrics::{Metrics, ReconcileGuard, ReconcileResult};
pub use server::{ServerHandle, serve_health, serve_metrics};

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
