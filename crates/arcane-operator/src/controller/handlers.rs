//! Command handlers: perform a decision's commands against the API, idempotently.
//!
//! Running a command twice has the effect of running it once: creates that answer `AlreadyExists`
//! are resolved by reading what exists, deletes carry a UID precondition and accept `NotFound`, and
//! patches are guarded by `test` operations.

use k8s_openapi::api::batch::v1::{CronJob, Job};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, Time};
use kube::api::{
    ApiResource, DeleteParams, DynamicObject, ListParams, Patch, PatchParams, PostParams, Preconditions,
    PropagationPolicy,
};
use kube::runtime::events::{Event, EventType as KubeEventType};
use kube::{Api, Resource, ResourceExt};
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};

use super::context::Context;
use super::error::{Error, api_code};
use crate::crd::BackfillRequest;
use crate::stream::names::label_value;
use crate::stream::{
    ANNOTATION_BACKFILL_REQUEST, CONTROLLER_NAME, Command, DesiredStatus, EventNote, EventType, LABEL_STREAM_ID,
    LEGACY_STATE_RELOAD_REQUESTED, StreamIdentity, Workload, WorkloadKind,
};

/// The stream a batch of commands acts on.
pub struct Target<'a> {
    pub object: &'a DynamicObject,
    pub resource: &'a ApiResource,
    pub identity: &'a StreamIdentity,
}

/// What executing a decision did, for metrics and logs.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Executed {
    pub writes: u32,
    pub skipped: u32,
}

/// Runs `commands` in order; stops at the first failure, after publishing a Warning Event for it.
pub async fn execute(ctx: &Context, target: &Target<'_>, commands: &[Command]) -> Result<Executed, Error> {
    let mut executed = Executed::default();
    for command in commands {
        match run(ctx, target, command).await {
            Ok(true) => executed.writes += 1,
            Ok(false) => executed.skipped += 1,
            Err(error) => {
                let note = EventNote {
                    type_: EventType::Warning,
                    reason: failure_reason(command).to_string(),
                    message: error.to_string(),
                };
                publish(ctx, target, &note).await;
                return Err(error);
            }
        }
    }
    Ok(executed)
}

fn failure_reason(command: &Command) -> &'static str {
    match command {
        Command::CreateWorkload(_) => "FailedCreateJob",
        Command::DeleteWorkload { .. } => "FailedDeleteJob",
        Command::CreateBackfillRequest(_) => "FailedCreateBackfillRequest",
        Command::CompleteBackfillRequest { .. } | Command::RejectBackfillRequest { .. } => {
            "FailedUpdateBackfillRequest"
        }
        Command::PatchStatus(_) => "FailedUpdateStatus",
        Command::RemoveLegacyAnnotation => "FailedUpdateAnnotations",
        Command::PublishEvent(_) => "FailedPublishEvent",
    }
}

/// Runs one command; `Ok(false)` when there was nothing left to do.
async fn run(ctx: &Context, target: &Target<'_>, command: &Command) -> Result<bool, Error> {
    let ns = target.identity.namespace.as_str();
    match command {
        Command::CreateWorkload(Workload::Job(job)) => {
            if let Some(request) = job.annotations().get(ANNOTATION_BACKFILL_REQUEST)
                && !request_still_active(ctx, ns, request).await?
            {
                // A stale cache showed a request that has since completed: never run it twice.
                return Ok(false);
            }
            create_owned(ctx, ns, job.as_ref(), target.identity).await
        }
        Command::CreateWorkload(Workload::CronJob(cronjob)) => {
            create_owned(ctx, ns, cronjob.as_ref(), target.identity).await
        }
        Command::DeleteWorkload { kind, name, uid } => match kind {
            WorkloadKind::Job => delete_workload::<Job>(ctx, ns, name, uid).await,
            WorkloadKind::CronJob => delete_workload::<CronJob>(ctx, ns, name, uid).await,
        },
        Command::CreateBackfillRequest(request) => create_request(ctx, target, request).await,
        Command::CompleteBackfillRequest { name, uid } => complete_request(ctx, ns, name, uid).await,
        Command::RejectBackfillRequest { name, uid, message } => {
            let condition = condition("Completed", "False", "BackfillRejected", message);
            let status = json!({"status": {"phase": "Failed", "conditions": [condition]}});
            patch_request_status(ctx, ns, name, uid, status).await
        }
        Command::PatchStatus(status) => patch_status(ctx, target, status).await,
        Command::RemoveLegacyAnnotation => remove_legacy_annotation(ctx, target).await,
        Command::PublishEvent(note) => {
            publish(ctx, target, note).await;
            Ok(true)
        }
    }
}

