//! Served resource types: the built-in catalogue, CRD-defined types, CRD establishment and namespace finalization.

use std::collections::{BTreeSet, HashSet};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use serde_json::{Value, json};
use tokio::sync::{Notify, broadcast};
use tracing::{debug, warn};

use crate::store::meta::{self, name_of};
use crate::store::{
    CrdFacts, DeleteOptions, EventKind, Gvr, Propagation, ResourceInfo, Store, StoreConfig, StoreEvent,
    Subresource, WriteOptions, namespaces_gvr,
};

pub mod events;

pub const CRD_FINALIZER: &str = "customresourcecleanup.apiextensions.k8s.io";

const ALL_VERBS: [&str; 8] = [
    "create",
    "delete",
    "deletecollection",
    "get",
    "list",
    "patch",
    "update",
    "watch",
];

pub fn crd_gvr() -> Gvr {
    Gvr::new("apiextensions.k8s.io", "v1", "customresourcedefinitions")
}

struct B {
    group: &'static str,
    resource: &'static str,
    kind: &'static str,
    namespaced: bool,
    status: bool,
    generation: bool,
    short: &'static [&'static str],
    categories: &'static [&'static str],
    returns_object: bool,
    propagation: Propagation,
    /// A virtual, create-only type (access reviews): nothing is stored, POST answers with a computed status.
    create_only: bool,
}

const fn b(group: &'static str, resource: &'static str, kind: &'static str, namespaced: bool) -> B {
    B {
        group,
        resource,
        kind,
        namespaced,
        status: false,
        generation: false,
        short: &[],
        categories: &[],
        returns_object: false,
        propagation: Propagation::Background,
        create_only: false,
    }
}

const RBAC: &str = "rbac.authorization.k8s.io";
const AUTHZ: &str = "authorization.k8s.io";

/// A create-only review type (`selfsubjectaccessreviews`...).
const fn review(group: &'static str, resource: &'static str, kind: &'static str, namespaced: bool) -> B {
    B {
        create_only: true,
        ..b(group, resource, kind, namespaced)
    }
}

fn builtin_table() -> Vec<B> {
    vec![
        B {
            status: true,
            short: &["ns"],
            ..b("", "namespaces", "Namespace", false)
        },
        B {
            status: true,
            generation: true,
            short: &["po"],
            categories: &["all"],
            returns_object: true,
            ..b("", "pods", "Pod", true)
        },
        B {
            short: &["cm"],
            ..b("", "configmaps", "ConfigMap", true)
        },
        b("", "secrets", "Secret", true),
        B {
            short: &["sa"],
            returns_object: true,
            ..b("", "serviceaccounts", "ServiceAccount", true)
        },
        B {
            short: &["ev"],
            ..b("", "events", "Event", true)
        },
        B {
            short: &["ev"],
            ..b("events.k8s.io", "events", "Event", true)
        },
        b("coordination.k8s.io", "leases", "Lease", true),
        B {
            status: true,
            generation: true,
            categories: &["all"],
            propagation: Propagation::Orphan,
            ..b("batch", "jobs", "Job", true)
        },
        B {
            status: true,
            generation: true,
            short: &["cj"],
            categories: &["all"],
            ..b("batch", "cronjobs", "CronJob", true)
        },
        b(RBAC, "roles", "Role", true),
        b(RBAC, "rolebindings", "RoleBinding", true),
        b(RBAC, "clusterroles", "ClusterRole", false),
        b(RBAC, "clusterrolebindings", "ClusterRoleBinding", false),
        review(
            AUTHZ,
            "selfsubjectaccessreviews",
            "SelfSubjectAccessReview",
            false,
        ),
        review(AUTHZ, "selfsubjectrulesreviews", "SelfSubjectRulesReview", false),
        review(AUTHZ, "subjectaccessreviews", "SubjectAccessReview", false),
        review(
            AUTHZ,
            "localsubjectaccessreviews",
            "LocalSubjectAccessReview",
            true,
        ),
        review(
            "authentication.k8s.io",
            "selfsubjectreviews",
            "SelfSubjectReview",
            false,
        ),
        B {
            status: true,
            generation: true,
            short: &["crd", "crds"],
            categories: &["api-extensions"],
            ..b(
                "apiextensions.k8s.io",
                "customresourcedefinitions",
                "CustomResourceDefinition",
                false,
            )
        },
    ]
}

