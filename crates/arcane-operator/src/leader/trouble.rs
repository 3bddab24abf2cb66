//! Why the Lease cannot be used, for logs and readiness: a replica that cannot read or write its
//! Lease (namespace missing, RBAC) can never lead, and must say so rather than wait silently.

use std::time::Duration;

use tokio::time::Instant;

use super::{Elector, LeaderConfig, LeaderError, LeaseStore};

impl<S: LeaseStore> Elector<S> {
    /// Publishes and logs why the Lease cannot be used: WARN with the fix when it starts or
    /// changes, again at most once a minute while it lasts, INFO when it is over.
    pub(super) fn report(&mut self, outcome: &Result<bool, LeaderError>) {
        let trouble = match outcome {
            Err(LeaderError::Conflict) | Ok(_) => None,
            Err(error) => Some(lease_trouble(&self.config, error)),
        };
        let now = Instant::now();
        match trouble {
            None => {
                if self.trouble.send_replace(None).is_some() {
                    tracing::info!(lease = %self.config.lease_name, namespace = %self.config.lease_namespace, "the Lease is reachable again");
                }
                self.trouble_logged = None;
            }
            Some(text) => {
                let changed = self.trouble.borrow().as_deref() != Some(text.as_str());
                let due = self
                    .trouble_logged
                    .is_none_or(|t| now.duration_since(t) >= Duration::from_secs(60));
                if changed || due {
                    tracing::warn!(lease = %self.config.lease_name, namespace = %self.config.lease_namespace, error = %text, "cannot use the leader election Lease");
                    self.trouble_logged = Some(now);
                }
                if changed {
                    self.trouble.send_replace(Some(text));
                }
            }
        }
    }
}

/// What is wrong with the Lease and how to fix it, in one line.
pub(super) fn lease_trouble(config: &LeaderConfig, error: &LeaderError) -> String {
    let (ns, name) = (&config.lease_namespace, &config.lease_name);
    let code = match error {
        LeaderError::Api(kube::Error::Api(status)) => Some(status.code),
        _ => None,
    };
    let detail = match error {
        LeaderError::Api(e) => crate::telemetry::watch::describe_kube_error(e),
        other => other.to_string(),
    };
    let fix = match code {
        Some(404) => format!(
            "namespace \"{ns}\" probably does not exist: create it, or set --lease-namespace (or POD_NAMESPACE) to an existing one"
        ),
        Some(403) => format!(
            "grant the operator's ServiceAccount verbs [get, create, update] on resource \"leases\" in apiGroup \"coordination.k8s.io\" in namespace \"{ns}\""
        ),
        _ => "retrying; check that the API server is reachable".to_string(),
    };
    format!("Lease {ns}/{name}: {detail}; {fix}")
}
