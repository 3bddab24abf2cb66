//! The reasons the operator gives, as one enum shared by the stream's `Ready` condition, the Events
//! on the stream and the logs (SPEC §4). Their strings are PascalCase and stable: users, alerts and
//! the end-to-end tests match on them. Reading a reason someone wrote (an observed condition) into
//! this enum is part of observing ([`Reason::parse`]); decisions compare enums, never strings.

/// Why a stream is in its state, or what the operator did to it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Reason {
    // Reasons of the `Ready` condition (an Event that reports a state carries the same).
    StreamRunning,
    StreamScheduled,
    StreamBackfilling,
    StreamSuspended,
    StreamPending,
    /// Pending because a completed streaming Job is being restarted.
    StreamRestarting,
    CrashLoopDetected,
    InvalidSpec,
    TemplateNotFound,
    InvalidTemplate,
    /// The API server refused to create the workload (also the Event of the failed create).
    FailedCreateJob,
    // Reasons of Events that report an action.
    StreamCreated,
    StreamStarted,
    StreamResumed,
    StreamRestarted,
    ConfigurationChanged,
    BackendChanged,
    /// A workload the previous (Go) operator built from the current definition was taken over.
    WorkloadAdopted,
    BackfillRequested,
    BackfillStarted,
    BackfillCompleted,
    BackfillNotRequested,
    BackfillRejected,
    // Reasons of the Warning Events of commands that failed.
    FailedDeleteJob,
    FailedAdoptJob,
    FailedCreateBackfillRequest,
    FailedUpdateBackfillRequest,
    FailedUpdateStatus,
    FailedUpdateAnnotations,
    FailedPublishEvent,
}

impl Reason {
    pub const ALL: [Reason; 30] = [
        Reason::StreamRunning,
        Reason::StreamScheduled,
        Reason::StreamBackfilling,
        Reason::StreamSuspended,
        Reason::StreamPending,
        Reason::StreamRestarting,
        Reason::CrashLoopDetected,
        Reason::InvalidSpec,
        Reason::TemplateNotFound,
        Reason::InvalidTemplate,
        Reason::FailedCreateJob,
        Reason::StreamCreated,
        Reason::StreamStarted,
        Reason::StreamResumed,
        Reason::StreamRestarted,
        Reason::ConfigurationChanged,
        Reason::BackendChanged,
        Reason::WorkloadAdopted,
        Reason::BackfillRequested,
        Reason::BackfillStarted,
        Reason::BackfillCompleted,
        Reason::BackfillNotRequested,
        Reason::BackfillRejected,
        Reason::FailedDeleteJob,
        Reason::FailedAdoptJob,
        Reason::FailedCreateBackfillRequest,
        Reason::FailedUpdateBackfillRequest,
        Reason::FailedUpdateStatus,
        Reason::FailedUpdateAnnotations,
        Reason::FailedPublishEvent,
    ];

    pub const fn as_str(self) -> &'static str {
        match self {
            Reason::StreamRunning => "StreamRunning",
            Reason::StreamScheduled => "StreamScheduled",
            Reason::StreamBackfilling => "StreamBackfilling",
            Reason::StreamSuspended => "StreamSuspended",
            Reason::StreamPending => "StreamPending",
            Reason::StreamRestarting => "StreamRestarting",
            Reason::CrashLoopDetected => "CrashLoopDetected",
            Reason::InvalidSpec => "InvalidSpec",
            Reason::TemplateNotFound => "TemplateNotFound",
            Reason::InvalidTemplate => "InvalidTemplate",
            Reason::FailedCreateJob => "FailedCreateJob",
            Reason::StreamCreated => "StreamCreated",
            Reason::StreamStarted => "StreamStarted",
            Reason::StreamResumed => "StreamResumed",
            Reason::StreamRestarted => "StreamRestarted",
            Reason::ConfigurationChanged => "ConfigurationChanged",
            Reason::BackendChanged => "BackendChanged",
            Reason::WorkloadAdopted => "WorkloadAdopted",
            Reason::BackfillRequested => "BackfillRequested",
            Reason::BackfillStarted => "BackfillStarted",
            Reason::BackfillCompleted => "BackfillCompleted",
            Reason::BackfillNotRequested => "BackfillNotRequested",
            Reason::BackfillRejected => "BackfillRejected",
            Reason::FailedDeleteJob => "FailedDeleteJob",
            Reason::FailedAdoptJob => "FailedAdoptJob",
            Reason::FailedCreateBackfillRequest => "FailedCreateBackfillRequest",
            Reason::FailedUpdateBackfillRequest => "FailedUpdateBackfillRequest",
            Reason::FailedUpdateStatus => "FailedUpdateStatus",
            Reason::FailedUpdateAnnotations => "FailedUpdateAnnotations",
            Reason::FailedPublishEvent => "FailedPublishEvent",
        }
    }

    /// The reason with exactly this string; `None` for anyone else's (the Go operator's, a user's).
    pub fn parse(value: &str) -> Option<Reason> {
        Reason::ALL.into_iter().find(|r| r.as_str() == value)
    }
}