fn post_params() -> PostParams {
    PostParams {
        field_manager: Some(CONTROLLER_NAME.to_string()),
        ..PostParams::default()
    }
}

fn patch_params() -> PatchParams {
    PatchParams {
        field_manager: Some(CONTROLLER_NAME.to_string()),
        ..PatchParams::default()
    }
}

fn is_already_exists(error: &kube::Error) -> bool {
    matches!(error, kube::Error::Api(s) if s.code == 409 && s.reason == "AlreadyExists")
}

/// Creates a workload; `AlreadyExists` is resolved by reading: ours is success, anyone else's is an
/// error that names it. Never a second workload.
async fn create_owned<K>(ctx: &Context, ns: &str, obj: &K, identity: &StreamIdentity) -> Result<bool, Error>
where
    K: Resource<DynamicType = (), Scope = k8s_openapi::NamespaceResourceScope>
        + Clone
        + Serialize
        + DeserializeOwned
        + std::fmt::Debug,
{
    let api: Api<K> = Api::namespaced(ctx.client.clone(), ns);
    match api.create(&post_params(), obj).await {
        Ok(_) => Ok(true),
        Err(error) if is_already_exists(&error) => {
            let name = obj.meta().name.clone().unwrap_or_default();
            let existing = api.get(&name).await?;
            let ours = existing
                .owner_references()
                .iter()
                .any(|o| o.controller == Some(true) && o.uid == identity.uid);
            if ours {
                Ok(false)
            } else {
                Err(Error::ForeignWorkload {
                    kind: if K::kind(&()) == "Job" { "Job" } else { "CronJob" },
                    name,
                })
            }
        }
        Err(error) => Err(error.into()),
    }
}

async fn delete_workload<K>(ctx: &Context, ns: &str, name: &str, uid: &str) -> Result<bool, Error>
where
    K: Resource<DynamicType = (), Scope = k8s_openapi::NamespaceResourceScope>
        + Clone
        + DeserializeOwned
        + std::fmt::Debug,
{
    let api: Api<K> = Api::namespaced(ctx.client.clone(), ns);
    let params = DeleteParams {
        propagation_policy: Some(PropagationPolicy::Foreground),
        preconditions: Some(Preconditions {
            uid: Some(uid.to_string()),
            resource_version: None,
        }),
        ..DeleteParams::default()
    };
    match api.delete(name, &params).await {
        Ok(_) => Ok(true),
        // Gone already, or the name now belongs to another object: nothing of ours to delete.
        Err(error) if matches!(api_code(&error), Some(404 | 409)) => Ok(false),
        Err(error) => Err(error.into()),
    }
}

async fn request_still_active(ctx: &Context, ns: &str, name: &str) -> Result<bool, Error> {
    let api: Api<BackfillRequest> = Api::namespaced(ctx.client.clone(), ns);
    match api.get_opt(name).await? {
        Some(request) => Ok(!request.spec.completed && request.meta().deletion_timestamp.is_none()),
        None => Ok(false),
    }
}

async fn create_request(ctx: &Context, target: &Target<'_>, request: &BackfillRequest) -> Result<bool, Error> {
    let ns = target.identity.namespace.as_str();
    let api: Api<BackfillRequest> = Api::namespaced(ctx.client.clone(), ns);
    let stream_label = label_value(&target.identity.name);
    let initial = request
        .meta()
        .generate_name
        .as_deref()
        .is_some_and(|g| g.ends_with("-initial-backfill-"));
    if initial {
        // The cache may not show a request created a moment ago: ask the server before creating
        // a second initial backfill.
        let selector = format!("{LABEL_STREAM_ID}={stream_label}");
        let existing = api.list(&ListParams::default().labels(&selector)).await?;
        let owned = existing.items.iter().any(|r| {
            r.owner_references().iter().any(|o| o.uid == target.identity.uid)
                && r.spec.stream_id == target.identity.name
        });
        if owned {
            return Ok(false);
        }
    }
    let mut request = request.clone();
    request.labels_mut().insert(LABEL_STREAM_ID.to_string(), stream_label);
    api.create(&post_params(), &request).await?;
    Ok(true)
}

