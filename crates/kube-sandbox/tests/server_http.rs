//! HTTP surface of the sandbox server: discovery, status codes, pagination, write options, representations.

#![allow(clippy::unwrap_used, clippy::type_complexity)]

mod server_common;

use http::Method;
use serde_json::{Value, json};
use server_common::*;

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
