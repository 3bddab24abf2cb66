//! A work queue with client-go's semantics, in place of kube-runtime's scheduler.
//!
//! kube's `Controller` parks the triggers that are due while every worker is busy in a `HashSet`
//! and takes them back in that set's order, so under a burst some streams wait until the very end
//! (arcane-bench L1 at 10,000 streams: p50 0.64 s, p99 8.9 s) and nothing in its configuration
//! changes that. This queue is first in, first out:
//!
//! - A key is queued at most once: adding a queued key leaves it where it is (it keeps its place).
//! - A key is never handed out twice at once: added while it runs, it is queued again, at the
//!   tail, when that run is [`done`](WorkQueue::done).
//! - [`add_after`](WorkQueue::add_after) (requeue after a delay, retry backoff) holds the key in a
//!   delay queue; when due it joins the tail. Of several times asked for one key, the earliest
//!   counts, and an immediate add supersedes a delayed one (as kube's scheduler does).
//! - [`shutdown`](WorkQueue::shutdown): [`next`](WorkQueue::next) returns `None` from then on;
//!   runs in flight finish.

use std::collections::{BTreeMap, HashMap, HashSet, VecDeque};
use std::hash::Hash;
use std::sync::Mutex;
use std::time::Duration;

use tokio::sync::Notify;
use tokio::time::Instant;

/// Below this many slots a table is left as it is.
const KEPT_SLOTS: usize = 1024;

/// Gives back most of a map's table once it holds under a quarter of its capacity: a burst of
/// 100,000 streams grows a table to 100,000 slots, and a `HashMap` never shrinks by itself, so the
/// burst's peak would stay allocated for good. Shrinking to twice the length keeps it amortized
/// O(1) per removal.
pub fn release_sparse<K: Hash + Eq, V>(map: &mut HashMap<K, V>) {
    if map.capacity() > KEPT_SLOTS && map.len() < map.capacity() / 4 {
        map.shrink_to((map.len() * 2).max(KEPT_SLOTS / 2));
    }
}

/// [`release_sparse`] for a set.
pub fn release_sparse_set<K: Hash + Eq>(set: &mut HashSet<K>) {
    if set.capacity() > KEPT_SLOTS && set.len() < set.capacity() / 4 {
        set.shrink_to((set.len() * 2).max(KEPT_SLOTS / 2));
    }
}

/// What a key is doing besides waiting in the FIFO.
struct Inner<K> {
    /// Keys ready to run, oldest first.
    fifo: VecDeque<K>,
    /// The keys in `fifo`.
    queued: HashSet<K>,
    /// Keys handed out and not done yet, with what was asked for them meanwhile: `Some(None)`
    /// to run again at once, `Some(Some(t))` to run again at `t`.
    running: HashMap<K, Option<Option<Instant>>>,
    /// Delayed keys by due time (and a sequence number: same-time keys stay in order of asking).
    delayed: BTreeMap<(Instant, u64), K>,
    /// The delay-queue entry of each delayed key.
    due: HashMap<K, (Instant, u64)>,
    seq: u64,
    shutdown: bool,
}

/// A FIFO work queue with deduplication, no concurrent runs of one key, and delayed adds.
pub struct WorkQueue<K> {
    inner: Mutex<Inner<K>>,
    /// Woken when a key becomes ready, the next due time moves earlier, or on shutdown.
    changed: Notify,
}

impl<K: Hash + Eq + Clone> Default for WorkQueue<K> {
    fn default() -> Self {
        WorkQueue {
            inner: Mutex::new(Inner {
                fifo: VecDeque::new(),
                queued: HashSet::new(),
                running: HashMap::new(),
                delayed: BTreeMap::new(),
                due: HashMap::new(),
                seq: 0,
                shutdown: false,
            }),
            changed: Notify::new(),
        }
    }
}

impl<K: Hash + Eq + Clone> Inner<K> {
    fn push(&mut self, key: K) {
        if self.queued.insert(key.clone()) {
            self.fifo.push_back(key);
        }
    }

    fn undelay(&mut self, key: &K) {
        if let Some(entry) = self.due.remove(key) {
            self.delayed.remove(&entry);
            release_sparse(&mut self.due);
        }
    }

