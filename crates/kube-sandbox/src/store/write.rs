//! The write paths of the store: create, update (main and status), read-modify-write, delete.

use std::sync::Arc;

use serde_json::{Value, json};

use super::meta::{self, metadata_mut};
use super::stored::Stored;
use super::types::NewChange;
use super::{
    ApiError, Cause, DeleteOptions, DeleteOutcome, EventKind, Gvr, Inner, Propagation, ResourceInfo, Store,
    Subresource, WriteOptions, key, namespaces_gvr,
};

const MAX_NAME_ATTEMPTS: usize = 8;

fn set_meta(obj: &mut Value, k: &str, v: Value) {
    if let Some(m) = metadata_mut(obj) {
        m.insert(k.to_string(), v);
    }
}

fn set_type_meta(info: &ResourceInfo, obj: &mut Value) {
    if let Some(m) = obj.as_object_mut() {
        m.insert("apiVersion".into(), Value::String(info.api_version()));
        m.insert("kind".into(), Value::String(info.kind.clone()));
    }
}

fn track(old: Option<&Value>, new: &mut Value, opts: &WriteOptions, sub: Subresource) {
    if let Some(manager) = &opts.field_manager {
        let op = opts.operation.as_deref().unwrap_or("Update");
        if op == "Apply" {
            // The apply path computed managedFields itself.
            return;
        }
        let sub = (sub == Subresource::Status).then_some("status");
        crate::apply::track_update(old, new, manager, op, &meta::now_rfc3339(), sub);
    }
}

/// Whether a write outcome changed the stored object.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Written {
    Created,
    Updated,
    Unchanged,
    /// The update removed the last finalizer of an object being deleted.
    Deleted,
}

impl Store {
    fn type_info(inner: &Inner, gvr: &Gvr) -> Result<Arc<ResourceInfo>, ApiError> {
        inner
            .types
            .get(gvr)
            .map(|t| t.info.clone())
            .ok_or_else(ApiError::unknown_resource)
    }

    pub fn create(&self, gvr: &Gvr, obj: Value) -> Result<Value, ApiError> {
        self.create_with(gvr, obj, &WriteOptions::default())
    }

    /// Create: assigns name (generateName), uid, creationTimestamp, generation and resourceVersion.
    pub fn create_with(&self, gvr: &Gvr, mut obj: Value, opts: &WriteOptions) -> Result<Value, ApiError> {
        if !obj.is_object() {
            return Err(ApiError::bad_request("the request body must be a JSON object"));
        }
        let strategy = self.strategy();
        let mut inner = self.shared.inner.lock();
        let info = Self::type_info(&inner, gvr)?;
        let namespace = if info.namespaced {
            let ns = meta::namespace_of(&obj).map(str::to_string).ok_or_else(|| {
                ApiError::bad_request("the namespace of the object is required for a namespaced resource")
            })?;
            Self::check_namespace_open(&inner, &ns)?;
            Some(ns)
        } else {
            if let Some(m) = metadata_mut(&mut obj) {
                m.remove("namespace");
            }
            None
        };
        let state = inner.types.get(gvr).ok_or_else(ApiError::unknown_resource)?;
        let mut name = meta::name_of(&obj).to_string();
        if name.is_empty()
            && let Some(prefix) = meta::meta_str(&obj, "generateName").map(str::to_string)
        {
            {
                let free = (0..MAX_NAME_ATTEMPTS)
                    .map(|_| meta::generate_name(&prefix))
                    .find(|n| !state.objects.contains_key(&key(namespace.as_deref(), n)));
                name = free.ok_or_else(|| {
                    let mut e = ApiError::already_exists(gvr, &prefix);
                    e.message
                        .push_str(", the server was not able to generate a unique name for the object");
                    if let Some(d) = e.details.as_mut().and_then(Value::as_object_mut) {
                        d.insert("retryAfterSeconds".into(), json!(1));
                    }
                    e
                })?;
                set_meta(&mut obj, "name", Value::String(name.clone()));
            }
        }
        meta::validate_name(&info, &name)?;
        meta::validate_meta(&info, &obj)?;
        if state.objects.contains_key(&key(namespace.as_deref(), &name)) {
            return Err(ApiError::already_exists(gvr, &name));
        }
        set_type_meta(&info, &mut obj);
        if let Some(m) = metadata_mut(&mut obj) {
            for k in [
                "deletionTimestamp",
                "deletionGracePeriodSeconds",
                "resourceVersion",
                "selfLink",
            ] {
                m.remove(k);
            }
            m.insert("uid".into(), Value::String(meta::new_uid()));
            m.insert("creationTimestamp".into(), Value::String(meta::now_rfc3339()));
            if info.has_generation {
                m.insert("generation".into(), json!(1));
            } else {
                m.remove("generation");
            }
        }
        if info.status_subresource
            && let Some(m) = obj.as_object_mut()
        {
            m.remove("status");
        }
        strategy.prepare_create(&info, &mut obj)?;
        track(None, &mut obj, opts, Subresource::Main);
        if opts.dry_run {
            return Ok(obj);
        }
        inner.rv += 1;
        let rv = inner.rv;
        set_meta(&mut obj, "resourceVersion", Value::String(rv.to_string()));
        let stored = Arc::new(obj);
        if let Some(state) = inner.types.get_mut(gvr) {
            state
                .objects
                .insert(key(namespace.as_deref(), &name), Stored::encode(&stored));
        }
        let out = (*stored).clone();
        self.publish(
            &mut inner,
            NewChange {
                gvr: gvr.clone(),
                kind: EventKind::Added,
                rv,
                namespace,
                object: stored,
                old: None,
            },
        );
        Ok(out)
    }

