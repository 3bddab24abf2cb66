//! Server-side apply and managedFields.

use serde_json::Value;

pub struct ApplyOptions<'a> {
    pub manager: &'a str,
    pub force: bool,
    pub now: &'a str,
    pub subresource: Option<&'a str>,
}

#[derive(Debug)]
pub struct ApplyConflict {
    pub conflicts: Vec<(String, String)>,
}

pub fn apply(live: Option<&Value>, applied: &Value, opts: &ApplyOptions) -> Result<Value, ApplyConflict> {
    let _ = opts;
    let mut out = live.cloned().unwrap_or(Value::Object(Default::default()));
    json_patch::merge(&mut out, applied);
    Ok(out)
}

pub fn track_update(
    old: Option<&Value>,
    new: &mut Value,
    manager: &str,
    operation: &str,
    now: &str,
    subresource: Option<&str>,
) {
    let _ = (old, new, manager, operation, now, subresource);
}
