use kube::CustomResource;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// A Job skeleton for a plugin's streams: `spec` is a whole `batch/v1` Job.
///
/// The Job is kept as raw JSON so that no template content can break the watch of templates; the
/// workload builder validates it and reports what is wrong.
#[derive(CustomResource, Serialize, Deserialize, Debug, Clone, PartialEq, JsonSchema)]
#[kube(
    group = "streaming.sneaksanddata.com",
    version = "v1",
    kind = "StreamingJobTemplate",
    plural = "streamingjobtemplates",
    shortname = "sjt",
    namespaced,
    derive = "PartialEq",
    doc = "A batch/v1 Job skeleton used to build the workloads of Arcane streams",
    printcolumn(
        name = "MemoryLimit",
        type_ = "string",
        json_path = ".spec.spec.template.spec.containers[0].resources.limits.memory"
    ),
    printcolumn(
        name = "CpuLimit",
        type_ = "string",
        json_path = ".spec.spec.template.spec.containers[0].resources.limits.cpu"
    ),
    printcolumn(name = "Image", type_ = "string", json_path = ".spec.spec.template.spec.containers[0].image")
)]
#[serde(transparent)]
pub struct StreamingJobTemplateSpec {
    /// The whole Job (`apiVersion`, `kind`, `metadata`, `spec`).
    #[schemars(schema_with = "embedded_job")]
    pub job: Value,
}

/// An object whose fields are not pruned.
pub(crate) fn free_form_object(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
    schemars::json_schema!({
        "type": "object",
        "nullable": true,
        "x-kubernetes-preserve-unknown-fields": true,
    })
}

fn embedded_job(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
    schemars::json_schema!({
        "type": "object",
        "x-kubernetes-embedded-resource": true,
        "x-kubernetes-preserve-unknown-fields": true,
    })
}