/// The built-in resource types the sandbox serves.
pub fn builtins() -> Vec<ResourceInfo> {
    builtin_table()
        .into_iter()
        .map(|b| ResourceInfo {
            gvr: Gvr::new(b.group, "v1", b.resource),
            kind: b.kind.to_string(),
            singular: b.kind.to_lowercase(),
            namespaced: b.namespaced,
            status_subresource: b.status,
            has_generation: b.generation,
            short_names: b.short.iter().map(std::string::ToString::to_string).collect(),
            categories: b
                .categories
                .iter()
                .map(std::string::ToString::to_string)
                .collect(),
            allow_unconditional_update: true,
            return_deleted_object: b.returns_object,
            default_propagation: b.propagation,
            crd: None,
            verbs: if b.create_only {
                vec!["create".to_string()]
            } else {
                ALL_VERBS.iter().map(std::string::ToString::to_string).collect()
            },
        })
        .collect()
}

/// Whether a type is a virtual, create-only review (nothing stored; only `create` is served).
pub fn is_review(info: &ResourceInfo) -> bool {
    info.crd.is_none() && !info.verbs.iter().any(|v| v == "get")
}

/// A store with the built-in types, the sandbox strategy and the namespaces of a fresh cluster.
pub fn new_store(config: StoreConfig) -> Store {
    let store = Store::new(config);
    for info in builtins() {
        store.register_type(info);
    }
    store.set_strategy(Arc::new(crate::defaults::SandboxStrategy));
    for ns in ["default", "kube-system", "kube-public", "kube-node-lease"] {
        // A fresh store cannot already hold these names.
        if let Err(e) = store.create(
            &namespaces_gvr(),
            json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}}),
        ) {
            warn!(%e, ns, "could not create initial namespace");
        }
    }
    for (gvr, obj) in crate::rbac::bootstrap() {
        if let Err(e) = store.create(&gvr, obj) {
            warn!(%e, "could not create bootstrap RBAC object");
        }
    }
    store
}

/// The resource types a CRD defines, one per served version.
pub fn crd_infos(crd: &Value) -> Vec<ResourceInfo> {
    let spec = &crd["spec"];
    let group = spec["group"].as_str().unwrap_or("");
    let names = &spec["names"];
    let plural = names["plural"].as_str().unwrap_or("");
    let kind = names["kind"].as_str().unwrap_or("");
    let singular = names["singular"]
        .as_str()
        .map_or_else(|| kind.to_lowercase(), str::to_string);
    let strings = |v: &Value| -> Vec<String> {
        v.as_array()
            .map(|a| a.iter().filter_map(|s| s.as_str().map(str::to_string)).collect())
            .unwrap_or_default()
    };
    let namespaced = spec["scope"].as_str() != Some("Cluster");
    let versions = spec["versions"].as_array().cloned().unwrap_or_default();
    versions
        .iter()
        .filter(|v| v["served"].as_bool().unwrap_or(true))
        .filter_map(|v| {
            let version = v["name"].as_str()?;
            let selectable = v["selectableFields"]
                .as_array()
                .map(|a| {
                    a.iter()
                        .filter_map(|f| {
                            f["jsonPath"]
                                .as_str()
                                .map(|p| p.trim_start_matches('.').to_string())
                        })
                        .collect()
                })
                .unwrap_or_default();
            let facts = CrdFacts {
                schema: v
                    .pointer("/schema/openAPIV3Schema")
                    .cloned()
                    .unwrap_or(Value::Null),
                printer_columns: v["additionalPrinterColumns"]
                    .as_array()
                    .cloned()
                    .unwrap_or_default(),
                selectable_fields: selectable,
                crd_name: name_of(crd).to_string(),
            };
            Some(ResourceInfo {
                gvr: Gvr::new(group, version, plural),
                kind: kind.to_string(),
                singular: singular.clone(),
                namespaced,
                status_subresource: v.pointer("/subresources/status").is_some(),
                has_generation: true,
                short_names: strings(&names["shortNames"]),
                categories: strings(&names["categories"]),
                allow_unconditional_update: false,
                return_deleted_object: false,
                default_propagation: Propagation::Background,
                crd: Some(Arc::new(facts)),
                verbs: ALL_VERBS.iter().map(std::string::ToString::to_string).collect(),
            })
        })
        .collect()
}

fn is_established(crd: &Value) -> bool {
    crd.pointer("/status/conditions")
        .and_then(Value::as_array)
        .is_some_and(|cs| {
            cs.iter()
                .any(|c| c["type"] == "Established" && c["status"] == "True")
        })
}

/// Switches of the registry controller (fault injection).
#[derive(Clone, Default)]
pub struct RegistrySwitch {
    paused: Arc<AtomicBool>,
    wake: Arc<Notify>,
}

impl RegistrySwitch {
    /// While paused, new CRDs stay un-established (not served), as on a slow HA control plane.
    pub fn pause_establishment(&self) {
        self.paused.store(true, Ordering::SeqCst);
    }

    pub fn resume_establishment(&self) {
        self.paused.store(false, Ordering::SeqCst);
        self.wake.notify_one();
    }

    pub fn is_paused(&self) -> bool {
        self.paused.load(Ordering::SeqCst)
    }
}

