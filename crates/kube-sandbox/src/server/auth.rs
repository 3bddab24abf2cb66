//! Authentication (bearer tokens the sandbox mints per ServiceAccount, `Impersonate-*` headers; no credentials =
//! the cluster administrator) and, when enforcement is on, authorization of every request by the stored RBAC
//! objects, answering 401/403 as the API server does.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};

use axum::http::{HeaderMap, Method, header};
use parking_lot::RwLock;

use super::path::ResourcePath;
use crate::rbac::{self, Attributes, ResourceAttrs, UserInfo};
use crate::store::{ApiError, Store};

/// Tokens and the enforcement switch.
#[derive(Default)]
pub struct Auth {
    tokens: RwLock<HashMap<String, UserInfo>>,
    enforce: AtomicBool,
}

impl Auth {
    pub fn new(enforce: bool) -> Self {
        Auth {
            tokens: RwLock::default(),
            enforce: AtomicBool::new(enforce),
        }
    }

    pub fn set_enforcement(&self, on: bool) {
        self.enforce.store(on, Ordering::SeqCst);
    }

    pub fn enforcing(&self) -> bool {
        self.enforce.load(Ordering::SeqCst)
    }

    /// A bearer token that authenticates as the ServiceAccount `namespace/name` (the same token for repeated calls).
    pub fn token_for(&self, namespace: &str, name: &str) -> String {
        let user = UserInfo::service_account(namespace, name);
        if let Some((t, _)) = self.tokens.read().iter().find(|(_, u)| **u == user) {
            return t.clone();
        }
        let token = format!("sandbox-{}", crate::store::meta::new_uid().replace('-', ""));
        self.tokens.write().insert(token.clone(), user);
        token
    }

    /// Who sent the request: the token's ServiceAccount, or the administrator when there is no token; then
    /// impersonation, which only users allowed to `impersonate` may use.
    pub fn authenticate(&self, store: &Store, headers: &HeaderMap) -> Result<UserInfo, ApiError> {
        let auth = headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("");
        let user = match auth.strip_prefix("Bearer ").map(str::trim) {
            Some(token) => self
                .tokens
                .read()
                .get(token)
                .cloned()
                .ok_or_else(|| ApiError::new(401, "Unauthorized", "Unauthorized"))?,
            None => UserInfo::admin(),
        };
        let Some(as_user) = headers.get("impersonate-user").and_then(|v| v.to_str().ok()) else {
            return Ok(user);
        };
        let groups: Vec<String> = headers
            .get_all("impersonate-group")
            .iter()
            .filter_map(|v| v.to_str().ok().map(str::to_string))
            .collect();
        let attrs = Attributes {
            verb: "impersonate".into(),
            resource: Some(ResourceAttrs {
                resource: "users".into(),
                name: as_user.to_string(),
                ..Default::default()
            }),
            path: String::new(),
        };
        if !rbac::authorize(store, &user, &attrs).allowed {
            let msg = format!(
                "users {as_user:?} is forbidden: User {:?} cannot impersonate resource \"users\" in API group \"\" at the cluster scope",
                user.name
            );
            return Err(ApiError::new(403, "Forbidden", msg));
        }
        Ok(UserInfo::impersonated(as_user, groups))
    }
}

/// The verb of a resource request, as the API server's RequestInfo names it.
pub fn verb(method: &Method, rp: &ResourcePath, watch: bool) -> &'static str {
    match (method.as_str(), rp.name.is_some()) {
        ("GET" | "HEAD", _) if watch || rp.legacy_watch => "watch",
        ("GET" | "HEAD", true) => "get",
        ("GET" | "HEAD", false) => "list",
        ("POST", _) => "create",
        ("PUT", _) => "update",
        ("PATCH", _) => "patch",
        ("DELETE", true) => "delete",
        ("DELETE", false) => "deletecollection",
        _ => "",
    }
}

/// Attributes of a resource request (a Namespace's own name is its namespace, as in RequestInfo).
pub fn resource_attributes(method: &Method, rp: &ResourcePath, watch: bool) -> Attributes {
    let info = &rp.info;
    let mut namespace = rp.namespace.clone().unwrap_or_default();
    if info.gvr.group.is_empty() && info.gvr.resource == "namespaces" {
        namespace = rp.name.clone().unwrap_or_default();
    }
    Attributes {
        verb: verb(method, rp, watch).to_string(),
        resource: Some(ResourceAttrs {
            group: info.gvr.group.clone(),
            resource: info.gvr.resource.clone(),
            subresource: rp.subresource.clone().unwrap_or_default(),
            name: rp.name.clone().unwrap_or_default(),
            namespace,
        }),
        path: String::new(),
    }
}

/// Attributes of a non-resource request (discovery, /version, /openapi).
pub fn non_resource_attributes(method: &Method, path: &str) -> Attributes {
    Attributes {
        verb: method.as_str().to_lowercase(),
        resource: None,
        path: path.to_string(),
    }
}

/// 403 unless enforcement is off or `user` may do `attrs`.
pub fn check(auth: &Auth, store: &Store, user: &UserInfo, attrs: &Attributes) -> Result<(), ApiError> {
    if !auth.enforcing() || user.is_master() || rbac::authorize(store, user, attrs).allowed {
        return Ok(());
    }
    Err(rbac::forbidden(user, attrs))
}
