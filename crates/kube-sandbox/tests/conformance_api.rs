//! apiserver-fidelity §6 checks over raw HTTP (what the fidelity note does with curl), through a kube client.

#![allow(clippy::unwrap_used)]

mod conformance_common;

use std::time::{Duration, Instant};

use conformance_common::*;
use kube_sandbox::SandboxConfig;
use kube_sandbox::controllers::{ControllerConfig, JobOutcome};
use kube_sandbox::server::ServerConfig;
use serde_json::{Value, json};

const WIDGETS: &str = "/apis/example.com/v1/namespaces/default/widgets";
const CMS: &str = "/api/v1/namespaces/default/configmaps";

async fn install_widgets(e: &Env) {
    let crd: Value = serde_saphyr::from_str(CRD_YAML).unwrap();
    let created = e
        .raw(
            "POST",
            "/apis/apiextensions.k8s.io/v1/customresourcedefinitions",
            None,
            crd.to_string().as_bytes(),
        )
        .await;
    assert_eq!(created.status, 201, "{}", created.body);
    eventually("widgets served", 10, || async {
        e.get(WIDGETS).await.status == 200
    })
    .await;
}

async fn post(e: &Env, path: &str, obj: Value) -> Value {
    let r = e.raw("POST", path, None, obj.to_string().as_bytes()).await;
    assert_eq!(r.status, 201, "{}", r.body);
    r.json()
}

fn cm(name: &str, labels: Value) -> Value {
    json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name, "labels": labels}, "data": {"k": "v"}})
}

fn widget(name: &str) -> Value {
    json!({"apiVersion": "example.com/v1", "kind": "Widget", "metadata": {"name": name}, "spec": {"size": 1}})
}

/// §6.2 aggregated and legacy discovery, §6.8 NotFound, §6.33 apply without a field manager.
#[tokio::test]
async fn discovery_not_found_and_apply_manager() {
    let e = env("disc").await;
    let aggregated = e
        .raw_with(
            "GET",
            "/apis",
            &[(
                "Accept",
                "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList,application/json",
            )],
            b"",
        )
        .await;
    assert_eq!(
        aggregated.header("content-type"),
        "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList"
    );
    assert_eq!(e.get("/apis").await.json()["kind"], "APIGroupList");

    install_widgets(&e).await;
    let missing = e.get(&format!("{WIDGETS}/nope")).await;
    assert_eq!(missing.status, 404);
    let status = missing.json();
    assert_eq!(
        (
            status["kind"].as_str(),
            status["reason"].as_str(),
            status["code"].as_i64()
        ),
        (Some("Status"), Some("NotFound"), Some(404))
    );
    assert_eq!(
        status["details"],
        json!({"name": "nope", "group": "example.com", "kind": "widgets"})
    );

    let yaml = "apiVersion: example.com/v1\nkind: Widget\nmetadata:\n  name: w\nspec:\n  size: 1\n";
    let apply = e
        .raw(
            "PATCH",
            &format!("{WIDGETS}/w"),
            Some("application/apply-patch+yaml"),
            yaml.as_bytes(),
        )
        .await;
    assert_eq!(apply.status, 422, "{}", apply.body);
    assert!(
        apply
            .body
            .contains("fieldManager: Required value: is required for apply patch"),
        "{}",
        apply.body
    );
}

