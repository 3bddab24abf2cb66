//! Log set-up: human-readable by default, JSON with `--log-format json`.

use tracing_subscriber::EnvFilter;

use super::{LogArgs, LogFormat};

/// kube's watcher logs every 403 at WARN with a `Debug` dump of the API Status, on each retry.
/// The operator logs each watch failure itself, once, with the fix, then rate-limited
/// (`telemetry::watch`), so kube's lines are kept to errors unless a filter names kube_runtime.
const QUIET_KUBE_WATCHER: &str = "kube_runtime::watcher=error";

/// Installs the global tracing subscriber. Safe to call once per process.
pub fn init(args: &LogArgs) {
    let given = args
        .log_level
        .clone()
        .or_else(|| std::env::var(EnvFilter::DEFAULT_ENV).ok());
    let mut filter = given
        .as_deref()
        .and_then(|f| EnvFilter::try_new(f).ok())
        .unwrap_or_else(|| EnvFilter::new("info"));
    if !given.as_deref().unwrap_or_default().contains("kube_runtime")
        && let Ok(directive) = QUIET_KUBE_WATCHER.parse()
    {
        filter = filter.add_directive(directive);
    }
    // Colour only on a terminal: escape codes in a pod's log split field names from their values
    // for every grep and log pipeline.
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_writer(std::io::stderr);
    let result = match args.log_format {
        LogFormat::Text => builder.try_init(),
        LogFormat::Json => builder
            .json()
            .flatten_event(true)
            .with_current_span(true)
            .try_init(),
    };
    if let Err(error) = result {
        eprintln!("logging already initialised: {error}");
    }
}
