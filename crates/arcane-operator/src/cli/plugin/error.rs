//! The plugin's errors: each says what was asked, what went wrong and what to do.

#[derive(Debug, thiserror::Error)]
pub enum PluginError {
    #[error("cannot load the cluster configuration: {0}")]
    Kubeconfig(String),
    #[error(
        "no StreamClass found: the Arcane operator's CRDs or a plugin's classes are not installed \
         (kubectl get streamclasses)"
    )]
    NoClasses,
    #[error("no stream named {name:?} in namespace {namespace:?}{kinds}")]
    NoSuchStream {
        name: String,
        namespace: String,
        /// `" (looked in kinds A, B)"`.
        kinds: String,
    },
    #[error("{name:?} is ambiguous in namespace {namespace:?}: {choices}; pick one with --kind KIND")]
    Ambiguous {
        name: String,
        namespace: String,
        /// `kind/name` of each match.
        choices: String,
    },
    #[error("no StreamClass serves kind {kind:?}; known kinds: {known}")]
    UnknownKind { kind: String, known: String },
    #[error(
        "forbidden: cannot {verb} {resource}{scope}; the account needs the RBAC rule \
         {{apiGroups: [\"{group}\"], resources: [\"{resource}\"], verbs: [\"{verb}\"]}} ({message})"
    )]
    Forbidden {
        verb: String,
        group: String,
        resource: String,
        /// `" in namespace x"` or empty.
        scope: String,
        message: String,
    },
    #[error("cannot {verb} {resource}{scope}: {source}")]
    Api {
        verb: String,
        resource: String,
        scope: String,
        source: Box<kube::Error>,
    },
    #[error("{0}")]
    Refused(String),
    #[error("backfillrequest/{name} is Invalid: {message}")]
    BackfillInvalid { name: String, message: String },
    #[error("timed out after {after:?} waiting for {what}")]
    Timeout {
        what: String,
        after: std::time::Duration,
    },
    #[error("cannot encode the output: {0}")]
    Encode(String),
    #[error(transparent)]
    Io(#[from] std::io::Error),
}

impl PluginError {
    pub fn kubeconfig(error: impl std::fmt::Display) -> Self {
        PluginError::Kubeconfig(error.to_string())
    }
}

/// Names an API call, so that its failure can say which call and which RBAC rule it needs.
#[derive(Debug, Clone)]
pub struct Call<'a> {
    pub verb: &'a str,
    pub group: &'a str,
    pub resource: &'a str,
    pub namespace: Option<&'a str>,
}

impl Call<'_> {
    /// The plugin's error for `error` from this call: a 403 names the missing RBAC rule.
    pub fn error(&self, error: kube::Error) -> PluginError {
        let scope = match self.namespace {
            Some(ns) => format!(" in namespace {ns}"),
            None => " in all namespaces".to_owned(),
        };
        match error {
            kube::Error::Api(status) if status.code == 403 => PluginError::Forbidden {
                verb: self.verb.to_owned(),
                group: self.group.to_owned(),
                resource: self.resource.to_owned(),
                scope,
                message: status.message.clone(),
            },
            other => PluginError::Api {
                verb: self.verb.to_owned(),
                resource: self.resource.to_owned(),
                scope,
                source: Box::new(other),
            },
        }
    }
}

/// Whether `error` is a 404 (the object is not there).
pub(super) fn is_not_found(error: &kube::Error) -> bool {
    matches!(error, kube::Error::Api(status) if status.code == 404)
}

/// A 403 as the API server sends it, for tests.
#[cfg(test)]
pub(super) fn forbidden() -> kube::Error {
    let status: kube::core::Status = serde_json::from_value(serde_json::json!({
        "status": "Failure", "message": "users \"u\" is forbidden", "reason": "Forbidden", "code": 403
    }))
    .unwrap_or_default();
    kube::Error::Api(Box::new(status))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_403_names_the_missing_rbac_rule() {
        let call = Call {
            verb: "create",
            group: "streaming.sneaksanddata.com",
            resource: "backfillrequests",
            namespace: Some("prod"),
        };
        let error = call.error(forbidden()).to_string();
        assert_eq!(
            error,
            "forbidden: cannot create backfillrequests in namespace prod; the account needs the RBAC \
             rule {apiGroups: [\"streaming.sneaksanddata.com\"], resources: [\"backfillrequests\"], \
             verbs: [\"create\"]} (users \"u\" is forbidden)"
        );
        let listing = Call {
            namespace: None,
            ..call
        };
        assert!(
            listing
                .error(forbidden())
                .to_string()
                .contains("in all namespaces")
        );
    }
}
