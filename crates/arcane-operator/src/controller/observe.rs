//! Observe: read the level-based state of one stream from the shared caches.

use std::sync::Arc;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition;
use kube::api::DynamicObject;
use kube::runtime::reflector::{ObjectRef, Store};
use kube::{Resource, ResourceExt};
use serde_json::Value;

use super::context::SharedWatches;
use crate::crd::{BackfillRequest, StreamingJobTemplate};
use crate::stream::names::workload_name;
use crate::stream::parse;
use crate::stream::{
    ClassInfo, Observed, StreamDefinition, StreamIdentity, StreamStatus, TemplateRef, Workload, WorkloadKind,
};

/// Builds the observed state of `object` for a decision at `now`.
pub fn observe(
    object: &DynamicObject,
    api_version: &str,
    kind: &str,
    class: &ClassInfo,
    shared: &SharedWatches,
    now: jiff::Timestamp,
) -> Observed {
    let mut identity = parse::identity(object);
    if identity.api_version.is_empty() {
        identity.api_version = api_version.to_string();
    }
    if identity.kind.is_empty() {
        identity.kind = kind.to_string();
    }
    let definition = parse::parse(object, &class.secret_refs);
    let streaming_template = definition
        .as_ref()
        .ok()
        .and_then(|d| template(shared.templates.store(), &d.streaming_template));
    let backfill_template = definition
        .as_ref()
        .ok()
        .and_then(|d| d.backfill_template.as_ref())
        .and_then(|r| template(shared.templates.store(), r));
    let workload = workload(&identity, definition.as_ref().ok(), shared);
    let backfill_requests = requests_for(shared, &identity)
        .into_iter()
        .map(|r| (*r).clone())
        .collect();
    Observed {
        now,
        class: class.clone(),
        status: status(object.data.get("status")),
        identity,
        definition,
        workload,
        backfill_requests,
        streaming_template,
        backfill_template,
        // Filled in by the controller, which holds it.
        remembered: Default::default(),
    }
}

/// The cached BackfillRequests naming the stream (any class, completed or not).
pub fn requests_for(shared: &SharedWatches, identity: &StreamIdentity) -> Vec<Arc<BackfillRequest>> {
    shared
        .requests
        .store()
        .state()
        .into_iter()
        .filter(|r| r.namespace().as_deref() == Some(identity.namespace.as_str()))
        .filter(|r| r.spec.stream_id == identity.name)
        .collect()
}

fn template(store: &Store<StreamingJobTemplate>, r: &TemplateRef) -> Option<Arc<StreamingJobTemplate>> {
    store.get(&ObjectRef::new(&r.name).within(&r.namespace))
}

/// The stream's workload: the Job or CronJob of its name that it controls. When both exist (an
/// interrupted backend switch), the one the definition no longer wants comes first, so it is removed.
fn workload(
    identity: &StreamIdentity,
    definition: Option<&StreamDefinition>,
    shared: &SharedWatches,
) -> Option<Workload> {
    let job = controlled(shared.jobs.store(), identity, WorkloadKind::Job)
        .map(|j| Workload::Job(Box::new(j.to_workload())));
    let cronjob = controlled(shared.cronjobs.store(), identity, WorkloadKind::CronJob)
        .map(|c| Workload::CronJob(Box::new(c.to_workload())));
    let wants_cronjob = matches!(
        definition.map(|d| &d.backend),
        Some(crate::stream::Backend::CronJob { .. })
    );
    match (job, cronjob) {
        (Some(job), Some(cronjob)) => Some(if wants_cronjob { job } else { cronjob }),
        (job, cronjob) => job.or(cronjob),
    }
}

fn controlled<K>(store: &Store<K>, identity: &StreamIdentity, kind: WorkloadKind) -> Option<Arc<K>>
where
    K: Resource<DynamicType = ()> + Clone + 'static,
{
    let name = workload_name(&identity.name, kind);
    let obj = store.get(&ObjectRef::new(&name).within(&identity.namespace))?;
    let owned = obj
        .meta()
        .owner_references
        .iter()
        .flatten()
        .any(|o| o.controller == Some(true) && o.uid == identity.uid);
    owned.then_some(obj)
}

/// Reads `status` leniently: a field of the wrong type counts as absent, a malformed condition is
/// skipped. Nothing in a plugin's status can fail a reconcile.
pub fn status(value: Option<&Value>) -> StreamStatus {
    let Some(value) = value else {
        return StreamStatus::default();
    };
    // An empty string is how a field is cleared without `null` (which a required field refuses).
    let str_field = |k: &str| {
        value
            .get(k)
            .and_then(Value::as_str)
            .filter(|v| !v.is_empty())
            .map(str::to_string)
    };
    StreamStatus {
        phase: str_field("phase"),
        conditions: value
            .get("conditions")
            .and_then(Value::as_array)
            .map(|items| {
                items
                    .iter()
                    .filter_map(|c| serde_json::from_value::<Condition>(c.clone()).ok())
                    .collect()
            })
            .unwrap_or_default(),
        observed_generation: value.get("observedGeneration").and_then(Value::as_i64),
        configuration_hash: str_field("configurationHash"),
        backfill_request: str_field("backfillRequest"),
        restarts: value
            .get("restarts")
            .and_then(Value::as_u64)
            .and_then(|r| u32::try_from(r).ok()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn status_is_read_leniently() {
        let s = status(Some(&json!({
            "phase": "Running",
            "conditions": [
                {"type": "Ready", "status": "True", "reason": "StreamRunning", "message": "m",
                 "lastTransitionTime": "2026-01-01T00:00:00Z"},
                {"type": 5},
            ],
            "observedGeneration": "not a number",
            "configurationHash": "abc",
            "restarts": 3,
        })));
        assert_eq!(s.phase.as_deref(), Some("Running"));
        assert_eq!(s.conditions.len(), 1);
        assert_eq!(s.observed_generation, None);
        assert_eq!(s.configuration_hash.as_deref(), Some("abc"));
        assert_eq!(s.restarts, Some(3));
        assert_eq!(status(Some(&json!("garbage"))), StreamStatus::default());
        assert_eq!(status(None), StreamStatus::default());
    }
}
