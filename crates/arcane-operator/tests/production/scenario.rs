//! The demo streams of the metrics and RBAC tests, and a run that drives the operator through as
//! many API paths as the demo plugin allows.

use kube::Api;
use kube::api::{ApiResource, DynamicObject};
use kube::core::GroupVersionKind;
use serde_json::json;

use crate::support::Setup;
use arcane_testkit::{Kind, secs, stream, wait_until};

/// The demo streams of the metrics and RBAC tests: every layout, a Job, a CronJob and a
/// suspended stream. (kind, name, suspended, schedule, settled phase)
pub(crate) const STREAMS: [(Kind, &str, bool, Option<&str>, &str); 5] = [
    (Kind::V0, "orders", false, None, "Running"),
    (Kind::V1, "customers", false, None, "Running"),
    (Kind::V1, "daily-report", false, Some("*/5 * * * *"), "Scheduled"),
    (Kind::V2, "payments", false, None, "Running"),
    (Kind::V2, "quiet", true, None, "Suspended"),
];

pub(crate) async fn create_demo_streams(setup: &Setup) {
    for (kind, name, suspended, schedule, _) in STREAMS {
        setup.create(kind, stream(kind, name, suspended, schedule)).await;
    }
}

pub(crate) async fn wait_demo_streams(setup: &Setup) {
    for (kind, name, _, _, phase) in STREAMS {
        setup.env.wait_phase(kind, name, phase, secs(30)).await;
    }
}

/// Drives the operator through as many API paths as the demo plugin allows.
pub(crate) async fn exercise(setup: &Setup) {
    create_demo_streams(setup).await;
    wait_demo_streams(setup).await;
    let env = &setup.env;
    // The legacy reload annotation is stripped from a stream of every kind.
    let legacy = json!({"metadata": {"annotations": {"arcane/state": "reload-requested"}}});
    let running = [
        (Kind::V0, "orders"),
        (Kind::V1, "customers"),
        (Kind::V2, "payments"),
    ];
    for (kind, name) in running {
        setup.patch(kind, name, legacy.clone()).await;
    }
    for (kind, name) in running {
        wait_until("the legacy annotation to go", secs(20), || async {
            let obj = env.get(kind, name).await.unwrap();
            !obj.metadata
                .annotations
                .unwrap_or_default()
                .contains_key("arcane/state")
        })
        .await;
        env.wait_phase(kind, name, "Running", secs(30)).await;
    }
    // Suspend a running stream (its Job is deleted), resume the suspended one.
    setup.set_suspended(Kind::V0, "orders", true).await;
    setup.set_suspended(Kind::V2, "quiet", false).await;
    env.wait_phase(Kind::V0, "orders", "Suspended", secs(20)).await;
    env.wait_phase(Kind::V2, "quiet", "Running", secs(30)).await;
    // A spec change replaces the Job; a batch stream turned streaming deletes its CronJob.
    setup
        .patch(Kind::V1, "customers", json!({"spec": {"source": "customers-v2"}}))
        .await;
    let streaming = json!({"spec": {"execution": {"streamingBackend": {
        "batch": null, "changeCapture": {"jobTemplateRef": {"name": "streaming-job"}}}}}});
    setup.patch(Kind::V1, "daily-report", streaming).await;
    wait_until("the CronJob to go", secs(20), || async {
        env.cronjob("daily-report").is_none()
    })
    .await;
    env.wait_phase(Kind::V1, "daily-report", "Running", secs(30))
        .await;
    // A user's BackfillRequest runs and is completed.
    let request = json!({
        "apiVersion": "streaming.sneaksanddata.com/v1",
        "kind": "BackfillRequest",
        "metadata": {"name": "manual", "namespace": arcane_testkit::NS},
        "spec": {"streamClass": "mock-stream-v2", "streamId": "payments"},
    });
    let api: Api<DynamicObject> = Api::namespaced_with(
        setup.client.clone(),
        arcane_testkit::NS,
        &ApiResource::from_gvk_with_plural(
            &GroupVersionKind::gvk("streaming.sneaksanddata.com", "v1", "BackfillRequest"),
            "backfillrequests",
        ),
    );
    api.create(&Default::default(), &serde_json::from_value(request).unwrap())
        .await
        .unwrap();
    wait_until("the manual backfill to complete", secs(30), || async {
        env.requests()
            .iter()
            .any(|r| r["metadata"]["name"] == "manual" && r["spec"]["completed"] == true)
    })
    .await;
    env.wait_phase(Kind::V2, "payments", "Running", secs(30)).await;
    // A deleted stream's workloads are left to the garbage collector (owner references).
    setup
        .api(Kind::V1)
        .delete("customers", &Default::default())
        .await
        .unwrap();
    env.wait_phase(Kind::V1, "daily-report", "Running", secs(10))
        .await;
}
