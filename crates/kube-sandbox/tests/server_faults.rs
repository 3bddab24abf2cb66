//! Request log and fault injection of the sandbox server: status rules, watch chaos, outages.

#![allow(clippy::unwrap_used, clippy::type_complexity)]

mod server_common;

use std::time::Duration;

use http::{Method, Request};
use serde_json::{Value, json};
use server_common::*;

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
    let (_, _, verbs) = raw(&sb, Method::GET, "/sandbox/v1/verbs", &[], None).await;
    assert!(
        j(&verbs)["items"]
            .as_array()
            .unwrap()
            .contains(&json!({"group": "", "resource": "configmaps", "verb": "list"})),
        "{verbs}"
    );
    let (code, _, _) = raw(&sb, Method::DELETE, "/sandbox/v1/faults", &[], None).await;
    assert_eq!(code, 200);
    assert!(sb.faults().is_empty());
    sb.shutdown().await;
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
