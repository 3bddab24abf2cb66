//! Read-your-writes for the stream definitions themselves.
//!
//! A reconcile that writes a stream's status gets the new object back from the API server, but
//! the stream cache shows it only when the watch delivers the change. A Job event arriving in
//! between triggers a reconcile from the older copy, which would decide the same status change
//! again: one more status PATCH and one more Event per stream (arcane-bench L1 measured 1.4 of
//! each per stream before this). The controller keeps each answer here until the cache has caught
//! up, and reconciles from the answer while the cache still holds a version the answer replaced.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use kube::ResourceExt;
use kube::api::DynamicObject;
use kube::runtime::reflector::ObjectRef;

/// Answers kept per stream until the cache shows them.
#[derive(Default)]
pub(super) struct Written {
    entries: Mutex<Entries>,
}

#[derive(Default)]
struct Entries {
    map: HashMap<ObjectRef<DynamicObject>, Entry>,
    /// The size at which a write prunes next: twice what the last pruning left, so that under a
    /// burst (an entry per stream written until its next reconcile) pruning stays amortized O(1).
    prune_at: usize,
}

struct Entry {
    /// The object as the API server returned it after the write (less managedFields), as JSON
    /// text: under a burst an entry lives until the stream's next turn in the queue, and as a
    /// `Value` tree an answer took about 7 kB (arcane-bench L1 at 50,000 streams).
    answer: Box<str>,
    uid: Option<String>,
    resource_version: Option<String>,
    /// Resource versions this answer replaced: while the cache holds one of them, it is behind.
    replaced: Vec<String>,
    at: Instant,
}

/// Past this many entries, a write first drops the ones older than [`MAX_AGE`] (streams deleted
/// before their cache caught up leave entries nobody reads again).
const PRUNE_AT: usize = 256;
/// Far longer than any watch delay: an entry this old is of a stream that is gone.
const MAX_AGE: Duration = Duration::from_secs(60);

impl Written {
    /// The newest known copy of `cached` (the cache's copy of a stream): the last answer to a write
    /// while the cache is behind it, else the cached copy (and the answer is forgotten).
    pub(super) fn freshest(
        &self,
        key: &ObjectRef<DynamicObject>,
        cached: Arc<DynamicObject>,
    ) -> Arc<DynamicObject> {
        let mut entries = self
            .entries
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let Some(entry) = entries.map.get(key) else {
            return cached;
        };
        let behind = entry.uid == cached.uid()
            && cached
                .resource_version()
                .is_some_and(|rv| entry.replaced.contains(&rv));
        // Text written from a `DynamicObject` reads back as one.
        let answer = behind
            .then(|| serde_json::from_str::<DynamicObject>(&entry.answer).ok())
            .flatten();
        match answer {
            Some(answer) => Arc::new(answer),
            None => {
                // Caught up, or changed by someone else since: the cache is the newest copy.
                entries.map.remove(key);
                super::queue::release_sparse(&mut entries.map);
                cached
            }
        }
    }

