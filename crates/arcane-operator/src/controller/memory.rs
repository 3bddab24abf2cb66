//! What the stream controller remembers about each stream between reconciles
//! ([`Remembered`]): the restart count of its last decision, and the last workload create the API
//! server refused with the back-off of its retries. `decide` reads it as part of the observed
//! state; an operator restart forgets it.
//!
//! It also holds the expectations for the BackfillRequests a stream's reconciles created, as
//! Kubernetes' own controllers keep them for the Pods they create (`ControllerExpectations`). The
//! shared requests cache shows a created request only when its watch delivers it; the reconcile
//! that created it waits for that a moment (`await_request_writes`), but a watch that is
//! re-connecting (after an API outage, reliability rows F6 and F17) can take longer, and the
//! stream's next reconcile would then decide from a cache without the request and start the
//! streaming Job ahead of the initial backfill. So each created request (the API server's answer)
//! is expected: until the cache shows a request of that name, the answer stands in for it in what
//! decide observes. An expectation older than [`EXPECTATION_TTL`] lapses (a request deleted before
//! its watch delivered it), as Kubernetes' do after five minutes. An operator restart forgets them:
//! its caches are then listed afresh before any reconcile.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use kube::ResourceExt;

use super::context::Context;
use super::error::{Error, backoff};
use super::handlers::{self, Target};
use crate::crd::BackfillRequest;
use crate::stream::decide::decide;
use crate::stream::{Command, Decision, Observed, Remembered, StreamIdentity, WorkloadRefusal};

/// How long a created request is expected at most (Kubernetes' `ExpectationsTimeout`).
pub(super) const EXPECTATION_TTL: Duration = Duration::from_secs(5 * 60);

/// A stream of the class, by namespace and name (the class's kind is the same for all).
type Slot = (String, String);

fn slot(stream: &StreamIdentity) -> Slot {
    (stream.namespace.clone(), stream.name.clone())
}

#[derive(Debug, Default)]
struct Entry {
    /// The stream these facts are about: a stream deleted and created again under the same name
    /// starts with nothing remembered.
    uid: String,
    remembered: Remembered,
    /// Refusals in a row of the remembered refusal's workload (the back-off's exponent).
    refusals: u32,
    /// The requests created and not yet seen in the cache, with when they were created.
    expected: Vec<(BackfillRequest, Instant)>,
}

impl Entry {
    fn is_empty(&self) -> bool {
        self.remembered.refusal.is_none()
            && self.remembered.restarts.unwrap_or(0) == 0
            && self.expected.is_empty()
    }
}

/// The memory of one class's stream controller. Only streams with something to remember have an
/// entry (a restart count above 0, a refusal, an expected request): a stream that runs as it should
/// costs nothing.
#[derive(Debug, Default)]
pub(super) struct Memory {
    streams: Mutex<HashMap<Slot, Entry>>,
}

impl Memory {
    /// What is remembered about `stream` (the same UID: not a namesake created since).
    pub(super) fn recall(&self, stream: &StreamIdentity) -> Remembered {
        let streams = self
            .streams
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        streams
            .get(&slot(stream))
            .filter(|e| e.uid == stream.uid)
            .map(|e| e.remembered.clone())
            .unwrap_or_default()
    }

    fn update<T>(&self, stream: &StreamIdentity, change: impl FnOnce(&mut Entry) -> T) -> T {
        let mut streams = self
            .streams
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let slot = slot(stream);
        let entry = streams.entry(slot.clone()).or_default();
        if entry.uid != stream.uid {
            *entry = Entry {
                uid: stream.uid.clone(),
                ..Entry::default()
            };
        }
        let result = change(entry);
        if entry.is_empty() {
            streams.remove(&slot);
        }
        result
    }

    /// Expects `created` (the API server's answers to the creates of one reconcile of `stream`).
    pub(super) fn expect(&self, stream: &StreamIdentity, created: Vec<BackfillRequest>, now: Instant) {
        if created.is_empty() {
            return;
        }
        self.update(stream, |entry| {
            entry
                .expected
                .extend(created.into_iter().map(|request| (request, now)));
        });
    }

    /// Adds to `observed` the expected requests its cache does not show yet; forgets those it shows
    /// and those that lapsed.
    pub(super) fn fill_expected(&self, observed: &mut Observed, now: Instant) {
        let mut streams = self
            .streams
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if streams.is_empty() {
            return;
        }
        let identity = &observed.identity;
        let slot = slot(identity);
        let Some(entry) = streams.get_mut(&slot).filter(|e| e.uid == identity.uid) else {
            return;
        };
        if entry.expected.is_empty() {
            return;
        }
        let seen = &observed.backfill_requests;
        entry.expected.retain(|(request, at)| {
            now.saturating_duration_since(*at) < EXPECTATION_TTL
                && !seen.iter().any(|r| r.name_any() == request.name_any())
        });
        observed
            .backfill_requests
            .extend(entry.expected.iter().map(|(request, _)| request.clone()));
        if entry.is_empty() {
            streams.remove(&slot);
        }
    }

