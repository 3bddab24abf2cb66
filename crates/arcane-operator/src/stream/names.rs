//! Deterministic shortening of names and label values that Kubernetes limits to 63 characters.
//!
//! OWNER: builder helper.

/// The workload name for a stream: the stream's name, shortened with a hash suffix when longer than
/// 63 characters.
pub fn workload_name(stream_name: &str) -> String {
    let _ = stream_name;
    todo!("names::workload_name")
}

/// A valid label value for `value` (≤ 63 characters, alphanumeric at both ends), shortened with a
/// hash suffix when needed; returns `None` when `value` is already valid.
pub fn label_value(value: &str) -> String {
    let _ = value;
    todo!("names::label_value")
}
