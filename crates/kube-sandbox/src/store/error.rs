//! `ApiError`: an HTTP status plus the metav1 `Status` body a real API server would send.

use serde_json::{Value, json};

use super::Gvr;

/// One entry of `Status.details.causes`.
#[derive(Clone, Debug, PartialEq)]
pub struct Cause {
    /// `FieldValueInvalid`, `FieldValueRequired`, `FieldManagerConflict`, ...
    pub reason: String,
    pub message: String,
    pub field: String,
}

impl Cause {
    pub fn new(reason: &str, field: &str, message: impl Into<String>) -> Self {
        Cause {
            reason: reason.to_string(),
            field: field.to_string(),
            message: message.into(),
        }
    }
}

#[derive(Clone, Debug, thiserror::Error)]
#[error("{code} {reason}: {message}")]
pub struct ApiError {
    pub code: u16,
    pub reason: String,
    pub message: String,
    /// `Status.details` (name, group, kind, uid, causes, retryAfterSeconds).
    pub details: Option<Value>,
}

impl ApiError {
    pub fn new(code: u16, reason: &str, message: impl Into<String>) -> Self {
        ApiError {
            code,
            reason: reason.to_string(),
            message: message.into(),
            details: None,
        }
    }

    pub fn with_details(mut self, details: Value) -> Self {
        self.details = Some(details);
        self
    }

    /// Seconds a client should wait before retrying, when the error says so.
    pub fn retry_after(&self) -> Option<u64> {
        self.details.as_ref()?.get("retryAfterSeconds")?.as_u64()
    }

    /// The metav1 `Status` object.
    pub fn to_status(&self) -> Value {
        let mut status = json!({
            "kind": "Status",
            "apiVersion": "v1",
            "metadata": {},
            "status": "Failure",
            "message": self.message,
            "reason": self.reason,
            "code": self.code,
        });
        if let (Some(details), Some(map)) = (&self.details, status.as_object_mut()) {
            map.insert("details".into(), details.clone());
        }
        status
    }

    fn named(gvr: &Gvr, name: &str) -> Value {
        json!({"name": name, "group": gvr.group, "kind": gvr.resource})
    }

    pub fn not_found(gvr: &Gvr, name: &str) -> Self {
        ApiError::new(
            404,
            "NotFound",
            format!("{} \"{}\" not found", gvr.qualified(), name),
        )
        .with_details(Self::named(gvr, name))
    }

    pub fn namespace_not_found(ns: &str) -> Self {
        ApiError::new(404, "NotFound", format!("namespaces \"{ns}\" not found"))
            .with_details(json!({"name": ns, "kind": "namespaces"}))
    }

    pub fn unknown_resource() -> Self {
        ApiError::new(
            404,
            "NotFound",
            "the server could not find the requested resource",
        )
        .with_details(json!({}))
    }

    pub fn already_exists(gvr: &Gvr, name: &str) -> Self {
        ApiError::new(
            409,
            "AlreadyExists",
            format!("{} \"{}\" already exists", gvr.qualified(), name),
        )
        .with_details(Self::named(gvr, name))
    }

    pub fn conflict(gvr: &Gvr, name: &str) -> Self {
        ApiError::new(
            409,
            "Conflict",
            format!(
                "Operation cannot be fulfilled on {} \"{}\": the object has been modified; please apply your changes to the latest version and try again",
                gvr.qualified(),
                name
            ),
        )
        .with_details(Self::named(gvr, name))
    }

    pub fn conflict_msg(gvr: &Gvr, name: &str, msg: &str) -> Self {
        ApiError::new(
            409,
            "Conflict",
            format!(
                "Operation cannot be fulfilled on {} \"{}\": {}",
                gvr.qualified(),
                name,
                msg
            ),
        )
        .with_details(Self::named(gvr, name))
    }

    /// 422 Invalid: `<Kind>.<group> "<name>" is invalid: <field>: <detail>`.
    pub fn invalid(kind: &str, group: &str, name: &str, causes: Vec<Cause>) -> Self {
        let qualified_kind = if group.is_empty() {
            kind.to_string()
        } else {
            format!("{kind}.{group}")
        };
        let parts: Vec<String> = causes
            .iter()
            .map(|c| format!("{}: {}", c.field, c.message))
            .collect();
        let joined = if parts.len() == 1 {
            parts[0].clone()
        } else {
            format!("[{}]", parts.join(", "))
        };
        let causes_json: Vec<Value> = causes
            .iter()
            .map(|c| json!({"reason": c.reason, "message": c.message, "field": c.field}))
            .collect();
        ApiError::new(
            422,
            "Invalid",
            format!("{qualified_kind} \"{name}\" is invalid: {joined}"),
        )
        .with_details(json!({"name": name, "group": group, "kind": kind, "causes": causes_json}))
    }

    pub fn bad_request(msg: impl Into<String>) -> Self {
        ApiError::new(400, "BadRequest", msg)
    }

    pub fn expired(msg: impl Into<String>) -> Self {
        ApiError::new(410, "Expired", msg)
    }

    pub fn forbidden(msg: impl Into<String>) -> Self {
        ApiError::new(403, "Forbidden", msg)
    }

    pub fn method_not_allowed() -> Self {
        ApiError::new(
            405,
            "MethodNotAllowed",
            "the server does not allow this method on the requested resource",
        )
        .with_details(json!({}))
    }

    pub fn unsupported_media_type(content_type: &str, accepted: &[&str]) -> Self {
        ApiError::new(
            415,
            "UnsupportedMediaType",
            format!(
                "the body of the request was in an unknown format - accepted media types include: {} (got {content_type})",
                accepted.join(", ")
            ),
        )
    }

    pub fn too_large() -> Self {
        ApiError::new(
            413,
            "RequestEntityTooLarge",
            "Request entity too large: limit is 3145728",
        )
    }

    pub fn internal(msg: impl Into<String>) -> Self {
        ApiError::new(500, "InternalError", msg)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn invalid_message_lists_causes() {
        let one = ApiError::invalid(
            "ConfigMap",
            "",
            "x",
            vec![Cause::new("FieldValueInvalid", "metadata.name", "bad")],
        );
        assert_eq!(one.message, "ConfigMap \"x\" is invalid: metadata.name: bad");
        let two = ApiError::invalid(
            "Widget",
            "example.com",
            "w",
            vec![
                Cause::new("FieldValueRequired", "spec.a", "Required value"),
                Cause::new("FieldValueInvalid", "spec.b", "no"),
            ],
        );
        assert_eq!(
            two.message,
            "Widget.example.com \"w\" is invalid: [spec.a: Required value, spec.b: no]"
        );
        assert_eq!(two.to_status()["details"]["causes"][1]["field"], "spec.b");
        assert_eq!(two.to_status()["code"], 422);
    }

    #[test]
    fn not_found_uses_qualified_resource() {
        let e = ApiError::not_found(&Gvr::new("example.com", "v1", "widgets"), "nope");
        assert_eq!(e.message, "widgets.example.com \"nope\" not found");
        let s = e.to_status();
        assert_eq!(s["details"]["kind"], "widgets");
        assert_eq!(s["reason"], "NotFound");
    }
}
