//! Shared by the `kubectl arcane` tests: running a command against the sandbox, golden files,
//! and the scene the golden files show.

use std::path::PathBuf;

use arcane_operator::cli::plugin::{self, PluginCli, PluginError, StatusReport};
use clap::Parser;
use serde_json::{Value, json};

use arcane_testkit::scenario::wait_classes_ready;
use arcane_testkit::{Env, Kind, NS, secs, stream, wait_until};

pub(crate) const T0: &str = "2026-01-01T00:00:00Z";

pub(crate) fn now() -> jiff::Timestamp {
    "2026-01-01T00:05:00Z".parse().unwrap()
}

/// Compares `actual` with `tests/golden/<name>`, or rewrites it under `UPDATE_GOLDEN=1`.
pub(crate) fn golden(name: &str, actual: &str) {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/golden")
        .join(name);
    if std::env::var_os("UPDATE_GOLDEN").is_some() {
        std::fs::write(&path, actual).unwrap();
        return;
    }
    let expected = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("{}: {e} (UPDATE_GOLDEN=1 writes it)", path.display()));
    assert_eq!(
        actual, expected,
        "{name} differs from the golden file (UPDATE_GOLDEN=1 rewrites it)"
    );
}

/// Parses `kubectl arcane <argv>` and runs it with the sandbox's client, in namespace `default`.
pub(crate) async fn run(env: &Env, argv: &[&str]) -> Result<String, PluginError> {
    let cli = PluginCli::try_parse_from(std::iter::once("kubectl-arcane").chain(argv.iter().copied()))
        .unwrap_or_else(|e| panic!("{argv:?}: {e}"));
    let mut out = Vec::new();
    plugin::run_with(&env.client, NS, cli.args.command, &mut out).await?;
    Ok(String::from_utf8(out).unwrap())
}

/// A generated name's random suffix replaced, so that it can be compared.
pub(crate) fn mask_suffix(name: &str) -> String {
    match name.rsplit_once('-') {
        Some((prefix, _)) => format!("{prefix}-xxxxx"),
        None => name.to_owned(),
    }
}

pub(crate) fn fixed(report: &mut StatusReport) {
    for row in &mut report.streams {
        row.last_transition = Some(T0.to_owned());
        row.backfill = row.backfill.as_deref().map(mask_suffix);
    }
}

/// The scene: one stream per phase a user meets first.
pub(crate) async fn scene(env: &Env) {
    env.create(Kind::V0, stream(Kind::V0, "orders", false, None))
        .await;
    env.create(Kind::V1, stream(Kind::V1, "customers", true, None))
        .await;
    env.create(Kind::V2, stream(Kind::V2, "archive", false, Some("0 0 1 1 *")))
        .await;
    let mut broken = stream(Kind::V1, "broken", false, None);
    broken["spec"]["execution"]["layoutVersion"] = json!("v9");
    env.create(Kind::V1, broken).await;
    env.wait_phase(Kind::V0, "orders", "Running", secs(30)).await;
    env.wait_phase(Kind::V1, "customers", "Suspended", secs(30)).await;
    env.wait_phase(Kind::V2, "archive", "Scheduled", secs(30)).await;
    env.wait_phase(Kind::V1, "broken", "Failed", secs(30)).await;
    wait_classes_ready(env).await;
    // The stream's Job has started (the sandbox's Job controller marks it active).
    wait_until("job/orders active", secs(30), || async {
        env.job("orders")
            .and_then(|j| j.pointer("/status/active").and_then(Value::as_i64))
            .is_some_and(|a| a > 0)
    })
    .await;
}
