//! The sandbox through `kube::Client` and kube-runtime: typed and dynamic round trips, CRD establishment,
//! watchers (list+watch and streaming lists), and recovery from forced 410s.

#![allow(clippy::unwrap_used)]

use std::time::Duration;

use futures::{StreamExt, TryStreamExt};
use k8s_openapi::api::batch::v1::Job;
use k8s_openapi::api::core::v1::ConfigMap;
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::api::{Api, DeleteParams, DynamicObject, ListParams, Patch, PatchParams, PostParams};
use kube::core::{ApiResource, GroupVersionKind};
use kube::runtime::wait::{await_condition, conditions};
use kube::runtime::watcher;
use kube_sandbox::faults::{FaultAction, FaultMatch, FaultSpec};
use kube_sandbox::{Sandbox, SandboxConfig};
use serde_json::json;

async fn start() -> Sandbox {
    Sandbox::start(SandboxConfig::default()).await.unwrap()
}

fn cm(name: &str) -> ConfigMap {
    serde_json::from_value(json!({"metadata": {"name": name, "labels": {"app": "t"}}, "data": {"a": "1"}}))
        .unwrap()
}

#[tokio::test]
async fn typed_round_trip() {
    let sb = start().await;
    let client = sb.client().unwrap();
    let cms: Api<ConfigMap> = Api::namespaced(client.clone(), "default");
    let created = cms.create(&PostParams::default(), &cm("a")).await.unwrap();
    let rv1 = created.metadata.resource_version.clone().unwrap();
    let got = cms.get("a").await.unwrap();
    assert_eq!(got.metadata.uid, created.metadata.uid);
    let listed = cms.list(&ListParams::default().labels("app=t")).await.unwrap();
    assert_eq!(listed.items.len(), 1);
    assert!(listed.metadata.resource_version.is_some());
    let patched = cms
        .patch(
            "a",
            &PatchParams::default(),
            &Patch::Merge(json!({"data": {"b": "2"}})),
        )
        .await
        .unwrap();
    assert_ne!(patched.metadata.resource_version.unwrap(), rv1);
    // A stale replace is a 409.
    let mut stale = created.clone();
    stale.data = Some([("c".to_string(), "3".to_string())].into());
    let err = cms
        .replace("a", &PostParams::default(), &stale)
        .await
        .unwrap_err();
    assert!(matches!(err, kube::Error::Api(ref s) if s.code == 409), "{err:?}");
    // Server-side apply creates, and owns fields.
    let applied = cms
        .patch(
            "s",
            &PatchParams::apply("tester"),
            &Patch::Apply(json!({"apiVersion": "v1", "kind": "ConfigMap", "data": {"k": "v"}})),
        )
        .await
        .unwrap();
    assert_eq!(
        applied.metadata.managed_fields.unwrap()[0].manager.as_deref(),
        Some("tester")
    );
    let deleted = cms.delete("a", &DeleteParams::default()).await.unwrap();
    assert!(deleted.is_right(), "configmaps answer a Status");
    assert!(cms.get_opt("a").await.unwrap().is_none());

    let jobs: Api<Job> = Api::namespaced(client, "default");
    let job: Job = serde_json::from_value(json!({"metadata": {"name": "j", "annotations": {"sandbox.arcane.dev/outcome": "Run"}},
        "spec": {"template": {"spec": {"restartPolicy": "Never", "containers": [{"name": "c", "image": "busybox:1"}]}}}}))
    .unwrap();
    let j = jobs.create(&PostParams::default(), &job).await.unwrap();
    let spec = j.spec.unwrap();
    assert_eq!(spec.backoff_limit, Some(6));
    assert_eq!(spec.completion_mode.as_deref(), Some("NonIndexed"));
    assert!(
        spec.selector
            .unwrap()
            .match_labels
            .unwrap()
            .contains_key("batch.kubernetes.io/controller-uid")
    );
    sb.shutdown().await;
}

fn widget_crd() -> CustomResourceDefinition {
    serde_json::from_value(json!({
        "metadata": {"name": "widgets.example.com"},
        "spec": {"group": "example.com", "scope": "Namespaced",
            "names": {"plural": "widgets", "singular": "widget", "kind": "Widget"},
            "versions": [{"name": "v1", "served": true, "storage": true, "subresources": {"status": {}},
                "schema": {"openAPIV3Schema": {"type": "object", "properties": {
                    "spec": {"type": "object", "properties": {"size": {"type": "integer", "default": 1}}},
                    "status": {"type": "object", "properties": {"ready": {"type": "boolean"}}}}}}}]}
    }))
    .unwrap()
}

