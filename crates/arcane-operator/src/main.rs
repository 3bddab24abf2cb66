//! `arcane-operator`: the command-line entry point.

use std::process::ExitCode;

use arcane_operator::cli::{self, Cli, Command};
use clap::Parser;

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::Crd => {
            print!("{}", arcane_operator::crd::crds_yaml());
            ExitCode::SUCCESS
        }
        Command::Run(args) => {
            cli::logging::init(&cli.log);
            let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
                Ok(runtime) => runtime,
                Err(error) => {
                    eprintln!("cannot start the async runtime: {error}");
                    return ExitCode::FAILURE;
                }
            };
            match runtime.block_on(cli::run::run(args)) {
                Ok(()) => ExitCode::SUCCESS,
                Err(error) => {
                    tracing::error!(%error, "operator failed");
                    ExitCode::FAILURE
                }
            }
        }
        Command::Sandbox => {
            eprintln!("not yet available: the sandbox subcommand lands with the controllers issue");
            ExitCode::from(2)
        }
    }
}
