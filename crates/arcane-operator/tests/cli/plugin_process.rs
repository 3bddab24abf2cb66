//! `kubectl arcane` as a process: the binary under the names kubectl runs (`kubectl-arcane`,
//! `kubectl_complete-arcane`) against the sandbox, and `logs`' requests.

#![cfg(feature = "kubectl-plugin")]
#![allow(clippy::unwrap_used, clippy::expect_used)]

use crate::support::run;
use arcane_operator::cli::plugin;
use arcane_testkit::{Env, Kind, NS, secs, stream, wait_until};

/// The binary itself: under the name `kubectl-arcane` (how kubectl runs plugins) it is the
/// plugin; `arcane-operator kubectl` is the same; an error is one line on stderr and exit code 1.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_binary_is_the_plugin_under_its_name() {
    let env = Env::start().await;
    env.create(Kind::V0, stream(Kind::V0, "orders", true, None)).await;
    env.wait_phase(Kind::V0, "orders", "Suspended", secs(30)).await;
    let dir = std::env::temp_dir().join(format!("arcane-cli-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let kubeconfig = dir.join("sandbox.kubeconfig");
    env.sandbox.write_kubeconfig(&kubeconfig).unwrap();
    let plugin = dir.join("kubectl-arcane");
    let _ = std::fs::remove_file(&plugin);
    std::os::unix::fs::symlink(env!("CARGO_BIN_EXE_arcane-operator"), &plugin).unwrap();
    let kubeconfig = kubeconfig.to_str().unwrap();

    let output = |program: &std::path::Path, argv: &[&str]| {
        let mut command = tokio::process::Command::new(program);
        command.args(argv).env_remove("KUBECONFIG");
        async move { command.output().await.unwrap() }
    };
    let status = output(&plugin, &["status", "--kubeconfig", kubeconfig]).await;
    let stdout = String::from_utf8_lossy(&status.stdout);
    assert!(status.status.success(), "{status:?}");
    assert!(
        stdout.starts_with("CLASS ") && stdout.contains("orders  Suspended"),
        "{stdout}"
    );

    let operator = std::path::Path::new(env!("CARGO_BIN_EXE_arcane-operator"));
    let same = output(
        operator,
        &["kubectl", "--kubeconfig", kubeconfig, "resume", "orders"],
    )
    .await;
    assert!(same.status.success(), "{same:?}");
    assert_eq!(
        String::from_utf8_lossy(&same.stdout),
        "mockstreamv0/orders resumed\n"
    );

    let missing = output(
        &plugin,
        &["describe", "nope", "--kubeconfig", kubeconfig, "-n", "default"],
    )
    .await;
    assert_eq!(missing.status.code(), Some(1), "{missing:?}");
    assert!(missing.stdout.is_empty(), "{missing:?}");
    assert_eq!(
        String::from_utf8_lossy(&missing.stderr),
        "error: no stream named \"nope\" in namespace \"default\" (looked in kinds MockStreamV0, MockStreamV1, MockStreamV2)\n"
    );
    // `kubectl arcane describe o<TAB>`: kubectl runs `kubectl_complete-arcane describe o`, whose
    // answer is the streams from the cluster (`KUBECONFIG` as kubectl passes its environment).
    let completer = dir.join(plugin::COMPLETION_BINARY);
    let _ = std::fs::remove_file(&completer);
    std::os::unix::fs::symlink(env!("CARGO_BIN_EXE_arcane-operator"), &completer).unwrap();
    let completed = tokio::process::Command::new(&completer)
        .args(["describe", "o"])
        .env("KUBECONFIG", kubeconfig)
        .output()
        .await
        .unwrap();
    assert!(completed.status.success(), "{completed:?}");
    assert_eq!(
        String::from_utf8_lossy(&completed.stdout),
        "orders\tMockStreamV0 Running\n:4\n"
    );
    let _ = std::fs::remove_dir_all(&dir);
    env.stop().await;
}

/// `logs` reads pods as kubectl does: those labelled `job-name=<the stream's Job>`, then each
/// one's `pods/<name>/log` (the sandbox simulates the Job's pod and a few log lines); `--tail`
/// passes `tailLines` and no `follow`. The query of `-f` is unit-tested in `cli::plugin::logs`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn logs_reads_the_pods_of_the_current_job() {
    let env = Env::start_with_pods().await;
    env.create(Kind::V0, stream(Kind::V0, "orders", false, None))
        .await;
    env.wait_phase(Kind::V0, "orders", "Running", secs(30)).await;
    let pods = kube_sandbox::Gvr::new("", "v1", "pods");
    wait_until("the streaming Job's pod to run", secs(20), || async {
        env.sandbox.store().list(&pods, Some(NS)).0.iter().any(|p| {
            p["metadata"]["labels"]["job-name"] == "orders"
                && p["status"]["phase"] == "Running"
                && p["metadata"]["ownerReferences"][0]["name"] == "orders"
        })
    })
    .await;
    let out = run(&env, &["logs", "orders", "--tail", "2"]).await.expect("logs");
    let lines: Vec<&str> = out.lines().filter(|l| !l.trim().is_empty()).collect();
    assert!(
        lines.iter().any(|l| l.contains("owner orders")),
        "the Job's pod log: {out}"
    );
    assert!(lines.len() <= 3, "two lines per pod, at most one header: {out}");
    let queries: Vec<String> = env
        .sandbox
        .requests()
        .into_iter()
        .filter(|r| r.method == "GET" && r.path.ends_with("/log"))
        .map(|r| r.query)
        .collect();
    assert!(!queries.is_empty(), "no pods/<name>/log read");
    assert!(
        queries
            .iter()
            .all(|q| q.contains("tailLines=2") && !q.contains("follow")),
        "{queries:?}"
    );
    let listed: Vec<String> = env
        .sandbox
        .requests()
        .into_iter()
        .filter(|r| r.method == "GET" && r.path == "/api/v1/namespaces/default/pods")
        .map(|r| r.query)
        .collect();
    assert!(
        listed
            .iter()
            .any(|q| q.contains("labelSelector=job-name%3Dorders")),
        "{listed:?}"
    );
    env.stop().await;
}
