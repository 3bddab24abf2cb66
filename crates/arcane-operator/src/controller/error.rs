//! Errors of the controller layer, each with a stable label for metrics and Event reasons.

use std::time::Duration;

/// An error while observing or acting on one object.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    // kube's own Display of an API error appends a `Debug` dump of the Status.
    #[error("Kubernetes API error: {}", crate::telemetry::watch::describe_kube_error(.0))]
    Kube(#[from] kube::Error),
    #[error("a {kind} named {name} exists but is not owned by this stream")]
    ForeignWorkload { kind: &'static str, name: String },
    #[error("cannot serialize {what}: {source}")]
    Serialize {
        what: &'static str,
        #[source]
        source: serde_json::Error,
    },
    #[error("object has no {0}")]
    MissingField(&'static str),
    /// A workload create refused in a way an unchanged retry cannot fix (see
    /// [`crate::stream::WorkloadRefusal`]); it reads as the error it wraps.
    #[error("{error}")]
    WorkloadRefused {
        error: Box<Error>,
        kind: crate::stream::WorkloadKind,
        name: String,
        /// The refused workload's `configuration-hash` annotation.
        hash: Option<String>,
        /// The API server's message (or ours, for a foreign object holding the name).
        message: String,
    },
}

impl Error {
    /// A short stable label, used as the `error` metric label and in Event reasons.
    pub fn label(&self) -> &'static str {
        match self {
            Error::Kube(kube::Error::Api(status)) if status.code == 409 => "Conflict",
            Error::Kube(kube::Error::Api(status)) if status.code == 422 => "Invalid",
            Error::Kube(kube::Error::Api(status)) if status.code == 403 => "Forbidden",
            Error::Kube(kube::Error::Api(status)) if status.code == 429 => "TooManyRequests",
            Error::Kube(kube::Error::Api(status)) if status.code >= 500 => "ServerError",
            Error::Kube(_) => "ApiError",
            Error::ForeignWorkload { .. } => "ForeignWorkload",
            Error::Serialize { .. } => "Serialize",
            Error::MissingField(_) => "MissingField",
            Error::WorkloadRefused { error, .. } => error.label(),
        }
    }
}

/// HTTP status code of an API error, if the error is one.
pub fn api_code(error: &kube::Error) -> Option<u16> {
    match error {
        kube::Error::Api(status) => Some(status.code),
        _ => None,
    }
}

/// Per-object exponential back-off for failed reconciles: 1 s doubling to 5 min.
pub fn backoff(failures: u32) -> Duration {
    let exp = failures.saturating_sub(1).min(9);
    Duration::from_secs((1u64 << exp).min(300))
}

/// Consecutive failed reconciles of one object, and when the retry they scheduled is due.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Failures {
    pub count: u32,
    pub retry_at: std::time::Instant,
}

impl Failures {
    /// Records a failure at `now` after `previous`. A failure before the retry already scheduled
    /// (a burst of watch events meeting the same outage) is the same failure: only a failed retry
    /// doubles the delay. Counting each of them let 8 events during a 2 s outage push a stream's
    /// next attempt 2 minutes out, long after the API had recovered (F3 flaked on it).
    pub fn record(previous: Option<Failures>, now: std::time::Instant) -> Failures {
        match previous {
            Some(p) if p.count > 0 && now < p.retry_at => p,
            _ => {
                let count = previous.map_or(0, |p| p.count).saturating_add(1);
                Failures {
                    count,
                    retry_at: now + backoff(count),
                }
            }
        }
    }

    /// The delay to request now: until the scheduled retry (the controller keeps the earliest).
    pub fn delay(&self, now: std::time::Instant) -> Duration {
        self.retry_at.saturating_duration_since(now)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn failures_before_the_scheduled_retry_do_not_grow_the_back_off() {
        let t0 = std::time::Instant::now();
        let ms = Duration::from_millis;
        let first = Failures::record(None, t0);
        assert_eq!((first.count, first.delay(t0)), (1, ms(1000)));
        // Seven more failures within that second, from watch events: still one failure.
        let mut burst = first;
        for i in 1..8 {
            burst = Failures::record(Some(burst), t0 + ms(100 * i));
        }
        assert_eq!(burst, first);
        assert_eq!(burst.delay(t0 + ms(700)), ms(300));
        // The retry fails: 2 s, then 4 s.
        let retried = Failures::record(Some(burst), t0 + ms(1000));
        assert_eq!((retried.count, retried.delay(t0 + ms(1000))), (2, ms(2000)));
        let again = Failures::record(Some(retried), t0 + ms(3000));
        assert_eq!((again.count, again.delay(t0 + ms(3000))), (3, ms(4000)));
    }

    #[test]
    fn backoff_doubles_and_caps() {
        let got: Vec<u64> = (1..=11).map(|n| backoff(n).as_secs()).collect();
        assert_eq!(got, vec![1, 2, 4, 8, 16, 32, 64, 128, 256, 300, 300]);
    }
}
