//! Election logic against an in-memory Lease with resourceVersion semantics and injected
//! faults, on Tokio's paused clock (so 15 s leases take no real time).

use std::sync::atomic::{AtomicU8, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use kube::api::ObjectMeta;

use super::*;
use crate::telemetry::metrics::tests::value;

/// Slow Lease calls: when a renewal and an observation count from.
mod latency;
/// F18: clock skew between replicas.
mod skew;

const OK: u8 = 0;
const FAIL: u8 = 1;
const HANG: u8 = 2;

#[derive(Default)]
struct Backing {
    lease: Option<Lease>,
    version: u64,
    /// When the last write was applied.
    written_at: Option<Instant>,
}

/// One replica's view of the shared Lease, with its own fault switch and latencies.
#[derive(Clone)]
struct FakeStore {
    backing: Arc<Mutex<Backing>>,
    fault: Arc<AtomicU8>,
    /// Milliseconds a read takes before it looks at the Lease (a request slow to reach the
    /// server): the answer shows what was written during that time.
    read_delay_ms: Arc<AtomicU64>,
    /// Milliseconds a write's answer takes after the write was applied.
    write_delay_ms: Arc<AtomicU64>,
}

impl FakeStore {
    fn on(backing: &Arc<Mutex<Backing>>) -> Self {
        FakeStore {
            backing: backing.clone(),
            fault: Arc::new(AtomicU8::new(OK)),
            read_delay_ms: Arc::default(),
            write_delay_ms: Arc::default(),
        }
    }

    /// Sleeps the delay set in `ms` when the call began (on the paused clock).
    async fn delay(ms: &AtomicU64) {
        let ms = ms.load(Ordering::SeqCst);
        if ms > 0 {
            tokio::time::sleep(Duration::from_millis(ms)).await;
        }
    }

    async fn gate(&self) -> Result<(), LeaderError> {
        match self.fault.load(Ordering::SeqCst) {
            OK => Ok(()),
            FAIL => Err(LeaderError::Api(kube::Error::LinesCodecMaxLineLengthExceeded)),
            _ => std::future::pending().await,
        }
    }

    fn write(backing: &mut Backing, mut lease: Lease) -> Lease {
        backing.version += 1;
        backing.written_at = Some(Instant::now());
        lease.metadata.resource_version = Some(backing.version.to_string());
        backing.lease = Some(lease.clone());
        lease
    }
}

impl LeaseStore for FakeStore {
    async fn get(&self) -> Result<Option<Lease>, LeaderError> {
        self.gate().await?;
        FakeStore::delay(&self.read_delay_ms).await;
        Ok(self.backing.lock().unwrap().lease.clone())
    }

    async fn create(&self, lease: Lease) -> Result<Lease, LeaderError> {
        self.gate().await?;
        let written = {
            let mut b = self.backing.lock().unwrap();
            if b.lease.is_some() {
                return Err(LeaderError::Conflict);
            }
            FakeStore::write(&mut b, lease)
        };
        FakeStore::delay(&self.write_delay_ms).await;
        Ok(written)
    }

    async fn replace(&self, lease: Lease) -> Result<Lease, LeaderError> {
        self.gate().await?;
        let written = {
            let mut b = self.backing.lock().unwrap();
            let current = b.lease.as_ref().and_then(|l| l.metadata.resource_version.clone());
            if current.is_none() || current != lease.metadata.resource_version {
                return Err(LeaderError::Conflict);
            }
            FakeStore::write(&mut b, lease)
        };
        FakeStore::delay(&self.write_delay_ms).await;
        Ok(written)
    }
}

/// One recorded call of a replica on the shared Lease.
#[derive(Debug, Clone)]
struct Call {
    /// When the call returned.
    at: Instant,
    write: bool,
    /// The resourceVersion read or written (`None` for a missing Lease or a failed write).
    version: Option<String>,
}

/// A replica's [`FakeStore`] that records every call, so a test can tell when the replica first
/// saw a version and whether it ever attempted a write.
#[derive(Clone)]
struct Recording {
    inner: FakeStore,
    calls: Arc<Mutex<Vec<Call>>>,
}

impl Recording {
    fn on(backing: &Arc<Mutex<Backing>>) -> Self {
        Recording {
            inner: FakeStore::on(backing),
            calls: Arc::default(),
        }
    }

    fn record(&self, write: bool, lease: Option<&Lease>) {
        let version = lease.and_then(|l| l.metadata.resource_version.clone());
        self.calls.lock().unwrap().push(Call {
            at: Instant::now(),
            write,
            version,
        });
    }

    fn calls(&self) -> Vec<Call> {
        self.calls.lock().unwrap().clone()
    }

    /// When a read of this replica first returned `version`.
    fn first_read_of(&self, version: &str) -> Instant {
        let calls = self.calls();
        calls
            .iter()
            .find(|c| !c.write && c.version.as_deref() == Some(version))
            .map_or_else(|| panic!("version {version} was never read: {calls:?}"), |c| c.at)
    }
}

impl LeaseStore for Recording {
    async fn get(&self) -> Result<Option<Lease>, LeaderError> {
        let got = self.inner.get().await;
        if let Ok(lease) = &got {
            self.record(false, lease.as_ref());
        }
        got
    }

    async fn create(&self, lease: Lease) -> Result<Lease, LeaderError> {
        let written = self.inner.create(lease).await;
        self.record(true, written.as_ref().ok());
        written
    }

    async fn replace(&self, lease: Lease) -> Result<Lease, LeaderError> {
        let written = self.inner.replace(lease).await;
        self.record(true, written.as_ref().ok());
        written
    }
}

fn config(identity: &str) -> LeaderConfig {
    LeaderConfig::new("arcane-operator", "arcane", identity)
}

fn holder(backing: &Arc<Mutex<Backing>>) -> Option<String> {
    let b = backing.lock().unwrap();
    b.lease
        .as_ref()
        .and_then(|l| l.spec.as_ref())
        .and_then(|s| s.holder_identity.clone())
}

/// Waits (on the paused clock) until the channel shows `want`; returns when that happened.
async fn wait_for(rx: &mut watch::Receiver<bool>, want: bool, within: Duration) -> Instant {
    tokio::time::timeout(within, rx.wait_for(|v| *v == want))
        .await
        .unwrap_or_else(|_| panic!("not {want} within {within:?}"))
        .unwrap();
    Instant::now()
}

#[test]
fn config_validation() {
    type Case = (&'static str, fn(&mut LeaderConfig), bool);
    let cases: [Case; 7] = [
        ("defaults", |_| {}, true),
        ("empty identity", |c| c.identity.clear(), false),
        ("empty name", |c| c.lease_name.clear(), false),
        ("zero retry", |c| c.retry_period = Duration::ZERO, false),
        (
            "deadline not below duration",
            |c| c.renew_deadline = c.lease_duration,
            false,
        ),
        (
            "deadline within jittered retry",
            |c| c.retry_period = Duration::from_secs(9),
            false,
        ),
        (
            "sub-second timing",
            |c| {
                c.lease_duration = Duration::from_millis(1500);
                c.renew_deadline = Duration::from_millis(1000);
                c.retry_period = Duration::from_millis(200);
            },
            true,
        ),
    ];
    for (name, change, valid) in cases {
        let mut c = config("a");
        change(&mut c);
        assert_eq!(c.validate().is_ok(), valid, "{name}");
    }
}

#[tokio::test(start_paused = true)]
async fn assess_decides_from_holder_and_observed_age() {
    let t0 = Instant::now();
    let spec = |holder: Option<&str>, secs: Option<i32>| LeaseSpec {
        holder_identity: holder.map(str::to_string),
        lease_duration_seconds: secs,
        ..LeaseSpec::default()
    };
    let d = Duration::from_secs(15);
    let follow = |h: &str| Step::Follow { holder: h.into() };
    let claim = Step::Claim { renewing: false };
    let cases = [
        ("no spec", None, 0, claim.clone()),
        ("no holder", Some(spec(None, Some(15))), 0, claim.clone()),
        ("empty holder", Some(spec(Some(""), Some(15))), 0, claim.clone()),
        (
            "ours",
            Some(spec(Some("me"), Some(15))),
            100,
            Step::Claim { renewing: true },
        ),
        ("other, fresh", Some(spec(Some("b"), Some(15))), 14, follow("b")),
        (
            "other, expired",
            Some(spec(Some("b"), Some(15))),
            15,
            claim.clone(),
        ),
        (
            "other, own duration",
            Some(spec(Some("b"), Some(60))),
            30,
            follow("b"),
        ),
        (
            "other, no duration uses ours",
            Some(spec(Some("b"), None)),
            16,
            claim.clone(),
        ),
        (
            "other, zero duration uses ours",
            Some(spec(Some("b"), Some(0))),
            10,
            follow("b"),
        ),
    ];
    for (name, spec, age, expected) in cases {
        let now = t0 + Duration::from_secs(age);
        assert_eq!(assess(spec.as_ref(), t0, now, "me", d), expected, "{name}");
    }
}

#[test]
fn claim_and_release_specs() {
    let t = |s: i64| MicroTime(k8s_openapi::jiff::Timestamp::from_second(s).unwrap());
    let old = LeaseSpec {
        holder_identity: Some("b".into()),
        acquire_time: Some(t(100)),
        renew_time: Some(t(110)),
        lease_duration_seconds: Some(15),
        lease_transitions: Some(4),
        ..LeaseSpec::default()
    };
    let taken = claim_spec(Some(&old), "a", false, Duration::from_millis(1500), t(200));
    assert_eq!(taken.holder_identity.as_deref(), Some("a"));
    assert_eq!(taken.lease_transitions, Some(5), "a new holder is a transition");
    assert_eq!(taken.acquire_time, Some(t(200)));
    assert_eq!(taken.lease_duration_seconds, Some(2), "seconds round up");

    let renewed = claim_spec(Some(&taken), "a", true, Duration::from_secs(15), t(210));
    assert_eq!(renewed.lease_transitions, Some(5));
    assert_eq!(
        renewed.acquire_time,
        Some(t(200)),
        "renewal keeps the acquire time"
    );
    assert_eq!(renewed.renew_time, Some(t(210)));

    let released = release_spec(Some(&renewed), t(220));
    assert_eq!(released.holder_identity, None);
    assert_eq!(released.lease_transitions, Some(5));
    assert_eq!(released.lease_duration_seconds, Some(1));
}

#[tokio::test(start_paused = true)]
async fn single_replica_creates_and_holds_the_lease() {
    let backing = Arc::new(Mutex::new(Backing::default()));
    let metrics = Metrics::new();
    let a = LeaderElection::start_with(FakeStore::on(&backing), config("a"), Some(metrics.clone())).unwrap();
    let mut rx = a.subscribe();
    let t0 = Instant::now();
    let at = wait_for(&mut rx, true, Duration::from_secs(1)).await;
    assert!(
        at - t0 < Duration::from_millis(10),
        "an absent Lease is claimed at once"
    );
    assert!(a.is_leader());
    {
        let b = backing.lock().unwrap();
        let spec = b.lease.as_ref().unwrap().spec.clone().unwrap();
        assert_eq!(spec.holder_identity.as_deref(), Some("a"));
        assert_eq!(spec.lease_duration_seconds, Some(15));
        assert_eq!(spec.lease_transitions, Some(0));
    }
    let lease = [("name", "arcane-operator")];
    assert_eq!(
        value(&metrics.encode(), "leader_election_master_status", &lease),
        Some(1.0)
    );
    // It keeps renewing: a minute later it still leads and the Lease moved on.
    let version = backing.lock().unwrap().version;
    tokio::time::sleep(Duration::from_secs(60)).await;
    assert!(a.is_leader());
    assert!(
        backing.lock().unwrap().version >= version + 25,
        "renewed every retry period"
    );
    a.release().await.unwrap();
    assert_eq!(holder(&backing), None);
    assert_eq!(
        value(&metrics.encode(), "leader_election_master_status", &lease),
        Some(0.0)
    );
}

#[tokio::test(start_paused = true)]
async fn release_hands_over_without_waiting_for_expiry() {
    let backing = Arc::new(Mutex::new(Backing::default()));
    let a = LeaderElection::start_with(FakeStore::on(&backing), config("a"), None).unwrap();
    let mut a_rx = a.subscribe();
    wait_for(&mut a_rx, true, Duration::from_secs(1)).await;
    let b = LeaderElection::start_with(FakeStore::on(&backing), config("b"), None).unwrap();
    let mut b_rx = b.subscribe();
    tokio::time::sleep(Duration::from_secs(45)).await;
    assert!(a.is_leader() && !b.is_leader(), "a renewed lease is never taken");

    let released = Instant::now();
    a.release().await.unwrap();
    assert!(!*a_rx.borrow(), "the releasing replica stops leading first");
    let at = wait_for(&mut b_rx, true, Duration::from_secs(20)).await;
    assert!(
        at - released <= Duration::from_millis(4500),
        "successor within one jittered retry period, took {:?}",
        at - released
    );
    assert_eq!(holder(&backing).as_deref(), Some("b"));
    b.release().await.unwrap();
}

#[tokio::test(start_paused = true)]
async fn leader_steps_down_at_the_renew_deadline_before_anyone_takes_over() {
    for fault in [FAIL, HANG] {
        let backing = Arc::new(Mutex::new(Backing::default()));
        let a_store = FakeStore::on(&backing);
        let a = LeaderElection::start_with(a_store.clone(), config("a"), None).unwrap();
        let mut a_rx = a.subscribe();
        wait_for(&mut a_rx, true, Duration::from_secs(1)).await;
        let b = LeaderElection::start_with(FakeStore::on(&backing), config("b"), None).unwrap();
        let mut b_rx = b.subscribe();
        tokio::time::sleep(Duration::from_millis(7300)).await;

        a_store.fault.store(fault, Ordering::SeqCst);
        let broke = Instant::now();
        let lost = wait_for(&mut a_rx, false, Duration::from_secs(30)).await;
        let after = lost - broke;
        assert!(
            after > Duration::from_secs(8) && after <= Duration::from_secs(10),
            "fault {fault}: stepped down {after:?} after the API broke"
        );
        let taken = wait_for(&mut b_rx, true, Duration::from_secs(30)).await;
        assert!(
            taken - lost >= Duration::from_secs(4),
            "fault {fault}: the follower waits out the lease duration, never overlapping"
        );
        drop(a);
        b.release().await.unwrap();
    }
}

/// Why 20 s was seen (issue 14, 5 % of runs): a follower needs up to one jittered retry period
/// (4.4 s) to see the leader's last renewal, and then waited out a full further poll after the
/// Lease had expired, so a takeover landed between 14 s and 22.8 s after a leader that renewed
/// 1 s before dying. It now polls at the expiry itself. Jitter is random, so the check repeats:
/// before that fix `waited` exceeded the lease duration by 0–4.4 s and failed nearly every round.
#[tokio::test(start_paused = true)]
async fn abandoned_lease_is_taken_one_lease_duration_after_the_follower_saw_the_last_renewal() {
    for round in 0..5 {
        let backing = Arc::new(Mutex::new(Backing::default()));
        let a_store = FakeStore::on(&backing);
        let b_store = Recording::on(&backing);
        let a = LeaderElection::start_with(a_store.clone(), config("a"), None).unwrap();
        let mut a_rx = a.subscribe();
        wait_for(&mut a_rx, true, Duration::from_secs(1)).await;
        let b = LeaderElection::start_with(b_store.clone(), config("b"), None).unwrap();
        let mut b_rx = b.subscribe();
        tokio::time::sleep(Duration::from_secs(5)).await;

        // The leader dies without releasing: its calls hang from now on. (Dropping the election
        // would not do: its task may still run the renewal it was woken for at this instant.)
        a_store.fault.store(HANG, Ordering::SeqCst);
        let (last, last_at) = {
            let b = backing.lock().unwrap();
            (b.version.to_string(), b.written_at.unwrap())
        };
        let died = Instant::now();
        let taken = wait_for(&mut b_rx, true, Duration::from_secs(30)).await;
        let seen = b_store.first_read_of(&last);
        let waited = taken - seen;
        assert!(
            waited >= DEFAULT_LEASE_DURATION && waited <= DEFAULT_LEASE_DURATION + Duration::from_millis(10),
            "round {round}: taken over {waited:?} after b saw a's last renewal"
        );
        assert!(
            seen - last_at <= DEFAULT_RETRY_PERIOD.mul_f64(1.0 + JITTER_FACTOR),
            "round {round}: b saw the last renewal {:?} after it was written",
            seen - last_at
        );
        let after = taken - died;
        assert!(
            after >= Duration::from_secs(13) && after <= Duration::from_millis(15_000 + 4_400),
            "round {round}: taken over {after:?} after the leader died"
        );
        assert!(
            b_store.calls().iter().filter(|c| c.write).all(|c| c.at >= died),
            "round {round}: b wrote while a was alive"
        );
        let b_lease = backing.lock().unwrap().lease.clone().unwrap().spec.unwrap();
        assert_eq!(b_lease.lease_transitions, Some(1), "round {round}");
        drop(a);
        b.release().await.unwrap();
    }
}

#[tokio::test(start_paused = true)]
async fn a_stolen_lease_is_noticed_on_the_next_renewal() {
    let backing = Arc::new(Mutex::new(Backing::default()));
    let a = LeaderElection::start_with(FakeStore::on(&backing), config("a"), None).unwrap();
    let mut rx = a.subscribe();
    wait_for(&mut rx, true, Duration::from_secs(1)).await;
    tokio::time::sleep(Duration::from_millis(3100)).await;
    {
        let mut b = backing.lock().unwrap();
        let mut lease = b.lease.clone().unwrap();
        if let Some(spec) = lease.spec.as_mut() {
            spec.holder_identity = Some("intruder".into());
        }
        FakeStore::write(&mut b, lease);
    }
    let stolen = Instant::now();
    let lost = wait_for(&mut rx, false, Duration::from_secs(5)).await;
    assert!(
        lost - stolen <= Duration::from_secs(2),
        "noticed within one retry period"
    );
    a.release().await.unwrap();
    assert_eq!(
        holder(&backing).as_deref(),
        Some("intruder"),
        "release never clears another holder"
    );
}

#[tokio::test(start_paused = true)]
async fn racing_replicas_never_lead_together() {
    let backing = Arc::new(Mutex::new(Backing::default()));
    let stores: Vec<FakeStore> = (0..3).map(|_| FakeStore::on(&backing)).collect();
    let elections: Vec<_> = ["a", "b", "c"]
        .iter()
        .zip(&stores)
        .map(|(id, store)| LeaderElection::start_with(store.clone(), config(id), None).unwrap())
        .collect();
    let mut leaders_seen = std::collections::BTreeSet::new();
    // 120 s in 100 ms steps; the leader's API breaks for 20 s in the middle.
    for step in 0..1200 {
        if step == 400 || step == 600 {
            let leader = elections.iter().position(super::LeaderElection::is_leader);
            if step == 400 {
                let leader = leader.expect("a leader after 40 s");
                stores[leader].fault.store(FAIL, Ordering::SeqCst);
            } else {
                for s in &stores {
                    s.fault.store(OK, Ordering::SeqCst);
                }
            }
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
        let leading: Vec<usize> = (0..3).filter(|i| elections[*i].is_leader()).collect();
        assert!(leading.len() <= 1, "two leaders at step {step}: {leading:?}");
        leaders_seen.extend(leading);
    }
    assert!(
        leaders_seen.len() >= 2,
        "leadership moved when the leader broke: {leaders_seen:?}"
    );
    for e in elections {
        e.release().await.unwrap();
    }
    assert_eq!(holder(&backing), None);
}

#[tokio::test(start_paused = true)]
async fn a_follower_release_leaves_the_lease_alone() {
    let backing = Arc::new(Mutex::new(Backing::default()));
    {
        let mut b = backing.lock().unwrap();
        let lease = Lease {
            metadata: ObjectMeta {
                name: Some("arcane-operator".into()),
                ..ObjectMeta::default()
            },
            spec: Some(LeaseSpec {
                holder_identity: Some("other".into()),
                lease_duration_seconds: Some(15),
                ..LeaseSpec::default()
            }),
        };
        FakeStore::write(&mut b, lease);
    }
    let a = LeaderElection::start_with(FakeStore::on(&backing), config("a"), None).unwrap();
    tokio::time::sleep(Duration::from_secs(5)).await;
    assert!(!a.is_leader());
    let version = backing.lock().unwrap().version;
    a.release().await.unwrap();
    assert_eq!(backing.lock().unwrap().version, version, "no write");
    assert_eq!(holder(&backing).as_deref(), Some("other"));
}

#[test]
fn durations_parse_like_the_chart_writes_them() {
    let ok = [
        ("15s", 15_000),
        ("15", 15_000),
        ("500ms", 500),
        ("1.5s", 1_500),
        ("2m", 120_000),
        ("1h", 3_600_000),
        (" 2s ", 2_000),
    ];
    for (text, ms) in ok {
        assert_eq!(parse_duration(text), Ok(Duration::from_millis(ms)), "{text}");
    }
    for bad in ["", "s", "15x", "-1s", "1.2.3s", "ten"] {
        assert!(parse_duration(bad).is_err(), "{bad:?} must be rejected");
    }
}
