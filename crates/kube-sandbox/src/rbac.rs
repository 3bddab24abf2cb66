//! RBAC as the API server's RBAC authorizer evaluates it (`plugin/pkg/auth/authorizer/rbac`): users, request
//! attributes, rule matching over the stored Roles/ClusterRoles and their bindings, the rules a user has in a
//! namespace (SelfSubjectRulesReview), and the bootstrap roles of a fresh cluster.

mod review;
mod validate;

use serde_json::{Value, json};

use crate::store::meta::{name_of, namespace_of};
use crate::store::{Gvr, Store};

pub use review::{handle_review, self_subject_review};
pub use validate::{prepare, prepare_update};

pub const GROUP: &str = "rbac.authorization.k8s.io";
/// The group every request of the kubeconfig's admin user is in; authorized for everything (as upstream's
/// privileged-group authorizer does).
pub const MASTERS: &str = "system:masters";

pub fn gvr(resource: &str) -> Gvr {
    Gvr::new(GROUP, "v1", resource)
}

/// An authenticated user.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UserInfo {
    pub name: String,
    pub groups: Vec<String>,
    pub uid: String,
}

impl UserInfo {
    /// The user of a credential-less request: the cluster administrator (kubeadm's `kubernetes-admin`).
    pub fn admin() -> Self {
        UserInfo {
            name: "kubernetes-admin".into(),
            groups: vec![MASTERS.into(), "system:authenticated".into()],
            uid: String::new(),
        }
    }

    /// `system:serviceaccount:<ns>:<name>` with the groups upstream gives a ServiceAccount token.
    pub fn service_account(namespace: &str, name: &str) -> Self {
        UserInfo {
            name: format!("system:serviceaccount:{namespace}:{name}"),
            groups: vec![
                "system:serviceaccounts".into(),
                format!("system:serviceaccounts:{namespace}"),
                "system:authenticated".into(),
            ],
            uid: String::new(),
        }
    }

    /// A user named in an `Impersonate-User` header; ServiceAccount names get the ServiceAccount groups.
    pub fn impersonated(name: &str, groups: Vec<String>) -> Self {
        if groups.is_empty()
            && let Some(rest) = name.strip_prefix("system:serviceaccount:")
            && let Some((ns, sa)) = rest.split_once(':')
        {
            return UserInfo::service_account(ns, sa);
        }
        let mut groups = groups;
        if !groups.iter().any(|g| g == "system:authenticated") {
            groups.push("system:authenticated".into());
        }
        UserInfo {
            name: name.to_string(),
            groups,
            uid: String::new(),
        }
    }

    pub fn is_master(&self) -> bool {
        self.groups.iter().any(|g| g == MASTERS)
    }

    pub fn to_json(&self) -> Value {
        let mut v = json!({"username": self.name, "groups": self.groups});
        if !self.uid.is_empty() {
            v["uid"] = json!(self.uid);
        }
        v
    }
}

/// What a request asks to do (`authorizer.Attributes`).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Attributes {
    pub verb: String,
    /// None for a non-resource request.
    pub resource: Option<ResourceAttrs>,
    /// The URL path of a non-resource request.
    pub path: String,
}

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ResourceAttrs {
    pub group: String,
    pub resource: String,
    pub subresource: String,
    pub name: String,
    pub namespace: String,
}

/// The outcome of an authorization check.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Decision {
    pub allowed: bool,
    /// `RBAC: allowed by ClusterRoleBinding "x" of ClusterRole "y" to Group "z"`, or empty.
    pub reason: String,
}

