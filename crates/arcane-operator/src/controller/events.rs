//! Kubernetes Events (`events.k8s.io/v1`), folded into series like client-go's recorder.
//!
//! kube's `Recorder` keeps every Event it published in the last six minutes, whole, in one map that
//! it walks on every publish: at 10,000 streams that was 47 MB of the operator's 174 MB heap
//! (arcane-bench L1 under heaptrack) and, before it was sharded, 37 % of its CPU. This recorder
//! keeps what a series needs — the Event's name, its count and when it was last seen — under a
//! 64-bit key of what makes two Events the same, about 100 bytes per Event, and sweeps expired
//! entries at most once a minute. It also names Events of objects whose names are too long for
//! `<object>.<nanoseconds>` (a stream name may have 253 characters), and sends in the background
//! like client-go's broadcaster (see [`Recorder`]).

use std::collections::HashMap;
use std::hash::{Hash, Hasher};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use k8s_openapi::api::core::v1::ObjectReference;
use k8s_openapi::api::events::v1::Event as KubeEvent;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{MicroTime, ObjectMeta};
use k8s_openapi::jiff::{SignedDuration, Timestamp};
use kube::api::{Patch, PatchParams, PostParams};
use kube::{Api, Client};
use serde_json::json;
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tracing::Instrument;

use super::error::api_code;

/// Normal or Warning.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum EventType {
    Normal,
    Warning,
}

impl EventType {
    fn as_str(self) -> &'static str {
        match self {
            EventType::Normal => "Normal",
            EventType::Warning => "Warning",
        }
    }
}

/// One Event to publish about an object.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Event {
    pub type_: EventType,
    /// PascalCase: what happened.
    pub reason: String,
    /// Human-readable; cut to [`NOTE_MAX`] bytes.
    pub note: String,
    /// What the controller did or failed to do.
    pub action: String,
}

/// Longest note written (the API server refuses notes over 1 kB).
pub const NOTE_MAX: usize = 1024;
/// The same Event again within this time continues its series (client-go uses 6 minutes).
const SERIES_TTL: SignedDuration = SignedDuration::from_mins(6);
/// Expired series are swept at most this often.
const SWEEP_EVERY: SignedDuration = SignedDuration::from_mins(1);
/// Longest Event name: a DNS subdomain.
const NAME_MAX: usize = 253;
/// `.` and up to 16 hex digits of nanoseconds.
const SUFFIX_MAX: usize = 17;
/// Name prefix used when the object's name leaves no room for the suffix.
const LONG_NAME_PREFIX: usize = 200;

/// Who reports the Events.
#[derive(Debug, Clone)]
pub struct Reporter {
    pub controller: String,
    /// This replica (`reportingInstance`); the controller name when unset.
    pub instance: Option<String>,
}

struct Series {
    namespace: String,
    name: String,
    count: i32,
    last: Timestamp,
}

struct State {
    series: HashMap<u64, Series>,
    swept: Timestamp,
}

/// Events sent at the same time by [`Recorder::post`]; one more waits for a free slot.
const IN_FLIGHT: usize = 32;

/// Publishes Events and continues their series.
///
/// [`Recorder::post`] sends in the background, as client-go's broadcaster does: a reconcile does
/// not wait for its Events (best effort, never fatal), so a stream's Job and status are one API
/// round trip sooner. At most `IN_FLIGHT` are sent at once; `post` waits for a free slot, so
/// nothing queues without bound. Shutdown drains them ([`Recorder::drain`]); a halt (leadership
/// lost) drops them.
pub struct Recorder {
    inner: Arc<Inner>,
    in_flight: Arc<Semaphore>,
    tasks: TaskTracker,
    halt: CancellationToken,
}

struct Inner {
    client: Client,
    reporter: Reporter,
    state: Mutex<State>,
}

impl Recorder {
    /// A recorder whose background sends stop when `halt` is cancelled.
    pub fn new(client: Client, reporter: Reporter, halt: CancellationToken) -> Self {
        Recorder {
            inner: Arc::new(Inner {
                client,
                reporter,
                state: Mutex::new(State {
                    series: HashMap::new(),
                    swept: Timestamp::now(),
                }),
            }),
            in_flight: Arc::new(Semaphore::new(IN_FLIGHT)),
            tasks: TaskTracker::new(),
            halt,
        }
    }

