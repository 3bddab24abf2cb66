//! Prints one line per phase change of streams and StreamClasses, as they happen in the sandbox.

use std::collections::HashMap;

use kube_sandbox::Store;
use kube_sandbox::store::EventKind;
use serde_json::Value;

/// Follows the sandbox store and prints phase changes until the store's channel closes.
pub(super) async fn print_phase_changes(store: Store) {
    let mut events = store.subscribe();
    let mut last: HashMap<(String, String, String), String> = HashMap::new();
    loop {
        let event = match events.recv().await {
            Ok(event) => event,
            Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => continue,
            Err(tokio::sync::broadcast::error::RecvError::Closed) => return,
        };
        let obj = &event.object;
        let kind = obj
            .get("kind")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string();
        let ns = obj
            .pointer("/metadata/namespace")
            .and_then(Value::as_str)
            .unwrap_or_default();
        let name = obj
            .pointer("/metadata/name")
            .and_then(Value::as_str)
            .unwrap_or_default();
        let key = (kind.clone(), ns.to_string(), name.to_string());
        if event.kind == EventKind::Deleted {
            if last.remove(&key).is_some() {
                println!("{}  {kind:<14} {}  deleted", clock(), qualified(ns, name));
            }
            continue;
        }
        let Some(phase) = obj.pointer("/status/phase").and_then(Value::as_str) else {
            continue;
        };
        if event.gvr.group.is_empty() || event.gvr.group.ends_with(".k8s.io") || event.gvr.group == "batch" {
            continue;
        }
        let previous = last.insert(key, phase.to_string());
        if previous.as_deref() == Some(phase) {
            continue;
        }
        let reason = ready_reason(obj).map(|r| format!(" ({r})")).unwrap_or_default();
        match previous {
            Some(previous) => println!(
                "{}  {kind:<14} {}  {previous} → {phase}{reason}",
                clock(),
                qualified(ns, name)
            ),
            None => println!("{}  {kind:<14} {}  {phase}{reason}", clock(), qualified(ns, name)),
        }
    }
}

fn qualified(ns: &str, name: &str) -> String {
    if ns.is_empty() {
        name.to_string()
    } else {
        format!("{ns}/{name}")
    }
}

fn ready_reason(obj: &Value) -> Option<&str> {
    obj.pointer("/status/conditions")?
        .as_array()?
        .iter()
        .find(|c| c.get("type").and_then(Value::as_str) == Some("Ready"))?
        .get("reason")?
        .as_str()
}

fn clock() -> String {
    jiff::Zoned::now().strftime("%H:%M:%S").to_string()
}