impl std::fmt::Display for Reason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Reasons of the stream's `Ready` condition, by their place in the status.
pub mod ready {
    use super::Reason;

    pub const STREAM_RUNNING: Reason = Reason::StreamRunning;
    pub const STREAM_SCHEDULED: Reason = Reason::StreamScheduled;
    pub const STREAM_BACKFILLING: Reason = Reason::StreamBackfilling;
    pub const STREAM_SUSPENDED: Reason = Reason::StreamSuspended;
    pub const STREAM_PENDING: Reason = Reason::StreamPending;
    pub const STREAM_RESTARTING: Reason = Reason::StreamRestarting;
    pub const CRASH_LOOP_DETECTED: Reason = Reason::CrashLoopDetected;
    pub const INVALID_SPEC: Reason = Reason::InvalidSpec;
    pub const TEMPLATE_NOT_FOUND: Reason = Reason::TemplateNotFound;
    pub const INVALID_TEMPLATE: Reason = Reason::InvalidTemplate;
    pub const FAILED_CREATE_JOB: Reason = Reason::FailedCreateJob;
}

/// Reasons of the Events published on the stream definition for what the operator did. An Event
/// that reports a state (failed, suspended, waiting for a template, …) carries the status's reason.
pub mod event {
    use super::Reason;

    pub const STREAM_CREATED: Reason = Reason::StreamCreated;
    pub const STREAM_STARTED: Reason = Reason::StreamStarted;
    pub const STREAM_RESUMED: Reason = Reason::StreamResumed;
    pub const STREAM_SUSPENDED: Reason = Reason::StreamSuspended;
    pub const STREAM_RESTARTED: Reason = Reason::StreamRestarted;
    pub const STREAM_RUNNING: Reason = Reason::StreamRunning;
    pub const STREAM_SCHEDULED: Reason = Reason::StreamScheduled;
    pub const STREAM_BACKFILLING: Reason = Reason::StreamBackfilling;
    pub const STREAM_PENDING: Reason = Reason::StreamPending;
    pub const CONFIGURATION_CHANGED: Reason = Reason::ConfigurationChanged;
    pub const BACKEND_CHANGED: Reason = Reason::BackendChanged;
    pub const WORKLOAD_ADOPTED: Reason = Reason::WorkloadAdopted;
    pub const BACKFILL_REQUESTED: Reason = Reason::BackfillRequested;
    pub const BACKFILL_STARTED: Reason = Reason::BackfillStarted;
    pub const BACKFILL_COMPLETED: Reason = Reason::BackfillCompleted;
    pub const BACKFILL_NOT_REQUESTED: Reason = Reason::BackfillNotRequested;
    pub const BACKFILL_REJECTED: Reason = Reason::BackfillRejected;
    pub const TEMPLATE_NOT_FOUND: Reason = Reason::TemplateNotFound;
    pub const INVALID_SPEC: Reason = Reason::InvalidSpec;
}

#[cfg(test)]
mod tests {
    use super::Reason;

    #[test]
    fn every_reason_reads_back_from_its_string_and_nothing_else_does() {
        for reason in Reason::ALL {
            assert_eq!(Reason::parse(reason.as_str()), Some(reason));
        }
        let strings: std::collections::HashSet<&str> = Reason::ALL.iter().map(|r| r.as_str()).collect();
        assert_eq!(strings.len(), Reason::ALL.len(), "distinct strings");
        for other in ["", "streamrunning", "StreamWarning", "Running"] {
            assert_eq!(Reason::parse(other), None, "{other}");
        }
    }
}