    /// Forgets the stream `namespace/name` (deleted): a namesake created later starts afresh
    /// anyway (entries carry the UID); this keeps deleted streams from holding memory.
    pub(super) fn forget(&self, namespace: &str, name: &str) {
        let mut streams = self
            .streams
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if !streams.is_empty() {
            streams.remove(&(namespace.to_string(), name.to_string()));
        }
    }

    /// `decision` was carried out: its restart count is remembered, and a workload it created
    /// clears the refusal.
    pub(super) fn executed(&self, stream: &StreamIdentity, decision: &Decision) {
        let created = decision
            .commands
            .iter()
            .any(|c| matches!(c, Command::CreateWorkload(_)));
        if decision.restarts.is_none() && !created {
            return;
        }
        if decision.restarts == Some(0) && !created {
            // Nothing to remember unless an entry exists (a count to reset, a refusal to keep).
            let streams = self
                .streams
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            if !streams.contains_key(&slot(stream)) {
                return;
            }
        }
        self.update(stream, |entry| {
            if decision.restarts.is_some() {
                entry.remembered.restarts = decision.restarts;
            }
            if created {
                entry.remembered.refusal = None;
                entry.refusals = 0;
            }
        });
    }

    /// Remembers a refused workload create (`error` is [`Error::WorkloadRefused`]), with the time
    /// its retry is due: 1 s doubling to 5 min while the same workload is refused again. `None`
    /// for any other error.
    pub(super) fn refused(&self, observed: &Observed, error: &Error) -> Option<WorkloadRefusal> {
        let Error::WorkloadRefused {
            kind,
            name,
            hash,
            message,
            ..
        } = error
        else {
            return None;
        };
        self.update(&observed.identity, |entry| {
            let again = entry
                .remembered
                .refusal
                .as_ref()
                .is_some_and(|r| r.kind == *kind && r.name == *name && r.hash == *hash);
            entry.refusals = if again {
                entry.refusals.saturating_add(1)
            } else {
                1
            };
            let delay = jiff::SignedDuration::try_from(backoff(entry.refusals)).unwrap_or_default();
            let refusal = WorkloadRefusal {
                kind: *kind,
                name: name.clone(),
                hash: hash.clone(),
                message: message.clone(),
                retry_at: observed.now.saturating_add(delay).unwrap_or(observed.now),
            };
            entry.remembered.refusal = Some(refusal.clone());
            Some(refusal)
        })
    }
}

