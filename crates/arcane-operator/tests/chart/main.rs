//! The Helm chart: `helm lint --strict`, and `helm template` output parsed and checked for the
//! restricted security context, the probes, the flags the operator understands, least-privilege
//! RBAC (no Secrets, exactly the verbs the operator uses), the values schema, the PodDisruptionBudget
//! and anti-affinity of several replicas, the required image repository, and alerts and dashboard
//! that read only metrics the operator exports. tests/chart/install.rs installs the chart's CRD part
//! on a sandbox beside CRDs another release owns.
//!
//! helm must be on PATH (or named by `HELM`). Without it these tests skip locally and fail in CI
//! (`CI` set), so a missing install step cannot pass unnoticed.

// Helpers of a test may panic on unexpected output like the tests themselves.
#![allow(clippy::unwrap_used)]

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::Command;

use arcane_testkit::helm::{chart_dir, template};
use serde_json::Value;

mod install;
mod monitoring;
mod schema;

/// The image repository every render sets (the chart has no default).
const IMAGE: &str = "image.repository=registry.example.com/platform/arcane-operator";

/// Every flag of `arcane-operator run` the chart may pass (the CLI implements these names).
const OPERATOR_FLAGS: [&str; 12] = [
    "--namespace",
    "--concurrency",
    "--leader-elect",
    "--lease-name",
    "--lease-namespace",
    "--lease-duration",
    "--renew-deadline",
    "--retry-period",
    "--health-addr",
    "--metrics-addr",
    "--log-format",
    "--log-level",
];

fn manifest_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// helm, or `None` (skip) outside CI; in CI a missing helm is a failure.
fn helm() -> Option<PathBuf> {
    arcane_testkit::helm::helm("the chart tests")
}

/// `helm template` with the image repository and `--set` values; `Err` carries helm's stderr.
fn try_render(helm: &Path, sets: &[&str]) -> Result<Vec<Value>, String> {
    let mut all = vec![IMAGE];
    all.extend_from_slice(sets);
    template(helm, &all)
}

fn render(helm: &Path, sets: &[&str]) -> Vec<Value> {
    try_render(helm, sets).unwrap_or_else(|e| panic!("helm template {sets:?} failed: {e}"))
}

fn of_kind<'a>(docs: &'a [Value], kind: &str) -> Vec<&'a Value> {
    docs.iter().filter(|d| d["kind"] == kind).collect()
}

fn one<'a>(docs: &'a [Value], kind: &str) -> &'a Value {
    let found = of_kind(docs, kind);
    assert_eq!(found.len(), 1, "expected one {kind}");
    found[0]
}

fn strings(v: &Value) -> Vec<String> {
    v.as_array()
        .map(|a| a.iter().filter_map(|s| s.as_str().map(str::to_string)).collect())
        .unwrap_or_default()
}

fn args(docs: &[Value]) -> Vec<String> {
    strings(&one(docs, "Deployment")["spec"]["template"]["spec"]["containers"][0]["args"])
}

const ALL_OPTIONS: [&str; 9] = [
    IMAGE,
    "prometheusRule.enabled=true",
    "grafanaDashboard.enabled=true",
    "leaderElection.enabled=true",
    "replicaCount=2",
    "serviceMonitor.enabled=true",
    "streamKinds[0].apiGroup=streaming.sneaksanddata.com",
    "streamKinds[0].resources={sqlserverstreams,synapsestreams}",
    "extraEnv[0].name=RUST_BACKTRACE,extraEnv[0].value=1",
];

#[test]
fn chart_copy_of_the_crds_equals_deploy_crds() {
    let deploy = std::fs::read_to_string(manifest_dir().join("../../deploy/crds.yaml")).unwrap();
    let chart = std::fs::read_to_string(chart_dir().join("files/crds.yaml")).unwrap();
    assert!(
        deploy == chart,
        "charts/arcane-operator/files/crds.yaml differs from deploy/crds.yaml: copy it again"
    );
}

