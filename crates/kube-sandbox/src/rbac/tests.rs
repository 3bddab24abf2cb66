use serde_json::json;

use super::*;

fn res(verb: &str, group: &str, resource: &str, ns: &str) -> Attributes {
    Attributes {
        verb: verb.into(),
        resource: Some(ResourceAttrs {
            group: group.into(),
            resource: resource.into(),
            namespace: ns.into(),
            ..Default::default()
        }),
        path: String::new(),
    }
}

#[test]
fn rule_matching_as_upstream() {
    let rule = json!({"apiGroups": ["batch"], "resources": ["jobs", "*/status"], "verbs": ["get", "list"]});
    assert!(rule_allows(&res("list", "batch", "jobs", "a"), &rule));
    assert!(!rule_allows(&res("create", "batch", "jobs", "a"), &rule));
    assert!(!rule_allows(&res("list", "", "jobs", "a"), &rule));
    let mut status = res("get", "batch", "cronjobs", "a");
    if let Some(r) = status.resource.as_mut() {
        r.subresource = "status".into();
    }
    assert!(
        rule_allows(&status, &rule),
        "*/status matches any status subresource"
    );
    let named =
        json!({"apiGroups": [""], "resources": ["configmaps"], "resourceNames": ["x"], "verbs": ["*"]});
    let mut get_x = res("get", "", "configmaps", "a");
    assert!(!rule_allows(&get_x, &named));
    if let Some(r) = get_x.resource.as_mut() {
        r.name = "x".into();
    }
    assert!(rule_allows(&get_x, &named));
    let urls = json!({"nonResourceURLs": ["/apis/*", "/version"], "verbs": ["get"]});
    let path = |p: &str| Attributes {
        verb: "get".into(),
        resource: None,
        path: p.into(),
    };
    assert!(rule_allows(&path("/apis/batch/v1"), &urls));
    assert!(rule_allows(&path("/version"), &urls));
    assert!(!rule_allows(&path("/versions"), &urls));
}

#[test]
fn bindings_subjects_and_reasons() {
    let store = crate::registry::new_store(Default::default());
    for ns in ["a", "b"] {
        let obj = json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}});
        store.create(&crate::store::namespaces_gvr(), obj).unwrap();
    }
    let role = json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "Role",
        "metadata": {"name": "reader", "namespace": "a"},
        "rules": [{"apiGroups": ["batch"], "resources": ["jobs"], "verbs": ["get", "list", "watch"]}]});
    store.create(&gvr("roles"), role).unwrap();
    let rb = json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding",
        "metadata": {"name": "read", "namespace": "a"},
        "roleRef": {"kind": "Role", "name": "reader"},
        "subjects": [{"kind": "ServiceAccount", "name": "op"}]});
    let stored = store.create(&gvr("rolebindings"), rb).unwrap();
    assert_eq!(stored["roleRef"]["apiGroup"], GROUP, "roleRef.apiGroup defaulted");
    let sa = UserInfo::service_account("a", "op");
    let d = authorize(&store, &sa, &res("list", "batch", "jobs", "a"));
    assert!(d.allowed);
    assert_eq!(
        d.reason,
        r#"RBAC: allowed by RoleBinding "read/a" of Role "reader" to ServiceAccount "op/a""#
    );
    assert!(!authorize(&store, &sa, &res("list", "batch", "jobs", "b")).allowed);
    assert!(!authorize(&store, &sa, &res("delete", "batch", "jobs", "a")).allowed);
    assert!(
        !authorize(
            &store,
            &UserInfo::service_account("b", "op"),
            &res("list", "batch", "jobs", "a")
        )
        .allowed
    );
    assert!(authorize(&store, &UserInfo::admin(), &res("delete", "", "secrets", "")).allowed);
    let (rules, urls) = rules_for(&store, &sa, "a");
    assert!(
        rules.iter().any(|r| r["resources"] == json!(["jobs"])),
        "{rules:?}"
    );
    assert!(
        rules
            .iter()
            .any(|r| r["resources"] == json!(["selfsubjectaccessreviews", "selfsubjectrulesreviews"]))
    );
    assert!(urls.iter().any(|r| r["nonResourceURLs"][0] == "/api"));
    let e = forbidden(&sa, &res("delete", "batch", "jobs", "a"));
    assert_eq!(
        e.message,
        r#"jobs.batch is forbidden: User "system:serviceaccount:a:op" cannot delete resource "jobs" in API group "batch" in the namespace "a""#
    );
}

#[test]
fn validation_messages() {
    let store = crate::registry::new_store(Default::default());
    let bad_role = json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole",
        "metadata": {"name": "system:weird:name"},
        "rules": [{"apiGroups": [""], "resources": ["pods"]}, {"verbs": ["get"]}]});
    let e = store.create(&gvr("clusterroles"), bad_role).unwrap_err();
    assert_eq!(e.code, 422);
    assert!(
        e.message
            .contains("rules[0].verbs: Required value: verbs must contain at least one value"),
        "{}",
        e.message
    );
    assert!(
        e.message.contains(
            "rules[1].apiGroups: Required value: resource rules must supply at least one api group"
        ),
        "{}",
        e.message
    );
    let ns_url = json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "Role",
        "metadata": {"name": "r", "namespace": "default"},
        "rules": [{"nonResourceURLs": ["/x"], "verbs": ["get"]}]});
    let e = store.create(&gvr("roles"), ns_url).unwrap_err();
    assert!(
        e.message
            .contains("namespaced rules cannot apply to non-resource URLs"),
        "{}",
        e.message
    );
    let crb = json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRoleBinding",
        "metadata": {"name": "b"}, "roleRef": {"kind": "Role", "name": "r"},
        "subjects": [{"kind": "ServiceAccount", "name": "sa"}, {"kind": "Robot", "name": "x"}]});
    let e = store.create(&gvr("clusterrolebindings"), crb).unwrap_err();
    for want in [
        r#"roleRef.kind: Unsupported value: "Role": supported values: "ClusterRole""#,
        "subjects[0].namespace: Required value",
        r#"subjects[1].kind: Unsupported value: "Robot": supported values: "ServiceAccount", "User", "Group""#,
    ] {
        assert!(e.message.contains(want), "{want} not in {}", e.message);
    }
    // RBAC names are path segments: colons allowed, '/' and '%' not.
    let slash = json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole", "metadata": {"name": "a/b"}});
    let e = store.create(&gvr("clusterroles"), slash).unwrap_err();
    assert!(e.message.contains("may not contain '/'"), "{}", e.message);
}
