//! The controllers against a real in-memory store (no HTTP).

use std::time::Duration;

use serde_json::{Value, json};

use super::*;
use crate::store::{DeleteOptions, Gvr, Propagation, ResourceInfo};

fn info(
    group: &str,
    resource: &str,
    kind: &str,
    status: bool,
    default_propagation: Propagation,
) -> ResourceInfo {
    ResourceInfo {
        gvr: Gvr::new(group, "v1", resource),
        kind: kind.into(),
        singular: kind.to_lowercase(),
        namespaced: true,
        status_subresource: status,
        has_generation: status,
        short_names: vec![],
        categories: vec![],
        allow_unconditional_update: true,
        return_deleted_object: false,
        default_propagation,
        crd: None,
        verbs: vec![],
    }
}

fn store() -> Store {
    let store = Store::default();
    store.register_type(info(
        "",
        "configmaps",
        "ConfigMap",
        false,
        Propagation::Background,
    ));
    store.register_type(info("", "pods", "Pod", true, Propagation::Background));
    store.register_type(info("batch", "jobs", "Job", true, Propagation::Orphan));
    store.register_type(info(
        "batch",
        "cronjobs",
        "CronJob",
        true,
        Propagation::Background,
    ));
    store
}

fn cm() -> Gvr {
    Gvr::new("", "v1", "configmaps")
}
fn jobs() -> Gvr {
    Gvr::new("batch", "v1", "jobs")
}
fn pods() -> Gvr {
    Gvr::new("", "v1", "pods")
}

fn fast() -> ControllerConfig {
    ControllerConfig {
        gc_delay: Duration::from_millis(10),
        job_after: Duration::from_millis(50),
        ..Default::default()
    }
}

fn create(store: &Store, gvr: &Gvr, name: &str, extra_meta: Value) -> Value {
    let mut meta = json!({"name": name, "namespace": "default"});
    if let (Some(m), Some(extra)) = (meta.as_object_mut(), extra_meta.as_object()) {
        m.extend(extra.clone());
    }
    let kind = store.info(gvr).unwrap().kind.clone();
    store
        .create(
            gvr,
            json!({"apiVersion": gvr.api_version(), "kind": kind, "metadata": meta}),
        )
        .unwrap()
}

fn owner_ref(owner: &Value, block: bool) -> Value {
    json!({"apiVersion": owner["apiVersion"], "kind": owner["kind"], "name": owner["metadata"]["name"],
           "uid": owner["metadata"]["uid"], "controller": true, "blockOwnerDeletion": block})
}

