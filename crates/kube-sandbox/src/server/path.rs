//! Parsing of resource paths: `/api/v1/...`, `/apis/<g>/<v>/...`, namespaced, cluster-scoped, legacy `/watch/`.

use std::sync::Arc;

use crate::store::{ApiError, Gvr, ResourceInfo, Store};

/// A resolved resource request path.
#[derive(Clone, Debug)]
pub struct ResourcePath {
    pub info: Arc<ResourceInfo>,
    /// Namespace from the URL (None for cluster-scoped types and all-namespaces collections).
    pub namespace: Option<String>,
    pub name: Option<String>,
    pub subresource: Option<String>,
    /// The legacy `/watch/` prefix was used.
    pub legacy_watch: bool,
}

impl ResourcePath {
    pub fn gvr(&self) -> &Gvr {
        &self.info.gvr
    }
}

/// What a path under `/api` or `/apis` designates.
#[derive(Debug)]
pub enum ApiPath {
    /// `/api/v1` or `/apis/<g>/<v>`: the resource list of a group-version.
    GroupVersion {
        group: String,
        version: String,
    },
    /// `/apis/<g>`: a group.
    Group(String),
    Resource(ResourcePath),
}

/// Resolves `segments` (the path split on '/', without the empty first one) against the served types.
pub fn resolve(store: &Store, segments: &[&str]) -> Result<ApiPath, ApiError> {
    let (group, version, rest) = match segments {
        ["api", v, rest @ ..] => ("", *v, rest),
        ["apis", g] => return Ok(ApiPath::Group((*g).to_string())),
        ["apis", g, v, rest @ ..] => (*g, *v, rest),
        _ => return Err(ApiError::unknown_resource()),
    };
    if rest.is_empty() {
        return Ok(ApiPath::GroupVersion {
            group: group.to_string(),
            version: version.to_string(),
        });
    }
    let (legacy_watch, rest) = match rest {
        ["watch", tail @ ..] => (true, tail),
        _ => (false, rest),
    };
    let lookup = |resource: &str| {
        store
            .info(&Gvr::new(group, version, resource))
            .ok_or_else(ApiError::unknown_resource)
    };
    let path = match rest {
        ["namespaces", ns, resource, tail @ ..]
            if !matches!(*resource, "status" | "finalize") || !tail.is_empty() =>
        {
            let info = lookup(resource)?;
            if !info.namespaced {
                return Err(ApiError::unknown_resource());
            }
            let (name, sub) = match tail {
                [] => (None, None),
                [n] => (Some(*n), None),
                [n, s] => (Some(*n), Some(*s)),
                _ => return Err(ApiError::unknown_resource()),
            };
            ResourcePath {
                info,
                namespace: Some((*ns).to_string()),
                name: name.map(str::to_string),
                subresource: sub.map(str::to_string),
                legacy_watch,
            }
        }
        [resource, tail @ ..] => {
            let info = lookup(resource)?;
            let (name, sub) = match tail {
                [] => (None, None),
                [n] => (Some(*n), None),
                [n, s] => (Some(*n), Some(*s)),
                _ => return Err(ApiError::unknown_resource()),
            };
            // A namespaced type is reachable without a namespace only as an all-namespaces collection.
            if info.namespaced && name.is_some() {
                return Err(ApiError::unknown_resource());
            }
            ResourcePath {
                info,
                namespace: None,
                name: name.map(str::to_string),
                subresource: sub.map(str::to_string),
                legacy_watch,
            }
        }
        [] => return Err(ApiError::unknown_resource()),
    };
    if let Some(sub) = &path.subresource
        && !(sub == "status" && path.info.status_subresource)
        && !(sub == "log" && path.info.gvr.group.is_empty() && path.info.gvr.resource == "pods")
    {
        return Err(ApiError::unknown_resource());
    }
    if path.name.as_deref() == Some("") {
        return Err(ApiError::unknown_resource());
    }
    Ok(ApiPath::Resource(path))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::registry::new_store;
    use crate::store::StoreConfig;

    fn res(store: &Store, p: &str) -> Result<ResourcePath, ApiError> {
        let segs: Vec<&str> = p.trim_start_matches('/').split('/').collect();
        match resolve(store, &segs)? {
            ApiPath::Resource(r) => Ok(r),
            other => panic!("not a resource: {other:?}"),
        }
    }

    #[test]
    fn paths() {
        let s = new_store(StoreConfig::default());
        let r = res(&s, "/api/v1/namespaces/default/configmaps/a").unwrap();
        assert_eq!(
            (
                r.namespace.as_deref(),
                r.name.as_deref(),
                r.gvr().resource.as_str()
            ),
            (Some("default"), Some("a"), "configmaps")
        );
        let ns = res(&s, "/api/v1/namespaces/default").unwrap();
        assert_eq!(
            (
                ns.gvr().resource.as_str(),
                ns.name.as_deref(),
                ns.namespace.as_deref()
            ),
            ("namespaces", Some("default"), None)
        );
        let st = res(&s, "/api/v1/namespaces/default/status").unwrap();
        assert_eq!(st.subresource.as_deref(), Some("status"));
        let all = res(&s, "/api/v1/configmaps").unwrap();
        assert!(all.namespace.is_none() && all.name.is_none());
        let js = res(&s, "/apis/batch/v1/namespaces/x/jobs/j/status").unwrap();
        assert_eq!(js.subresource.as_deref(), Some("status"));
        let w = res(&s, "/api/v1/watch/namespaces/default/configmaps").unwrap();
        assert!(w.legacy_watch);
        for bad in [
            "/api/v1/configmaps/a",
            "/api/v1/nope",
            "/apis/batch/v1/namespaces/x/jobs/j/scale",
            "/api/v1/namespaces/default/configmaps/a/status",
        ] {
            assert_eq!(res(&s, bad).unwrap_err().code, 404, "{bad}");
        }
        assert!(matches!(
            resolve(&s, &["apis", "batch", "v1"]).unwrap(),
            ApiPath::GroupVersion { .. }
        ));
    }
}
