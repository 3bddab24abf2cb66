//! The Arcane operator: owned CRDs, the stream model, the state machine and the workload builder.
//!
//! Everything under [`stream`] is pure: no I/O, no clock reads. The controllers that observe the
//! cluster and perform the decided commands live beside it.

pub mod cli;
pub mod controller;
pub mod crd;
pub mod leader;
#[cfg(feature = "sandbox")]
pub mod sandbox;
pub mod stream;
pub mod telemetry;
