use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use super::*;
use crate::telemetry::health::Heartbeat;
use crate::telemetry::metrics::tests::{parse_samples, value};

const LOCAL: &str = "127.0.0.1:0";

/// Status, headers (lower-cased names) and body of one HTTP/1.1 request.
struct Reply {
    status: u16,
    headers: Vec<(String, String)>,
    body: String,
}

impl Reply {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
}

async fn request(addr: SocketAddr, path: &str, accept: Option<&str>) -> Reply {
    let exchange = async {
        let mut stream = TcpStream::connect(addr).await.unwrap();
        let accept = accept.map(|a| format!("Accept: {a}\r\n")).unwrap_or_default();
        let req = format!("GET {path} HTTP/1.1\r\nHost: test\r\n{accept}Connection: close\r\n\r\n");
        stream.write_all(req.as_bytes()).await.unwrap();
        let mut raw = Vec::new();
        stream.read_to_end(&mut raw).await.unwrap();
        String::from_utf8(raw).unwrap()
    };
    let raw = tokio::time::timeout(Duration::from_secs(5), exchange)
        .await
        .unwrap();
    let (head, body) = raw.split_once("\r\n\r\n").unwrap();
    let mut lines = head.lines();
    let status = lines.next().unwrap().split(' ').nth(1).unwrap().parse().unwrap();
    let headers = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_string()))
        .collect();
    Reply {
        status,
        headers,
        body: body.to_string(),
    }
}

#[tokio::test]
async fn metrics_server_serves_openmetrics_and_prometheus_text() {
    let metrics = Metrics::new();
    metrics.register_controller("streamclass", 1);
    metrics
        .reconcile_guard("streamclass")
        .finish(crate::telemetry::ReconcileResult::Success);
    let stop = CancellationToken::new();
    let server = serve_metrics(LOCAL.parse().unwrap(), metrics.clone(), stop.clone())
        .await
        .unwrap();
    let addr = server.local_addr();
    assert_ne!(addr.port(), 0);

    let om = request(
        addr,
        "/metrics",
        Some("application/openmetrics-text;version=1.0.0,text/plain;q=0.5"),
    )
    .await;
    assert_eq!(om.status, 200);
    assert_eq!(om.header("content-type"), Some(OPENMETRICS_CONTENT_TYPE));
    assert!(om.body.ends_with("# EOF\n"));
    let names: std::collections::BTreeSet<String> =
        parse_samples(&om.body).into_iter().map(|s| s.name).collect();
    for name in [
        "controller_runtime_reconcile_total",
        "controller_runtime_reconcile_errors_total",
        "controller_runtime_reconcile_time_seconds_bucket",
        "controller_runtime_active_workers",
        "controller_runtime_max_concurrent_reconciles",
        "process_resident_memory_bytes",
    ] {
        assert!(names.contains(name), "{name} missing from {names:?}");
    }
    assert_eq!(
        value(
            &om.body,
            "controller_runtime_reconcile_total",
            &[("controller", "streamclass"), ("result", "success")]
        ),
        Some(1.0)
    );

    let plain = request(addr, "/metrics", None).await;
    assert_eq!(plain.status, 200);
    assert_eq!(plain.header("content-type"), Some(PROMETHEUS_CONTENT_TYPE));
    assert!(
        plain
            .body
            .contains("# TYPE controller_runtime_reconcile_total counter")
    );

    assert_eq!(request(addr, "/nope", None).await.status, 404);

    stop.cancel();
    tokio::time::timeout(Duration::from_secs(5), server.wait())
        .await
        .unwrap()
        .unwrap();
    assert!(
        TcpStream::connect(addr).await.is_err(),
        "listener closed after shutdown"
    );
}

