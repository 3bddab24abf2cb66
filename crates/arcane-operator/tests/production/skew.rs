//! Fault scenario F18 (ecosystem-reliability): the replicas' wall clocks disagree. Replica-a
//! writes its Lease times 10 s slow and replica-b 10 s fast (`--lease-clock-skew`), so at every
//! poll replica-b reads a `renewTime` 20 s behind its own clock — far more than the 3 s lease
//! duration. An elector that compared `renewTime + leaseDuration` with its wall clock would take
//! the live Lease at once; ours times expiry on its own monotonic clock from when it saw the
//! record change, so the audit log must show one leader at a time.

use std::time::{Duration, Instant};

use kube_sandbox::requestlog::RequestRecord;
use serde_json::Value;

use crate::support::{Scraping, Setup, describe, is_lease, kill_leader_and_take_over};
use arcane_testkit::process::FAST_ELECTION;
use arcane_testkit::{Kind, secs, stream};

/// Asserts the Lease's `renewTime` is `expected_secs` off the test's own wall clock. The holder
/// renews every 500 ms, so a skew that applied lands within about a second of it.
fn assert_renew_skew(setup: &Setup, expected_secs: i64, holder: &str) {
    let lease = setup.lease().expect("the Lease exists");
    let renew: jiff::Timestamp = lease
        .pointer("/spec/renewTime")
        .and_then(Value::as_str)
        .expect("the Lease has a renewTime")
        .parse()
        .expect("renewTime is RFC 3339");
    let offset = renew.duration_since(jiff::Timestamp::now());
    let error = (offset - jiff::SignedDuration::from_secs(expected_secs)).unsigned_abs();
    assert!(
        error < Duration::from_millis(1500),
        "{holder}'s renewTime is {offset:?} from the wall clock, expected {expected_secs} s: the skew did not apply"
    );
}

fn from<'a>(log: &'a [RequestRecord], agent: &'a str) -> impl Iterator<Item = &'a RequestRecord> + 'a {
    log.iter().filter(move |r| r.user_agent == agent)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn clock_skew_of_ten_seconds_between_replicas_never_gives_two_leaders() {
    let test_started = Instant::now();
    let setup = Setup::start("skew").await;
    let slow = [&FAST_ELECTION[..], &["--lease-clock-skew", "-10s"]].concat();
    let fast = [&FAST_ELECTION[..], &["--lease-clock-skew=+10s"]].concat();
    let mut a = setup.spawn("replica-a", &slow);
    a.wait_master_status(1.0, secs(15)).await;
    let b = setup.spawn("replica-b", &fast);
    b.wait_master_status(0.0, secs(15)).await;
    assert_eq!(setup.lease_holder().as_deref(), Some("replica-a"));
    assert_renew_skew(&setup, -10, "replica-a");

    setup
        .create(Kind::V1, stream(Kind::V1, "before", false, None))
        .await;
    setup
        .env
        .wait_phase(Kind::V1, "before", "Running", secs(20))
        .await;

    // Four lease durations (3 s each) with replica-b polling every ~0.5 s: both replicas' own
    // metrics show exactly one leader at every sample. At least 10 samples however slow the
    // scrapes are on a loaded machine (a count within a fixed 12 s could fall short).
    let observe = Instant::now();
    let mut samples = 0;
    while observe.elapsed() < secs(12) || samples < 10 {
        let (ma, mb) = (a.master_status().await, b.master_status().await);
        assert_eq!(
            (ma, mb),
            (Some(1.0), Some(0.0)),
            "sample {samples}: leader_election_master_status of replica-a / replica-b\n{}\n{}",
            a.logs(),
            b.logs()
        );
        assert_eq!(
            setup.lease_holder().as_deref(),
            Some("replica-a"),
            "sample {samples}"
        );
        samples += 1;
        tokio::time::sleep(Duration::from_millis(750)).await;
    }
    assert_renew_skew(&setup, -10, "replica-a");

    kill_leader_and_take_over(&setup, &mut a, &b, "F18").await;
    assert_renew_skew(&setup, 10, "replica-b");

    // The audit. replica-a's last request (it is dead, so the log holds all of them) bounds its
    // tenure; until then replica-b may only have read the Lease.
    let log = setup.env.requests_since(0);
    let (agent_a, agent_b) = (a.agent(), b.agent());
    let a_last = from(&log, &agent_a).map(|r| r.seq).max().unwrap();
    let standby: Vec<String> = from(&log, &agent_b)
        .filter(|r| r.seq <= a_last && (r.is_write() || !is_lease(r)))
        .map(describe)
        .collect();
    assert!(
        standby.is_empty(),
        "replica-b did more than read the Lease while replica-a led: {standby:#?}"
    );
    let standby_reads = from(&log, &agent_b).filter(|r| r.seq <= a_last).count();
    assert!(
        standby_reads >= 12,
        "replica-b polled the Lease only {standby_reads} times"
    );
    // Nobody else wrote the Lease while replica-a held it: its renewals never met a conflict.
    let a_lease_writes: Vec<&RequestRecord> = from(&log, &agent_a)
        .filter(|r| is_lease(r) && r.is_write())
        .collect();
    assert!(
        a_lease_writes.len() >= 20,
        "replica-a renewed {} times",
        a_lease_writes.len()
    );
    let refused: Vec<String> = a_lease_writes
        .iter()
        .filter(|r| r.status >= 300)
        .map(|r| describe(r))
        .collect();
    assert!(
        refused.is_empty(),
        "replica-a's renewals were refused: {refused:#?}"
    );
    let b_lease_writes: Vec<&RequestRecord> = from(&log, &agent_b)
        .filter(|r| is_lease(r) && r.is_write())
        .collect();
    assert!(
        b_lease_writes.first().is_some_and(|r| r.status < 300),
        "replica-b's first Lease write failed: {:?}",
        b_lease_writes.first().map(|r| describe(r))
    );
    let b_writes = from(&log, &agent_b)
        .filter(|r| r.is_write() && !is_lease(r))
        .count();
    assert!(b_writes > 0, "replica-b never acted as leader");

    setup.env.assert_invariants();
    drop(b);
    setup.stop().await;
    let took = test_started.elapsed();
    eprintln!("F18: test took {took:?}");
    assert!(took < secs(60), "F18 took {took:?}");
}
