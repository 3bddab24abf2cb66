//! `arcane-operator run`: the operator against a real cluster.

use kube::config::{KubeConfigOptions, Kubeconfig};
use kube::{Client, Config};

use super::RunArgs;
use crate::controller::{self, Operator};

/// Errors that stop the operator from starting.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error("cannot read kubeconfig: {0}")]
    Kubeconfig(#[from] kube::config::KubeconfigError),
    #[error("cannot infer a cluster configuration: {0}")]
    Infer(#[from] kube::config::InferConfigError),
    #[error("cannot create a Kubernetes client: {0}")]
    Client(#[from] kube::Error),
    #[error("cannot install the signal handler: {0}")]
    Signal(#[from] std::io::Error),
}

/// A client for the cluster named by `--kubeconfig`, or inferred from the environment.
pub async fn client(args: &RunArgs) -> Result<Client, RunError> {
    let config = match &args.kubeconfig {
        Some(path) => {
            let kubeconfig = Kubeconfig::read_from(path)?;
            Config::from_custom_kubeconfig(kubeconfig, &KubeConfigOptions::default()).await?
        }
        None => Config::infer().await?,
    };
    Ok(Client::try_from(config)?)
}

pub fn controller_config(args: &RunArgs) -> controller::Config {
    controller::Config {
        namespace: args.namespace.clone(),
        concurrency: args.concurrency.max(1),
        instance: std::env::var("POD_NAME").ok().or_else(hostname),
    }
}

fn hostname() -> Option<String> {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .map(|h| h.trim().to_string())
        .filter(|h| !h.is_empty())
}

/// Runs the operator until SIGTERM or Ctrl-C, then shuts down gracefully.
pub async fn run(args: RunArgs) -> Result<(), RunError> {
    let client = client(&args).await?;
    let operator = Operator::start(client, controller_config(&args));
    tracing::info!(namespace = ?args.namespace, "arcane-operator started");
    wait_for_signal().await?;
    tracing::info!("shutting down");
    operator.shutdown().await;
    Ok(())
}

/// Waits for SIGTERM or SIGINT.
pub async fn wait_for_signal() -> Result<(), std::io::Error> {
    use tokio::signal::unix::{SignalKind, signal};
    let mut term = signal(SignalKind::terminate())?;
    let mut int = signal(SignalKind::interrupt())?;
    tokio::select! {
        _ = term.recv() => {}
        _ = int.recv() => {}
    }
    Ok(())
}