fn strings(v: &Value) -> Vec<&str> {
    v.as_array()
        .map(|a| a.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default()
}

fn has(list: &[&str], want: &str) -> bool {
    list.iter().any(|x| *x == "*" || *x == want)
}

/// `rbacv1helpers.ResourceMatches`: `*`, the combined `resource/subresource`, or `*/subresource`.
fn resource_matches(rule: &[&str], combined: &str, sub: &str) -> bool {
    rule.iter().any(|r| {
        *r == "*"
            || *r == combined
            || (!sub.is_empty() && r.len() == sub.len() + 2 && r.starts_with("*/") && r.ends_with(sub))
    })
}

/// `RuleAllows` of the RBAC authorizer.
pub fn rule_allows(attrs: &Attributes, rule: &Value) -> bool {
    if !has(&strings(&rule["verbs"]), &attrs.verb) {
        return false;
    }
    match &attrs.resource {
        Some(r) => {
            let combined = if r.subresource.is_empty() {
                r.resource.clone()
            } else {
                format!("{}/{}", r.resource, r.subresource)
            };
            let names = strings(&rule["resourceNames"]);
            has(&strings(&rule["apiGroups"]), &r.group)
                && resource_matches(&strings(&rule["resources"]), &combined, &r.subresource)
                && (names.is_empty() || names.contains(&r.name.as_str()))
        }
        None => strings(&rule["nonResourceURLs"]).iter().any(|u| {
            *u == "*" || *u == attrs.path || u.strip_suffix('*').is_some_and(|p| attrs.path.starts_with(p))
        }),
    }
}

/// `appliesToUser`: a ServiceAccount subject without a namespace means the binding's namespace.
fn subject_applies(subject: &Value, user: &UserInfo, binding_ns: &str) -> bool {
    let name = subject["name"].as_str().unwrap_or("");
    match subject["kind"].as_str() {
        Some("User") => user.name == name,
        Some("Group") => user.groups.iter().any(|g| g == name),
        Some("ServiceAccount") => {
            let ns = subject["namespace"]
                .as_str()
                .filter(|s| !s.is_empty())
                .unwrap_or(binding_ns);
            !ns.is_empty() && user.name == format!("system:serviceaccount:{ns}:{name}")
        }
        _ => false,
    }
}

fn describe_subject(subject: &Value, binding_ns: &str) -> String {
    let kind = subject["kind"].as_str().unwrap_or("");
    let name = subject["name"].as_str().unwrap_or("");
    if kind == "ServiceAccount" {
        let ns = subject["namespace"]
            .as_str()
            .filter(|s| !s.is_empty())
            .unwrap_or(binding_ns);
        format!("{kind} {:?}", format!("{name}/{ns}"))
    } else {
        format!("{kind} {name:?}")
    }
}

/// One binding that applies to a user, with the rules of its role and how upstream describes it.
struct Grant {
    rules: Vec<Value>,
    source: String,
}

/// The bindings (cluster-wide, then in `namespace`) whose subjects include `user`, with their roles' rules.
fn grants(store: &Store, user: &UserInfo, namespace: &str) -> Vec<Grant> {
    let mut out = Vec::new();
    let mut bindings = store.list_arc(&gvr("clusterrolebindings"), None).0;
    if !namespace.is_empty() {
        bindings.extend(store.list_arc(&gvr("rolebindings"), Some(namespace)).0);
    }
    for binding in bindings {
        let bns = namespace_of(&binding).unwrap_or("");
        let Some(subject) = binding["subjects"]
            .as_array()
            .and_then(|subjects| subjects.iter().find(|s| subject_applies(s, user, bns)))
        else {
            continue;
        };
        let role_kind = binding["roleRef"]["kind"].as_str().unwrap_or("");
        let role_name = binding["roleRef"]["name"].as_str().unwrap_or("");
        let role = match role_kind {
            "ClusterRole" => store.get_arc(&gvr("clusterroles"), None, role_name),
            "Role" if !bns.is_empty() => store.get_arc(&gvr("roles"), Some(bns), role_name),
            _ => None,
        };
        let Some(role) = role else { continue };
        let rules = role["rules"].as_array().cloned().unwrap_or_default();
        let source = if bns.is_empty() {
            format!(
                "ClusterRoleBinding {:?} of {role_kind} {role_name:?} to {}",
                name_of(&binding),
                describe_subject(subject, "")
            )
        } else {
            format!(
                "RoleBinding {:?} of {role_kind} {role_name:?} to {}",
                format!("{}/{bns}", name_of(&binding)),
                describe_subject(subject, bns)
            )
        };
        out.push(Grant { rules, source });
    }
    out
}

/// Whether `user` may do `attrs`, by the stored RBAC objects (members of `system:masters` may do anything).
pub fn authorize(store: &Store, user: &UserInfo, attrs: &Attributes) -> Decision {
    if user.is_master() {
        return Decision {
            allowed: true,
            reason: String::new(),
        };
    }
    let ns = attrs.resource.as_ref().map_or("", |r| r.namespace.as_str());
    for grant in grants(store, user, ns) {
        if grant.rules.iter().any(|rule| rule_allows(attrs, rule)) {
            return Decision {
                allowed: true,
                reason: format!("RBAC: allowed by {}", grant.source),
            };
        }
    }
    Decision {
        allowed: false,
        reason: String::new(),
    }
}

/// The rules `user` has in `namespace` (cluster-wide bindings included): (resourceRules, nonResourceRules).
pub fn rules_for(store: &Store, user: &UserInfo, namespace: &str) -> (Vec<Value>, Vec<Value>) {
    let mut resource_rules = Vec::new();
    let mut non_resource_rules = Vec::new();
    let mut masters_rules = Vec::new();
    if user.is_master() {
        // What the privileged-group authorizer grants, spelled as rules.
        masters_rules.push(json!({"verbs": ["*"], "apiGroups": ["*"], "resources": ["*"]}));
        masters_rules.push(json!({"verbs": ["*"], "nonResourceURLs": ["*"]}));
    }
    let all = grants(store, user, namespace)
        .into_iter()
        .flat_map(|g| g.rules)
        .chain(masters_rules);
    for rule in all {
        let mut out = serde_json::Map::new();
        out.insert("verbs".into(), rule["verbs"].clone());
        if rule["nonResourceURLs"].as_array().is_some_and(|a| !a.is_empty()) {
            out.insert("nonResourceURLs".into(), rule["nonResourceURLs"].clone());
            if !non_resource_rules.contains(&Value::Object(out.clone())) {
                non_resource_rules.push(Value::Object(out));
            }
            continue;
        }
        for key in ["apiGroups", "resources", "resourceNames"] {
            if rule[key].as_array().is_some_and(|a| !a.is_empty()) {
                out.insert(key.into(), rule[key].clone());
            }
        }
        if !resource_rules.contains(&Value::Object(out.clone())) {
            resource_rules.push(Value::Object(out));
        }
    }
    (resource_rules, non_resource_rules)
}

/// The apiserver's Forbidden message for a denied request (`responsewriters.forbiddenMessage` + `NewForbidden`).
pub fn forbidden(user: &UserInfo, attrs: &Attributes) -> crate::store::ApiError {
    let Some(r) = &attrs.resource else {
        let msg = format!(
            "forbidden: User {:?} cannot {} path {:?}",
            user.name, attrs.verb, attrs.path
        );
        return crate::store::ApiError::new(403, "Forbidden", msg).with_details(json!({}));
    };
    let resource = if r.subresource.is_empty() {
        r.resource.clone()
    } else {
        format!("{}/{}", r.resource, r.subresource)
    };
    let what = if r.namespace.is_empty() {
        "at the cluster scope".to_string()
    } else {
        format!("in the namespace {:?}", r.namespace)
    };
    let detail = format!(
        "User {:?} cannot {} resource {resource:?} in API group {:?} {what}",
        user.name, attrs.verb, r.group
    );
    let qualified = if r.group.is_empty() {
        r.resource.clone()
    } else {
        format!("{}.{}", r.resource, r.group)
    };
    let message = if r.name.is_empty() {
        format!("{qualified} is forbidden: {detail}")
    } else {
        format!("{qualified} {:?} is forbidden: {detail}", r.name)
    };
    crate::store::ApiError::new(403, "Forbidden", message)
        .with_details(json!({"name": r.name, "group": r.group, "kind": r.resource}))
}

fn bootstrap_meta(name: &str) -> Value {
    json!({"name": name, "labels": {"kubernetes.io/bootstrapping": "rbac-defaults"},
           "annotations": {"rbac.authorization.kubernetes.io/autoupdate": "true"}})
}

fn cluster_role(name: &str, rules: Value) -> (Gvr, Value) {
    (
        gvr("clusterroles"),
        json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole", "metadata": bootstrap_meta(name), "rules": rules}),
    )
}

fn cluster_binding(name: &str, groups: &[&str]) -> (Gvr, Value) {
    let subjects: Vec<Value> = groups
        .iter()
        .map(|g| json!({"apiGroup": GROUP, "kind": "Group", "name": g}))
        .collect();
    (
        gvr("clusterrolebindings"),
        json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRoleBinding", "metadata": bootstrap_meta(name),
               "roleRef": {"apiGroup": GROUP, "kind": "ClusterRole", "name": name}, "subjects": subjects}),
    )
}

