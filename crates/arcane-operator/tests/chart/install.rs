//! `helm install` on a sandbox, beside CRDs that another release (the arcane-crd chart) or
//! `kubectl apply` already owns: no "invalid ownership metadata" clash, the CRDs stay their
//! owner's; on a cluster without them the release installs, upgrades and keeps them.
//!
//! The sandbox serves the CRD, ServiceAccount and Secret (release storage) APIs but not apps/v1,
//! rbac or Services, so what is installed is the chart with only the templates of kinds it serves:
//! the CRD template, with its `lookup` of existing CRDs, runs exactly as in the full chart; the
//! rest of the chart is covered by `helm template` in the other tests.

use std::collections::BTreeMap;

use arcane_operator::sandbox::install;
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::Api;
use kube_sandbox::{Sandbox, SandboxConfig};
use serde_json::json;

use super::*;

const CRDS: [&str; 3] = [
    "streamclasses.streaming.sneaksanddata.com",
    "streamingjobtemplates.streaming.sneaksanddata.com",
    "backfillrequests.streaming.sneaksanddata.com",
];

/// The chart's templates whose kinds the sandbox serves.
const SERVED_TEMPLATES: [&str; 4] = ["_helpers.tpl", "NOTES.txt", "crds.yaml", "serviceaccount.yaml"];

