//! Bounded waits: a condition is polled until it holds; after the timeout the wait panics with
//! what it waited for (and, for [`eventually`], the condition's last answer). Tests wait on
//! conditions, never on sleeps that assume a fast machine.

use std::fmt::Display;
use std::future::Future;
use std::time::Duration;

use tokio::time::Instant;

/// How often a condition is polled.
pub const POLL: Duration = Duration::from_millis(50);

/// Polls `check` every [`POLL`] until it returns `Ok`, and returns its value; panics naming `what`
/// and the last `Err` after `timeout`. The check always runs at least once, and once more at the
/// deadline.
pub async fn eventually<T, F, Fut>(what: impl Display, timeout: Duration, check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, String>>,
{
    eventually_every(what, timeout, POLL, check).await
}

/// [`eventually`], polling every `poll` (a short one for a moment a test must catch at once).
pub async fn eventually_every<T, F, Fut>(
    what: impl Display,
    timeout: Duration,
    poll: Duration,
    mut check: F,
) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, String>>,
{
    let deadline = Instant::now() + timeout;
    loop {
        let expired = Instant::now() >= deadline;
        match check().await {
            Ok(value) => return value,
            Err(last) if expired => panic!("timed out after {timeout:?} waiting for {what}: {last}"),
            Err(_) => tokio::time::sleep(poll).await,
        }
    }
}

/// Polls `check` every [`POLL`] until it holds; panics naming `what` after `timeout`.
pub async fn wait_until<F, Fut>(what: impl Display, timeout: Duration, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    eventually(what, timeout, || {
        let holds = check();
        async move {
            if holds.await {
                Ok(())
            } else {
                Err("the condition still does not hold".to_string())
            }
        }
    })
    .await;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn eventually_returns_the_first_success() {
        let mut calls = 0;
        let value = eventually("the third call", Duration::from_secs(5), || {
            calls += 1;
            let n = calls;
            async move { if n >= 3 { Ok(n) } else { Err(format!("call {n}")) } }
        })
        .await;
        assert_eq!(value, 3);
    }

    #[tokio::test(start_paused = true)]
    #[should_panic(expected = "timed out after 1s waiting for nothing: never")]
    async fn eventually_fails_with_the_last_answer() {
        eventually::<(), _, _>("nothing", Duration::from_secs(1), || async {
            Err("never".to_string())
        })
        .await;
    }

    #[tokio::test(start_paused = true)]
    #[should_panic(expected = "waiting for a false condition")]
    async fn wait_until_fails_after_the_timeout() {
        wait_until("a false condition", Duration::from_secs(1), || async { false }).await;
    }
}
