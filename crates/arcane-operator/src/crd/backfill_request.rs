use k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition;
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
