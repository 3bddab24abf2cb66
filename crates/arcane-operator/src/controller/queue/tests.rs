use std::sync::Arc;
use std::time::Duration;

use super::WorkQueue;

fn s(secs: u64) -> Duration {
    Duration::from_secs(secs)
}

/// The next key, if one is ready without waiting (time is paused: a wait would auto-advance).
async fn ready(q: &WorkQueue<u32>) -> Option<u32> {
    tokio::time::timeout(Duration::from_millis(1), q.next())
        .await
        .ok()
        .flatten()
}

#[tokio::test(start_paused = true)]
async fn keys_come_out_in_the_order_they_were_added() {
    let q = WorkQueue::default();
    for k in [5, 3, 9, 1, 7] {
        q.add(k);
    }
    let mut out = Vec::new();
    while let Some(k) = ready(&q).await {
        out.push(k);
        q.done(&k);
    }
    assert_eq!(out, [5, 3, 9, 1, 7]);
}

#[tokio::test(start_paused = true)]
async fn a_queued_key_added_again_keeps_its_place() {
    let q = WorkQueue::default();
    q.add(1);
    q.add(2);
    q.add(1);
    q.add(3);
    q.add(2);
    assert_eq!(q.len(), 3);
    let mut out = Vec::new();
    while let Some(k) = ready(&q).await {
        out.push(k);
        q.done(&k);
    }
    assert_eq!(out, [1, 2, 3]);
}

#[tokio::test(start_paused = true)]
async fn a_running_key_is_not_handed_out_again_until_done_then_goes_to_the_tail() {
    let q = WorkQueue::default();
    q.add(1);
    assert_eq!(ready(&q).await, Some(1));
    // Triggered twice while it runs, behind another key.
    q.add(1);
    q.add(2);
    q.add(1);
    assert_eq!(ready(&q).await, Some(2));
    assert_eq!(ready(&q).await, None, "1 still runs");
    q.add(3);
    q.done(&1);
    // Queued again once, behind what was added before its run ended.
    assert_eq!(ready(&q).await, Some(3));
    assert_eq!(ready(&q).await, Some(1));
    assert_eq!(ready(&q).await, None);
    q.done(&1);
    q.done(&2);
    q.done(&3);
    assert_eq!(
        ready(&q).await,
        None,
        "done without a trigger meanwhile: not queued again"
    );
    assert_eq!(q.running(), 0);
}

#[tokio::test(start_paused = true)]
async fn many_workers_never_run_one_key_at_once() {
    let q = Arc::new(WorkQueue::default());
    let running = Arc::new(std::sync::Mutex::new(std::collections::HashSet::new()));
    let runs = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let mut workers = Vec::new();
    for _ in 0..4 {
        let (q, running, runs) = (q.clone(), running.clone(), runs.clone());
        workers.push(tokio::spawn(async move {
            while let Some(k) = q.next().await {
                assert!(running.lock().unwrap().insert(k), "key {k} ran twice at once");
                runs.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                tokio::time::sleep(Duration::from_millis(10)).await;
                running.lock().unwrap().remove(&k);
                q.done(&k);
            }
        }));
    }
    for round in 0..20u32 {
        for k in 0..3 {
            q.add(k);
        }
        tokio::time::sleep(Duration::from_millis(u64::from(round % 7))).await;
    }
    tokio::time::sleep(s(1)).await;
    q.shutdown();
    for w in workers {
        w.await.expect("a worker panicked");
    }
    let runs = runs.load(std::sync::atomic::Ordering::SeqCst);
    assert!((3..=60).contains(&runs), "{runs} runs");
}

#[tokio::test(start_paused = true)]
async fn delayed_keys_join_the_tail_when_due_in_due_order() {
    let q = WorkQueue::default();
    q.add_after(1, s(30));
    q.add_after(2, s(10));
    q.add_after(3, s(20));
    q.add(4);
    assert_eq!(q.delayed(), 3);
    assert_eq!(ready(&q).await, Some(4));
    q.done(&4);
    let start = tokio::time::Instant::now();
    assert_eq!(q.next().await, Some(2));
    assert_eq!(start.elapsed(), s(10));
    // A key added meanwhile is ahead of a delayed key that becomes due after it.
    q.add(5);
    assert_eq!(q.next().await, Some(5));
    assert_eq!(q.next().await, Some(3));
    assert_eq!(start.elapsed(), s(20));
    assert_eq!(q.next().await, Some(1));
    assert_eq!(start.elapsed(), s(30));
}