/// Starts the task that establishes CRDs, serves their types, cleans up deleted CRDs and finalizes namespaces.
pub fn start(store: Store, switch: RegistrySwitch) -> tokio::task::JoinHandle<()> {
    let rx = store.subscribe();
    tokio::spawn(run(store, switch, rx))
}

async fn run(store: Store, switch: RegistrySwitch, mut rx: crate::store::EventReceiver) {
    let mut terminating: BTreeSet<String> = BTreeSet::new();
    resync(&store, &switch, &mut terminating);
    loop {
        tokio::select! {
            received = rx.recv_change() => match received {
                // Parsed only when `on_event` may act on it: Events (the mirror), CRDs, namespaces, deletions.
                Ok(change)
                    if change.kind == EventKind::Deleted
                        || change.gvr == events::events_v1()
                        || change.gvr == crd_gvr()
                        || change.gvr == namespaces_gvr() =>
                {
                    on_event(&store, &switch, &StoreEvent::of(&change), &mut terminating);
                }
                Ok(_) => {}
                Err(broadcast::error::RecvError::Lagged(_)) => {
                    resync(&store, &switch, &mut terminating);
                    events::resync(&store);
                }
                Err(broadcast::error::RecvError::Closed) => break,
            },
            () = switch.wake.notified() => resync(&store, &switch, &mut terminating),
        }
    }
}

fn resync(store: &Store, switch: &RegistrySwitch, terminating: &mut BTreeSet<String>) {
    for crd in store.list(&crd_gvr(), None).0 {
        reconcile_crd(store, switch, &crd);
    }
    for ns in store.list(&namespaces_gvr(), None).0 {
        if meta::is_deleting(&ns) {
            terminating.insert(name_of(&ns).to_string());
        }
    }
    let names: Vec<String> = terminating.iter().cloned().collect();
    for ns in names {
        finalize_namespace(store, &ns, terminating);
    }
}

fn on_event(store: &Store, switch: &RegistrySwitch, ev: &StoreEvent, terminating: &mut BTreeSet<String>) {
    events::mirror(store, ev);
    if ev.gvr == crd_gvr() {
        if ev.kind == EventKind::Deleted {
            for info in crd_infos(&ev.object) {
                store.unregister_type(&info.gvr);
            }
        } else {
            reconcile_crd(store, switch, &ev.object);
        }
        return;
    }
    if ev.gvr == namespaces_gvr() {
        let name = name_of(&ev.object).to_string();
        if ev.kind != EventKind::Deleted && meta::is_deleting(&ev.object) && terminating.insert(name.clone())
        {
            finalize_namespace(store, &name, terminating);
        }
        if ev.kind == EventKind::Deleted {
            terminating.remove(&name);
        }
        return;
    }
    // The last custom resource of a terminating CRD going away releases the CRD.
    if ev.kind == EventKind::Deleted
        && let Some(facts) = store.info(&ev.gvr).and_then(|i| i.crd.clone())
        && let Some(crd) = store.get(&crd_gvr(), None, &facts.crd_name)
        && meta::is_deleting(&crd)
    {
        reconcile_crd(store, switch, &crd);
    }
    if ev.kind == EventKind::Deleted
        && let Some(ns) = meta::namespace_of(&ev.object)
        && terminating.contains(ns)
    {
        let ns = ns.to_string();
        finalize_namespace(store, &ns, terminating);
    }
}

fn reconcile_crd(store: &Store, switch: &RegistrySwitch, crd: &Value) {
    let name = name_of(crd).to_string();
    let infos = crd_infos(crd);
    if meta::is_deleting(crd) {
        cleanup_crd(store, crd, &infos);
        return;
    }
    if is_established(crd) {
        let served: HashSet<Gvr> = infos.iter().map(|i| i.gvr.clone()).collect();
        // Versions no longer served stop being served.
        for t in store.types() {
            if t.crd.as_ref().is_some_and(|c| c.crd_name == name) && !served.contains(&t.gvr) {
                store.unregister_type(&t.gvr);
            }
        }
        for info in infos {
            store.register_type(info);
        }
        return;
    }
    if switch.is_paused() {
        return;
    }
    let now = meta::now_rfc3339();
    let names = crd["spec"]["names"].clone();
    let mut accepted = names.clone();
    if accepted.get("singular").is_none()
        && let (Some(m), Some(kind)) = (accepted.as_object_mut(), names["kind"].as_str())
    {
        m.insert("singular".into(), json!(kind.to_lowercase()));
    }
    let stored_versions: Vec<Value> = crd["spec"]["versions"]
        .as_array()
        .map(|vs| {
            vs.iter()
                .filter(|v| v["storage"] == true)
                .map(|v| v["name"].clone())
                .collect()
        })
        .unwrap_or_default();
    let result = store.mutate(&crd_gvr(), None, &name, Subresource::Status, &WriteOptions::manager("kube-apiserver"), |cur| {
        let mut c = cur.cloned().ok_or_else(|| crate::store::ApiError::not_found(&crd_gvr(), &name))?;
        c["status"] = json!({
            "acceptedNames": accepted,
            "storedVersions": stored_versions,
            "conditions": [
                {"type": "NamesAccepted", "status": "True", "lastTransitionTime": now, "reason": "NoConflicts", "message": "no conflicts found"},
                {"type": "Established", "status": "True", "lastTransitionTime": now, "reason": "InitialNamesAccepted", "message": "the initial names have been accepted"},
            ],
        });
        Ok(c)
    });
    match result {
        // The MODIFIED event of this write registers the types.
        Ok(_) => debug!(crd = %name, "established"),
        Err(e) => warn!(crd = %name, %e, "could not establish CRD"),
    }
}

