//! Issue 13's kubectl checks with each kubectl the dispatcher bundles (1.27–1.33), against a sandbox reporting
//! that version: RBAC objects and `auth can-i`, a CRD and its objects in one file, `create job --from=cronjob`
//! (protobuf bodies) and `logs job/x`. Versions not installed are skipped.

#![allow(clippy::unwrap_used)]

mod conformance_common;

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use conformance_common::*;
use kube_sandbox::SandboxConfig;
use kube_sandbox::controllers::ControllerConfig;
use kube_sandbox::server::ServerConfig;
use kube_sandbox::server::discovery::VersionInfo;

const RBAC: &str = "apiVersion: v1\nkind: ServiceAccount\nmetadata: {name: plugin, namespace: default}\n---\napiVersion: rbac.authorization.k8s.io/v1\nkind: ClusterRole\nmetadata: {name: plugin}\nrules: [{apiGroups: [batch], resources: [jobs], verbs: [list]}]\n---\napiVersion: rbac.authorization.k8s.io/v1\nkind: ClusterRoleBinding\nmetadata: {name: plugin}\nroleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: plugin}\nsubjects: [{kind: ServiceAccount, name: plugin, namespace: default}]\n";

fn bundled(minor: u32) -> Option<PathBuf> {
    let real = std::fs::canonicalize(kubectl_path()).ok()?;
    let p = real.parent()?.join(format!("kubectl.1.{minor}"));
    p.is_file().then_some(p)
}

async fn run(bin: &Path, e: &Env, args: &[&str]) -> Out {
    let mut cmd = tokio::process::Command::new(bin);
    cmd.arg("--kubeconfig")
        .arg(&e.kubeconfig)
        .args(args)
        .env("HOME", e.dir.0.join("home"))
        .env_remove("KUBECONFIG")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    let out = tokio::time::timeout(Duration::from_secs(30), cmd.output())
        .await
        .unwrap_or_else(|_| panic!("{bin:?} {args:?} timed out"))
        .unwrap();
    Out {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

#[tokio::test]
async fn bundled_kubectl_versions() {
    let mut tested = 0;
    for minor in 27..=33 {
        let Some(bin) = bundled(minor) else { continue };
        let e = env_with(
            &format!("kubectl-1-{minor}"),
            SandboxConfig {
                server: ServerConfig {
                    version: VersionInfo {
                        major: "1".into(),
                        minor: minor.to_string(),
                        git_version: format!("v1.{minor}.0-sandbox"),
                    },
                    ..ServerConfig::default()
                },
                controllers: ControllerConfig {
                    simulate_pods: true,
                    ..fast_controllers()
                },
                ..SandboxConfig::default()
            },
        )
        .await;
        let rbac = e.file("rbac.yaml", RBAC);
        let out = run(&bin, &e, &["apply", "-f", path_str(&rbac)]).await;
        assert_eq!(out.code, 0, "1.{minor} apply rbac: {}", out.stderr);
        let can = run(
            &bin,
            &e,
            &[
                "auth",
                "can-i",
                "list",
                "jobs",
                "--as=system:serviceaccount:default:plugin",
            ],
        )
        .await;
        assert_eq!(can.stdout.trim(), "yes", "1.{minor} can-i: {}", can.stderr);
        let cannot = run(
            &bin,
            &e,
            &[
                "auth",
                "can-i",
                "delete",
                "jobs",
                "--as=system:serviceaccount:default:plugin",
            ],
        )
        .await;
        assert_eq!(cannot.stdout.trim(), "no", "1.{minor} can-i: {}", cannot.stderr);

        let both = e.file("both.yaml", &format!("{CRD_YAML}---\n{WIDGET_YAML}"));
        let out = run(&bin, &e, &["apply", "-f", path_str(&both)]).await;
        assert!(
            out.code != 0 && out.stderr.contains("ensure CRDs are installed first"),
            "1.{minor} CRD and objects: {}",
            out.stderr
        );

        let out = run(
            &bin,
            &e,
            &[
                "create",
                "cronjob",
                "cj",
                "--image=busybox",
                "--schedule=*/5 * * * *",
            ],
        )
        .await;
        assert_eq!(out.code, 0, "1.{minor} create cronjob: {}", out.stderr);
        let out = run(&bin, &e, &["create", "job", "x", "--from=cronjob/cj"]).await;
        assert_eq!(out.code, 0, "1.{minor} create job --from: {}", out.stderr);
        let out = run(
            &bin,
            &e,
            &["wait", "--for=condition=complete", "job/x", "--timeout=10s"],
        )
        .await;
        assert_eq!(out.code, 0, "1.{minor} wait: {}", out.stderr);
        let logs = run(&bin, &e, &["logs", "job/x"]).await;
        assert!(
            logs.stdout.contains("simulated log"),
            "1.{minor} logs: {} {}",
            logs.stdout,
            logs.stderr
        );
        tested += 1;
    }
    assert!(tested > 0, "no kubectl bundled");
}