/// The bootstrap roles and bindings of a fresh cluster that matter here: `cluster-admin` for `system:masters`,
/// discovery and public info for everyone, and self access/rules reviews (`kubectl auth can-i`) for every user.
pub fn bootstrap() -> Vec<(Gvr, Value)> {
    let public = json!(["/healthz", "/livez", "/readyz", "/version", "/version/"]);
    vec![
        cluster_role(
            "cluster-admin",
            json!([{"apiGroups": ["*"], "resources": ["*"], "verbs": ["*"]}, {"nonResourceURLs": ["*"], "verbs": ["*"]}]),
        ),
        cluster_binding("cluster-admin", &[MASTERS]),
        cluster_role(
            "system:discovery",
            json!([{"nonResourceURLs": ["/api", "/api/*", "/apis", "/apis/*", "/healthz", "/livez", "/openapi", "/openapi/*", "/readyz", "/version", "/version/"], "verbs": ["get"]}]),
        ),
        cluster_binding("system:discovery", &["system:authenticated"]),
        cluster_role(
            "system:public-info-viewer",
            json!([{"nonResourceURLs": public, "verbs": ["get"]}]),
        ),
        cluster_binding(
            "system:public-info-viewer",
            &["system:authenticated", "system:unauthenticated"],
        ),
        cluster_role(
            "system:basic-user",
            json!([{"apiGroups": ["authorization.k8s.io"], "resources": ["selfsubjectaccessreviews", "selfsubjectrulesreviews"], "verbs": ["create"]},
                   {"apiGroups": ["authentication.k8s.io"], "resources": ["selfsubjectreviews"], "verbs": ["create"]}]),
        ),
        cluster_binding("system:basic-user", &["system:authenticated"]),
    ]
}

#[cfg(test)]
mod tests;
