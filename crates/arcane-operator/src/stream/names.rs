//! Deterministic shortening of names and label values that Kubernetes limits to 63 characters.
//!
//! OWNER: builder helper.

use super::model::WorkloadKind;

/// The workload name for a stream: the stream's name, shortened deterministically with a hash suffix
/// when longer than the kind allows (63 characters for a Job, 52 for a CronJob, whose child Jobs add
/// 11 characters).
pub fn workload_name(stream_name: &str, kind: WorkloadKind) -> String {
    let _ = (stream_name, kind);
    todo!("names::workload_name")
}

/// A valid label value for `value` (≤ 63 characters, alphanumeric at both ends), shortened with a
/// hash suffix when needed; a valid value is returned unchanged.
pub fn label_value(value: &str) -> String {
    let _ = value;
    todo!("names::label_value")
}
