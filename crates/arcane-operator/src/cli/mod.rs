//! Command-line interface: flags (each also read from an environment variable) and subcommands.

pub mod logging;
pub mod run;

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

#[derive(Parser, Debug)]
#[command(name = "arcane-operator", version, about = "Kubernetes operator for Arcane data streams")]
pub struct Cli {
    #[command(flatten)]
    pub log: LogArgs,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Print the CustomResourceDefinitions the operator owns, as one multi-document YAML.
    Crd,
    /// Run the operator against the cluster of the kubeconfig (or in-cluster).
    Run(RunArgs),
    /// Start the embedded Kubernetes API sandbox with a demo plugin and run the operator on it.
    #[cfg(feature = "sandbox")]
    Sandbox(crate::sandbox::SandboxArgs),
}

#[derive(Args, Debug, Clone)]
pub struct LogArgs {
    /// Log format.
    #[arg(long, global = true, env = "ARCANE_LOG_FORMAT", value_enum, default_value_t = LogFormat::Text)]
    pub log_format: LogFormat,
    /// Log filter (tracing EnvFilter syntax); `RUST_LOG` is used when this is not given.
    #[arg(long, global = true, env = "ARCANE_LOG_LEVEL")]
    pub log_level: Option<String>,
}

#[derive(ValueEnum, Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    Text,
    Json,
}

#[derive(Args, Debug, Clone)]
pub struct RunArgs {
    /// Kubeconfig file; without it, `KUBECONFIG`, `~/.kube/config` or the in-cluster config is used.
    #[arg(long, env = "ARCANE_KUBECONFIG")]
    pub kubeconfig: Option<PathBuf>,
    /// Watch and act in this namespace only (default: every namespace).
    #[arg(long, env = "ARCANE_NAMESPACE")]
    pub namespace: Option<String>,
    /// Streams reconciled at the same time, per StreamClass.
    #[arg(long, env = "ARCANE_CONCURRENCY", default_value_t = 8)]
    pub concurrency: u16,
}
