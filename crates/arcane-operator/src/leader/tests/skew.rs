//! Fault scenario F18: the replicas' wall clocks disagree by ±10 s. Each elector writes its
//! skewed wall clock into the Lease; who leads must not depend on it.
//!
//! Why these tests catch an elector that compares times — one that treats the Lease as expired
//! when `renewTime + leaseDuration` is before its own wall clock:
//! * leader −10 s, follower +10 s: at its `T + 10 s` the follower reads `renewTime ≈ T − 10 s`,
//!   a record 20 s old by its clock, more than the 15 s lease duration; it would claim the live
//!   Lease at its first poll, and the "holder stays `a`, no write from `b`" checks fail.
//! * leader +10 s, follower −10 s: the record looks 20 s younger than it is, so after the leader
//!   dies such a follower waits 35 s instead of 15 s (on Tokio's paused clock the real wall clock
//!   hardly moves, so it never takes over), and the takeover bound fails.
//!
//! Checked by replacing `changed_at` in `try_acquire_or_renew` with the time the Lease's
//! `renewTime` implies on the follower's skewed clock: both tests failed; restored afterwards.

use k8s_openapi::jiff::{SignedDuration, Timestamp};

use super::*;

fn skewed(identity: &str, skew_secs: i64) -> LeaderConfig {
    LeaderConfig {
        clock_skew: SignedDuration::from_secs(skew_secs),
        ..config(identity)
    }
}

fn lease_spec(backing: &Arc<Mutex<Backing>>) -> LeaseSpec {
    backing.lock().unwrap().lease.clone().unwrap().spec.unwrap()
}

/// Asserts that `time` was written with a `skew_secs` skew since `since` (unskewed wall clock).
/// Bounded by the real wall-clock interval rather than "within 1 s of now": on a loaded machine
/// the paused-clock scenario takes more than a second of real time (a failure seen once in
/// 20 000 runs under load).
fn assert_offset(what: &str, time: Option<MicroTime>, skew_secs: i64, since: Timestamp) {
    let written = time.unwrap().0;
    let unskewed = written - SignedDuration::from_secs(skew_secs);
    let now = Timestamp::now();
    assert!(
        unskewed >= since && unskewed <= now,
        "{what} is {} from the wall clock, expected {skew_secs} s (written between {since} and {now} unskewed)",
        written.duration_since(now)
    );
}