/// After `error` from executing a decision for `observed`: a refused workload create is
/// remembered, and the stream decided again at once with the refusal known, so its status says
/// why. That decision does not create the workload again: its retry waits for the back-off.
pub(super) async fn after_failure(
    ctx: &Context,
    memory: &Memory,
    target: &Target<'_>,
    observed: &Observed,
    error: &Error,
) {
    let Some(refusal) = memory.refused(observed, error) else {
        return;
    };
    let mut observed = observed.clone();
    observed.remembered.refusal = Some(refusal);
    let decision = decide(&observed);
    if let Err(error) = handlers::execute(ctx, target, &decision.commands).await {
        tracing::warn!(%error, "cannot report the refused workload in the stream's status");
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stream::WorkloadKind;

    fn stream(uid: &str) -> StreamIdentity {
        StreamIdentity {
            namespace: "ns".to_owned(),
            name: "s".to_owned(),
            uid: uid.to_owned(),
            ..StreamIdentity::default()
        }
    }

    fn refused(hash: &str, message: &str) -> Error {
        Error::WorkloadRefused {
            error: Box::new(Error::MissingField("x")),
            kind: WorkloadKind::Job,
            name: "s".to_owned(),
            hash: Some(hash.to_owned()),
            message: message.to_owned(),
        }
    }

    /// A stream `ns/s` of `uid` with nothing observed beyond its identity.
    fn observed(uid: &str, now: jiff::Timestamp) -> Observed {
        Observed {
            now,
            class: Default::default(),
            identity: stream(uid),
            definition: Err(crate::stream::InvalidSpec {
                field: "spec".to_owned(),
                message: "unused".to_owned(),
            }),
            status: Default::default(),
            workload: None,
            backfill_requests: Vec::new(),
            streaming_template: None,
            backfill_template: None,
            remembered: Remembered::default(),
        }
    }

    /// The same workload refused again doubles the wait; another workload (a new hash) or another
    /// stream of the same name starts over; a create clears the refusal.
    #[test]
    fn refusals_back_off_per_workload_and_clear_on_create() {
        let memory = Memory::default();
        let t0: jiff::Timestamp = "2026-01-01T00:00:00Z".parse().unwrap_or_default();
        let wait = |r: Option<WorkloadRefusal>| r.map(|r| r.retry_at.duration_since(t0).as_secs());
        let o = observed("u", t0);
        assert_eq!(wait(memory.refused(&o, &refused("h", "m"))), Some(1));
        assert_eq!(wait(memory.refused(&o, &refused("h", "m2"))), Some(2));
        assert_eq!(wait(memory.refused(&o, &refused("h", "m2"))), Some(4));
        assert_eq!(
            memory.recall(&stream("u")).refusal.map(|r| r.message),
            Some("m2".to_owned())
        );
        assert_eq!(wait(memory.refused(&o, &refused("h2", "m"))), Some(1));
        assert_eq!(memory.recall(&stream("other")), Remembered::default());
        assert_eq!(memory.refused(&o, &Error::MissingField("x")), None);
        let created = Decision {
            commands: vec![Command::CreateWorkload(crate::stream::Workload::Job(
                Box::default(),
            ))],
            requeue_after: None,
            restarts: Some(2),
        };
        memory.executed(&stream("u"), &created);
        let remembered = memory.recall(&stream("u"));
        assert_eq!((remembered.refusal, remembered.restarts), (None, Some(2)));
        assert_eq!(wait(memory.refused(&o, &refused("h2", "m"))), Some(1));
        // A count back at 0 and no refusal: the entry goes.
        let healthy = Decision {
            restarts: Some(0),
            ..created
        };
        memory.executed(&stream("u"), &healthy);
        assert_eq!(memory.recall(&stream("u")), Remembered::default());
        assert!(memory.streams.lock().is_ok_and(|s| s.is_empty()));
    }

    /// A deleted stream is forgotten: its refusal and restart count no longer take memory.
    #[test]
    fn a_deleted_stream_is_forgotten() {
        let memory = Memory::default();
        let t0: jiff::Timestamp = "2026-01-01T00:00:00Z".parse().unwrap_or_default();
        assert!(memory.refused(&observed("u", t0), &refused("h", "m")).is_some());
        memory.forget("ns", "other");
        assert!(memory.recall(&stream("u")).refusal.is_some());
        memory.forget("ns", "s");
        assert_eq!(memory.recall(&stream("u")), Remembered::default());
        assert!(memory.streams.lock().is_ok_and(|s| s.is_empty()));
    }

    fn with_requests(uid: &str, requests: &[&str]) -> Observed {
        let mut observed = observed(uid, jiff::Timestamp::UNIX_EPOCH);
        observed.backfill_requests = requests.iter().map(|n| request(n)).collect();
        observed
    }

    fn request(name: &str) -> BackfillRequest {
        let mut r = BackfillRequest::new(
            name,
            crate::crd::BackfillRequestSpec {
                stream_class: "c".to_owned(),
                stream_id: "s".to_owned(),
                completed: false,
                payload: None,
            },
        );
        r.metadata.namespace = Some("ns".to_owned());
        r
    }

    fn names(observed: &Observed) -> Vec<String> {
        observed
            .backfill_requests
            .iter()
            .map(ResourceExt::name_any)
            .collect()
    }

    /// A created request stands in for the cache's until the cache shows it, then is forgotten.
    #[test]
    fn a_created_request_is_observed_until_the_cache_shows_it() {
        let expectations = Memory::default();
        let t0 = Instant::now();
        expectations.expect(&stream("u"), vec![request("r-1")], t0);
        let mut stale = with_requests("u", &[]);
        expectations.fill_expected(&mut stale, t0 + Duration::from_secs(30));
        assert_eq!(names(&stale), ["r-1"]);
        let mut caught_up = with_requests("u", &["r-1"]);
        expectations.fill_expected(&mut caught_up, t0 + Duration::from_secs(31));
        assert_eq!(names(&caught_up), ["r-1"], "not twice");
        assert!(expectations.streams.lock().is_ok_and(|s| s.is_empty()));
    }

    /// Another stream of the same name, a lapsed expectation and a deleted stream expect nothing.
    #[test]
    fn expectations_lapse_and_belong_to_one_stream() {
        let expectations = Memory::default();
        let t0 = Instant::now();
        expectations.expect(&stream("u"), vec![request("r-1")], t0);
        let mut namesake = with_requests("other", &[]);
        expectations.fill_expected(&mut namesake, t0);
        assert!(names(&namesake).is_empty());

        expectations.expect(&stream("u"), vec![request("r-2")], t0);
        let mut late = with_requests("u", &[]);
        expectations.fill_expected(&mut late, t0 + EXPECTATION_TTL);
        assert!(names(&late).is_empty());

        expectations.expect(&stream("u"), vec![request("r-3")], t0);
        expectations.forget("ns", "s");
        let mut gone = with_requests("u", &[]);
        expectations.fill_expected(&mut gone, t0);
        assert!(names(&gone).is_empty());
    }
}
