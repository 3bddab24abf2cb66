//! `arcane-bench`: the operator under load (scenarios L1–L6 of the reliability matrix), next to a
//! bare client loop doing the minimum API work for the same end state, on one in-process sandbox.
//! The operator runs as a separate process (this binary, started again with a hidden subcommand).
//!
//! `cargo run --release -p arcane-bench -- --streams 10000 --classes 3`

mod bare;
mod cli;
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
        arcane_operator::cli::logging::init(&args.log);
        return match arcane_operator::cli::run::run(args.run).await {
            Ok(()) => ExitCode::SUCCESS,
            Err(error) => {
                eprintln!("operator: {error}");
                ExitCode::FAILURE
            }
        };
    }
    let sizes = match cli::Sizes::resolve(&cli.bench) {
        Ok(sizes) => sizes,
        Err(message) => {
            eprintln!("arcane-bench: {message}");
            return ExitCode::from(2);
        }
    };
    eprintln!("arcane-bench: {sizes:?}");
    match run::run(sizes).await {
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
