//! Rate limits for log lines about conditions that repeat (an Event the API refuses each time,
//! for every stream): the first occurrence of a condition is logged, then at most one line per
//! interval carrying how many were left out.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use tokio::time::Instant;

/// Admits one line per key and interval.
#[derive(Debug)]
pub struct LogLimiter {
    interval: Duration,
    seen: Mutex<HashMap<String, (Instant, u64)>>,
}

impl LogLimiter {
    pub fn new(interval: Duration) -> Self {
        LogLimiter {
            interval,
            seen: Mutex::new(HashMap::new()),
        }
    }

    /// `Some(n)` when a line about `key` may be logged now, `n` being the lines left out since the
    /// last one; `None` when it must be left out.
    pub fn admit(&self, key: &str) -> Option<u64> {
        let now = Instant::now();
        let mut seen = self
            .seen
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        match seen.get_mut(key) {
            Some((last, skipped)) if now.duration_since(*last) < self.interval => {
                *skipped += 1;
                None
            }
            Some((last, skipped)) => {
                let n = *skipped;
                *last = now;
                *skipped = 0;
                Some(n)
            }
            None => {
                seen.insert(key.to_string(), (now, 0));
                Some(0)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn one_line_per_key_and_interval_with_the_count() {
        let limit = LogLimiter::new(Duration::from_secs(60));
        assert_eq!(limit.admit("403"), Some(0));
        assert_eq!(limit.admit("403"), None);
        assert_eq!(limit.admit("403"), None);
        assert_eq!(limit.admit("500"), Some(0), "another condition is logged at once");
        tokio::time::advance(Duration::from_secs(61)).await;
        assert_eq!(limit.admit("403"), Some(2));
        assert_eq!(limit.admit("403"), None);
    }
}
