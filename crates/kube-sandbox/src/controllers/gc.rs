//! The garbage collector, as kube-controller-manager's: an owner→dependents index fed by store events, and a
//! delayed work queue that deletes dependents of vanished owners (background), deletes dependents before their
//! owner (`foregroundDeletion` finalizer) or strips owner references (`orphan` finalizer).
//!
//! Owners are verified the way the real collector does it: resolve the reference's apiVersion/kind to a served
//! type, GET the named object in the dependent's namespace (or cluster scope) and compare the uid. So a
//! reference to a uid that never existed ("virtual owner") is dangling and its dependent is collected.

use std::collections::{HashMap, HashSet};
use std::time::Duration;

use serde_json::{Value, json};
use tokio::time::Instant;
use tracing::{debug, warn};

use super::queue::DelayQueue;
use super::util::{OwnerRef, finalizers, has_finalizer, is_deleting, name, namespace, owner_refs, uid};
use crate::store::{
    ApiError, DeleteOptions, EventKind, Gvr, Propagation, Store, StoreEvent, Subresource, WriteOptions,
};

pub const FOREGROUND_FINALIZER: &str = "foregroundDeletion";
pub const ORPHAN_FINALIZER: &str = "orphan";
const MANAGER: &str = "garbage-collector";
/// Work items handled per wake-up, so one burst cannot starve the other controllers.
const BATCH: usize = 256;
/// Attempts per work item before the collector waits for the object's next change.
const MAX_RETRIES: u32 = 8;

/// One stored object, by where it lives and which incarnation it is.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ObjKey {
    pub gvr: Gvr,
    pub namespace: Option<String>,
    pub name: String,
    pub uid: String,
}

