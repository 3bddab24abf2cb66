//! Helpers for the bad-input scenarios (ecosystem-reliability B.7, B1–B14): objects built from the
//! demo plugin, waits on conditions and Warning Events, request counting and panic detection.

use std::sync::Once;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use arcane_operator::sandbox::{DEMO_YAML, install};
use kube::api::{ApiResource, DynamicObject, PostParams};
use kube::core::GroupVersionKind;
use kube::{Api, Client};
use kube_sandbox::Gvr;
use serde_json::{Value, json};

use arcane_testkit::{Env, Kind, NS, eventually, secs, stream};

pub(crate) const ARCANE_GROUP: &str = "streaming.sneaksanddata.com";

static PANICS: AtomicUsize = AtomicUsize::new(0);
static HOOK: Once = Once::new();

/// Counts panics on every thread of the test process (the operator runs in-process), while still
/// printing them. A panic in a reconcile would otherwise only restart a controller silently.
pub(crate) fn watch_panics() {
    HOOK.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            PANICS.fetch_add(1, Ordering::SeqCst);
            previous(info);
        }));
    });
}

pub(crate) fn assert_no_panic() {
    assert_eq!(
        PANICS.load(Ordering::SeqCst),
        0,
        "a thread panicked (see the output above)"
    );
}

/// A condition reason as SPEC §4 wants it: non-empty PascalCase.
pub(crate) fn is_pascal_case(reason: &str) -> bool {
    reason.chars().next().is_some_and(|c| c.is_ascii_uppercase())
        && reason.chars().all(|c| c.is_ascii_alphanumeric())
}

/// The `Ready` condition of a stream, if any.
pub(crate) async fn ready_condition(env: &Env, kind: Kind, name: &str) -> Option<Value> {
    let obj = env.get(kind, name).await?;
    obj.data
        .pointer("/status/conditions")?
        .as_array()?
        .iter()
        .find(|c| c["type"] == "Ready")
        .cloned()
}

/// Waits for a `Ready` condition with `reason` (checked PascalCase) and returns it.
pub(crate) async fn wait_reason(env: &Env, kind: Kind, name: &str, reason: &str, timeout: Duration) -> Value {
    assert!(is_pascal_case(reason), "{reason} is not PascalCase");
    eventually(
        format!("{name}: a Ready condition with reason {reason}"),
        timeout,
        || async {
            match ready_condition(env, kind, name).await {
                Some(c) if c["reason"] == reason => Ok(c),
                last => Err(format!("last {last:?}")),
            }
        },
    )
    .await
}

/// Events about `name` (any namespace the test uses: cluster-scoped objects get theirs in `default`).
pub(crate) fn events(env: &Env, name: &str) -> Vec<Value> {
    let gvr = Gvr::new("events.k8s.io", "v1", "events");
    env.sandbox
        .store()
        .list(&gvr, None)
        .0
        .into_iter()
        .filter(|e| e.pointer("/regarding/name").and_then(Value::as_str) == Some(name))
        .collect()
}

/// Waits for a Warning Event about `name` with `reason`; returns its note.
pub(crate) async fn wait_warning(env: &Env, name: &str, reason: &str, timeout: Duration) -> String {
    let event = eventually(format!("{name}: a Warning Event {reason}"), timeout, || async {
        let all = events(env, name);
        match all
            .iter()
            .find(|e| e["type"] == "Warning" && e["reason"] == reason)
        {
            Some(event) => Ok(event.clone()),
            None => Err(format!(
                "events: {:?}",
                all.iter().map(|e| (&e["type"], &e["reason"])).collect::<Vec<_>>()
            )),
        }
    })
    .await;
    assert_eq!(event["reportingController"], "arcane-operator");
    event["note"].as_str().unwrap_or_default().to_string()
}

/// The failure every bad-input row must end with: a `Ready=False` condition with `reason`, and a
/// Warning Event with `event_reason`, within 10 s (invariant N7).
pub(crate) async fn assert_rejected(
    env: &Env,
    kind: Kind,
    name: &str,
    reason: &str,
    event_reason: &str,
) -> Value {
    let condition = wait_reason(env, kind, name, reason, secs(10)).await;
    assert_eq!(condition["status"], "False", "{name}: {condition}");
    assert!(!condition["message"].as_str().unwrap_or_default().is_empty());
    wait_warning(env, name, event_reason, secs(10)).await;
    condition
}

/// Creates a healthy v1 stream and waits until it runs: the operator is alive and other streams are
/// unaffected.
pub(crate) async fn healthy_converges(env: &Env, name: &str) {
    env.create(Kind::V1, stream(Kind::V1, name, false, None)).await;
    env.wait_phase(Kind::V1, name, "Running", secs(25)).await;
    assert_no_panic();
}