/// Leader `a` skewed by `a_skew`, follower `b` by `b_skew`, both seconds.
async fn leadership_ignores_skew(a_skew: i64, b_skew: i64) {
    let case = format!("a {a_skew:+} s, b {b_skew:+} s");
    let since = Timestamp::now();
    let backing = Arc::new(Mutex::new(Backing::default()));
    let a_store = Recording::on(&backing);
    let b_store = Recording::on(&backing);
    let a = LeaderElection::start_with(a_store.clone(), skewed("a", a_skew), None).unwrap();
    let mut a_rx = a.subscribe();
    wait_for(&mut a_rx, true, Duration::from_secs(1)).await;
    let b = LeaderElection::start_with(b_store.clone(), skewed("b", b_skew), None).unwrap();
    let mut b_rx = b.subscribe();

    // Four lease durations in 100 ms steps while `a` renews.
    for step in 0..600 {
        tokio::time::sleep(Duration::from_millis(100)).await;
        assert!(
            a.is_leader() && !b.is_leader(),
            "{case}: at step {step} a leads: {}, b leads: {}",
            a.is_leader(),
            b.is_leader()
        );
        assert_eq!(holder(&backing).as_deref(), Some("a"), "{case}: step {step}");
    }
    let spec = lease_spec(&backing);
    // Without the skew reaching the Lease this test would prove nothing.
    assert_offset(&format!("{case}: a's renewTime"), spec.renew_time, a_skew, since);
    assert_offset(
        &format!("{case}: a's acquireTime"),
        spec.acquire_time,
        a_skew,
        since,
    );
    assert_eq!(spec.lease_transitions, Some(0), "{case}");
    let polls = b_store.calls();
    assert!(
        polls.len() >= 60 / 5,
        "{case}: b polled only {} times",
        polls.len()
    );
    assert!(
        polls.iter().all(|c| !c.write),
        "{case}: b wrote while a led: {polls:?}"
    );

    // `a` stops renewing: its API calls hang from now on. (Dropping the election would not do:
    // its task may still finish the renewal it was woken for.) Nothing runs while this test task
    // does, so `last` is a's last write.
    a_store.inner.fault.store(HANG, Ordering::SeqCst);
    let last = backing.lock().unwrap().version.to_string();
    let died = Instant::now();
    let lost = wait_for(&mut a_rx, false, Duration::from_secs(15)).await;
    let taken = wait_for(&mut b_rx, true, Duration::from_secs(40)).await;
    assert!(
        taken - lost >= Duration::from_secs(4),
        "{case}: a stepped down at its renew deadline, {:?} before b took over",
        taken - lost
    );
    let calls = b_store.calls();
    let seen = b_store.first_read_of(&last);
    let waited = taken - seen;
    // A full lease duration from when b saw the record last change, to the instant: b polls at
    // the expiry it computed. a renewed at most 2 s before it stopped and b polls at least every
    // 4.4 s (retry period 2 s, up to 1.2 × more with jitter).
    assert!(
        waited >= DEFAULT_LEASE_DURATION && waited <= DEFAULT_LEASE_DURATION + Duration::from_millis(10),
        "{case}: b took over {waited:?} after it saw a's last renewal"
    );
    assert!(
        taken - died <= DEFAULT_LEASE_DURATION + Duration::from_millis(4400),
        "{case}: b took over {:?} after a stopped",
        taken - died
    );
    let first_write = calls.iter().find(|c| c.write).map(|c| c.at);
    assert!(
        first_write.is_some_and(|at| at >= died),
        "{case}: b's first write at {first_write:?}, before a stopped at {died:?}"
    );
    let spec = lease_spec(&backing);
    assert_eq!(spec.holder_identity.as_deref(), Some("b"), "{case}");
    assert_eq!(
        spec.lease_transitions,
        Some(1),
        "{case}: one handover, never an earlier one"
    );
    assert_offset(&format!("{case}: b's renewTime"), spec.renew_time, b_skew, since);
    drop(a);
    b.release().await.unwrap();
    let released = lease_spec(&backing);
    assert_eq!(released.holder_identity, None, "{case}");
    assert_offset(
        &format!("{case}: b's release"),
        released.renew_time,
        b_skew,
        since,
    );
}

#[tokio::test(start_paused = true)]
async fn a_follower_ahead_of_the_leader_never_takes_a_live_lease() {
    leadership_ignores_skew(-10, 10).await;
}

#[tokio::test(start_paused = true)]
async fn a_follower_behind_the_leader_takes_over_one_lease_duration_after_it_saw_the_last_renewal() {
    leadership_ignores_skew(10, -10).await;
}

#[test]
fn clock_skew_validation() {
    let day = i64::try_from(MAX_CLOCK_SKEW.as_secs()).unwrap();
    let cases = [
        (0, true),
        (10, true),
        (-10, true),
        (day, true),
        (-day, true),
        (day + 1, false),
        (-day - 1, false),
    ];
    for (secs, valid) in cases {
        let c = skewed("a", secs);
        assert_eq!(c.validate().is_ok(), valid, "skew {secs} s");
    }
}

#[test]
fn signed_durations_parse_with_either_sign() {
    let ms = SignedDuration::from_millis;
    let ok = [
        ("10s", ms(10_000)),
        ("+10s", ms(10_000)),
        ("-10s", ms(-10_000)),
        (" -1.5s ", ms(-1_500)),
        ("-500ms", ms(-500)),
        ("-2m", ms(-120_000)),
        ("-0", ms(0)),
        ("7", ms(7_000)),
    ];
    for (text, want) in ok {
        assert_eq!(parse_signed_duration(text), Ok(want), "{text:?}");
    }
    for bad in ["", "-", "+", "--1s", "+-1s", "- 1s", "-s", "-10x", "ten"] {
        assert!(parse_signed_duration(bad).is_err(), "{bad:?} must be rejected");
    }
}
