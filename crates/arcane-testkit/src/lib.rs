//! Test support shared by the operator's integration tests and the benchmark:
//!
//! - [`env`](mod@env): the sandbox fixture ([`Env`]: a sandbox API server with the operator's CRDs and the
//!   demo plugin, the operator in-process, the invariant monitor on the store's events);
//! - [`process`]: the operator binary as a child process ([`process::OperatorProcess`]), the one
//!   launcher every test that kills, terminates or restarts the operator uses;
//! - [`wait`]: the bounded waits ([`wait_until`], [`eventually`]): poll a condition, fail with a
//!   description after a timeout, never sleep for a fixed time assuming a fast machine;
//! - [`monitor`]: the "nothing lost" invariants N2 and N3 checked on the sandbox's event stream
//!   ([`monitor::InvariantMonitor`]), by the tests and by the benchmark alike;
//! - [`helm`]: the chart and the `helm` binary (skip locally when missing, fail in CI);
//! - [`scenario`]: object builders (streams, classes, templates, BackfillRequests, CRDs), reads
//!   straight from the sandbox's store, and a recorder of the store's events.

pub mod env;
pub mod helm;
pub mod monitor;
pub mod process;
pub mod scenario;
pub mod wait;

pub use env::{Env, GROUP, Kind, NS, secs, stream};
pub use wait::{eventually, eventually_every, wait_until};
