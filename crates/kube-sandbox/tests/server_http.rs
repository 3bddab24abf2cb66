//! HTTP-level behaviour of the sandbox server, with a plain HTTP client (reqwest is not a dependency: hyper via kube's client is
//! used through raw requests on a `kube::Client`).

#![allow(clippy::unwrap_used, clippy::type_complexity)]

use std::time::Duration;

use http::{Method, Request};
use kube_sandbox::{Sandbox, SandboxConfig};
use serde_json::{Value, json};

async fn start() -> Sandbox {
    Sandbox::start(SandboxConfig::default()).await.unwrap()
}

/// Sends a raw request through kube's client and returns (status, headers, body text).
async fn raw(
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

fn j(s: &str) -> Value {
    serde_json::from_str(s).unwrap_or_else(|e| panic!("not JSON ({e}): {s}"))
}

const JSON_CT: (&str, &str) = ("content-type", "application/json");

fn cm(name: &str, labels: Value) -> String {
    json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name, "labels": labels}, "data": {"a": "1"}}).to_string()
}

#[tokio::test]
async fn discovery_version_and_openapi() {
    let sb = start().await;
    let (code, _, body) = raw(&sb, Method::GET, "/version", &[], None).await;
    assert_eq!(code, 200);
    assert_eq!(j(&body)["minor"], "33");
    let (_, _, body) = raw(&sb, Method::GET, "/apis", &[], None).await;
    assert_eq!(j(&body)["kind"], "APIGroupList");
    let accept = "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList,application/json";
    let (_, headers, body) = raw(&sb, Method::GET, "/apis", &[("accept", accept)], None).await;
    assert_eq!(
        headers["content-type"],
        "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList"
    );
    let groups = j(&body);
    assert!(
        groups["items"]
            .as_array()
            .unwrap()
            .iter()
            .any(|g| g["metadata"]["name"] == "batch")
    );
    let (_, _, body) = raw(&sb, Method::GET, "/api", &[("accept", accept)], None).await;
    assert_eq!(j(&body)["items"][0]["metadata"]["name"], "");
    let (code, _, body) = raw(&sb, Method::GET, "/api/v1", &[], None).await;
    assert_eq!(code, 200);
    let list = j(&body);
    assert!(
        list["resources"]
            .as_array()
            .unwrap()
            .iter()
            .any(|r| r["name"] == "namespaces/status")
    );
    let (code, _, body) = raw(&sb, Method::GET, "/openapi/v3", &[], None).await;
    assert_eq!(code, 200);
    assert!(j(&body)["paths"].get("apis/batch/v1").is_some(), "{body}");
    let (code, _, _) = raw(&sb, Method::GET, "/healthz", &[], None).await;
    assert_eq!(code, 200);
    let (code, _, body) = raw(&sb, Method::GET, "/apis/nope.example.com/v1/things", &[], None).await;
    assert_eq!(code, 404);
    assert_eq!(
        j(&body)["message"],
        "the server could not find the requested resource"
    );
}

