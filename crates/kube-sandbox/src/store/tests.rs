use std::sync::Arc;

use serde_json::{Value, json};

use super::*;

fn info(
    group: &str,
    resource: &str,
    kind: &str,
    namespaced: bool,
    status: bool,
    custom: bool,
) -> ResourceInfo {
    ResourceInfo {
        gvr: Gvr::new(group, "v1", resource),
        kind: kind.into(),
        singular: kind.to_lowercase(),
        namespaced,
        status_subresource: status,
        has_generation: custom || status,
        short_names: vec![],
        categories: vec![],
        allow_unconditional_update: !custom,
        return_deleted_object: false,
        default_propagation: Propagation::Background,
        crd: custom.then(|| Arc::new(CrdFacts::default())),
        verbs: vec![],
    }
}

fn store() -> (Store, Gvr, Gvr) {
    let s = Store::default();
    s.register_type(info("", "namespaces", "Namespace", false, true, false));
    s.register_type(info("", "configmaps", "ConfigMap", true, false, false));
    s.register_type(info("example.com", "widgets", "Widget", true, true, true));
    s.create(&namespaces_gvr(), json!({"metadata": {"name": "default"}}))
        .unwrap();
    (
        s,
        Gvr::new("", "v1", "configmaps"),
        Gvr::new("example.com", "v1", "widgets"),
    )
}

fn cm(name: &str) -> Value {
    json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name, "namespace": "default"}, "data": {"a": "1"}})
}

