//! Patch semantics: JSON merge patch (RFC 7396), JSON patch (RFC 6902, with the apiserver's quirks) and
//! strategic merge patch for built-in kinds.

mod keys;
mod strategic;

pub use keys::{ListKind, builtin_list_kind, is_builtin_group, schema_list_kind};

use serde_json::Value;

/// The apiserver caps a JSON patch at this many operations (`handlers/patch.go`).
const MAX_JSON_PATCH_OPS: usize = 10_000;

#[derive(Debug, thiserror::Error)]
pub enum PatchError {
    /// Malformed patch or an operation that cannot apply → 422 Invalid (JSON patch) or 400/422 (SMP).
    #[error("{0}")]
    Invalid(String),
    /// A JSON patch `test` operation did not match → 422 Invalid.
    #[error("{0}")]
    TestFailed(String),
    /// Strategic merge patch on a custom resource → 415 UnsupportedMediaType.
    #[error("{0}")]
    Unsupported(String),
}

/// RFC 7396 merge patch: `null` deletes a key, arrays are replaced, a non-object patch replaces the target.
pub fn merge_patch(target: &mut Value, patch: &Value) {
    json_patch::merge(target, patch);
}

/// RFC 6902 JSON patch, all-or-nothing. As in the apiserver (`evanphx/json-patch` v4), a `test` of a missing
/// path against `null` succeeds: kube-runtime's finalizer helper relies on it to add the first finalizer.
pub fn json_patch(target: &mut Value, patch: &Value) -> Result<(), PatchError> {
    let ops: Vec<json_patch::PatchOperation> = serde_json::from_value(patch.clone())
        .map_err(|e| PatchError::Invalid(format!("invalid JSON patch: {e}")))?;
    if ops.len() > MAX_JSON_PATCH_OPS {
        return Err(PatchError::Invalid(format!(
            "the allowed maximum operations in a JSON patch is {MAX_JSON_PATCH_OPS}, got {}",
            ops.len()
        )));
    }
    let mut work = target.clone();
    for op in &ops {
        if let json_patch::PatchOperation::Test(t) = op
            && t.value.is_null()
            && work.pointer(t.path.as_str()).is_none()
        {
            continue;
        }
        json_patch::patch(&mut work, std::slice::from_ref(op)).map_err(|e| match e.kind {
            json_patch::PatchErrorKind::TestFailed => {
                PatchError::TestFailed(format!("testing value {} failed: test failed", e.path))
            }
            _ => PatchError::Invalid(format!("{}: {e}", op_name(op))),
        })?;
    }
    *target = work;
    Ok(())
}

fn op_name(op: &json_patch::PatchOperation) -> &'static str {
    match op {
        json_patch::PatchOperation::Add(_) => "add operation does not apply",
        json_patch::PatchOperation::Remove(_) => "remove operation does not apply",
        json_patch::PatchOperation::Replace(_) => "replace operation does not apply",
        json_patch::PatchOperation::Move(_) => "move operation does not apply",
        json_patch::PatchOperation::Copy(_) => "copy operation does not apply",
        json_patch::PatchOperation::Test(_) => "test operation does not apply",
    }
}

/// Strategic merge patch for built-in kinds: lists merge by their `patchMergeKey` (containers/env/volumes by
/// `name`, ports by `containerPort`, volumeMounts by `mountPath`, ownerReferences by `uid`, conditions by `type`),
/// `finalizers` merge as a set, other lists are replaced; `null` deletes; the directives `$patch`
/// (`replace`/`delete`/`merge`), `$retainKeys`, `$deleteFromPrimitiveList/<f>` and `$setElementOrder/<f>` work.
/// A custom resource (non-built-in `group`) gives [`PatchError::Unsupported`]: the server answers 415.
pub fn strategic_merge_patch(
    target: &mut Value,
    patch: &Value,
    group: &str,
    kind: &str,
) -> Result<(), PatchError> {
    if !is_builtin_group(group) {
        return Err(PatchError::Unsupported(
            "the body of the request was in an unknown format - accepted media types include: \
             application/json-patch+json, application/merge-patch+json, application/apply-patch+yaml"
                .to_string(),
        ));
    }
    let mut work = target.clone();
    strategic::merge_root(&mut work, patch, kind)?;
    *target = work;
    Ok(())
}

#[cfg(test)]
mod tests;
