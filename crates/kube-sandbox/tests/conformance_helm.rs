//! The real helm against the sandbox: `helm install` (a CRD from `crds/`, a custom resource, RBAC objects, a
//! ServiceAccount and a ConfigMap), `helm upgrade` and `helm uninstall`, whose release-Secret deletions carry a
//! protobuf DeleteOptions body (client-go's typed clientset).

#![allow(clippy::unwrap_used)]

mod conformance_common;

use conformance_common::*;

const CHART_YAML: &str = "apiVersion: v2\nname: plugin\nversion: 0.1.0\ntype: application\n";
const VALUES_YAML: &str = "size: 1\n";
const TEMPLATES: &str = r#"apiVersion: v1
kind: ServiceAccount
metadata:
  name: {{ .Release.Name }}-sa
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata:
  name: {{ .Release.Name }}-role
rules:
- apiGroups: [example.com]
  resources: [widgets, widgets/status]
  verbs: [get, list, watch, patch]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata:
  name: {{ .Release.Name }}-binding
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: {{ .Release.Name }}-role}
subjects:
- {kind: ServiceAccount, name: {{ .Release.Name }}-sa, namespace: {{ .Release.Namespace }}}
---
apiVersion: v1
kind: ConfigMap
metadata:
  name: {{ .Release.Name }}-config
data:
  size: "{{ .Values.size }}"
---
apiVersion: example.com/v1
kind: Widget
metadata:
  name: {{ .Release.Name }}-widget
spec:
  size: {{ .Values.size }}
"#;

fn write_chart(e: &Env) -> String {
    let dir = e.dir.0.join("chart");
    for sub in ["crds", "templates"] {
        std::fs::create_dir_all(dir.join(sub)).unwrap();
    }
    std::fs::write(dir.join("Chart.yaml"), CHART_YAML).unwrap();
    std::fs::write(dir.join("values.yaml"), VALUES_YAML).unwrap();
    std::fs::write(dir.join("crds/widgets.yaml"), CRD_YAML).unwrap();
    std::fs::write(dir.join("templates/all.yaml"), TEMPLATES).unwrap();
    dir.to_str().unwrap().to_owned()
}

#[tokio::test]
async fn helm_install_upgrade_uninstall() {
    let e = env("helm").await;
    let chart = write_chart(&e);
    let install = e
        .helm(&["install", "rel", &chart, "--wait", "--timeout=30s"])
        .await;
    assert!(install.ok().contains("STATUS: deployed"), "{}", install.stdout);
    let size = e
        .kubectl(&["get", "widget", "rel-widget", "-o", "jsonpath={.spec.size}"])
        .await;
    assert_eq!(size.ok(), "1");
    e.kubectl(&[
        "get",
        "sa/rel-sa",
        "clusterrole/rel-role",
        "clusterrolebinding/rel-binding",
        "cm/rel-config",
    ])
    .await
    .ok();

    let upgrade = e.helm(&["upgrade", "rel", &chart, "--set", "size=3"]).await;
    assert!(upgrade.ok().contains("REVISION: 2"), "{}", upgrade.stdout);
    let size = e
        .kubectl(&["get", "widget", "rel-widget", "-o", "jsonpath={.spec.size}"])
        .await;
    assert_eq!(size.ok(), "3");
    let data = e
        .kubectl(&["get", "cm", "rel-config", "-o", "jsonpath={.data.size}"])
        .await;
    assert_eq!(data.ok(), "3");
    let list = e.helm(&["list", "-o", "json"]).await;
    let list: serde_json::Value = serde_json::from_str(list.ok()).unwrap();
    assert_eq!(list[0]["revision"], "2", "{list}");

    let uninstall = e.helm(&["uninstall", "rel"]).await;
    assert!(
        uninstall.ok().contains(r#"release "rel" uninstalled"#),
        "{}",
        uninstall.stdout
    );
    let secrets = e
        .kubectl(&["get", "secrets", "-l", "owner=helm", "-o", "name"])
        .await;
    assert_eq!(secrets.ok(), "", "release Secrets are deleted");
    for object in [
        "widget/rel-widget",
        "cm/rel-config",
        "sa/rel-sa",
        "clusterrole/rel-role",
    ] {
        let out = e.kubectl(&["get", object]).await;
        out.fails_with("NotFound");
    }
    assert!(
        e.requests().iter().any(|r| r.method == "DELETE"
            && r.path.contains("/secrets/sh.helm.release.v1.rel.")
            && r.status == 200),
        "the release Secrets were deleted through the API"
    );
    // helm leaves the CRDs of `crds/` installed.
    e.kubectl(&["get", "crd", "widgets.example.com"]).await.ok();
    assert_eq!(e.helm(&["list", "-q"]).await.ok().trim(), "");
}
