use kube::CustomResource;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// A whole batch/v1 Job (apiVersion, kind, metadata, spec) used as the skeleton of the workloads
/// built from this template.
//
// On the wire `.spec` IS the Job: `{"spec": {"apiVersion": "batch/v1", "kind": "Job", "metadata":
// {..}, "spec": {..}}}` (hence `transparent`). It is kept as raw JSON so that no template content can
// break the watch of templates; the workload builder validates it and reports what is wrong.
// (The doc comment above is the schema description of `.spec`.)
//
// kube's repeated `printcolumn(type_ = ..)` arguments look like duplicates to clippy.
#[allow(clippy::duplicated_attributes)]
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
    printcolumn(
        name = "Image",
        type_ = "string",
        json_path = ".spec.spec.template.spec.containers[0].image"
    ),
    printcolumn(name = "Age", type_ = "date", json_path = ".metadata.creationTimestamp")
)]
#[serde(transparent)]
pub struct StreamingJobTemplateSpec {
    /// The whole Job, exactly as stored (`apiVersion`, `kind`, `metadata`, `spec`, ...).
    #[schemars(schema_with = "crate::crd::schema::embedded_job")]
    pub job: Value,
}
