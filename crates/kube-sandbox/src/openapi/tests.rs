use serde_json::{Value, json};

use super::*;

fn gv(group: &str, version: &str) -> GroupVersionDoc {
    GroupVersionDoc {
        group: group.to_string(),
        version: version.to_string(),
    }
}

/// kubectl's `supportsQueryParamV3`: the first PATCH operation whose GVK matches decides.
fn kubectl_supports_field_validation(doc: &Value, group: &str, version: &str, kind: &str) -> bool {
    let want = json!({"group": group, "version": version, "kind": kind});
    let Some(paths) = doc["paths"].as_object() else {
        return false;
    };
    let mut seen = false;
    for item in paths.values() {
        let Some(op) = item.get("patch") else { continue };
        if op["x-kubernetes-group-version-kind"] != want {
            continue;
        }
        seen = true;
        let has = op["parameters"]
            .as_array()
            .is_some_and(|ps| ps.iter().any(|p| p["name"] == "fieldValidation"));
        if !has {
            return false;
        }
    }
    seen
}

fn collect_refs(v: &Value, out: &mut Vec<String>) {
    match v {
        Value::Object(m) => {
            if let Some(Value::String(r)) = m.get("$ref") {
                out.push(r.clone());
            }
            m.values().for_each(|c| collect_refs(c, out));
        }
        Value::Array(a) => a.iter().for_each(|c| collect_refs(c, out)),
        _ => {}
    }
}

fn assert_well_formed(doc: &Value) {
    assert_eq!(doc["openapi"], "3.0.0");
    let mut refs = Vec::new();
    collect_refs(doc, &mut refs);
    for r in refs {
        let name = r
            .strip_prefix("#/components/schemas/")
            .unwrap_or_else(|| panic!("bad ref {r}"));
        assert!(
            doc["components"]["schemas"].get(name).is_some(),
            "dangling ref {r}"
        );
    }
    for (path, item) in doc["paths"].as_object().unwrap() {
        for (method, op) in item.as_object().unwrap() {
            if method == "parameters" {
                continue;
            }
            assert!(op["responses"].is_object(), "{path} {method}: responses");
            assert!(
                op["x-kubernetes-group-version-kind"].is_object(),
                "{path} {method}: gvk"
            );
            for p in op["parameters"].as_array().unwrap() {
                assert!(
                    p["name"].is_string() && p["in"].is_string() && p["schema"].is_object(),
                    "{path} {method}: {p}"
                );
            }
        }
    }
}

#[test]
fn index_lists_every_group_version() {
    let idx = v3_index(&[gv("", "v1"), gv("batch", "v1")], &|g| {
        format!("H{}", g.group.len())
    });
    assert_eq!(
        idx,
        json!({"paths": {"api/v1": {"serverRelativeURL": "/openapi/v3/api/v1?hash=H0"},
                         "apis/batch/v1": {"serverRelativeURL": "/openapi/v3/apis/batch/v1?hash=H5"}}})
    );
}