fn cleanup_crd(store: &Store, crd: &Value, infos: &[ResourceInfo]) {
    let name = name_of(crd).to_string();
    let terminating = crd
        .pointer("/status/conditions")
        .and_then(Value::as_array)
        .is_some_and(|cs| cs.iter().any(|c| c["type"] == "Terminating"));
    if !terminating {
        let now = meta::now_rfc3339();
        let _ = store.mutate(&crd_gvr(), None, &name, Subresource::Status, &WriteOptions::manager("kube-apiserver"), |cur| {
            let mut c = cur.cloned().ok_or_else(|| crate::store::ApiError::not_found(&crd_gvr(), &name))?;
            if let Some(cs) = c.pointer_mut("/status/conditions").and_then(Value::as_array_mut) {
                cs.push(json!({"type": "Terminating", "status": "True", "lastTransitionTime": now,
                    "reason": "InstanceDeletionInProgress", "message": "CustomResource deletion is in progress"}));
            }
            Ok(c)
        });
    }
    for info in infos {
        let (objects, _) = store.list_arc(&info.gvr, None);
        for o in objects {
            if !meta::is_deleting(&o) {
                let opts = DeleteOptions {
                    propagation: Some(Propagation::Background),
                    ..Default::default()
                };
                let _ = store.delete(&info.gvr, meta::namespace_of(&o), name_of(&o), &opts);
            }
        }
    }
    let left: usize = infos.iter().map(|i| store.count(&i.gvr, None)).sum();
    debug!(crd = %name, left, "CRD cleanup");
    if left == 0 {
        for info in infos {
            store.unregister_type(&info.gvr);
        }
        remove_finalizer(store, &crd_gvr(), None, &name, CRD_FINALIZER);
    }
}

fn remove_finalizer(store: &Store, gvr: &Gvr, ns: Option<&str>, name: &str, finalizer: &str) {
    let _ = store.mutate(
        gvr,
        ns,
        name,
        Subresource::Main,
        &WriteOptions::manager("kube-apiserver"),
        |cur| {
            let mut c = cur
                .cloned()
                .ok_or_else(|| crate::store::ApiError::not_found(gvr, name))?;
            if let Some(fs) = c
                .pointer_mut("/metadata/finalizers")
                .and_then(Value::as_array_mut)
            {
                fs.retain(|f| f != finalizer);
            }
            Ok(c)
        },
    );
}

/// Deletes everything in a terminating namespace; once it is empty, removes the `kubernetes` finalizer.
fn finalize_namespace(store: &Store, ns: &str, terminating: &mut BTreeSet<String>) {
    let mut left = 0;
    for info in store.types() {
        if !info.namespaced {
            continue;
        }
        for o in store.list_arc(&info.gvr, Some(ns)).0 {
            left += 1;
            if !meta::is_deleting(&o) {
                let opts = DeleteOptions {
                    propagation: Some(Propagation::Background),
                    ..Default::default()
                };
                if store.delete(&info.gvr, Some(ns), name_of(&o), &opts).is_ok()
                    && store.get_arc(&info.gvr, Some(ns), name_of(&o)).is_none()
                {
                    left -= 1;
                }
            }
        }
    }
    if left > 0 {
        return;
    }
    let _ = store.mutate(
        &namespaces_gvr(),
        None,
        ns,
        Subresource::Main,
        &WriteOptions::manager("namespace-controller"),
        |cur| {
            let mut c = cur
                .cloned()
                .ok_or_else(|| crate::store::ApiError::not_found(&namespaces_gvr(), ns))?;
            if let Some(fs) = c.pointer_mut("/spec/finalizers").and_then(Value::as_array_mut) {
                fs.retain(|f| f != "kubernetes");
            }
            Ok(c)
        },
    );
    if store.get_arc(&namespaces_gvr(), None, ns).is_none() {
        terminating.remove(ns);
    }
}
