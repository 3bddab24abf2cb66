//! kube-sandbox: an in-memory, kubectl-compatible Kubernetes API emulator with controllers (garbage collector,
//! Job and CronJob simulators) and fault injection, for running and testing operators without a cluster.
//!
//! ```no_run
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! let sandbox = kube_sandbox::Sandbox::start(Default::default()).await?;
//! let client = sandbox.client()?;
//! sandbox.write_kubeconfig("/tmp/sandbox.kubeconfig")?;
//! # let _ = client; Ok(()) }
//! ```

pub mod apply;
pub mod controllers;
pub mod defaults;
pub mod faults;
pub mod kubeconfig;
#[cfg(feature = "kubectl")]
pub mod openapi;
pub mod patch;
pub mod rbac;
pub mod registry;
pub mod requestlog;
mod sandbox;
pub mod schema;
pub mod selectors;
pub mod server;
pub mod store;
#[cfg(feature = "kubectl")]
pub mod table;

pub use sandbox::{Sandbox, SandboxConfig, SandboxError};
pub use store::{ApiError, Gvr, Store};