async fn complete_request(ctx: &Context, ns: &str, name: &str, uid: &str) -> Result<bool, Error> {
    let api: Api<BackfillRequest> = Api::namespaced(ctx.client.clone(), ns);
    let patch: json_patch::Patch = serde_json::from_value(json!([
        {"op": "test", "path": "/metadata/uid", "value": uid},
        {"op": "replace", "path": "/spec/completed", "value": true},
    ]))
    .map_err(|source| Error::Serialize {
        what: "completion patch",
        source,
    })?;
    match api.patch(name, &patch_params(), &Patch::<()>::Json(patch)).await {
        Ok(_) => {}
        // Deleted, or replaced by another request of the same name: nothing to complete.
        Err(error) if matches!(api_code(&error), Some(404 | 422)) => return Ok(false),
        Err(error) => return Err(error.into()),
    }
    let condition = condition("Completed", "True", "BackfillCompleted", "The backfill Job succeeded");
    let status = json!({"status": {"conditions": [condition]}});
    patch_request_status(ctx, ns, name, uid, status).await?;
    Ok(true)
}

async fn patch_request_status(ctx: &Context, ns: &str, name: &str, uid: &str, status: Value) -> Result<bool, Error> {
    let api: Api<BackfillRequest> = Api::namespaced(ctx.client.clone(), ns);
    let mut patch = status;
    patch["metadata"] = json!({"uid": uid});
    match api.patch_status(name, &patch_params(), &Patch::Merge(&patch)).await {
        Ok(_) => Ok(true),
        Err(error) if matches!(api_code(&error), Some(404 | 409)) => Ok(false),
        Err(error) => Err(error.into()),
    }
}

fn condition(type_: &str, status: &str, reason: &str, message: &str) -> Value {
    json!({
        "type": type_,
        "status": status,
        "reason": reason,
        "message": message,
        "lastTransitionTime": jiff::Timestamp::now().to_string(),
    })
}

/// Writes the stream's status subresource: the `Ready` condition replaces ours, other conditions stay.
async fn patch_status(ctx: &Context, target: &Target<'_>, desired: &DesiredStatus) -> Result<bool, Error> {
    let observed = super::observe::status(target.object.data.get("status"));
    let mut conditions: Vec<Condition> = observed
        .conditions
        .into_iter()
        .filter(|c| c.type_ != desired.ready.type_)
        .collect();
    conditions.push(desired.ready.clone());
    let patch = json!({
        "metadata": {"uid": target.identity.uid},
        "status": {
            "phase": desired.phase.as_str(),
            "conditions": conditions,
            "observedGeneration": desired.observed_generation,
            "configurationHash": desired.configuration_hash,
            "backfillRequest": desired.backfill_request,
            "restarts": desired.restarts,
        }
    });
    let api = stream_api(ctx, target);
    match api
        .patch_status(&target.identity.name, &patch_params(), &Patch::Merge(&patch))
        .await
    {
        Ok(_) => Ok(true),
        // The stream was deleted meanwhile: nothing to report on.
        Err(error) if api_code(&error) == Some(404) => Ok(false),
        Err(error) => Err(error.into()),
    }
}

fn stream_api(ctx: &Context, target: &Target<'_>) -> Api<DynamicObject> {
    Api::namespaced_with(ctx.client.clone(), &target.identity.namespace, target.resource)
}

async fn remove_legacy_annotation(ctx: &Context, target: &Target<'_>) -> Result<bool, Error> {
    let patch: json_patch::Patch = serde_json::from_value(json!([
        {"op": "test", "path": "/metadata/annotations/arcane~1state", "value": LEGACY_STATE_RELOAD_REQUESTED},
        {"op": "remove", "path": "/metadata/annotations/arcane~1state"},
    ]))
    .map_err(|source| Error::Serialize {
        what: "annotation patch",
        source,
    })?;
    match stream_api(ctx, target)
        .patch(&target.identity.name, &patch_params(), &Patch::<()>::Json(patch))
        .await
    {
        Ok(_) => Ok(true),
        // Already removed or changed by the user: leave it.
        Err(error) if matches!(api_code(&error), Some(404 | 422)) => Ok(false),
        Err(error) => Err(error.into()),
    }
}

/// Publishes an Event on the stream; failures are logged, never fatal (Events are best effort).
async fn publish(ctx: &Context, target: &Target<'_>, note: &EventNote) {
    let event = Event {
        type_: match note.type_ {
            EventType::Normal => KubeEventType::Normal,
            EventType::Warning => KubeEventType::Warning,
        },
        reason: note.reason.clone(),
        note: Some(note.message.chars().take(1024).collect()),
        action: "Reconcile".to_string(),
        secondary: None,
    };
    let reference = target.object.object_ref(target.resource);
    if let Err(error) = ctx.recorder.publish(&event, &reference).await {
        tracing::warn!(%error, reason = %note.reason, "cannot publish event");
    }
}

/// The current time as a Kubernetes timestamp.
pub fn now() -> Time {
    Time(jiff::Timestamp::now())
}
