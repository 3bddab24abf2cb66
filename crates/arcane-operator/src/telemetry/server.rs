//! The probe server (`/health`, `/healthz`, `/health/ready`, `/readyz`) and the metrics server
//! (`/metrics`), each on its own address and stopped by a [`CancellationToken`].

use std::net::SocketAddr;

use axum::Router;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use tokio::net::TcpListener;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use super::TelemetryError;
use super::health::{HealthState, Readiness};
use super::metrics::Metrics;

/// Default probe address (Arcane's port).
pub const DEFAULT_HEALTH_ADDR: &str = "0.0.0.0:8888";
/// Default metrics address (Arcane's port).
pub const DEFAULT_METRICS_ADDR: &str = "0.0.0.0:9090";

/// `Content-Type` of OpenMetrics 1.0 text.
pub const OPENMETRICS_CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";
/// `Content-Type` of the Prometheus text format 0.0.4.
pub const PROMETHEUS_CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// A running HTTP server.
#[derive(Debug)]
pub struct ServerHandle {
    addr: SocketAddr,
    task: JoinHandle<std::io::Result<()>>,
}

impl ServerHandle {
    /// The address the server listens on (the real port when bound to port 0).
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// Waits until the server has stopped (after its shutdown token was cancelled).
    pub async fn wait(self) -> Result<(), TelemetryError> {
        let addr = self.addr;
        match self.task.await {
            Ok(Ok(())) => Ok(()),
            Ok(Err(source)) => Err(TelemetryError::Serve { addr, source }),
            Err(join) => Err(TelemetryError::Task {
                addr,
                reason: join.to_string(),
            }),
        }
    }
}

/// Routes of the probe server.
pub fn health_router(state: HealthState) -> Router {
    Router::new()
        .route("/health", get(liveness))
        .route("/healthz", get(liveness))
        .route("/health/ready", get(readiness))
        .route("/readyz", get(readiness))
        .with_state(state)
}

/// Routes of the metrics server.
pub fn metrics_router(metrics: Metrics) -> Router {
    Router::new().route("/metrics", get(scrape)).with_state(metrics)
}

/// Binds `addr` and serves the probes until `shutdown` is cancelled.
pub async fn serve_health(
    addr: SocketAddr,
    state: HealthState,
    shutdown: CancellationToken,
) -> Result<ServerHandle, TelemetryError> {
    serve(addr, health_router(state), shutdown).await
}

/// Binds `addr` and serves `/metrics` until `shutdown` is cancelled.
pub async fn serve_metrics(
    addr: SocketAddr,
    metrics: Metrics,
    shutdown: CancellationToken,
) -> Result<ServerHandle, TelemetryError> {
    serve(addr, metrics_router(metrics), shutdown).await
}

async fn serve(
    addr: SocketAddr,
    router: Router,
    shutdown: CancellationToken,
) -> Result<ServerHandle, TelemetryError> {
    let listener = TcpListener::bind(addr)
        .await
        .map_err(|source| TelemetryError::Bind { addr, source })?;
    let bound = listener
        .local_addr()
        .map_err(|source| TelemetryError::Bind { addr, source })?;
    let task = tokio::spawn(async move {
        axum::serve(listener, router)
            .with_graceful_shutdown(shutdown.cancelled_owned())
            .await
    });
    Ok(ServerHandle { addr: bound, task })
}

fn text(status: StatusCode, body: String) -> Response {
    (
        status,
        [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
        body,
    )
        .into_response()
}

async fn liveness(State(state): State<HealthState>) -> Response {
    match state.liveness() {
        Ok(body) => text(StatusCode::OK, body),
        Err(reason) => text(StatusCode::SERVICE_UNAVAILABLE, reason),
    }
}

async fn readiness(State(state): State<HealthState>) -> Response {
    match state.readiness.check() {
        Readiness::Ready => text(StatusCode::OK, "OK".to_string()),
        Readiness::NotReady(reason) => text(StatusCode::SERVICE_UNAVAILABLE, reason),
    }
}

/// Serves OpenMetrics to clients that ask for it (Prometheus does), else the Prometheus text
/// format, which every other scraper understands.
async fn scrape(State(metrics): State<Metrics>, headers: HeaderMap) -> Response {
    let wants_openmetrics = headers
        .get_all(header::ACCEPT)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .any(|v| v.contains("application/openmetrics-text"));
    let (content_type, body) = if wants_openmetrics {
        (OPENMETRICS_CONTENT_TYPE, metrics.encode())
    } else {
        (PROMETHEUS_CONTENT_TYPE, metrics.encode_prometheus())
    };
    (
        StatusCode::OK,
        [(header::CONTENT_TYPE, HeaderValue::from_static(content_type))],
        body,
    )
        .into_response()
}

#[cfg(test)]
mod tests;
