//! Expectations for the BackfillRequests a stream's reconciles created, as Kubernetes' own
//! controllers keep them for the Pods they create (`ControllerExpectations`).
//!
//! The shared requests cache shows a created request only when its watch delivers it. The
//! reconcile that created it waits for that a moment (`await_request_writes`), but a watch that is
//! re-connecting (after an API outage, reliability row F6) can take longer; the stream's next
//! reconcile would then decide from a cache without the request and start the streaming Job ahead
//! of the initial backfill. So each created request (the API server's answer) is expected: until the
//! cache shows a request of that name, the answer stands in for it in what decide observes. An
//! expectation older than [`EXPECTATION_TTL`] lapses (a request deleted before its watch delivered
//! it), as Kubernetes' do after five minutes. An operator restart forgets them: its caches are then
//! listed afresh before any reconcile.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use kube::ResourceExt;

use crate::crd::BackfillRequest;
use crate::stream::Observed;

/// How long a created request is expected at most (Kubernetes' `ExpectationsTimeout`).
pub(super) const EXPECTATION_TTL: Duration = Duration::from_secs(5 * 60);

/// A stream, by namespace and name.
type Slot = (String, String);

struct Expected {
    /// The stream the request was created for: a namesake created since expects nothing.
    stream_uid: String,
    request: BackfillRequest,
    at: Instant,
}

/// The requests created and not yet seen in the cache, per stream; streams with none have no entry.
#[derive(Default)]
pub(super) struct Expectations {
    streams: Mutex<HashMap<Slot, Vec<Expected>>>,
}

impl Expectations {
    /// Expects `created` (the API server's answers to the creates of one reconcile of `observed`).
    pub(super) fn expect(&self, observed: &Observed, created: Vec<BackfillRequest>, now: Instant) {
        if created.is_empty() {
            return;
        }
        let identity = &observed.identity;
        let mut streams = self
            .streams
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let entry = streams
            .entry((identity.namespace.clone(), identity.name.clone()))
            .or_default();
        entry.extend(created.into_iter().map(|request| Expected {
            stream_uid: identity.uid.clone(),
            request,
            at: now,
        }));
    }

    /// Adds to `observed` the expected requests its cache does not show yet; forgets those it shows
    /// and those that lapsed.
    pub(super) fn fill(&self, observed: &mut Observed, now: Instant) {
        let mut streams = self
            .streams
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if streams.is_empty() {
            return;
        }
        let identity = &observed.identity;
        let slot = (identity.namespace.clone(), identity.name.clone());
        let Some(expected) = streams.get_mut(&slot) else {
            return;
        };
        let seen = &observed.backfill_requests;
        expected.retain(|e| {
            e.stream_uid == identity.uid
                && now.saturating_duration_since(e.at) < EXPECTATION_TTL
                && !seen.iter().any(|r| r.name_any() == e.request.name_any())
        });
        if expected.is_empty() {
            streams.remove(&slot);
            return;
        }
        observed
            .backfill_requests
            .extend(expected.iter().map(|e| e.request.clone()));
    }

    /// Forgets the stream `namespace/name` (deleted).
    pub(super) fn forget(&self, namespace: &str, name: &str) {
        let mut streams = self
            .streams
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if !streams.is_empty() {
            streams.remove(&(namespace.to_string(), name.to_string()));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crd::BackfillRequestSpec;

    fn observed(uid: &str, requests: &[&str]) -> Observed {
        let mut observed = super::super::memory::tests::observed(uid, jiff::Timestamp::UNIX_EPOCH);
        observed.backfill_requests = requests.iter().map(|n| request(n)).collect();
        observed
    }

    fn request(name: &str) -> BackfillRequest {
        let mut r = BackfillRequest::new(
            name,
            BackfillRequestSpec {
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
        let expectations = Expectations::default();
        let t0 = Instant::now();
        expectations.expect(&observed("u", &[]), vec![request("r-1")], t0);
        let mut stale = observed("u", &[]);
        expectations.fill(&mut stale, t0 + Duration::from_secs(30));
        assert_eq!(names(&stale), ["r-1"]);
        let mut caught_up = observed("u", &["r-1"]);
        expectations.fill(&mut caught_up, t0 + Duration::from_secs(31));
        assert_eq!(names(&caught_up), ["r-1"], "not twice");
        assert!(expectations.streams.lock().is_ok_and(|s| s.is_empty()));
    }

    /// Another stream of the same name, a lapsed expectation and a deleted stream expect nothing.
    #[test]
    fn expectations_lapse_and_belong_to_one_stream() {
        let expectations = Expectations::default();
        let t0 = Instant::now();
        expectations.expect(&observed("u", &[]), vec![request("r-1")], t0);
        let mut namesake = observed("other", &[]);
        expectations.fill(&mut namesake, t0);
        assert!(names(&namesake).is_empty());

        expectations.expect(&observed("u", &[]), vec![request("r-2")], t0);
        let mut late = observed("u", &[]);
        expectations.fill(&mut late, t0 + EXPECTATION_TTL);
        assert!(names(&late).is_empty());

        expectations.expect(&observed("u", &[]), vec![request("r-3")], t0);
        expectations.forget("ns", "s");
        let mut gone = observed("u", &[]);
        expectations.fill(&mut gone, t0);
        assert!(names(&gone).is_empty());
    }
}
