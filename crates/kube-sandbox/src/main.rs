//! `kube-sandbox serve`: runs the emulator until Ctrl-C / SIGTERM and writes a kubeconfig for it.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::{Parser, Subcommand};
use kube_sandbox::controllers::{JobOutcome, parse_duration};
use kube_sandbox::{Sandbox, SandboxConfig};

/// The allocator the operator uses: glibc malloc keeps freed memory in per-thread arenas, so RSS figures
/// measured with it say more about fragmentation than about what is stored.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Parser)]
#[command(
    name = "kube-sandbox",
    about = "An in-memory, kubectl-compatible Kubernetes API emulator"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Serve the API until interrupted.
    Serve {
        /// Address to listen on (keep it on loopback).
        #[arg(long, default_value = "127.0.0.1:6443")]
        listen: SocketAddr,
        /// Where to write the kubeconfig.
        #[arg(long, default_value = "./sandbox.kubeconfig")]
        kubeconfig: PathBuf,
        /// Default outcome of simulated Jobs: Succeed, Fail or Run.
        #[arg(long, default_value = "Succeed", value_parser = |s: &str| s.parse::<JobOutcome>())]
        job_outcome: JobOutcome,
        /// How long a simulated Job runs before its outcome (e.g. 5s, 500ms).
        #[arg(long, default_value = "5s", value_parser = |s: &str| parse_duration(s).ok_or_else(|| format!("invalid duration {s:?}")))]
        job_after: Duration,
        /// Do not run the GC / Job / CronJob simulators.
        #[arg(long)]
        no_controllers: bool,
        /// Do not create a simulated Pod per Job (`kubectl get pods`, `kubectl logs job/x` need them).
        #[arg(long)]
        no_pods: bool,
        /// Authorize requests that act as a ServiceAccount (impersonation) by the stored RBAC objects.
        #[arg(long)]
        rbac_enforcement: bool,
    },
}

async fn wait_for_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = ctrl_c => {}
                    _ = term.recv() => {}
                }
            }
            Err(_) => {
                let _ = ctrl_c.await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = ctrl_c.await;
    }
}

#[tokio::main]
async fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()),
        )
        .with_writer(std::io::stderr)
        .init();
    let cli = Cli::parse();
    let Command::Serve {
        listen,
        kubeconfig,
        job_outcome,
        job_after,
        no_controllers,
        no_pods,
        rbac_enforcement,
    } = cli.command;
    let mut config = SandboxConfig {
        listen,
        run_controllers: !no_controllers,
        ..Default::default()
    };
    config.controllers.job_outcome = job_outcome;
    config.controllers.job_after = job_after;
    config.controllers.simulate_pods = !no_pods;
    config.server.rbac_enforcement = rbac_enforcement;
    let sandbox = match Sandbox::start(config).await {
        Ok(s) => s,
        Err(e) => {
            eprintln!("kube-sandbox: {e}");
            return ExitCode::FAILURE;
        }
    };
    if let Err(e) = sandbox.write_kubeconfig(&kubeconfig) {
        eprintln!("kube-sandbox: {e}");
        return ExitCode::FAILURE;
    }
    println!(
        "kube-sandbox serving {} ; kubeconfig: {}",
        sandbox.url(),
        kubeconfig.display()
    );
    println!(
        "try: kubectl --kubeconfig {} get namespaces",
        kubeconfig.display()
    );
    wait_for_signal().await;
    sandbox.shutdown().await;
    ExitCode::SUCCESS
}