impl ObjKey {
    pub fn of(gvr: &Gvr, obj: &Value) -> Self {
        ObjKey {
            gvr: gvr.clone(),
            namespace: namespace(obj).map(str::to_owned),
            name: name(obj).to_owned(),
            uid: uid(obj).to_owned(),
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
enum Work {
    /// Is this dependent still owned by someone alive?
    Dependent(ObjKey),
    /// This owner is being deleted with the `orphan` or `foregroundDeletion` finalizer.
    Owner(ObjKey),
}

/// How one owner reference of a dependent resolves.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum OwnerState {
    /// Exists and is not waiting for its dependents.
    Solid,
    /// Exists, being deleted in the foreground.
    Waiting,
    /// No object with that kind, name and uid.
    Dangling,
    /// The reference cannot be checked (unknown kind, namespaced owner of a cluster-scoped dependent):
    /// the real collector never deletes on such a reference.
    Unresolvable,
}

pub struct Gc {
    /// owner uid → dependents referencing it.
    dependents: HashMap<String, HashSet<ObjKey>>,
    /// dependent uid → the owner references it had when last seen.
    owners_of: HashMap<String, Vec<OwnerRef>>,
    queue: DelayQueue<Work>,
    /// Consecutive failures per work item, for back-off.
    failures: HashMap<Work, u32>,
    delay: Duration,
}

impl Gc {
    pub fn new(delay: Duration) -> Self {
        Gc {
            dependents: HashMap::new(),
            owners_of: HashMap::new(),
            queue: DelayQueue::default(),
            failures: HashMap::new(),
            delay,
        }
    }

    pub fn next_deadline(&self) -> Option<Instant> {
        self.queue.next_deadline()
    }

    pub fn pending(&self) -> usize {
        self.queue.len()
    }

    /// Rebuilds the index from the whole store (start-up and after missed events).
    pub fn resync(&mut self, store: &Store) {
        self.dependents.clear();
        self.owners_of.clear();
        self.queue.clear();
        self.failures.clear();
        for info in store.types() {
            // Parsed one at a time: a resync of 100,000 objects must not hold them all parsed.
            let (objects, _) = store.list_stored(&info.gvr, None);
            for stored in objects {
                self.observe(store, &info.gvr, EventKind::Added, &stored.decode());
            }
        }
    }

    pub fn on_event(&mut self, store: &Store, event: &StoreEvent) {
        self.observe(store, &event.gvr, event.kind, &event.object);
    }

    fn observe(&mut self, store: &Store, gvr: &Gvr, kind: EventKind, obj: &Value) {
        let key = ObjKey::of(gvr, obj);
        if key.uid.is_empty() {
            return;
        }
        let refs = owner_refs(obj);
        if kind == EventKind::Deleted {
            self.unindex(&key);
            // Its dependents may now be dangling; owners waiting in the foreground may now proceed.
            for dependent in self.dependents.get(&key.uid).cloned().unwrap_or_default() {
                self.enqueue(Work::Dependent(dependent));
            }
            self.enqueue_owners(store, &key, &refs);
            return;
        }
        let old_refs = self.owners_of.get(&key.uid).cloned().unwrap_or_default();
        if refs != old_refs {
            self.unindex(&key);
            for r in &refs {
                self.dependents
                    .entry(r.uid.clone())
                    .or_default()
                    .insert(key.clone());
            }
            if !refs.is_empty() {
                self.owners_of.insert(key.uid.clone(), refs.clone());
                self.enqueue(Work::Dependent(key.clone()));
            }
            // An owner whose dependent let go may be done waiting.
            let dropped: Vec<OwnerRef> = old_refs
                .into_iter()
                .filter(|o| !refs.iter().any(|r| r.uid == o.uid))
                .collect();
            self.enqueue_owners(store, &key, &dropped);
        }
        if is_deleting(obj)
            && (has_finalizer(obj, FOREGROUND_FINALIZER) || has_finalizer(obj, ORPHAN_FINALIZER))
        {
            self.enqueue(Work::Owner(key.clone()));
        }
        if is_deleting(obj) {
            // A dependent on its way out may be what a foreground owner waits for.
            self.enqueue_owners(store, &key, &refs);
        }
    }

    fn unindex(&mut self, key: &ObjKey) {
        for owner in self.owners_of.remove(&key.uid).unwrap_or_default() {
            if let Some(set) = self.dependents.get_mut(&owner.uid) {
                set.remove(key);
                if set.is_empty() {
                    self.dependents.remove(&owner.uid);
                }
            }
        }
    }

    /// Queues a check of the owners named in `refs` that are being deleted (only those can be waiting).
    fn enqueue_owners(&mut self, store: &Store, dependent: &ObjKey, refs: &[OwnerRef]) {
        for r in refs {
            let owner = resolve(store, dependent, r).ok().flatten().map(|(k, _)| k);
            if let Some(owner) = owner {
                self.enqueue(Work::Owner(owner));
            }
        }
    }

    fn enqueue(&mut self, work: Work) {
        self.queue.schedule(work, Instant::now() + self.delay);
    }

    /// Handles the due work items (at most one batch); returns how many were handled.
    pub fn process_due(&mut self, store: &Store) -> usize {
        let due = self.queue.pop_due(Instant::now(), BATCH);
        let count = due.len();
        for work in due {
            let result = match &work {
                Work::Dependent(key) => self.attempt_delete(store, key),
                Work::Owner(key) => self.process_owner(store, key),
            };
            match result {
                Ok(()) => {
                    self.failures.remove(&work);
                }
                // The object went away meanwhile: nothing left to do.
                Err(e) if e.code == 404 => {
                    self.failures.remove(&work);
                }
                Err(e) => {
                    let failures = self.failures.entry(work.clone()).or_insert(0);
                    *failures += 1;
                    if *failures > MAX_RETRIES {
                        warn!(?work, error = %e, "garbage collector gives up on this item until it changes again");
                        self.failures.remove(&work);
                        continue;
                    }
                    // Exponential back-off from 200 ms: conflicts usually clear on the next attempt.
                    let backoff = Duration::from_millis(200 << (*failures - 1).min(5)).max(self.delay);
                    debug!(?work, error = %e, ?backoff, "garbage collector retry");
                    self.queue.schedule(work, Instant::now() + backoff);
                }
            }
        }
        count
    }

    fn attempt_delete(&mut self, store: &Store, key: &ObjKey) -> Result<(), ApiError> {
        let Some(obj) = current(store, key) else {
            return Ok(());
        };
        if is_deleting(&obj) {
            return Ok(());
        }
        let refs = owner_refs(&obj);
        if refs.is_empty() {
            return Ok(());
        }
        let mut states = Vec::with_capacity(refs.len());
        for r in &refs {
            states.push(owner_state(store, key, r)?);
        }
        let solid = states
            .iter()
            .any(|s| matches!(s, OwnerState::Solid | OwnerState::Unresolvable));
        let gone: HashSet<&str> = refs
            .iter()
            .zip(&states)
            .filter(|(_, s)| matches!(s, OwnerState::Dangling | OwnerState::Waiting))
            .map(|(r, _)| r.uid.as_str())
            .collect();
        if gone.is_empty() {
            return Ok(());
        }
        if solid {
            // Other live owners keep it: only the dead references go.
            return remove_owner_refs(store, key, &gone);
        }
        let waiting = states.contains(&OwnerState::Waiting);
        let has_dependents = self.dependents.get(&key.uid).is_some_and(|d| !d.is_empty());
        let propagation = if waiting && has_dependents {
            Propagation::Foreground
        } else {
            Propagation::Background
        };
        debug!(?key, ?propagation, "garbage collector deletes dependent");
        delete(store, key, propagation)
    }

    fn process_owner(&mut self, store: &Store, key: &ObjKey) -> Result<(), ApiError> {
        let Some(owner) = current(store, key) else {
            return Ok(());
        };
        if !is_deleting(&owner) {
            return Ok(());
        }
        let dependents: Vec<ObjKey> = self
            .dependents
            .get(&key.uid)
            .map(|d| d.iter().cloned().collect())
            .unwrap_or_default();
        if has_finalizer(&owner, ORPHAN_FINALIZER) {
            let only: HashSet<&str> = [key.uid.as_str()].into();
            for dependent in &dependents {
                match remove_owner_refs(store, dependent, &only) {
                    Ok(()) => {}
                    Err(e) if e.code == 404 => {}
                    Err(e) => return Err(e),
                }
            }
            return remove_finalizer(store, key, ORPHAN_FINALIZER);
        }
        if !has_finalizer(&owner, FOREGROUND_FINALIZER) {
            return Ok(());
        }
        // Dependents still referencing this owner; the ones blocking its deletion go first.
        let mut live: Vec<(&ObjKey, Value, bool)> = dependents
            .iter()
            .filter_map(|d| {
                let obj = current(store, d)?;
                let r = owner_refs(&obj).into_iter().find(|r| r.uid == key.uid)?;
                Some((d, obj, r.block_owner_deletion))
            })
            .collect();
        live.sort_by_key(|(d, _, block)| (!*block, (*d).clone()));
        let blocking = live.iter().filter(|(_, _, block)| *block).count();
        for (dependent, obj, _) in &live {
            if is_deleting(obj) {
                continue;
            }
            let has_own = self.dependents.get(&dependent.uid).is_some_and(|d| !d.is_empty());
            let propagation = if has_own {
                Propagation::Foreground
            } else {
                Propagation::Background
            };
            match delete(store, dependent, propagation) {
                Ok(()) => {}
                Err(e) if e.code == 404 || e.code == 409 => {}
                Err(e) => return Err(e),
            }
        }
        if blocking == 0 {
            return remove_finalizer(store, key, FOREGROUND_FINALIZER);
        }
        // Waits for the dependents' DELETED events, which queue this owner again.
        Ok(())
    }
}

/// The object `key` names, if that incarnation (uid) still exists.
fn current(store: &Store, key: &ObjKey) -> Option<Value> {
    store
        .get(&key.gvr, key.namespace.as_deref(), &key.name)
        .filter(|o| uid(o) == key.uid)
}

/// Resolves an owner reference of `dependent` to the stored owner, if the reference is checkable at all.
/// `Err(())` = unresolvable; `Ok(None)` = checkable but absent.
fn resolve(store: &Store, dependent: &ObjKey, r: &OwnerRef) -> Result<Option<(ObjKey, Value)>, ()> {
    let info = store.info_for_kind(&r.api_version, &r.kind).ok_or(())?;
    let ns = if info.namespaced {
        // A cluster-scoped dependent cannot have a namespaced owner: never collected for it.
        Some(dependent.namespace.clone().ok_or(())?)
    } else {
        None
    };
    let found = store
        .get(&info.gvr, ns.as_deref(), &r.name)
        .filter(|o| uid(o) == r.uid)
        .map(|o| {
            (
                ObjKey {
                    gvr: info.gvr.clone(),
                    namespace: ns,
                    name: r.name.clone(),
                    uid: r.uid.clone(),
                },
                o,
            )
        });
    Ok(found)
}

fn owner_state(store: &Store, dependent: &ObjKey, r: &OwnerRef) -> Result<OwnerState, ApiError> {
    Ok(match resolve(store, dependent, r) {
        Err(()) => {
            warn!(dependent = ?dependent, owner = ?r, "owner reference cannot be resolved; not collecting");
            OwnerState::Unresolvable
        }
        Ok(None) => OwnerState::Dangling,
        Ok(Some((_, owner))) if is_deleting(&owner) && has_finalizer(&owner, FOREGROUND_FINALIZER) => {
            OwnerState::Waiting
        }
        Ok(Some(_)) => OwnerState::Solid,
    })
}

fn not_found(key: &ObjKey) -> ApiError {
    ApiError::not_found(&key.gvr, &key.name)
}

/// Read-modify-write of one object's metadata under the store lock; never creates.
fn edit_meta(
    store: &Store,
    key: &ObjKey,
    edit: impl Fn(&mut serde_json::Map<String, Value>),
) -> Result<(), ApiError> {
    store
        .mutate(
            &key.gvr,
            key.namespace.as_deref(),
            &key.name,
            Subresource::Main,
            &WriteOptions::manager(MANAGER),
            |cur| {
                let cur = cur.filter(|c| uid(c) == key.uid).ok_or_else(|| not_found(key))?;
                let mut next = cur.clone();
                if let Some(meta) = next.get_mut("metadata").and_then(Value::as_object_mut) {
                    edit(meta);
                }
                Ok(next)
            },
        )
        .map(|_| ())
}

fn remove_owner_refs(store: &Store, key: &ObjKey, uids: &HashSet<&str>) -> Result<(), ApiError> {
    edit_meta(store, key, |meta| {
        if let Some(refs) = meta.get_mut("ownerReferences").and_then(Value::as_array_mut) {
            refs.retain(|r| {
                !r.get("uid")
                    .and_then(Value::as_str)
                    .is_some_and(|u| uids.contains(u))
            });
            if refs.is_empty() {
                meta.remove("ownerReferences");
            }
        }
    })
}

fn remove_finalizer(store: &Store, key: &ObjKey, finalizer: &str) -> Result<(), ApiError> {
    edit_meta(store, key, |meta| {
        let kept: Vec<String> = finalizers(&json!({ "metadata": meta }))
            .into_iter()
            .filter(|f| f != finalizer)
            .collect();
        if kept.is_empty() {
            meta.remove("finalizers");
        } else {
            meta.insert("finalizers".into(), json!(kept));
        }
    })
}

fn delete(store: &Store, key: &ObjKey, propagation: Propagation) -> Result<(), ApiError> {
    let opts = DeleteOptions {
        propagation: Some(propagation),
        preconditions_uid: Some(key.uid.clone()),
        ..DeleteOptions::default()
    };
    store
        .delete_ext(&key.gvr, key.namespace.as_deref(), &key.name, &opts)
        .map(|_| ())
}