    /// Queues `key` to run at `at` (`None`: now). True when a waiting worker should look again.
    fn add(&mut self, key: K, at: Option<Instant>, now: Instant) -> bool {
        if self.shutdown || self.queued.contains(&key) {
            return false;
        }
        if let Some(again) = self.running.get_mut(&key) {
            *again = match (*again, at) {
                (Some(None), _) | (_, None) => Some(None),
                (Some(Some(a)), Some(b)) => Some(Some(a.min(b))),
                (None, Some(b)) => Some(Some(b)),
            };
            return false;
        }
        match at.filter(|t| *t > now) {
            None => {
                self.undelay(&key);
                self.push(key);
                true
            }
            Some(at) => {
                if self.due.get(&key).is_some_and(|(t, _)| *t <= at) {
                    return false;
                }
                self.undelay(&key);
                let entry = (at, self.seq);
                self.seq = self.seq.wrapping_add(1);
                let earliest = self
                    .delayed
                    .first_key_value()
                    .is_none_or(|(first, _)| entry < *first);
                self.delayed.insert(entry, key.clone());
                self.due.insert(key, entry);
                earliest
            }
        }
    }

    /// Moves the delayed keys due by `now` to the tail, in due order.
    fn promote(&mut self, now: Instant) {
        while let Some(entry) = self.delayed.first_entry() {
            if entry.key().0 > now {
                break;
            }
            let key = entry.remove();
            self.due.remove(&key);
            self.push(key);
        }
    }
}

impl<K: Hash + Eq + Clone> WorkQueue<K> {
    fn lock(&self) -> std::sync::MutexGuard<'_, Inner<K>> {
        self.inner
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Queues `key` at the tail, unless it is queued already (then it keeps its place) or running
    /// (then it is queued again when that run is done).
    pub fn add(&self, key: K) {
        let now = Instant::now();
        if self.lock().add(key, None, now) {
            self.changed.notify_waiters();
        }
    }

    /// Queues `key` at the tail once `delay` has passed (at once for a zero delay).
    pub fn add_after(&self, key: K, delay: Duration) {
        let now = Instant::now();
        if self.lock().add(key, Some(now + delay), now) {
            self.changed.notify_waiters();
        }
    }

    /// The next key to run, oldest first, waiting for one; `None` once shut down. The key is
    /// running until [`Self::done`] is called with it.
    pub async fn next(&self) -> Option<K> {
        loop {
            // Registered before the look, so a change between the look and the wait wakes it.
            let changed = self.changed.notified();
            let mut changed = std::pin::pin!(changed);
            changed.as_mut().enable();
            let next_due = {
                let mut inner = self.lock();
                if inner.shutdown {
                    return None;
                }
                inner.promote(Instant::now());
                if let Some(key) = inner.fifo.pop_front() {
                    inner.queued.remove(&key);
                    if inner.fifo.is_empty() && inner.fifo.capacity() > KEPT_SLOTS {
                        inner.fifo.shrink_to(KEPT_SLOTS / 2);
                    }
                    release_sparse_set(&mut inner.queued);
                    inner.running.insert(key.clone(), None);
                    return Some(key);
                }
                inner.delayed.first_key_value().map(|((t, _), _)| *t)
            };
            match next_due {
                Some(at) => {
                    tokio::select! {
                        _ = changed => {}
                        _ = tokio::time::sleep_until(at) => {}
                    }
                }
                None => changed.await,
            }
        }
    }

    /// The run of `key` ended: what was asked for it meanwhile is queued now.
    pub fn done(&self, key: &K) {
        let now = Instant::now();
        let wake = {
            let mut inner = self.lock();
            let again = inner.running.remove(key);
            release_sparse(&mut inner.running);
            match again {
                Some(Some(at)) => inner.add(key.clone(), at, now),
                _ => false,
            }
        };
        if wake {
            self.changed.notify_waiters();
        }
    }

    /// Drops `key` from the queue and the delay queue (a deleted object).
    pub fn forget(&self, key: &K) {
        let mut inner = self.lock();
        inner.undelay(key);
        if inner.queued.remove(key) {
            inner.fifo.retain(|k| k != key);
        }
    }

    /// No key is handed out from now on; [`Self::next`] returns `None`.
    pub fn shutdown(&self) {
        self.lock().shutdown = true;
        self.changed.notify_waiters();
    }

    /// Keys ready to run (not counting delayed or running keys).
    pub fn len(&self) -> usize {
        self.lock().fifo.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Keys running now.
    pub fn running(&self) -> usize {
        self.lock().running.len()
    }

    /// Keys waiting in the delay queue.
    pub fn delayed(&self) -> usize {
        self.lock().delayed.len()
    }
}

#[cfg(test)]
mod tests;
