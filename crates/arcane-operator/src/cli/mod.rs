//! Command-line interface: flags (each also read from an environment variable) and subcommands.

pub mod logging;
#[cfg(feature = "kubectl-plugin")]
pub mod plugin;
pub mod run;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, Parser, Subcommand, ValueEnum};
use jiff::SignedDuration;

#[derive(Parser, Debug)]
#[command(
    name = "arcane-operator",
    version,
    about = "Kubernetes operator for Arcane data streams"
)]
pub struct Cli {
    #[command(flatten)]
    pub log: LogArgs,
    #[command(subcommand)]
    pub command: Command,
}

// Parsed once at start-up; without the sandbox and plugin features `Run` is the one large variant.
#[allow(clippy::large_enum_variant)]
#[derive(Subcommand, Debug)]
pub enum Command {
    /// Print the CustomResourceDefinitions the operator owns, as one multi-document YAML.
    Crd,
    /// Run the operator against the cluster of the kubeconfig (or in-cluster).
    Run(RunArgs),
    /// Start the embedded Kubernetes API sandbox with a demo plugin and run the operator on it.
    #[cfg(feature = "sandbox")]
    Sandbox(crate::sandbox::SandboxArgs),
    /// The `kubectl arcane` plugin's commands (status, describe, backfill, …), without the symlink.
    #[cfg(feature = "kubectl-plugin")]
    Kubectl(plugin::PluginArgs),
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
    /// Address of the probe server: `/health`, `/healthz` (liveness), `/health/ready`, `/readyz`.
    #[arg(long, env = "ARCANE_HEALTH_ADDR", default_value = "0.0.0.0:8888")]
    pub health_addr: SocketAddr,
    /// Address of the Prometheus metrics server (`/metrics`).
    #[arg(long, env = "ARCANE_METRICS_ADDR", default_value = "0.0.0.0:9090")]
    pub metrics_addr: SocketAddr,
    /// Elect a leader among replicas on a coordination.k8s.io/v1 Lease; only the leader acts.
    #[arg(long, env = "ARCANE_LEADER_ELECT", action = clap::ArgAction::SetTrue)]
    pub leader_elect: bool,
    /// Name of the Lease.
    #[arg(long, env = "ARCANE_LEASE_NAME", default_value = "arcane-operator")]
    pub lease_name: String,
    /// Namespace of the Lease (default: `POD_NAMESPACE`, else `default`).
    #[arg(long, env = "ARCANE_LEASE_NAMESPACE")]
    pub lease_namespace: Option<String>,
    /// How long a Lease is valid without renewal; followers take over after it.
    #[arg(long, env = "ARCANE_LEASE_DURATION", default_value = "15s", value_parser = duration)]
    pub lease_duration: Duration,
    /// How long the leader keeps trying to renew before it steps down.
    #[arg(long, env = "ARCANE_RENEW_DEADLINE", default_value = "10s", value_parser = duration)]
    pub renew_deadline: Duration,
    /// Interval between attempts to acquire or renew the Lease.
    #[arg(long, env = "ARCANE_RETRY_PERIOD", default_value = "2s", value_parser = duration)]
    pub retry_period: Duration,
    /// Fault injection, for tests only (scenario F18): writes this replica's Lease times
    /// (`renewTime`, `acquireTime`) as if its wall clock were off by this much, e.g. `-10s`.
    /// Who leads must not change. Hidden from `--help`; never set it in production.
    #[arg(
        long,
        env = "ARCANE_LEASE_CLOCK_SKEW",
        default_value = "0s",
        value_parser = signed_duration,
        allow_hyphen_values = true,
        hide = true
    )]
    pub lease_clock_skew: SignedDuration,
}

fn duration(value: &str) -> Result<Duration, String> {
    crate::leader::parse_duration(value)
}

fn signed_duration(value: &str) -> Result<SignedDuration, String> {
    crate::leader::parse_signed_duration(value)
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory;

    use super::*;

    fn run_args(extra: &[&str]) -> Result<RunArgs, clap::Error> {
        let argv = ["arcane-operator", "run"].iter().chain(extra);
        match Cli::try_parse_from(argv)?.command {
            Command::Run(args) => Ok(args),
            other => panic!("parsed as {other:?}"),
        }
    }

    #[test]
    fn lease_clock_skew_takes_either_sign_and_defaults_to_zero() {
        let secs = SignedDuration::from_secs;
        let cases: [(&[&str], SignedDuration); 5] = [
            (&[], SignedDuration::ZERO),
            (&["--lease-clock-skew", "-10s"], secs(-10)),
            (&["--lease-clock-skew=-10s"], secs(-10)),
            (&["--lease-clock-skew", "+10s"], secs(10)),
            (
                &["--lease-clock-skew", "1500ms"],
                SignedDuration::from_millis(1500),
            ),
        ];
        for (argv, want) in cases {
            let args = run_args(argv).unwrap_or_else(|e| panic!("{argv:?}: {e}"));
            assert_eq!(args.lease_clock_skew, want, "{argv:?}");
        }
        for bad in [&["--lease-clock-skew", "-ten"][..], &["--lease-clock-skew"]] {
            assert!(run_args(bad).is_err(), "{bad:?} must be rejected");
        }
    }

    #[test]
    fn lease_clock_skew_is_hidden_from_help() {
        let mut cli = Cli::command();
        let run = cli.find_subcommand_mut("run").unwrap();
        let help = run.render_long_help().to_string();
        assert!(help.contains("--retry-period"), "{help}");
        assert!(!help.contains("clock-skew"), "{help}");
        assert!(!help.contains("CLOCK_SKEW"), "{help}");
    }
}
