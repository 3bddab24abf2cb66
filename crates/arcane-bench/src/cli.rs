//! Command line: the benchmark's sizes and knobs, and the hidden subcommand that runs the operator
//! in the child process.

use clap::{Args, Parser, Subcommand};

#[derive(Parser, Debug)]
#[command(
    name = "arcane-bench",
    about = "Load benchmark of the Arcane operator (scenarios L1-L6) on the kube-sandbox API emulator",
    args_conflicts_with_subcommands = true
)]
pub(crate) struct Cli {
    #[command(subcommand)]
    pub command: Option<Command>,
    #[command(flatten)]
    pub bench: BenchArgs,
}

#[derive(Subcommand, Debug)]
pub(crate) enum Command {
    /// Runs the operator (`arcane-operator run`); the benchmark starts itself with this to get the
    /// operator as a separate process.
    #[command(hide = true)]
    Operator(OperatorArgs),
}

#[derive(Args, Debug)]
pub(crate) struct OperatorArgs {
    #[command(flatten)]
    pub run: arcane_operator::cli::RunArgs,
    #[command(flatten)]
    pub log: arcane_operator::cli::LogArgs,
}

#[derive(Args, Debug, Clone)]
pub(crate) struct BenchArgs {
    /// Stream definitions of the main population (L1, L3 and the memory figures).
    #[arg(long, default_value_t = 1000)]
    pub streams: usize,
    /// StreamClasses (each with its own stream CRD); streams are spread evenly over them.
    #[arg(long, default_value_t = 3)]
    pub classes: usize,
    /// Operator `--concurrency` (per class); the bare loop runs concurrency × classes workers.
    #[arg(long, default_value_t = 8)]
    pub concurrency: u16,
    /// Scenarios besides L1 (which always runs: every other one starts from its end state).
    #[arg(long, value_delimiter = ',', default_value = "L1,L2,L3,L4,L5,L6")]
    pub scenarios: Vec<String>,
    /// Small sizes and short windows everywhere (a smoke run of a minute or so).
    #[arg(long)]
    pub quick: bool,
    /// Idle latency samples: streams unsuspended one at a time before L1.
    #[arg(long)]
    pub idle_samples: Option<usize>,
    /// L2: stream definitions created suspended, then unsuspended in batches.
    #[arg(long)]
    pub l2_streams: Option<usize>,
    /// L2: batch size.
    #[arg(long, default_value_t = 300)]
    pub batch: usize,
    /// L4: streams the spec edits are spread over (taken from the L1 population).
    #[arg(long)]
    pub churn_streams: Option<usize>,
    /// L4: spec edits per second.
    #[arg(long, default_value_t = 50.0)]
    pub churn_rate: f64,
    /// L4: seconds of editing.
    #[arg(long)]
    pub churn_secs: Option<f64>,
    /// L5: updates to the one hot stream.
    #[arg(long)]
    pub hot_updates: Option<usize>,
    /// L5: seconds the hot updates are spread over.
    #[arg(long)]
    pub hot_secs: Option<f64>,
    /// L6: BackfillRequests, one per stream of the L1 population.
    #[arg(long)]
    pub backfills: Option<usize>,
    /// Simulated run time of a backfill Job, in milliseconds.
    #[arg(long, default_value_t = 1000)]
    pub backfill_ms: u64,
    /// Quiet window after convergence, for the settled memory and the no-write checks (seconds).
    #[arg(long)]
    pub settle_secs: Option<f64>,
    /// Upper bound of every wait for convergence (seconds).
    #[arg(long, default_value_t = 600)]
    pub timeout_secs: u64,
    /// Upper bound of the whole run (seconds): past it the run stops, the operator is killed and
    /// the benchmark fails saying so.
    #[arg(long)]
    pub run_timeout_secs: Option<u64>,
    /// The cost curve: runs L1 and L3 once per size (each in its own process, bounded by
    /// `--size-timeout-secs`) and prints one table. `--streams` and `--scenarios` are then ignored.
    #[arg(long, value_delimiter = ',')]
    pub sizes: Vec<usize>,
    /// `--sizes`: upper bound of one size's run (seconds).
    #[arg(long, default_value_t = 1800)]
    pub size_timeout_secs: u64,
}

/// The sizes of one run, defaults resolved.
#[derive(Debug, Clone)]
pub(crate) struct Sizes {
    pub streams: usize,
    pub classes: usize,
    pub concurrency: u16,
    pub idle_samples: usize,
    pub l2_streams: usize,
    pub batch: usize,
    pub churn_streams: usize,
    pub churn_rate: f64,
    pub churn_secs: f64,
    pub hot_updates: usize,
    pub hot_secs: f64,
    pub backfills: usize,
    pub backfill_ms: u64,
    pub settle_secs: f64,
    pub timeout_secs: u64,
    pub scenarios: Vec<String>,
}

impl Sizes {
    pub(crate) fn resolve(a: &BenchArgs) -> Result<Sizes, String> {
        let q = a.quick;
        let pick = |v: Option<usize>, quick: usize, full: usize| v.unwrap_or(if q { quick } else { full });
        let pickf = |v: Option<f64>, quick: f64, full: f64| v.unwrap_or(if q { quick } else { full });
        let idle_samples = pick(a.idle_samples, 10, 30);
        if a.classes == 0 || a.streams <= idle_samples {
            return Err(format!(
                "need at least one class and more than {idle_samples} streams"
            ));
        }
        let scenarios: Vec<String> = a.scenarios.iter().map(|s| s.trim().to_uppercase()).collect();
        if let Some(bad) = scenarios
            .iter()
            .find(|s| !["L1", "L2", "L3", "L4", "L5", "L6"].contains(&s.as_str()))
        {
            return Err(format!("unknown scenario {bad} (known: L1..L6)"));
        }
        let population = a.streams - idle_samples;
        Ok(Sizes {
            streams: a.streams,
            classes: a.classes,
            concurrency: a.concurrency.max(1),
            idle_samples,
            l2_streams: pick(a.l2_streams, 300, 2000),
            batch: a.batch.max(1),
            churn_streams: pick(a.churn_streams, 100, 1000).min(population),
            churn_rate: a.churn_rate.clamp(0.1, 10_000.0),
            churn_secs: pickf(a.churn_secs, 5.0, 30.0),
            hot_updates: pick(a.hot_updates, 200, 1000),
            hot_secs: pickf(a.hot_secs, 2.0, 10.0),
            backfills: pick(a.backfills, 100, 2000).min(population),
            backfill_ms: a.backfill_ms,
            settle_secs: pickf(a.settle_secs, 3.0, 10.0),
            timeout_secs: a.timeout_secs.max(10),
            scenarios,
        })
    }

    pub(crate) fn runs(&self, scenario: &str) -> bool {
        scenario == "L1" || self.scenarios.iter().any(|s| s == scenario)
    }

    /// Workers of the bare loop and of the benchmark's own writers: what the operator may run at once.
    pub(crate) fn workers(&self) -> usize {
        usize::from(self.concurrency) * self.classes
    }
}