#[tokio::test]
async fn status_codes_for_bad_input() {
    let sb = start().await;
    let p = "/api/v1/namespaces/default/configmaps";
    let cases: Vec<(&str, Vec<(&str, &str)>, String, u16)> = vec![
        ("malformed json", vec![JSON_CT], "{nope".into(), 400),
        (
            "protobuf",
            vec![("content-type", "application/vnd.kubernetes.protobuf")],
            "x".into(),
            415,
        ),
        (
            "wrong namespace",
            vec![JSON_CT],
            json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "a", "namespace": "other"}})
                .to_string(),
            400,
        ),
        (
            "kind mismatch",
            vec![JSON_CT],
            json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "a"}}).to_string(),
            400,
        ),
        (
            "missing kind",
            vec![JSON_CT],
            json!({"apiVersion": "v1", "metadata": {"name": "a"}}).to_string(),
            400,
        ),
        ("bad name", vec![JSON_CT], cm("Bad_Name", json!({})), 422),
        (
            "too large",
            vec![JSON_CT],
            format!("{{\"x\":\"{}\"}}", "a".repeat(3 * 1024 * 1024 + 10)),
            413,
        ),
        ("label value too long", vec![JSON_CT], cm("a", json!({"app": "x".repeat(64)})), 422),
        (
            "resourceVersion on create",
            vec![JSON_CT],
            json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "a", "resourceVersion": "5"}}).to_string(),
            500,
        ),
        ("ok", vec![JSON_CT], cm("a", json!({})), 201),
        ("exists", vec![JSON_CT], cm("a", json!({})), 409),
    ];
    for (what, headers, body, want) in cases {
        let (code, _, text) = raw(&sb, Method::POST, p, &headers, Some(body)).await;
        assert_eq!(code, want, "{what}: {text}");
        if code >= 400 {
            assert_eq!(j(&text)["kind"], "Status", "{what}");
        }
    }
    let (code, _, body) = raw(
        &sb,
        Method::POST,
        "/api/v1/namespaces/missing/configmaps",
        &[JSON_CT],
        Some(cm("a", json!({}))),
    )
    .await;
    assert_eq!(code, 404);
    assert_eq!(j(&body)["message"], "namespaces \"missing\" not found");
    let yaml = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: from-yaml\ndata:\n  k: v\n";
    let (code, _, body) = raw(
        &sb,
        Method::POST,
        p,
        &[("content-type", "application/yaml")],
        Some(yaml.into()),
    )
    .await;
    assert_eq!(code, 201, "{body}");
    let (code, _, body) = raw(&sb, Method::GET, &format!("{p}/nope"), &[], None).await;
    assert_eq!(code, 404);
    assert_eq!(j(&body)["details"]["kind"], "configmaps");
}

#[tokio::test]
async fn pagination_and_selectors() {
    let sb = start().await;
    let p = "/api/v1/namespaces/default/configmaps";
    for i in 0..7 {
        let labels = if i % 2 == 0 {
            json!({"app": "a"})
        } else {
            json!({"app": "b", "tier": "x"})
        };
        let (code, _, _) = raw(
            &sb,
            Method::POST,
            p,
            &[JSON_CT],
            Some(cm(&format!("c{i}"), labels)),
        )
        .await;
        assert_eq!(code, 201);
    }
    let (_, _, first) = raw(&sb, Method::GET, &format!("{p}?limit=3"), &[], None).await;
    let first = j(&first);
    assert_eq!(first["items"].as_array().unwrap().len(), 3);
    let rv = first["metadata"]["resourceVersion"].clone();
    // A write between pages must not show up: pages come from one snapshot.
    raw(&sb, Method::POST, p, &[JSON_CT], Some(cm("late", json!({})))).await;
    let mut token = first["metadata"]["continue"].as_str().unwrap().to_string();
    let mut sizes = vec![];
    for _ in 0..5 {
        let (_, _, page) = raw(
            &sb,
            Method::GET,
            &format!("{p}?limit=3&continue={token}"),
            &[],
            None,
        )
        .await;
        let page = j(&page);
        assert_eq!(page["metadata"]["resourceVersion"], rv);
        sizes.push(page["items"].as_array().unwrap().len());
        match page["metadata"]["continue"].as_str() {
            Some(t) => token = t.to_string(),
            None => break,
        }
    }
    assert_eq!(sizes, vec![3, 1]);
    let (code, _, _) = raw(&sb, Method::GET, &format!("{p}?limit=3&continue=zz"), &[], None).await;
    assert_eq!(code, 400);
    let (_, _, sel) = raw(
        &sb,
        Method::GET,
        &format!("{p}?labelSelector=app%20in%20(a,b),tier!%3Dx"),
        &[],
        None,
    )
    .await;
    assert_eq!(j(&sel)["items"].as_array().unwrap().len(), 4);
    let (_, _, byname) = raw(
        &sb,
        Method::GET,
        &format!("{p}?fieldSelector=metadata.name%3Dc1"),
        &[],
        None,
    )
    .await;
    assert_eq!(j(&byname)["items"][0]["metadata"]["name"], "c1");
    let (code, _, body) = raw(
        &sb,
        Method::GET,
        &format!("{p}?fieldSelector=spec.x%3D1"),
        &[],
        None,
    )
    .await;
    assert_eq!(code, 400, "{body}");
    assert!(
        j(&body)["message"]
            .as_str()
            .unwrap()
            .contains("is not a known field selector")
    );
    sb.expire_resource_versions();
    let (code, _, _) = raw(
        &sb,
        Method::GET,
        &format!(
            "{p}?limit=3&continue={}",
            first["metadata"]["continue"].as_str().unwrap()
        ),
        &[],
        None,
    )
    .await;
    assert_eq!(code, 410);
}