#[tokio::test]
async fn readiness_follows_the_check_and_liveness_follows_the_heartbeat() {
    let ready = Arc::new(AtomicBool::new(false));
    let flag = ready.clone();
    let heartbeat = Heartbeat::new(Duration::from_millis(300));
    let beat_stop = CancellationToken::new();
    let beating = heartbeat.spawn(Duration::from_millis(20), beat_stop.clone());
    let state = HealthState::new(heartbeat, move || {
        Readiness::from_conditions([("watches synced", flag.load(Ordering::SeqCst))])
    });
    let stop = CancellationToken::new();
    let server = serve_health(LOCAL.parse().unwrap(), state, stop.clone())
        .await
        .unwrap();
    let addr = server.local_addr();

    for path in ["/health/ready", "/readyz"] {
        let r = request(addr, path, None).await;
        assert_eq!(r.status, 503, "{path}");
        assert_eq!(r.body, "waiting for: watches synced");
    }
    ready.store(true, Ordering::SeqCst);
    for path in ["/health/ready", "/readyz"] {
        let r = request(addr, path, None).await;
        assert_eq!((r.status, r.body.as_str()), (200, "OK"), "{path}");
    }

    for path in ["/health", "/healthz"] {
        assert_eq!(request(addr, path, None).await.status, 200, "{path}");
    }
    beat_stop.cancel();
    beating.await.unwrap();
    tokio::time::sleep(Duration::from_millis(500)).await;
    for path in ["/health", "/healthz"] {
        let r = request(addr, path, None).await;
        assert_eq!(
            r.status, 503,
            "{path}: a stopped heartbeat means a wedged runtime"
        );
        assert!(r.body.starts_with("runtime heartbeat is"), "{}", r.body);
    }

    stop.cancel();
    tokio::time::timeout(Duration::from_secs(5), server.wait())
        .await
        .unwrap()
        .unwrap();
}

#[tokio::test]
async fn binding_a_taken_port_is_an_error() {
    let stop = CancellationToken::new();
    let first = serve_metrics(LOCAL.parse().unwrap(), Metrics::new(), stop.clone())
        .await
        .unwrap();
    let taken = first.local_addr();
    let second = serve_metrics(taken, Metrics::new(), stop.clone()).await;
    assert!(matches!(second, Err(TelemetryError::Bind { addr, .. }) if addr == taken));
    stop.cancel();
    first.wait().await.unwrap();
}

#[tokio::test]
async fn telemetry_starts_both_servers_and_stops_on_shutdown() {
    let config = crate::telemetry::TelemetryConfig {
        health_addr: LOCAL.parse().unwrap(),
        metrics_addr: LOCAL.parse().unwrap(),
        heartbeat_interval: Duration::from_millis(50),
        liveness_threshold: Duration::from_secs(5),
    };
    let stop = CancellationToken::new();
    let t = crate::telemetry::Telemetry::start(&config, Metrics::new(), || Readiness::Ready, stop.clone())
        .await
        .unwrap();
    assert_eq!(request(t.health_addr(), "/healthz", None).await.status, 200);
    assert_eq!(request(t.health_addr(), "/readyz", None).await.status, 200);
    assert_eq!(request(t.metrics_addr(), "/metrics", None).await.status, 200);
    let (health, metrics) = (t.health_addr(), t.metrics_addr());
    stop.cancel();
    tokio::time::timeout(Duration::from_secs(5), t.wait())
        .await
        .unwrap()
        .unwrap();
    assert!(TcpStream::connect(health).await.is_err());
    assert!(TcpStream::connect(metrics).await.is_err());

    // A taken metrics port fails the start (and cancels the probe server it had started).
    let blocker = std::net::TcpListener::bind(LOCAL).unwrap();
    let taken = crate::telemetry::TelemetryConfig {
        metrics_addr: blocker.local_addr().unwrap(),
        ..config
    };
    let failed = crate::telemetry::Telemetry::start(
        &taken,
        Metrics::new(),
        || Readiness::Ready,
        CancellationToken::new(),
    )
    .await;
    assert!(matches!(failed, Err(TelemetryError::Bind { .. })), "{failed:?}");
}