/// §6.10 a custom resource PUT needs a resourceVersion (a ConfigMap does not), §6.16 DELETE reply shapes.
#[tokio::test]
async fn unconditional_put_and_delete_replies() {
    let e = env("put").await;
    install_widgets(&e).await;
    post(&e, WIDGETS, widget("w")).await;
    let mut w = e.get(&format!("{WIDGETS}/w")).await.json();
    w["metadata"].as_object_mut().unwrap().remove("resourceVersion");
    let put = e
        .raw("PUT", &format!("{WIDGETS}/w"), None, w.to_string().as_bytes())
        .await;
    assert_eq!(put.status, 422, "{}", put.body);
    assert!(
        put.body
            .contains("metadata.resourceVersion: Invalid value: 0x0: must be specified for an update"),
        "{}",
        put.body
    );
    post(&e, CMS, cm("c", json!({}))).await;
    let mut c = e.get(&format!("{CMS}/c")).await.json();
    c["metadata"].as_object_mut().unwrap().remove("resourceVersion");
    assert_eq!(
        e.raw("PUT", &format!("{CMS}/c"), None, c.to_string().as_bytes())
            .await
            .status,
        200
    );

    let w2 = post(&e, WIDGETS, widget("w2")).await;
    let deleted = e.raw("DELETE", &format!("{WIDGETS}/w2"), None, b"").await.json();
    assert_eq!(
        (deleted["kind"].as_str(), deleted["status"].as_str()),
        (Some("Status"), Some("Success"))
    );
    assert_eq!(deleted["details"]["uid"], w2["metadata"]["uid"]);
    let pod = json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p"},
                     "spec": {"containers": [{"name": "c", "image": "busybox"}]}});
    post(&e, "/api/v1/namespaces/default/pods", pod).await;
    let deleted_pod = e
        .raw("DELETE", "/api/v1/namespaces/default/pods/p", None, b"")
        .await
        .json();
    assert_eq!(deleted_pod["kind"], "Pod");
}

/// §6.20 a Job deleted without a body orphans its pods, with the upstream warning.
#[tokio::test]
async fn job_delete_defaults_to_orphan_with_warning() {
    let controllers = ControllerConfig {
        simulate_pods: true,
        job_outcome: JobOutcome::Run,
        ..fast_controllers()
    };
    let e = env_with(
        "orphan",
        SandboxConfig {
            controllers,
            ..SandboxConfig::default()
        },
    )
    .await;
    let job = json!({"apiVersion": "batch/v1", "kind": "Job", "metadata": {"name": "j"},
        "spec": {"template": {"spec": {"restartPolicy": "Never", "containers": [{"name": "c", "image": "busybox"}]}}}});
    post(&e, "/apis/batch/v1/namespaces/default/jobs", job).await;
    let pods = "/api/v1/namespaces/default/pods";
    eventually("job pod", 10, || async {
        e.get(pods).await.json()["items"]
            .as_array()
            .is_some_and(|p| p.len() == 1)
    })
    .await;
    let deleted = e
        .raw("DELETE", "/apis/batch/v1/namespaces/default/jobs/j", None, b"")
        .await;
    assert!(deleted.status.is_success(), "{}", deleted.body);
    assert!(
        deleted
            .header("warning")
            .contains(r#"299 - "child pods are preserved by default when jobs are deleted;"#),
        "warning header: {:?}",
        deleted.header("warning")
    );
    eventually("job gone", 10, || async {
        e.get("/apis/batch/v1/namespaces/default/jobs/j").await.status == 404
    })
    .await;
    eventually("pod orphaned", 10, || async {
        let items = e.get(pods).await.json()["items"].clone();
        items
            .as_array()
            .is_some_and(|p| p.len() == 1 && p[0]["metadata"]["ownerReferences"].is_null())
    })
    .await;
}

/// §6.26 pagination with a consistent snapshot, §6.27 watch replay from a resourceVersion.
#[tokio::test]
async fn pagination_and_watch_replay() {
    let e = env("pages").await;
    post(
        &e,
        "/api/v1/namespaces",
        json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "p"}}),
    )
    .await;
    for i in 0..7 {
        post(
            &e,
            "/api/v1/namespaces/p/configmaps",
            cm(&format!("c{i}"), json!({})),
        )
        .await;
    }
    let mut sizes = Vec::new();
    let mut rvs = Vec::new();
    let mut path = "/api/v1/namespaces/p/configmaps?limit=3".to_owned();
    for _ in 0..5 {
        let page = e.get(&path).await.json();
        sizes.push(page["items"].as_array().unwrap().len());
        rvs.push(page["metadata"]["resourceVersion"].clone());
        match page["metadata"]["continue"].as_str().filter(|c| !c.is_empty()) {
            Some(token) => path = format!("/api/v1/namespaces/p/configmaps?limit=3&continue={token}"),
            None => break,
        }
        // Writes between pages must not show up in later pages.
        post(
            &e,
            "/api/v1/namespaces/p/configmaps",
            cm(&format!("late{}", sizes.len()), json!({})),
        )
        .await;
    }
    assert_eq!(sizes, [3, 3, 1]);
    assert!(rvs.iter().all(|rv| *rv == rvs[0]), "{rvs:?}");

    let list_rv = e.get(CMS).await.json()["metadata"]["resourceVersion"]
        .as_str()
        .unwrap()
        .to_owned();
    post(&e, CMS, cm("x", json!({}))).await;
    post(&e, CMS, cm("y", json!({}))).await;
    let started = Instant::now();
    let watch = e
        .get(&format!(
            "{CMS}?watch=true&resourceVersion={list_rv}&timeoutSeconds=2"
        ))
        .await;
    let elapsed = started.elapsed();
    let events = watch.events();
    assert_eq!(events.len(), 2, "{}", watch.body);
    let rv = |ev: &Value| {
        ev["object"]["metadata"]["resourceVersion"]
            .as_str()
            .unwrap()
            .parse::<u64>()
            .unwrap()
    };
    assert!(rv(&events[0]) < rv(&events[1]));
    assert!(events.iter().all(|ev| ev["type"] == "ADDED"));
    assert!(
        elapsed >= Duration::from_millis(1500) && elapsed < Duration::from_secs(6),
        "clean EOF after the timeout: {elapsed:?}"
    );
}

