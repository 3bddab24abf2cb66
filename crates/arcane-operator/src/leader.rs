//! Leader election on a `coordination.k8s.io/v1` Lease, with client-go's semantics:
//!
//! * a follower polls the Lease every retry period (with jitter) and takes it over only when
//!   nobody holds it, or when the holder's record has not changed for a full lease duration
//!   *as measured on the follower's own clock* (so clock skew between nodes does not matter:
//!   the wall-clock `renewTime`/`acquireTime` are written for humans and never read back;
//!   [`LeaderConfig::clock_skew`] skews them on purpose in fault-injection tests). The follower's
//!   clock for a record starts when its read of that record *returned* (the write it shows may
//!   have landed at any time while the read was in flight), and it polls again at the instant
//!   the record expires rather than up to a jittered retry period later: a dead leader is
//!   replaced one lease duration after the follower first saw its last renewal, no later;
//! * every write is a replace carrying the `resourceVersion` that was read, so of two replicas
//!   racing for the Lease exactly one wins (the other gets a 409);
//! * the leader renews every retry period and steps down — the channel turns `false` at that
//!   instant — as soon as it has not renewed for the renew deadline, or sees another holder.
//!   A renewal counts from when its write was *sent* (the server may have applied it at once and
//!   answered late), so the leader stops within the renew deadline of its last applied write,
//!   while a follower waits a lease duration after it could first have seen that write. The renew
//!   deadline is shorter than the lease duration, so the old leader has stopped before any
//!   follower may take over, whatever the latency of either's calls;
//! * [`LeaderElection::release`] clears the holder so a successor takes over on its next poll.
//!
//! `kube-lease-manager` 0.13 (which supports kube 5) was evaluated and not used: a leader that
//! cannot reach the API keeps reporting `true` indefinitely (its watch loop only logs renewal
//! errors), it notices a lost Lease only at its next renewal, and its model has no renew deadline
//! or retry period. Any of these lets two replicas act as leader at once.

mod durations;
mod store;
#[cfg(test)]
mod tests;
mod trouble;

use std::hash::BuildHasher;
use std::time::Duration;

