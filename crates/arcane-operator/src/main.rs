//! `arcane-operator`: the command-line entry point.

use clap::{Parser, Subcommand};

#[derive(Parser, Debug)]
#[command(name = "arcane-operator", version, about = "Kubernetes operator for Arcane data streams")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Print the CustomResourceDefinitions the operator owns, as one multi-document YAML.
    Crd,
    /// Run the operator against the cluster of the current kubeconfig (or in-cluster).
    Run,
    /// Start the embedded Kubernetes API sandbox with a demo plugin and run the operator on it.
    Sandbox,
}

fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::Crd => {
            print!("{}", arcane_operator::crd::crds_yaml());
            std::process::ExitCode::SUCCESS
        }
        Command::Run | Command::Sandbox => {
            eprintln!("not yet available: the controllers and the sandbox are still being built");
            std::process::ExitCode::from(2)
        }
    }
}
