//! apiserver-fidelity §6 checks that use the real `kubectl` (the gcloud dispatcher on PATH), each test with its
//! own Sandbox on an ephemeral port and its own HOME.

#![allow(clippy::unwrap_used)]

mod conformance_common;

use std::time::Duration;

use conformance_common::*;
use kube_sandbox::SandboxConfig;
use kube_sandbox::controllers::ControllerConfig;
use serde_json::Value;

fn json_of(out: &Out) -> Value {
    serde_json::from_str(out.ok()).unwrap()
}

async fn widget(e: &Env, name: &str) -> Value {
    json_of(&e.kubectl(&["get", "widget", name, "-o", "json"]).await)
}

/// §6.1 dispatcher version, §6.3 api-resources, §6.4 CRD establishment.
#[tokio::test]
async fn dispatcher_discovery_and_crd_establishment() {
    let e = env("dispatch").await;
    e.kubectl(&["get", "ns"]).await.ok();
    let log = e.requests();
    let first = log.first().expect("requests logged");
    assert_eq!((first.method.as_str(), first.path.as_str()), ("GET", "/version"));
    assert_eq!(first.query, "timeout=5s");
    assert!(
        first.user_agent.starts_with("kubectl-dispatcher/"),
        "{}",
        first.user_agent
    );
    assert!(
        log[1..]
            .iter()
            .all(|r| r.user_agent.starts_with("kubectl/v1.33.1")),
        "bundled kubectl 1.33 chosen"
    );

    e.install_widgets().await;
    let reasons = e
        .kubectl(&[
            "get",
            "crd",
            "widgets.example.com",
            "-o",
            "jsonpath={.status.conditions[*].reason}",
        ])
        .await;
    assert!(
        reasons.ok().contains("NoConflicts") && reasons.ok().contains("InitialNamesAccepted"),
        "{reasons:?}"
    );
    let resources = e.kubectl(&["api-resources"]).await;
    let line = resources
        .ok()
        .lines()
        .find(|l| l.starts_with("widgets "))
        .expect("widgets listed");
    let cols: Vec<&str> = line.split_whitespace().collect();
    assert_eq!(cols, ["widgets", "example.com/v1", "true", "Widget"]);
}

