use k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition;
use kube::CustomResource;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// Registers a plugin's stream kind with the operator.
// kube's repeated `printcolumn(type_ = ..)` arguments look like duplicates to clippy.
#[allow(clippy::duplicated_attributes)]
#[derive(CustomResource, Serialize, Deserialize, Debug, Clone, PartialEq, JsonSchema, Default)]
#[kube(
    group = "streaming.sneaksanddata.com",
    version = "v1",
    kind = "StreamClass",
    plural = "streamclasses",
    shortname = "sc",
    status = "StreamClassStatus",
    derive = "PartialEq",
    doc = "Registers a plugin's stream kind with the Arcane operator",
    printcolumn(name = "ApiGroupRef", type_ = "string", json_path = ".spec.apiGroupRef"),
    printcolumn(name = "ApiVersion", type_ = "string", json_path = ".spec.apiVersion"),
    printcolumn(name = "KindRef", type_ = "string", json_path = ".spec.kindRef"),
    printcolumn(name = "PluralName", type_ = "string", json_path = ".spec.pluralName"),
    printcolumn(name = "Phase", type_ = "string", json_path = ".status.phase"),
    printcolumn(name = "Age", type_ = "date", json_path = ".metadata.creationTimestamp")
)]
#[serde(rename_all = "camelCase")]
pub struct StreamClassSpec {
    /// API group of the plugin's stream CRD (empty for the core group).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub api_group_ref: Option<String>,
    /// Version of the plugin's stream CRD.
    pub api_version: String,
    /// Kind of the plugin's stream CRD.
    pub kind_ref: String,
    /// Plural resource name of the plugin's stream CRD.
    pub plural_name: String,
    /// Fields under a stream's `.spec` that each hold a `{name: <secret>}` reference; each becomes an
    /// `envFrom.secretRef` of the workload's containers.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret_refs: Option<Vec<String>>,
}

/// Phase of a StreamClass.
#[derive(Serialize, Deserialize, Debug, Clone, Copy, PartialEq, Eq, JsonSchema)]
pub enum StreamClassPhase {
    Pending,
    Ready,
    Failed,
    Stopped,
}

#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, JsonSchema, Default)]
#[serde(rename_all = "camelCase")]
pub struct StreamClassStatus {
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "crate::crd::schema::lenient_phase"
    )]
    #[schemars(schema_with = "crate::crd::schema::phase")]
    pub phase: Option<StreamClassPhase>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub conditions: Option<Vec<Condition>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
}