/// §6.28 an expired resourceVersion is an in-stream 410, §6.29 bookmarks, §6.31 streaming lists.
#[tokio::test]
async fn expired_watch_bookmarks_and_streaming_lists() {
    let server = ServerConfig {
        bookmark_interval: Duration::from_millis(300),
        ..ServerConfig::default()
    };
    let e = env_with(
        "expire",
        SandboxConfig {
            server,
            controllers: fast_controllers(),
            ..SandboxConfig::default()
        },
    )
    .await;
    post(&e, CMS, cm("a", json!({}))).await;
    post(&e, CMS, cm("b", json!({}))).await;
    e.sb.expire_resource_versions();
    let started = Instant::now();
    let expired = e
        .get(&format!("{CMS}?watch=true&resourceVersion=1&timeoutSeconds=5"))
        .await;
    assert_eq!(expired.status, 200);
    let events = expired.events();
    assert_eq!(events.len(), 1, "{}", expired.body);
    assert_eq!(events[0]["type"], "ERROR");
    assert_eq!(
        (
            events[0]["object"]["kind"].as_str(),
            events[0]["object"]["reason"].as_str()
        ),
        (Some("Status"), Some("Expired"))
    );
    assert_eq!(events[0]["object"]["code"], 410);
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "the stream ends right after the error"
    );

    let rv: u64 = e.get(CMS).await.json()["metadata"]["resourceVersion"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    let quiet = e
        .get(&format!(
            "{CMS}?watch=true&allowWatchBookmarks=true&timeoutSeconds=2&resourceVersion={rv}"
        ))
        .await;
    let bookmarks: Vec<Value> = quiet
        .events()
        .into_iter()
        .filter(|ev| ev["type"] == "BOOKMARK")
        .collect();
    assert!(!bookmarks.is_empty(), "{}", quiet.body);
    for b in &bookmarks {
        assert_eq!(
            (b["object"]["kind"].as_str(), b["object"]["apiVersion"].as_str()),
            (Some("ConfigMap"), Some("v1"))
        );
        let brv: u64 = b["object"]["metadata"]["resourceVersion"]
            .as_str()
            .unwrap()
            .parse()
            .unwrap();
        assert!(brv >= rv);
    }

    let stream = e
        .get(&format!("{CMS}?watch=true&sendInitialEvents=true&allowWatchBookmarks=true&resourceVersionMatch=NotOlderThan&timeoutSeconds=2"))
        .await;
    let events = stream.events();
    let added = events.iter().take_while(|ev| ev["type"] == "ADDED").count();
    assert!(added >= 2, "{}", stream.body);
    let end = &events[added];
    assert_eq!(end["type"], "BOOKMARK");
    assert_eq!(
        end["object"]["metadata"]["annotations"]["k8s.io/initial-events-end"],
        "true"
    );
    let invalid = e
        .get(&format!(
            "{CMS}?watch=true&sendInitialEvents=true&allowWatchBookmarks=true&timeoutSeconds=1"
        ))
        .await;
    assert_eq!(invalid.status, 422, "{}", invalid.body);
}