use k8s_openapi::api::coordination::v1::{Lease, LeaseSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::MicroTime;
use k8s_openapi::jiff::{SignedDuration, Timestamp};
use kube::Client;
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tokio::time::Instant;
use tokio_util::sync::{CancellationToken, DropGuard};

pub use durations::{parse_duration, parse_signed_duration};
pub use store::{KubeLeaseStore, LeaseStore};

use crate::telemetry::Metrics;

/// controller-runtime's defaults.
pub const DEFAULT_LEASE_DURATION: Duration = Duration::from_secs(15);
pub const DEFAULT_RENEW_DEADLINE: Duration = Duration::from_secs(10);
pub const DEFAULT_RETRY_PERIOD: Duration = Duration::from_secs(2);
/// client-go's jitter on a follower's retry period: it waits up to 1.2 × longer.
const JITTER_FACTOR: f64 = 1.2;
/// Attempts at clearing the holder on release (each may meet a concurrent write).
const RELEASE_ATTEMPTS: usize = 3;
/// The largest wall-clock skew a replica may simulate: a day is far beyond any real node's drift
/// and keeps the written times plausible.
pub const MAX_CLOCK_SKEW: Duration = Duration::from_secs(24 * 3600);

/// Errors of leader election.
#[derive(Debug, thiserror::Error)]
pub enum LeaderError {
    #[error("invalid leader election settings: {0}")]
    Config(String),
    #[error("the Lease was changed concurrently")]
    Conflict,
    #[error("Kubernetes API error on the Lease: {}", crate::telemetry::watch::describe_kube_error(.0))]
    Api(#[source] kube::Error),
    #[error("the Lease call did not finish within the renew deadline")]
    Timeout,
    #[error("the leader election task stopped abnormally: {0}")]
    Task(String),
}

/// Which Lease, who we are, and the timing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LeaderConfig {
    pub lease_name: String,
    pub lease_namespace: String,
    /// Unique per replica: the pod name.
    pub identity: String,
    pub lease_duration: Duration,
    pub renew_deadline: Duration,
    pub retry_period: Duration,
    /// Added to every wall-clock time this replica writes into the Lease (`acquireTime`,
    /// `renewTime`), as if its clock were off by that much. For fault-injection tests only:
    /// decisions never read those times, so a skew must not change who leads.
    pub clock_skew: SignedDuration,
}

impl LeaderConfig {
    /// The Lease `namespace/name` held as `identity`, with controller-runtime's timing.
    pub fn new(lease_name: &str, lease_namespace: &str, identity: &str) -> Self {
        LeaderConfig {
            lease_name: lease_name.to_string(),
            lease_namespace: lease_namespace.to_string(),
            identity: identity.to_string(),
            lease_duration: DEFAULT_LEASE_DURATION,
            renew_deadline: DEFAULT_RENEW_DEADLINE,
            retry_period: DEFAULT_RETRY_PERIOD,
            clock_skew: SignedDuration::ZERO,
        }
    }

    /// client-go's rules: lease duration > renew deadline > 1.2 × retry period > 0.
    pub fn validate(&self) -> Result<(), LeaderError> {
        let fail = |m: String| Err(LeaderError::Config(m));
        if self.lease_name.is_empty() || self.lease_namespace.is_empty() {
            return fail("the lease name and namespace must not be empty".into());
        }
        if self.identity.is_empty() {
            return fail("the identity must not be empty (set POD_NAME)".into());
        }
        if self.retry_period.is_zero() {
            return fail("the retry period must be positive".into());
        }
        if self.lease_duration <= self.renew_deadline {
            return fail(format!(
                "the lease duration ({:?}) must be longer than the renew deadline ({:?})",
                self.lease_duration, self.renew_deadline
            ));
        }
        if self.renew_deadline.as_secs_f64() <= JITTER_FACTOR * self.retry_period.as_secs_f64() {
            return fail(format!(
                "the renew deadline ({:?}) must be longer than {JITTER_FACTOR} × the retry period ({:?})",
                self.renew_deadline, self.retry_period
            ));
        }
        if self.lease_duration.as_secs() >= i32::MAX as u64 {
            return fail("the lease duration is too long".into());
        }
        if self.clock_skew.unsigned_abs() > MAX_CLOCK_SKEW {
            return fail(format!(
                "the clock skew ({}) must be within ±{MAX_CLOCK_SKEW:?}",
                self.clock_skew
            ));
        }
        Ok(())
    }
}

/// This replica's identity: `POD_NAME` (set by the chart from the downward API), else the
/// host name, which is the pod name inside a pod.
pub fn default_identity() -> Option<String> {
    let from_env = std::env::var("POD_NAME").ok().filter(|v| !v.trim().is_empty());
    from_env.or_else(|| {
        std::fs::read_to_string("/proc/sys/kernel/hostname")
            .ok()
            .map(|h| h.trim().to_string())
            .filter(|h| !h.is_empty())
    })
}

/// A running election. The channel says whether this replica leads; it turns `false` the
/// moment leadership is lost. After a loss the election goes on, so it may turn `true` again:
/// a caller that cannot resume cleanly should stop on the first `true → false`.
pub struct LeaderElection<S: LeaseStore = KubeLeaseStore> {
    leading: watch::Receiver<bool>,
    /// Why the Lease cannot be read or written right now (see [`LeaderElection::trouble`]).
    trouble: watch::Receiver<Option<String>>,
    stop: DropGuard,
    task: JoinHandle<Elector<S>>,
}

impl LeaderElection<KubeLeaseStore> {
    /// Starts campaigning for the Lease of `config` on the current Tokio runtime.
    pub fn start(
        client: Client,
        config: LeaderConfig,
        metrics: Option<Metrics>,
    ) -> Result<Self, LeaderError> {
        let store = KubeLeaseStore::new(client, &config.lease_namespace, &config.lease_name);
        LeaderElection::start_with(store, config, metrics)
    }
}

impl<S: LeaseStore> LeaderElection<S> {
    /// Starts campaigning through `store`.
    pub fn start_with(store: S, config: LeaderConfig, metrics: Option<Metrics>) -> Result<Self, LeaderError> {
        config.validate()?;
        if let Some(m) = &metrics {
            m.set_leader(&config.lease_name, false);
        }
        let (tx, leading) = watch::channel(false);
        let (trouble_tx, trouble) = watch::channel(None);
        let stop = CancellationToken::new();
        let elector = Elector {
            store,
            config,
            metrics,
            tx,
            trouble: trouble_tx,
            trouble_logged: None,
            observed: None,
            leading_since_renew: None,
            attempts: 0,
        };
        let task = tokio::spawn(elector.run(stop.clone()));
        Ok(LeaderElection {
            leading,
            trouble,
            stop: stop.drop_guard(),
            task,
        })
    }

    /// A receiver of the "is leader" state.
    pub fn subscribe(&self) -> watch::Receiver<bool> {
        self.leading.clone()
    }

    /// Why the last attempt at the Lease failed (None once an attempt succeeds): a replica that
    /// cannot reach its Lease can never lead, and readiness says so.
    pub fn trouble(&self) -> watch::Receiver<Option<String>> {
        self.trouble.clone()
    }

    pub fn is_leader(&self) -> bool {
        *self.leading.borrow()
    }

    /// Stops campaigning and, if leading, clears the holder so a successor takes over at once.
    /// Call it after the work that needs leadership has stopped.
    pub async fn release(self) -> Result<(), LeaderError> {
        let LeaderElection {
            leading: _,
            trouble: _,
            stop,
            task,
        } = self;
        stop.disarm().cancel();
        let elector = task.await.map_err(|e| LeaderError::Task(e.to_string()))?;
        elector.release().await
    }
}

/// What was last read from the Lease, and when it last changed as seen from here: the instant
/// the call that first returned the current spec came back.
struct Observed {
    lease: Lease,
    changed_at: Instant,
}

/// What to do about the Lease as last read.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Step {
    /// Write ourselves as holder; `renewing` when we already hold it.
    Claim { renewing: bool },
    /// Another replica holds a Lease that has not expired.
    Follow { holder: String },
}