    fn check_namespace_open(inner: &Inner, ns: &str) -> Result<(), ApiError> {
        let Some(nss) = inner.types.get(&namespaces_gvr()) else {
            return Ok(());
        };
        match nss.objects.get(&key(None, ns)) {
            None => Err(ApiError::namespace_not_found(ns)),
            Some(n) if meta::is_deleting(&n.decode()) => Err(ApiError::forbidden(format!(
                "unable to create new content in namespace {ns} because it is being terminated"
            ))
            .with_details(json!({"name": ns, "kind": "namespaces", "causes": [{
                "reason": "NamespaceTerminating",
                "message": format!("namespace {ns} is being terminated"),
                "field": "metadata.namespace"}]}))),
            Some(_) => Ok(()),
        }
    }

    /// PUT semantics: replaces the object (status kept from the stored one when it is a subresource).
    pub fn update(&self, gvr: &Gvr, obj: Value) -> Result<Value, ApiError> {
        self.update_with(gvr, obj, &WriteOptions::default(), Subresource::Main)
            .map(|(v, _)| v)
    }

    /// Status PUT semantics: only `.status` of `obj` is taken.
    pub fn update_status(&self, gvr: &Gvr, obj: Value) -> Result<Value, ApiError> {
        self.update_with(gvr, obj, &WriteOptions::default(), Subresource::Status)
            .map(|(v, _)| v)
    }

    pub fn update_with(
        &self,
        gvr: &Gvr,
        obj: Value,
        opts: &WriteOptions,
        sub: Subresource,
    ) -> Result<(Value, Written), ApiError> {
        let ns = meta::namespace_of(&obj).map(str::to_string);
        let name = meta::name_of(&obj).to_string();
        let info = self.info(gvr).ok_or_else(ApiError::unknown_resource)?;
        if meta::rv_of(&obj).is_none() && !info.allow_unconditional_update {
            return Err(ApiError::invalid(
                &info.kind,
                &gvr.group,
                &name,
                vec![Cause::new(
                    "FieldValueInvalid",
                    "metadata.resourceVersion",
                    "Invalid value: 0x0: must be specified for an update",
                )],
            ));
        }
        let ns = if info.namespaced { ns } else { None };
        self.mutate(gvr, ns.as_deref(), &name, sub, opts, |current| match current {
            Some(_) => Ok(obj.clone()),
            None => Err(ApiError::not_found(gvr, &name)),
        })
    }

