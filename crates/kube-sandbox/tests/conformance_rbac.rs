//! Issue 13 (RBAC): the RBAC kinds a plugin chart ships, `kubectl auth can-i`/`whoami`, imperative
//! `kubectl create role|rolebinding` (protobuf bodies), and enforcement for ServiceAccount kubeconfigs.

#![allow(clippy::unwrap_used)]

mod conformance_common;

use conformance_common::*;
use kube_sandbox::SandboxConfig;
use kube_sandbox::server::ServerConfig;

const CHART: &str = r#"apiVersion: v1
kind: ServiceAccount
metadata: {name: plugin, namespace: default}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata: {name: plugin-role, labels: {app.kubernetes.io/name: plugin}}
rules:
- apiGroups: ["batch"]
  resources: ["jobs", "cronjobs"]
  verbs: ["get", "list", "watch", "create", "patch"]
- apiGroups: [""]
  resources: ["events"]
  verbs: ["create"]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata: {name: plugin-binding}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: plugin-role}
subjects:
- {kind: ServiceAccount, name: plugin, namespace: default}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: Role
metadata: {name: leases, namespace: default}
rules:
- apiGroups: ["coordination.k8s.io"]
  resources: ["leases"]
  resourceNames: ["plugin-leader"]
  verbs: ["get", "update"]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata: {name: leases, namespace: default}
roleRef: {kind: Role, name: leases}
subjects:
- {kind: ServiceAccount, name: plugin}
"#;

const SA: &str = "--as=system:serviceaccount:default:plugin";

#[tokio::test]
async fn chart_rbac_objects_and_can_i() {
    let e = env("rbac").await;
    let chart = e.file("chart.yaml", CHART);
    let out = e.kubectl(&["apply", "-f", path_str(&chart)]).await;
    assert!(
        out.ok()
            .contains("clusterrolebinding.rbac.authorization.k8s.io/plugin-binding created"),
        "{}",
        out.stdout
    );
    let again = e.kubectl(&["apply", "-f", path_str(&chart)]).await;
    assert!(
        again
            .ok()
            .contains("role.rbac.authorization.k8s.io/leases unchanged"),
        "{}",
        again.stdout
    );
    let rb = e
        .kubectl(&[
            "get",
            "rolebinding",
            "leases",
            "-o",
            "jsonpath={.roleRef.apiGroup}",
        ])
        .await;
    assert_eq!(rb.ok(), "rbac.authorization.k8s.io", "roleRef.apiGroup defaulted");

    // The sandbox's own user is a cluster administrator, as a kubeadm admin.conf is.
    assert_eq!(
        e.kubectl(&["auth", "can-i", "create", "pods"]).await.ok().trim(),
        "yes"
    );
    assert_eq!(e.kubectl(&["auth", "can-i", "*", "*"]).await.ok().trim(), "yes");
    let whoami = e.kubectl(&["auth", "whoami"]).await;
    assert!(whoami.ok().contains("system:masters"), "{}", whoami.stdout);
    // Impersonating the chart's ServiceAccount evaluates its bindings.
    let can = |args: Vec<&'static str>| {
        let e = &e;
        async move {
            let mut full = vec!["auth", "can-i", SA];
            full.extend(args);
            e.kubectl(&full).await
        }
    };
    assert_eq!(can(vec!["list", "jobs.batch"]).await.ok().trim(), "yes");
    let no = can(vec!["delete", "jobs.batch"]).await;
    assert_eq!((no.code, no.stdout.trim()), (1, "no"));
    assert_eq!(
        can(vec!["update", "leases/plugin-leader"]).await.ok().trim(),
        "yes"
    );
    assert_eq!(can(vec!["update", "leases/other"]).await.stdout.trim(), "no");
    assert_eq!(
        can(vec!["get", "leases/plugin-leader", "-n", "kube-system"])
            .await
            .stdout
            .trim(),
        "no"
    );
    let list = can(vec!["--list"]).await;
    assert!(
        list.ok().lines().any(|l| l.starts_with("jobs.batch ")),
        "{}",
        list.stdout
    );

    // Imperative generators send protobuf bodies.
    e.kubectl(&[
        "create",
        "clusterrole",
        "pod-reader",
        "--verb=get,list",
        "--resource=pods",
    ])
    .await
    .ok();
    e.kubectl(&[
        "create",
        "rolebinding",
        "read-pods",
        "--clusterrole=pod-reader",
        "--serviceaccount=default:plugin",
    ])
    .await
    .ok();
    assert_eq!(can(vec!["list", "pods"]).await.ok().trim(), "yes");
    let subject = e
        .kubectl(&["get", "rolebinding", "read-pods", "-o", "jsonpath={.subjects[0]}"])
        .await;
    assert_eq!(
        serde_json::from_str::<serde_json::Value>(subject.ok()).unwrap(),
        serde_json::json!({"kind": "ServiceAccount", "name": "plugin", "namespace": "default"})
    );

    // Validation as upstream; roleRef is immutable.
    let bad = e.file(
        "bad.yaml",
        "apiVersion: rbac.authorization.k8s.io/v1\nkind: ClusterRoleBinding\nmetadata: {name: bad}\nroleRef: {kind: Role, name: x}\nsubjects: [{kind: ServiceAccount, name: plugin}]\n",
    );
    e.kubectl(&["create", "-f", path_str(&bad)])
        .await
        .fails_with(r#"roleRef.kind: Unsupported value: "Role": supported values: "ClusterRole""#);
    e.kubectl(&[
        "patch",
        "rolebinding",
        "leases",
        "--type=merge",
        "-p",
        r#"{"roleRef":{"name":"other"}}"#,
    ])
    .await
    .fails_with("cannot change roleRef");
}