async fn eventually(what: &str, mut check: impl FnMut() -> bool) {
    for _ in 0..300 {
        if check() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("timed out waiting for: {what}");
}

fn del(store: &Store, gvr: &Gvr, name: &str, propagation: Option<Propagation>) {
    store
        .delete(
            gvr,
            Some("default"),
            name,
            &DeleteOptions {
                propagation,
                ..Default::default()
            },
        )
        .unwrap();
}

#[tokio::test]
async fn background_deletes_dependents_after_owner() {
    let s = store();
    let _c = start(s.clone(), fast());
    let owner = create(&s, &cm(), "o", json!({}));
    create(
        &s,
        &cm(),
        "d",
        json!({"ownerReferences": [owner_ref(&owner, true)]}),
    );
    tokio::time::sleep(Duration::from_millis(50)).await;
    assert!(
        s.get(&cm(), Some("default"), "d").is_some(),
        "live owner keeps dependent"
    );
    del(&s, &cm(), "o", None);
    eventually("dependent collected", || {
        s.get(&cm(), Some("default"), "d").is_none()
    })
    .await;
}

#[tokio::test]
async fn foreground_waits_for_blocking_dependents() {
    let s = store();
    let c = start(s.clone(), fast());
    let owner = create(&s, &cm(), "o", json!({}));
    create(
        &s,
        &cm(),
        "d",
        json!({"ownerReferences": [owner_ref(&owner, true)], "finalizers": ["test/hold"]}),
    );
    c.pause_gc();
    del(&s, &cm(), "o", Some(Propagation::Foreground));
    let o = s.get(&cm(), Some("default"), "o").unwrap();
    assert_eq!(o["metadata"]["finalizers"], json!(["foregroundDeletion"]));
    c.resume_gc();
    eventually("dependent marked", || {
        s.get(&cm(), Some("default"), "d")
            .is_some_and(|d| d["metadata"]["deletionTimestamp"].is_string())
    })
    .await;
    tokio::time::sleep(Duration::from_millis(50)).await;
    assert!(
        s.get(&cm(), Some("default"), "o").is_some(),
        "owner waits for its blocking dependent"
    );
    let mut d = s.get(&cm(), Some("default"), "d").unwrap();
    d["metadata"]["finalizers"] = json!([]);
    s.update(&cm(), d).unwrap();
    eventually("owner gone", || s.get(&cm(), Some("default"), "o").is_none()).await;
}

#[tokio::test]
async fn orphan_strips_owner_references() {
    let s = store();
    let _c = start(s.clone(), fast());
    let owner = create(&s, &cm(), "o", json!({}));
    let other = create(&s, &cm(), "keep", json!({}));
    create(
        &s,
        &cm(),
        "d",
        json!({"ownerReferences": [owner_ref(&owner, true), {
        "apiVersion": "v1", "kind": "ConfigMap", "name": "keep", "uid": other["metadata"]["uid"]}]}),
    );
    del(&s, &cm(), "o", Some(Propagation::Orphan));
    eventually("owner gone", || s.get(&cm(), Some("default"), "o").is_none()).await;
    let d = s
        .get(&cm(), Some("default"), "d")
        .expect("orphaned dependent survives");
    let refs = d["metadata"]["ownerReferences"].as_array().unwrap();
    assert_eq!(refs.len(), 1);
    assert_eq!(refs[0]["name"], "keep");
}

#[tokio::test]
async fn dangling_references_and_other_owners() {
    let s = store();
    let _c = start(s.clone(), fast());
    let live = create(&s, &cm(), "live", json!({}));
    let ghost = json!({"apiVersion": "v1", "kind": "ConfigMap", "name": "ghost", "uid": "no-such-uid"});
    let unknown = json!({"apiVersion": "example.com/v1", "kind": "Nope", "name": "x", "uid": "u"});
    create(&s, &cm(), "virtual", json!({"ownerReferences": [ghost]}));
    create(
        &s,
        &cm(),
        "shared",
        json!({"ownerReferences": [ghost, owner_ref(&live, false)]}),
    );
    create(&s, &cm(), "unresolvable", json!({"ownerReferences": [unknown]}));
    eventually("virtual owner's dependent collected", || {
        s.get(&cm(), Some("default"), "virtual").is_none()
    })
    .await;
    eventually("dead reference removed", || {
        s.get(&cm(), Some("default"), "shared").is_some_and(|d| {
            d["metadata"]["ownerReferences"]
                .as_array()
                .is_some_and(|r| r.len() == 1)
        })
    })
    .await;
    assert!(s.get(&cm(), Some("default"), "unresolvable").is_some());
}

#[tokio::test]
async fn paused_gc_catches_up_on_resume() {
    let s = store();
    let c = start(s.clone(), fast());
    let owner = create(&s, &cm(), "o", json!({}));
    create(
        &s,
        &cm(),
        "d",
        json!({"ownerReferences": [owner_ref(&owner, false)]}),
    );
    c.gc_switch().pause();
    del(&s, &cm(), "o", None);
    tokio::time::sleep(Duration::from_millis(150)).await;
    assert!(
        s.get(&cm(), Some("default"), "d").is_some(),
        "paused collector does nothing"
    );
    c.gc_switch().resume();
    eventually("collected after resume", || {
        s.get(&cm(), Some("default"), "d").is_none()
    })
    .await;
}

fn condition_types(job: &Value) -> Vec<String> {
    job["status"]["conditions"]
        .as_array()
        .map(|c| {
            c.iter()
                .filter_map(|c| c["type"].as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default()
}

#[tokio::test]
async fn job_runs_to_completion_with_pods_and_events() {
    let s = store();
    let mut rx = s.subscribe();
    let _c = start(
        s.clone(),
        ControllerConfig {
            simulate_pods: true,
            ..fast()
        },
    );
    create(
        &s,
        &jobs(),
        "j",
        json!({"annotations": {AFTER_ANNOTATION: "100ms"}}),
    );
    eventually("job complete", || {
        s.get(&jobs(), Some("default"), "j")
            .is_some_and(|j| condition_types(&j) == ["SuccessCriteriaMet", "Complete"])
    })
    .await;
    let j = s.get(&jobs(), Some("default"), "j").unwrap();
    assert_eq!(j["status"]["succeeded"], 1);
    assert!(j["status"]["completionTime"].as_str() >= j["status"]["startTime"].as_str());
    let (pod_list, _) = s.list(&pods(), Some("default"));
    assert_eq!(pod_list.len(), 1);
    assert_eq!(pod_list[0]["status"]["phase"], "Succeeded");
    assert_eq!(
        pod_list[0]["metadata"]["ownerReferences"][0]["uid"],
        j["metadata"]["uid"]
    );
    // Watchers saw the interim condition on its own before the terminal one.
    let mut seen = Vec::new();
    while let Ok(ev) = rx.try_recv() {
        if ev.gvr == jobs() {
            seen.push(condition_types(&ev.object).join(","));
        }
    }
    seen.dedup();
    assert_eq!(seen, ["", "SuccessCriteriaMet", "SuccessCriteriaMet,Complete"]);
}

#[tokio::test]
async fn failing_job_from_template_annotation_then_ttl_delete() {
    let s = store();
    let _c = start(s.clone(), fast());
    let job = json!({"apiVersion": "batch/v1", "kind": "Job",
        "metadata": {"name": "f", "namespace": "default"},
        "spec": {"ttlSecondsAfterFinished": 0, "backoffLimit": 0,
                 "template": {"metadata": {"annotations": {OUTCOME_ANNOTATION: "Fail", AFTER_ANNOTATION: "20ms"}}}}});
    let mut rx = s.subscribe();
    s.create(&jobs(), job).unwrap();
    eventually("job deleted after ttl", || {
        s.get(&jobs(), Some("default"), "f").is_none()
    })
    .await;
    let mut last = None;
    while let Ok(ev) = rx.try_recv() {
        if ev.gvr == jobs() {
            last = Some(ev.object);
        }
    }
    let last = last.unwrap();
    assert_eq!(condition_types(&last), ["FailureTarget", "Failed"]);
    assert_eq!(last["status"]["failed"], 1);
    assert!(last["status"].get("completionTime").is_none());
}

#[tokio::test]
async fn run_outcome_stays_active() {
    let s = store();
    let _c = start(
        s.clone(),
        ControllerConfig {
            job_outcome: JobOutcome::Run,
            job_after: Duration::ZERO,
            ..fast()
        },
    );
    create(&s, &jobs(), "r", json!({}));
    eventually("job started", || {
        s.get(&jobs(), Some("default"), "r")
            .is_some_and(|j| j["status"]["active"] == 1)
    })
    .await;
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert!(condition_types(&s.get(&jobs(), Some("default"), "r").unwrap()).is_empty());
}

#[tokio::test]
async fn deleting_job_in_background_collects_its_pods() {
    let s = store();
    let _c = start(
        s.clone(),
        ControllerConfig {
            simulate_pods: true,
            job_outcome: JobOutcome::Run,
            ..fast()
        },
    );
    create(&s, &jobs(), "j", json!({}));
    eventually("pod created", || s.list(&pods(), Some("default")).0.len() == 1).await;
    del(&s, &jobs(), "j", Some(Propagation::Background));
    eventually("pod collected", || s.list(&pods(), Some("default")).0.is_empty()).await;
}

#[tokio::test]
async fn job_default_orphan_keeps_pods_without_owner() {
    let s = store();
    let _c = start(
        s.clone(),
        ControllerConfig {
            simulate_pods: true,
            job_outcome: JobOutcome::Run,
            ..fast()
        },
    );
    create(&s, &jobs(), "j", json!({}));
    eventually("pod created", || s.list(&pods(), Some("default")).0.len() == 1).await;
    del(&s, &jobs(), "j", None);
    eventually("job gone", || s.get(&jobs(), Some("default"), "j").is_none()).await;
    let pods_left = s.list(&pods(), Some("default")).0;
    assert_eq!(pods_left.len(), 1);
    assert!(pods_left[0]["metadata"].get("ownerReferences").is_none());
}

#[tokio::test]
async fn cronjob_on_fast_clock_creates_owned_jobs() {
    let s = store();
    let config = ControllerConfig {
        cron_minute: Duration::from_millis(100),
        job_outcome: JobOutcome::Run,
        ..fast()
    };
    let _c = start(s.clone(), config);
    s.create(
        &Gvr::new("batch", "v1", "cronjobs"),
        json!({"apiVersion": "batch/v1", "kind": "CronJob",
        "metadata": {"name": "cj", "namespace": "default"},
        "spec": {"schedule": "* * * * *", "concurrencyPolicy": "Forbid",
                 "jobTemplate": {"metadata": {"labels": {"from": "cron"}}, "spec": {}}}}),
    )
    .unwrap();
    eventually("first job", || !s.list(&jobs(), Some("default")).0.is_empty()).await;
    tokio::time::sleep(Duration::from_millis(400)).await;
    let (all, _) = s.list(&jobs(), Some("default"));
    assert_eq!(all.len(), 1, "Forbid: no second job while the first runs");
    assert_eq!(all[0]["metadata"]["labels"]["from"], "cron");
    assert!(all[0]["metadata"]["name"].as_str().unwrap().starts_with("cj-"));
    let cj = s
        .get(&Gvr::new("batch", "v1", "cronjobs"), Some("default"), "cj")
        .unwrap();
    assert_eq!(cj["status"]["active"][0]["name"], all[0]["metadata"]["name"]);
    assert!(cj["status"]["lastScheduleTime"].is_string());
}

#[tokio::test]
async fn owner_scope_rules() {
    let s = store();
    let mut ns_info = info("", "namespaces", "Namespace", false, Propagation::Background);
    ns_info.namespaced = false;
    s.register_type(ns_info);
    let nss = Gvr::new("", "v1", "namespaces");
    for ns in ["default", "other"] {
        s.create(
            &nss,
            json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}}),
        )
        .unwrap();
    }
    let _c = start(s.clone(), fast());
    // A namespaced owner in another namespace counts as absent for the dependent.
    let elsewhere = s
        .create(
            &cm(),
            json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "o", "namespace": "other"}}),
        )
        .unwrap();
    create(
        &s,
        &cm(),
        "cross",
        json!({"ownerReferences": [owner_ref(&elsewhere, false)]}),
    );
    // A cluster-scoped dependent cannot resolve a namespaced owner: never collected.
    let local = create(&s, &cm(), "local", json!({}));
    s.create(
        &nss,
        json!({"apiVersion": "v1", "kind": "Namespace",
        "metadata": {"name": "scoped", "ownerReferences": [owner_ref(&local, false)]}}),
    )
    .unwrap();
    // A cluster-scoped owner is valid for a namespaced dependent.
    let cluster_owner = s
        .create(
            &nss,
            json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "root"}}),
        )
        .unwrap();
    create(
        &s,
        &cm(),
        "under-root",
        json!({"ownerReferences": [owner_ref(&cluster_owner, false)]}),
    );
    eventually("cross-namespace dependent collected", || {
        s.get(&cm(), Some("default"), "cross").is_none()
    })
    .await;
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert!(s.get(&nss, None, "scoped").is_some());
    assert!(s.get(&cm(), Some("default"), "under-root").is_some());
    s.delete(&nss, None, "root", &DeleteOptions::default()).unwrap();
    eventually("dependent of the cluster-scoped owner collected", || {
        s.get(&cm(), Some("default"), "under-root").is_none()
    })
    .await;
}
