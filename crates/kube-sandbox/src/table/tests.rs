use serde_json::{Value, json};

use super::*;

fn now() -> jiff::Timestamp {
    "2026-01-01T00:10:00Z".parse().unwrap()
}

#[test]
fn human_durations() {
    let cases = [
        (-5, "<invalid>"),
        (-1, "0s"),
        (5, "5s"),
        (119, "119s"),
        (120, "2m"),
        (200, "3m20s"),
        (900, "15m"),
        (3 * 3600, "3h"),
        (5 * 3600 + 600, "5h10m"),
        (30 * 3600, "30h"),
        (2 * 86400, "2d"),
        (2 * 86400 + 3 * 3600, "2d3h"),
        (400 * 86400, "400d"),
        (3 * 365 * 86400 + 20 * 86400, "3y20d"),
        (10 * 365 * 86400, "10y"),
    ];
    for (secs, want) in cases {
        assert_eq!(human_duration(secs), want, "{secs}");
    }
}

#[test]
fn jsonpath_subset() {
    let obj = json!({"metadata": {"annotations": {"a.b/c": "dotted"}},
                     "spec": {"list": [{"n": 1}, {"n": 2}]},
                     "status": {"conditions": [{"type": "Ready", "status": "True"}, {"type": "Other", "status": "False"}]}});
    let cases: Vec<(&str, Vec<Value>)> = vec![
        (".spec.list[0].n", vec![json!(1)]),
        (".spec.list[-1].n", vec![json!(2)]),
        (".spec.list[*].n", vec![json!(1), json!(2)]),
        ("{.spec.list[1].n}", vec![json!(2)]),
        (".metadata.annotations['a.b/c']", vec![json!("dotted")]),
        (".metadata.annotations[\"a.b/c\"]", vec![json!("dotted")]),
        (
            ".status.conditions[?(@.type==\"Ready\")].status",
            vec![json!("True")],
        ),
        (
            ".status.conditions[?(@.type!='Ready')].type",
            vec![json!("Other")],
        ),
        (".spec.missing", vec![]),
        (".spec.list[5]", vec![]),
        (".spec.list[bad", vec![]),
    ];
    for (path, want) in cases {
        let got: Vec<Value> = jsonpath::find(&obj, path).into_iter().cloned().collect();
        assert_eq!(got, want, "{path}");
    }
}

fn widget(size: Value, ready: Option<&str>) -> Value {
    let mut w = json!({"apiVersion": "example.com/v1", "kind": "Widget",
                       "metadata": {"name": "w", "namespace": "default", "creationTimestamp": "2026-01-01T00:05:00Z"},
                       "spec": {"size": size}});
    if let Some(r) = ready {
        w["status"] =
            json!({"conditions": [{"type": "Ready", "status": r}], "since": "2026-01-01T00:09:30Z"});
    }
    w
}

#[test]
fn crd_printer_columns() {
    let apc = vec![
        json!({"name": "Size", "type": "integer", "jsonPath": ".spec.size"}),
        json!({"name": "Ready", "type": "string", "jsonPath": ".status.conditions[?(@.type==\"Ready\")].status"}),
        json!({"name": "Since", "type": "date", "jsonPath": ".status.since", "priority": 1, "description": "d"}),
        json!({"name": "Age", "type": "date", "jsonPath": ".metadata.creationTimestamp"}),
    ];
    let cols = columns_for_crd(&apc);
    let names: Vec<&str> = cols.iter().map(|c| c.name.as_str()).collect();
    assert_eq!(names, ["Name", "Size", "Ready", "Since", "Age"]);
    let objs = vec![widget(json!(3), Some("True")), widget(json!("oops"), None)];
    let t = render(&cols, &objs, "Metadata", &json!({"resourceVersion": "42"}), now());
    assert_eq!(t["kind"], "Table");
    assert_eq!(t["apiVersion"], "meta.k8s.io/v1");
    assert_eq!(t["metadata"], json!({"resourceVersion": "42"}));
    assert_eq!(
        t["columnDefinitions"][0],
        json!({"name": "Name", "type": "string", "format": "name",
        "description": t["columnDefinitions"][0]["description"], "priority": 0})
    );
    assert_eq!(t["columnDefinitions"][3]["priority"], 1);
    assert_eq!(t["rows"][0]["cells"], json!(["w", 3, "True", "30s", "5m"]));
    // A value of the wrong type and missing values are null cells (kubectl prints <none>).
    assert_eq!(t["rows"][1]["cells"], json!(["w", null, null, null, "5m"]));
    assert_eq!(t["rows"][0]["object"]["kind"], "PartialObjectMetadata");
    assert_eq!(t["rows"][0]["object"]["metadata"]["name"], "w");
    assert!(t["rows"][0]["object"].get("spec").is_none());

    let full = render(&cols, &objs[..1], "Object", &Value::Null, now());
    assert_eq!(full["rows"][0]["object"], objs[0]);
    assert_eq!(full["metadata"], json!({}));
    let none = render(&cols, &objs[..1], "None", &Value::Null, now());
    assert!(none["rows"][0].get("object").is_none());
}

#[test]
fn crd_without_printer_columns_gets_age() {
    let cols = columns_for_crd(&[]);
    assert_eq!(
        cols.iter().map(|c| c.name.as_str()).collect::<Vec<_>>(),
        ["Name", "Age"]
    );
    assert_eq!(cols[1].type_, "date");
    let t = render(&cols, &[widget(json!(1), None)], "Metadata", &json!({}), now());
    assert_eq!(t["rows"][0]["cells"], json!(["w", "5m"]));
}

