//! `kubectl arcane`: the operator's command line for users, a kubectl plugin.
//!
//! The same binary serves it under two names: run as `kubectl-arcane` (a symlink on `PATH`, which
//! is how kubectl finds plugins) it is the plugin, and `arcane-operator kubectl …` is the same
//! command line without the symlink. Every command reads what the operator writes (stream statuses,
//! workloads, BackfillRequests, Events) and each write is the one a user would make by editing YAML,
//! so the plugin needs no operator-side support and works against any cluster and the sandbox.

mod complete;
mod describe;
mod error;
mod find;
mod logs;
mod status;
mod table;
mod write;

use std::io::Write;
use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, Parser, Subcommand, ValueEnum};
use kube::config::{KubeConfigOptions, Kubeconfig};
use kube::{Client, Config};

pub use complete::{COMPLETION_BINARY, Plan, Typed, complete, plan};
pub use describe::{Description, describe};
pub use error::PluginError;
pub use find::{Scope, StreamRef, find_stream, list_classes};
pub use logs::{LogRequest, log_params};
pub use status::{ClassRow, StatusReport, StreamRow, collect, watch};
pub use write::{RestartOutcome, backfill, restart, set_suspended, suspend_patch, wait_backfill};

/// The name kubectl runs the plugin by (`kubectl arcane` → `kubectl-arcane` on `PATH`).
pub const PLUGIN_BINARY: &str = "kubectl-arcane";

const EXAMPLES: &str = "\
Examples:
  kubectl arcane status                    # streams of every class in the current namespace
  kubectl arcane status -A --watch         # every namespace, refreshed as it changes
  kubectl arcane status -o yaml            # the same report as YAML (or -o json)
  kubectl arcane describe orders           # definition, conditions, workload, backfills, Events
  kubectl arcane backfill orders --wait    # request a backfill and wait for it to complete
  kubectl arcane suspend orders            # stop the stream (its workload is removed)
  kubectl arcane resume orders
  kubectl arcane restart orders            # replace the stream's Job with a fresh one
  kubectl arcane logs orders -f            # the current Job's pod logs
  kubectl arcane describe orders --kind MockStreamV1   # a name used by two stream kinds

Install: ln -s \"$(command -v arcane-operator)\" ~/.local/bin/kubectl-arcane
Completion of `kubectl arcane <TAB>` (kubectl 1.26+), streams included:
  ln -s \"$(command -v arcane-operator)\" ~/.local/bin/kubectl_complete-arcane
Without the symlinks: arcane-operator kubectl <command> …";

/// `kubectl-arcane`: the plugin's own command line, for the `kubectl-arcane` binary name.
#[derive(Parser, Debug)]
#[command(name = "kubectl-arcane", version, after_help = EXAMPLES)]
#[command(about = "Inspect and operate Arcane streams (a kubectl plugin)")]
pub struct PluginCli {
    #[command(flatten)]
    pub args: PluginArgs,
}

/// Flags and command shared by `kubectl-arcane` and `arcane-operator kubectl`.
#[derive(Args, Debug, Clone)]
pub struct PluginArgs {
    /// Kubeconfig file; without it, `KUBECONFIG` or `~/.kube/config` is used.
    #[arg(long, global = true)]
    pub kubeconfig: Option<PathBuf>,
    /// Kubeconfig context to use (default: the current context).
    #[arg(long, global = true)]
    pub context: Option<String>,
    /// Namespace (default: the context's namespace, else `default`).
    #[arg(short = 'n', long, global = true)]
    pub namespace: Option<String>,
    #[command(subcommand)]
    pub command: PluginCommand,
}

#[derive(Subcommand, Debug, Clone)]
pub enum PluginCommand {
    /// Every stream of every StreamClass in one table, the classes on top.
    #[command(
        after_help = "Examples:\n  kubectl arcane status\n  kubectl arcane status -A -w\n  kubectl arcane status -n prod -o json"
    )]
    Status(StatusArgs),
    /// One stream in detail: definition, conditions, workload, backfills, Events, recovery hint.
    #[command(
        after_help = "Examples:\n  kubectl arcane describe orders\n  kubectl arcane describe orders --kind MockStreamV0"
    )]
    Describe(StreamArgs),
    /// Request a backfill: creates a BackfillRequest for the stream.
    #[command(
        after_help = "Examples:\n  kubectl arcane backfill orders\n  kubectl arcane backfill orders --wait --timeout 30m"
    )]
    Backfill(BackfillArgs),
    /// Suspend a stream: sets its definition's `suspended` flag (the operator removes its workload).
    Suspend(StreamArgs),
    /// Resume a suspended stream: clears its definition's `suspended` flag.
    Resume(StreamArgs),
    /// Restart a running stream: deletes its current Job (or CronJob); the operator recreates it.
    #[command(
        long_about = "Restart a running stream: deletes its current Job (or CronJob), which the operator \
recreates from the definition at once, as if a user had deleted it with kubectl. A stream that is \
backfilling, suspended or failed is not restarted: a failed stream starts again when it is suspended \
and then resumed (the command says so)."
    )]
    Restart(StreamArgs),
    /// Print the logs of the stream's current Job's pods (`-f` to follow).
    #[command(
        after_help = "Examples:\n  kubectl arcane logs orders\n  kubectl arcane logs orders -f --tail 100"
    )]
    Logs(LogsArgs),
    /// Print a completion script for the `kubectl-arcane` command (bash, zsh, fish, …); `kubectl arcane <TAB>` needs the `kubectl_complete-arcane` link instead.
    Completion {
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
}

