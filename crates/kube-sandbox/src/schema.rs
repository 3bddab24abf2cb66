//! CRD structural schemas (`schema.openAPIV3Schema` as JSON): pruning of unknown fields, defaulting, validation
//! for create/update (type, enum, required, nullable, formats, bounds) and the structural check of CRD creation.
//! Field paths in results use the apiserver's spelling: `spec.items[0].name`.

mod defaults;
mod embedded;
mod prune;
mod structural;
mod validate;

pub use defaults::apply_defaults;
pub use prune::prune;
pub use structural::check_structural;
pub use validate::validate;

/// The kind of a field error; maps to a Status cause `reason`.
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

impl FieldErrorKind {
    /// The Status cause `reason` (`metav1.CauseType`).
    pub fn reason(self) -> &'static str {
        match self {
            FieldErrorKind::Invalid => "FieldValueInvalid",
            FieldErrorKind::Required => "FieldValueRequired",
            FieldErrorKind::NotSupported => "FieldValueNotSupported",
            FieldErrorKind::TypeInvalid => "FieldValueTypeInvalid",
            FieldErrorKind::Duplicate => "FieldValueDuplicate",
            FieldErrorKind::TooLong => "FieldValueTooLong",
            FieldErrorKind::TooMany => "FieldValueTooMany",
            FieldErrorKind::Forbidden => "FieldValueForbidden",
        }
    }
}

/// One validation error. `path` is the cause `field` (`spec.size`); `message` is the cause `message`
/// (`Invalid value: "string": spec.size in body must be of type integer: "string"`).
#[derive(Clone, Debug, PartialEq)]
pub struct FieldError {
    pub path: String,
    pub kind: FieldErrorKind,
    pub message: String,
}

impl std::fmt::Display for FieldError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.path, self.message)
    }
}

/// The 422 Status message: `Widget.example.com "w" is invalid: spec.size: Invalid value: …`, with several
/// errors bracketed and comma-separated as upstream's `ErrorList` prints them.
pub fn invalid_message(kind: &str, group: &str, name: &str, errors: &[FieldError]) -> String {
    let qualified = if group.is_empty() {
        kind.to_string()
    } else {
        format!("{kind}.{group}")
    };
    let list: Vec<String> = errors.iter().map(ToString::to_string).collect();
    let body = match list.as_slice() {
        [one] => one.clone(),
        many => format!("[{}]", many.join(", ")),
    };
    format!("{qualified} {name:?} is invalid: {body}")
}

/// The 400 message for `fieldValidation=Strict` given the paths [`prune`] returned:
/// `strict decoding error: unknown field "spec.bogus"`.
pub fn strict_message(unknown: &[String]) -> String {
    let fields: Vec<String> = unknown
        .iter()
        .map(|p| format!("unknown field {:?}", p.trim_start_matches('.')))
        .collect();
    format!("strict decoding error: {}", fields.join(", "))
}

#[cfg(test)]
mod tests;