    /// Read-modify-write under the store lock (patch, apply): `f` gets the current object (None when absent) and
    /// returns the desired one. A desired object for an absent one is created (apply). A `metadata.resourceVersion`
    /// in the result that differs from the stored one is a 409, as a stale PUT is. `f` may run more than once when
    /// a concurrent create races with it.
    pub fn mutate<F>(
        &self,
        gvr: &Gvr,
        namespace: Option<&str>,
        name: &str,
        sub: Subresource,
        opts: &WriteOptions,
        mut f: F,
    ) -> Result<(Value, Written), ApiError>
    where
        F: FnMut(Option<&Value>) -> Result<Value, ApiError>,
    {
        let mut attempts = 0;
        loop {
            attempts += 1;
            if self.get_arc(gvr, namespace, name).is_none() {
                let mut obj = f(None)?;
                if let Some(ns) = namespace {
                    set_meta(&mut obj, "namespace", Value::String(ns.to_string()));
                }
                set_meta(&mut obj, "name", Value::String(name.to_string()));
                match self.create_with(gvr, obj, opts) {
                    Ok(v) => return Ok((v, Written::Created)),
                    Err(e) if e.code == 409 && attempts < 3 => continue,
                    Err(e) => return Err(e),
                }
            }
            match self.commit_update(gvr, namespace, name, sub, opts, &mut f) {
                Err(e) if e.code == 404 && e.reason == "NotFound" && attempts < 3 => {}
                other => return other,
            }
        }
    }

