//! (d) The wire shape of each kind: real-looking objects deserialize into the Rust types and
//! serialize back to the same JSON; odd content does not stop a template or a status from loading.

use arcane_operator::crd::{BackfillRequest, StreamClass, StreamClassPhase, StreamingJobTemplate};
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};

fn round_trip<T: DeserializeOwned + Serialize>(input: &Value) -> (T, Value) {
    let typed: T = serde_json::from_value(input.clone()).unwrap();
    let back = serde_json::to_value(&typed).unwrap();
    (typed, back)
}

fn stream_class() -> Value {
    json!({
        "apiVersion": "streaming.sneaksanddata.com/v1",
        "kind": "StreamClass",
        "metadata": {"name": "arcane-stream-sqlserver", "generation": 3, "resourceVersion": "812"},
        "spec": {
            "apiGroupRef": "streaming.sneaksanddata.com",
            "apiVersion": "v1beta1",
            "kindRef": "SqlServerChangeTrackingStream",
            "pluralName": "sqlserverchangetrackingstreams",
            "secretRefs": ["connectionStringRef", "destinationSecretRef"]
        },
        "status": {
            "phase": "Ready",
            "observedGeneration": 3,
            "conditions": [{
                "type": "Ready",
                "status": "True",
                "reason": "Watching",
                "message": "",
                "lastTransitionTime": "2026-11-26T07:00:00Z",
                "observedGeneration": 3
            }]
        }
    })
}

fn job() -> Value {
    json!({
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {
            "labels": {"app.kubernetes.io/name": "arcane-stream-sqlserver"},
            "annotations": {"example.com/team": "data"}
        },
        "spec": {
            "backoffLimit": 3,
            "ttlSecondsAfterFinished": 60,
            "podFailurePolicy": {"rules": [{"action": "FailJob", "onExitCodes": {"operator": "In", "values": [2]}}]},
            "template": {
                "metadata": {"labels": {"app.kubernetes.io/name": "arcane-stream-sqlserver"}},
                "spec": {
                    "restartPolicy": "Never",
                    "serviceAccountName": "arcane-stream-sqlserver",
                    "containers": [{
                        "name": "arcane-stream",
                        "image": "ghcr.io/sneaksanddata/arcane-stream-sqlserver-change-tracking:1.0.8",
                        "env": [{"name": "LOG_LEVEL", "value": "INFO"}],
                        "resources": {"limits": {"cpu": "1", "memory": "2Gi"}, "requests": {"cpu": "500m", "memory": "1Gi"}}
                    }]
                }
            }
        }
    })
}

fn template(spec: Value) -> Value {
    json!({
        "apiVersion": "streaming.sneaksanddata.com/v1",
        "kind": "StreamingJobTemplate",
        "metadata": {"name": "standard-job", "namespace": "arcane"},
        "spec": spec
    })
}

fn backfill_request() -> Value {
    json!({
        "apiVersion": "streaming.sneaksanddata.com/v1",
        "kind": "BackfillRequest",
        "metadata": {"name": "orders-initial-backfill-x7k2p", "namespace": "arcane"},
        "spec": {
            "streamClass": "arcane-stream-sqlserver",
            "streamId": "orders",
            "completed": false,
            "payload": {"startDate": "2026-01-01", "tables": ["orders", "lines"], "nested": {"limit": 10, "dry": true}}
        },
        "status": {"phase": "Pending"}
    })
}

#[test]
fn stream_class_round_trips() {
    let input = stream_class();
    let (sc, back) = round_trip::<StreamClass>(&input);
    assert_eq!(back, input);
    assert_eq!(
        sc.spec.secret_refs.as_deref(),
        Some(&["connectionStringRef".into(), "destinationSecretRef".into()][..])
    );
    assert_eq!(
        sc.spec.api_group_ref.as_deref(),
        Some("streaming.sneaksanddata.com")
    );
    let status = sc.status.expect("status");
    assert_eq!(status.phase, Some(StreamClassPhase::Ready));
    assert_eq!(status.observed_generation, Some(3));
    assert_eq!(status.conditions.map(|c| c.len()), Some(1));
}

