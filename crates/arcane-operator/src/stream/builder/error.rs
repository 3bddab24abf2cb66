//! Why a workload cannot be built, in words an on-call engineer can act on.

use std::fmt;

use crate::crd::BackfillRequest;
use crate::stream::hash::canonical_json;
use crate::stream::model::WorkloadKind;

use super::env::{ENV_OVERRIDE, MAX_ENV_STRING_BYTES, env_string_bytes};
use super::{request_name, request_payload};

/// Why no workload can be built. Both kinds are permanent until their input changes; the message
/// names the object to fix.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BuildError {
    /// The template is not a usable Job.
    #[error("template {namespace}/{name}: {message}")]
    Template {
        namespace: String,
        name: String,
        message: String,
    },
    /// A variable the workload would receive is too long for Linux to start a container with it.
    #[error(transparent)]
    EnvTooLarge(#[from] EnvTooLarge),
}

/// An environment string over [`MAX_ENV_STRING_BYTES`]. The API server accepts such a Job, but its
/// containers fail to start on every node, so it is never created.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EnvTooLarge {
    /// Where the value comes from: what has to change.
    pub source: EnvSource,
    /// The variable's name, e.g. `STREAMCONTEXT__OVERRIDE`.
    pub variable: String,
    /// Bytes of `NAME=value` and the final NUL.
    pub bytes: usize,
    /// The workload that would have received it.
    pub workload: WorkloadKind,
}

/// What an oversized variable's value comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EnvSource {
    /// The stream's `.spec` (`STREAMCONTEXT__SPEC`). The parser refuses such a spec first
    /// (`parse::MAX_SPEC_BYTES`), so a build never reports it for a parsed definition.
    Spec,
    /// The `spec.payload` of this BackfillRequest (`STREAMCONTEXT__OVERRIDE`).
    Payload { request: String },
    /// A literal variable of the template itself, at this path of the template object.
    Template {
        namespace: String,
        name: String,
        path: String,
    },
}

impl fmt::Display for EnvTooLarge {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.source {
            EnvSource::Spec => f.write_str("the stream's spec is too large")?,
            EnvSource::Payload { request } => {
                write!(f, "BackfillRequest {request}: spec.payload is too large")?;
            }
            EnvSource::Template {
                namespace,
                name,
                path,
            } => write!(f, "template {namespace}/{name}: {path} is too large")?,
        }
        let workload = match self.workload {
            WorkloadKind::Job => "the Job",
            WorkloadKind::CronJob => "the CronJob's Jobs",
        };
        write!(
            f,
            ": {}=<value> would be {} bytes, over the {MAX_ENV_STRING_BYTES} bytes Linux allows \
             for one environment string (MAX_ARG_STRLEN, counting the name, '=' and the final \
             NUL), so {workload} could never start",
            self.variable, self.bytes
        )
    }
}

impl std::error::Error for EnvTooLarge {}

/// The error a backfill Job for `request` would meet because of the request alone: a payload too
/// large to pass as `STREAMCONTEXT__OVERRIDE`. Lets the state machine refuse such a request before
/// stopping anything for it.
pub fn check_request(request: &BackfillRequest) -> Result<(), EnvTooLarge> {
    let Some(payload) = request_payload(request) else {
        return Ok(());
    };
    let bytes = env_string_bytes(ENV_OVERRIDE, &canonical_json(payload));
    if bytes <= MAX_ENV_STRING_BYTES {
        return Ok(());
    }
    let source = EnvSource::Payload {
        request: request_name(request),
    };
    Err(EnvTooLarge {
        source,
        variable: ENV_OVERRIDE.to_owned(),
        bytes,
        workload: WorkloadKind::Job,
    })
}