/// §6.30 a watch with a label selector sees objects leave (DELETED) and come back (ADDED).
#[tokio::test]
async fn selector_transitions_in_watches() {
    let e = env("transit").await;
    post(&e, CMS, cm("t", json!({"app": "a"}))).await;
    let rv = e.get(CMS).await.json()["metadata"]["resourceVersion"]
        .as_str()
        .unwrap()
        .to_owned();
    let client = e.client.clone();
    let path = format!("{CMS}?watch=true&labelSelector=app%3Da&resourceVersion={rv}&timeoutSeconds=2");
    let watch = tokio::spawn(async move {
        let req = http::Request::get(path)
            .body(kube::client::Body::from(Vec::new()))
            .unwrap();
        let resp = client.send(req).await.unwrap();
        String::from_utf8(resp.into_body().collect_bytes().await.unwrap().to_vec()).unwrap()
    });
    tokio::time::sleep(Duration::from_millis(200)).await;
    let relabel = |app: &str| json!({"metadata": {"labels": {"app": app}}}).to_string();
    for app in ["b", "a"] {
        let r = e
            .raw(
                "PATCH",
                &format!("{CMS}/t"),
                Some("application/merge-patch+json"),
                relabel(app).as_bytes(),
            )
            .await;
        assert_eq!(r.status, 200, "{}", r.body);
    }
    let body = tokio::time::timeout(Duration::from_secs(10), watch)
        .await
        .unwrap()
        .unwrap();
    let types: Vec<String> = body
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .map(|ev| ev["type"].as_str().unwrap_or_default().to_owned())
        .collect();
    assert_eq!(types, ["DELETED", "ADDED"], "{body}");
}