#[test]
fn builtin_documents_satisfy_kubectl() {
    let cases: Vec<(&str, Vec<&str>)> = vec![
        (
            "",
            vec![
                "Namespace",
                "Pod",
                "ConfigMap",
                "Secret",
                "ServiceAccount",
                "Event",
            ],
        ),
        ("batch", vec!["Job", "CronJob"]),
        ("coordination.k8s.io", vec!["Lease"]),
        ("events.k8s.io", vec!["Event"]),
        ("apiextensions.k8s.io", vec!["CustomResourceDefinition"]),
    ];
    for (group, kinds) in cases {
        let doc = v3_document(&gv(group, "v1"), &[]);
        assert_well_formed(&doc);
        for kind in kinds {
            assert!(
                kubectl_supports_field_validation(&doc, group, "v1", kind),
                "{group}/{kind}"
            );
            let schemas = doc["components"]["schemas"].as_object().unwrap();
            let found = schemas.values().any(|s| {
                s["x-kubernetes-group-version-kind"]
                    .as_array()
                    .is_some_and(|a| a.contains(&json!({"group": group, "version": "v1", "kind": kind})))
            });
            assert!(found, "explain needs a schema for {group}/{kind}");
        }
    }
    let core = v3_document(&gv("", "v1"), &[]);
    let cm_item = &core["paths"]["/api/v1/namespaces/{namespace}/configmaps/{name}"];
    assert_eq!(cm_item["patch"]["x-kubernetes-action"], "patch");
    assert!(
        cm_item["patch"]["requestBody"]["content"]
            .get("application/strategic-merge-patch+json")
            .is_some()
    );
    assert!(
        core["paths"].get("/api/v1/configmaps").is_some(),
        "all-namespaces list"
    );
    assert!(
        core["paths"].get("/api/v1/namespaces/{name}/status").is_some(),
        "cluster-scoped status"
    );
    let containers = &core["components"]["schemas"]["io.k8s.api.core.v1.PodSpec"]["properties"]["containers"];
    assert_eq!(containers["x-kubernetes-patch-merge-key"], "name");
    assert_eq!(containers["x-kubernetes-patch-strategy"], "merge");
}

#[test]
fn crd_document() {
    let schema = json!({"type": "object", "properties": {
        "metadata": {"type": "object"},
        "spec": {"type": "object", "properties": {"size": {"type": "integer", "description": "How big."}}},
        "status": {"type": "object", "x-kubernetes-preserve-unknown-fields": true}}});
    let doc = v3_document(&gv("example.com", "v1"), &[("Widget".to_string(), schema, true)]);
    assert_well_formed(&doc);
    assert!(kubectl_supports_field_validation(
        &doc,
        "example.com",
        "v1",
        "Widget"
    ));
    let w = &doc["components"]["schemas"]["com.example.v1.Widget"];
    assert_eq!(
        w["x-kubernetes-group-version-kind"],
        json!([{"group": "example.com", "version": "v1", "kind": "Widget"}])
    );
    assert_eq!(w["properties"]["spec"]["properties"]["size"]["type"], "integer");
    assert_eq!(
        w["properties"]["metadata"]["allOf"][0]["$ref"],
        "#/components/schemas/io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta"
    );
    assert_eq!(w["properties"]["apiVersion"]["type"], "string");
    let item = &doc["paths"]["/apis/example.com/v1/namespaces/{namespace}/widgets/{name}"];
    assert!(
        item["patch"]["requestBody"]["content"]
            .get("application/strategic-merge-patch+json")
            .is_none(),
        "no SMP for CRs"
    );
    assert!(
        doc["paths"]
            .get("/apis/example.com/v1/namespaces/{namespace}/widgets/{name}/status")
            .is_some()
    );

    let cluster = v3_document_for(
        &gv("example.com", "v1"),
        &[ResourceDoc {
            kind: "Gadget".into(),
            plural: "gadgetry".into(),
            namespaced: false,
            status: false,
            schema: Some(json!({"type": "object"})),
        }],
    );
    assert_well_formed(&cluster);
    assert!(
        cluster["paths"]
            .get("/apis/example.com/v1/gadgetry/{name}")
            .is_some()
    );
    assert!(
        cluster["paths"]
            .get("/apis/example.com/v1/gadgetry/{name}/status")
            .is_none()
    );
    assert!(
        cluster["paths"]
            .get("/apis/example.com/v1/namespaces/{namespace}/gadgetry")
            .is_none()
    );
}

#[test]
fn plurals() {
    for (kind, want) in [
        ("Widget", "widgets"),
        ("Policy", "policies"),
        ("Gateway", "gateways"),
        ("Class", "classes"),
        ("Box", "boxes"),
        ("Batch", "batches"),
    ] {
        assert_eq!(guess_plural(kind), want);
    }
}
