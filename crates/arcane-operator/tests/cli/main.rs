//! The `kubectl arcane` plugin against the sandbox: in-process (`plugin`, with golden files) and
//! as the built binary run through kubectl (`plugin_process`). One test binary.

#![cfg(feature = "kubectl-plugin")]
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod plugin;
mod plugin_process;
mod support;
