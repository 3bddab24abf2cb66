//! `arcane-operator sandbox`: the embedded Kubernetes API emulator with the operator and a demo
//! plugin, so a newcomer sees streams go through their phases without a cluster.

pub mod install;
mod phases;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use clap::Args;
use kube_sandbox::controllers::{JobOutcome, parse_duration};
use kube_sandbox::{Sandbox, SandboxConfig};

use crate::controller::{self, Operator};

/// The demo plugin: a stream CRD per layout, StreamClasses, templates and a few streams.
pub const DEMO_YAML: &str = include_str!("../../../../examples/demo.yaml");

#[derive(Args, Debug, Clone)]
pub struct SandboxArgs {
    /// Address the emulated API server listens on (keep it on loopback).
    #[arg(long, env = "ARCANE_SANDBOX_LISTEN", default_value = "127.0.0.1:6443")]
    pub listen: SocketAddr,
    /// Where to write the kubeconfig for kubectl and `arcane-operator run`.
    #[arg(
        long,
        env = "ARCANE_SANDBOX_KUBECONFIG",
        default_value = "./sandbox.kubeconfig"
    )]
    pub kubeconfig: PathBuf,
    /// Do not install the demo plugin (stream CRDs, classes, templates, streams).
    #[arg(long)]
    pub no_demo: bool,
    /// Do not run the operator in this process (run `arcane-operator run --kubeconfig …` yourself).
    #[arg(long)]
    pub no_operator: bool,
    /// Outcome of simulated Jobs that carry no `sandbox.arcane.dev/outcome` annotation.
    #[arg(long, default_value = "Succeed", value_parser = |s: &str| s.parse::<JobOutcome>())]
    pub job_outcome: JobOutcome,
    /// Run time of simulated Jobs that carry no `sandbox.arcane.dev/after` annotation (e.g. 5s).
    #[arg(long, default_value = "5s", value_parser = |s: &str| parse_duration(s).ok_or_else(|| format!("invalid duration {s:?}")))]
    pub job_after: Duration,
    /// Do not create a simulated Pod per Job (they make `kubectl get pods` and `kubectl logs job/<name>`
    /// work, at one more object and a few more writes per Job).
    #[arg(long)]
    pub no_pods: bool,
}

#[derive(Debug, thiserror::Error)]
pub enum SandboxRunError {
    #[error(transparent)]
    Sandbox(#[from] kube_sandbox::SandboxError),
    #[error(transparent)]
    Install(#[from] install::InstallError),
    #[error("cannot install the signal handler: {0}")]
    Signal(#[from] std::io::Error),
}

/// The emulator's configuration for the command: simulated Pods on unless `--no-pods` (the library default
/// leaves them off for tests and benchmarks that embed it).
fn sandbox_config(args: &SandboxArgs) -> SandboxConfig {
    let mut config = SandboxConfig {
        listen: args.listen,
        ..SandboxConfig::default()
    };
    config.controllers.job_outcome = args.job_outcome;
    config.controllers.job_after = args.job_after;
    config.controllers.simulate_pods = !args.no_pods;
    config
}

/// Runs the sandbox until SIGTERM or Ctrl-C.
pub async fn run(args: SandboxArgs) -> Result<(), SandboxRunError> {
    let sandbox = Sandbox::start(sandbox_config(&args)).await?;
    sandbox.write_kubeconfig(&args.kubeconfig)?;
    println!("Kubernetes API sandbox listening on {}", sandbox.url());
    println!("kubeconfig written to {}", args.kubeconfig.display());
    println!(
        "try: kubectl --kubeconfig {} get sc,sjt,bfr,jobs,mockstreamv0,mockstreamv1,mockstreamv2 -A",
        args.kubeconfig.display()
    );
    let printer = tokio::spawn(phases::print_phase_changes(sandbox.store().clone()));
    let client = sandbox.client()?;
    install::install_crds(&client).await?;
    let operator =
        (!args.no_operator).then(|| Operator::start(client.clone(), controller::Config::default()));
    if !args.no_demo {
        install::apply_documents(&client, &install::parse_documents(DEMO_YAML)?).await?;
        println!("demo plugin installed: 3 stream kinds, 3 StreamClasses, 3 templates, 5 streams");
    }
    crate::cli::run::wait_for_signal().await?;
    if let Some(operator) = operator {
        operator.shutdown().await;
    }
    printer.abort();
    sandbox.shutdown().await;
    Ok(())
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::{SandboxArgs, sandbox_config};

    #[derive(Parser)]
    struct Cli {
        #[command(flatten)]
        args: SandboxArgs,
    }

    #[test]
    fn pods_are_simulated_unless_turned_off() {
        let default = Cli::parse_from(["sandbox"]).args;
        assert!(sandbox_config(&default).controllers.simulate_pods);
        let off = Cli::parse_from(["sandbox", "--no-pods"]).args;
        assert!(!sandbox_config(&off).controllers.simulate_pods);
    }
}