    /// Sends `event` about `regarding` in the background (see [`Recorder::publish`]); a failure is
    /// logged in the caller's span.
    pub async fn post(&self, event: Event, regarding: ObjectReference) {
        let Ok(slot) = self.in_flight.clone().acquire_owned().await else {
            return;
        };
        let inner = self.inner.clone();
        let halt = self.halt.clone();
        let send = async move {
            tokio::select! {
                _ = halt.cancelled() => {}
                sent = inner.publish(&event, &regarding) => if let Err(error) = sent {
                    log_refused(&error, &event, &regarding);
                },
            }
            drop(slot);
        };
        self.tasks.spawn(send.instrument(tracing::Span::current()));
    }

    /// Publishes `event` about `regarding` now: a new Event, or the next count of the same Event's
    /// series when it was published less than six minutes ago.
    pub async fn publish(&self, event: &Event, regarding: &ObjectReference) -> Result<(), kube::Error> {
        self.inner.publish(event, regarding).await
    }

    /// Waits, at most `grace`, until the Events posted so far are sent.
    pub async fn drain(&self, grace: Duration) {
        self.tasks.close();
        if tokio::time::timeout(grace, self.tasks.wait()).await.is_err() {
            tracing::warn!(pending = self.tasks.len(), "Events still unsent at shutdown");
        }
        self.tasks.reopen();
    }

    #[cfg(test)]
    fn series_len(&self) -> usize {
        self.inner
            .state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .series
            .len()
    }
}

impl Inner {
    async fn publish(&self, event: &Event, regarding: &ObjectReference) -> Result<(), kube::Error> {
        let now = Timestamp::now();
        let key = key(event, regarding);
        let continued = self.next_in_series(key, now);
        if let Some((namespace, name, count)) = continued {
            let patch = json!({"series": {"count": count, "lastObservedTime": MicroTime(now)}});
            let api: Api<KubeEvent> = Api::namespaced(self.client.clone(), &namespace);
            match api
                .patch(&name, &PatchParams::default(), &Patch::Merge(&patch))
                .await
            {
                Ok(_) => return Ok(()),
                // Expired or deleted meanwhile: start a new Event.
                Err(error) if api_code(&error) == Some(404) => {}
                Err(error) => return Err(error),
            }
        }
        let object = self.new_event(event, regarding, now);
        let namespace = object.metadata.namespace.clone().unwrap_or_default();
        let name = object.metadata.name.clone().unwrap_or_default();
        let api: Api<KubeEvent> = Api::namespaced(self.client.clone(), &namespace);
        api.create(&PostParams::default(), &object).await?;
        let mut state = self
            .state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        state.series.insert(
            key,
            Series {
                namespace,
                name,
                count: 1,
                last: now,
            },
        );
        Ok(())
    }

    /// The series `key` continues (its Event's namespace, name and next count), if any; sweeps
    /// expired series first when due.
    fn next_in_series(&self, key: u64, now: Timestamp) -> Option<(String, String, i32)> {
        let mut state = self
            .state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if now.duration_since(state.swept) >= SWEEP_EVERY {
            state
                .series
                .retain(|_, s| now.duration_since(s.last) < SERIES_TTL);
            super::queue::release_sparse(&mut state.series);
            state.swept = now;
        }
        let series = state.series.get_mut(&key)?;
        if now.duration_since(series.last) >= SERIES_TTL {
            state.series.remove(&key);
            return None;
        }
        series.count = series.count.saturating_add(1);
        series.last = now;
        Some((series.namespace.clone(), series.name.clone(), series.count))
    }

    fn new_event(&self, event: &Event, regarding: &ObjectReference, now: Timestamp) -> KubeEvent {
        let namespace = regarding
            .namespace
            .clone()
            .unwrap_or_else(|| "default".to_string());
        let object = regarding.name.as_deref().unwrap_or(&self.reporter.controller);
        KubeEvent {
            metadata: ObjectMeta {
                name: Some(event_name(object, now)),
                namespace: Some(namespace),
                ..ObjectMeta::default()
            },
            action: Some(event.action.clone()),
            reason: Some(event.reason.clone()),
            note: Some(cut(&event.note, NOTE_MAX).to_string()),
            type_: Some(event.type_.as_str().to_string()),
            event_time: Some(MicroTime(now)),
            regarding: Some(regarding.clone()),
            reporting_controller: Some(self.reporter.controller.clone()),
            reporting_instance: Some(
                self.reporter
                    .instance
                    .clone()
                    .unwrap_or_else(|| self.reporter.controller.clone()),
            ),
            ..KubeEvent::default()
        }
    }
}

