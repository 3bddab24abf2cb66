//! The `kube-sandbox serve` binary in its default configuration (simulated Pods on): `kubectl create job
//! --from=cronjob/x`, `kubectl get pods` and `kubectl logs job/x` work out of the box.

#![allow(clippy::unwrap_used)]

mod conformance_common;

use std::process::Stdio;
use std::time::Duration;

use conformance_common::*;
use tokio::io::{AsyncBufReadExt, BufReader};

struct Served {
    _child: tokio::process::Child,
    dir: TempDir,
}

impl Served {
    /// Starts `kube-sandbox serve` with default flags on an ephemeral loopback port; returns once it has
    /// written its kubeconfig (it prints the serving line afterwards).
    async fn start() -> Served {
        let dir = TempDir::new("serve");
        let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_kube-sandbox"))
            .args(["serve", "--listen", "127.0.0.1:0", "--kubeconfig"])
            .arg(dir.0.join("kubeconfig"))
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .unwrap();
        let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
        let serving = tokio::time::timeout(Duration::from_secs(30), async {
            while let Some(line) = lines.next_line().await.unwrap() {
                if line.starts_with("kube-sandbox serving") {
                    return line;
                }
            }
            panic!("kube-sandbox serve exited before serving");
        })
        .await
        .expect("kube-sandbox serve started in time");
        assert!(serving.contains("127.0.0.1"), "{serving}");
        // Keep reading its stdout: a closed pipe would fail its next print.
        tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
        Served { _child: child, dir }
    }

    async fn kubectl(&self, args: &[&str]) -> Out {
        let out = tokio::time::timeout(
            Duration::from_secs(30),
            tokio::process::Command::new(kubectl_path())
                .arg("--kubeconfig")
                .arg(self.dir.0.join("kubeconfig"))
                .args(args)
                .env("HOME", self.dir.0.join("home"))
                .env_remove("KUBECONFIG")
                .stdin(Stdio::null())
                .kill_on_drop(true)
                .output(),
        )
        .await
        .unwrap_or_else(|_| panic!("kubectl {args:?} timed out"))
        .unwrap();
        Out {
            code: out.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        }
    }
}

#[tokio::test]
async fn default_serve_has_pods_and_logs() {
    let s = Served::start().await;
    s.kubectl(&[
        "create",
        "cronjob",
        "cj",
        "--image=busybox",
        "--schedule=*/5 * * * *",
    ])
    .await
    .ok();
    let created = s.kubectl(&["create", "job", "x", "--from=cronjob/cj"]).await;
    assert_eq!(created.ok().trim(), "job.batch/x created");
    // The default Job runs 5 s; its Pod is Running from the start.
    eventually("the Job's pod", 20, || async {
        s.kubectl(&["get", "pods", "-l", "job-name=x", "-o", "name"])
            .await
            .stdout
            .starts_with("pod/x-")
    })
    .await;
    let pods = s.kubectl(&["get", "pods"]).await;
    assert!(pods.ok().contains("x-"), "{}", pods.stdout);
    let logs = s.kubectl(&["logs", "job/x", "--pod-running-timeout=10s"]).await;
    assert!(
        logs.ok().contains("simulated log"),
        "{} {}",
        logs.stdout,
        logs.stderr
    );
}
