use serde_json::{Value, json};

use super::*;

#[test]
fn merge_patch_cases() {
    let cases: Vec<(&str, Value, Value, Value)> = vec![
        (
            "null deletes a key",
            json!({"a": 1, "b": 2}),
            json!({"a": null}),
            json!({"b": 2}),
        ),
        (
            "nested merge",
            json!({"metadata": {"labels": {"x": "1"}}}),
            json!({"metadata": {"labels": {"y": "2"}}}),
            json!({"metadata": {"labels": {"x": "1", "y": "2"}}}),
        ),
        (
            "arrays replaced",
            json!({"l": [1, 2]}),
            json!({"l": [3]}),
            json!({"l": [3]}),
        ),
        (
            "null on missing key is a no-op",
            json!({"a": 1}),
            json!({"z": null}),
            json!({"a": 1}),
        ),
        ("non-object patch replaces", json!({"a": 1}), json!(5), json!(5)),
        (
            "nested null deletes nested key",
            json!({"spec": {"a": 1, "b": {"c": 2}}}),
            json!({"spec": {"b": {"c": null}}}),
            json!({"spec": {"a": 1, "b": {}}}),
        ),
    ];
    for (name, mut target, patch, want) in cases {
        merge_patch(&mut target, &patch);
        assert_eq!(target, want, "{name}");
    }
}

#[test]
fn json_patch_test_null_on_missing_path_succeeds() {
    let mut obj = json!({"metadata": {"name": "w"}});
    let patch = json!([
        {"op": "test", "path": "/metadata/finalizers", "value": null},
        {"op": "add", "path": "/metadata/finalizers", "value": ["a/b"]}
    ]);
    json_patch(&mut obj, &patch).unwrap();
    assert_eq!(obj["metadata"]["finalizers"], json!(["a/b"]));
    // Re-running: the path now exists and is not null, so the test fails and nothing changes.
    let before = obj.clone();
    let err = json_patch(&mut obj, &patch).unwrap_err();
    assert!(matches!(err, PatchError::TestFailed(_)), "{err:?}");
    assert_eq!(obj, before);
}

#[test]
fn json_patch_cases() {
    let cases: Vec<(&str, Value, Value, Result<Value, &str>)> = vec![
        (
            "remove finalizer after test",
            json!({"metadata": {"finalizers": ["x", "y"]}}),
            json!([{"op": "test", "path": "/metadata/finalizers/0", "value": "x"},
                   {"op": "remove", "path": "/metadata/finalizers/0"}]),
            Ok(json!({"metadata": {"finalizers": ["y"]}})),
        ),
        (
            "test mismatch fails",
            json!({"a": "1"}),
            json!([{"op": "test", "path": "/a", "value": "2"}]),
            Err("test"),
        ),
        (
            "test null against existing null succeeds",
            json!({"a": null}),
            json!([{"op": "test", "path": "/a", "value": null}, {"op": "add", "path": "/b", "value": 1}]),
            Ok(json!({"a": null, "b": 1})),
        ),
        (
            "remove missing path is invalid",
            json!({"a": 1}),
            json!([{"op": "remove", "path": "/nope"}]),
            Err("invalid"),
        ),
        (
            "failure is all-or-nothing",
            json!({"a": 1}),
            json!([{"op": "add", "path": "/b", "value": 2}, {"op": "remove", "path": "/nope"}]),
            Err("invalid"),
        ),
        ("not a list", json!({}), json!({"op": "add"}), Err("invalid")),
        (
            "kube-runtime appends a finalizer after testing the whole list",
            json!({"metadata": {"finalizers": ["a"]}}),
            json!([{"op": "test", "path": "/metadata/finalizers", "value": ["a"]},
                   {"op": "add", "path": "/metadata/finalizers/-", "value": "b"}]),
            Ok(json!({"metadata": {"finalizers": ["a", "b"]}})),
        ),
        (
            "a stale list test fails",
            json!({"metadata": {"finalizers": ["a", "c"]}}),
            json!([{"op": "test", "path": "/metadata/finalizers", "value": ["a"]},
                   {"op": "add", "path": "/metadata/finalizers/-", "value": "b"}]),
            Err("test"),
        ),
        (
            "replace, move, copy",
            json!({"a": 1, "b": {"c": 2}}),
            json!([{"op": "replace", "path": "/a", "value": 3},
                   {"op": "move", "from": "/b/c", "path": "/d"},
                   {"op": "copy", "from": "/d", "path": "/e"}]),
            Ok(json!({"a": 3, "b": {}, "d": 2, "e": 2})),
        ),
    ];
    for (name, mut target, patch, want) in cases {
        let before = target.clone();
        let got = json_patch(&mut target, &patch);
        match want {
            Ok(w) => {
                assert!(got.is_ok(), "{name}: {got:?}");
                assert_eq!(target, w, "{name}");
            }
            Err("test") => {
                assert!(matches!(got, Err(PatchError::TestFailed(_))), "{name}: {got:?}");
                assert_eq!(target, before, "{name}");
            }
            Err(_) => {
                assert!(matches!(got, Err(PatchError::Invalid(_))), "{name}: {got:?}");
                assert_eq!(target, before, "{name}");
            }
        }
    }
}