/// Creates any object given as JSON; the API's answer is returned.
pub(crate) async fn try_create(env: &Env, resource: &ApiResource, obj: Value) -> kube::Result<DynamicObject> {
    let obj: DynamicObject = serde_json::from_value(obj).expect("valid object");
    let api: Api<DynamicObject> = Api::namespaced_with(env.client.clone(), NS, resource);
    api.create(&PostParams::default(), &obj).await
}

pub(crate) async fn create_stream(env: &Env, kind: Kind, name: &str, spec: Value) -> DynamicObject {
    let obj = json!({
        "apiVersion": format!("{}/v1", arcane_testkit::GROUP),
        "kind": kind.kind(),
        "metadata": {"name": name, "namespace": NS},
        "spec": spec,
    });
    env.create(kind, obj).await
}

/// A copy of one of the demo templates under another name, changed by `edit`; made quick like the
/// harness's (`after`).
pub(crate) fn template_from(base: &str, name: &str, after: &str, edit: impl FnOnce(&mut Value)) -> Value {
    let docs = install::parse_documents(DEMO_YAML).expect("demo parses");
    let mut doc = docs
        .into_iter()
        .find(|d| d["kind"] == "StreamingJobTemplate" && d["metadata"]["name"] == base)
        .expect("demo template");
    doc["metadata"]["name"] = json!(name);
    doc["spec"]["metadata"]["annotations"]["sandbox.arcane.dev/after"] = json!(after);
    edit(&mut doc);
    doc
}

/// Server-side applies documents (templates, classes, CRDs).
pub(crate) async fn apply(client: &Client, docs: &[Value]) {
    install::apply_documents(client, docs)
        .await
        .expect("apply documents");
}

pub(crate) fn request_resource() -> ApiResource {
    let gvk = GroupVersionKind::gvk(ARCANE_GROUP, "v1", "BackfillRequest");
    ApiResource::from_gvk_with_plural(&gvk, "backfillrequests")
}

/// Creates a BackfillRequest.
pub(crate) async fn create_request(env: &Env, name: &str, class: &str, stream_id: &str, completed: bool) {
    let obj = json!({
        "apiVersion": format!("{ARCANE_GROUP}/v1"),
        "kind": "BackfillRequest",
        "metadata": {"name": name, "namespace": NS},
        "spec": {"streamClass": class, "streamId": stream_id, "completed": completed},
    });
    try_create(env, &request_resource(), obj)
        .await
        .expect("create request");
}

pub(crate) fn request(env: &Env, name: &str) -> Option<Value> {
    env.requests().into_iter().find(|r| r["metadata"]["name"] == name)
}

/// A StreamClass, as the store holds it.
pub(crate) fn class(env: &Env, name: &str) -> Option<Value> {
    env.sandbox
        .store()
        .get(&Gvr::new(ARCANE_GROUP, "v1", "streamclasses"), None, name)
}

/// Requests after `since` whose method is one of `methods` and whose path contains `needle`.
pub(crate) fn count_requests(env: &Env, since: u64, methods: &[&str], needle: &str) -> Vec<String> {
    env.requests_since(since)
        .into_iter()
        .filter(|r| methods.contains(&r.method.as_str()) && r.path.contains(needle))
        .map(|r| format!("{} {}?{} -> {}", r.method, r.path, r.query, r.status))
        .collect()
}

/// Every label value Kubernetes would accept.
pub(crate) fn valid_label_value(value: &str) -> bool {
    let bytes = value.as_bytes();
    value.is_empty()
        || (value.len() <= 63
            && value
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
            && bytes[0].is_ascii_alphanumeric()
            && bytes[bytes.len() - 1].is_ascii_alphanumeric())
}

pub(crate) fn assert_valid_labels(obj: &Value) {
    let labels = obj["metadata"]["labels"].as_object().expect("labels");
    for (key, value) in labels {
        let value = value.as_str().unwrap_or_default();
        assert!(
            valid_label_value(value),
            "label {key}={value:?} is not a valid label value"
        );
    }
}

/// The end of every row: once the last convergence has quietened (a reconcile from a cache that
/// had not seen its own status write yet may still publish an Event), nothing is written for 2 s
/// and the invariants hold.
pub(crate) async fn settled(env: &Env) {
    env.wait_quiet(Duration::from_millis(500), secs(10)).await;
    env.assert_invariants_and_settled(secs(2)).await;
    assert_no_panic();
}
