//! `arcane-bench`: the operator under load (scenarios L1–L6 of the reliability matrix), next to a
//! bare client loop doing the minimum API work for the same end state, on one in-process sandbox.
//! The operator runs as a separate process (this binary, started again with a hidden subcommand).
//!
//! `cargo run --release -p arcane-bench -- --streams 10000 --classes 3`

mod bare;
mod cli;
mod curve;
mod env;
mod error;
mod load;
mod operator;
mod report;
mod run;
mod track;

use std::process::ExitCode;

use clap::Parser;

/// The operator binary's allocator, so the operator process started from this binary is the one
/// that ships. (The sandbox in this process uses it too: the bare loop and the operator share it.)
#[cfg(feature = "mimalloc")]
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[tokio::main]
async fn main() -> ExitCode {
    let cli = cli::Cli::parse();
    if let Some(cli::Command::Operator(args)) = cli.command {
        // Killed with the benchmark that started it, however the benchmark ends.
        let _ = rustix::process::set_parent_process_death_signal(Some(rustix::process::Signal::KILL));
        arcane_operator::cli::logging::init(&args.log);
        return match arcane_operator::cli::run::run(args.run).await {
            Ok(()) => ExitCode::SUCCESS,
            Err(error) => {
                eprintln!("operator: {error}");
                ExitCode::FAILURE
            }
        };
    }
    if !cli.bench.sizes.is_empty() {
        return curve::run(&cli.bench).await;
    }
    let sizes = match cli::Sizes::resolve(&cli.bench) {
        Ok(sizes) => sizes,
        Err(message) => {
            eprintln!("arcane-bench: {message}");
            return ExitCode::from(2);
        }
    };
    eprintln!("arcane-bench: {sizes:?}");
    let run_timeout = cli.bench.run_timeout_secs.map(std::time::Duration::from_secs);
    let result = match run_timeout {
        // Dropping the run on timeout kills the operator (kill on drop).
        Some(limit) => match tokio::time::timeout(limit, run::run(sizes)).await {
            Ok(result) => result,
            Err(_) => Err(error::BenchError::Setup(format!(
                "the run did not complete within --run-timeout-secs {}",
                limit.as_secs()
            ))),
        },
        None => run::run(sizes).await,
    };
    match result {
        Ok(report) => {
            report.print();
            ExitCode::SUCCESS
        }
        Err(error) => {
            eprintln!("arcane-bench: {error}");
            ExitCode::FAILURE
        }
    }
}
