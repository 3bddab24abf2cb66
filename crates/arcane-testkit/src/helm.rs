//! The Helm chart and the `helm` binary, for the chart tests and the RBAC audit: helm is found on
//! `PATH` (or named by `HELM`); without it a test skips locally and fails in CI (`CI` set), so a
//! missing install step cannot pass unnoticed.

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;

/// The operator's chart in this repository.
pub fn chart_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../charts/arcane-operator")
}

/// `HELM`, or `helm` on `PATH`.
fn find() -> Option<PathBuf> {
    if let Some(path) = std::env::var_os("HELM") {
        return Some(PathBuf::from(path));
    }
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|dir| dir.join("helm"))
        .find(|p| p.is_file())
}

/// helm, or `None` outside CI (the caller skips `what`); in CI a missing helm is a failure.
pub fn helm(what: &str) -> Option<PathBuf> {
    match find() {
        Some(helm) => Some(helm),
        None if std::env::var_os("CI").is_some() => {
            panic!("helm is not installed, but CI must run {what}")
        }
        None => {
            eprintln!("helm not found on PATH: {what} skipped");
            None
        }
    }
}

/// `helm template t <chart> --namespace arcane` with exactly these `--set` values: the rendered
/// objects, or helm's stderr.
pub fn template(helm: &Path, sets: &[&str]) -> Result<Vec<Value>, String> {
    let mut cmd = Command::new(helm);
    cmd.args(["template", "t"])
        .arg(chart_dir())
        .args(["--namespace", "arcane"]);
    for set in sets {
        cmd.args(["--set", set]);
    }
    let out = cmd.output().map_err(|e| e.to_string())?;
    if !out.status.success() {
        return Err(String::from_utf8_lossy(&out.stderr).into_owned());
    }
    let text = String::from_utf8(out.stdout).map_err(|e| e.to_string())?;
    let docs: Vec<Value> = serde_saphyr::from_multiple(&text).map_err(|e| format!("{e}\n{text}"))?;
    Ok(docs.into_iter().filter(Value::is_object).collect())
}
