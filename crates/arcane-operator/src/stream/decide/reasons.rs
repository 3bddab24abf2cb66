//! Reason strings of the `Ready` condition and of Events (SPEC §4), PascalCase and stable: users,
//! alerts and the end-to-end tests match on them.

/// Reasons of the stream's `Ready` condition.
pub mod ready {
    pub const STREAM_RUNNING: &str = "StreamRunning";
    pub const STREAM_SCHEDULED: &str = "StreamScheduled";
    pub const STREAM_BACKFILLING: &str = "StreamBackfilling";
    pub const STREAM_SUSPENDED: &str = "StreamSuspended";
    pub const STREAM_PENDING: &str = "StreamPending";
    /// Pending because a completed streaming Job is being restarted.
    pub const STREAM_RESTARTING: &str = "StreamRestarting";
    pub const CRASH_LOOP_DETECTED: &str = "CrashLoopDetected";
    pub const INVALID_SPEC: &str = "InvalidSpec";
    pub const TEMPLATE_NOT_FOUND: &str = "TemplateNotFound";
    pub const INVALID_TEMPLATE: &str = "InvalidTemplate";
    /// The API server refused to create the workload (its message says why).
    pub const FAILED_CREATE_JOB: &str = "FailedCreateJob";
}

/// Reasons of the Events published on the stream definition for what the operator did. An Event
/// that reports a state (failed, suspended, waiting for a template, …) carries the status's reason.
pub mod event {
    pub const STREAM_CREATED: &str = "StreamCreated";
    pub const STREAM_STARTED: &str = "StreamStarted";
    pub const STREAM_RESUMED: &str = "StreamResumed";
    pub const STREAM_SUSPENDED: &str = "StreamSuspended";
    pub const STREAM_RESTARTED: &str = "StreamRestarted";
    pub const STREAM_RUNNING: &str = "StreamRunning";
    pub const STREAM_SCHEDULED: &str = "StreamScheduled";
    pub const STREAM_BACKFILLING: &str = "StreamBackfilling";
    pub const STREAM_PENDING: &str = "StreamPending";
    pub const CONFIGURATION_CHANGED: &str = "ConfigurationChanged";
    pub const BACKEND_CHANGED: &str = "BackendChanged";
    /// A workload the previous (Go) operator built from the current definition was taken over.
    pub const WORKLOAD_ADOPTED: &str = "WorkloadAdopted";
    pub const BACKFILL_REQUESTED: &str = "BackfillRequested";
    pub const BACKFILL_STARTED: &str = "BackfillStarted";
    pub const BACKFILL_COMPLETED: &str = "BackfillCompleted";
    pub const BACKFILL_NOT_REQUESTED: &str = "BackfillNotRequested";
    pub const BACKFILL_REJECTED: &str = "BackfillRejected";
    pub const TEMPLATE_NOT_FOUND: &str = "TemplateNotFound";
    pub const INVALID_SPEC: &str = "InvalidSpec";
}
