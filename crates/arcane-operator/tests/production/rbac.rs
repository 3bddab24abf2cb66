//! The chart's RBAC rules (rendered with `helm template`) and what a logged request needs.

use kube_sandbox::requestlog::RequestRecord;
use serde_json::Value;

/// One rule of a ClusterRole (namespace `None`, bound cluster-wide) or a Role (its namespace).
#[derive(Debug, Clone)]
pub(crate) struct Rule {
    pub role: String,
    pub namespace: Option<String>,
    pub groups: Vec<String>,
    pub resources: Vec<String>,
    pub names: Vec<String>,
    pub verbs: Vec<String>,
}

/// What one request needs: group, resource (with subresource), verb, namespace, object name.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) struct Need {
    pub group: String,
    pub resource: String,
    pub verb: String,
    pub namespace: Option<String>,
    pub name: Option<String>,
}

impl Need {
    pub(crate) fn of(r: &RequestRecord) -> Option<Need> {
        let a = r.rbac()?;
        Some(Need {
            name: object_name(&r.path),
            group: a.group,
            resource: a.resource,
            verb: a.verb,
            namespace: a.namespace,
        })
    }
}

/// The object name of a namespaced resource path (`.../namespaces/<ns>/<resource>/<name>[/sub]`).
fn object_name(path: &str) -> Option<String> {
    let segs: Vec<&str> = path.trim_matches('/').split('/').collect();
    let at = segs.iter().position(|s| *s == "namespaces")?;
    segs.get(at + 3).map(std::string::ToString::to_string)
}

impl Rule {
    pub(crate) fn grants(&self, group: &str, resource: &str, verb: &str) -> bool {
        self.groups.iter().any(|g| g == group)
            && self.resources.iter().any(|r| r == resource)
            && self.verbs.iter().any(|v| v == verb)
    }

    pub(crate) fn covers(&self, need: &Need) -> bool {
        self.grants(&need.group, &need.resource, &need.verb)
            && (self.names.is_empty() || need.name.as_ref().is_some_and(|n| self.names.contains(n)))
            && (self.namespace.is_none() || self.namespace == need.namespace)
    }
}

fn strings(v: &Value) -> Vec<String> {
    v.as_array()
        .map(|a| a.iter().filter_map(|s| s.as_str().map(str::to_string)).collect())
        .unwrap_or_default()
}

/// The rules of every ClusterRole and Role the chart renders with `sets`; `None` when helm is
/// missing outside CI (in CI a missing helm fails, as in the chart tests).
pub(crate) fn chart_rules(sets: &[&str]) -> Option<Vec<Rule>> {
    let helm = arcane_testkit::helm::helm("the RBAC test")?;
    let mut all = vec!["image.repository=registry.example.com/arcane-operator"];
    all.extend_from_slice(sets);
    let docs =
        arcane_testkit::helm::template(&helm, &all).unwrap_or_else(|e| panic!("helm template failed: {e}"));
    let mut rules = Vec::new();
    for doc in docs
        .iter()
        .filter(|d| d["kind"] == "ClusterRole" || d["kind"] == "Role")
    {
        let namespace =
            (doc["kind"] == "Role").then(|| doc["metadata"]["namespace"].as_str().unwrap().to_string());
        for rule in doc["rules"].as_array().unwrap() {
            rules.push(Rule {
                role: doc["metadata"]["name"].as_str().unwrap().to_string(),
                namespace: namespace.clone(),
                groups: strings(&rule["apiGroups"]),
                resources: strings(&rule["resources"]),
                names: strings(&rule["resourceNames"]),
                verbs: strings(&rule["verbs"]),
            });
        }
    }
    // The namespaced ClusterRole must be bound cluster-wide (no watchNamespace here) and the
    // Role where the Lease lives: otherwise "namespace None" above would overstate the grants.
    let bindings: Vec<&Value> = docs
        .iter()
        .filter(|d| d["kind"] == "ClusterRoleBinding")
        .collect();
    assert_eq!(bindings.len(), 2, "both ClusterRoles are bound cluster-wide");
    Some(rules)
}
