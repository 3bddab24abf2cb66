//! apiserver-fidelity §6.36: a kube-runtime `Controller` that owns Jobs and uses `finalizer()`, run against the
//! sandbox: it converges with one write per side effect, survives a forced re-list without repeating any, and
//! its cleanup runs on delete, after which the collector removes the owned Job.

#![allow(clippy::unwrap_used)]

mod conformance_common;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use conformance_common::*;
use futures::StreamExt;
use k8s_openapi::api::batch::v1::Job;
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::api::{Api, ApiResource, DynamicObject, GroupVersionKind, Patch, PatchParams, PostParams};
use kube::runtime::controller::{Action, Controller};
use kube::runtime::finalizer::{Event, finalizer};
use kube::runtime::{conditions, wait::await_condition, watcher};
use kube::{Resource, ResourceExt};
use kube_sandbox::controllers::JobOutcome;
use kube_sandbox::faults::FaultMatch;
use kube_sandbox::{SandboxConfig, controllers::ControllerConfig};
use serde_json::json;

const FINALIZER: &str = "example.com/cleanup";

struct Ctx {
    widgets: Api<DynamicObject>,
    jobs: Api<Job>,
    reconciles: AtomicUsize,
    cleanups: AtomicUsize,
}

#[derive(Debug, thiserror::Error)]
enum Error {
    #[error(transparent)]
    Kube(#[from] kube::Error),
    #[error(transparent)]
    Finalizer(#[from] Box<kube::runtime::finalizer::Error<kube::Error>>),
}

fn job_for(w: &DynamicObject, ar: &ApiResource) -> Job {
    let owner = w.controller_owner_ref(ar).unwrap();
    serde_json::from_value(json!({
        "metadata": {"name": format!("{}-job", w.name_any()), "ownerReferences": [owner],
                     "annotations": {"sandbox.arcane.dev/outcome": "Run"}},
        "spec": {"template": {"spec": {"restartPolicy": "Never", "containers": [{"name": "c", "image": "busybox"}]}}}
    }))
    .unwrap()
}

async fn apply(w: Arc<DynamicObject>, ctx: &Ctx, ar: &ApiResource) -> Result<Action, kube::Error> {
    let job_name = format!("{}-job", w.name_any());
    if ctx.jobs.get_opt(&job_name).await?.is_none() {
        ctx.jobs.create(&PostParams::default(), &job_for(&w, ar)).await?;
    }
    // Idempotent: the status is written only when it differs.
    if w.data["status"]["job"].as_str() != Some(job_name.as_str()) {
        let patch = json!({"status": {"job": job_name}});
        ctx.widgets
            .patch_status(&w.name_any(), &PatchParams::default(), &Patch::Merge(&patch))
            .await?;
    }
    Ok(Action::await_change())
}

async fn reconcile(w: Arc<DynamicObject>, ctx: Arc<(Ctx, ApiResource)>) -> Result<Action, Error> {
    let (c, ar) = (&ctx.0, &ctx.1);
    c.reconciles.fetch_add(1, Ordering::SeqCst);
    finalizer(&c.widgets, FINALIZER, w, |event| async move {
        match event {
            Event::Apply(w) => apply(w, c, ar).await,
            Event::Cleanup(_) => {
                c.cleanups.fetch_add(1, Ordering::SeqCst);
                Ok(Action::await_change())
            }
        }
    })
    .await
    .map_err(|e| Error::Finalizer(Box::new(e)))
}

fn error_policy(_: Arc<DynamicObject>, _: &Error, _: Arc<(Ctx, ApiResource)>) -> Action {
    Action::requeue(Duration::from_millis(200))
}

#[tokio::test]
async fn kube_runtime_controller_with_finalizer_survives_relist() {
    let controllers = ControllerConfig {
        job_outcome: JobOutcome::Run,
        ..fast_controllers()
    };
    let e = env_with(
        "runtime",
        SandboxConfig {
            controllers,
            ..SandboxConfig::default()
        },
    )
    .await;
    let client = e.client.clone();
    let crds: Api<CustomResourceDefinition> = Api::all(client.clone());
    let crd: CustomResourceDefinition = serde_saphyr::from_str(CRD_YAML).unwrap();
    crds.create(&PostParams::default(), &crd).await.unwrap();
    tokio::time::timeout(
        Duration::from_secs(10),
        await_condition(crds, "widgets.example.com", conditions::is_crd_established()),
    )
    .await
    .unwrap()
    .unwrap();

    let ar =
        ApiResource::from_gvk_with_plural(&GroupVersionKind::gvk("example.com", "v1", "Widget"), "widgets");
    let widgets: Api<DynamicObject> = Api::namespaced_with(client.clone(), "default", &ar);
    let jobs: Api<Job> = Api::namespaced(client.clone(), "default");
    let ctx = Arc::new((
        Ctx {
            widgets: widgets.clone(),
            jobs: jobs.clone(),
            reconciles: AtomicUsize::new(0),
            cleanups: AtomicUsize::new(0),
        },
        ar.clone(),
    ));
    let controller = Controller::new_with(widgets.clone(), watcher::Config::default(), ar.clone())
        .owns(jobs.clone(), watcher::Config::default())
        .run(reconcile, error_policy, ctx.clone())
        .for_each(|_| async {});
    let running = tokio::spawn(controller);

    let mut obj = DynamicObject::new("w", &ar).within("default");
    obj.data = json!({"spec": {"size": 1}});
    widgets.create(&PostParams::default(), &obj).await.unwrap();
    eventually("converged", 10, || async {
        let w = widgets.get("w").await.unwrap();
        w.finalizers().iter().any(|f| f == FINALIZER)
            && w.data["status"]["job"] == "w-job"
            && jobs.get_opt("w-job").await.unwrap().is_some()
    })
    .await;

    // Steady state: nothing more is written, however long we wait.
    tokio::time::sleep(Duration::from_millis(500)).await;
    // An unrelated write moves the global resourceVersion past what the watchers saw, so that compaction
    // expires them.
    let cms: Api<k8s_openapi::api::core::v1::ConfigMap> = Api::namespaced(client.clone(), "default");
    cms.create(
        &PostParams::default(),
        &serde_json::from_value(json!({"metadata": {"name": "bump"}})).unwrap(),
    )
    .await
    .unwrap();
    let log = e.sb.request_log();
    let mark = log.last_seq();
    let writes_to = |what: &str| {
        log.since(mark)
            .iter()
            .filter(|r| r.is_write() && r.path.contains(what))
            .count()
    };
    let before_relist = ctx.0.reconciles.load(Ordering::SeqCst);
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(
        log.since(mark).iter().filter(|r| r.is_write()).count(),
        0,
        "no hot loop"
    );

    // Forced re-list: history compacted, watches cut; the watchers resume, get 410 in-stream and list again.
    e.sb.expire_resource_versions();
    e.sb.drop_watches(FaultMatch::default()).unwrap();
    eventually("re-listed", 15, || async {
        let lists = log.since(mark);
        lists
            .iter()
            .any(|r| r.method == "GET" && !r.watch && r.path.ends_with("/widgets"))
            && lists
                .iter()
                .any(|r| r.method == "GET" && !r.watch && r.path.ends_with("/jobs"))
            && ctx.0.reconciles.load(Ordering::SeqCst) > before_relist
    })
    .await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(
        log.since(mark).iter().filter(|r| r.is_write()).count(),
        0,
        "re-list repeated no side effect"
    );
    assert_eq!(jobs.list(&Default::default()).await.unwrap().items.len(), 1);
    let finalizer_patches = e
        .requests()
        .iter()
        .filter(|r| r.method == "PATCH" && r.path.ends_with("/widgets/w"))
        .count();
    assert_eq!(finalizer_patches, 1, "the finalizer was added once");
    let count = |method: &str, suffix: &str| {
        e.requests()
            .iter()
            .filter(|r| r.method == method && r.path.ends_with(suffix))
            .count()
    };
    assert_eq!(
        count("PATCH", "/widgets/w/status"),
        1,
        "the status was written once"
    );
    assert_eq!(count("POST", "/jobs"), 1, "one Job created, ever");
    assert_eq!(writes_to("/jobs"), 0);

    widgets.delete("w", &Default::default()).await.unwrap();
    eventually("cleanup ran and the widget is gone", 10, || async {
        ctx.0.cleanups.load(Ordering::SeqCst) >= 1 && widgets.get_opt("w").await.unwrap().is_none()
    })
    .await;
    eventually("owned Job collected", 10, || async {
        jobs.get_opt("w-job").await.unwrap().is_none()
    })
    .await;
    running.abort();
}
