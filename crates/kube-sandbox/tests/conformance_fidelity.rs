//! Issue 13 with the real kubectl: names as upstream validates them, `x-kubernetes-embedded-resource` (and its metadata),
//! Job defaulting, a CRD and its objects in one file (`/openapi/v2`), simulated Pods and `kubectl logs`.

#![allow(clippy::unwrap_used)]

mod conformance_common;

use conformance_common::*;
use kube_sandbox::SandboxConfig;
use kube_sandbox::controllers::ControllerConfig;

const TEMPLATES_CRD: &str = r#"apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata:
  name: jobtemplates.example.com
spec:
  group: example.com
  scope: Namespaced
  names: {plural: jobtemplates, singular: jobtemplate, kind: JobTemplate}
  versions:
  - name: v1
    served: true
    storage: true
    schema:
      openAPIV3Schema:
        type: object
        properties:
          spec:
            type: object
            x-kubernetes-embedded-resource: true
            x-kubernetes-preserve-unknown-fields: true
"#;

fn widget(name: &str) -> String {
    format!(
        "apiVersion: example.com/v1\nkind: Widget\nmetadata:\n  name: {name}\n  namespace: default\nspec:\n  size: 1\n"
    )
}

/// Names: 253-character subdomains (no 63-character cap per dot-separated part), namespaces as 63-character
/// labels, CronJobs at most 52 characters, Jobs whose name cannot be a label value refused by the label check.
#[tokio::test]
async fn names_as_upstream() {
    let e = env("names").await;
    e.install_widgets().await;
    let long = "a".repeat(70);
    let f = e.file("long.yaml", &widget(&long));
    e.kubectl(&["create", "-f", path_str(&f)]).await.ok();
    let max = format!("{}.{}", "b".repeat(200), "c".repeat(52));
    assert_eq!(max.len(), 253);
    let f = e.file("max.yaml", &widget(&max));
    e.kubectl(&["create", "-f", path_str(&f)]).await.ok();
    let too_long = "d".repeat(254);
    let f = e.file("too-long.yaml", &widget(&too_long));
    e.kubectl(&["create", "-f", path_str(&f)]).await.fails_with(&format!(
        "The Widget \"{too_long}\" is invalid: metadata.name: Invalid value: \"{too_long}\": must be no more than 253 characters"
    ));
    let ns = "n".repeat(64);
    let ns_yaml = format!("apiVersion: v1\nkind: Namespace\nmetadata:\n  name: {ns}\n");
    let out = e.kubectl_stdin(&["create", "-f", "-"], Some(&ns_yaml)).await;
    out.fails_with(&format!(
        "metadata.name: Invalid value: \"{ns}\": must be no more than 63 characters"
    ));
    let cj = "c".repeat(53);
    let cj_yaml = format!(
        "apiVersion: batch/v1\nkind: CronJob\nmetadata:\n  name: {cj}\n  namespace: default\nspec:\n  schedule: '* * * * *'\n  jobTemplate:\n    spec:\n      template:\n        spec:\n          restartPolicy: Never\n          containers: [{{name: c, image: busybox}}]\n"
    );
    let out = e.kubectl_stdin(&["create", "-f", "-"], Some(&cj_yaml)).await;
    out.fails_with("must be no more than 52 characters");
    let job = "j".repeat(64);
    let job_yaml = format!(
        "apiVersion: batch/v1\nkind: Job\nmetadata:\n  name: {job}\n  namespace: default\nspec:\n  template:\n    spec:\n      restartPolicy: Never\n      containers: [{{name: c, image: busybox}}]\n"
    );
    let out = e.kubectl_stdin(&["create", "-f", "-"], Some(&job_yaml)).await;
    out.fails_with(&format!(
        "spec.template.labels: Invalid value: \"{job}\": must be no more than 63 characters"
    ));
}