#[tokio::test]
async fn enforcement_for_service_account_kubeconfigs() {
    let e = env_with(
        "rbac-enforce",
        SandboxConfig {
            server: ServerConfig {
                rbac_enforcement: true,
                ..ServerConfig::default()
            },
            controllers: fast_controllers(),
            ..SandboxConfig::default()
        },
    )
    .await;
    let sa_kubeconfig = e.dir.0.join("sa.kubeconfig");
    e.sb.write_service_account_kubeconfig(&sa_kubeconfig, "default", "plugin")
        .unwrap();
    let as_sa = |args: Vec<&'static str>| {
        let e = &e;
        let kc = path_str(&sa_kubeconfig).to_string();
        async move {
            let mut full = vec!["--kubeconfig", kc.as_str()];
            full.extend(args);
            e.kubectl(&full).await
        }
    };
    let denied = as_sa(vec!["get", "jobs"]).await;
    denied.fails_with(
        r#"jobs.batch is forbidden: User "system:serviceaccount:default:plugin" cannot list resource "jobs" in API group "batch" in the namespace "default""#,
    );
    assert!(
        e.requests()
            .iter()
            .any(|r| r.status == 403 && r.path.ends_with("/jobs"))
    );
    assert_eq!(
        as_sa(vec!["auth", "can-i", "list", "jobs"]).await.stdout.trim(),
        "no"
    );
    let whoami = as_sa(vec![
        "auth",
        "whoami",
        "-o",
        "jsonpath={.status.userInfo.username}",
    ])
    .await;
    assert_eq!(whoami.ok(), "system:serviceaccount:default:plugin");

    // The administrator (no credentials) installs the chart; then the ServiceAccount may do what it grants.
    let chart = e.file("chart.yaml", CHART);
    e.kubectl(&["apply", "-f", path_str(&chart)]).await.ok();
    as_sa(vec!["get", "jobs"]).await.ok();
    assert_eq!(
        as_sa(vec!["auth", "can-i", "list", "jobs"]).await.ok().trim(),
        "yes"
    );
    as_sa(vec!["delete", "job", "nope"]).await.fails_with(
        r#"jobs.batch "nope" is forbidden: User "system:serviceaccount:default:plugin" cannot delete resource "jobs""#,
    );
    as_sa(vec!["get", "secrets"])
        .await
        .fails_with("cannot list resource \"secrets\" in API group \"\"");
    as_sa(vec!["get", "namespaces"])
        .await
        .fails_with("at the cluster scope");

    // The same through a kube client.
    let client = e.sb.service_account_client("default", "plugin").unwrap();
    let cms: kube::Api<k8s_openapi::api::core::v1::ConfigMap> = kube::Api::default_namespaced(client.clone());
    match cms.list(&Default::default()).await {
        Err(kube::Error::Api(s)) => assert_eq!(s.code, 403),
        other => panic!("expected 403, got {other:?}"),
    }
    let jobs: kube::Api<k8s_openapi::api::batch::v1::Job> = kube::Api::default_namespaced(client);
    jobs.list(&Default::default()).await.unwrap();
    // Enforcement can be switched off at run time.
    e.sb.set_rbac_enforcement(false);
    cms.list(&Default::default()).await.unwrap();
}
