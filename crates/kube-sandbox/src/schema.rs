//! CRD structural schema handling: pruning, defaulting, validation, structural check.

use serde_json::Value;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FieldErrorKind {
    Invalid,
    Required,
    NotSupported,
    TypeInvalid,
    Duplicate,
    TooLong,
    TooMany,
    Forbidden,
}

#[derive(Clone, Debug, PartialEq)]
pub struct FieldError {
    pub path: String,
    pub kind: FieldErrorKind,
    pub message: String,
}

pub fn prune(obj: &mut Value, schema: &Value) -> Vec<String> {
    let _ = (obj, schema);
    Vec::new()
}

pub fn apply_defaults(obj: &mut Value, schema: &Value) {
    let _ = (obj, schema);
}

pub fn validate(obj: &Value, schema: &Value) -> Vec<FieldError> {
    let _ = (obj, schema);
    Vec::new()
}

pub fn check_structural(schema: &Value) -> Result<(), Vec<String>> {
    let _ = schema;
    Ok(())
}
