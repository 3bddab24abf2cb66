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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_and_caps() {
        let got: Vec<u64> = (1..=11).map(|n| backoff(n).as_secs()).collect();
        assert_eq!(got, vec![1, 2, 4, 8, 16, 32, 64, 128, 256, 300, 300]);
    }
}
