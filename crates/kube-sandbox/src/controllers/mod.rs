//! Simulated kube-controller-manager: the garbage collector, the Job controller and the CronJob controller.
//! (Namespace finalization and CRD establishment live in `registry`.)
//!
//! They run in one task fed by the store's event broadcast and write through the store like real controllers
//! (field managers `garbage-collector`, `job-controller`, `cronjob-controller`), so their writes produce normal
//! watch events and resourceVersions. They are not HTTP clients, so they never appear in the request log.

pub mod cronjob;
mod cronjob_task;
pub mod cronspec;
pub mod gc;
pub mod job;
mod job_task;
mod queue;
mod util;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use tokio::sync::{Notify, broadcast};
use tokio::task::JoinHandle;
use tokio::time::Instant;
use tracing::warn;

pub use job::{AFTER_ANNOTATION, JobOutcome, JobPolicy, OUTCOME_ANNOTATION};
pub use util::parse_duration;

use crate::store::Store;
use cronjob_task::{CronClock, CronSim};
use gc::Gc;
use job_task::JobSim;

/// How the simulated controllers behave.
#[derive(Clone, Debug)]
pub struct ControllerConfig {
    /// Outcome of a Job without a `sandbox.arcane.dev/outcome` annotation.
    pub job_outcome: JobOutcome,
    /// Run time of a Job without a `sandbox.arcane.dev/after` annotation.
    pub job_after: Duration,
    /// Create one Pod per Job (Running, then Succeeded/Failed). Off by default: it doubles the writes per Job.
    pub simulate_pods: bool,
    /// Delay between an event and the garbage collector acting on it (a real cluster takes milliseconds).
    pub gc_delay: Duration,
    /// Length of one CronJob schedule minute; shorter than 60 s makes schedules fire faster (tests).
    pub cron_minute: Duration,
}

impl Default for ControllerConfig {
    fn default() -> Self {
        ControllerConfig {
            job_outcome: JobOutcome::Succeed,
            job_after: Duration::from_secs(5),
            simulate_pods: false,
            gc_delay: Duration::from_millis(50),
            cron_minute: Duration::from_secs(60),
        }
    }
}

/// Pauses and resumes the garbage collector (fault injection). Cheap to clone; while paused, the collector
/// keeps indexing events and catches up on resume.
#[derive(Clone, Debug, Default)]
pub struct GcSwitch {
    paused: Arc<AtomicBool>,
    wake: Arc<Notify>,
}

impl GcSwitch {
    pub fn pause(&self) {
        self.paused.store(true, Ordering::SeqCst);
    }

    pub fn resume(&self) {
        self.paused.store(false, Ordering::SeqCst);
        self.wake.notify_one();
    }

    pub fn is_paused(&self) -> bool {
        self.paused.load(Ordering::SeqCst)
    }
}

/// Running controllers; dropping the handle stops them.
pub struct ControllerHandle {
    gc: GcSwitch,
    stop: Arc<Notify>,
    task: Option<JoinHandle<()>>,
}

impl ControllerHandle {
    pub fn gc_switch(&self) -> GcSwitch {
        self.gc.clone()
    }

    pub fn pause_gc(&self) {
        self.gc.pause();
    }

    pub fn resume_gc(&self) {
        self.gc.resume();
    }

    /// Stops the controllers and waits for their task to end.
    pub async fn shutdown(mut self) {
        self.stop.notify_one();
        if let Some(task) = self.task.take() {
            let _ = task.await;
        }
    }
}

impl Drop for ControllerHandle {
    fn drop(&mut self) {
        if let Some(task) = self.task.take() {
            task.abort();
        }
    }
}

/// Starts the controllers on the current tokio runtime.
pub fn start(store: Store, config: ControllerConfig) -> ControllerHandle {
    let gc_switch = GcSwitch::default();
    let stop = Arc::new(Notify::new());
    // Subscribe before the initial sync so no change falls between the two.
    let rx = store.subscribe();
    let task = tokio::spawn(run(store, config, rx, gc_switch.clone(), stop.clone()));
    ControllerHandle {
        gc: gc_switch,
        stop,
        task: Some(task),
    }
}

async fn run(
    store: Store,
    config: ControllerConfig,
    mut rx: crate::store::EventReceiver,
    switch: GcSwitch,
    stop: Arc<Notify>,
) {
    let mut gc = Gc::new(config.gc_delay);
    let mut jobs = JobSim::new(
        JobPolicy {
            outcome: config.job_outcome,
            after: config.job_after,
        },
        config.simulate_pods,
    );
    let mut crons = CronSim::new(CronClock::new(jiff::Timestamp::now(), config.cron_minute));
    gc.resync(&store);
    jobs.resync(&store);
    crons.resync(&store);
    loop {
        // Due work first: a steady stream of events must not starve timers.
        if !switch.is_paused() && gc.next_deadline().is_some_and(|d| d <= Instant::now()) {
            gc.process_due(&store);
        }
        if jobs.next_deadline().is_some_and(|d| d <= Instant::now()) {
            jobs.process_due(&store);
        }
        if crons.next_deadline().is_some_and(|d| d <= Instant::now()) {
            crons.process_due(&store);
        }
        let gc_deadline = if switch.is_paused() {
            None
        } else {
            gc.next_deadline()
        };
        let deadline = [gc_deadline, jobs.next_deadline(), crons.next_deadline()]
            .into_iter()
            .flatten()
            .min();
        let sleep_until = deadline.unwrap_or_else(|| Instant::now() + Duration::from_secs(3600));
        tokio::select! {
            biased;
            () = stop.notified() => break,
            received = rx.recv() => match received {
                Ok(event) => {
                    gc.on_event(&store, &event);
                    jobs.on_event(&store, &event);
                    crons.on_event(&store, &event);
                }
                Err(broadcast::error::RecvError::Lagged(missed)) => {
                    warn!(missed, "controllers fell behind the store's events; re-listing");
                    gc.resync(&store);
                    jobs.resync(&store);
                    crons.resync(&store);
                }
                Err(broadcast::error::RecvError::Closed) => break,
            },
            () = switch.wake.notified() => {}
            // Due work runs at the top of the loop.
            () = tokio::time::sleep_until(sleep_until) => {}
        }
    }
}

#[cfg(test)]
mod tests;