    fn commit_update<F>(
        &self,
        gvr: &Gvr,
        namespace: Option<&str>,
        name: &str,
        sub: Subresource,
        opts: &WriteOptions,
        f: &mut F,
    ) -> Result<(Value, Written), ApiError>
    where
        F: FnMut(Option<&Value>) -> Result<Value, ApiError>,
    {
        let strategy = self.strategy();
        let mut inner = self.shared.inner.lock();
        let info = Self::type_info(&inner, gvr)?;
        let old = inner
            .types
            .get(gvr)
            .and_then(|t| t.objects.get(&key(namespace, name)))
            .map(Stored::decode)
            .ok_or_else(|| ApiError::not_found(gvr, name))?;
        let desired = f(Some(&old))?;
        let old_rv = meta::rv_of(&old).unwrap_or(0);
        if let Some(rv) = meta::rv_of(&desired)
            && rv != old_rv
        {
            return Err(ApiError::conflict(gvr, name));
        }
        if let (Some(want), Some(have)) = (meta::meta_str(&desired, "uid"), meta::meta_str(&old, "uid"))
            && !want.is_empty()
            && want != have
        {
            return Err(ApiError::conflict_msg(
                gvr,
                name,
                &format!("Precondition failed: UID in precondition: {want}, UID in object meta: {have}"),
            ));
        }
        if meta::meta_str(&desired, "resourceVersion").is_some_and(|s| s.parse::<u64>().is_err()) {
            return Err(ApiError::bad_request(
                "metadata.resourceVersion: Invalid value: the resourceVersion must be a decimal integer",
            ));
        }
        if desired.get("metadata").is_some_and(|m| !m.is_object()) || !desired.is_object() {
            return Err(ApiError::bad_request(
                "the object and its metadata must be JSON objects",
            ));
        }
        let mut new = match sub {
            Subresource::Main => {
                let mut n = desired;
                if info.status_subresource
                    && let Some(m) = n.as_object_mut()
                {
                    match old.get("status") {
                        Some(s) => m.insert("status".into(), s.clone()),
                        None => m.remove("status"),
                    };
                }
                n
            }
            Subresource::Status => {
                let mut n = (*old).clone();
                if let Some(m) = n.as_object_mut() {
                    match desired.get("status") {
                        Some(s) => m.insert("status".into(), s.clone()),
                        None => m.remove("status"),
                    };
                }
                if let Some(mf) = desired.pointer("/metadata/managedFields") {
                    set_meta(&mut n, "managedFields", mf.clone());
                }
                n
            }
        };
        set_type_meta(&info, &mut new);
        // Fields clients cannot change: copied from the stored object.
        if let (Some(om), Some(nm)) = (
            old.get("metadata").and_then(Value::as_object).cloned(),
            metadata_mut(&mut new),
        ) {
            for k in [
                "uid",
                "creationTimestamp",
                "deletionTimestamp",
                "deletionGracePeriodSeconds",
                "generation",
                "name",
                "namespace",
            ] {
                match om.get(k) {
                    Some(v) => nm.insert(k.to_string(), v.clone()),
                    None => nm.remove(k),
                };
            }
            nm.insert("resourceVersion".into(), Value::String(old_rv.to_string()));
        }
        if meta::is_deleting(&old) {
            let before = meta::finalizers_of(&old);
            if meta::finalizers_of(&new).iter().any(|f| !before.contains(f)) {
                return Err(ApiError::invalid(
                    &info.kind,
                    &gvr.group,
                    name,
                    vec![Cause::new(
                        "FieldValueForbidden",
                        "metadata.finalizers",
                        "Forbidden: no new finalizers can be added if the object is being deleted",
                    )],
                ));
            }
        }
        meta::validate_meta(&info, &new)?;
        strategy.prepare_update(&info, &old, &mut new, sub)?;
        if info.has_generation && meta::generation_relevant_changed(&old, &new, info.status_subresource) {
            let g = old
                .pointer("/metadata/generation")
                .and_then(Value::as_i64)
                .unwrap_or(0);
            set_meta(&mut new, "generation", json!(g + 1));
        }
        if meta::same_ignoring_managed_times(&new, &old) {
            return Ok(((*old).clone(), Written::Unchanged));
        }
        track(Some(&old), &mut new, opts, sub);
        let finished = meta::is_deleting(&new) && meta::pending_finalizers(&info, &new) == 0;
        if opts.dry_run {
            return Ok((
                new,
                if finished {
                    Written::Deleted
                } else {
                    Written::Updated
                },
            ));
        }
        inner.rv += 1;
        let rv = inner.rv;
        set_meta(&mut new, "resourceVersion", Value::String(rv.to_string()));
        let stored = Arc::new(new);
        let k = key(namespace, name);
        if let Some(state) = inner.types.get_mut(gvr) {
            if finished {
                state.objects.remove(&k);
            } else {
                state.objects.insert(k, Stored::encode(&stored));
            }
        }
        let out = (*stored).clone();
        let ns = namespace.map(str::to_string);
        // Like upstream, the update that removes the last finalizer is persisted (MODIFIED), then the object is
        // deleted (DELETED, with its own resourceVersion).
        self.publish(
            &mut inner,
            NewChange {
                gvr: gvr.clone(),
                kind: EventKind::Modified,
                rv,
                namespace: ns.clone(),
                object: stored.clone(),
                old: Some(old),
            },
        );
        if finished {
            inner.rv += 1;
            let del_rv = inner.rv;
            let mut last = (*stored).clone();
            set_meta(&mut last, "resourceVersion", Value::String(del_rv.to_string()));
            let last = Arc::new(last);
            self.publish(
                &mut inner,
                NewChange {
                    gvr: gvr.clone(),
                    kind: EventKind::Deleted,
                    rv: del_rv,
                    namespace: ns,
                    object: last.clone(),
                    old: Some(stored),
                },
            );
            return Ok(((*last).clone(), Written::Deleted));
        }
        Ok((out, Written::Updated))
    }

    pub fn delete(
        &self,
        gvr: &Gvr,
        namespace: Option<&str>,
        name: &str,
        opts: &DeleteOptions,
    ) -> Result<Value, ApiError> {
        self.delete_ext(gvr, namespace, name, opts)
            .map(DeleteOutcome::into_object)
    }