/// A copy of the chart with only [`SERVED_TEMPLATES`], in a fresh directory.
fn served_chart(tag: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("arcane-chart-{tag}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(dir.join("templates")).unwrap();
    std::fs::create_dir_all(dir.join("files")).unwrap();
    let src = chart_dir();
    for file in [
        "Chart.yaml",
        "values.yaml",
        "values.schema.json",
        "files/crds.yaml",
    ] {
        std::fs::copy(src.join(file), dir.join(file)).unwrap();
    }
    for t in SERVED_TEMPLATES {
        std::fs::copy(src.join("templates").join(t), dir.join("templates").join(t)).unwrap();
    }
    dir
}

struct Cluster {
    sandbox: Sandbox,
    client: kube::Client,
    kubeconfig: PathBuf,
    chart: PathBuf,
}

impl Cluster {
    async fn start(tag: &str) -> Cluster {
        let sandbox = Sandbox::start(SandboxConfig::default()).await.unwrap();
        let client = sandbox.client().unwrap();
        let chart = served_chart(tag);
        let kubeconfig = chart.join("kubeconfig");
        sandbox.write_kubeconfig(&kubeconfig).unwrap();
        Cluster {
            sandbox,
            client,
            kubeconfig,
            chart,
        }
    }

    /// `helm ARGS… --kubeconfig K` (release commands also get the chart and image repository).
    async fn helm(&self, helm: &Path, args: &[&str]) -> Result<String, String> {
        let mut cmd = tokio::process::Command::new(helm);
        cmd.args(args).arg("--kubeconfig").arg(&self.kubeconfig);
        if matches!(args[0], "install" | "upgrade") {
            // The sandbox publishes no OpenAPI document for helm to validate against.
            cmd.arg(&self.chart)
                .args(["--set", IMAGE, "--disable-openapi-validation"]);
        }
        let out = cmd.output().await.map_err(|e| e.to_string())?;
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        if out.status.success() { Ok(text) } else { Err(text) }
    }

    /// Applies deploy/crds.yaml with extra metadata, as another tool would have.
    async fn preinstall_crds(&self, labels: Value, annotations: Value) {
        let text = std::fs::read_to_string(manifest_dir().join("../../deploy/crds.yaml")).unwrap();
        let mut docs = install::parse_documents(&text).unwrap();
        for doc in &mut docs {
            doc["metadata"]["labels"] = labels.clone();
            doc["metadata"]["annotations"] = annotations.clone();
        }
        install::apply_documents(&self.client, &docs).await.unwrap();
    }

    /// Each CRD's `meta.helm.sh/release-name` annotation (`-` when absent).
    async fn crd_owners(&self) -> BTreeMap<String, String> {
        let api: Api<CustomResourceDefinition> = Api::all(self.client.clone());
        let mut out = BTreeMap::new();
        for name in CRDS {
            let owner = match api.get_opt(name).await.unwrap() {
                Some(crd) => crd
                    .metadata
                    .annotations
                    .unwrap_or_default()
                    .get("meta.helm.sh/release-name")
                    .cloned()
                    .unwrap_or_else(|| "-".into()),
                None => "absent".into(),
            };
            out.insert(name.to_string(), owner);
        }
        out
    }

    async fn stop(self) {
        let _ = std::fs::remove_dir_all(&self.chart);
        self.sandbox.shutdown().await;
    }
}

fn all(owner: &str) -> BTreeMap<String, String> {
    CRDS.iter().map(|c| (c.to_string(), owner.to_string())).collect()
}

fn crd_count(manifest: &str) -> usize {
    manifest.matches("kind: CustomResourceDefinition").count()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn installs_beside_crds_the_arcane_crd_chart_owns() {
    let Some(helm) = helm() else { return };
    let cluster = Cluster::start("arcane-crd").await;
    cluster
        .preinstall_crds(
            json!({"app.kubernetes.io/managed-by": "Helm"}),
            json!({"meta.helm.sh/release-name": "arcane-crd", "meta.helm.sh/release-namespace": "arcane"}),
        )
        .await;

    let forced = cluster
        .helm(
            &helm,
            &[
                "install",
                "forced",
                "-n",
                "arcane",
                "--create-namespace",
                "--set",
                "crds.install=true",
            ],
        )
        .await;
    assert!(
        matches!(&forced, Err(e) if e.contains("already belongs to Helm release arcane/arcane-crd")),
        "crds.install=true must say who owns the CRDs: {forced:?}"
    );

    let notes = cluster
        .helm(
            &helm,
            &["install", "arcane", "-n", "arcane", "--create-namespace"],
        )
        .await
        .unwrap_or_else(|e| panic!("install beside arcane-crd: {e}"));
    assert!(
        notes.contains("left to its owner, Helm release arcane/arcane-crd"),
        "{notes}"
    );
    let manifest = cluster
        .helm(&helm, &["get", "manifest", "arcane", "-n", "arcane"])
        .await
        .unwrap();
    assert_eq!(crd_count(&manifest), 0, "the release does not claim the CRDs");
    assert!(manifest.contains("kind: ServiceAccount"), "{manifest}");
    assert_eq!(cluster.crd_owners().await, all("arcane-crd"));

    cluster
        .helm(&helm, &["upgrade", "arcane", "-n", "arcane"])
        .await
        .unwrap_or_else(|e| panic!("upgrade beside arcane-crd: {e}"));
    assert_eq!(cluster.crd_owners().await, all("arcane-crd"));
    cluster.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn installs_beside_crds_applied_with_kubectl() {
    let Some(helm) = helm() else { return };
    let cluster = Cluster::start("kubectl").await;
    cluster.preinstall_crds(json!({}), json!({})).await;
    cluster
        .helm(
            &helm,
            &["install", "arcane", "-n", "arcane", "--create-namespace"],
        )
        .await
        .unwrap_or_else(|e| panic!("install beside kubectl-applied CRDs: {e}"));
    let manifest = cluster
        .helm(&helm, &["get", "manifest", "arcane", "-n", "arcane"])
        .await
        .unwrap();
    assert_eq!(crd_count(&manifest), 0);
    assert_eq!(cluster.crd_owners().await, all("-"));
    cluster.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn installs_upgrades_and_keeps_its_own_crds() {
    let Some(helm) = helm() else { return };
    let cluster = Cluster::start("own").await;
    assert_eq!(cluster.crd_owners().await, all("absent"));
    cluster
        .helm(
            &helm,
            &["install", "arcane", "-n", "arcane", "--create-namespace"],
        )
        .await
        .unwrap_or_else(|e| panic!("install: {e}"));
    assert_eq!(cluster.crd_owners().await, all("arcane"));
    let manifest = cluster
        .helm(&helm, &["get", "manifest", "arcane", "-n", "arcane"])
        .await
        .unwrap();
    assert_eq!(crd_count(&manifest), 3);

    // An upgrade still renders them (they are this release's), so new CRD versions roll out.
    cluster
        .helm(&helm, &["upgrade", "arcane", "-n", "arcane"])
        .await
        .unwrap_or_else(|e| panic!("upgrade: {e}"));
    let manifest = cluster
        .helm(&helm, &["get", "manifest", "arcane", "-n", "arcane"])
        .await
        .unwrap();
    assert_eq!(crd_count(&manifest), 3, "the upgrade keeps managing the CRDs");
    assert_eq!(
        manifest.matches("helm.sh/resource-policy: keep").count(),
        3,
        "kept on uninstall"
    );
    // (`helm uninstall` itself is not run: the sandbox refuses the empty DeleteOptions body helm
    // sends when it purges the release record.)
    cluster.stop().await;
}
