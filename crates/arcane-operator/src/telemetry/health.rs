//! Liveness and readiness: a heartbeat that proves the Tokio runtime still schedules tasks, and
//! a caller-supplied readiness check.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use tokio::task::JoinHandle;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

/// How often the heartbeat task ticks by default.
pub const DEFAULT_HEARTBEAT_INTERVAL: Duration = Duration::from_secs(1);

/// How old the last heartbeat may be before the process counts as wedged. Generous, because a
/// CPU-throttled pod can stall for seconds without being broken, and a restart loses every watch.
pub const DEFAULT_LIVENESS_THRESHOLD: Duration = Duration::from_secs(30);

/// Proof of life of the runtime: a task on it calls [`beat`](Self::beat) every interval, and the
/// liveness probe fails once the last beat is older than the threshold.
#[derive(Clone, Debug)]
pub struct Heartbeat {
    inner: Arc<HeartbeatInner>,
}

#[derive(Debug)]
struct HeartbeatInner {
    origin: Instant,
    /// Milliseconds from `origin` to the last beat.
    last_ms: AtomicU64,
    threshold: Duration,
}

impl Heartbeat {
    /// A heartbeat that counts as alive until `threshold` passes without a beat.
    pub fn new(threshold: Duration) -> Self {
        Heartbeat {
            inner: Arc::new(HeartbeatInner {
                origin: Instant::now(),
                last_ms: AtomicU64::new(0),
                threshold,
            }),
        }
    }

    /// Records a beat now.
    pub fn beat(&self) {
        self.beat_at(Instant::now());
    }

    fn beat_at(&self, at: Instant) {
        let ms = millis(at.saturating_duration_since(self.inner.origin));
        self.inner.last_ms.fetch_max(ms, Ordering::Relaxed);
    }

    /// Time since the last beat, as of `now`.
    pub fn age_at(&self, now: Instant) -> Duration {
        let last = self.inner.origin + Duration::from_millis(self.inner.last_ms.load(Ordering::Relaxed));
        now.saturating_duration_since(last)
    }

    /// Whether the last beat is recent enough, as of `now`.
    pub fn is_alive_at(&self, now: Instant) -> bool {
        self.age_at(now) <= self.inner.threshold
    }

    /// Whether the last beat is recent enough.
    pub fn is_alive(&self) -> bool {
        self.is_alive_at(Instant::now())
    }

    /// Spawns the task that beats every `interval` until `shutdown` is cancelled.
    pub fn spawn(&self, interval: Duration, shutdown: CancellationToken) -> JoinHandle<()> {
        let heartbeat = self.clone();
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(interval);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tokio::select! {
                    _ = shutdown.cancelled() => break,
                    _ = tick.tick() => heartbeat.beat(),
                }
            }
        })
    }
}

fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

/// The answer of a readiness check.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Readiness {
    Ready,
    /// Not ready; the text says what is missing (it is the probe's response body).
    NotReady(String),
}

impl Readiness {
    /// Ready when every named condition holds; otherwise lists the ones that do not.
    pub fn from_conditions<'a>(conditions: impl IntoIterator<Item = (&'a str, bool)>) -> Readiness {
        let missing: Vec<&str> = conditions
            .into_iter()
            .filter(|(_, ok)| !ok)
            .map(|(name, _)| name)
            .collect();
        if missing.is_empty() {
            Readiness::Ready
        } else {
            Readiness::NotReady(format!("waiting for: {}", missing.join(", ")))
        }
    }

    pub fn is_ready(&self) -> bool {
        matches!(self, Readiness::Ready)
    }
}

/// Something that says whether the operator is ready to serve.
pub trait ReadinessCheck: Send + Sync + 'static {
    fn check(&self) -> Readiness;
}

impl<F> ReadinessCheck for F
where
    F: Fn() -> Readiness + Send + Sync + 'static,
{
    fn check(&self) -> Readiness {
        self()
    }
}

/// What the probe server answers from.
#[derive(Clone)]
pub struct HealthState {
    pub heartbeat: Heartbeat,
    pub readiness: Arc<dyn ReadinessCheck>,
}

impl std::fmt::Debug for HealthState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HealthState")
            .field("heartbeat", &self.heartbeat)
            .finish_non_exhaustive()
    }
}

impl HealthState {
    pub fn new(heartbeat: Heartbeat, readiness: impl ReadinessCheck) -> Self {
        HealthState {
            heartbeat,
            readiness: Arc::new(readiness),
        }
    }

    /// The liveness answer: `Ok` with a body, or `Err` with the reason.
    pub fn liveness(&self) -> Result<String, String> {
        let now = Instant::now();
        let age = self.heartbeat.age_at(now);
        if self.heartbeat.is_alive_at(now) {
            Ok("OK".to_string())
        } else {
            Err(format!("runtime heartbeat is {} ms old", age.as_millis()))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn heartbeat_ages_against_the_clock() {
        let hb = Heartbeat::new(Duration::from_secs(5));
        let t0 = Instant::now();
        let cases = [(0, true), (5, true), (6, false), (60, false)];
        for (secs, alive) in cases {
            assert_eq!(
                hb.is_alive_at(t0 + Duration::from_secs(secs)),
                alive,
                "after {secs}s"
            );
        }
        hb.beat_at(t0 + Duration::from_secs(60));
        assert!(hb.is_alive_at(t0 + Duration::from_secs(61)));
        // An older beat (a late task) never moves the heartbeat back.
        hb.beat_at(t0 + Duration::from_secs(1));
        assert_eq!(hb.age_at(t0 + Duration::from_secs(61)), Duration::from_secs(1));
    }

    #[tokio::test(start_paused = true)]
    async fn heartbeat_task_keeps_it_alive_until_cancelled() {
        let hb = Heartbeat::new(Duration::from_secs(3));
        let stop = CancellationToken::new();
        let task = hb.spawn(Duration::from_secs(1), stop.clone());
        tokio::time::sleep(Duration::from_secs(30)).await;
        assert!(hb.is_alive(), "beating task keeps the heartbeat fresh");
        stop.cancel();
        task.await.unwrap();
        tokio::time::sleep(Duration::from_secs(4)).await;
        assert!(!hb.is_alive(), "no beats for longer than the threshold");
    }

    #[test]
    fn readiness_lists_what_is_missing() {
        let cases: [(&[(&str, bool)], Readiness); 3] = [
            (&[("watches synced", true), ("leading", true)], Readiness::Ready),
            (
                &[("watches synced", false), ("leading", true)],
                Readiness::NotReady("waiting for: watches synced".into()),
            ),
            (
                &[("watches synced", false), ("leading", false)],
                Readiness::NotReady("waiting for: watches synced, leading".into()),
            ),
        ];
        for (conditions, expected) in cases {
            assert_eq!(Readiness::from_conditions(conditions.iter().copied()), expected);
        }
    }
}