fn pod(containers: Value) -> Value {
    json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p"}, "spec": {"containers": containers}})
}

#[test]
fn strategic_merge_patch_cases() {
    let cases: Vec<(&str, &str, Value, Value, Value)> = vec![
        (
            "env merges by name",
            "Pod",
            pod(
                json!([{"name": "c", "image": "i", "env": [{"name": "A", "value": "1"}, {"name": "B", "value": "2"}]}]),
            ),
            json!({"spec": {"containers": [{"name": "c", "env": [{"name": "B", "value": "3"}, {"name": "C", "value": "4"}]}]}}),
            pod(
                json!([{"name": "c", "image": "i", "env": [{"name": "A", "value": "1"}, {"name": "B", "value": "3"}, {"name": "C", "value": "4"}]}]),
            ),
        ),
        (
            "containers merge by name, new ones appended",
            "Pod",
            pod(json!([{"name": "a", "image": "1"}])),
            json!({"spec": {"containers": [{"name": "b", "image": "2"}, {"name": "a", "image": "3"}]}}),
            pod(json!([{"name": "a", "image": "3"}, {"name": "b", "image": "2"}])),
        ),
        (
            "$patch delete removes a list item",
            "Pod",
            pod(json!([{"name": "a"}, {"name": "b"}])),
            json!({"spec": {"containers": [{"name": "a", "$patch": "delete"}]}}),
            pod(json!([{"name": "b"}])),
        ),
        (
            "$patch replace replaces a list",
            "Pod",
            pod(json!([{"name": "a"}, {"name": "b"}])),
            json!({"spec": {"containers": [{"$patch": "replace"}, {"name": "z"}]}}),
            pod(json!([{"name": "z"}])),
        ),
        (
            "ports by containerPort, volumeMounts by mountPath",
            "Pod",
            pod(
                json!([{"name": "a", "ports": [{"containerPort": 80, "name": "http"}], "volumeMounts": [{"mountPath": "/x", "name": "v"}]}]),
            ),
            json!({"spec": {"containers": [{"name": "a", "ports": [{"containerPort": 80, "name": "web"}, {"containerPort": 81}], "volumeMounts": [{"mountPath": "/y", "name": "w"}]}]}}),
            pod(
                json!([{"name": "a", "ports": [{"containerPort": 80, "name": "web"}, {"containerPort": 81}], "volumeMounts": [{"mountPath": "/x", "name": "v"}, {"mountPath": "/y", "name": "w"}]}]),
            ),
        ),
        (
            "tolerations and args are replaced",
            "Pod",
            json!({"spec": {"tolerations": [{"key": "a"}], "containers": [{"name": "c", "args": ["1", "2"]}]}}),
            json!({"spec": {"tolerations": [{"key": "b"}], "containers": [{"name": "c", "args": ["3"]}]}}),
            json!({"spec": {"tolerations": [{"key": "b"}], "containers": [{"name": "c", "args": ["3"]}]}}),
        ),
        (
            "job template nesting",
            "Job",
            json!({"spec": {"template": {"spec": {"containers": [{"name": "c", "image": "1", "env": [{"name": "A", "value": "x"}]}]}}}}),
            json!({"spec": {"template": {"spec": {"containers": [{"name": "c", "env": [{"name": "B", "value": "y"}]}]}}}}),
            json!({"spec": {"template": {"spec": {"containers": [{"name": "c", "image": "1", "env": [{"name": "A", "value": "x"}, {"name": "B", "value": "y"}]}]}}}}),
        ),
        (
            "cronjob jobTemplate nesting",
            "CronJob",
            json!({"spec": {"jobTemplate": {"spec": {"template": {"spec": {"volumes": [{"name": "a", "emptyDir": {}}]}}}}}}),
            json!({"spec": {"jobTemplate": {"spec": {"template": {"spec": {"volumes": [{"name": "b", "emptyDir": {}}]}}}}}}),
            json!({"spec": {"jobTemplate": {"spec": {"template": {"spec": {"volumes": [{"name": "a", "emptyDir": {}}, {"name": "b", "emptyDir": {}}]}}}}}}),
        ),
        (
            "finalizers merge as a set, deleteFromPrimitiveList removes",
            "ConfigMap",
            json!({"metadata": {"finalizers": ["a", "b"]}}),
            json!({"metadata": {"finalizers": ["b", "c"], "$deleteFromPrimitiveList/finalizers": ["a"]}}),
            json!({"metadata": {"finalizers": ["b", "c"]}}),
        ),
        (
            "ownerReferences by uid",
            "ConfigMap",
            json!({"metadata": {"ownerReferences": [{"uid": "1", "name": "a"}]}}),
            json!({"metadata": {"ownerReferences": [{"uid": "2", "name": "b"}, {"uid": "1", "controller": true}]}}),
            json!({"metadata": {"ownerReferences": [{"uid": "1", "name": "a", "controller": true}, {"uid": "2", "name": "b"}]}}),
        ),
        (
            "status conditions by type",
            "Job",
            json!({"status": {"conditions": [{"type": "A", "status": "False"}, {"type": "B", "status": "True"}]}}),
            json!({"status": {"conditions": [{"type": "A", "status": "True"}]}}),
            json!({"status": {"conditions": [{"type": "A", "status": "True"}, {"type": "B", "status": "True"}]}}),
        ),
        (
            "null deletes, labels merge",
            "ConfigMap",
            json!({"metadata": {"labels": {"a": "1", "b": "2"}}, "data": {"k": "v"}}),
            json!({"metadata": {"labels": {"a": null, "c": "3"}}, "data": null}),
            json!({"metadata": {"labels": {"b": "2", "c": "3"}}}),
        ),
        (
            "$patch replace on a map",
            "ConfigMap",
            json!({"data": {"a": "1", "b": "2"}}),
            json!({"data": {"$patch": "replace", "c": "3"}}),
            json!({"data": {"c": "3"}}),
        ),
        (
            "$patch delete on a map empties it",
            "ConfigMap",
            json!({"data": {"a": "1"}}),
            json!({"data": {"$patch": "delete"}}),
            json!({"data": {}}),
        ),
        (
            "$retainKeys clears unlisted keys",
            "Deployment",
            json!({"spec": {"strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": 1}}}}),
            json!({"spec": {"strategy": {"$retainKeys": ["type"], "type": "Recreate"}}}),
            json!({"spec": {"strategy": {"type": "Recreate"}}}),
        ),
        (
            "$setElementOrder reorders",
            "Pod",
            pod(json!([{"name": "a"}, {"name": "b"}])),
            json!({"spec": {"$setElementOrder/containers": [{"name": "b"}, {"name": "a"}], "containers": [{"name": "a", "image": "x"}]}}),
            pod(json!([{"name": "b"}, {"name": "a", "image": "x"}])),
        ),
        (
            "directives stripped from new items",
            "Pod",
            pod(json!([])),
            json!({"spec": {"containers": [{"name": "a", "env": [{"name": "X", "value": null, "valueFrom": {"fieldRef": {"fieldPath": "x"}}}]}]}}),
            pod(
                json!([{"name": "a", "env": [{"name": "X", "valueFrom": {"fieldRef": {"fieldPath": "x"}}}]}]),
            ),
        ),
    ];
    for (name, kind, mut target, patch, want) in cases {
        let group = if kind == "Job" || kind == "CronJob" {
            "batch"
        } else if kind == "Deployment" {
            "apps"
        } else {
            ""
        };
        strategic_merge_patch(&mut target, &patch, group, kind).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(target, want, "{name}");
    }
}

