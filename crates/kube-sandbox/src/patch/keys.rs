//! How built-in list fields merge: the `patchStrategy`/`patchMergeKey` tags (strategic merge patch) and the
//! `listType`/`listMapKey` markers (server-side apply) of the fields kubectl and operators touch.
//! Both mechanisms agree on these fields, so one table serves both.

use serde_json::Value;

/// How a list field merges.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ListKind {
    /// Replaced as a whole (the default for lists without a merge strategy).
    Atomic,
    /// A list of scalars merged as a set (e.g. `metadata.finalizers`).
    Set,
    /// A list of objects merged by the given key fields (e.g. `containers` by `name`).
    Map(Vec<String>),
}

/// API groups whose types are compiled into the apiserver. Strategic merge patch applies to these only; custom
/// resources get 415 from the real apiserver.
const BUILTIN_GROUPS: &[&str] = &[
    "",
    "apps",
    "batch",
    "autoscaling",
    "policy",
    "coordination.k8s.io",
    "events.k8s.io",
    "apiextensions.k8s.io",
    "rbac.authorization.k8s.io",
    "networking.k8s.io",
    "storage.k8s.io",
    "scheduling.k8s.io",
    "discovery.k8s.io",
    "admissionregistration.k8s.io",
    "certificates.k8s.io",
    "node.k8s.io",
    "flowcontrol.apiserver.k8s.io",
    "resource.k8s.io",
    "apiregistration.k8s.io",
    "authentication.k8s.io",
    "authorization.k8s.io",
];

/// Whether `group` is a built-in API group (strategic merge patch is supported only there).
pub fn is_builtin_group(group: &str) -> bool {
    BUILTIN_GROUPS.contains(&group)
}

const POD_CONTAINER_LISTS: &[&str] = &["containers", "initContainers", "ephemeralContainers"];

fn map(keys: &[&str]) -> ListKind {
    ListKind::Map(keys.iter().map(|k| (*k).to_string()).collect())
}

/// The merge behaviour of the built-in list at `path` (field names from the object root, list items skipped),
/// for an object of `kind`. Matching is by field name and parent field, so the same rules hold wherever a pod
/// spec is nested (Pod, Job/CronJob/Deployment templates).
pub fn builtin_list_kind(kind: &str, path: &[&str]) -> ListKind {
    let Some((last, parents)) = path.split_last() else {
        return ListKind::Atomic;
    };
    let parent = parents.last().copied().unwrap_or("");
    match (parent, *last) {
        ("metadata", "finalizers") => ListKind::Set,
        ("metadata", "ownerReferences") => map(&["uid"]),
        ("metadata", "managedFields") => ListKind::Atomic,
        (_, "containers" | "initContainers" | "ephemeralContainers") if parent == "spec" => map(&["name"]),
        (p, "env") if POD_CONTAINER_LISTS.contains(&p) => map(&["name"]),
        // The real list-map keys are containerPort+protocol, but protocol is defaulted and often omitted by
        // clients; merging by containerPort alone is what strategic merge patch does.
        (p, "ports") if POD_CONTAINER_LISTS.contains(&p) => map(&["containerPort"]),
        (p, "volumeMounts") if POD_CONTAINER_LISTS.contains(&p) => map(&["mountPath"]),
        (p, "volumeDevices") if POD_CONTAINER_LISTS.contains(&p) => map(&["devicePath"]),
        (p, "resizePolicy") if POD_CONTAINER_LISTS.contains(&p) => map(&["resourceName"]),
        ("spec", "ports") if kind == "Service" => map(&["port"]),
        ("spec", "volumes") => map(&["name"]),
        ("spec", "imagePullSecrets") => map(&["name"]),
        ("spec", "hostAliases") => map(&["ip"]),
        ("spec", "topologySpreadConstraints") => map(&["topologyKey"]),
        ("spec", "resourceClaims") => map(&["name"]),
        ("spec", "schedulingGates") => map(&["name"]),
        ("status", "conditions") => map(&["type"]),
        ("", "secrets") if kind == "ServiceAccount" => map(&["name"]),
        ("", "imagePullSecrets") if kind == "ServiceAccount" => map(&["name"]),
        _ => ListKind::Atomic,
    }
}

/// The merge behaviour of a list in a custom resource, from its CRD schema's `x-kubernetes-list-type` and
/// `x-kubernetes-list-map-keys`; `metadata` lists follow the built-in ObjectMeta rules.
pub fn schema_list_kind(schema: &Value, path: &[&str]) -> ListKind {
    if path.first() == Some(&"metadata") {
        return builtin_list_kind("", path);
    }
    let mut node = schema;
    for (i, seg) in path.iter().enumerate() {
        let next = node
            .get("properties")
            .and_then(|p| p.get(*seg))
            .or_else(|| node.get("additionalProperties").filter(|a| a.is_object()));
        match next {
            Some(n) => node = n,
            None => return ListKind::Atomic,
        }
        // The list's own node carries the markers; going deeper means going through its `items`.
        if i + 1 < path.len()
            && let Some(items) = node.get("items")
        {
            node = items;
        }
    }
    match node.get("x-kubernetes-list-type").and_then(Value::as_str) {
        Some("set") => ListKind::Set,
        Some("map") => {
            let keys: Vec<String> = node
                .get("x-kubernetes-list-map-keys")
                .and_then(Value::as_array)
                .map(|a| a.iter().filter_map(Value::as_str).map(str::to_string).collect())
                .unwrap_or_default();
            if keys.is_empty() {
                ListKind::Atomic
            } else {
                ListKind::Map(keys)
            }
        }
        _ => ListKind::Atomic,
    }
}
