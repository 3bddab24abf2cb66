//! Hand-written schema fragments for the fields schemars cannot describe the way the API server
//! needs them, and the lenient readers that keep one odd object from breaking a whole watch.

use serde::{Deserialize, Deserializer};

use super::StreamClassPhase;

/// A free-form object: the API server keeps every field below it instead of pruning.
pub(crate) fn free_form_object(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
    schemars::json_schema!({
        "type": "object",
        "nullable": true,
        "x-kubernetes-preserve-unknown-fields": true,
    })
}

/// The template's `spec`: a whole Kubernetes object (a `batch/v1` Job) stored as written. Its
/// description comes from the doc comment of `StreamingJobTemplateSpec`.
///
/// `x-kubernetes-embedded-resource` makes the API server require `apiVersion` and `kind` and
/// validate `metadata` as ObjectMeta; `preserve-unknown-fields` keeps the Job's content unpruned,
/// since the workload builder, not the schema, decides what a usable Job is.
pub(crate) fn embedded_job(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
    schemars::json_schema!({
        "type": "object",
        "x-kubernetes-embedded-resource": true,
        "x-kubernetes-preserve-unknown-fields": true,
    })
}

/// `status.phase`: the four phases, no `null` member.
///
/// The field is omitted when unset, so the schema needs no `nullable`; a stray `null` written by
/// someone else is pruned by the API server rather than rejected by the enum.
pub(crate) fn phase(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
    schemars::json_schema!({
        "description": "Phase of the resource: Pending, Ready, Failed or Stopped (absent before the first write).",
        "type": "string",
        "enum": ["Pending", "Ready", "Failed", "Stopped"],
    })
}

/// Reads `status.phase`, mapping an empty or unknown string to `None`.
///
/// A status is rewritten by the operator anyway; failing the whole object on a value written by an
/// older operator or by hand would stop the list-watch of every object of the kind.
pub(crate) fn lenient_phase<'de, D>(de: D) -> Result<Option<StreamClassPhase>, D::Error>
where
    D: Deserializer<'de>,
{
    let raw = Option::<serde_json::Value>::deserialize(de)?;
    Ok(raw.and_then(|v| serde_json::from_value(v).ok()))
}
