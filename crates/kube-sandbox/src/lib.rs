//! kube-sandbox: an in-memory, kubectl-compatible Kubernetes API emulator with controllers (garbage collector,
//! Job and CronJob simulators) and fault injection, for running and testing operators without a cluster.

pub mod apply;
pub mod controllers;
pub mod openapi;
pub mod patch;
pub mod schema;
pub mod selectors;
pub mod store;
pub mod table;

pub use store::{ApiError, Gvr, Store};
