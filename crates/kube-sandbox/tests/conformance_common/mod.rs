//! Shared harness of the conformance tests: one Sandbox per test on an ephemeral loopback port, a private
//! HOME for kubectl (its discovery and version caches), raw HTTP through a kube client, bounded waits.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use http::{HeaderMap, Request, StatusCode};
use kube_sandbox::controllers::ControllerConfig;
use kube_sandbox::requestlog::RequestRecord;
use kube_sandbox::{Sandbox, SandboxConfig};
use serde_json::Value;
use tokio::io::AsyncWriteExt;

pub(crate) const CRD_YAML: &str = r#"apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata:
  name: widgets.example.com
spec:
  group: example.com
  scope: Namespaced
  names: {plural: widgets, singular: widget, kind: Widget, listKind: WidgetList}
  versions:
  - name: v1
    served: true
    storage: true
    subresources: {status: {}}
    additionalPrinterColumns:
    - {name: Size, type: integer, jsonPath: .spec.size}
    schema:
      openAPIV3Schema:
        type: object
        properties:
          spec:
            type: object
            properties:
              size: {type: integer}
          status:
            type: object
            properties:
              ready: {type: boolean}
              job: {type: string}
"#;

pub(crate) const WIDGET_YAML: &str = "apiVersion: example.com/v1\nkind: Widget\nmetadata:\n  name: w\n  namespace: default\nspec:\n  size: 1\n";

static COUNTER: AtomicU64 = AtomicU64::new(0);

/// A private directory removed on drop.
pub(crate) struct TempDir(pub PathBuf);

impl TempDir {
    pub(crate) fn new(tag: &str) -> Self {
        let n = COUNTER.fetch_add(1, Ordering::SeqCst);
        let dir = std::env::temp_dir().join(format!("sbx-conf-{}-{n}-{tag}", std::process::id()));
        std::fs::create_dir_all(dir.join("home")).unwrap();
        TempDir(dir)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

pub(crate) struct Env {
    pub sb: Sandbox,
    pub client: kube::Client,
    pub dir: TempDir,
    pub kubeconfig: PathBuf,
}

/// Controllers tuned for tests: fast GC, short Jobs.
pub(crate) fn fast_controllers() -> ControllerConfig {
    ControllerConfig {
        gc_delay: Duration::from_millis(20),
        job_after: Duration::from_millis(300),
        ..ControllerConfig::default()
    }
}

pub(crate) async fn env(tag: &str) -> Env {
    env_with(
        tag,
        SandboxConfig {
            controllers: fast_controllers(),
            ..SandboxConfig::default()
        },
    )
    .await
}

pub(crate) async fn env_with(tag: &str, config: SandboxConfig) -> Env {
    let sb = Sandbox::start(config).await.expect("sandbox starts");
    let dir = TempDir::new(tag);
    let kubeconfig = dir.0.join("kubeconfig");
    sb.write_kubeconfig(&kubeconfig).unwrap();
    let client = sb.client().unwrap();
    Env {
        sb,
        client,
        dir,
        kubeconfig,
    }
}

#[derive(Debug)]
pub(crate) struct Out {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Out {
    pub(crate) fn ok(&self) -> &str {
        assert_eq!(
            self.code, 0,
            "kubectl failed: stdout={} stderr={}",
            self.stdout, self.stderr
        );
        &self.stdout
    }

    pub(crate) fn fails_with(&self, needle: &str) {
        assert_ne!(self.code, 0, "kubectl unexpectedly succeeded: {}", self.stdout);
        assert!(
            self.stderr.contains(needle),
            "stderr lacks {needle:?}: {}",
            self.stderr
        );
    }
}

pub(crate) fn kubectl_path() -> PathBuf {
    let found = std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|p| p.join("kubectl"))
            .find(|p| p.is_file())
    });
    found.unwrap_or_else(|| {
        panic!(
            "kubectl not found in PATH: the conformance tests drive the real kubectl. Install it (Debian package \
             `kubectl` from the Google Cloud SDK apt repository, or any kubectl 1.32/1.33 binary) and retry"
        )
    })
}

/// helm (`HELM`, or on PATH): missing, the tests that drive it fail with how to install it, as for kubectl.
pub(crate) fn helm_path() -> PathBuf {
    if let Some(path) = std::env::var_os("HELM") {
        return PathBuf::from(path);
    }
    let found = std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|p| p.join("helm"))
            .find(|p| p.is_file())
    });
    found.unwrap_or_else(|| {
        panic!(
            "helm not found in PATH (or HELM): the conformance tests drive the real helm. Run scripts/setup.sh \
             (it installs the pinned helm) and retry"
        )
    })
}

