use serde_json::{Value, json};

use super::*;

fn opts<'a>(manager: &'a str, force: bool, now: &'a str) -> ApplyOptions<'a> {
    ApplyOptions {
        manager,
        force,
        now,
        subresource: None,
    }
}

fn cm(data: Value) -> Value {
    json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c", "namespace": "default"}, "data": data})
}

fn entries(obj: &Value) -> Vec<Value> {
    obj["metadata"]["managedFields"]
        .as_array()
        .cloned()
        .unwrap_or_default()
}

fn entry<'a>(obj: &'a Value, manager: &str) -> Option<&'a Value> {
    obj["metadata"]["managedFields"]
        .as_array()?
        .iter()
        .find(|e| e["manager"] == manager)
}

#[test]
fn apply_creates_with_managed_fields_in_fields_v1_encoding() {
    let mut applied = cm(json!({"a": "1"}));
    applied["metadata"]["labels"] = json!({"x": "y"});
    let out = apply(None, &applied, &opts("kubectl", false, "2026-01-01T00:00:00Z")).unwrap();
    assert_eq!(out["data"], json!({"a": "1"}));
    assert_eq!(out["metadata"]["name"], "c");
    let mf = entries(&out);
    assert_eq!(mf.len(), 1);
    assert_eq!(
        mf[0],
        json!({"manager": "kubectl", "operation": "Apply", "apiVersion": "v1", "time": "2026-01-01T00:00:00Z",
               "fieldsType": "FieldsV1",
               "fieldsV1": {"f:data": {"f:a": {}}, "f:metadata": {"f:labels": {"f:x": {}}}}})
    );
}

#[test]
fn reapply_removes_dropped_fields_unless_owned_by_others() {
    let t = "2026-01-01T00:00:00Z";
    let live = apply(None, &cm(json!({"a": "1", "b": "2"})), &opts("m1", false, t)).unwrap();
    // m2 applies b with the same value: shared ownership, no conflict.
    let live = apply(Some(&live), &cm(json!({"b": "2"})), &opts("m2", false, t)).unwrap();
    // m1 drops both a and b: a goes, b stays because m2 owns it too.
    let mut bare = cm(json!({}));
    bare.as_object_mut().unwrap().remove("data");
    let live = apply(Some(&live), &bare, &opts("m1", false, t)).unwrap();
    assert_eq!(live["data"], json!({"b": "2"}));
    assert!(
        entry(&live, "m1").is_none(),
        "an entry owning nothing is dropped: {live}"
    );
    assert_eq!(
        entry(&live, "m2").unwrap()["fieldsV1"],
        json!({"f:data": {"f:b": {}}})
    );
}