/// §6.5 create -f with server-side validation, §6.6 strict unknown field, §6.7 AlreadyExists, §6.9 conflict.
#[tokio::test]
async fn create_validation_and_write_errors() {
    let e = env("create").await;
    e.install_widgets().await;
    let w = e.file("w.yaml", WIDGET_YAML);
    let out = e.kubectl(&["create", "-f", path_str(&w)]).await;
    assert_eq!(out.ok().trim(), "widget.example.com/w created");
    assert!(
        e.requests().iter().any(|r| r.method == "POST"
            && r.path.ends_with("/widgets")
            && r.query_param("fieldValidation").as_deref() == Some("Strict")),
        "kubectl used server-side strict validation"
    );

    let bogus = e.file(
        "bogus.yaml",
        &WIDGET_YAML
            .replace("name: w", "name: w2")
            .replace("size: 1", "size: 1\n  bogus: 1"),
    );
    e.kubectl(&["create", "-f", path_str(&bogus)]).await.fails_with(
        r#"Widget in version "v1" cannot be handled as a Widget: strict decoding error: unknown field "spec.bogus""#,
    );
    e.kubectl(&["create", "--validate=false", "-f", path_str(&bogus)])
        .await
        .ok();
    assert_eq!(
        widget(&e, "w2").await["spec"],
        serde_json::json!({"size": 1}),
        "unknown field pruned"
    );

    e.kubectl(&["create", "-f", path_str(&w)])
        .await
        .fails_with(r#"Error from server (AlreadyExists): error when creating "#);
    let again = e.kubectl(&["create", "-f", path_str(&w)]).await;
    assert!(
        again.stderr.contains(r#"widgets.example.com "w" already exists"#),
        "{}",
        again.stderr
    );

    let rv = e
        .kubectl(&["get", "widget", "w", "-o", "jsonpath={.metadata.resourceVersion}"])
        .await
        .ok()
        .to_owned();
    e.kubectl(&["label", "widget", "w", "a=1"]).await.ok();
    let mut stale = widget(&e, "w").await;
    stale["metadata"]["resourceVersion"] = Value::String(rv);
    let replaced = e
        .kubectl_stdin(&["replace", "-f", "-"], Some(&stale.to_string()))
        .await;
    replaced.fails_with("Error from server (Conflict)");
    assert!(
        replaced.stderr.contains(
            r#"Operation cannot be fulfilled on widgets.example.com "w": the object has been modified; please apply your changes to the latest version and try again"#
        ),
        "{}",
        replaced.stderr
    );
}

/// §6.11 status scoping, §6.12 generation, §6.13 no-op writes emit nothing.
#[tokio::test]
async fn status_scoping_generation_and_noop_writes() {
    let e = env("status").await;
    e.install_widgets().await;
    e.kubectl(&["create", "-f", path_str(&e.file("w.yaml", WIDGET_YAML))])
        .await
        .ok();
    let before = widget(&e, "w").await;
    e.kubectl(&[
        "patch",
        "widget",
        "w",
        "--subresource",
        "status",
        "--type",
        "merge",
        "-p",
        r#"{"status":{"ready":true},"metadata":{"labels":{"z":"1"}},"spec":{"size":9}}"#,
    ])
    .await
    .ok();
    let after = widget(&e, "w").await;
    assert_eq!(after["status"]["ready"], true);
    assert!(
        after["metadata"]["labels"]["z"].is_null(),
        "status writes drop metadata changes"
    );
    assert_eq!(after["spec"]["size"], 1);
    assert_eq!(after["metadata"]["generation"], before["metadata"]["generation"]);
    e.kubectl(&[
        "patch",
        "widget",
        "w",
        "--type",
        "merge",
        "-p",
        r#"{"status":{"ready":false}}"#,
    ])
    .await
    .ok();
    let unchanged = widget(&e, "w").await;
    assert_eq!(unchanged["status"]["ready"], true);
    assert_eq!(
        unchanged["metadata"]["resourceVersion"],
        after["metadata"]["resourceVersion"]
    );

    e.kubectl(&[
        "patch",
        "widget",
        "w",
        "--type",
        "merge",
        "-p",
        r#"{"spec":{"size":2}}"#,
    ])
    .await
    .ok();
    let resized = widget(&e, "w").await;
    assert_eq!(
        resized["metadata"]["generation"].as_i64(),
        after["metadata"]["generation"].as_i64().map(|g| g + 1)
    );
    e.kubectl(&["label", "widget", "w", "b=2"]).await.ok();
    let labelled = widget(&e, "w").await;
    assert_eq!(
        labelled["metadata"]["generation"],
        resized["metadata"]["generation"]
    );
    assert_ne!(
        labelled["metadata"]["resourceVersion"],
        resized["metadata"]["resourceVersion"]
    );

    let watcher = WatchProcess::start(&e, &["get", "widget", "w", "-w", "--output-watch-events"]).await;
    let first = e
        .kubectl(&[
            "patch",
            "widget",
            "w",
            "--type",
            "merge",
            "-p",
            r#"{"spec":{"size":3}}"#,
        ])
        .await;
    assert!(first.ok().contains("patched"));
    let rv = widget(&e, "w").await["metadata"]["resourceVersion"].clone();
    let second = e
        .kubectl(&[
            "patch",
            "widget",
            "w",
            "--type",
            "merge",
            "-p",
            r#"{"spec":{"size":3}}"#,
        ])
        .await;
    assert!(second.ok().contains("patched (no change)"), "{second:?}");
    assert_eq!(widget(&e, "w").await["metadata"]["resourceVersion"], rv);
    let lines = watcher.stop_after(Duration::from_millis(500)).await;
    assert_eq!(
        lines.iter().filter(|l| l.starts_with("MODIFIED")).count(),
        1,
        "{lines:?}"
    );
}

/// §6.14 finalizer deletion, §6.15 the JSON-patch `test` of a missing path against null.
#[tokio::test]
async fn finalizers_and_json_patch_null_test() {
    let e = env("finalize").await;
    e.install_widgets().await;
    e.kubectl(&["create", "-f", path_str(&e.file("w.yaml", WIDGET_YAML))])
        .await
        .ok();
    let patch = r#"[{"op":"test","path":"/metadata/finalizers","value":null},{"op":"add","path":"/metadata/finalizers","value":["a/b"]}]"#;
    assert!(
        e.kubectl(&["patch", "widget", "w", "--type", "json", "-p", patch])
            .await
            .ok()
            .contains("patched")
    );
    let rerun = e
        .kubectl(&["patch", "widget", "w", "--type", "json", "-p", patch])
        .await;
    assert_ne!(rerun.code, 0, "the test op now fails");
    assert!(
        rerun.stderr.contains("Invalid")
            || rerun.stderr.contains("UnprocessableEntity")
            || rerun.stderr.contains("test"),
        "{}",
        rerun.stderr
    );

    e.kubectl(&[
        "patch",
        "widget",
        "w",
        "--type",
        "merge",
        "-p",
        r#"{"metadata":{"finalizers":["example.com/x"]}}"#,
    ])
    .await
    .ok();
    let generation = widget(&e, "w").await["metadata"]["generation"].as_i64().unwrap();
    e.kubectl(&["delete", "widget", "w", "--wait=false"]).await.ok();
    let marked = widget(&e, "w").await;
    assert!(marked["metadata"]["deletionTimestamp"].is_string());
    assert_eq!(marked["metadata"]["deletionGracePeriodSeconds"], 0);
    assert_eq!(marked["metadata"]["generation"].as_i64(), Some(generation + 1));
    e.kubectl(&[
        "patch",
        "widget",
        "w",
        "--type",
        "merge",
        "-p",
        r#"{"metadata":{"finalizers":["example.com/y","example.com/x"]}}"#,
    ])
    .await
    .fails_with("no new finalizers can be added if the object is being deleted");
    let watcher = WatchProcess::start(&e, &["get", "widget", "w", "-w", "--output-watch-events"]).await;
    e.kubectl(&[
        "patch",
        "widget",
        "w",
        "--type",
        "json",
        "-p",
        r#"[{"op":"remove","path":"/metadata/finalizers"}]"#,
    ])
    .await
    .ok();
    e.kubectl(&["get", "widget", "w"]).await.fails_with("NotFound");
    let lines = watcher.stop_after(Duration::from_millis(500)).await;
    let kinds: Vec<&str> = lines.iter().filter_map(|l| l.split_whitespace().next()).collect();
    assert!(kinds.ends_with(&["MODIFIED", "DELETED"]), "{lines:?}");
}

/// Runs `kubectl … -w` in the background and returns its output lines when stopped.
struct WatchProcess {
    child: tokio::process::Child,
}

impl WatchProcess {
    async fn start(e: &Env, args: &[&str]) -> Self {
        let mut cmd = tokio::process::Command::new(kubectl_path());
        cmd.arg("--kubeconfig")
            .arg(&e.kubeconfig)
            .args(args)
            .env("HOME", e.dir.0.join("home"))
            .env_remove("KUBECONFIG")
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .kill_on_drop(true);
        let watches = |e: &Env| e.requests().iter().filter(|r| r.watch).count();
        let before = watches(e);
        let child = cmd.spawn().unwrap();
        // The caller changes things only once kubectl's watch request has reached the server (bounded wait).
        eventually("kubectl's watch started", 15, || async { watches(e) > before }).await;
        tokio::time::sleep(Duration::from_millis(100)).await;
        WatchProcess { child }
    }

    async fn stop_after(mut self, wait: Duration) -> Vec<String> {
        tokio::time::sleep(wait).await;
        let _ = self.child.start_kill();
        let out = tokio::time::timeout(Duration::from_secs(5), self.child.wait_with_output())
            .await
            .unwrap()
            .unwrap();
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .map(str::to_owned)
            .collect()
    }
}

async fn create_owner_and_dependent(e: &Env, owner: &str, dependent: &str) {
    let yaml = WIDGET_YAML.replace("name: w", &format!("name: {owner}"));
    e.kubectl(&["create", "-f", path_str(&e.file(&format!("{owner}.yaml"), &yaml))])
        .await
        .ok();
    let uid = widget(e, owner).await["metadata"]["uid"]
        .as_str()
        .unwrap()
        .to_owned();
    let cm = format!(
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {dependent}\n  namespace: default\n  ownerReferences:\n  - apiVersion: example.com/v1\n    kind: Widget\n    name: {owner}\n    uid: {uid}\n    controller: true\n    blockOwnerDeletion: true\n"
    );
    e.kubectl(&[
        "create",
        "-f",
        path_str(&e.file(&format!("{dependent}.yaml"), &cm)),
    ])
    .await
    .ok();
}

async fn gone(e: &Env, args: &[&str]) -> bool {
    e.kubectl(args).await.stderr.contains("NotFound")
}

/// §6.17 background, §6.18 foreground, §6.19 orphan cascades.
#[tokio::test]
async fn garbage_collection_cascades() {
    let e = env("gc").await;
    e.install_widgets().await;
    create_owner_and_dependent(&e, "o1", "d1").await;
    create_owner_and_dependent(&e, "o2", "d2").await;
    create_owner_and_dependent(&e, "o3", "d3").await;

    e.kubectl(&["delete", "widget", "o1", "--wait=false"]).await.ok();
    assert!(
        gone(&e, &["get", "widget", "o1"]).await,
        "background: owner goes at once"
    );
    eventually("d1 collected", 10, || gone(&e, &["get", "cm", "d1"])).await;

    e.sb.pause_gc();
    e.kubectl(&["delete", "widget", "o2", "--cascade=foreground", "--wait=false"])
        .await
        .ok();
    let waiting = widget(&e, "o2").await;
    assert_eq!(
        waiting["metadata"]["finalizers"],
        serde_json::json!(["foregroundDeletion"])
    );
    assert!(waiting["metadata"]["deletionTimestamp"].is_string());
    e.sb.resume_gc();
    eventually("d2 collected", 10, || gone(&e, &["get", "cm", "d2"])).await;
    eventually("o2 gone after its dependent", 10, || {
        gone(&e, &["get", "widget", "o2"])
    })
    .await;

    e.kubectl(&["delete", "widget", "o3", "--cascade=orphan"])
        .await
        .ok();
    eventually("o3 gone", 10, || gone(&e, &["get", "widget", "o3"])).await;
    let d3 = json_of(&e.kubectl(&["get", "cm", "d3", "-o", "json"]).await);
    assert!(
        d3["metadata"]["ownerReferences"].is_null(),
        "orphaned dependent keeps no owner reference: {d3}"
    );
}

fn job_yaml(name: &str, outcome: &str, owner: Option<(&str, &str)>) -> String {
    job_yaml_after(name, outcome, "300ms", owner)
}

fn job_yaml_after(name: &str, outcome: &str, after: &str, owner: Option<(&str, &str)>) -> String {
    let owner_refs = owner
        .map(|(n, uid)| {
            format!(
                "  ownerReferences:\n  - {{apiVersion: example.com/v1, kind: Widget, name: {n}, uid: {uid}, controller: true, blockOwnerDeletion: true}}\n"
            )
        })
        .unwrap_or_default();
    format!(
        "apiVersion: batch/v1\nkind: Job\nmetadata:\n  name: {name}\n  namespace: default\n  annotations:\n    sandbox.arcane.dev/outcome: {outcome}\n    sandbox.arcane.dev/after: {after}\n{owner_refs}spec:\n  backoffLimit: 2\n  template:\n    spec:\n      restartPolicy: Never\n      containers: [{{name: c, image: busybox}}]\n"
    )
}

async fn jobs_env(tag: &str) -> Env {
    let controllers = ControllerConfig {
        simulate_pods: true,
        ..fast_controllers()
    };
    env_with(
        tag,
        SandboxConfig {
            controllers,
            ..SandboxConfig::default()
        },
    )
    .await
}

async fn pods_of(e: &Env, job: &str) -> usize {
    let out = e
        .kubectl(&[
            "get",
            "pods",
            "-l",
            &format!("batch.kubernetes.io/job-name={job}"),
            "-o",
            "name",
        ])
        .await;
    out.ok().lines().count()
}

/// §6.22 Job status sequence, §6.23 Job status validation, §6.20 (kubectl part) and §6.21 cascades.
#[tokio::test]
async fn jobs_status_sequence_validation_and_cascades() {
    let e = jobs_env("jobs").await;
    e.install_widgets().await;
    // `ok` runs long enough for the watcher (started once the Job exists) to see every step.
    let ok = e.file("ok.yaml", &job_yaml_after("ok", "Succeed", "2s", None));
    let bad = e.file("bad.yaml", &job_yaml("bad", "Fail", None));
    let run = e.file("run.yaml", &job_yaml("run", "Run", None));
    for f in [&ok, &bad, &run] {
        e.kubectl(&["create", "-f", path_str(f)]).await.ok();
    }
    let watch_args = [
        "get",
        "job",
        "ok",
        "-w",
        "-o",
        "jsonpath={.status.conditions[*].type}{\"\\n\"}",
    ];
    let watcher = WatchProcess::start(&e, &watch_args).await;
    e.kubectl(&["wait", "--for=condition=complete", "job/ok", "--timeout=10s"])
        .await
        .ok();
    e.kubectl(&["wait", "--for=condition=failed", "job/bad", "--timeout=10s"])
        .await
        .ok();
    let lines = watcher.stop_after(Duration::from_millis(300)).await;
    let seen: Vec<&str> = lines.iter().map(|l| l.trim()).filter(|l| !l.is_empty()).collect();
    assert_eq!(
        seen.last().copied(),
        Some("SuccessCriteriaMet Complete"),
        "{lines:?}"
    );
    assert!(
        seen.contains(&"SuccessCriteriaMet"),
        "the interim condition was visible on its own: {lines:?}"
    );
    let ok_job = json_of(&e.kubectl(&["get", "job", "ok", "-o", "json"]).await);
    assert!(ok_job["status"]["completionTime"].as_str() >= ok_job["status"]["startTime"].as_str());
    assert_eq!(ok_job["status"]["succeeded"], 1);
    let bad_job = json_of(&e.kubectl(&["get", "job", "bad", "-o", "json"]).await);
    let types: Vec<&str> = bad_job["status"]["conditions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["type"].as_str().unwrap())
        .collect();
    assert_eq!(types, ["FailureTarget", "Failed"]);
    assert_eq!(
        bad_job["status"]["conditions"][1]["reason"],
        "BackoffLimitExceeded"
    );
    assert!(bad_job["status"]["completionTime"].is_null());

    e.kubectl(&[
        "wait",
        "--for=jsonpath={.status.active}=1",
        "job/run",
        "--timeout=10s",
    ])
    .await
    .ok();
    e.kubectl(&[
        "patch",
        "job",
        "run",
        "--subresource",
        "status",
        "--type",
        "merge",
        "-p",
        r#"{"status":{"conditions":[{"type":"Complete","status":"True"}]}}"#,
    ])
    .await
    .fails_with("cannot set Complete=True condition without the SuccessCriteriaMet=true condition");

    assert_eq!(pods_of(&e, "run").await, 1);
    e.kubectl(&["delete", "job", "run"]).await.ok();
    eventually("kubectl's background delete takes the pods", 10, || async {
        pods_of(&e, "run").await == 0
    })
    .await;

    let owner = WIDGET_YAML.replace("name: w", "name: o");
    e.kubectl(&["create", "-f", path_str(&e.file("o.yaml", &owner))])
        .await
        .ok();
    let uid = widget(&e, "o").await["metadata"]["uid"]
        .as_str()
        .unwrap()
        .to_owned();
    let owned = e.file("owned.yaml", &job_yaml("owned", "Run", Some(("o", &uid))));
    e.kubectl(&["create", "-f", path_str(&owned)]).await.ok();
    eventually("owned job's pod", 10, || async {
        pods_of(&e, "owned").await == 1
    })
    .await;
    e.kubectl(&["delete", "widget", "o"]).await.ok();
    eventually("owned job collected", 10, || gone(&e, &["get", "job", "owned"])).await;
    eventually("its pods collected", 10, || async {
        pods_of(&e, "owned").await == 0
    })
    .await;
}

/// §6.24 label selectors, §6.25 field selectors, §6.26 (kubectl part) chunked lists.
#[tokio::test]
async fn selectors_and_chunked_lists() {
    let e = env("select").await;
    // Multi-document YAML: kubectl validates `kind: List` files against /openapi/v2, which the sandbox does not serve.
    let cms = "\
        {apiVersion: v1, kind: ConfigMap, metadata: {name: a, namespace: default, labels: {set: t, app: a}}}\n---\n\
        {apiVersion: v1, kind: ConfigMap, metadata: {name: b, namespace: default, labels: {set: t, app: b, tier: x}}}\n---\n\
        {apiVersion: v1, kind: ConfigMap, metadata: {name: c, namespace: default, labels: {set: t}}}\n";
    e.kubectl(&["create", "-f", path_str(&e.file("cms.yaml", cms))])
        .await
        .ok();
    let names = |out: Out| out.ok().split_whitespace().map(str::to_owned).collect::<Vec<_>>();
    let cases = [
        ("set=t,app in (a,b),tier!=x", vec!["configmap/a"]),
        ("set=t,!app", vec!["configmap/c"]),
        ("set=t,app", vec!["configmap/a", "configmap/b"]),
    ];
    for (selector, want) in cases {
        assert_eq!(
            names(e.kubectl(&["get", "cm", "-l", selector, "-o", "name"]).await),
            want,
            "{selector}"
        );
    }
    assert_eq!(
        names(
            e.kubectl(&["get", "cm", "--field-selector", "metadata.name=a", "-o", "name"])
                .await
        ),
        ["configmap/a"]
    );
    e.kubectl(&["get", "cm", "--field-selector", "spec.x=1"])
        .await
        .fails_with(r#""spec.x" is not a known field selector"#);

    let ns = e.file(
        "ns.yaml",
        "apiVersion: v1\nkind: Namespace\nmetadata: {name: p}\n",
    );
    e.kubectl(&["create", "-f", path_str(&ns)]).await.ok();
    let many: String = (0..7)
        .map(|i| {
            format!("---\n{{apiVersion: v1, kind: ConfigMap, metadata: {{name: c{i}, namespace: p}}}}\n")
        })
        .collect();
    e.kubectl(&["create", "-f", path_str(&e.file("many.yaml", &many))])
        .await
        .ok();
    let listed = names(
        e.kubectl(&["get", "cm", "-n", "p", "--chunk-size=3", "-o", "name"])
            .await,
    );
    assert_eq!(
        listed.iter().filter(|n| n.starts_with("configmap/c")).count(),
        7,
        "{listed:?}"
    );
    let pages = e
        .requests()
        .iter()
        .filter(|r| {
            r.path == "/api/v1/namespaces/p/configmaps" && r.query_param("limit").as_deref() == Some("3")
        })
        .count();
    assert!(pages >= 3, "kubectl paged with limit=3 ({pages} pages)");
}

/// §6.32 server-side apply, §6.34 Table output, §6.35 protobuf from imperative generators.
#[tokio::test]
async fn server_side_apply_tables_and_protobuf() {
    let e = env("apply").await;
    e.install_widgets().await;
    let w = e.file("w.yaml", WIDGET_YAML);
    e.kubectl(&["apply", "--server-side", "-f", path_str(&w)])
        .await
        .ok();
    assert!(
        e.requests()
            .iter()
            .any(|r| r.method == "PATCH" && r.path.ends_with("/widgets/w") && r.status == 201)
    );
    let applied = json_of(
        &e.kubectl(&["get", "widget", "w", "-o", "json", "--show-managed-fields"])
            .await,
    );
    assert_eq!(applied["metadata"]["managedFields"][0]["manager"], "kubectl");
    assert_eq!(applied["metadata"]["managedFields"][0]["operation"], "Apply");

    let other = e.file("other.yaml", &WIDGET_YAML.replace("size: 1", "size: 5"));
    e.kubectl(&[
        "apply",
        "--server-side",
        "--field-manager=other",
        "-f",
        path_str(&other),
    ])
    .await
    .fails_with(r#"Apply failed with 1 conflict: conflict with "kubectl": .spec.size"#);
    e.kubectl(&[
        "apply",
        "--server-side",
        "--field-manager=other",
        "--force-conflicts",
        "-f",
        path_str(&other),
    ])
    .await
    .ok();
    let forced = json_of(
        &e.kubectl(&["get", "widget", "w", "-o", "json", "--show-managed-fields"])
            .await,
    );
    assert_eq!(forced["spec"]["size"], 5);
    let owners: Vec<&str> = forced["metadata"]["managedFields"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|m| m["fieldsV1"]["f:spec"]["f:size"].is_object())
        .filter_map(|m| m["manager"].as_str())
        .collect();
    assert_eq!(owners, ["other"], "ownership of .spec.size moved");

    let w2 = e.file("w2.yaml", &WIDGET_YAML.replace("name: w", "name: w2"));
    e.kubectl(&["apply", "--server-side", "-f", path_str(&w2)])
        .await
        .ok();
    let without = e.file(
        "w2b.yaml",
        "apiVersion: example.com/v1\nkind: Widget\nmetadata:\n  name: w2\n  namespace: default\nspec: {}\n",
    );
    e.kubectl(&["apply", "--server-side", "-f", path_str(&without)])
        .await
        .ok();
    assert!(
        widget(&e, "w2").await["spec"]["size"].is_null(),
        "a field dropped by its only manager is removed"
    );

    let table = e.kubectl(&["get", "widgets"]).await;
    let header = table.ok().lines().next().unwrap_or_default().to_owned();
    assert!(header.starts_with("NAME") && header.contains("SIZE"), "{header}");
    assert!(!table.stderr.contains("NotAcceptable"));

    let proto = e
        .kubectl(&["create", "configmap", "x", "--from-literal=a=b"])
        .await;
    // Either decoded, or a clean 415 (kubectl prints the apiserver's message), never a broken connection.
    assert!(
        proto.code == 0 || proto.stderr.contains("accepted media types include"),
        "protobuf create must succeed or fail cleanly: {proto:?}"
    );
    assert!(
        !proto.stderr.contains("EOF") && !proto.stderr.contains("connection reset"),
        "{proto:?}"
    );
}