impl Env {
    /// Runs helm against this sandbox with private HOME and helm directories, bounded to 60 s.
    pub(crate) async fn helm(&self, args: &[&str]) -> Out {
        let home = self.dir.0.join("home");
        let mut cmd = tokio::process::Command::new(helm_path());
        cmd.arg("--kubeconfig")
            .arg(&self.kubeconfig)
            .args(args)
            .env("HOME", &home)
            .env("HELM_CACHE_HOME", home.join("helm-cache"))
            .env("HELM_CONFIG_HOME", home.join("helm-config"))
            .env("HELM_DATA_HOME", home.join("helm-data"))
            .env_remove("KUBECONFIG")
            .env_remove("HELM_NAMESPACE")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        let out = tokio::time::timeout(Duration::from_secs(60), cmd.output())
            .await
            .unwrap_or_else(|_| panic!("helm {args:?} timed out"))
            .unwrap();
        Out {
            code: out.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        }
    }

    pub(crate) fn file(&self, name: &str, content: &str) -> PathBuf {
        let path = self.dir.0.join(name);
        std::fs::write(&path, content).unwrap();
        path
    }

    pub(crate) async fn kubectl(&self, args: &[&str]) -> Out {
        self.kubectl_stdin(args, None).await
    }

    /// Runs kubectl with a private HOME (so its caches never leak between tests), bounded to 30 s.
    pub(crate) async fn kubectl_stdin(&self, args: &[&str], input: Option<&str>) -> Out {
        let mut cmd = tokio::process::Command::new(kubectl_path());
        cmd.arg("--kubeconfig")
            .arg(&self.kubeconfig)
            .args(args)
            .env("HOME", self.dir.0.join("home"))
            .env_remove("KUBECONFIG")
            .stdin(if input.is_some() {
                Stdio::piped()
            } else {
                Stdio::null()
            })
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        let mut child = cmd.spawn().expect("kubectl runs");
        if let (Some(text), Some(mut stdin)) = (input, child.stdin.take()) {
            stdin.write_all(text.as_bytes()).await.unwrap();
        }
        let out = tokio::time::timeout(Duration::from_secs(30), child.wait_with_output())
            .await
            .unwrap_or_else(|_| panic!("kubectl {args:?} timed out"))
            .unwrap();
        Out {
            code: out.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        }
    }

    /// Installs the Widget CRD through kubectl and waits for it to be served.
    pub(crate) async fn install_widgets(&self) {
        let crd = self.file("crd.yaml", CRD_YAML);
        self.kubectl(&["apply", "-f", path_str(&crd)]).await.ok();
        self.kubectl(&[
            "wait",
            "--for",
            "condition=established",
            "crd/widgets.example.com",
            "--timeout=10s",
        ])
        .await
        .ok();
    }

    pub(crate) async fn raw(&self, method: &str, path: &str, content_type: Option<&str>, body: &[u8]) -> Raw {
        self.raw_with(
            method,
            path,
            &[("Content-Type", content_type.unwrap_or("application/json"))],
            body,
        )
        .await
    }

    pub(crate) async fn get(&self, path: &str) -> Raw {
        self.raw_with("GET", path, &[], b"").await
    }

    /// One HTTP request (bounded to 20 s, body read to the end).
    pub(crate) async fn raw_with(
        &self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: &[u8],
    ) -> Raw {
        let mut req = Request::builder().method(method).uri(path);
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        let req = req.body(kube::client::Body::from(body.to_vec())).unwrap();
        let fut = async {
            let resp = self.client.send(req).await.unwrap();
            let (parts, body) = resp.into_parts();
            let bytes = body.collect_bytes().await.unwrap();
            Raw {
                status: parts.status,
                headers: parts.headers,
                body: String::from_utf8_lossy(&bytes).into_owned(),
            }
        };
        tokio::time::timeout(Duration::from_secs(20), fut)
            .await
            .expect("request finished in time")
    }

    pub(crate) fn requests(&self) -> Vec<RequestRecord> {
        self.sb.requests()
    }
}

pub(crate) struct Raw {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: String,
}

impl Raw {
    pub(crate) fn json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.body))
    }

    /// Newline-delimited watch events.
    pub(crate) fn events(&self) -> Vec<Value> {
        self.body
            .lines()
            .filter(|l| !l.trim().is_empty())
            .map(|l| serde_json::from_str(l).unwrap())
            .collect()
    }

    pub(crate) fn header(&self, name: &str) -> String {
        self.headers
            .get_all(name)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .collect::<Vec<_>>()
            .join(", ")
    }
}

pub(crate) fn path_str(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// Polls `check` every 20 ms for up to `secs` seconds.
pub(crate) async fn eventually<F, Fut>(what: &str, secs: u64, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = tokio::time::Instant::now() + Duration::from_secs(secs);
    while tokio::time::Instant::now() < deadline {
        if check().await {
            return;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("timed out after {secs}s waiting for: {what}");
}
