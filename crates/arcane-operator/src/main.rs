//! `arcane-operator`: the command-line entry point.

use std::process::ExitCode;

use arcane_operator::cli::{self, Cli, Command};
use clap::Parser;

/// mimalloc rather than the system allocator: glibc's malloc/free were a third of the operator's
/// CPU at 10,000 streams (arcane-bench L1, perf), and musl's (the static image) is slower still.
#[cfg(feature = "mimalloc")]
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    #[cfg(feature = "kubectl-plugin")]
    if let Some(code) = plugin_by_name() {
        return code;
    }
    let cli = Cli::parse();
    match cli.command {
        Command::Crd => {
            print!("{}", arcane_operator::crd::crds_yaml());
            ExitCode::SUCCESS
        }
        Command::Run(args) => {
            cli::logging::init(&cli.log);
            block_on(cli::run::run(args))
        }
        #[cfg(feature = "kubectl-plugin")]
        Command::Kubectl(args) => plugin_main(cli::plugin::run(args, &mut std::io::stdout())),
        #[cfg(feature = "sandbox")]
        Command::Sandbox(args) => {
            cli::logging::init(&cli.log);
            block_on(arcane_operator::sandbox::run(args))
        }
    }
}

/// Run as `kubectl-arcane` (a symlink kubectl finds on PATH): the plugin's command line; as
/// `kubectl_complete-arcane` (a second symlink): completions of `kubectl arcane …`.
#[cfg(feature = "kubectl-plugin")]
fn plugin_by_name() -> Option<ExitCode> {
    let argv0 = std::env::args_os().next();
    if cli::plugin::invoked_as(argv0.as_deref(), cli::plugin::PLUGIN_BINARY) {
        let plugin = cli::plugin::PluginCli::parse();
        return Some(plugin_main(cli::plugin::run(plugin.args, &mut std::io::stdout())));
    }
    if cli::plugin::invoked_as(argv0.as_deref(), cli::plugin::COMPLETION_BINARY) {
        let words = std::env::args().skip(1).collect();
        return Some(plugin_main(cli::plugin::run_completion(
            words,
            &mut std::io::stdout(),
        )));
    }
    None
}

/// Runs a plugin command; its error is printed for the user (no log output: this is a CLI).
#[cfg(feature = "kubectl-plugin")]
fn plugin_main(task: impl std::future::Future<Output = Result<(), cli::plugin::PluginError>>) -> ExitCode {
    let runtime = match tokio::runtime::Builder::new_current_thread().enable_all().build() {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("cannot start the async runtime: {error}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(task) {
        Ok(()) => ExitCode::SUCCESS,
        // A closed pipe (`| head`) is not a failure.
        Err(cli::plugin::PluginError::Io(error)) if error.kind() == std::io::ErrorKind::BrokenPipe => {
            ExitCode::SUCCESS
        }
        Err(error) => {
            eprintln!("error: {error}");
            ExitCode::FAILURE
        }
    }
}

/// Runs `task` on a multi-threaded runtime; its error, if any, is logged and fails the process.
fn block_on<E: std::fmt::Display>(task: impl std::future::Future<Output = Result<(), E>>) -> ExitCode {
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("cannot start the async runtime: {error}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(task) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            tracing::error!(%error, "arcane-operator failed");
            eprintln!("error: {error}");
            ExitCode::FAILURE
        }
    }
}