    /// DELETE: immediate removal, or marking (deletionTimestamp, generation+1) while finalizers remain.
    /// Foreground and Orphan propagation add the `foregroundDeletion` / `orphan` finalizer for the collector.
    pub fn delete_ext(
        &self,
        gvr: &Gvr,
        namespace: Option<&str>,
        name: &str,
        opts: &DeleteOptions,
    ) -> Result<DeleteOutcome, ApiError> {
        let mut inner = self.shared.inner.lock();
        let info = Self::type_info(&inner, gvr)?;
        let namespace = if info.namespaced { namespace } else { None };
        let k = key(namespace, name);
        let old = inner
            .types
            .get(gvr)
            .and_then(|t| t.objects.get(&k))
            .map(Stored::decode)
            .ok_or_else(|| ApiError::not_found(gvr, name))?;
        if let Some(uid) = &opts.preconditions_uid {
            let actual = meta::meta_str(&old, "uid").unwrap_or("");
            if uid != actual {
                return Err(ApiError::conflict_msg(
                    gvr,
                    name,
                    &format!("Precondition failed: UID in precondition: {uid}, UID in object meta: {actual}"),
                ));
            }
        }
        if let Some(rv) = &opts.preconditions_rv {
            let actual = meta::meta_str(&old, "resourceVersion").unwrap_or("");
            if rv != actual {
                return Err(ApiError::conflict_msg(
                    gvr,
                    name,
                    &format!(
                        "Precondition failed: ResourceVersion in precondition: {rv}, ResourceVersion in object meta: {actual}"
                    ),
                ));
            }
        }
        let mut finalizers = meta::finalizers_of(&old);
        let wanted = match opts.propagation.unwrap_or(info.default_propagation) {
            Propagation::Foreground => Some("foregroundDeletion"),
            Propagation::Orphan => Some("orphan"),
            Propagation::Background => None,
        };
        // Orphaning or waiting for dependents only means something when someone might depend on the object;
        // upstream adds the finalizer unconditionally, and the collector removes it.
        let mut added = false;
        if let Some(f) = wanted
            && !finalizers.iter().any(|x| x == f)
        {
            finalizers.push(f.to_string());
            added = true;
        }
        let mut new = (*old).clone();
        let pending = meta::pending_finalizers(&info, &old) + usize::from(added);
        let rv_next = inner.rv + 1;
        if pending > 0 {
            if meta::is_deleting(&old) && !added {
                return Ok(DeleteOutcome::Pending((*old).clone()));
            }
            if let Some(m) = metadata_mut(&mut new) {
                m.insert("finalizers".into(), json!(finalizers));
                if !meta::is_deleting(&old) {
                    m.insert("deletionTimestamp".into(), Value::String(meta::now_rfc3339()));
                    m.insert("deletionGracePeriodSeconds".into(), json!(0));
                    if info.has_generation {
                        let g = m.get("generation").and_then(Value::as_i64).unwrap_or(0);
                        m.insert("generation".into(), json!(g + 1));
                    }
                }
            }
            if info.gvr == namespaces_gvr()
                && let Some(m) = new.as_object_mut()
            {
                m.insert("status".into(), json!({"phase": "Terminating"}));
            }
            if opts.dry_run {
                return Ok(DeleteOutcome::Pending(new));
            }
            inner.rv = rv_next;
            set_meta(&mut new, "resourceVersion", Value::String(rv_next.to_string()));
            let stored = Arc::new(new);
            if let Some(state) = inner.types.get_mut(gvr) {
                state.objects.insert(k, Stored::encode(&stored));
            }
            let out = (*stored).clone();
            self.publish(
                &mut inner,
                NewChange {
                    gvr: gvr.clone(),
                    kind: EventKind::Modified,
                    rv: rv_next,
                    namespace: namespace.map(str::to_string),
                    object: stored,
                    old: Some(old),
                },
            );
            return Ok(DeleteOutcome::Pending(out));
        }
        if opts.dry_run {
            return Ok(DeleteOutcome::Deleted(new));
        }
        inner.rv = rv_next;
        set_meta(&mut new, "resourceVersion", Value::String(rv_next.to_string()));
        let stored = Arc::new(new);
        if let Some(state) = inner.types.get_mut(gvr) {
            state.objects.remove(&k);
        }
        let out = (*stored).clone();
        self.publish(
            &mut inner,
            NewChange {
                gvr: gvr.clone(),
                kind: EventKind::Deleted,
                rv: rv_next,
                namespace: namespace.map(str::to_string),
                object: stored,
                old: Some(old),
            },
        );
        Ok(DeleteOutcome::Deleted(out))
    }
}