#[test]
fn strategic_merge_patch_errors() {
    let mut cr = json!({"spec": {}});
    let err =
        strategic_merge_patch(&mut cr, &json!({"spec": {"a": 1}}), "example.com", "Widget").unwrap_err();
    assert!(matches!(err, PatchError::Unsupported(_)), "{err:?}");
    assert_eq!(cr, json!({"spec": {}}));

    let mut p = pod(json!([{"name": "a"}]));
    let before = p.clone();
    let err = strategic_merge_patch(
        &mut p,
        &json!({"spec": {"containers": [{"image": "x"}]}}),
        "",
        "Pod",
    )
    .unwrap_err();
    assert!(
        err.to_string()
            .contains("does not contain declared merge key: name"),
        "{err}"
    );
    assert_eq!(p, before, "a failed patch leaves the target untouched");

    let err = strategic_merge_patch(&mut p, &json!([1]), "", "Pod").unwrap_err();
    assert!(matches!(err, PatchError::Invalid(_)));
    let err = strategic_merge_patch(&mut p, &json!({"spec": {"$patch": "bogus"}}), "", "Pod").unwrap_err();
    assert!(err.to_string().contains("Unknown patch type: bogus"), "{err}");
}

#[test]
fn schema_list_kinds() {
    let schema = json!({"type": "object", "properties": {"spec": {"type": "object", "properties": {
        "items": {"type": "array", "x-kubernetes-list-type": "map", "x-kubernetes-list-map-keys": ["id"],
                  "items": {"type": "object", "properties": {"tags": {"type": "array", "x-kubernetes-list-type": "set", "items": {"type": "string"}}}}},
        "plain": {"type": "array", "items": {"type": "string"}}}}}});
    assert_eq!(
        schema_list_kind(&schema, &["spec", "items"]),
        ListKind::Map(vec!["id".into()])
    );
    assert_eq!(
        schema_list_kind(&schema, &["spec", "items", "tags"]),
        ListKind::Set
    );
    assert_eq!(schema_list_kind(&schema, &["spec", "plain"]), ListKind::Atomic);
    assert_eq!(schema_list_kind(&schema, &["spec", "missing"]), ListKind::Atomic);
    assert_eq!(
        schema_list_kind(&schema, &["metadata", "finalizers"]),
        ListKind::Set
    );
}