#[test]
fn conflict_then_force_transfers_ownership() {
    let t = "2026-01-01T00:00:00Z";
    let w = |size: i64| json!({"apiVersion": "example.com/v1", "kind": "Widget", "metadata": {"name": "w"}, "spec": {"size": size}});
    let live = apply(None, &w(1), &opts("kubectl", false, t)).unwrap();
    let err = apply(Some(&live), &w(2), &opts("other", false, t)).unwrap_err();
    assert_eq!(
        err.conflicts,
        vec![("kubectl".to_string(), ".spec.size".to_string())]
    );
    assert_eq!(
        err.message(Some(&live)),
        r#"Apply failed with 1 conflict: conflict with "kubectl": .spec.size"#
    );
    assert_eq!(
        err.causes(Some(&live)),
        vec![(r#"conflict with "kubectl""#.to_string(), ".spec.size".to_string())]
    );

    let forced = apply(Some(&live), &w(2), &opts("other", true, t)).unwrap();
    assert_eq!(forced["spec"]["size"], 2);
    assert!(
        entry(&forced, "kubectl").is_none(),
        "kubectl lost its only field: {forced}"
    );
    assert_eq!(
        entry(&forced, "other").unwrap()["fieldsV1"],
        json!({"f:spec": {"f:size": {}}})
    );
    // kubectl no longer owns the field, so re-applying its old value conflicts the other way round.
    let err = apply(Some(&forced), &w(1), &opts("kubectl", false, t)).unwrap_err();
    assert_eq!(
        err.conflicts,
        vec![("other".to_string(), ".spec.size".to_string())]
    );
}

#[test]
fn update_ownership_conflicts_with_apply_like_leader_election() {
    let t = "2026-01-01T00:00:00Z";
    let lease = |holder: &str| {
        json!({"apiVersion": "coordination.k8s.io/v1", "kind": "Lease", "metadata": {"name": "l", "namespace": "ns"},
               "spec": {"holderIdentity": holder, "leaseDurationSeconds": 15}})
    };
    // Plain create + updates by two holders: each update takes ownership of what it changed.
    let mut live = lease("a");
    track_update(None, &mut live, "holder-a", "Update", t, None);
    let mut next = lease("b");
    next["metadata"]["managedFields"] = live["metadata"]["managedFields"].clone();
    track_update(Some(&live), &mut next, "holder-b", "Update", t, None);
    assert_eq!(
        entry(&next, "holder-b").unwrap()["fieldsV1"],
        json!({"f:spec": {"f:holderIdentity": {}}}),
        "{next}"
    );
    assert_eq!(
        entry(&next, "holder-a").unwrap()["fieldsV1"],
        json!({"f:spec": {"f:leaseDurationSeconds": {}}})
    );

    let err = apply(Some(&next), &lease("c"), &opts("holder-c", false, t)).unwrap_err();
    assert_eq!(
        err.conflicts,
        vec![("holder-b".to_string(), ".spec.holderIdentity".to_string())]
    );
    assert_eq!(
        err.message(Some(&next)),
        r#"Apply failed with 1 conflict: conflict with "holder-b" using coordination.k8s.io/v1: .spec.holderIdentity"#
    );
    let taken = apply(Some(&next), &lease("c"), &opts("holder-c", true, t)).unwrap();
    assert_eq!(taken["spec"]["holderIdentity"], "c");
    assert!(entry(&taken, "holder-b").is_none());
}

#[test]
fn associative_lists_merge_by_key_and_encode_k_entries() {
    let t = "2026-01-01T00:00:00Z";
    let pod = |containers: Value| json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p"}, "spec": {"containers": containers}});
    let live = apply(
        None,
        &pod(json!([{"name": "a", "image": "1"}])),
        &opts("m1", false, t),
    )
    .unwrap();
    assert_eq!(
        entry(&live, "m1").unwrap()["fieldsV1"],
        json!({"f:spec": {"f:containers": {"k:{\"name\":\"a\"}": {".": {}, "f:image": {}, "f:name": {}}}}})
    );
    let live = apply(
        Some(&live),
        &pod(json!([{"name": "b", "image": "2"}])),
        &opts("m2", false, t),
    )
    .unwrap();
    assert_eq!(
        live["spec"]["containers"],
        json!([{"name": "a", "image": "1"}, {"name": "b", "image": "2"}])
    );
    // m1 stops applying container a: it goes; m2's container stays.
    let live = apply(Some(&live), &pod(json!([])), &opts("m1", false, t)).unwrap();
    assert_eq!(live["spec"]["containers"], json!([{"name": "b", "image": "2"}]));
    // A conflicting image in m2's container is reported with the key in the path.
    let err = apply(
        Some(&live),
        &pod(json!([{"name": "b", "image": "3"}])),
        &opts("m3", false, t),
    )
    .unwrap_err();
    assert_eq!(
        err.conflicts,
        vec![(
            "m2".to_string(),
            r#".spec.containers[name="b"].image"#.to_string()
        )]
    );
}

#[test]
fn finalizers_are_a_set_and_crd_schema_lists_follow_markers() {
    let t = "2026-01-01T00:00:00Z";
    let w = |fins: Value, items: Value| {
        json!({"apiVersion": "example.com/v1", "kind": "Widget", "metadata": {"name": "w", "finalizers": fins},
               "spec": {"items": items}})
    };
    let schema = json!({"type": "object", "properties": {"spec": {"type": "object", "properties": {
        "items": {"type": "array", "x-kubernetes-list-type": "map", "x-kubernetes-list-map-keys": ["id"],
                  "items": {"type": "object", "properties": {"id": {"type": "string"}, "v": {"type": "integer"}}}}}}}});
    let live = apply_with_schema(
        None,
        &w(json!(["a"]), json!([{"id": "x", "v": 1}])),
        &opts("m1", false, t),
        Some(&schema),
    )
    .unwrap();
    let live = apply_with_schema(
        Some(&live),
        &w(json!(["b"]), json!([{"id": "y", "v": 2}])),
        &opts("m2", false, t),
        Some(&schema),
    )
    .unwrap();
    assert_eq!(live["metadata"]["finalizers"], json!(["a", "b"]));
    assert_eq!(
        live["spec"]["items"],
        json!([{"id": "x", "v": 1}, {"id": "y", "v": 2}])
    );
    assert_eq!(
        entry(&live, "m2").unwrap()["fieldsV1"],
        json!({"f:metadata": {"f:finalizers": {"v:\"b\"": {}}},
               "f:spec": {"f:items": {"k:{\"id\":\"y\"}": {".": {}, "f:id": {}, "f:v": {}}}}})
    );
    // Without the schema a custom resource's list is atomic: m2's apply replaces it and conflicts with m1.
    let live2 = apply(None, &w(json!([]), json!([{"id": "x"}])), &opts("m1", false, t)).unwrap();
    let err = apply(
        Some(&live2),
        &w(json!([]), json!([{"id": "y"}])),
        &opts("m2", false, t),
    )
    .unwrap_err();
    assert_eq!(err.conflicts, vec![("m1".to_string(), ".spec.items".to_string())]);
}

#[test]
fn identical_reapply_and_noop_update_change_nothing() {
    let live = apply(
        None,
        &cm(json!({"a": "1"})),
        &opts("m", false, "2026-01-01T00:00:00Z"),
    )
    .unwrap();
    let again = apply(
        Some(&live),
        &cm(json!({"a": "1"})),
        &opts("m", false, "2026-02-02T00:00:00Z"),
    )
    .unwrap();
    assert_eq!(again, live, "the entry's time must not move on a no-op apply");

    let mut same = live.clone();
    track_update(
        Some(&live),
        &mut same,
        "other",
        "Update",
        "2026-03-03T00:00:00Z",
        None,
    );
    assert_eq!(same, live);

    let mut changed = live.clone();
    changed["data"]["b"] = json!("2");
    track_update(
        Some(&live),
        &mut changed,
        "other",
        "Update",
        "2026-03-03T00:00:00Z",
        None,
    );
    let e = entry(&changed, "other").unwrap();
    assert_eq!(e["operation"], "Update");
    assert_eq!(
        e["fieldsV1"],
        json!({"f:data": {"f:b": {}}}),
        "data existed: only the new key is owned"
    );
    assert_eq!(entries(&changed).len(), 2);
}

#[test]
fn track_update_status_subresource_and_removal() {
    let t = "2026-01-01T00:00:00Z";
    let mut obj = json!({"apiVersion": "batch/v1", "kind": "Job", "metadata": {"name": "j"}, "spec": {"parallelism": 1}});
    track_update(None, &mut obj, "kubectl-create", "Update", t, None);
    let mut with_status = obj.clone();
    with_status["status"] = json!({"active": 1});
    track_update(
        Some(&obj),
        &mut with_status,
        "job-controller",
        "Update",
        t,
        Some("status"),
    );
    let e = entry(&with_status, "job-controller").unwrap();
    assert_eq!(e["subresource"], "status");
    assert_eq!(e["fieldsV1"], json!({"f:status": {"f:active": {}}}));
    // Removing the field removes it from its owner; an owner left with nothing disappears.
    let mut cleared = with_status.clone();
    cleared["status"] = json!({});
    track_update(
        Some(&with_status),
        &mut cleared,
        "job-controller",
        "Update",
        t,
        Some("status"),
    );
    let e = entry(&cleared, "job-controller").unwrap();
    assert_eq!(
        e["fieldsV1"],
        json!({"f:status": {}}),
        "an empty map is itself a leaf: {cleared}"
    );
    // Client sends managedFields: [] → reset.
    let mut reset = cleared.clone();
    reset["metadata"]["managedFields"] = json!([]);
    reset["spec"]["parallelism"] = json!(2);
    track_update(Some(&cleared), &mut reset, "kubectl-edit", "Update", t, None);
    assert_eq!(entries(&reset).len(), 1);
    assert_eq!(entries(&reset)[0]["manager"], "kubectl-edit");
}

#[test]
fn fields_v1_roundtrip_and_paths() {
    let v1 = json!({"f:metadata": {"f:finalizers": {".": {}, "v:\"a\"": {}}, "f:labels": {"f:x": {}}},
                    "f:spec": {"f:containers": {"k:{\"name\":\"c\"}": {".": {}, "f:env": {"k:{\"name\":\"E\"}": {".": {}, "f:value": {}}}}}},
                    "f:list": {"i:0": {}}});
    let set = fieldset::from_fields_v1(&v1);
    assert_eq!(fieldset::to_fields_v1(&set), v1);
    let paths: Vec<String> = set.iter().map(|p| fieldset::to_string(p)).collect();
    assert!(
        paths.contains(&r#".spec.containers[name="c"].env[name="E"].value"#.to_string()),
        "{paths:?}"
    );
    assert!(
        paths.contains(&r#".metadata.finalizers[="a"]"#.to_string()),
        "{paths:?}"
    );
    assert!(paths.contains(&".list[0]".to_string()), "{paths:?}");
}

#[test]
fn multi_conflict_message() {
    let c = ApplyConflict {
        conflicts: vec![
            ("b".to_string(), ".data.x".to_string()),
            ("a".to_string(), ".data.y".to_string()),
            ("a".to_string(), ".data.z".to_string()),
        ],
    };
    assert_eq!(
        c.message(None),
        "Apply failed with 3 conflicts: conflicts with \"a\":\n- .data.y\n- .data.z\nconflicts with \"b\":\n- .data.x"
    );
}

#[test]
fn status_subresource_apply_only_touches_status() {
    let t = "2026-01-01T00:00:00Z";
    let live = apply(
        None,
        &json!({"apiVersion": "example.com/v1", "kind": "Widget", "metadata": {"name": "w"}, "spec": {"size": 1}}),
        &opts("kubectl", false, t),
    )
    .unwrap();
    let applied = json!({"apiVersion": "example.com/v1", "kind": "Widget", "metadata": {"name": "w", "labels": {"z": "1"}},
                         "spec": {"size": 9}, "status": {"ready": true}});
    let o = ApplyOptions {
        manager: "operator",
        force: false,
        now: t,
        subresource: Some("status"),
    };
    let out = apply(Some(&live), &applied, &o).unwrap();
    assert_eq!(
        out["spec"]["size"], 1,
        "spec untouched and no conflict with kubectl"
    );
    assert_eq!(out["status"], json!({"ready": true}));
    assert!(out["metadata"].get("labels").is_none());
    let e = entry(&out, "operator").unwrap();
    assert_eq!(e["subresource"], "status");
    assert_eq!(e["fieldsV1"], json!({"f:status": {"f:ready": {}}}));
}

#[test]
fn diff_reports_changed_and_removed_fields() {
    let pod = |spec: Value| json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p", "resourceVersion": "1"}, "spec": spec});
    type Case<'a> = (&'a str, Value, Value, Vec<&'a str>, Vec<&'a str>);
    let cases: Vec<Case<'_>> = vec![
        (
            "equal",
            pod(json!({"a": 1})),
            pod(json!({"a": 1})),
            vec![],
            vec![],
        ),
        (
            "scalar changed",
            pod(json!({"a": 1})),
            pod(json!({"a": 2})),
            vec![".spec.a"],
            vec![],
        ),
        (
            "key added and removed",
            pod(json!({"a": 1})),
            pod(json!({"b": 1})),
            vec![".spec.b"],
            vec![".spec.a"],
        ),
        (
            "container added by key, other untouched",
            pod(json!({"containers": [{"name": "x", "image": "1"}]})),
            pod(json!({"containers": [{"name": "x", "image": "1"}, {"name": "y"}]})),
            vec![
                r#".spec.containers[name="y"]"#,
                r#".spec.containers[name="y"].name"#,
            ],
            vec![],
        ),
        (
            "field inside an item",
            pod(json!({"containers": [{"name": "x", "image": "1"}]})),
            pod(json!({"containers": [{"name": "x", "image": "2"}]})),
            vec![r#".spec.containers[name="x"].image"#],
            vec![],
        ),
        (
            "item removed",
            pod(json!({"containers": [{"name": "x"}]})),
            pod(json!({"containers": []})),
            vec![],
            vec![
                r#".spec.containers[name="x"]"#,
                r#".spec.containers[name="x"].name"#,
            ],
        ),
        (
            "atomic list",
            pod(json!({"tolerations": [1]})),
            pod(json!({"tolerations": [2]})),
            vec![".spec.tolerations"],
            vec![],
        ),
        (
            "empty map to map",
            pod(json!({"m": {}})),
            pod(json!({"m": {"k": 1}})),
            vec![".spec.m.k"],
            vec![".spec.m"],
        ),
    ];
    let resolver = resolver_for(&pod(json!({})), None);
    for (name, old, mut new, want_changed, want_removed) in cases {
        new["metadata"]["resourceVersion"] = json!("2");
        let (changed, removed) = diff::diff(Some(&old), &new, &resolver);
        let show = |s: &fieldset::FieldSet| s.iter().map(|p| fieldset::to_string(p)).collect::<Vec<_>>();
        assert_eq!(show(&changed), want_changed, "{name}: changed");
        assert_eq!(show(&removed), want_removed, "{name}: removed");
    }
    let mut fins =
        json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c", "finalizers": ["a", "b"]}});
    let old = fins.clone();
    fins["metadata"]["finalizers"] = json!(["b", "c"]);
    let (changed, removed) = diff::diff(Some(&old), &fins, &resolver);
    assert_eq!(
        changed.iter().map(|p| fieldset::to_string(p)).collect::<Vec<_>>(),
        vec![r#".metadata.finalizers[="c"]"#]
    );
    assert_eq!(
        removed.iter().map(|p| fieldset::to_string(p)).collect::<Vec<_>>(),
        vec![r#".metadata.finalizers[="a"]"#]
    );
}

#[test]
fn update_that_creates_maps_owns_them_like_upstream() {
    let mut obj = json!({"apiVersion": "v1", "kind": "ConfigMap",
                         "metadata": {"name": "c", "labels": {"a": "1"}, "finalizers": ["f"]},
                         "data": {"k": "v"}});
    track_update(
        None,
        &mut obj,
        "kubectl-create",
        "Update",
        "2026-01-01T00:00:00Z",
        None,
    );
    assert_eq!(
        entry(&obj, "kubectl-create").unwrap()["fieldsV1"],
        json!({"f:data": {".": {}, "f:k": {}},
               "f:metadata": {"f:finalizers": {".": {}, "v:\"f\"": {}}, "f:labels": {".": {}, "f:a": {}}}})
    );
}
