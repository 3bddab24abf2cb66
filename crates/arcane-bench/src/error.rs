//! The benchmark's one error type.

#[derive(Debug, thiserror::Error)]
pub(crate) enum BenchError {
    #[error("sandbox: {0}")]
    Sandbox(#[from] kube_sandbox::SandboxError),
    #[error("install: {0}")]
    Install(#[from] arcane_operator::sandbox::install::InstallError),
    #[error("API request: {0}")]
    Kube(#[from] kube::Error),
    #[error("JSON: {0}")]
    Json(#[from] serde_json::Error),
    #[error("operator process: {0}")]
    Process(#[from] std::io::Error),
    #[error("build: {0}")]
    Build(#[from] arcane_operator::stream::builder::BuildError),
    #[error("{0}")]
    Setup(String),
    #[error("timed out after {secs:.0}s waiting for {what}")]
    Timeout { what: String, secs: f64 },
}