#[derive(Args, Debug, Clone)]
pub struct StatusArgs {
    /// Every namespace.
    #[arg(short = 'A', long)]
    pub all_namespaces: bool,
    /// Keep running and print the report again whenever it changes.
    #[arg(short = 'w', long)]
    pub watch: bool,
    /// Output format.
    #[arg(short = 'o', long, value_enum, default_value_t = Output::Table)]
    pub output: Output,
    /// How often `--watch` lists again (each time: the classes, their streams, Jobs, CronJobs and
    /// BackfillRequests); raise it on a large cluster.
    #[arg(long, default_value = "2s", value_parser = crate::leader::parse_duration)]
    pub interval: Duration,
}

#[derive(ValueEnum, Debug, Clone, Copy, PartialEq, Eq)]
pub enum Output {
    Table,
    Json,
    Yaml,
}

#[derive(Args, Debug, Clone)]
pub struct StreamArgs {
    /// Name of the stream definition, or KIND/NAME as kubectl prints it.
    pub stream: String,
    /// Stream kind, when the name is used by streams of several kinds.
    #[arg(long)]
    pub kind: Option<String>,
}

#[derive(Args, Debug, Clone)]
pub struct BackfillArgs {
    #[command(flatten)]
    pub stream: StreamArgs,
    /// Wait until the backfill has completed (fails if the request is Invalid).
    #[arg(long)]
    pub wait: bool,
    /// How long `--wait` waits.
    #[arg(long, default_value = "1h", value_parser = crate::leader::parse_duration)]
    pub timeout: Duration,
}

#[derive(Args, Debug, Clone)]
pub struct LogsArgs {
    #[command(flatten)]
    pub stream: StreamArgs,
    /// Keep streaming new lines.
    #[arg(short = 'f', long)]
    pub follow: bool,
    /// Lines from the end of each pod's log.
    #[arg(long)]
    pub tail: Option<i64>,
}

/// Whether the program was started under `name` (the file name of `argv[0]`): `kubectl-arcane`
/// runs the plugin, `kubectl_complete-arcane` its completions.
pub fn invoked_as(argv0: Option<&std::ffi::OsStr>, name: &str) -> bool {
    argv0
        .map(std::path::Path::new)
        .and_then(std::path::Path::file_name)
        .and_then(|name| name.to_str())
        .is_some_and(|file| file.trim_end_matches(".exe") == name)
}

/// A client for the kubeconfig and context the flags name, and the namespace to use.
pub async fn connect(args: &PluginArgs) -> Result<(Client, String), PluginError> {
    let typed = Typed {
        kubeconfig: args.kubeconfig.as_ref().map(|p| p.to_string_lossy().into_owned()),
        context: args.context.clone(),
        namespace: args.namespace.clone(),
    };
    connect_to(&typed).await
}

async fn connect_to(typed: &Typed) -> Result<(Client, String), PluginError> {
    let options = KubeConfigOptions {
        context: typed.context.clone(),
        ..KubeConfigOptions::default()
    };
    let mut config = match &typed.kubeconfig {
        Some(path) => {
            let kubeconfig = Kubeconfig::read_from(path).map_err(PluginError::kubeconfig)?;
            Config::from_custom_kubeconfig(kubeconfig, &options)
                .await
                .map_err(PluginError::kubeconfig)?
        }
        None if typed.context.is_some() => Config::from_kubeconfig(&options)
            .await
            .map_err(PluginError::kubeconfig)?,
        None => Config::infer().await.map_err(PluginError::kubeconfig)?,
    };
    // Audit logs and API server metrics tell the plugin's requests from the operator's.
    config.headers.push((
        http::header::USER_AGENT,
        http::HeaderValue::from_static(concat!("kubectl-arcane/", env!("CARGO_PKG_VERSION"))),
    ));
    let namespace = typed
        .namespace
        .clone()
        .unwrap_or_else(|| config.default_namespace.clone());
    let client = Client::try_from(config).map_err(PluginError::kubeconfig)?;
    Ok((client, namespace))
}