#[test]
fn template_spec_is_the_job_itself() {
    let input = template(job());
    let (t, back) = round_trip::<StreamingJobTemplate>(&input);
    assert_eq!(back, input);
    assert_eq!(t.spec.job, job(), "template.spec.job is the whole Job");
    assert_eq!(
        t.spec.job["spec"]["template"]["spec"]["containers"][0]["name"],
        "arcane-stream"
    );
}

#[test]
fn a_template_with_an_unusable_job_still_loads() {
    // The builder, not deserialization, rejects these: a watch must survive them.
    let mut containers_is_a_string = job();
    containers_is_a_string["spec"]["template"]["spec"]["containers"] = json!("arcane-stream");
    let cases = [
        containers_is_a_string,
        json!({"apiVersion": "batch/v1", "kind": "Job", "spec": {"backoffLimit": "three"}}),
        json!({"metadata": {"labels": "not-a-map"}}),
        json!({}),
        json!("not even an object"),
    ];
    for job in cases {
        let input = template(job.clone());
        let (t, back) = round_trip::<StreamingJobTemplate>(&input);
        assert_eq!(t.spec.job, job);
        assert_eq!(back, input);
    }
}

#[test]
fn backfill_request_round_trips_with_its_payload() {
    let input = backfill_request();
    let (bfr, back) = round_trip::<BackfillRequest>(&input);
    assert_eq!(back, input);
    assert_eq!(bfr.spec.stream_id, "orders");
    assert_eq!(bfr.spec.stream_class, "arcane-stream-sqlserver");
    assert!(!bfr.spec.completed);
    assert_eq!(
        bfr.spec.payload.as_ref().map(|p| &p["nested"]["limit"]),
        Some(&json!(10))
    );
}

#[test]
fn backfill_request_defaults() {
    let mut input = backfill_request();
    let spec = input["spec"].as_object_mut().unwrap();
    spec.remove("completed");
    spec.remove("payload");
    input.as_object_mut().unwrap().remove("status");
    let (bfr, back) = round_trip::<BackfillRequest>(&input);
    assert!(!bfr.spec.completed);
    assert_eq!(bfr.spec.payload, None);
    assert_eq!(bfr.status, None);
    // `completed` is always written, as the API server's default would have set it anyway.
    assert_eq!(
        back["spec"],
        json!({"streamClass": "arcane-stream-sqlserver", "streamId": "orders", "completed": false})
    );
    assert!(back.get("status").is_none());
}

#[test]
fn a_required_field_is_still_required() {
    let mut input = backfill_request();
    input["spec"].as_object_mut().unwrap().remove("streamId");
    assert!(serde_json::from_value::<BackfillRequest>(input).is_err());
    let mut input = stream_class();
    input["spec"].as_object_mut().unwrap().remove("kindRef");
    assert!(serde_json::from_value::<StreamClass>(input).is_err());
}

#[test]
fn an_unknown_or_empty_phase_reads_as_unset() {
    let cases = [
        (json!("Ready"), Some(StreamClassPhase::Ready)),
        (json!("Stopped"), Some(StreamClassPhase::Stopped)),
        (json!(""), None),
        (json!("RUNNING"), None),
        (json!(null), None),
        (json!(7), None),
    ];
    for (phase, expected) in cases {
        let mut sc = stream_class();
        sc["status"]["phase"] = phase.clone();
        let read: StreamClass = serde_json::from_value(sc).unwrap();
        assert_eq!(
            read.status.and_then(|s| s.phase),
            expected,
            "StreamClass phase {phase}"
        );

        let mut bfr = backfill_request();
        bfr["status"]["phase"] = phase.clone();
        let read: BackfillRequest = serde_json::from_value(bfr).unwrap();
        assert_eq!(
            read.status.and_then(|s| s.phase),
            expected,
            "BackfillRequest phase {phase}"
        );
    }
}