/// What makes two Events the same: the object, the type, reason, note and action.
/// Logs an Event the API refused: once per status code, then at most once a minute with the
/// count (a forbidden Event recurs for every stream), naming the object and, for a 403, the rule.
pub(crate) fn log_refused(error: &kube::Error, event: &Event, regarding: &ObjectReference) {
    static LIMIT: std::sync::LazyLock<crate::telemetry::ratelimit::LogLimiter> =
        std::sync::LazyLock::new(|| crate::telemetry::ratelimit::LogLimiter::new(Duration::from_secs(60)));
    let code = api_code(error).map(|c| c.to_string()).unwrap_or_default();
    let Some(suppressed) = LIMIT.admit(&code) else {
        return;
    };
    let hint = if api_code(error) == Some(403) {
        r#"grant the operator's ServiceAccount verbs [create, patch] on resource "events" in apiGroup "events.k8s.io""#
    } else {
        ""
    };
    tracing::warn!(
        error = %crate::telemetry::watch::describe_kube_error(error),
        code = %code,
        reason = %event.reason,
        kind = regarding.kind.as_deref().unwrap_or_default(),
        namespace = regarding.namespace.as_deref().unwrap_or_default(),
        name = regarding.name.as_deref().unwrap_or_default(),
        hint = %hint,
        suppressed,
        "cannot publish event"
    );
}

fn key(event: &Event, regarding: &ObjectReference) -> u64 {
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    event.hash(&mut hasher);
    (
        &regarding.api_version,
        &regarding.kind,
        &regarding.namespace,
        &regarding.name,
        &regarding.uid,
    )
        .hash(&mut hasher);
    hasher.finish()
}

/// `<object>.<nanoseconds in hex>`, as client-go and kube name Events; the object's name is cut
/// (back to an alphanumeric end) when the whole would exceed 253 characters.
fn event_name(object: &str, now: Timestamp) -> String {
    let prefix = if object.len() + SUFFIX_MAX > NAME_MAX {
        cut(object, LONG_NAME_PREFIX).trim_end_matches(['.', '-'])
    } else {
        object
    };
    format!("{prefix}.{:x}", now.as_nanosecond())
}

/// The longest start of `text` of at most `max` bytes, on a character boundary.
pub(super) fn cut(text: &str, max: usize) -> &str {
    let mut end = max.min(text.len());
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    &text[..end]
}

#[cfg(test)]
mod tests {
    use super::*;
    use kube::api::ListParams;

    fn event(reason: &str, note: &str) -> Event {
        Event {
            type_: EventType::Normal,
            reason: reason.to_string(),
            note: note.to_string(),
            action: "Reconcile".to_string(),
        }
    }

    fn regarding(name: &str) -> ObjectReference {
        ObjectReference {
            api_version: Some("streaming.sneaksanddata.com/v1".to_string()),
            kind: Some("MockStream".to_string()),
            namespace: Some("default".to_string()),
            name: Some(name.to_string()),
            uid: Some(format!("uid-{name}")),
            ..ObjectReference::default()
        }
    }

    #[test]
    fn event_names_fit_and_keep_short_names_whole() {
        let now = Timestamp::from_nanosecond(i128::from(u64::MAX)).unwrap_or(Timestamp::UNIX_EPOCH);
        assert_eq!(event_name("short", now), format!("short.{:x}", u64::MAX));
        // (name, expected prefix): a cut right after a separator drops the separator.
        let cases = [
            (format!("{}.{}", "a".repeat(199), "b".repeat(53)), "a".repeat(199)),
            (format!("{}-{}", "c".repeat(199), "d".repeat(53)), "c".repeat(199)),
            ("é".repeat(126), "é".repeat(100)),
            ("x".repeat(236), "x".repeat(236)),
            ("x".repeat(237), "x".repeat(200)),
        ];
        for (full, expected) in cases {
            let name = event_name(&full, now);
            assert_eq!(name.rsplit_once('.').map(|(p, _)| p), Some(expected.as_str()));
            assert!(name.len() <= NAME_MAX, "{}", name.len());
        }
    }