/// Completes `kubectl arcane <words>` (the last word is the one being completed), asking the
/// cluster for stream names and kinds for at most a few seconds: a TAB must never hang.
pub async fn run_completion(words: Vec<String>, out: &mut (dyn Write + Send)) -> Result<(), PluginError> {
    let (planned, typed) = plan(&words);
    if matches!(planned, Plan::Words(_)) {
        return complete(None, "", &words, out).await;
    }
    let lookup = async {
        let (client, namespace) = connect_to(&typed).await?;
        let mut buffer = Vec::new();
        complete(Some(&client), &namespace, &words, &mut buffer).await?;
        Ok::<_, PluginError>(buffer)
    };
    match tokio::time::timeout(Duration::from_secs(5), lookup).await {
        Ok(Ok(buffer)) => out.write_all(&buffer)?,
        // No cluster, no answer in time: offer nothing rather than an error in the prompt.
        _ => complete(None, "", &words, out).await?,
    }
    Ok(())
}

/// Runs one plugin command, writing its output to `out`.
pub async fn run(args: PluginArgs, out: &mut (dyn Write + Send)) -> Result<(), PluginError> {
    if let PluginCommand::Completion { shell } = args.command {
        print_completion(shell, out);
        return Ok(());
    }
    let (client, namespace) = connect(&args).await?;
    run_with(&client, &namespace, args.command, out).await
}

/// Runs one plugin command with `client`; `namespace` is the one `-n` or the context names.
pub async fn run_with(
    client: &Client,
    namespace: &str,
    command: PluginCommand,
    out: &mut (dyn Write + Send),
) -> Result<(), PluginError> {
    let stream_scope = |args: &StreamArgs| StreamRef::parse(namespace, &args.stream, args.kind.as_deref());
    match command {
        PluginCommand::Status(args) => {
            let scope = if args.all_namespaces {
                Scope::All
            } else {
                Scope::Namespace(namespace.to_owned())
            };
            if args.watch {
                watch(client, &scope, args.output, out, args.interval, None).await
            } else {
                let report = collect(client, &scope).await?;
                report.write(args.output, jiff::Timestamp::now(), out)
            }
        }
        PluginCommand::Describe(args) => {
            let description = describe(client, &stream_scope(&args)).await?;
            write!(out, "{}", description.render(jiff::Timestamp::now()))?;
            Ok(())
        }
        PluginCommand::Backfill(args) => {
            let found = find_stream(client, &stream_scope(&args.stream)).await?;
            let request = backfill(client, &found).await?;
            writeln!(out, "backfillrequest/{request} created for {}", found.display())?;
            // A request for a stream that does not run waits: say so before a long --wait.
            let phase = crate::controller::observe::status(found.object.data.get("status")).phase;
            if let Some(phase @ ("Suspended" | "Failed")) = phase.as_deref() {
                writeln!(
                    out,
                    "note: {} is {phase}; the request stays Pending until the stream runs",
                    found.display()
                )?;
            }
            if args.wait {
                let message = wait_backfill(client, &found.namespace, &request, args.timeout).await?;
                writeln!(out, "backfillrequest/{request} completed: {message}")?;
            }
            Ok(())
        }
        PluginCommand::Suspend(args) => suspend_or_resume(client, &stream_scope(&args), true, out).await,
        PluginCommand::Resume(args) => suspend_or_resume(client, &stream_scope(&args), false, out).await,
        PluginCommand::Restart(args) => {
            let found = find_stream(client, &stream_scope(&args)).await?;
            let outcome = restart(client, &found).await?;
            writeln!(out, "{outcome}")?;
            Ok(())
        }
        PluginCommand::Logs(args) => {
            let found = find_stream(client, &stream_scope(&args.stream)).await?;
            let request = LogRequest {
                follow: args.follow,
                tail_lines: args.tail,
            };
            logs::stream_logs(client, &found, &request, out).await
        }
        PluginCommand::Completion { shell } => {
            print_completion(shell, out);
            Ok(())
        }
    }
}

/// The static completion script of the `kubectl-arcane` command for `shell`.
fn print_completion(shell: clap_complete::Shell, out: &mut (dyn Write + Send)) {
    let mut command = <PluginCli as clap::CommandFactory>::command();
    clap_complete::generate(shell, &mut command, PLUGIN_BINARY, out);
}

async fn suspend_or_resume(
    client: &Client,
    stream: &StreamRef,
    suspend: bool,
    out: &mut (dyn Write + Send),
) -> Result<(), PluginError> {
    let found = find_stream(client, stream).await?;
    let changed = set_suspended(client, &found, suspend).await?;
    let verb = if suspend { "suspended" } else { "resumed" };
    if changed {
        writeln!(out, "{} {verb}", found.display())?;
    } else {
        writeln!(out, "{} already {verb} (unchanged)", found.display())?;
    }
    Ok(())
}