#[tokio::test]
async fn crd_establishment_and_dynamic_objects() {
    let sb = start().await;
    let client = sb.client().unwrap();
    let crds: Api<CustomResourceDefinition> = Api::all(client.clone());
    crds.create(&PostParams::default(), &widget_crd()).await.unwrap();
    let established = await_condition(
        crds.clone(),
        "widgets.example.com",
        conditions::is_crd_established(),
    );
    tokio::time::timeout(Duration::from_secs(10), established)
        .await
        .unwrap()
        .unwrap();
    let ar =
        ApiResource::from_gvk_with_plural(&GroupVersionKind::gvk("example.com", "v1", "Widget"), "widgets");
    let widgets: Api<DynamicObject> = Api::namespaced_with(client.clone(), "default", &ar);
    let w: DynamicObject = serde_json::from_value(json!({"apiVersion": "example.com/v1", "kind": "Widget",
        "metadata": {"name": "w"}, "spec": {"unknown": true}, "status": {"ready": true}}))
    .unwrap();
    let created = widgets.create(&PostParams::default(), &w).await.unwrap();
    assert_eq!(created.data["spec"], json!({"size": 1}), "pruned and defaulted");
    assert!(created.data.get("status").is_none(), "status dropped on create");
    assert_eq!(created.metadata.generation, Some(1));
    let st = widgets
        .patch_status(
            "w",
            &PatchParams::default(),
            &Patch::Merge(json!({"status": {"ready": true}, "spec": {"size": 5}})),
        )
        .await
        .unwrap();
    assert_eq!(st.data["status"]["ready"], true);
    assert_eq!(st.data["spec"]["size"], 1);
    assert_eq!(st.metadata.generation, Some(1));
    // kube-runtime's finalizer helper: JSON patch with a null test on an absent field.
    let fin = Patch::Json::<()>(
        serde_json::from_value(json!([
        {"op": "test", "path": "/metadata/finalizers", "value": null},
        {"op": "add", "path": "/metadata/finalizers", "value": ["example.com/x"]}]))
        .unwrap(),
    );
    widgets.patch("w", &PatchParams::default(), &fin).await.unwrap();
    let marked = widgets.delete("w", &DeleteParams::default()).await.unwrap();
    let marked = marked.left().unwrap();
    assert!(marked.metadata.deletion_timestamp.is_some());
    widgets
        .patch(
            "w",
            &PatchParams::default(),
            &Patch::Merge(json!({"metadata": {"finalizers": null}})),
        )
        .await
        .unwrap();
    assert!(widgets.get_opt("w").await.unwrap().is_none());
    // Deleting the CRD removes its objects, then the type; an object with a finalizer holds the CRD back.
    widgets.create(&PostParams::default(), &w).await.unwrap();
    let mut held = w.clone();
    held.metadata.name = Some("held".into());
    held.metadata.finalizers = Some(vec!["example.com/x".into()]);
    widgets.create(&PostParams::default(), &held).await.unwrap();
    let open_watch = {
        let widgets = widgets.clone();
        let params = kube::api::WatchParams::default().timeout(30);
        tokio::spawn(async move { widgets.watch(&params, "0").await.unwrap().count().await })
    };
    crds.delete("widgets.example.com", &DeleteParams::default())
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(200)).await;
    let terminating = crds.get("widgets.example.com").await.unwrap();
    let conds = terminating.status.unwrap().conditions.unwrap();
    assert!(conds.iter().any(|c| c.type_ == "Terminating"), "{conds:?}");
    assert!(widgets.get_opt("w").await.unwrap().is_none());
    let release = Patch::Merge(json!({"metadata": {"finalizers": null}}));
    widgets
        .patch("held", &PatchParams::default(), &release)
        .await
        .unwrap();
    let mut gone = false;
    for _ in 0..100 {
        if crds.get_opt("widgets.example.com").await.unwrap().is_none() {
            gone = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(gone, "the CRD finalizer was released");
    tokio::time::timeout(Duration::from_secs(5), open_watch)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(sb.open_watches(), 0, "watches of a removed type end");
    let err = widgets.list(&ListParams::default()).await.unwrap_err();
    assert!(matches!(err, kube::Error::Api(ref s) if s.code == 404), "{err:?}");
}

async fn next_event(
    stream: &mut (impl futures::Stream<Item = Result<watcher::Event<ConfigMap>, watcher::Error>> + Unpin),
) -> watcher::Event<ConfigMap> {
    tokio::time::timeout(Duration::from_secs(10), stream.try_next())
        .await
        .unwrap()
        .unwrap()
        .unwrap()
}

fn name(e: &watcher::Event<ConfigMap>) -> String {
    match e {
        watcher::Event::Apply(o) | watcher::Event::InitApply(o) | watcher::Event::Delete(o) => {
            o.metadata.name.clone().unwrap_or_default()
        }
        watcher::Event::Init => "<init>".into(),
        watcher::Event::InitDone => "<done>".into(),
    }
}

async fn watcher_flow(streaming: bool) {
    let sb = start().await;
    let client = sb.client().unwrap();
    let cms: Api<ConfigMap> = Api::namespaced(client, "default");
    cms.create(&PostParams::default(), &cm("before")).await.unwrap();
    let config = if streaming {
        watcher::Config::default().streaming_lists()
    } else {
        watcher::Config::default()
    };
    let mut stream = watcher(cms.clone(), config).boxed();
    let mut seen = vec![];
    for _ in 0..3 {
        seen.push(name(&next_event(&mut stream).await));
    }
    assert_eq!(seen, vec!["<init>", "before", "<done>"]);
    cms.create(&PostParams::default(), &cm("after")).await.unwrap();
    let e = next_event(&mut stream).await;
    assert!(matches!(e, watcher::Event::Apply(_)) && name(&e) == "after");
    cms.delete("before", &DeleteParams::default()).await.unwrap();
    let e = next_event(&mut stream).await;
    assert!(matches!(e, watcher::Event::Delete(_)) && name(&e) == "before");
    // Force a re-list: drop the open watch, delay the re-watch, and compact history after a new write so the
    // resume point is too old. The watcher must see the in-stream 410 and re-list, not loop.
    let delay = FaultSpec {
        matcher: FaultMatch {
            watch: Some(true),
            ..Default::default()
        },
        count: Some(1),
        probability: None,
        action: FaultAction::Delay { ms: 500 },
    };
    sb.add_fault(delay).unwrap();
    sb.drop_watches(Default::default()).unwrap();
    cms.create(&PostParams::default(), &cm("third")).await.unwrap();
    sb.expire_resource_versions();
    let mut names = vec![];
    for _ in 0..6 {
        let Ok(Some(e)) = tokio::time::timeout(Duration::from_secs(15), stream.next()).await else {
            for r in sb.requests() {
                eprintln!(
                    "{} {}?{} {} watch={}",
                    r.method, r.path, r.query, r.status, r.watch
                );
            }
            panic!("watcher stalled after {names:?}");
        };
        if let Ok(e) = e {
            names.push(name(&e));
            if names.last().map(String::as_str) == Some("<done>") {
                break;
            }
        }
    }
    assert!(names.contains(&"third".to_string()), "{names:?}");
    assert!(names.contains(&"<init>".to_string()), "re-listed: {names:?}");
    let watches = sb.requests().iter().filter(|r| r.watch).count();
    assert!((2..10).contains(&watches), "no watch hot loop: {watches}");
    sb.shutdown().await;
}

#[tokio::test]
async fn kube_runtime_watcher_list_watch() {
    watcher_flow(false).await;
}

#[tokio::test]
async fn kube_runtime_watcher_streaming_list() {
    watcher_flow(true).await;
}

#[tokio::test]
async fn events_k8s_io_are_served_as_core_events() {
    use k8s_openapi::api::core::v1::Event as CoreEvent;
    use k8s_openapi::api::events::v1::Event;
    let sb = start().await;
    let client = sb.client().unwrap();
    let new_api: Api<Event> = Api::namespaced(client.clone(), "default");
    let ev: Event = serde_json::from_value(json!({"metadata": {"name": "w.1"},
        "regarding": {"kind": "Widget", "name": "w", "namespace": "default", "uid": "u1"},
        "note": "made it", "reason": "Created", "type": "Normal", "action": "Create",
        "eventTime": "2026-11-26T08:00:00.000000Z", "reportingController": "arcane", "reportingInstance": "arcane-0"}))
    .unwrap();
    new_api.create(&PostParams::default(), &ev).await.unwrap();
    let core: Api<CoreEvent> = Api::namespaced(client, "default");
    let lp = ListParams::default().fields("involvedObject.name=w,involvedObject.kind=Widget");
    let mut found = vec![];
    for _ in 0..50 {
        found = core.list(&lp).await.unwrap().items;
        if !found.is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(found.len(), 1);
    assert_eq!(found[0].message.as_deref(), Some("made it"));
    new_api.delete("w.1", &DeleteParams::default()).await.unwrap();
    for _ in 0..50 {
        if core.list(&lp).await.unwrap().items.is_empty() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("the core view kept a deleted event");
}

#[tokio::test]
async fn deleting_a_namespace_deletes_its_contents() {
    use k8s_openapi::api::core::v1::Namespace;
    let sb = start().await;
    let client = sb.client().unwrap();
    let nss: Api<Namespace> = Api::all(client.clone());
    nss.create(
        &PostParams::default(),
        &serde_json::from_value(json!({"metadata": {"name": "t"}})).unwrap(),
    )
    .await
    .unwrap();
    let cms: Api<ConfigMap> = Api::namespaced(client.clone(), "t");
    cms.create(&PostParams::default(), &cm("a")).await.unwrap();
    let mut held = cm("held");
    held.metadata.finalizers = Some(vec!["example.com/x".into()]);
    cms.create(&PostParams::default(), &held).await.unwrap();
    let marked = nss
        .delete("t", &DeleteParams::default())
        .await
        .unwrap()
        .left()
        .unwrap();
    assert_eq!(marked.status.unwrap().phase.as_deref(), Some("Terminating"));
    let err = cms.create(&PostParams::default(), &cm("late")).await.unwrap_err();
    assert!(matches!(err, kube::Error::Api(ref s) if s.code == 403), "{err:?}");
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert!(cms.get_opt("a").await.unwrap().is_none());
    assert!(
        nss.get_opt("t").await.unwrap().is_some(),
        "a finalizer in the namespace holds it"
    );
    cms.patch(
        "held",
        &PatchParams::default(),
        &Patch::Merge(json!({"metadata": {"finalizers": null}})),
    )
    .await
    .unwrap();
    for _ in 0..100 {
        if nss.get_opt("t").await.unwrap().is_none() {
            let err = nss.delete("default", &DeleteParams::default()).await.unwrap_err();
            assert!(matches!(err, kube::Error::Api(ref s) if s.code == 403), "{err:?}");
            return;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("the namespace was never finalized");
}

#[tokio::test]
async fn kube_runtime_recorder_events_show_in_the_core_view() {
    use k8s_openapi::api::core::v1::{Event as CoreEvent, ObjectReference};
    use kube::runtime::events::{Event, EventType, Recorder, Reporter};
    let sb = start().await;
    let client = sb.client().unwrap();
    let recorder = Recorder::new(
        client.clone(),
        Reporter {
            controller: "arcane-test".into(),
            instance: None,
        },
    );
    let regarding = ObjectReference {
        api_version: Some("v1".into()),
        kind: Some("ConfigMap".into()),
        name: Some("cfg".into()),
        namespace: Some("default".into()),
        uid: Some("u-1".into()),
        ..Default::default()
    };
    let ev = Event {
        type_: EventType::Normal,
        reason: "Reconciled".into(),
        note: Some("all good".into()),
        action: "Reconcile".into(),
        secondary: None,
    };
    recorder.publish(&ev, &regarding).await.unwrap();
    recorder.publish(&ev, &regarding).await.unwrap();
    let core: Api<CoreEvent> = Api::namespaced(client, "default");
    let lp = ListParams::default().fields("involvedObject.name=cfg");
    for _ in 0..50 {
        let items = core.list(&lp).await.unwrap().items;
        if items.first().and_then(|e| e.count) == Some(2) {
            assert_eq!(items.len(), 1, "the repeat is a series on the same event");
            assert_eq!(items[0].reason.as_deref(), Some("Reconciled"));
            return;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("the recorded event never reached the core view with count 2");
}
