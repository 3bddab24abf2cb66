//! Drives the CronJob simulator against the store: syncs a CronJob when it changes, when one of its Jobs
//! changes and when its next scheduled time comes.
//!
//! The schedule clock can run faster than real time for tests: with `cron_minute` = 1 s, one real second counts
//! as one schedule minute from the moment the controllers started, so `*/1 * * * *` fires every second.
//! Times the simulator writes (`lastScheduleTime`, the child Job names) are then on that fast clock.

use std::time::Duration;

use jiff::{SignedDuration, Timestamp};
use serde_json::Value;
use tokio::time::Instant;
use tracing::{debug, warn};

use super::cronjob::{self, CronPlan};
use super::job_task::{instant_at, jobs_gvr};
use super::queue::DelayQueue;
use super::util::{controller_ref, meta_str, name, namespace, parse_time, uid};
use crate::store::{
    ApiError, DeleteOptions, EventKind, Gvr, Propagation, Store, StoreEvent, Subresource, WriteOptions,
};

const MANAGER: &str = "cronjob-controller";

pub(super) fn cronjobs_gvr() -> Gvr {
    Gvr::new("batch", "v1", "cronjobs")
}

/// Maps real time to the schedule clock, which runs `60 s / cron_minute` times faster from `anchor`.
#[derive(Clone, Copy, Debug)]
pub(super) struct CronClock {
    anchor: Timestamp,
    scale: f64,
}

impl CronClock {
    pub(super) fn new(anchor: Timestamp, cron_minute: Duration) -> Self {
        let minute = cron_minute.as_secs_f64();
        let scale = if minute > 0.0 { 60.0 / minute } else { 1.0 };
        CronClock { anchor, scale }
    }

    pub(super) fn to_schedule(self, real: Timestamp) -> Timestamp {
        if self.scale == 1.0 || real <= self.anchor {
            return real;
        }
        let elapsed = real.duration_since(self.anchor).as_secs_f64() * self.scale;
        SignedDuration::try_from_secs_f64(elapsed)
            .ok()
            .and_then(|d| self.anchor.checked_add(d).ok())
            .unwrap_or(real)
    }

    pub(super) fn to_real(self, scheduled: Timestamp) -> Timestamp {
        if self.scale == 1.0 || scheduled <= self.anchor {
            return scheduled;
        }
        let elapsed = scheduled.duration_since(self.anchor).as_secs_f64() / self.scale;
        SignedDuration::try_from_secs_f64(elapsed)
            .ok()
            .and_then(|d| self.anchor.checked_add(d).ok())
            .unwrap_or(scheduled)
    }
}

type Key = (String, String);

pub(super) struct CronSim {
    clock: CronClock,
    queue: DelayQueue<Key>,
}

impl CronSim {
    pub(super) fn new(clock: CronClock) -> Self {
        CronSim {
            clock,
            queue: DelayQueue::default(),
        }
    }

    pub(super) fn next_deadline(&self) -> Option<Instant> {
        self.queue.next_deadline()
    }

    pub(super) fn resync(&mut self, store: &Store) {
        let (all, _) = store.list_stored(&cronjobs_gvr(), None);
        for stored in all {
            self.sync(store, &stored.decode());
        }
    }

    pub(super) fn on_event(&mut self, store: &Store, event: &StoreEvent) {
        if event.gvr == cronjobs_gvr() {
            let key = (
                namespace(&event.object).unwrap_or_default().to_owned(),
                name(&event.object).to_owned(),
            );
            if event.kind == EventKind::Deleted {
                self.queue.remove(&key);
            } else {
                self.sync(store, &event.object);
            }
        } else if event.gvr == jobs_gvr()
            && let Some(owner) = controller_ref(&event.object).filter(|r| r.kind == "CronJob")
            && let Some(cj) = store.get_arc(&cronjobs_gvr(), namespace(&event.object), &owner.name)
            && uid(&cj) == owner.uid
        {
            self.sync(store, &cj);
        }
    }