/// The holder's lease duration as written in the Lease, else ours.
fn lease_duration_of(spec: Option<&LeaseSpec>, default: Duration) -> Duration {
    spec.and_then(|s| s.lease_duration_seconds)
        .and_then(|d| u64::try_from(d).ok())
        .filter(|d| *d > 0)
        .map_or(default, Duration::from_secs)
}

/// The holder named in the Lease, if any.
fn holder_of(spec: Option<&LeaseSpec>) -> Option<&str> {
    spec.and_then(|s| s.holder_identity.as_deref())
        .filter(|h| !h.is_empty())
}

/// Decides from the Lease spec, when it last changed (our clock), and now.
fn assess(spec: Option<&LeaseSpec>, changed_at: Instant, now: Instant, me: &str, default: Duration) -> Step {
    match holder_of(spec) {
        None => Step::Claim { renewing: false },
        Some(h) if h == me => Step::Claim { renewing: true },
        Some(h) => {
            if now < changed_at + lease_duration_of(spec, default) {
                Step::Follow {
                    holder: h.to_string(),
                }
            } else {
                Step::Claim { renewing: false }
            }
        }
    }
}

/// The spec that makes `me` the holder.
fn claim_spec(
    old: Option<&LeaseSpec>,
    me: &str,
    renewing: bool,
    duration: Duration,
    now: MicroTime,
) -> LeaseSpec {
    let old = old.cloned().unwrap_or_default();
    let transitions = old.lease_transitions.unwrap_or(0);
    LeaseSpec {
        holder_identity: Some(me.to_string()),
        lease_duration_seconds: Some(lease_seconds(duration)),
        acquire_time: if renewing { old.acquire_time.clone() } else { None }.or_else(|| Some(now.clone())),
        renew_time: Some(now),
        lease_transitions: Some(if renewing {
            transitions
        } else {
            transitions.saturating_add(1)
        }),
        ..old
    }
}

/// The spec that gives the Lease up: no holder, so followers claim it on their next poll.
fn release_spec(old: Option<&LeaseSpec>, now: MicroTime) -> LeaseSpec {
    let old = old.cloned().unwrap_or_default();
    LeaseSpec {
        holder_identity: None,
        lease_duration_seconds: Some(1),
        acquire_time: Some(now.clone()),
        renew_time: Some(now),
        ..old
    }
}

/// Whole seconds, rounded up, as the Lease stores them.
fn lease_seconds(d: Duration) -> i32 {
    let secs = d.as_secs() + u64::from(d.subsec_nanos() > 0);
    i32::try_from(secs).unwrap_or(i32::MAX)
}

