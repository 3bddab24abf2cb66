//! The workload builder: pure functions from (stream, class, template, mode) to a Job or CronJob.
//!
//! OWNER: builder helper. Signatures are the contract with `decide`.

use crate::crd::{BackfillRequest, StreamingJobTemplate};

use super::model::{ClassInfo, StreamDefinition, StreamIdentity, Workload};

/// What kind of workload to build.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Mode<'a> {
    /// The stream's backend: a long-running Job or a CronJob.
    Streaming,
    /// A backfill Job for this request.
    Backfill(&'a BackfillRequest),
}

/// Everything a workload is built from.
#[derive(Debug, Clone, Copy)]
pub struct BuildInput<'a> {
    pub identity: &'a StreamIdentity,
    pub definition: &'a StreamDefinition,
    pub class: &'a ClassInfo,
    /// The template for this mode (streaming template for `Streaming`, backfill template otherwise).
    pub template: &'a StreamingJobTemplate,
    pub mode: Mode<'a>,
    /// Restarts of completed streaming Jobs before this one (recorded as an annotation; not hashed).
    pub restarts: u32,
}

/// A template that cannot become a workload.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("template {namespace}/{name}: {message}")]
pub struct BuildError {
    pub namespace: String,
    pub name: String,
    pub message: String,
}

/// Builds the workload: a Job (streaming with a Job backend, or backfill) or a CronJob.
pub fn build(input: &BuildInput<'_>) -> Result<Workload, BuildError> {
    let _ = input;
    todo!("builder::build")
}

/// The `configuration-hash` the workload built from `input` carries.
pub fn configuration_hash(input: &BuildInput<'_>) -> String {
    let _ = input;
    todo!("builder::configuration_hash")
}