    pub(super) fn process_due(&mut self, store: &Store) {
        for (ns, n) in self.queue.pop_due(Instant::now(), 64) {
            if let Some(cj) = store.get_arc(&cronjobs_gvr(), Some(&ns), &n) {
                self.sync(store, &cj);
            }
        }
    }

    fn sync(&mut self, store: &Store, cj: &Value) {
        let real_now = Timestamp::now();
        let now = self.clock.to_schedule(real_now);
        let created = meta_str(cj, "creationTimestamp")
            .and_then(parse_time)
            .map_or(now, |t| self.clock.to_schedule(t));
        // Only Jobs whose bytes mention the CronJob's uid are parsed (`children` then checks the owner): a
        // namespace of 100,000 other Jobs is not parsed on every schedule.
        let cj_uid = uid(cj).as_bytes();
        let (stored, _) = store.list_stored(&jobs_gvr(), namespace(cj));
        let jobs: Vec<Value> = stored
            .iter()
            .filter(|j| !cj_uid.is_empty() && j.bytes().windows(cj_uid.len()).any(|w| w == cj_uid))
            .map(|j| std::sync::Arc::unwrap_or_clone(j.decode()))
            .collect();
        let children = cronjob::children(cj, &jobs);
        let plan = cronjob::plan(cj, &children, now, created);
        if let Some(e) = &plan.error {
            warn!(cronjob = name(cj), error = %e, "cronjob cannot be scheduled");
        }
        if let Some(at) = plan.wake_at {
            let key = (namespace(cj).unwrap_or_default().to_owned(), name(cj).to_owned());
            self.queue
                .schedule(key, instant_at(self.clock.to_real(at), real_now));
        }
        if let Err(e) = carry_out(store, cj, &plan) {
            if e.code == 409 {
                debug!(cronjob = name(cj), error = %e, "cronjob simulator write conflicted");
            } else {
                warn!(cronjob = name(cj), error = %e, "cronjob simulator write failed");
            }
        }
    }
}

fn carry_out(store: &Store, cj: &Value, plan: &CronPlan) -> Result<(), ApiError> {
    let ns = namespace(cj);
    for job_name in &plan.delete {
        let opts = DeleteOptions {
            propagation: Some(Propagation::Background),
            ..DeleteOptions::default()
        };
        match store.delete_ext(&jobs_gvr(), ns, job_name, &opts) {
            Err(e) if e.code != 404 => return Err(e),
            _ => {}
        }
    }
    let created = match &plan.create {
        None => None,
        Some(job) => match store.create_with(&jobs_gvr(), job.clone(), &WriteOptions::manager(MANAGER)) {
            Ok(j) => Some(j),
            // Created on an earlier pass whose status write was lost: adopt it if it is ours.
            Err(e) if e.code == 409 => store
                .get(&jobs_gvr(), ns, name(job))
                .filter(|j| controller_ref(j).is_some_and(|r| r.uid == uid(cj))),
            Err(e) => return Err(e),
        },
    };
    let status = cronjob::render_status(cj, plan, created.as_ref());
    if cj.get("status") == Some(&status) || (cj.get("status").is_none() && status == serde_json::json!({})) {
        return Ok(());
    }
    let mut next = cj.clone();
    next["status"] = status;
    store
        .update_with(
            &cronjobs_gvr(),
            next,
            &WriteOptions::manager(MANAGER),
            Subresource::Status,
        )
        .map(|_| ())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fast_clock_scales_from_anchor() {
        let anchor: Timestamp = "2026-01-01T00:00:00Z".parse().unwrap();
        let clock = CronClock::new(anchor, Duration::from_secs(1));
        let real: Timestamp = "2026-01-01T00:00:02Z".parse().unwrap();
        let scheduled = clock.to_schedule(real);
        assert_eq!(scheduled, "2026-01-01T00:02:00Z".parse().unwrap());
        assert_eq!(clock.to_real(scheduled), real);
        let identity = CronClock::new(anchor, Duration::from_secs(60));
        assert_eq!(identity.to_schedule(real), real);
    }
}