struct Elector<S> {
    store: S,
    config: LeaderConfig,
    metrics: Option<Metrics>,
    tx: watch::Sender<bool>,
    trouble: watch::Sender<Option<String>>,
    /// When the current trouble was last logged.
    trouble_logged: Option<Instant>,
    observed: Option<Observed>,
    /// When leading: when the last successful renewal was sent (see [`Elector::renewed`]).
    leading_since_renew: Option<Instant>,
    attempts: u64,
}

impl<S: LeaseStore> Elector<S> {
    async fn run(mut self, stop: CancellationToken) -> Self {
        loop {
            let started = Instant::now();
            let attempt_deadline = match self.leading_since_renew {
                Some(renewed) => renewed + self.config.renew_deadline,
                None => started + self.config.renew_deadline,
            };
            let outcome = tokio::select! {
                _ = stop.cancelled() => return self,
                r = tokio::time::timeout_at(attempt_deadline, self.try_acquire_or_renew()) => {
                    r.unwrap_or(Err(LeaderError::Timeout))
                }
            };
            self.report(&outcome);
            match outcome {
                Ok(true) => self.renewed(started),
                Ok(false) => self.lost("another replica holds the Lease"),
                Err(_) => {
                    if self
                        .leading_since_renew
                        .is_some_and(|r| Instant::now() >= r + self.config.renew_deadline)
                    {
                        self.lost("could not renew the Lease within the renew deadline");
                    }
                }
            }
            let wake = self.next_attempt();
            tokio::select! {
                _ = stop.cancelled() => return self,
                _ = tokio::time::sleep_until(wake) => {}
            }
            if self
                .leading_since_renew
                .is_some_and(|r| Instant::now() >= r + self.config.renew_deadline)
            {
                self.lost("could not renew the Lease within the renew deadline");
            }
        }
    }

    /// A leader retries on the retry period but never sleeps past its renew deadline; a
    /// follower adds jitter so that replicas do not poll in lockstep, but wakes at the instant
    /// the holder's Lease expires if that comes first. Without that a dead leader was replaced
    /// up to a whole jittered period (2.4 s at the defaults) after its Lease had expired, on top
    /// of the period it may take to see the last renewal: 14 s to 22.8 s after a leader that
    /// renewed 1 s before it died, instead of 14 s to 18.4 s.
    fn next_attempt(&mut self) -> Instant {
        let now = Instant::now();
        match self.leading_since_renew {
            Some(renewed) => (now + self.config.retry_period).min(renewed + self.config.renew_deadline),
            None => {
                self.attempts = self.attempts.wrapping_add(1);
                let random = std::collections::hash_map::RandomState::new().hash_one(self.attempts);
                let fraction = (random % 1000) as f64 / 1000.0;
                let jittered = now + self.config.retry_period.mul_f64(1.0 + JITTER_FACTOR * fraction);
                // An expiry already past (a failed claim, an unreachable API) must not make the
                // follower poll in a tight loop: it keeps the jittered period then.
                match self.others_expiry() {
                    Some(expiry) if expiry > now => jittered.min(expiry),
                    _ => jittered,
                }
            }
        }
    }

    /// When the Lease as last read expires on our clock, if another replica holds it.
    fn others_expiry(&self) -> Option<Instant> {
        let observed = self.observed.as_ref()?;
        let spec = observed.lease.spec.as_ref();
        let holder = holder_of(spec)?;
        (holder != self.config.identity)
            .then(|| observed.changed_at + lease_duration_of(spec, self.config.lease_duration))
    }

