//! Slow Lease calls. A follower dates a change from when its read *returned*, a leader its
//! renewal from when the write was *sent*. Then the leader has stopped (a renew deadline after
//! its last applied write) before any follower may take over (a lease duration after it could
//! first have seen that write), whatever the latency of either's calls.
//!
//! Both tests failed, on every run, with the elector that dated a follower's observation from
//! when the read was sent and a leader's renewal from when the write's answer came back.

use super::*;

/// Waits for `a` to step down and `b` to take over, in whichever order, and returns when each
/// happened.
async fn handover(
    a_rx: &mut watch::Receiver<bool>,
    b_rx: &mut watch::Receiver<bool>,
    within: Duration,
) -> (Instant, Instant) {
    tokio::join!(wait_for(a_rx, false, within), wait_for(b_rx, true, within))
}

/// b's first read is sent at once but reaches the Lease 9 s later; a renews meanwhile (every 2 s)
/// and stops just after. Dated from when it was sent, that read started b's lease clock 8 s
/// before a's last renewal: b took over 7–11.4 s after that renewal, while a led until 10 s after.
#[tokio::test(start_paused = true)]
async fn a_slow_read_never_starts_the_followers_lease_clock_early() {
    let backing = Arc::new(Mutex::new(Backing::default()));
    let a_store = FakeStore::on(&backing);
    let a = LeaderElection::start_with(a_store.clone(), config("a"), None).unwrap();
    let mut a_rx = a.subscribe();
    wait_for(&mut a_rx, true, Duration::from_secs(1)).await;
    let b_store = FakeStore::on(&backing);
    b_store.read_delay_ms.store(9000, Ordering::SeqCst);
    let b = LeaderElection::start_with(b_store.clone(), config("b"), None).unwrap();
    let mut b_rx = b.subscribe();
    // b's first read is on its way (the delay is taken when a call begins); later ones are fast.
    tokio::time::sleep(Duration::from_secs(1)).await;
    b_store.read_delay_ms.store(0, Ordering::SeqCst);
    tokio::time::sleep(Duration::from_millis(7500)).await;

    a_store.fault.store(HANG, Ordering::SeqCst);
    let last_at = backing.lock().unwrap().written_at.unwrap();
    let (lost, taken) = handover(&mut a_rx, &mut b_rx, Duration::from_secs(40)).await;
    assert!(
        lost - last_at <= DEFAULT_RENEW_DEADLINE,
        "a stepped down {:?} after its last renewal",
        lost - last_at
    );
    assert!(
        taken - last_at >= DEFAULT_LEASE_DURATION,
        "b took over {:?} after a's last renewal was written",
        taken - last_at
    );
    assert!(taken >= lost, "b led {:?} before a stepped down", lost - taken);
    drop(a);
    b.release().await.unwrap();
}

/// a's writes are applied at once and answered 3 s later; a stops renewing after one of them.
/// Counting the renewal from the answer kept a leading 13 s after its last applied write, past
/// its renew deadline; a follower that read the write at once may take over 15 s after it, so
/// with answers slower than 5 s (lease duration − renew deadline) two replicas would lead.
#[tokio::test(start_paused = true)]
async fn a_slow_renewal_answer_counts_from_when_the_write_was_sent() {
    let backing = Arc::new(Mutex::new(Backing::default()));
    let a_store = FakeStore::on(&backing);
    a_store.write_delay_ms.store(3000, Ordering::SeqCst);
    let a = LeaderElection::start_with(a_store.clone(), config("a"), None).unwrap();
    let mut a_rx = a.subscribe();
    wait_for(&mut a_rx, true, Duration::from_secs(5)).await;
    let b = LeaderElection::start_with(FakeStore::on(&backing), config("b"), None).unwrap();
    let mut b_rx = b.subscribe();
    // a writes at 0 s, 5 s, 10 s (each answered 3 s later, the next sent 2 s after that).
    tokio::time::sleep(Duration::from_secs(8)).await;
    assert!(a.is_leader() && !b.is_leader(), "a leads with slow answers");

    a_store.fault.store(HANG, Ordering::SeqCst);
    let last_at = backing.lock().unwrap().written_at.unwrap();
    let (lost, taken) = handover(&mut a_rx, &mut b_rx, Duration::from_secs(40)).await;
    assert!(
        lost - last_at <= DEFAULT_RENEW_DEADLINE,
        "a stepped down {:?} after its last renewal was applied",
        lost - last_at
    );
    assert!(
        taken - last_at >= DEFAULT_LEASE_DURATION,
        "b took over {:?} after a's last renewal was written",
        taken - last_at
    );
    assert!(taken >= lost, "b led {:?} before a stepped down", lost - taken);
    drop(a);
    b.release().await.unwrap();
}