#[test]
fn helm_lint_passes_strictly() {
    let Some(helm) = helm() else { return };
    for sets in [&[IMAGE][..], &ALL_OPTIONS[..]] {
        let mut cmd = Command::new(&helm);
        cmd.args(["lint", "--strict"]).arg(chart_dir());
        for set in sets {
            cmd.args(["--set", set]);
        }
        let out = cmd.output().unwrap();
        assert!(
            out.status.success(),
            "helm lint {sets:?}:\n{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

#[test]
fn deployment_runs_restricted_with_probes_on_their_ports() {
    let Some(helm) = helm() else { return };
    let docs = render(&helm, &[]);
    let deploy = one(&docs, "Deployment");
    assert_eq!(deploy["spec"]["replicas"], 1);
    assert_eq!(deploy["spec"]["strategy"]["type"], "Recreate");
    let pod = &deploy["spec"]["template"]["spec"];
    let psc = &pod["securityContext"];
    assert_eq!(psc["runAsNonRoot"], true);
    assert_eq!(psc["runAsUser"], 65532);
    assert_eq!(psc["seccompProfile"]["type"], "RuntimeDefault");
    let c = &pod["containers"][0];
    let csc = &c["securityContext"];
    assert_eq!(csc["runAsNonRoot"], true);
    assert_eq!(csc["readOnlyRootFilesystem"], true);
    assert_eq!(csc["allowPrivilegeEscalation"], false);
    assert_eq!(strings(&csc["capabilities"]["drop"]), ["ALL"]);
    assert!(csc["capabilities"]["add"].is_null());
    assert_eq!(csc["seccompProfile"]["type"], "RuntimeDefault");

    let ports: BTreeMap<String, i64> = c["ports"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| {
            (
                p["name"].as_str().unwrap().to_string(),
                p["containerPort"].as_i64().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        ports,
        BTreeMap::from([("metrics".into(), 9090), ("probes".into(), 8888)])
    );
    for (probe, path) in [("livenessProbe", "/health"), ("readinessProbe", "/health/ready")] {
        assert_eq!(c[probe]["httpGet"]["path"], path, "{probe}");
        let port = c[probe]["httpGet"]["port"].as_str().unwrap();
        assert_eq!(ports.get(port), Some(&8888), "{probe} port");
    }
    let a = args(&docs);
    assert!(a.contains(&"--health-addr=0.0.0.0:8888".to_string()), "{a:?}");
    assert!(a.contains(&"--metrics-addr=0.0.0.0:9090".to_string()), "{a:?}");

    let pod_name = c["env"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["name"] == "POD_NAME")
        .unwrap();
    assert_eq!(pod_name["valueFrom"]["fieldRef"]["fieldPath"], "metadata.name");
    assert_eq!(c["resources"]["requests"]["cpu"], "50m");
    assert_eq!(c["resources"]["limits"]["memory"], "256Mi");
    assert_eq!(
        pod["serviceAccountName"],
        one(&docs, "ServiceAccount")["metadata"]["name"]
    );
}

#[test]
fn chart_passes_only_flags_the_operator_knows() {
    let Some(helm) = helm() else { return };
    let cases: [(&[&str], &[&str]); 3] = [
        (&[], &["--concurrency=8", "--log-format=json", "--log-level=info"]),
        (
            &[
                "leaderElection.enabled=true",
                "watchNamespace=streams",
                "concurrency=3",
            ],
            &[
                "--leader-elect",
                "--lease-name=t-arcane-operator",
                "--lease-namespace=arcane",
                "--lease-duration=15s",
                "--renew-deadline=10s",
                "--retry-period=2s",
                "--namespace=streams",
                "--concurrency=3",
            ],
        ),
        (
            &[
                "leaderElection.enabled=true",
                "leaderElection.leaseName=x",
                "leaderElection.leaseNamespace=y",
            ],
            &["--lease-name=x", "--lease-namespace=y"],
        ),
    ];
    for (sets, expected) in cases {
        let a = args(&render(&helm, sets));
        for arg in &a {
            let flag = arg.split('=').next().unwrap_or_default();
            assert!(OPERATOR_FLAGS.contains(&flag), "unknown flag {arg} with {sets:?}");
        }
        for want in expected {
            assert!(a.iter().any(|x| x == want), "{want} missing with {sets:?}: {a:?}");
        }
    }
    let plain = args(&render(&helm, &[]));
    assert!(
        !plain
            .iter()
            .any(|a| a.starts_with("--lease") || a == "--leader-elect" || a.starts_with("--namespace"))
    );
}

#[test]
fn replicas_need_leader_election() {
    let Some(helm) = helm() else { return };
    let refused = try_render(&helm, &["replicaCount=2"]);
    assert!(
        matches!(&refused, Err(e) if e.contains("leaderElection")),
        "{refused:?}"
    );
    let docs = render(&helm, &["replicaCount=2", "leaderElection.enabled=true"]);
    let deploy = one(&docs, "Deployment");
    assert_eq!(deploy["spec"]["replicas"], 2);
    assert_eq!(deploy["spec"]["strategy"]["type"], "RollingUpdate");
}

/// (apiGroup, resource, resourceNames) → verbs, over every ClusterRole and Role.
type Grants = BTreeMap<(String, String, Vec<String>), BTreeSet<String>>;

fn grants(docs: &[Value]) -> Grants {
    let mut out = Grants::new();
    for role in of_kind(docs, "ClusterRole")
        .into_iter()
        .chain(of_kind(docs, "Role"))
    {
        for rule in role["rules"].as_array().unwrap() {
            let names = strings(&rule["resourceNames"]);
            for group in strings(&rule["apiGroups"]) {
                for resource in strings(&rule["resources"]) {
                    let verbs = out.entry((group.clone(), resource, names.clone())).or_default();
                    verbs.extend(strings(&rule["verbs"]));
                }
            }
        }
    }
    out
}

#[test]
fn rbac_grants_exactly_what_the_operator_uses_and_no_secrets() {
    let Some(helm) = helm() else { return };
    let docs = render(&helm, &ALL_OPTIONS);
    let g = grants(&docs);
    for ((group, resource, _), verbs) in &g {
        assert!(
            !resource.contains("secret"),
            "Secrets must not be granted: {group}/{resource}"
        );
        assert!(
            resource != "*" && group != "*" && !verbs.contains("*"),
            "no wildcards: {group}/{resource} {verbs:?}"
        );
    }
    let set = |v: &[&str]| {
        v.iter()
            .map(std::string::ToString::to_string)
            .collect::<BTreeSet<_>>()
    };
    let key = |g: &str, r: &str| (g.to_string(), r.to_string(), Vec::new());
    // The verbs a run of the operator uses (the production tests audit them); reads come from
    // watch caches and every write to status is a merge patch.
    let read = ["list", "watch"];
    let status = ["patch"];
    let sg = "streaming.sneaksanddata.com";
    let mut expected = Grants::new();
    expected.insert(key("batch", "jobs"), set(&["list", "watch", "create", "delete"]));
    expected.insert(
        key("batch", "cronjobs"),
        set(&["list", "watch", "create", "delete"]),
    );
    expected.insert(
        key(sg, "backfillrequests"),
        set(&["get", "list", "watch", "create", "patch"]),
    );
    expected.insert(key(sg, "backfillrequests/status"), set(&status));
    expected.insert(key(sg, "streamclasses"), set(&read));
    expected.insert(key(sg, "streamclasses/status"), set(&status));
    expected.insert(key(sg, "streamingjobtemplates"), set(&read));
    expected.insert(key("events.k8s.io", "events"), set(&["create", "patch"]));
    for stream in ["sqlserverstreams", "synapsestreams"] {
        expected.insert(key(sg, stream), set(&["get", "list", "watch", "patch"]));
        expected.insert(key(sg, &format!("{stream}/status")), set(&status));
        // Jobs carry blockOwnerDeletion on their stream owner reference.
        expected.insert(key(sg, &format!("{stream}/finalizers")), set(&["update"]));
    }
    expected.insert(key("coordination.k8s.io", "leases"), set(&["create"]));
    expected.insert(
        (
            "coordination.k8s.io".into(),
            "leases".into(),
            vec!["t-arcane-operator".into()],
        ),
        set(&["get", "update"]),
    );
    assert_eq!(g, expected);

    let lease_role = one(&docs, "Role");
    assert_eq!(
        lease_role["metadata"]["namespace"], "arcane",
        "leases only in the release namespace"
    );
    let no_leader = grants(&render(&helm, &[]));
    assert!(!no_leader.keys().any(|(g, _, _)| g == "coordination.k8s.io"));
}

#[test]
fn namespace_restriction_binds_namespaced_rights_in_that_namespace_only() {
    let Some(helm) = helm() else { return };
    let open = render(&helm, &[]);
    assert_eq!(of_kind(&open, "ClusterRoleBinding").len(), 2);
    assert!(of_kind(&open, "RoleBinding").is_empty());

    let docs = render(&helm, &["watchNamespace=streams"]);
    let bindings = of_kind(&docs, "ClusterRoleBinding");
    assert_eq!(
        bindings.len(),
        1,
        "only the cluster-scoped rights stay cluster-wide"
    );
    assert_eq!(bindings[0]["roleRef"]["name"], "t-arcane-operator-cluster");
    let rb = one(&docs, "RoleBinding");
    assert_eq!(rb["metadata"]["namespace"], "streams");
    assert_eq!(rb["roleRef"]["name"], "t-arcane-operator");
    assert_eq!(rb["subjects"][0]["namespace"], "arcane");
}

#[test]
fn crds_render_from_the_chart_copy_and_can_be_left_out() {
    let Some(helm) = helm() else { return };
    let deploy = std::fs::read_to_string(manifest_dir().join("../../deploy/crds.yaml")).unwrap();
    let mut source: Vec<Value> = serde_saphyr::from_multiple(&deploy).unwrap();
    source.retain(Value::is_object);
    let docs = render(&helm, &[]);
    let crds = of_kind(&docs, "CustomResourceDefinition");
    assert_eq!(crds.len(), 3);
    for (rendered, original) in crds.iter().zip(&source) {
        assert_eq!(
            rendered["spec"], original["spec"],
            "{}",
            original["metadata"]["name"]
        );
        assert_eq!(rendered["metadata"]["name"], original["metadata"]["name"]);
        assert_eq!(
            rendered["metadata"]["annotations"]["helm.sh/resource-policy"],
            "keep"
        );
    }
    assert!(
        of_kind(
            &render(&helm, &["crds.install=false"]),
            "CustomResourceDefinition"
        )
        .is_empty()
    );
}

#[test]
fn metrics_service_and_optional_service_monitor() {
    let Some(helm) = helm() else { return };
    let docs = render(&helm, &[]);
    assert!(of_kind(&docs, "ServiceMonitor").is_empty(), "off by default");
    let svc = one(&docs, "Service");
    assert_eq!(svc["spec"]["ports"][0]["port"], 9090);
    assert_eq!(svc["spec"]["ports"][0]["targetPort"], "metrics");
    let pod_labels = &one(&docs, "Deployment")["spec"]["template"]["metadata"]["labels"];
    for (k, v) in svc["spec"]["selector"].as_object().unwrap() {
        assert_eq!(&pod_labels[k], v, "service selects the operator pod");
    }
    let monitored = render(&helm, &["serviceMonitor.enabled=true"]);
    let sm = one(&monitored, "ServiceMonitor");
    assert_eq!(sm["spec"]["endpoints"][0]["port"], "metrics");
    assert_eq!(sm["spec"]["endpoints"][0]["path"], "/metrics");
}

fn pod_spec(docs: &[Value]) -> &Value {
    &one(docs, "Deployment")["spec"]["template"]["spec"]
}

#[test]
fn rendering_fails_without_image_repository_and_the_tag_defaults_to_app_version() {
    let Some(helm) = helm() else { return };
    let refused = template(&helm, &[]);
    assert!(
        matches!(&refused, Err(e) if e.contains("image.repository is required")),
        "{refused:?}"
    );
    let chart = std::fs::read_to_string(chart_dir().join("Chart.yaml")).unwrap();
    let app_version = chart
        .lines()
        .find_map(|l| l.strip_prefix("appVersion: "))
        .unwrap()
        .trim_matches('"');
    let image = |sets: &[&str]| pod_spec(&render(&helm, sets))["containers"][0]["image"].clone();
    assert_eq!(
        image(&[]),
        format!("registry.example.com/platform/arcane-operator:{app_version}")
    );
    assert_eq!(
        image(&["image.tag=abc"]),
        "registry.example.com/platform/arcane-operator:abc"
    );
    let digest = format!("sha256:{}", "a".repeat(64));
    assert_eq!(
        image(&[&format!("image.digest={digest}")]),
        format!("registry.example.com/platform/arcane-operator@{digest}")
    );
}

#[test]
fn disruption_budget_and_anti_affinity_only_with_several_replicas() {
    let Some(helm) = helm() else { return };
    let single = render(&helm, &[]);
    assert!(
        of_kind(&single, "PodDisruptionBudget").is_empty(),
        "one replica: a PDB would block drains"
    );
    assert!(pod_spec(&single)["affinity"].is_null());
    let single_elected = render(&helm, &["leaderElection.enabled=true"]);
    assert!(of_kind(&single_elected, "PodDisruptionBudget").is_empty());
    assert!(pod_spec(&single_elected)["affinity"].is_null());

    let several = ["leaderElection.enabled=true", "replicaCount=3"];
    let docs = render(&helm, &several);
    let pdb = one(&docs, "PodDisruptionBudget");
    assert_eq!(pdb["spec"]["maxUnavailable"], 1);
    let pod_labels = &one(&docs, "Deployment")["spec"]["template"]["metadata"]["labels"];
    let selects_pods = |selector: &Value| {
        let labels = selector["matchLabels"].as_object().unwrap();
        assert!(!labels.is_empty());
        for (k, v) in labels {
            assert_eq!(&pod_labels[k], v, "selector {k}");
        }
    };
    selects_pods(&pdb["spec"]["selector"]);
    let anti = &pod_spec(&docs)["affinity"]["podAntiAffinity"];
    assert!(
        anti["requiredDuringSchedulingIgnoredDuringExecution"].is_null(),
        "soft by default"
    );
    let preferred = &anti["preferredDuringSchedulingIgnoredDuringExecution"][0];
    assert_eq!(preferred["weight"], 100);
    assert_eq!(
        preferred["podAffinityTerm"]["topologyKey"],
        "kubernetes.io/hostname"
    );
    selects_pods(&preferred["podAffinityTerm"]["labelSelector"]);

    let hard = render(&helm, &[several[0], several[1], "podAntiAffinity.type=hard"]);
    let required =
        &pod_spec(&hard)["affinity"]["podAntiAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"][0];
    assert_eq!(required["topologyKey"], "kubernetes.io/hostname");
    let none = render(&helm, &[several[0], several[1], "podAntiAffinity.type=none"]);
    assert!(pod_spec(&none)["affinity"].is_null());
    let no_pdb = render(
        &helm,
        &[several[0], several[1], "podDisruptionBudget.enabled=false"],
    );
    assert!(of_kind(&no_pdb, "PodDisruptionBudget").is_empty());

    // The user's affinity is kept, and its own podAntiAffinity wins over the chart's.
    let node = "affinity.nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution.nodeSelectorTerms[0].matchExpressions[0].key=pool,affinity.nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution.nodeSelectorTerms[0].matchExpressions[0].operator=Exists";
    let merged = render(&helm, &[several[0], several[1], node]);
    let affinity = &pod_spec(&merged)["affinity"];
    assert!(affinity["nodeAffinity"].is_object());
    assert!(affinity["podAntiAffinity"]["preferredDuringSchedulingIgnoredDuringExecution"].is_array());
    let own = "affinity.podAntiAffinity.requiredDuringSchedulingIgnoredDuringExecution[0].topologyKey=zone";
    let replaced = render(&helm, &[several[0], several[1], own]);
    let anti = &pod_spec(&replaced)["affinity"]["podAntiAffinity"];
    assert!(anti["preferredDuringSchedulingIgnoredDuringExecution"].is_null());
    assert_eq!(
        anti["requiredDuringSchedulingIgnoredDuringExecution"][0]["topologyKey"],
        "zone"
    );
}
