//! A keyed delay queue: each key is due once, at the earliest time it was scheduled for.

use std::collections::{BTreeSet, HashMap};
use std::hash::Hash;

use tokio::time::Instant;

pub(super) struct DelayQueue<K> {
    by_time: BTreeSet<(Instant, u64, K)>,
    due: HashMap<K, (Instant, u64)>,
    seq: u64,
}

impl<K: Clone + Eq + Hash + Ord> Default for DelayQueue<K> {
    fn default() -> Self {
        DelayQueue {
            by_time: BTreeSet::new(),
            due: HashMap::new(),
            seq: 0,
        }
    }
}

impl<K: Clone + Eq + Hash + Ord> DelayQueue<K> {
    /// Schedules `key` at `at`, unless it is already scheduled earlier.
    pub(super) fn schedule(&mut self, key: K, at: Instant) {
        if let Some(&(existing, seq)) = self.due.get(&key) {
            if existing <= at {
                return;
            }
            self.by_time.remove(&(existing, seq, key.clone()));
        }
        self.seq += 1;
        self.due.insert(key.clone(), (at, self.seq));
        self.by_time.insert((at, self.seq, key));
    }

    pub(super) fn remove(&mut self, key: &K) {
        if let Some((at, seq)) = self.due.remove(key) {
            self.by_time.remove(&(at, seq, key.clone()));
        }
    }

    pub(super) fn next_deadline(&self) -> Option<Instant> {
        self.by_time.first().map(|(at, _, _)| *at)
    }

    /// Removes and returns up to `max` keys due at `now`, earliest first.
    pub(super) fn pop_due(&mut self, now: Instant, max: usize) -> Vec<K> {
        let mut out = Vec::new();
        while out.len() < max {
            match self.by_time.first() {
                Some((at, _, _)) if *at <= now => {}
                _ => break,
            }
            if let Some((_, _, key)) = self.by_time.pop_first() {
                self.due.remove(&key);
                out.push(key);
            }
        }
        out
    }

    pub(super) fn len(&self) -> usize {
        self.due.len()
    }

    pub(super) fn clear(&mut self) {
        self.by_time.clear();
        self.due.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn earliest_schedule_wins_and_pops_in_order() {
        let t0 = Instant::now();
        let mut q = DelayQueue::default();
        q.schedule("b", t0 + Duration::from_secs(2));
        q.schedule("a", t0 + Duration::from_secs(3));
        q.schedule("a", t0 + Duration::from_secs(1));
        q.schedule("b", t0 + Duration::from_secs(5));
        assert_eq!(q.len(), 2);
        assert_eq!(q.next_deadline(), Some(t0 + Duration::from_secs(1)));
        assert_eq!(q.pop_due(t0, 10), Vec::<&str>::new());
        assert_eq!(q.pop_due(t0 + Duration::from_secs(10), 1), vec!["a"]);
        q.remove(&"b");
        assert_eq!(q.pop_due(t0 + Duration::from_secs(10), 10), Vec::<&str>::new());
        assert_eq!(q.next_deadline(), None);
    }
}