#[tokio::test(start_paused = true)]
async fn the_earliest_time_asked_counts_and_an_immediate_add_supersedes_a_delay() {
    let q = WorkQueue::default();
    q.add_after(1, s(30));
    q.add_after(1, s(10));
    q.add_after(1, s(50));
    assert_eq!(q.delayed(), 1);
    let start = tokio::time::Instant::now();
    assert_eq!(q.next().await, Some(1));
    assert_eq!(start.elapsed(), s(10));
    q.done(&1);
    q.add_after(2, s(60));
    q.add(2);
    assert_eq!(q.delayed(), 0);
    assert_eq!(ready(&q).await, Some(2));
    // Running: a requeue-after asked during the run takes effect when it is done.
    q.add_after(2, s(5));
    assert_eq!(q.delayed(), 0);
    q.done(&2);
    assert_eq!(q.delayed(), 1);
    let start = tokio::time::Instant::now();
    assert_eq!(q.next().await, Some(2));
    assert_eq!(start.elapsed(), s(5));
}

#[tokio::test(start_paused = true)]
async fn a_waiting_worker_wakes_for_an_earlier_delay_and_for_an_add() {
    let q = Arc::new(WorkQueue::default());
    q.add_after(1, s(100));
    let waiter = tokio::spawn({
        let q = q.clone();
        async move {
            let start = tokio::time::Instant::now();
            let k = q.next().await;
            (k, start.elapsed())
        }
    });
    tokio::time::sleep(s(1)).await;
    q.add_after(2, s(4));
    let (k, waited) = waiter.await.expect("no panic");
    assert_eq!(k, Some(2));
    assert_eq!(waited, s(5));
    let waiter = tokio::spawn({
        let q = q.clone();
        async move { q.next().await }
    });
    tokio::time::sleep(s(1)).await;
    q.add(3);
    assert_eq!(waiter.await.expect("no panic"), Some(3));
}

#[tokio::test(start_paused = true)]
async fn forget_and_shutdown() {
    let q = Arc::new(WorkQueue::default());
    q.add(1);
    q.add(2);
    q.add_after(3, s(1));
    q.forget(&1);
    q.forget(&3);
    assert_eq!(ready(&q).await, Some(2));
    assert_eq!(ready(&q).await, None);
    let waiter = tokio::spawn({
        let q = q.clone();
        async move { q.next().await }
    });
    tokio::time::sleep(s(1)).await;
    q.shutdown();
    assert_eq!(waiter.await.expect("no panic"), None);
    q.add(4);
    assert_eq!(q.next().await, None);
}

#[test]
fn a_drained_map_gives_its_table_back_and_a_small_one_is_left_alone() {
    use std::collections::{HashMap, HashSet};
    let mut map: HashMap<u32, u32> = (0..100_000).map(|k| (k, k)).collect();
    let peak = map.capacity();
    for k in 0..100_000 {
        map.remove(&k);
        super::release_sparse(&mut map);
        // Never below twice what it holds: removals stay amortized O(1).
        assert!(map.capacity() >= map.len());
    }
    assert!(map.capacity() <= 1024, "{} of {peak}", map.capacity());
    let mut set: HashSet<u32> = (0..10_000).collect();
    for k in 0..9_990 {
        set.remove(&k);
        super::release_sparse_set(&mut set);
    }
    assert!(set.capacity() <= 1024 && set.len() == 10);
    let mut small: HashMap<u32, u32> = (0..500).map(|k| (k, k)).collect();
    small.retain(|k, _| *k < 2);
    super::release_sparse(&mut small);
    assert!(small.capacity() > 500, "{}", small.capacity());
}

#[tokio::test(start_paused = true)]
async fn the_queue_gives_back_what_a_burst_grew() {
    let q = WorkQueue::default();
    for k in 0..20_000u32 {
        q.add(k);
    }
    for k in 0..20_000u32 {
        assert_eq!(ready(&q).await, Some(k));
        q.done(&k);
    }
    let inner = q.lock();
    assert!(inner.fifo.capacity() <= 1024 && inner.queued.capacity() <= 1024);
    assert!(inner.running.capacity() <= 1024, "{}", inner.running.capacity());
}