/// An embedded resource without apiVersion/kind is refused with 422 and upstream's messages; with them, its
/// metadata and unknown fields are kept.
#[tokio::test]
async fn embedded_resource_needs_api_version_and_kind() {
    let e = env("embedded").await;
    let crd = e.file("crd.yaml", TEMPLATES_CRD);
    e.kubectl(&["apply", "-f", path_str(&crd)]).await.ok();
    e.kubectl(&[
        "wait",
        "--for",
        "condition=established",
        "crd/jobtemplates.example.com",
        "--timeout=10s",
    ])
    .await
    .ok();
    let bad = "apiVersion: example.com/v1\nkind: JobTemplate\nmetadata: {name: t, namespace: default}\nspec:\n  metadata: {labels: {a: b}}\n  spec: {parallelism: 1}\n";
    let out = e.kubectl_stdin(&["create", "-f", "-"], Some(bad)).await;
    out.fails_with(r#"The JobTemplate "t" is invalid: "#);
    out.fails_with("spec.apiVersion: Required value: must not be empty");
    out.fails_with("spec.kind: Required value: must not be empty");
    assert!(
        e.requests()
            .iter()
            .any(|r| r.method == "POST" && r.path.ends_with("/jobtemplates") && r.status == 422),
        "refused with 422"
    );
    // Its metadata is validated as upstream's ValidateObjectMeta does: labels, annotations, names.
    let bad_labels = "apiVersion: example.com/v1\nkind: JobTemplate\nmetadata: {name: t, namespace: default}\nspec:\n  apiVersion: batch/v1\n  kind: Job\n  metadata: {labels: {team: \"Équipe\", ok: ALICE}}\n";
    let out = e.kubectl_stdin(&["create", "-f", "-"], Some(bad_labels)).await;
    out.fails_with(r#"The JobTemplate "t" is invalid: spec.metadata.labels: Invalid value: "Équipe": a valid label must be an empty string or consist of alphanumeric characters"#);
    let good = "apiVersion: example.com/v1\nkind: JobTemplate\nmetadata: {name: t, namespace: default}\nspec:\n  apiVersion: batch/v1\n  kind: Job\n  metadata: {labels: {a: b}}\n  spec: {parallelism: 1}\n";
    e.kubectl_stdin(&["create", "-f", "-"], Some(good)).await.ok();
    let got = e
        .kubectl(&[
            "get",
            "jobtemplate",
            "t",
            "-o",
            "jsonpath={.spec.metadata.labels.a}/{.spec.spec.parallelism}",
        ])
        .await;
    assert_eq!(got.ok(), "b/1");
}

/// `SetDefaults_Job`: podFailurePolicy condition status, backoffLimit with backoffLimitPerIndex, and the rest.
#[tokio::test]
async fn job_defaults_as_upstream() {
    let e = env("job-defaults").await;
    let job = "apiVersion: batch/v1\nkind: Job\nmetadata: {name: pfp, namespace: default}\nspec:\n  completionMode: Indexed\n  completions: 2\n  backoffLimitPerIndex: 1\n  podFailurePolicy:\n    rules:\n    - action: Ignore\n      onPodConditions: [{type: DisruptionTarget}]\n  template:\n    spec:\n      restartPolicy: Never\n      containers: [{name: c, image: busybox}]\n";
    e.kubectl_stdin(&["create", "-f", "-"], Some(job)).await.ok();
    let spec = e.kubectl(&["get", "job", "pfp", "-o", "jsonpath={.spec}"]).await;
    let spec: serde_json::Value = serde_json::from_str(spec.ok()).unwrap();
    assert_eq!(
        spec["podFailurePolicy"]["rules"][0]["onPodConditions"][0]["status"],
        "True"
    );
    assert_eq!(spec["backoffLimit"], 2147483647);
    assert_eq!(spec["parallelism"], 1);
    assert_eq!(spec["suspend"], false);
    assert_eq!(spec["manualSelector"], false);
    assert_eq!(spec["podReplacementPolicy"], "Failed");
    let labels = e
        .kubectl(&["get", "job", "pfp", "-o", "jsonpath={.metadata.labels.job-name}"])
        .await;
    assert_eq!(labels.ok(), "pfp", "a Job without labels gets its template's");
}

/// A CRD and its objects in one file: kubectl's message is the real server's (needs `/openapi/v2`).
#[tokio::test]
async fn crd_and_objects_in_one_file() {
    let e = env("crd-and-objects").await;
    let both = format!("{CRD_YAML}---\n{}", widget("w"));
    let f = e.file("both.yaml", &both);
    let out = e.kubectl(&["apply", "-f", path_str(&f)]).await;
    out.fails_with(r#"no matches for kind "Widget" in version "example.com/v1""#);
    out.fails_with("ensure CRDs are installed first");
    assert!(
        out.stdout
            .contains("customresourcedefinition.apiextensions.k8s.io/widgets.example.com created")
    );
    eventually("the CRD is established", 10, || async {
        e.kubectl(&["get", "widgets"]).await.code == 0
    })
    .await;
    let again = e.kubectl(&["apply", "-f", path_str(&f)]).await;
    assert!(
        again.ok().contains("widget.example.com/w created"),
        "{}",
        again.stdout
    );
}

/// Simulated Pods: owner reference, job-name/controller-uid labels, phase following the Job; `kubectl logs`.
#[tokio::test]
async fn pods_and_logs_of_jobs() {
    let e = env_with(
        "pods-logs",
        SandboxConfig {
            controllers: ControllerConfig {
                simulate_pods: true,
                ..fast_controllers()
            },
            ..SandboxConfig::default()
        },
    )
    .await;
    let job = "apiVersion: batch/v1\nkind: Job\nmetadata: {name: x, namespace: default}\nspec:\n  template:\n    spec:\n      restartPolicy: Never\n      containers: [{name: work, image: busybox}]\n";
    e.kubectl_stdin(&["create", "-f", "-"], Some(job)).await.ok();
    e.kubectl(&["wait", "--for=condition=complete", "job/x", "--timeout=10s"])
        .await
        .ok();
    let pod = e
        .kubectl(&["get", "pods", "-l", "job-name=x", "-o", "jsonpath={.items[0]}"])
        .await;
    let pod: serde_json::Value = serde_json::from_str(pod.ok()).unwrap();
    assert_eq!(pod["status"]["phase"], "Succeeded");
    assert_eq!(pod["metadata"]["ownerReferences"][0]["kind"], "Job");
    assert!(pod["metadata"]["labels"]["controller-uid"].is_string());
    assert_eq!(pod["status"]["containerStatuses"][0]["name"], "work");
    let table = e.kubectl(&["get", "pods"]).await;
    assert!(table.ok().contains("Completed"), "{}", table.stdout);
    let logs = e.kubectl(&["logs", "job/x"]).await;
    assert!(logs.ok().contains("container work in pod x-"), "{}", logs.stdout);
    let pod_name = pod["metadata"]["name"].as_str().unwrap();
    let tail = e.kubectl(&["logs", pod_name, "--tail=1"]).await;
    assert_eq!(tail.ok().lines().count(), 1);
    e.kubectl(&["logs", pod_name, "-c", "nope"])
        .await
        .fails_with(&format!("container nope is not valid for pod {pod_name}"));
}

/// kubectl's imperative generators send protobuf: Jobs, CronJobs and `create job --from=cronjob/x` are decoded
/// (with the CronJob as owner and the `cronjob.kubernetes.io/instantiate` annotation kubectl sets).
#[tokio::test]
async fn imperative_jobs_and_job_from_cronjob() {
    let e = env("imperative-jobs").await;
    e.kubectl(&["create", "job", "x", "--image=busybox", "--", "echo", "hi"])
        .await
        .ok();
    let cmd = e
        .kubectl(&[
            "get",
            "job",
            "x",
            "-o",
            "jsonpath={.spec.template.spec.containers[0].command}",
        ])
        .await;
    assert_eq!(cmd.ok(), r#"["echo","hi"]"#);
    e.kubectl(&[
        "create",
        "cronjob",
        "cj",
        "--image=busybox",
        "--schedule=*/5 * * * *",
        "--",
        "date",
    ])
    .await
    .ok();
    let out = e
        .kubectl(&["create", "job", "from-cj", "--from=cronjob/cj"])
        .await;
    assert_eq!(out.ok().trim(), "job.batch/from-cj created");
    let job = e.kubectl(&["get", "job", "from-cj", "-o", "json"]).await;
    let job: serde_json::Value = serde_json::from_str(job.ok()).unwrap();
    assert_eq!(job["metadata"]["ownerReferences"][0]["kind"], "CronJob");
    assert_eq!(
        job["metadata"]["annotations"]["cronjob.kubernetes.io/instantiate"],
        "manual"
    );
    assert_eq!(
        job["spec"]["template"]["spec"]["containers"][0]["command"][0],
        "date"
    );
    assert_eq!(
        job["spec"]["template"]["spec"]["terminationGracePeriodSeconds"],
        30
    );
    assert!(job["spec"]["template"]["metadata"].get("generation").is_none());
    assert!(
        e.requests()
            .iter()
            .any(|r| r.method == "POST" && r.path.ends_with("/jobs") && r.status == 201),
        "created through the API"
    );
}

/// `kubectl apply` with validation on (the default: `fieldValidation=Strict`) works for built-in kinds and
/// refuses their unknown fields as a real server does; `--validate=warn` / `false` drop them.
#[tokio::test]
async fn built_in_kinds_validate_unknown_fields() {
    let e = env("builtin-fields").await;
    let job = "apiVersion: batch/v1\nkind: Job\nmetadata: {name: ok, namespace: default}\nspec:\n  template:\n    spec:\n      restartPolicy: Never\n      containers: [{name: c, image: busybox}]\n";
    let f = e.file("job.yaml", job);
    let out = e.kubectl(&["apply", "-f", path_str(&f)]).await;
    assert!(out.ok().contains("job.batch/ok created"), "{}", out.stdout);
    let bad =
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: cm, namespace: default}\ndata: {a: b}\nfoo: bar\n";
    let f = e.file("cm.yaml", bad);
    e.kubectl(&["apply", "-f", path_str(&f)]).await.fails_with(
        r#"ConfigMap in version "v1" cannot be handled as a ConfigMap: strict decoding error: unknown field "foo""#,
    );
    let warned = e.kubectl(&["apply", "--validate=warn", "-f", path_str(&f)]).await;
    assert!(
        warned.ok().contains("configmap/cm created") && warned.stderr.contains(r#"unknown field "foo""#),
        "{} {}",
        warned.stdout,
        warned.stderr
    );
    let stored = e.kubectl(&["get", "cm", "cm", "-o", "json"]).await;
    let stored: serde_json::Value = serde_json::from_str(stored.ok()).unwrap();
    assert!(stored.get("foo").is_none(), "dropped as upstream's decoding does");
    assert_eq!(stored["data"]["a"], "b");
}
