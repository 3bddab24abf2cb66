//! Watch streaming of the sandbox server: replay, 410, bookmarks, transitions, streaming lists, slow watchers.

#![allow(clippy::unwrap_used, clippy::type_complexity)]

mod server_common;

use std::time::Duration;

use http::{Method, Request};
use kube_sandbox::{Sandbox, SandboxConfig};
use serde_json::{Value, json};
use server_common::*;

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
