//! Helpers shared by the `server_*` integration tests: a sandbox, raw HTTP requests through kube's client,
//! watch readers and a test CRD.

#![allow(dead_code, clippy::unwrap_used)]

use std::time::Duration;

use http::{Method, Request};
use kube_sandbox::{Sandbox, SandboxConfig};
use serde_json::{Value, json};

pub(crate) async fn start() -> Sandbox {
    Sandbox::start(SandboxConfig::default()).await.unwrap()
}

/// Sends a raw request through kube's client and returns (status, headers, body text).
pub(crate) async fn raw(
    sb: &Sandbox,
    method: Method,
    path: &str,
    headers: &[(&str, &str)],
    body: Option<String>,
) -> (u16, http::HeaderMap, String) {
    let client = sb.client().unwrap();
    let mut b = Request::builder().method(method).uri(path);
    for (k, v) in headers {
        b = b.header(*k, *v);
    }
    let req = b.body(body.unwrap_or_default().into_bytes()).unwrap();
    let resp = client.send(req.map(kube::client::Body::from)).await.unwrap();
    let status = resp.status().as_u16();
    let headers = resp.headers().clone();
    let bytes = http_body_util::BodyExt::collect(resp.into_body())
        .await
        .unwrap()
        .to_bytes();
    (status, headers, String::from_utf8_lossy(&bytes).to_string())
}

pub(crate) fn j(s: &str) -> Value {
    serde_json::from_str(s).unwrap_or_else(|e| panic!("not JSON ({e}): {s}"))
}

pub(crate) const JSON_CT: (&str, &str) = ("content-type", "application/json");

pub(crate) fn cm(name: &str, labels: Value) -> String {
    json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name, "labels": labels}, "data": {"a": "1"}}).to_string()
}

/// Reads watch lines until `n` lines or the stream ends.
pub(crate) async fn watch_lines(sb: &Sandbox, path: &str, n: usize) -> Vec<Value> {
    let client = sb.client().unwrap();
    let req = Request::builder().uri(path).body(Vec::new()).unwrap();
    let mut stream = Box::pin(client.request_events::<Value>(req).await.unwrap());
    let mut out = vec![];
    use futures::StreamExt;
    while out.len() < n {
        match tokio::time::timeout(Duration::from_secs(10), stream.next()).await {
            Ok(Some(Ok(kube::core::WatchEvent::Added(o)))) => out.push(json!({"type": "ADDED", "object": o})),
            Ok(Some(Ok(kube::core::WatchEvent::Modified(o)))) => out.push(json!({"type": "MODIFIED", "object": o})),
            Ok(Some(Ok(kube::core::WatchEvent::Deleted(o)))) => out.push(json!({"type": "DELETED", "object": o})),
            Ok(Some(Ok(kube::core::WatchEvent::Bookmark(b)))) => out.push(json!({"type": "BOOKMARK", "object": {"metadata": {"resourceVersion": b.metadata.resource_version, "annotations": b.metadata.annotations}}})),
            Ok(Some(Ok(kube::core::WatchEvent::Error(e)))) => out.push(json!({"type": "ERROR", "object": {"code": e.code, "reason": e.reason}})),
            Ok(Some(Err(e))) => panic!("watch error {e}"),
            Ok(None) | Err(_) => break,
        }
    }
    out
}

/// Raw watch lines (no parsing), until the stream ends, errors, or `max` lines.
pub(crate) async fn raw_watch(sb: &Sandbox, path: &str, max: usize) -> (Vec<String>, bool) {
    use futures::StreamExt;
    let client = sb.client().unwrap();
    let req = Request::builder()
        .uri(path)
        .body(kube::client::Body::from(Vec::new()))
        .unwrap();
    let resp = client.send(req).await.unwrap();
    let mut body = http_body_util::BodyDataStream::new(resp.into_body());
    let mut buf = Vec::new();
    let mut errored = false;
    loop {
        match tokio::time::timeout(Duration::from_secs(10), body.next()).await {
            Ok(Some(Ok(chunk))) => buf.extend_from_slice(&chunk),
            Ok(Some(Err(_))) => {
                errored = true;
                break;
            }
            Ok(None) | Err(_) => break,
        }
        if buf.iter().filter(|b| **b == b'\n').count() >= max {
            break;
        }
    }
    let text = String::from_utf8_lossy(&buf).to_string();
    (text.split_inclusive('\n').map(str::to_string).collect(), errored)
}

pub(crate) async fn install_widgets(sb: &Sandbox) {
    let crd = json!({"apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
        "metadata": {"name": "widgets.example.com"},
        "spec": {"group": "example.com", "scope": "Namespaced", "names": {"plural": "widgets", "kind": "Widget", "shortNames": ["wd"]},
            "versions": [{"name": "v1", "served": true, "storage": true, "subresources": {"status": {}},
                "additionalPrinterColumns": [{"name": "Size", "type": "integer", "jsonPath": ".spec.size"}],
                "schema": {"openAPIV3Schema": {"type": "object", "properties": {
                    "spec": {"type": "object", "properties": {"size": {"type": "integer"}}}}}}}]}});
    let (code, _, body) = raw(
        sb,
        Method::POST,
        "/apis/apiextensions.k8s.io/v1/customresourcedefinitions",
        &[JSON_CT],
        Some(crd.to_string()),
    )
    .await;
    assert_eq!(code, 201, "{body}");
    for _ in 0..100 {
        if raw(
            sb,
            Method::GET,
            "/apis/example.com/v1/namespaces/default/widgets",
            &[],
            None,
        )
        .await
        .0 == 200
        {
            return;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("widgets never served");
}