    /// Records the API server's `answer` to a write made by a reconcile that started from `used`
    /// (the copy [`Written::freshest`] gave it).
    pub(super) fn record(
        &self,
        key: ObjectRef<DynamicObject>,
        used: &DynamicObject,
        mut answer: DynamicObject,
    ) {
        let Some(used_rv) = used.resource_version() else {
            return;
        };
        if answer.resource_version().is_none_or(|rv| rv == used_rv) {
            // Nothing changed (every written field was pruned, or already so): no newer version.
            return;
        }
        answer.metadata.managed_fields = None;
        let Ok(text) = serde_json::to_string(&answer) else {
            return;
        };
        let mut entries = self
            .entries
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if entries.map.len() >= entries.prune_at.max(PRUNE_AT) {
            entries.map.retain(|_, e| e.at.elapsed() < MAX_AGE);
            super::queue::release_sparse(&mut entries.map);
            entries.prune_at = entries.map.len() * 2;
        }
        // A reconcile that started from an earlier answer replaced what that answer replaced too.
        let mut replaced = match entries.map.remove(&key) {
            Some(previous) if previous.resource_version.as_deref() == Some(used_rv.as_str()) => {
                previous.replaced
            }
            _ => Vec::new(),
        };
        replaced.push(used_rv);
        entries.map.insert(
            key,
            Entry {
                answer: text.into_boxed_str(),
                uid: answer.uid(),
                resource_version: answer.resource_version(),
                replaced,
                at: Instant::now(),
            },
        );
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        self.entries
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .map
            .len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use kube::api::{ApiResource, GroupVersionKind};
    use serde_json::json;

    fn resource() -> ApiResource {
        ApiResource::from_gvk(&GroupVersionKind::gvk(
            "streaming.sneaksanddata.com",
            "v1",
            "MockStream",
        ))
    }

    fn stream(uid: &str, rv: &str, phase: &str) -> DynamicObject {
        let mut obj = DynamicObject::new("s", &resource()).within("ns");
        obj.metadata.uid = Some(uid.to_string());
        obj.metadata.resource_version = Some(rv.to_string());
        obj.data = json!({"status": {"phase": phase}});
        obj
    }

    fn key() -> ObjectRef<DynamicObject> {
        ObjectRef::from_obj_with(&stream("u", "1", "x"), resource())
    }

    fn phase(obj: &DynamicObject) -> &str {
        obj.data["status"]["phase"].as_str().unwrap_or_default()
    }

    #[test]
    fn the_answer_is_used_until_the_cache_catches_up() {
        let written = Written::default();
        let cached = Arc::new(stream("u", "1", "Suspended"));
        written.record(key(), &cached, stream("u", "2", "Running"));
        assert_eq!(phase(&written.freshest(&key(), cached.clone())), "Running");
        assert_eq!(phase(&written.freshest(&key(), cached)), "Running");
        // The watch delivered the write: the cache is used and the answer forgotten.
        let caught_up = Arc::new(stream("u", "2", "Running"));
        assert_eq!(
            written.freshest(&key(), caught_up).resource_version().as_deref(),
            Some("2")
        );
        assert_eq!(written.len(), 0);
    }

    #[test]
    fn a_chain_of_writes_keeps_every_replaced_version() {
        let written = Written::default();
        let cached = Arc::new(stream("u", "1", "Suspended"));
        written.record(key(), &cached, stream("u", "2", "Pending"));
        let used = written.freshest(&key(), cached.clone());
        written.record(key(), &used, stream("u", "3", "Running"));
        // The cache is still at 1, then shows the first write: both are behind the last answer.
        assert_eq!(phase(&written.freshest(&key(), cached)), "Running");
        assert_eq!(
            phase(&written.freshest(&key(), Arc::new(stream("u", "2", "Pending")))),
            "Running"
        );
        assert_eq!(
            phase(&written.freshest(&key(), Arc::new(stream("u", "3", "Running")))),
            "Running"
        );
        assert_eq!(written.len(), 0);
    }

    #[test]
    fn someone_elses_change_or_a_new_object_wins() {
        let written = Written::default();
        let cached = Arc::new(stream("u", "1", "Suspended"));
        written.record(key(), &cached, stream("u", "2", "Running"));
        // A version the answer did not replace (a user's edit after it): the cache is newer.
        let edited = Arc::new(stream("u", "7", "Running"));
        assert_eq!(
            written.freshest(&key(), edited).resource_version().as_deref(),
            Some("7")
        );
        assert_eq!(written.len(), 0);
        // A re-created stream of the same name is another object.
        written.record(key(), &cached, stream("u", "2", "Running"));
        let recreated = Arc::new(stream("other", "1", "Suspended"));
        assert_eq!(phase(&written.freshest(&key(), recreated)), "Suspended");
    }

    #[test]
    fn a_write_that_changed_nothing_is_not_kept() {
        let written = Written::default();
        let cached = stream("u", "1", "Running");
        written.record(key(), &cached, stream("u", "1", "Running"));
        assert_eq!(written.len(), 0);
        let unversioned = stream("u", "", "Running");
        let mut unversioned = unversioned;
        unversioned.metadata.resource_version = None;
        written.record(key(), &unversioned, stream("u", "2", "Running"));
        assert_eq!(written.len(), 0);
    }
}