    #[test]
    fn the_same_event_about_the_same_object_has_one_key() {
        let a = key(&event("StreamRunning", "n"), &regarding("s"));
        assert_eq!(a, key(&event("StreamRunning", "n"), &regarding("s")));
        assert_ne!(a, key(&event("StreamRunning", "other"), &regarding("s")));
        assert_ne!(a, key(&event("StreamPending", "n"), &regarding("s")));
        assert_ne!(a, key(&event("StreamRunning", "n"), &regarding("t")));
        let mut warning = event("StreamRunning", "n");
        warning.type_ = EventType::Warning;
        assert_ne!(a, key(&warning, &regarding("s")));
    }

    #[test]
    fn notes_are_cut_on_a_character_boundary() {
        assert_eq!(cut(&"é".repeat(600), NOTE_MAX).len(), NOTE_MAX);
        assert_eq!(cut(&"aé".repeat(400), 2), "a");
        assert_eq!(cut("short", NOTE_MAX), "short");
    }

    /// Against the sandbox: a repeat continues the series of one Event; a different note starts
    /// another; a series whose Event was deleted starts a new Event.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn repeats_fold_into_a_series_and_a_deleted_event_starts_over() {
        let sandbox = kube_sandbox::Sandbox::start(kube_sandbox::SandboxConfig::default())
            .await
            .expect("sandbox");
        let client = sandbox.client().expect("client");
        let recorder = Recorder::new(
            client.clone(),
            Reporter {
                controller: "arcane-operator".to_string(),
                instance: Some("replica-a".to_string()),
            },
            CancellationToken::new(),
        );
        let events: Api<KubeEvent> = Api::namespaced(client, "default");
        let stream = regarding("s1");
        for _ in 0..3 {
            recorder
                .publish(&event("FailedCreateJob", "refused"), &stream)
                .await
                .expect("publish");
        }
        recorder
            .publish(&event("StreamRunning", "running"), &stream)
            .await
            .expect("publish");
        let list = events.list(&ListParams::default()).await.expect("list").items;
        assert_eq!(list.len(), 2, "{list:#?}");
        let failed = list
            .iter()
            .find(|e| e.reason.as_deref() == Some("FailedCreateJob"))
            .expect("the repeated Event");
        assert_eq!(failed.series.as_ref().map(|s| s.count), Some(3));
        assert_eq!(failed.reporting_instance.as_deref(), Some("replica-a"));
        assert_eq!(failed.reporting_controller.as_deref(), Some("arcane-operator"));
        assert_eq!(failed.regarding.as_ref(), Some(&stream));
        assert_eq!(recorder.series_len(), 2);

        let name = failed.metadata.name.clone().unwrap_or_default();
        events.delete(&name, &Default::default()).await.expect("delete");
        recorder
            .publish(&event("FailedCreateJob", "refused"), &stream)
            .await
            .expect("publish after delete");
        let list = events.list(&ListParams::default()).await.expect("list").items;
        let failed: Vec<&KubeEvent> = list
            .iter()
            .filter(|e| e.reason.as_deref() == Some("FailedCreateJob"))
            .collect();
        assert_eq!(failed.len(), 1);
        assert_ne!(failed[0].metadata.name.as_deref(), Some(name.as_str()));
        assert!(failed[0].series.is_none(), "a new Event, not a series");

        // Posted in the background: sent by the time the recorder is drained.
        recorder
            .post(event("StreamSuspended", "posted"), regarding("s2"))
            .await;
        recorder.drain(Duration::from_secs(5)).await;
        let list = events.list(&ListParams::default()).await.expect("list").items;
        assert!(
            list.iter()
                .any(|e| e.reason.as_deref() == Some("StreamSuspended"))
        );

        // A 253-character object name (DNS labels of at most 63) still gets its Event.
        let long_name = format!("{}.lllll", vec!["l".repeat(61); 4].join("."));
        assert_eq!(long_name.len(), 253);
        let long = regarding(&long_name);
        recorder
            .publish(&event("StreamCreated", "created"), &long)
            .await
            .expect("publish for a long name");
        sandbox.shutdown().await;
    }
}