/// Not a §6 check: the CronJob simulator over the API, on a fast schedule clock (one minute = 200 ms).
#[tokio::test]
async fn cronjob_schedules_owned_jobs() {
    let controllers = ControllerConfig {
        cron_minute: Duration::from_millis(200),
        job_after: Duration::from_millis(50),
        ..fast_controllers()
    };
    let e = env_with(
        "cron",
        SandboxConfig {
            controllers,
            ..SandboxConfig::default()
        },
    )
    .await;
    let cj = json!({"apiVersion": "batch/v1", "kind": "CronJob", "metadata": {"name": "tick"},
        "spec": {"schedule": "* * * * *", "successfulJobsHistoryLimit": 2,
                 "jobTemplate": {"metadata": {"labels": {"from": "tick"}},
                    "spec": {"template": {"spec": {"restartPolicy": "Never", "containers": [{"name": "c", "image": "busybox"}]}}}}}});
    let created = post(&e, "/apis/batch/v1/namespaces/default/cronjobs", cj).await;
    let jobs = "/apis/batch/v1/namespaces/default/jobs?labelSelector=from%3Dtick";
    eventually("several runs", 10, || async {
        let status = e
            .get("/apis/batch/v1/namespaces/default/cronjobs/tick")
            .await
            .json()["status"]
            .clone();
        status["lastSuccessfulTime"].is_string() && status["lastScheduleTime"].is_string()
    })
    .await;
    tokio::time::sleep(Duration::from_millis(800)).await;
    let items = e.get(jobs).await.json()["items"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    let finished = items
        .iter()
        .filter(|j| j["status"]["completionTime"].is_string())
        .count();
    assert!(
        !items.is_empty() && finished <= 2,
        "history limit keeps at most 2 finished Jobs: {}",
        items.len()
    );
    for job in &items {
        let owner = &job["metadata"]["ownerReferences"][0];
        assert_eq!(
            (owner["kind"].as_str(), owner["controller"].as_bool()),
            (Some("CronJob"), Some(true))
        );
        assert_eq!(owner["uid"], created["metadata"]["uid"]);
        assert!(job["metadata"]["name"].as_str().unwrap().starts_with("tick-"));
    }
}

/// DeleteOptions as upstream takes them: no body, `{}`, query parameters (`propagationPolicy`,
/// `gracePeriodSeconds`, `dryRun`) and the protobuf body client-go's typed clients send (`helm uninstall`).
#[tokio::test]
async fn delete_options_in_every_form() {
    let e = env("delete-options").await;
    let jobs = "/apis/batch/v1/namespaces/default/jobs";
    for n in ["a", "b", "c", "d", "e", "f"] {
        post(&e, CMS, cm(n, json!({}))).await;
    }
    let gone = |name: &'static str| {
        let e = &e;
        async move { e.get(&format!("{CMS}/{name}")).await.status == 404 }
    };
    let r = e.raw("DELETE", &format!("{CMS}/a"), None, b"").await;
    assert_eq!(r.status, 200, "no body: {}", r.body);
    let r = e.raw_with("DELETE", &format!("{CMS}/b"), &[], b"").await;
    assert_eq!(r.status, 200, "no body, no content type: {}", r.body);
    let r = e.raw("DELETE", &format!("{CMS}/c"), None, b"{}").await;
    assert_eq!(r.status, 200, "{{}}: {}", r.body);
    let r = e
        .raw("DELETE", &format!("{CMS}/d?gracePeriodSeconds=0"), None, b"")
        .await;
    assert_eq!(r.status, 200, "gracePeriodSeconds: {}", r.body);
    assert!(gone("a").await && gone("b").await && gone("c").await && gone("d").await);
    let r = e.raw("DELETE", &format!("{CMS}/e?dryRun=All"), None, b"").await;
    assert_eq!(r.status, 200, "dryRun: {}", r.body);
    assert!(!gone("e").await, "a dry-run delete deletes nothing");
    // kind DeleteOptions, apiVersion v1, propagationPolicy Background, dryRun [All], in the k8s envelope.
    let mut proto = b"k8s\0".to_vec();
    let type_meta = [&[0x0a, 2][..], b"v1", &[0x12, 13], b"DeleteOptions"].concat();
    proto.extend([0x0a, u8::try_from(type_meta.len()).unwrap()]);
    proto.extend(&type_meta);
    let opts = [&[0x22, 10][..], b"Background", &[0x2a, 3], b"All"].concat();
    proto.extend([0x12, u8::try_from(opts.len()).unwrap()]);
    proto.extend(&opts);
    let pb = "application/vnd.kubernetes.protobuf";
    let r = e.raw("DELETE", &format!("{CMS}/e"), Some(pb), &proto).await;
    assert_eq!(r.status, 200, "protobuf DeleteOptions: {}", r.body);
    assert!(!gone("e").await, "the protobuf body's dryRun is honoured");
    let proto_no_dry_run = {
        let mut p = b"k8s\0".to_vec();
        p.extend([0x0a, u8::try_from(type_meta.len()).unwrap()]);
        p.extend(&type_meta);
        let opts = [&[0x22, 10][..], b"Background"].concat();
        p.extend([0x12, u8::try_from(opts.len()).unwrap()]);
        p.extend(&opts);
        p
    };
    let r = e
        .raw("DELETE", &format!("{CMS}/e"), Some(pb), &proto_no_dry_run)
        .await;
    assert_eq!(r.status, 200, "protobuf DeleteOptions: {}", r.body);
    assert!(gone("e").await);

    // A propagation policy from the query or a protobuf body counts: no orphaning warning on a Job.
    let job = |name: &str| {
        json!({"apiVersion": "batch/v1", "kind": "Job", "metadata": {"name": name},
            "spec": {"template": {"spec": {"restartPolicy": "Never", "containers": [{"name": "c", "image": "busybox"}]}}}})
    };
    for n in ["q", "p", "none"] {
        post(&e, jobs, job(n)).await;
    }
    let r = e
        .raw(
            "DELETE",
            &format!("{jobs}/q?propagationPolicy=Background"),
            None,
            b"",
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.header("warning"), "", "query propagationPolicy");
    let r = e
        .raw("DELETE", &format!("{jobs}/p"), Some(pb), &proto_no_dry_run)
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.header("warning"), "", "protobuf propagationPolicy");
    let r = e.raw("DELETE", &format!("{jobs}/none"), None, b"").await;
    assert!(r.header("warning").contains("child pods are preserved"));
    let r = e
        .raw(
            "DELETE",
            &format!("{CMS}/f?propagationPolicy=Sideways"),
            None,
            b"",
        )
        .await;
    assert_eq!(r.status, 422, "{}", r.body);
    let r = e.raw("DELETE", &format!("{CMS}/f"), None, b"{not json").await;
    assert_eq!(r.status, 400, "{}", r.body);
}
