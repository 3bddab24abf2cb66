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
        #[cfg(feature = "sandbox")]
        Command::Sandbox(args) => {
            cli::logging::init(&cli.log);
            block_on(arcane_operator::sandbox::run(args))
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
