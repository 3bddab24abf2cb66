use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, Time};
use kube::CustomResource;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::StreamClassPhase;

/// A request to run a backfill Job for one stream.
// kube's repeated `printcolumn(type_ = ..)` arguments look like duplicates to clippy.
#[allow(clippy::duplicated_attributes)]
#[derive(CustomResource, Serialize, Deserialize, Debug, Clone, PartialEq, JsonSchema, Default)]
#[kube(
    group = "streaming.sneaksanddata.com",
    version = "v1",
    kind = "BackfillRequest",
    plural = "backfillrequests",
    shortname = "bfr",
    namespaced,
    status = "BackfillRequestStatus",
    derive = "PartialEq",
    doc = "Requests a backfill of one Arcane stream",
    printcolumn(name = "StreamClass", type_ = "string", json_path = ".spec.streamClass"),
    printcolumn(name = "StreamId", type_ = "string", json_path = ".spec.streamId"),
    printcolumn(name = "Completed", type_ = "boolean", json_path = ".spec.completed"),
    printcolumn(name = "Phase", type_ = "string", json_path = ".status.phase"),
    printcolumn(
        name = "State",
        type_ = "string",
        json_path = ".status.conditions[?(@.type==\"Completed\")].reason"
    ),
    printcolumn(name = "Age", type_ = "date", json_path = ".metadata.creationTimestamp"),
    selectable = ".spec.completed",
    selectable = ".spec.streamId"
)]
#[serde(rename_all = "camelCase")]
pub struct BackfillRequestSpec {
    /// Name of the StreamClass of the target stream.
    pub stream_class: String,
    /// Name of the target stream definition, in the request's namespace.
    pub stream_id: String,
    /// Set by the operator once the backfill Job has succeeded.
    #[serde(default)]
    pub completed: bool,
    /// Free-form overrides passed to the backfill Job as `STREAMCONTEXT__OVERRIDE`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(schema_with = "crate::crd::schema::free_form_object")]
    pub payload: Option<Value>,
}

/// Written by the operator: `phase` is Pending (waiting), Ready (its backfill Job runs), Stopped
/// (completed) or Failed (can never be served); the reason of the `Completed` condition names the
/// state (Pending, Running, Completed, Invalid) and its message says why.
//
// The shape is the `arcane-crd` chart's schema, since clusters may run that chart's CRD rather than
// this one: `phase` in its enum, `conditions` metav1.Conditions. See `BackfillRequestState`.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, JsonSchema, Default)]
#[serde(rename_all = "camelCase")]
pub struct BackfillRequestStatus {
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "crate::crd::schema::lenient_phase"
    )]
    #[schemars(schema_with = "crate::crd::schema::phase")]
    pub phase: Option<StreamClassPhase>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub conditions: Option<Vec<Condition>>,
}

/// Where a request stands, as the operator writes it on the request's status.
///
/// `status.phase` must stay in the `arcane-crd` enum (an API server running that chart's CRD
/// refuses any other value), so each state is one phase, and the precise state is the `reason` of
/// the request's [`CONDITION_TYPE`](Self::CONDITION_TYPE) (`Completed`) condition:
///
/// | State       | `status.phase` | `Completed` condition | `reason`    | Meaning                                                   |
/// |-------------|----------------|-----------------------|-------------|-----------------------------------------------------------|
/// | `Pending`   | `Pending`      | `False`               | `Pending`   | waiting: the stream is suspended or failed, another request comes first, or its template is missing |
/// | `Running`   | `Ready`        | `False`               | `Running`   | its backfill Job exists and runs                          |
/// | `Completed` | `Stopped`      | `True`                | `Completed` | the Job succeeded; `spec.completed` is `true`             |
/// | `Invalid`   | `Failed`       | `False`               | `Invalid`   | can never be served (for example the stream has no backfill template, or the payload is too large); final |
///
/// The condition's `message` says why, in words. A request whose status was pruned or never
/// written is read by its phase alone, and one with no status at all is `Pending` until served.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum BackfillRequestState {
    Pending,
    Running,
    Completed,
    Invalid,
}

impl BackfillRequestState {
    /// Type of the condition whose reason is the state.
    pub const CONDITION_TYPE: &'static str = "Completed";

    pub const ALL: [BackfillRequestState; 4] = [
        BackfillRequestState::Pending,
        BackfillRequestState::Running,
        BackfillRequestState::Completed,
        BackfillRequestState::Invalid,
    ];

    /// The `status.phase` written for this state.
    pub fn phase(self) -> StreamClassPhase {
        match self {
            BackfillRequestState::Pending => StreamClassPhase::Pending,
            BackfillRequestState::Running => StreamClassPhase::Ready,
            BackfillRequestState::Completed => StreamClassPhase::Stopped,
            BackfillRequestState::Invalid => StreamClassPhase::Failed,
        }
    }

