//! Where the Lease lives: the Kubernetes API in production, memory in tests.

use std::future::Future;

use k8s_openapi::api::coordination::v1::Lease;
use kube::api::{ObjectMeta, PostParams};
use kube::{Api, Client};

use super::LeaderError;

/// Reads and writes one Lease with optimistic concurrency.
pub trait LeaseStore: Send + Sync + 'static {
    /// The Lease, or `None` when it does not exist.
    fn get(&self) -> impl Future<Output = Result<Option<Lease>, LeaderError>> + Send;
    /// Creates the Lease; [`LeaderError::Conflict`] when another replica created it first.
    fn create(&self, lease: Lease) -> impl Future<Output = Result<Lease, LeaderError>> + Send;
    /// Replaces the Lease; [`LeaderError::Conflict`] when its `resourceVersion` is stale, i.e.
    /// someone else wrote it since it was read.
    fn replace(&self, lease: Lease) -> impl Future<Output = Result<Lease, LeaderError>> + Send;
}

/// The Lease `namespace/name` through the Kubernetes API.
#[derive(Clone)]
pub struct KubeLeaseStore {
    api: Api<Lease>,
    name: String,
}

impl KubeLeaseStore {
    /// Its calls are counted, like every other, by the client's metrics layer.
    pub fn new(client: Client, namespace: &str, name: &str) -> Self {
        KubeLeaseStore {
            api: Api::namespaced(client, namespace),
            name: name.to_string(),
        }
    }

    fn failed(&self, _verb: &str, error: kube::Error) -> LeaderError {
        match error {
            kube::Error::Api(status) if status.code == 409 => LeaderError::Conflict,
            other => LeaderError::Api(other),
        }
    }

    fn named(&self, mut lease: Lease) -> Lease {
        lease.metadata = ObjectMeta {
            name: Some(self.name.clone()),
            ..lease.metadata
        };
        lease
    }
}

impl LeaseStore for KubeLeaseStore {
    async fn get(&self) -> Result<Option<Lease>, LeaderError> {
        self.api
            .get_opt(&self.name)
            .await
            .map_err(|e| self.failed("get", e))
    }

    async fn create(&self, lease: Lease) -> Result<Lease, LeaderError> {
        let lease = self.named(lease);
        self.api
            .create(&PostParams::default(), &lease)
            .await
            .map_err(|e| self.failed("create", e))
    }

    async fn replace(&self, lease: Lease) -> Result<Lease, LeaderError> {
        let lease = self.named(lease);
        self.api
            .replace(&self.name, &PostParams::default(), &lease)
            .await
            .map_err(|e| self.failed("update", e))
    }
}