/// Reads watch lines until `n` lines or the stream ends.
async fn watch_lines(sb: &Sandbox, path: &str, n: usize) -> Vec<Value> {
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

#[tokio::test]
async fn watch_replay_expiry_bookmarks_and_transitions() {
    let sb = start().await;
    let p = "/api/v1/namespaces/default/configmaps";
    let (_, _, list) = raw(&sb, Method::GET, p, &[], None).await;
    let rv = j(&list)["metadata"]["resourceVersion"]
        .as_str()
        .unwrap()
        .to_string();
    raw(
        &sb,
        Method::POST,
        p,
        &[JSON_CT],
        Some(cm("w1", json!({"app": "a"}))),
    )
    .await;
    raw(
        &sb,
        Method::PATCH,
        &format!("{p}/w1"),
        &[("content-type", "application/merge-patch+json")],
        Some(r#"{"data":{"a":"2"}}"#.into()),
    )
    .await;
    let evs = watch_lines(
        &sb,
        &format!("{p}?watch=true&resourceVersion={rv}&timeoutSeconds=2"),
        10,
    )
    .await;
    let types: Vec<&str> = evs.iter().map(|e| e["type"].as_str().unwrap()).collect();
    assert_eq!(types, vec!["ADDED", "MODIFIED"]);
    let r1: u64 = evs[0]["object"]["metadata"]["resourceVersion"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    let r2: u64 = evs[1]["object"]["metadata"]["resourceVersion"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!(r1 < r2);
    // Legacy /watch/ path on one object = a watch restricted to that name.
    raw(&sb, Method::POST, p, &[JSON_CT], Some(cm("other", json!({})))).await;
    let named = watch_lines(
        &sb,
        &format!("/api/v1/watch/namespaces/default/configmaps/w1?resourceVersion={rv}&timeoutSeconds=1"),
        10,
    )
    .await;
    assert_eq!(named.len(), 2, "{named:?}");
    assert!(named.iter().all(|e| e["object"]["metadata"]["name"] == "w1"));

    // Selector transitions: relabel out of and back into the selection.
    let sel_path = format!("{p}?watch=true&labelSelector=app%3Da&resourceVersion={r2}&timeoutSeconds=3");
    let sb_url = sb.url();
    let watcher = {
        let client = sb.client().unwrap();
        let path = sel_path.clone();
        tokio::spawn(async move {
            let _ = sb_url;
            let req = Request::builder().uri(path).body(Vec::new()).unwrap();
            let stream = client.request_events::<Value>(req).await.unwrap();
            use futures::StreamExt;
            stream.take(2).collect::<Vec<_>>().await
        })
    };
    tokio::time::sleep(Duration::from_millis(200)).await;
    let mt = [("content-type", "application/merge-patch+json")];
    raw(
        &sb,
        Method::PATCH,
        &format!("{p}/w1"),
        &mt,
        Some(r#"{"metadata":{"labels":{"app":"b"}}}"#.into()),
    )
    .await;
    raw(
        &sb,
        Method::PATCH,
        &format!("{p}/w1"),
        &mt,
        Some(r#"{"metadata":{"labels":{"app":"a"}}}"#.into()),
    )
    .await;
    let got = watcher.await.unwrap();
    let kinds: Vec<&str> = got
        .iter()
        .map(|e| match e {
            Ok(kube::core::WatchEvent::Deleted(_)) => "DELETED",
            Ok(kube::core::WatchEvent::Added(_)) => "ADDED",
            _ => "OTHER",
        })
        .collect();
    assert_eq!(kinds, vec!["DELETED", "ADDED"]);

    let bm = watch_lines(
        &sb,
        &format!("{p}?watch=true&allowWatchBookmarks=true&timeoutSeconds=3&resourceVersion={rv}"),
        10,
    )
    .await;
    assert!(bm.iter().any(|e| e["type"] == "BOOKMARK"), "{bm:?}");

    let init = watch_lines(&sb, &format!("{p}?watch=true&sendInitialEvents=true&allowWatchBookmarks=true&resourceVersionMatch=NotOlderThan&timeoutSeconds=2"), 10).await;
    let types: Vec<&str> = init.iter().map(|e| e["type"].as_str().unwrap()).collect();
    assert_eq!(types, vec!["ADDED", "ADDED", "BOOKMARK"]);
    assert_eq!(
        init[2]["object"]["metadata"]["annotations"]["k8s.io/initial-events-end"],
        "true"
    );
    let (code, _, _) = raw(
        &sb,
        Method::GET,
        &format!("{p}?watch=true&sendInitialEvents=true"),
        &[],
        None,
    )
    .await;
    assert_eq!(code, 422);

    sb.expire_resource_versions();
    let gone = watch_lines(
        &sb,
        &format!("{p}?watch=true&resourceVersion={rv}&timeoutSeconds=5"),
        3,
    )
    .await;
    assert_eq!(gone.len(), 1, "{gone:?}");
    assert_eq!(gone[0]["type"], "ERROR");
    assert_eq!(gone[0]["object"]["code"], 410);
}

#[tokio::test]
async fn request_log_and_faults() {
    let sb = start().await;
    let (code, _, body) = raw(&sb, Method::POST, "/sandbox/v1/faults", &[JSON_CT],
        Some(r#"{"match": {"method": "GET", "path": "/api/v1/namespaces/*/configmaps"}, "count": 1, "action": {"status": {"code": 409, "retryAfterSeconds": 2}}}"#.into())).await;
    assert_eq!(code, 201, "{body}");
    let (code, headers, body) = raw(
        &sb,
        Method::GET,
        "/api/v1/namespaces/default/configmaps",
        &[],
        None,
    )
    .await;
    // (kube's client retries 429s by itself, so the test injects a 409.)
    assert_eq!(code, 409);
    assert_eq!(headers["retry-after"], "2");
    assert_eq!(j(&body)["reason"], "Conflict");
    let (code, _, _) = raw(
        &sb,
        Method::GET,
        "/api/v1/namespaces/default/configmaps",
        &[],
        None,
    )
    .await;
    assert_eq!(code, 200, "count exhausted");
    let (_, _, log) = raw(&sb, Method::GET, "/sandbox/v1/requests", &[], None).await;
    let items = j(&log)["items"].as_array().unwrap().clone();
    let cm: Vec<&Value> = items
        .iter()
        .filter(|r| r["path"] == "/api/v1/namespaces/default/configmaps")
        .collect();
    assert_eq!(cm.len(), 2);
    assert_eq!(cm[0]["status"], 409);
    assert!(cm[0]["fault"].is_u64());
    assert!(
        items
            .iter()
            .all(|r| !r["path"].as_str().unwrap().starts_with("/sandbox"))
    );
    let last = j(&log)["lastSeq"].as_u64().unwrap();
    let (_, _, since) = raw(
        &sb,
        Method::GET,
        &format!("/sandbox/v1/requests?since={last}"),
        &[],
        None,
    )
    .await;
    assert_eq!(j(&since)["items"].as_array().unwrap().len(), 0);
    let (code, _, _) = raw(&sb, Method::DELETE, "/sandbox/v1/faults", &[], None).await;
    assert_eq!(code, 200);
    assert!(sb.faults().is_empty());
    sb.shutdown().await;
}

#[tokio::test]
async fn a_slow_watcher_blocks_nobody() {
    use tokio::io::AsyncWriteExt;
    let mut config = SandboxConfig::default();
    config.store.watch_buffer = 64;
    let sb = Sandbox::start(config).await.unwrap();
    let p = "/api/v1/namespaces/default/configmaps";
    // A client that opens a watch and never reads.
    let mut slow = tokio::net::TcpStream::connect(sb.addr()).await.unwrap();
    let req = format!("GET {p}?watch=true HTTP/1.1\r\nHost: x\r\nUser-Agent: slowpoke\r\n\r\n");
    slow.write_all(req.as_bytes()).await.unwrap();
    tokio::time::sleep(Duration::from_millis(100)).await;
    let (_, _, list) = raw(&sb, Method::GET, p, &[], None).await;
    let rv = j(&list)["metadata"]["resourceVersion"]
        .as_str()
        .unwrap()
        .to_string();
    let fast = {
        let client = sb.client().unwrap();
        let path = format!("{p}?watch=true&resourceVersion={rv}&timeoutSeconds=20");
        tokio::spawn(async move {
            let req = Request::builder().uri(path).body(Vec::new()).unwrap();
            let stream = client.request_events::<Value>(req).await.unwrap();
            use futures::StreamExt;
            stream.take(300).count().await
        })
    };
    let big = "x".repeat(20_000);
    let started = std::time::Instant::now();
    for i in 0..300 {
        let body = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": format!("c{i}")}, "data": {"big": big}});
        let (code, _, _) = raw(&sb, Method::POST, p, &[JSON_CT], Some(body.to_string())).await;
        assert_eq!(code, 201);
    }
    assert!(started.elapsed() < Duration::from_secs(20), "writes were held up");
    let seen = tokio::time::timeout(Duration::from_secs(20), fast)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(seen, 300, "the reading watcher got every event");
    drop(slow);
    // Closed connections end their watch tasks promptly.
    let mut open = usize::MAX;
    for _ in 0..100 {
        open = sb.open_watches();
        if open == 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(open, 0);
    let (_, _, body) = raw(&sb, Method::GET, "/sandbox/v1/watches", &[], None).await;
    assert_eq!(j(&body)["open"], 0);
}

async fn install_widgets(sb: &Sandbox) {
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

#[tokio::test]
async fn write_options_warnings_and_representations() {
    let sb = start().await;
    install_widgets(&sb).await;
    let wp = "/apis/example.com/v1/namespaces/default/widgets";
    let w = |extra: Value| {
        json!({"apiVersion": "example.com/v1", "kind": "Widget", "metadata": {"name": "w"}, "spec": extra})
            .to_string()
    };
    let (code, _, body) = raw(
        &sb,
        Method::POST,
        &format!("{wp}?fieldValidation=Strict"),
        &[JSON_CT],
        Some(w(json!({"size": 1, "bogus": 1}))),
    )
    .await;
    assert_eq!(code, 400);
    assert!(
        j(&body)["message"]
            .as_str()
            .unwrap()
            .ends_with("strict decoding error: unknown field \"spec.bogus\""),
        "{body}"
    );
    let (code, headers, body) = raw(
        &sb,
        Method::POST,
        &format!("{wp}?dryRun=All"),
        &[JSON_CT],
        Some(w(json!({"size": 1, "bogus": 1}))),
    )
    .await;
    assert_eq!(code, 201);
    assert_eq!(headers["warning"], "299 - \"unknown field \\\"spec.bogus\\\"\"");
    assert_eq!(j(&body)["spec"], json!({"size": 1}));
    assert_eq!(
        raw(&sb, Method::GET, &format!("{wp}/w"), &[], None).await.0,
        404,
        "dry run persisted nothing"
    );
    let (code, _, body) = raw(&sb, Method::POST, wp, &[JSON_CT], Some(w(json!({"size": 2})))).await;
    assert_eq!(code, 201, "{body}");

    let apply = [("content-type", "application/apply-patch+yaml")];
    let (code, _, body) = raw(
        &sb,
        Method::PATCH,
        &format!("{wp}/w"),
        &apply,
        Some(w(json!({"size": 3}))),
    )
    .await;
    assert_eq!(code, 422);
    assert!(
        j(&body)["message"]
            .as_str()
            .unwrap()
            .contains("fieldManager: Required value: is required for apply patch")
    );
    let merge = [("content-type", "application/merge-patch+json")];
    let (code, _, _) = raw(
        &sb,
        Method::PATCH,
        &format!("{wp}/w?force=true"),
        &merge,
        Some("{}".into()),
    )
    .await;
    assert_eq!(code, 422);
    let smp = [("content-type", "application/strategic-merge-patch+json")];
    assert_eq!(
        raw(&sb, Method::PATCH, &format!("{wp}/w"), &smp, Some("{}".into()))
            .await
            .0,
        415,
        "no SMP for custom resources"
    );
    assert_eq!(
        raw(&sb, Method::PUT, wp, &[JSON_CT], Some("{}".into())).await.0,
        405
    );

    let table = [(
        "accept",
        "application/json;as=Table;v=v1;g=meta.k8s.io,application/json",
    )];
    let (_, _, body) = raw(&sb, Method::GET, wp, &table, None).await;
    let t = j(&body);
    assert_eq!(t["kind"], "Table");
    let cols: Vec<&str> = t["columnDefinitions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["name"].as_str().unwrap())
        .collect();
    assert!(cols.contains(&"Size"), "{cols:?}");
    let partial = [(
        "accept",
        "application/json;as=PartialObjectMetadataList;g=meta.k8s.io;v=v1",
    )];
    let (_, _, body) = raw(&sb, Method::GET, wp, &partial, None).await;
    assert_eq!(j(&body)["kind"], "PartialObjectMetadataList");
    assert_eq!(j(&body)["items"][0]["metadata"]["name"], "w");

    // Jobs orphan by default, with upstream's warning; Pods answer the deleted object, CRs a Status.
    let job = json!({"apiVersion": "batch/v1", "kind": "Job", "metadata": {"name": "j", "annotations": {"sandbox.arcane.dev/outcome": "Run"}},
        "spec": {"template": {"spec": {"restartPolicy": "Never", "containers": [{"name": "c", "image": "busybox"}]}}}});
    let jp = "/apis/batch/v1/namespaces/default/jobs";
    assert_eq!(
        raw(&sb, Method::POST, jp, &[JSON_CT], Some(job.to_string()))
            .await
            .0,
        201
    );
    let (code, headers, _) = raw(&sb, Method::DELETE, &format!("{jp}/j"), &[], None).await;
    assert_eq!(code, 200);
    assert!(
        headers["warning"]
            .to_str()
            .unwrap()
            .contains("child pods are preserved by default when jobs are deleted")
    );
    let (_, _, body) = raw(
        &sb,
        Method::DELETE,
        &format!("{wp}/w"),
        &[JSON_CT],
        Some(r#"{"propagationPolicy":"Background"}"#.into()),
    )
    .await;
    assert_eq!(j(&body)["kind"], "Status");
    assert_eq!(j(&body)["status"], "Success");
    let pod = json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p"}, "spec": {"containers": [{"name": "c", "image": "busybox"}]}});
    let pp = "/api/v1/namespaces/default/pods";
    assert_eq!(
        raw(&sb, Method::POST, pp, &[JSON_CT], Some(pod.to_string()))
            .await
            .0,
        201
    );
    let (_, _, body) = raw(&sb, Method::DELETE, &format!("{pp}/p"), &[], None).await;
    assert_eq!(j(&body)["kind"], "Pod");

    // deletecollection with a selector.
    let cp = "/api/v1/namespaces/default/configmaps";
    for (n, app) in [("a", "x"), ("b", "x"), ("c", "y")] {
        raw(
            &sb,
            Method::POST,
            cp,
            &[JSON_CT],
            Some(cm(n, json!({"app": app}))),
        )
        .await;
    }
    let (code, _, body) = raw(
        &sb,
        Method::DELETE,
        &format!("{cp}?labelSelector=app%3Dx"),
        &[],
        None,
    )
    .await;
    assert_eq!(code, 200);
    assert_eq!(j(&body)["items"].as_array().unwrap().len(), 2);
    let (_, _, left) = raw(&sb, Method::GET, cp, &[], None).await;
    assert_eq!(j(&left)["items"].as_array().unwrap().len(), 1);
}

/// Raw watch lines (no parsing), until the stream ends, errors, or `max` lines.
async fn raw_watch(sb: &Sandbox, path: &str, max: usize) -> (Vec<String>, bool) {
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

#[tokio::test]
async fn watch_chaos_duplicates_reorders_and_cuts() {
    let sb = start().await;
    let p = "/api/v1/namespaces/default/configmaps";
    let (_, _, list) = raw(&sb, Method::GET, p, &[], None).await;
    let rv = j(&list)["metadata"]["resourceVersion"]
        .as_str()
        .unwrap()
        .to_string();
    for n in ["a", "b", "c"] {
        raw(&sb, Method::POST, p, &[JSON_CT], Some(cm(n, json!({})))).await;
    }
    let chaos = r#"{"match": {"path": "/api/v1/namespaces/*/configmaps"}, "count": 1, "action": {"watchChaos": {"duplicate": true}}}"#;
    assert_eq!(
        raw(
            &sb,
            Method::POST,
            "/sandbox/v1/faults",
            &[JSON_CT],
            Some(chaos.into())
        )
        .await
        .0,
        201
    );
    // The rule is for watches only: this list does not consume it.
    raw(&sb, Method::GET, p, &[], None).await;
    let (lines, _) = raw_watch(
        &sb,
        &format!("{p}?watch=true&resourceVersion={rv}&timeoutSeconds=1"),
        10,
    )
    .await;
    let names: Vec<String> = lines
        .iter()
        .map(|l| j(l)["object"]["metadata"]["name"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(names, vec!["a", "a", "b", "b", "c", "c"]);

    let reorder = r#"{"count": 1, "action": {"watchChaos": {"reorder": true}}}"#;
    raw(
        &sb,
        Method::POST,
        "/sandbox/v1/faults",
        &[JSON_CT],
        Some(reorder.into()),
    )
    .await;
    let (lines, _) = raw_watch(
        &sb,
        &format!("{p}?watch=true&resourceVersion={rv}&timeoutSeconds=1"),
        10,
    )
    .await;
    let names: Vec<String> = lines
        .iter()
        .map(|l| j(l)["object"]["metadata"]["name"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(names, vec!["a", "b", "a", "c", "b"]);

    let cut = r#"{"count": 1, "action": {"watchChaos": {"closeAfterSeconds": 0.3, "midEvent": true}}}"#;
    raw(
        &sb,
        Method::POST,
        "/sandbox/v1/faults",
        &[JSON_CT],
        Some(cut.into()),
    )
    .await;
    let started = std::time::Instant::now();
    let (lines, errored) = raw_watch(
        &sb,
        &format!("{p}?watch=true&resourceVersion={rv}&timeoutSeconds=30"),
        100,
    )
    .await;
    assert!(started.elapsed() < Duration::from_secs(5));
    assert!(errored, "the stream was cut, not closed cleanly");
    // The fragment itself may or may not reach the client before the connection is aborted.
    let complete = lines.iter().filter(|l| l.ends_with('\n')).count();
    assert_eq!(complete, 3, "{lines:?}");
}

#[tokio::test]
async fn outage_refuses_connections_then_serves_the_same_state() {
    let sb = start().await;
    let p = "/api/v1/namespaces/default/configmaps";
    raw(&sb, Method::POST, p, &[JSON_CT], Some(cm("kept", json!({})))).await;
    let watch = {
        let client = sb.client().unwrap();
        tokio::spawn(async move {
            use futures::StreamExt;
            let req = Request::builder()
                .uri(format!("{p}?watch=true&timeoutSeconds=60"))
                .body(Vec::new())
                .unwrap();
            client.request_events::<Value>(req).await.unwrap().count().await
        })
    };
    tokio::time::sleep(Duration::from_millis(200)).await;
    let outage = r#"{"action": {"outage": {"seconds": 1.0}}}"#;
    let (code, _, _) = raw(
        &sb,
        Method::POST,
        "/sandbox/v1/faults",
        &[JSON_CT],
        Some(outage.into()),
    )
    .await;
    assert_eq!(code, 200);
    tokio::time::timeout(Duration::from_secs(5), watch)
        .await
        .unwrap()
        .unwrap();
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert!(
        tokio::net::TcpStream::connect(sb.addr()).await.is_err(),
        "connections are refused during the outage"
    );
    let mut back = false;
    for _ in 0..50 {
        tokio::time::sleep(Duration::from_millis(100)).await;
        if tokio::net::TcpStream::connect(sb.addr()).await.is_ok() {
            back = true;
            break;
        }
    }
    assert!(back, "the server listens again");
    let (code, _, _) = raw(&sb, Method::GET, &format!("{p}/kept"), &[], None).await;
    assert_eq!(code, 200, "state survived the outage");
    sb.shutdown().await;
}