#[test]
fn builtin_rows() {
    let created = "2026-01-01T00:00:00Z";
    let cases: Vec<(&str, &str, Value, Value)> = vec![
        (
            "batch",
            "Job",
            json!({"apiVersion": "batch/v1", "kind": "Job", "metadata": {"name": "j", "creationTimestamp": created},
                   "spec": {"completions": 1, "selector": {"matchLabels": {"batch.kubernetes.io/controller-uid": "u"}},
                            "template": {"spec": {"containers": [{"name": "c", "image": "busybox"}]}}},
                   "status": {"succeeded": 1, "startTime": "2026-01-01T00:00:05Z", "completionTime": "2026-01-01T00:00:35Z",
                              "conditions": [{"type": "SuccessCriteriaMet", "status": "True"}, {"type": "Complete", "status": "True"}]}}),
            json!([
                "j",
                "Complete",
                "1/1",
                "30s",
                "10m",
                "c",
                "busybox",
                "batch.kubernetes.io/controller-uid=u"
            ]),
        ),
        (
            "batch",
            "Job",
            json!({"apiVersion": "batch/v1", "kind": "Job", "metadata": {"name": "r", "creationTimestamp": created},
                   "spec": {"parallelism": 2}, "status": {"startTime": "2026-01-01T00:08:00Z"}}),
            json!(["r", "Running", "0/1 of 2", "2m", "10m", "", "", "<none>"]),
        ),
        (
            "batch",
            "CronJob",
            json!({"apiVersion": "batch/v1", "kind": "CronJob", "metadata": {"name": "cj", "creationTimestamp": created},
                   "spec": {"schedule": "*/5 * * * *", "suspend": false,
                            "jobTemplate": {"spec": {"template": {"spec": {"containers": [{"name": "c", "image": "i"}]}}}}},
                   "status": {"active": [{"name": "x"}], "lastScheduleTime": "2026-01-01T00:05:00Z"}}),
            json!([
                "cj",
                "*/5 * * * *",
                "<none>",
                "False",
                1,
                "5m",
                "10m",
                "c",
                "i",
                "<none>"
            ]),
        ),
        (
            "",
            "Secret",
            json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "s", "creationTimestamp": created},
                   "type": "Opaque", "data": {"password": "c2VjcmV0", "user": "dXNlcg=="}}),
            json!(["s", "Opaque", 2, "10m"]),
        ),
        (
            "",
            "ConfigMap",
            json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c", "creationTimestamp": created},
                   "data": {"a": "1"}, "binaryData": {"b": "AA=="}}),
            json!(["c", 2, "10m"]),
        ),
        (
            "",
            "Namespace",
            json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "ns", "creationTimestamp": created},
                   "status": {"phase": "Active"}}),
            json!(["ns", "Active", "10m"]),
        ),
        (
            "coordination.k8s.io",
            "Lease",
            json!({"apiVersion": "coordination.k8s.io/v1", "kind": "Lease", "metadata": {"name": "l", "creationTimestamp": created},
                   "spec": {"holderIdentity": "pod-a"}}),
            json!(["l", "pod-a", "10m"]),
        ),
        (
            "",
            "Event",
            json!({"apiVersion": "v1", "kind": "Event", "metadata": {"name": "e1", "creationTimestamp": created},
                   "involvedObject": {"kind": "Widget", "name": "w"}, "reason": "Created", "type": "Normal",
                   "message": " made it ", "source": {"component": "arcane"},
                   "firstTimestamp": "2026-01-01T00:01:00Z", "lastTimestamp": "2026-01-01T00:09:00Z", "count": 3}),
            json!([
                "60s", "Normal", "Created", "widget/w", "", "arcane", "made it", "9m", 3, "e1"
            ]),
        ),
        (
            "",
            "Pod",
            json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p", "creationTimestamp": created},
                   "spec": {"containers": [{"name": "c"}], "nodeName": "n1"},
                   "status": {"phase": "Running", "podIP": "10.0.0.1",
                              "containerStatuses": [{"name": "c", "ready": true, "restartCount": 2, "state": {"running": {}}}]}}),
            json!([
                "p", "1/1", "Running", "2", "10m", "10.0.0.1", "n1", "<none>", "<none>"
            ]),
        ),
        (
            "apiextensions.k8s.io",
            "CustomResourceDefinition",
            json!({"apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
                   "metadata": {"name": "widgets.example.com", "creationTimestamp": created}}),
            json!(["widgets.example.com", created]),
        ),
    ];
    for (group, kind, obj, want) in cases {
        let cols = columns_for_builtin(group, kind);
        let t = render(&cols, std::slice::from_ref(&obj), "Metadata", &json!({}), now());
        assert_eq!(t["rows"][0]["cells"], want, "{kind}");
        assert_eq!(
            cols.len(),
            want.as_array().map_or(0, Vec::len),
            "{kind}: one cell per column"
        );
    }
    let secret_table = render(
        &columns_for_builtin("", "Secret"),
        &[
            json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "s"}, "data": {"k": "c2VjcmV0"}}),
        ],
        "Metadata",
        &json!({}),
        now(),
    );
    assert!(
        !secret_table.to_string().contains("c2VjcmV0"),
        "secret values never reach a table"
    );
}