    /// The condition's `reason`: the state's name.
    pub fn reason(self) -> &'static str {
        match self {
            BackfillRequestState::Pending => "Pending",
            BackfillRequestState::Running => "Running",
            BackfillRequestState::Completed => "Completed",
            BackfillRequestState::Invalid => "Invalid",
        }
    }

    /// The condition's `status`: only a completed request is `True`.
    pub fn condition_status(self) -> &'static str {
        match self {
            BackfillRequestState::Completed => "True",
            _ => "False",
        }
    }

    /// The condition describing this state. `lastTransitionTime` is `now`; a writer keeps the
    /// previous one when the condition's `status` did not change.
    pub fn condition(
        self,
        message: impl Into<String>,
        now: Time,
        observed_generation: Option<i64>,
    ) -> Condition {
        Condition {
            type_: Self::CONDITION_TYPE.to_owned(),
            status: self.condition_status().to_owned(),
            reason: self.reason().to_owned(),
            message: message.into(),
            last_transition_time: now,
            observed_generation,
        }
    }

    /// The status to write for this state: the phase and the one condition.
    pub fn status(
        self,
        message: impl Into<String>,
        now: Time,
        observed_generation: Option<i64>,
    ) -> BackfillRequestStatus {
        BackfillRequestStatus {
            phase: Some(self.phase()),
            conditions: Some(vec![self.condition(message, now, observed_generation)]),
        }
    }

    /// The state a status records: the condition's reason when present and consistent with the
    /// phase, else the phase. Another writer that sets only the phase (e.g. `Failed` to withdraw a
    /// request, Arcane #240) is believed over the condition the operator wrote before. `None` for
    /// a status the operator has not written (another writer's reason, no phase).
    pub fn of(status: &BackfillRequestStatus) -> Option<Self> {
        let by_reason = status
            .conditions
            .iter()
            .flatten()
            .find(|c| c.type_ == Self::CONDITION_TYPE)
            .and_then(|c| Self::ALL.into_iter().find(|s| s.reason() == c.reason));
        let by_phase = status
            .phase
            .and_then(|phase| Self::ALL.into_iter().find(|s| s.phase() == phase));
        match (by_reason, by_phase) {
            (Some(reason), Some(phase)) if reason.phase() != phase.phase() => Some(phase),
            (reason, phase) => reason.or(phase),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn now() -> Time {
        Time(jiff::Timestamp::UNIX_EPOCH)
    }

    #[test]
    fn every_state_fits_the_arcane_crd_phase_enum_and_reads_back() {
        // (state, phase, condition status, reason)
        let table = [
            (BackfillRequestState::Pending, "Pending", "False", "Pending"),
            (BackfillRequestState::Running, "Ready", "False", "Running"),
            (BackfillRequestState::Completed, "Stopped", "True", "Completed"),
            (BackfillRequestState::Invalid, "Failed", "False", "Invalid"),
        ];
        assert_eq!(table.len(), BackfillRequestState::ALL.len());
        for (state, phase, status, reason) in table {
            let written = state.status("why", now(), Some(3));
            let wire = serde_json::to_value(&written).unwrap();
            assert_eq!(wire["phase"], phase, "{state:?}");
            let condition = &wire["conditions"][0];
            assert_eq!(condition["type"], "Completed", "{state:?}");
            assert_eq!(condition["status"], status, "{state:?}");
            assert_eq!(condition["reason"], reason, "{state:?}");
            assert_eq!(condition["message"], "why", "{state:?}");
            assert_eq!(condition["observedGeneration"], 3, "{state:?}");
            assert_eq!(BackfillRequestState::of(&written), Some(state));
            // A CRD that prunes conditions leaves the phase, which still tells the state.
            let pruned = BackfillRequestStatus {
                conditions: None,
                ..written
            };
            assert_eq!(BackfillRequestState::of(&pruned), Some(state));
        }
        assert_eq!(BackfillRequestState::of(&BackfillRequestStatus::default()), None);
    }

    /// Another writer that changes only the phase over the operator's status is believed: a
    /// request withdrawn with phase `Failed` is not served because its old condition says Pending.
    #[test]
    fn a_phase_set_by_another_writer_wins_over_the_operators_condition() {
        let mut status = BackfillRequestState::Pending.status("waiting", now(), None);
        status.phase = Some(StreamClassPhase::Failed);
        assert_eq!(
            BackfillRequestState::of(&status),
            Some(BackfillRequestState::Invalid)
        );
    }
}
