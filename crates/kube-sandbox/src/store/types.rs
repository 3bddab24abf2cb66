//! Value types shared by the store, the HTTP layer and the controllers.

use std::sync::Arc;

use serde_json::Value;

use super::ApiError;

/// Identifies a resource type: group ("" = core), version and plural resource name.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Gvr {
    pub group: String,
    pub version: String,
    pub resource: String,
}

impl Gvr {
    pub fn new(group: &str, version: &str, resource: &str) -> Self {
        Gvr {
            group: group.to_string(),
            version: version.to_string(),
            resource: resource.to_string(),
        }
    }

    /// `v1` for the core group, `group/version` otherwise.
    pub fn api_version(&self) -> String {
        if self.group.is_empty() {
            self.version.clone()
        } else {
            format!("{}/{}", self.group, self.version)
        }
    }

    /// The "qualified resource" used in Status messages: `configmaps`, `widgets.example.com`.
    pub fn qualified(&self) -> String {
        if self.group.is_empty() {
            self.resource.clone()
        } else {
            format!("{}.{}", self.resource, self.group)
        }
    }
}

/// Which object the garbage collector's default propagation applies to when a DELETE names none.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Propagation {
    Orphan,
    Background,
    Foreground,
}

impl Propagation {
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "Orphan" => Some(Propagation::Orphan),
            "Background" => Some(Propagation::Background),
            "Foreground" => Some(Propagation::Foreground),
            _ => None,
        }
    }
}

/// Schema-derived facts of a CRD-defined resource version.
#[derive(Clone, Debug, Default)]
pub struct CrdFacts {
    /// `schema.openAPIV3Schema` of this version (Null when absent).
    pub schema: Value,
    pub printer_columns: Vec<Value>,
    /// jsonPaths of `selectableFields`, without the leading dot (`spec.color`).
    pub selectable_fields: Vec<String>,
    /// Name of the CRD (`widgets.example.com`).
    pub crd_name: String,
}

/// Everything the store and the server need to know about one served resource type.
#[derive(Clone, Debug)]
pub struct ResourceInfo {
    pub gvr: Gvr,
    pub kind: String,
    pub singular: String,
    pub namespaced: bool,
    pub status_subresource: bool,
    /// Whether `metadata.generation` is maintained (not for ConfigMaps, Secrets, Namespaces, ...).
    pub has_generation: bool,
    pub short_names: Vec<String>,
    pub categories: Vec<String>,
    /// A PUT without `metadata.resourceVersion` is accepted (false for custom resources: 422).
    pub allow_unconditional_update: bool,
    /// DELETE returns the deleted object instead of a Status (pods, serviceaccounts).
    pub return_deleted_object: bool,
    /// Propagation used when a DELETE names none (Orphan for batch/v1 Jobs).
    pub default_propagation: Propagation,
    /// Present for CRD-defined types.
    pub crd: Option<Arc<CrdFacts>>,
    /// Verbs advertised in discovery.
    pub verbs: Vec<String>,
}

impl ResourceInfo {
    pub fn api_version(&self) -> String {
        self.gvr.api_version()
    }

    pub fn is_custom(&self) -> bool {
        self.crd.is_some()
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EventKind {
    Added,
    Modified,
    Deleted,
}

impl EventKind {
    pub fn as_str(self) -> &'static str {
        match self {
            EventKind::Added => "ADDED",
            EventKind::Modified => "MODIFIED",
            EventKind::Deleted => "DELETED",
        }
    }
}

/// One change, as the controllers see it (every type, every change).
#[derive(Clone, Debug)]
pub struct StoreEvent {
    pub gvr: Gvr,
    pub kind: EventKind,
    /// Parsed by the receiver from the shared `Change`.
    pub object: Arc<Value>,
}

impl StoreEvent {
    /// The change, parsed.
    pub fn of(change: &Change) -> StoreEvent {
        StoreEvent {
            gvr: change.gvr.clone(),
            kind: change.kind,
            object: change.object.decode(),
        }
    }
}

/// One change as the watch machinery sees it: shared, with the previous state for selector transitions.
#[derive(Debug)]
pub struct Change {
    pub gvr: Gvr,
    pub kind: EventKind,
    pub rv: u64,
    pub namespace: Option<String>,
    /// The object as stored (JSON bytes): the watch history and the watchers' broadcast hold thousands of
    /// changes, which as parsed values took most of the sandbox's memory.
    pub object: super::Stored,
    /// The state before this change (None for ADDED).
    pub old: Option<super::Stored>,
}

/// A change as a write produces it (parsed objects), before `publish` stores it compactly.
pub(crate) struct NewChange {
    pub gvr: Gvr,
    pub kind: EventKind,
    pub rv: u64,
    pub namespace: Option<String>,
    pub object: Arc<Value>,
    pub old: Option<Arc<Value>>,
}

#[derive(Clone, Debug, Default)]
pub struct DeleteOptions {
    pub propagation: Option<Propagation>,
    pub preconditions_uid: Option<String>,
    pub preconditions_rv: Option<String>,
    pub grace_period_seconds: Option<i64>,
    pub dry_run: bool,
}

/// Options of a write other than delete.
#[derive(Clone, Debug, Default)]
pub struct WriteOptions {
    /// Field manager recorded in managedFields (None = no managedFields bookkeeping).
    pub field_manager: Option<String>,
    pub dry_run: bool,
    /// Operation recorded in managedFields ("Update" unless set).
    pub operation: Option<String>,
}

impl WriteOptions {
    pub fn manager(name: &str) -> Self {
        WriteOptions {
            field_manager: Some(name.to_string()),
            ..Default::default()
        }
    }
}

/// Which part of an object a write targets.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Subresource {
    Main,
    Status,
}

/// The result of a DELETE.
#[derive(Clone, Debug)]
pub enum DeleteOutcome {
    /// The object is gone; this is its last state, stamped with the deletion's resourceVersion.
    Deleted(Value),
    /// The object has finalizers: it is marked (deletionTimestamp) and still present.
    Pending(Value),
}

impl DeleteOutcome {
    pub fn into_object(self) -> Value {
        match self {
            DeleteOutcome::Deleted(v) | DeleteOutcome::Pending(v) => v,
        }
    }
}

/// Type-specific defaulting and validation, installed by the registry (Jobs, CRDs, custom resources...).
pub trait Strategy: Send + Sync {
    /// Runs on create after the generic metadata is set (name, uid, timestamps).
    fn prepare_create(&self, info: &ResourceInfo, obj: &mut Value) -> Result<(), ApiError>;
    /// Runs on update after the generic rules (status scoping, immutable metadata) were applied to `new`.
    fn prepare_update(
        &self,
        info: &ResourceInfo,
        old: &Value,
        new: &mut Value,
        sub: Subresource,
    ) -> Result<(), ApiError>;
}

/// A strategy that accepts everything unchanged.
pub struct NoStrategy;

impl Strategy for NoStrategy {
    fn prepare_create(&self, _: &ResourceInfo, _: &mut Value) -> Result<(), ApiError> {
        Ok(())
    }
    fn prepare_update(
        &self,
        _: &ResourceInfo,
        _: &Value,
        _: &mut Value,
        _: Subresource,
    ) -> Result<(), ApiError> {
        Ok(())
    }
}