    /// One read (unless renewing what we just wrote) and at most one write. `Ok(true)` when we
    /// hold the Lease afterwards, `Ok(false)` when another replica does.
    async fn try_acquire_or_renew(&mut self) -> Result<bool, LeaderError> {
        let me = self.config.identity.clone();
        // Fast path: a leader renews from its own last write.
        if self.leading_since_renew.is_some()
            && let Some(observed) = &self.observed
        {
            let spec = claim_spec(
                observed.lease.spec.as_ref(),
                &me,
                true,
                self.config.lease_duration,
                self.wall_now(),
            );
            let lease = Lease {
                metadata: observed.lease.metadata.clone(),
                spec: Some(spec),
            };
            if let Ok(written) = self.store.replace(lease).await {
                self.observe(written);
                return Ok(true);
            }
        }
        let Some(current) = self.store.get().await? else {
            let spec = claim_spec(None, &me, false, self.config.lease_duration, self.wall_now());
            let lease = Lease {
                spec: Some(LeaseSpec {
                    lease_transitions: Some(0),
                    ..spec
                }),
                ..Lease::default()
            };
            let written = self.store.create(lease).await?;
            self.observe(written);
            return Ok(true);
        };
        self.observe(current);
        let now = Instant::now();
        let Some(observed) = &self.observed else {
            return Err(LeaderError::Task("no observed Lease after a read".into()));
        };
        let step = assess(
            observed.lease.spec.as_ref(),
            observed.changed_at,
            now,
            &me,
            self.config.lease_duration,
        );
        match step {
            Step::Follow { holder } => {
                tracing::trace!(lease = %self.config.lease_name, %holder, "following");
                Ok(false)
            }
            Step::Claim { renewing } => {
                let spec = claim_spec(
                    observed.lease.spec.as_ref(),
                    &me,
                    renewing,
                    self.config.lease_duration,
                    self.wall_now(),
                );
                let lease = Lease {
                    metadata: observed.lease.metadata.clone(),
                    spec: Some(spec),
                };
                let written = self.store.replace(lease).await?;
                self.observe(written);
                Ok(true)
            }
        }
    }

    /// The wall-clock time to write into the Lease: this replica's clock, skewed as configured.
    fn wall_now(&self) -> MicroTime {
        micro_now(self.config.clock_skew)
    }

    /// Records a read or written Lease just returned by the store; the expiry clock restarts only
    /// when its spec changed, and restarts *now*: the change may have been applied at any instant
    /// while the call was in flight, so dating it from when the call was sent would let a slow
    /// read make a live Lease look expired early.
    fn observe(&mut self, lease: Lease) {
        let changed_at = match &self.observed {
            Some(old) if old.lease.spec == lease.spec => old.changed_at,
            _ => Instant::now(),
        };
        self.observed = Some(Observed { lease, changed_at });
    }

    /// Records a successful claim or renewal whose attempt began at `started`. The renew deadline
    /// counts from then, not from the answer: the server may have applied the write at once and
    /// answered late, and followers date it from when they could first have read it.
    fn renewed(&mut self, started: Instant) {
        if self.leading_since_renew.is_none() {
            tracing::info!(lease = %self.config.lease_name, identity = %self.config.identity, "became leader");
            self.set_leading(true);
        }
        self.leading_since_renew = Some(started);
    }

    fn lost(&mut self, why: &str) {
        if self.leading_since_renew.take().is_some() {
            tracing::warn!(lease = %self.config.lease_name, identity = %self.config.identity, reason = why, "lost leadership");
            self.set_leading(false);
        }
    }

    fn set_leading(&self, leading: bool) {
        // `send_replace` updates the value even when no receiver is left.
        self.tx.send_replace(leading);
        if let Some(m) = &self.metrics {
            m.set_leader(&self.config.lease_name, leading);
        }
    }

    /// Clears the holder if it is still us; bounded by the renew deadline.
    async fn release(mut self) -> Result<(), LeaderError> {
        if self.leading_since_renew.is_none() {
            return Ok(());
        }
        self.lost("released");
        let deadline = self.config.renew_deadline;
        match tokio::time::timeout(deadline, self.clear_holder()).await {
            Ok(result) => result,
            Err(_) => Err(LeaderError::Timeout),
        }
    }

    async fn clear_holder(&self) -> Result<(), LeaderError> {
        let mut last = LeaderError::Conflict;
        for _ in 0..RELEASE_ATTEMPTS {
            let Some(current) = self.store.get().await? else {
                return Ok(());
            };
            let holder = current.spec.as_ref().and_then(|s| s.holder_identity.as_deref());
            if holder != Some(self.config.identity.as_str()) {
                return Ok(());
            }
            let lease = Lease {
                spec: Some(release_spec(current.spec.as_ref(), self.wall_now())),
                metadata: current.metadata,
            };
            match self.store.replace(lease).await {
                Ok(_) => {
                    tracing::info!(lease = %self.config.lease_name, "released the Lease");
                    return Ok(());
                }
                Err(error @ LeaderError::Conflict) => last = error,
                Err(error) => return Err(error),
            }
        }
        Err(last)
    }
}

/// Now, shifted by `skew` (unshifted in the impossible case that this leaves jiff's range).
fn micro_now(skew: SignedDuration) -> MicroTime {
    let now = Timestamp::now();
    MicroTime(now.checked_add(skew).unwrap_or(now))
}