fn rv(v: &Value) -> u64 {
    v["metadata"]["resourceVersion"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap()
}

#[test]
fn create_sets_metadata_and_bumps_global_rv() {
    let (s, cmg, _) = store();
    let before = s.current_rv();
    let a = s.create(&cmg, cm("a")).unwrap();
    let b = s.create(&cmg, cm("b")).unwrap();
    assert_eq!(rv(&a), before + 1);
    assert_eq!(rv(&b), before + 2);
    assert_eq!(a["metadata"]["uid"].as_str().unwrap().len(), 36);
    assert!(
        a["metadata"]["creationTimestamp"]
            .as_str()
            .unwrap()
            .ends_with('Z')
    );
    assert!(
        a["metadata"].get("generation").is_none(),
        "configmaps have no generation"
    );
    assert_eq!(s.create(&cmg, cm("a")).unwrap_err().code, 409);
    let (items, list_rv) = s.list(&cmg, Some("default"));
    assert_eq!(items.len(), 2);
    assert_eq!(list_rv, before + 2);
}

#[test]
fn generate_name_and_name_validation() {
    let (s, cmg, _) = store();
    let o = s
        .create(
            &cmg,
            json!({"metadata": {"generateName": "x-", "namespace": "default"}}),
        )
        .unwrap();
    let name = o["metadata"]["name"].as_str().unwrap();
    assert!(name.starts_with("x-") && name.len() == 7);
    let bad = s.create(&cmg, cm("Bad_Name")).unwrap_err();
    assert_eq!(bad.code, 422);
    assert_eq!(bad.to_status()["details"]["causes"][0]["field"], "metadata.name");
    let missing_ns = s
        .create(&cmg, json!({"metadata": {"name": "a", "namespace": "nope"}}))
        .unwrap_err();
    assert_eq!(
        (missing_ns.code, missing_ns.message.as_str()),
        (404, "namespaces \"nope\" not found")
    );
}

#[test]
fn no_op_update_keeps_rv_and_emits_nothing() {
    let (s, cmg, _) = store();
    let a = s.create(&cmg, cm("a")).unwrap();
    let mut rx = s.subscribe();
    let same = s.update(&cmg, a.clone()).unwrap();
    assert_eq!(rv(&same), rv(&a));
    assert!(rx.try_recv().is_err());
    let mut changed = a.clone();
    changed["data"]["a"] = json!("2");
    let after = s.update(&cmg, changed).unwrap();
    assert_eq!(rv(&after), rv(&a) + 1);
    assert_eq!(rx.try_recv().unwrap().kind, EventKind::Modified);
    // The first version is now stale.
    let mut stale = a;
    stale["data"]["a"] = json!("3");
    assert_eq!(s.update(&cmg, stale).unwrap_err().reason, "Conflict");
}

#[test]
fn custom_resources_need_rv_and_scope_status() {
    let (s, _, wg) = store();
    let w = s
        .create(&wg, json!({"metadata": {"name": "w", "namespace": "default"}, "spec": {"size": 1}, "status": {"x": 1}}))
        .unwrap();
    assert!(w.get("status").is_none(), "create drops status");
    assert_eq!(w["metadata"]["generation"], 1);
    let mut no_rv = w.clone();
    no_rv["metadata"]
        .as_object_mut()
        .unwrap()
        .remove("resourceVersion");
    assert_eq!(s.update(&wg, no_rv).unwrap_err().code, 422);

    let mut st = w.clone();
    st["status"] = json!({"ready": true});
    st["spec"]["size"] = json!(9);
    st["metadata"]["labels"] = json!({"z": "1"});
    let after = s.update_status(&wg, st).unwrap();
    assert_eq!(after["status"]["ready"], true);
    assert_eq!(after["spec"]["size"], 1);
    assert!(after["metadata"].get("labels").is_none());
    assert_eq!(after["metadata"]["generation"], 1);

    let mut main = after.clone();
    main["status"] = json!({"ready": false});
    let same = s.update(&wg, main).unwrap();
    assert_eq!(
        rv(&same),
        rv(&after),
        "status through the main resource is dropped: a no-op"
    );

    let mut spec = after.clone();
    spec["spec"]["size"] = json!(2);
    assert_eq!(s.update(&wg, spec).unwrap()["metadata"]["generation"], 2);
    let mut label = s.get(&wg, Some("default"), "w").unwrap();
    label["metadata"]["labels"] = json!({"b": "2"});
    assert_eq!(s.update(&wg, label).unwrap()["metadata"]["generation"], 2);
}

#[test]
fn delete_with_finalizers_marks_then_removes() {
    let (s, _, wg) = store();
    let w = s
        .create(
            &wg,
            json!({"metadata": {"name": "w", "namespace": "default", "finalizers": ["a/b"]}}),
        )
        .unwrap();
    let out = s
        .delete_ext(&wg, Some("default"), "w", &DeleteOptions::default())
        .unwrap();
    let DeleteOutcome::Pending(marked) = out else {
        panic!("expected pending")
    };
    assert!(marked["metadata"]["deletionTimestamp"].is_string());
    assert_eq!(marked["metadata"]["deletionGracePeriodSeconds"], 0);
    assert_eq!(marked["metadata"]["generation"], 2);
    let again = s
        .delete_ext(&wg, Some("default"), "w", &DeleteOptions::default())
        .unwrap();
    assert_eq!(rv(&again.into_object()), rv(&marked));
    let mut more = marked.clone();
    more["metadata"]["finalizers"] = json!(["a/b", "c/d"]);
    let e = s.update(&wg, more).unwrap_err();
    assert!(e.message.contains("no new finalizers"), "{}", e.message);
    let mut rx = s.subscribe();
    let mut done = marked;
    done["metadata"]["finalizers"] = json!([]);
    s.update(&wg, done).unwrap();
    assert!(s.get(&wg, Some("default"), "w").is_none());
    assert_eq!(rx.try_recv().unwrap().kind, EventKind::Modified);
    let ev = rx.try_recv().unwrap();
    assert_eq!(ev.kind, EventKind::Deleted);
    assert!(ev.object["metadata"]["finalizers"].as_array().unwrap().is_empty());
    let _ = w;
}

#[test]
fn propagation_adds_gc_finalizers_and_preconditions() {
    let (s, cmg, _) = store();
    s.create(&cmg, cm("f")).unwrap();
    s.create(&cmg, cm("o")).unwrap();
    let fg = DeleteOptions {
        propagation: Some(Propagation::Foreground),
        ..Default::default()
    };
    let f = s.delete(&cmg, Some("default"), "f", &fg).unwrap();
    assert_eq!(f["metadata"]["finalizers"], json!(["foregroundDeletion"]));
    let orphan = DeleteOptions {
        propagation: Some(Propagation::Orphan),
        ..Default::default()
    };
    let o = s.delete(&cmg, Some("default"), "o", &orphan).unwrap();
    assert_eq!(o["metadata"]["finalizers"], json!(["orphan"]));
    s.create(&cmg, cm("p")).unwrap();
    let bad = DeleteOptions {
        preconditions_uid: Some("x".into()),
        ..Default::default()
    };
    assert_eq!(s.delete(&cmg, Some("default"), "p", &bad).unwrap_err().code, 409);
    let gone = s
        .delete_ext(&cmg, Some("default"), "p", &DeleteOptions::default())
        .unwrap();
    let DeleteOutcome::Deleted(last) = gone else {
        panic!("expected deleted")
    };
    assert_eq!(rv(&last), s.current_rv(), "DELETED carries the deletion rv");
    assert_eq!(
        s.delete(&cmg, Some("default"), "p", &DeleteOptions::default())
            .unwrap_err()
            .code,
        404
    );
}

#[test]
fn watch_replays_and_expires() {
    let (s, cmg, _) = store();
    let a = s.create(&cmg, cm("a")).unwrap();
    let start = rv(&a);
    s.create(&cmg, cm("b")).unwrap();
    s.delete(&cmg, Some("default"), "a", &DeleteOptions::default())
        .unwrap();
    let w = s.watch(&cmg, Some(start)).unwrap();
    let kinds: Vec<_> = w.backlog.iter().map(|c| (c.kind, c.rv)).collect();
    assert_eq!(
        kinds,
        vec![(EventKind::Added, start + 1), (EventKind::Deleted, start + 2)]
    );
    let now = s.watch(&cmg, None).unwrap();
    assert_eq!(now.backlog.len(), 1);
    s.compact();
    let e = s.watch(&cmg, Some(start)).err().unwrap();
    assert_eq!((e.code, e.reason.as_str()), (410, "Expired"));
    assert!(s.watch(&cmg, Some(s.current_rv())).is_ok());
}

#[test]
fn history_is_bounded() {
    let s = Store::new(StoreConfig {
        history_per_type: 3,
        ..Default::default()
    });
    s.register_type(info("", "configmaps", "ConfigMap", false, false, false));
    let g = Gvr::new("", "v1", "configmaps");
    let first = s.create(&g, json!({"metadata": {"name": "c0"}})).unwrap();
    for i in 1..6 {
        s.create(&g, json!({"metadata": {"name": format!("c{i}")}}))
            .unwrap();
    }
    assert_eq!(s.watch(&g, Some(rv(&first))).err().unwrap().code, 410);
    assert_eq!(s.watch(&g, Some(s.current_rv() - 3)).unwrap().backlog.len(), 3);
}

#[test]
fn mutate_creates_when_absent_and_detects_stale_rv() {
    let (s, cmg, _) = store();
    let (v, w) = s
        .mutate(
            &cmg,
            Some("default"),
            "m",
            Subresource::Main,
            &WriteOptions::default(),
            |cur| {
                assert!(cur.is_none());
                Ok(json!({"data": {"k": "v"}}))
            },
        )
        .unwrap();
    assert_eq!(w, write::Written::Created);
    assert_eq!(v["metadata"]["namespace"], "default");
    let (_, w2) = s
        .mutate(
            &cmg,
            Some("default"),
            "m",
            Subresource::Main,
            &WriteOptions::default(),
            |cur| {
                let mut c = cur.unwrap().clone();
                c["data"]["k"] = json!("w");
                Ok(c)
            },
        )
        .unwrap();
    assert_eq!(w2, write::Written::Updated);
    let e = s
        .mutate(
            &cmg,
            Some("default"),
            "m",
            Subresource::Main,
            &WriteOptions::default(),
            |cur| {
                let mut c = cur.unwrap().clone();
                c["metadata"]["resourceVersion"] = json!("2");
                c["data"]["k"] = json!("x");
                Ok(c)
            },
        )
        .unwrap_err();
    assert_eq!(e.code, 409);
}

#[test]
fn namespace_with_spec_finalizers_terminates() {
    let (s, cmg, _) = store();
    let ns = namespaces_gvr();
    s.create(
        &ns,
        json!({"metadata": {"name": "t"}, "spec": {"finalizers": ["kubernetes"]}}),
    )
    .unwrap();
    let marked = s.delete(&ns, None, "t", &DeleteOptions::default()).unwrap();
    assert_eq!(marked["status"]["phase"], "Terminating");
    let e = s
        .create(&cmg, json!({"metadata": {"name": "a", "namespace": "t"}}))
        .unwrap_err();
    assert_eq!(e.code, 403);
}

#[test]
fn update_with_another_uid_is_a_conflict() {
    let (s, cmg, _) = store();
    let a = s.create(&cmg, cm("a")).unwrap();
    let mut other = a.clone();
    other["metadata"]["uid"] = json!("00000000-0000-4000-8000-000000000000");
    other["data"]["a"] = json!("2");
    let e = s.update(&cmg, other).unwrap_err();
    assert_eq!(e.code, 409);
    assert!(
        e.message.contains("Precondition failed: UID in precondition"),
        "{}",
        e.message
    );
    let mut no_uid = a;
    no_uid["metadata"].as_object_mut().unwrap().remove("uid");
    no_uid["data"]["a"] = json!("3");
    assert_eq!(
        s.update(&cmg, no_uid).unwrap()["data"]["a"],
        "3",
        "an empty uid is filled from the stored object"
    );
}

#[test]
fn history_is_bounded_in_bytes() {
    let s = Store::new(StoreConfig {
        history_bytes_per_type: 20_000,
        ..Default::default()
    });
    s.register_type(info("", "configmaps", "ConfigMap", false, false, false));
    let g = Gvr::new("", "v1", "configmaps");
    let big = "x".repeat(4_000);
    for i in 0..20 {
        s.create(&g, json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": format!("c{i}")}, "data": {"k": big}}))
            .unwrap();
    }
    let floor = s.oldest_replayable(&g).unwrap();
    assert!(floor > 1, "the oldest events were dropped");
    let kept = s.watch(&g, Some(floor)).unwrap().backlog.len();
    assert!(
        (2..=5).contains(&kept),
        "about 20 kB of 4 kB objects kept: {kept}"
    );
    assert!(matches!(s.watch(&g, Some(floor - 1)), Err(e) if e.code == 410));
}
