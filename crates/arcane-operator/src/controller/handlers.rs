//! Command handlers: perform a decision's commands against the API, idempotently.
//!
//! Running a command twice has the effect of running it once: creates that answer `AlreadyExists`
//! are resolved by reading what exists, deletes carry a UID precondition and accept `NotFound`, and
//! patches are guarded by `test` operations.

use std::collections::BTreeMap;

use k8s_openapi::api::batch::v1::{CronJob, Job};
use k8s_openapi::api::core::v1::ObjectReference;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use kube::api::{
    ApiResource, DeleteParams, DynamicObject, ListParams, Patch, PatchParams, PostParams, Preconditions,
    PropagationPolicy,
};
use kube::{Api, Resource, ResourceExt};
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};

use super::context::Context;
use super::error::{Error, api_code};
use super::events::{Event, EventType as KubeEventType};
use super::fanout::trim_managed_fields;
use crate::crd::{BackfillRequest, BackfillRequestState};
use crate::stream::decide::is_new_stream;
use crate::stream::names::label_value;
use crate::stream::reasons::Reason;
use crate::stream::{
    ANNOTATION_BACKFILL_REQUEST, ANNOTATION_CONFIGURATION_HASH, ANNOTATION_LEGACY_STATE, CONTROLLER_NAME,
    Command, DesiredStatus, EventNote, EventType, LABEL_STREAM_ID, LEGACY_STATE_RELOAD_REQUESTED,
    RequestPurpose, StreamIdentity, Workload, WorkloadKind,
};

/// The stream a batch of commands acts on.
pub struct Target<'a> {
    pub object: &'a DynamicObject,
    /// The stream's status as the decision observed it (for the log of a transition).
    pub status: &'a crate::stream::StreamStatus,
    pub resource: &'a ApiResource,
    pub identity: &'a StreamIdentity,
    /// The StreamClass the stream belongs to (metrics label).
    pub class: &'a str,
}

/// What executing a decision did.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct Executed {
    pub writes: u32,
    pub skipped: u32,
    /// The stream definition as the API server returned it after the last write to it (status or
    /// annotations): newer than the cache until the watch delivers that write.
    pub stream: Option<DynamicObject>,
    /// The API server's message when it refused the status write for its content.
    pub status_refused: Option<String>,
    /// The BackfillRequests created (the API server's answers), or found live where the cache
    /// showed none: expected in the requests cache (`controller/memory.rs`).
    pub requests: Vec<BackfillRequest>,
}

/// What one command did.
enum Ran {
    /// Nothing was left to do.
    Nothing,
    /// A write other than to the stream definition itself.
    Wrote,
    /// A write to the stream definition, with the object the API server returned.
    WroteStream(Box<DynamicObject>),
    /// The API server refused the status write for its content, with its message.
    StatusRefused(String),
    /// A BackfillRequest the cache may not show yet: created (`wrote`) or found live.
    Request {
        request: Box<BackfillRequest>,
        wrote: bool,
    },
}

/// Runs `commands` in order; stops at the first failure, after publishing a Warning Event for it.
pub async fn execute(ctx: &Context, target: &Target<'_>, commands: &[Command]) -> Result<Executed, Error> {
    let mut executed = Executed::default();
    for command in commands {
        match run(ctx, target, command).await {
            Ok(Ran::Wrote) => {
                executed.writes += 1;
                log_done(target, command);
            }
            Ok(Ran::WroteStream(stream)) => {
                executed.writes += 1;
                executed.stream = Some(*stream);
                log_done(target, command);
            }
            Ok(Ran::Nothing) => executed.skipped += 1,
            Ok(Ran::Request { request, wrote }) => {
                if wrote {
                    executed.writes += 1;
                    log_done(target, command);
                } else {
                    executed.skipped += 1;
                }
                executed.requests.push(*request);
            }
            Ok(Ran::StatusRefused(message)) => {
                // The workload commands ran already and the Events still go out: what runs follows
                // the definition whatever the plugin's status schema accepts.
                executed.skipped += 1;
                executed.status_refused = Some(message.clone());
                report_status_refused(ctx, target, &message).await;
            }
            Err(error) => {
                let error = match command {
                    Command::CreateWorkload(workload) => refused(workload, error),
                    _ => error,
                };
                let note = EventNote {
                    type_: EventType::Warning,
                    reason: failure_reason(command),
                    message: error.to_string(),
                };
                publish(ctx, target, &note).await;
                return Err(error);
            }
        }
    }
    Ok(executed)
}

/// One info line per change an on-call engineer reads back: phase transitions, workloads created,
/// deleted or adopted, backfills requested and completed. The stream's identity (namespace, name,
/// kind, class) comes from the reconcile span, in text and JSON alike.
fn log_done(target: &Target<'_>, command: &Command) {
    match command {
        Command::CreateWorkload(workload) => {
            let (kind, meta) = match workload {
                Workload::Job(job) => ("Job", &job.metadata),
                Workload::CronJob(cronjob) => ("CronJob", &cronjob.metadata),
            };
            let request = meta
                .annotations
                .as_ref()
                .and_then(|a| a.get(ANNOTATION_BACKFILL_REQUEST));
            let mode = if request.is_some() {
                "backfill"
            } else {
                "streaming"
            };
            let workload = meta.name.as_deref().unwrap_or_default();
            tracing::info!(
                kind,
                workload,
                mode,
                request = request.map(String::as_str),
                "{kind} created"
            );
        }
        Command::DeleteWorkload {
            kind, name, cause, ..
        } => {
            let cause = format!("{cause:?}");
            tracing::info!(kind = kind.as_str(), workload = %name, %cause, "{} deleted", kind.as_str());
        }
        Command::AdoptWorkload { kind, name, .. } => {
            tracing::info!(
                kind = kind.as_str(),
                workload = %name,
                "{} adopted (built by the previous operator from the current definition)",
                kind.as_str()
            );
        }
        Command::CreateBackfillRequest { request, purpose } => {
            let prefix = request.metadata.generate_name.as_deref().unwrap_or_default();
            let purpose = format!("{purpose:?}");
            tracing::info!(request = prefix, %purpose, "backfill requested");
        }
        Command::CompleteBackfillRequest { name, .. } => {
            tracing::info!(request = %name, "backfill completed");
        }
        Command::PatchStatus(desired) => {
            let from = target.status.phase.as_deref().unwrap_or("(none)");
            let old_reason = target
                .status
                .conditions
                .iter()
                .find(|c| c.type_ == desired.ready.type_)
                .map(|c| c.reason.as_str());
            if from != desired.phase.as_str() || old_reason != Some(desired.ready.reason.as_str()) {
                tracing::info!(
                    from,
                    to = desired.phase.as_str(),
                    reason = %desired.ready.reason,
                    detail = %desired.ready.message,
                    "phase {from} → {}",
                    desired.phase.as_str()
                );
            }
        }
        Command::SetRequestState { .. } | Command::RemoveLegacyAnnotation | Command::PublishEvent(_) => {}
    }
}

/// A status write the plugin's schema refused: a Warning Event naming the field (the API server's
/// message does), a log line and a metric. Not an error of the reconcile: a retry would be refused
/// the same way until the plugin's CRD or the stream changes, and both trigger a reconcile.
async fn report_status_refused(ctx: &Context, target: &Target<'_>, message: &str) {
    tracing::warn!(
        refusal = %message,
        "the API server refused the stream's status (check the status schema of the plugin's CRD); the workload is managed regardless"
    );
    ctx.metrics.status_write_refused(target.class);
    let note = EventNote {
        type_: EventType::Warning,
        reason: Reason::FailedUpdateStatus,
        message: format!("The stream's status could not be written: {message}"),
    };
    publish(ctx, target, &note).await;
}

/// Why a workload create was refused, when retrying it unchanged cannot succeed: the API server's
/// message for a 4xx other than a conflict or throttling (e.g. 422 for a template's invalid Job), or
/// a foreign object holding the name.
fn refusal(error: &Error) -> Option<String> {
    match error {
        Error::Kube(kube::Error::Api(status))
            if (400..500).contains(&status.code) && !matches!(status.code, 409 | 429) =>
        {
            Some(status.message.clone())
        }
        Error::ForeignWorkload { .. } => Some(error.to_string()),
        _ => None,
    }
}

/// `error` from creating `workload`, marked as a refusal when retrying the same create cannot
/// succeed: the controller remembers it, and `decide` reports it in the stream's status.
fn refused(workload: &Workload, error: Error) -> Error {
    let Some(message) = refusal(&error) else {
        return error;
    };
    let (kind, meta) = match workload {
        Workload::Job(job) => (WorkloadKind::Job, &job.metadata),
        Workload::CronJob(cronjob) => (WorkloadKind::CronJob, &cronjob.metadata),
    };
    Error::WorkloadRefused {
        error: Box::new(error),
        kind,
        name: meta.name.clone().unwrap_or_default(),
        hash: meta
            .annotations
            .as_ref()
            .and_then(|a| a.get(ANNOTATION_CONFIGURATION_HASH))
            .cloned(),
        message,
    }
}

/// The reason of the Warning Event for a failed `command`.
fn failure_reason(command: &Command) -> Reason {
    match command {
        Command::CreateWorkload(_) => Reason::FailedCreateJob,
        Command::DeleteWorkload { .. } => Reason::FailedDeleteJob,
        Command::AdoptWorkload { .. } => Reason::FailedAdoptJob,
        Command::CreateBackfillRequest { .. } => Reason::FailedCreateBackfillRequest,
        Command::CompleteBackfillRequest { .. } | Command::SetRequestState { .. } => {
            Reason::FailedUpdateBackfillRequest
        }
        Command::PatchStatus(_) => Reason::FailedUpdateStatus,
        Command::RemoveLegacyAnnotation => Reason::FailedUpdateAnnotations,
        Command::PublishEvent(_) => Reason::FailedPublishEvent,
    }
}

/// Runs one command.
async fn run(ctx: &Context, target: &Target<'_>, command: &Command) -> Result<Ran, Error> {
    let ns = target.identity.namespace.as_str();
    let wrote = match command {
        Command::CreateWorkload(Workload::Job(job)) => {
            if let Some(request) = job.annotations().get(ANNOTATION_BACKFILL_REQUEST)
                && !request_still_active(ctx, ns, request).await?
            {
                // A stale cache showed a request that has since completed: never run it twice.
                return Ok(Ran::Nothing);
            }
            create_owned(ctx, ns, job.as_ref(), WorkloadKind::Job, target.identity).await?
        }
        Command::CreateWorkload(Workload::CronJob(cronjob)) => {
            create_owned(ctx, ns, cronjob.as_ref(), WorkloadKind::CronJob, target.identity).await?
        }
        Command::DeleteWorkload { kind, name, uid, .. } => match kind {
            WorkloadKind::Job => delete_workload::<Job>(ctx, ns, name, uid).await?,
            WorkloadKind::CronJob => delete_workload::<CronJob>(ctx, ns, name, uid).await?,
        },
        Command::AdoptWorkload {
            kind,
            name,
            uid,
            labels,
            annotations,
        } => {
            let adopt = Adopt {
                name,
                uid,
                labels,
                annotations,
            };
            match kind {
                WorkloadKind::Job => adopt_workload::<Job>(ctx, ns, adopt).await?,
                WorkloadKind::CronJob => adopt_workload::<CronJob>(ctx, ns, adopt).await?,
            }
        }
        Command::CreateBackfillRequest { request, purpose } => {
            return create_request(ctx, target, request, *purpose).await;
        }
        Command::CompleteBackfillRequest { name, uid } => complete_request(ctx, ns, name, uid).await?,
        Command::SetRequestState {
            name,
            uid,
            resource_version,
            state,
            message,
        } => {
            let request = RequestRef {
                name,
                uid,
                resource_version: Some(resource_version),
            };
            set_request_state(ctx, ns, request, *state, message).await?
        }
        Command::PatchStatus(status) => return patch_status(ctx, target, status).await,
        Command::RemoveLegacyAnnotation => return remove_legacy_annotation(ctx, target).await,
        Command::PublishEvent(note) => {
            publish(ctx, target, note).await;
            true
        }
    };
    Ok(if wrote { Ran::Wrote } else { Ran::Nothing })
}

/// A write to the stream definition that the API server answered with `stream`.
fn wrote_stream(mut stream: DynamicObject) -> Ran {
    trim_managed_fields(&mut stream);
    Ran::WroteStream(Box::new(stream))
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
async fn create_owned<K>(
    ctx: &Context,
    ns: &str,
    obj: &K,
    kind: WorkloadKind,
    identity: &StreamIdentity,
) -> Result<bool, Error>
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
                // Ours but not cached: a workload without the label the watches select on (built by
                // the Go operator, or relabelled by a user). Labelling it makes it seen, and the next
                // reconcile adopts or replaces it; creating again would only meet the same 409.
                let stream_label = label_value(&identity.name);
                if existing.labels().get(LABEL_STREAM_ID) == Some(&stream_label) {
                    return Ok(false);
                }
                let uid = existing.uid().unwrap_or_default();
                let labels = BTreeMap::from([(LABEL_STREAM_ID.to_string(), stream_label)]);
                label_workload(&api, &name, &uid, &labels, &BTreeMap::new()).await
            } else {
                Err(Error::ForeignWorkload {
                    kind: kind.as_str(),
                    name,
                })
            }
        }
        Err(error) => Err(error.into()),
    }
}

/// Sets `labels` and `annotations` on the workload `name` of UID `uid` (merge patch, other keys
/// kept); false when it is gone or the name belongs to another object now.
async fn label_workload<K>(
    api: &Api<K>,
    name: &str,
    uid: &str,
    labels: &BTreeMap<String, String>,
    annotations: &BTreeMap<String, String>,
) -> Result<bool, Error>
where
    K: Resource<DynamicType = ()> + Clone + DeserializeOwned + std::fmt::Debug,
{
    let patch = json!({"metadata": {"uid": uid, "labels": labels, "annotations": annotations}});
    match api.patch(name, &patch_params(), &Patch::Merge(&patch)).await {
        Ok(_) => Ok(true),
        Err(error) if matches!(api_code(&error), Some(404 | 409)) => Ok(false),
        Err(error) => Err(error.into()),
    }
}

/// Adopts a workload built elsewhere from the same definition: this operator's labels and
/// annotations on it, nothing else changed, so it keeps running.
async fn adopt_workload<K>(ctx: &Context, ns: &str, adopt: Adopt<'_>) -> Result<bool, Error>
where
    K: Resource<DynamicType = (), Scope = k8s_openapi::NamespaceResourceScope>
        + Clone
        + DeserializeOwned
        + std::fmt::Debug,
{
    let api: Api<K> = Api::namespaced(ctx.client.clone(), ns);
    label_workload(&api, adopt.name, adopt.uid, adopt.labels, adopt.annotations).await
}

/// The fields of [`Command::AdoptWorkload`].
struct Adopt<'a> {
    name: &'a str,
    uid: &'a str,
    labels: &'a BTreeMap<String, String>,
    annotations: &'a BTreeMap<String, String>,
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

async fn create_request(
    ctx: &Context,
    target: &Target<'_>,
    request: &BackfillRequest,
    purpose: RequestPurpose,
) -> Result<Ran, Error> {
    let ns = target.identity.namespace.as_str();
    let api: Api<BackfillRequest> = Api::namespaced(ctx.client.clone(), ns);
    let stream_label = label_value(&target.identity.name);
    if purpose == RequestPurpose::Reload {
        // A reconcile working from a copy of the stream cached before the annotation was removed
        // would turn one reload into two requests: only the live annotation counts.
        let live = stream_api(ctx, target).get_opt(&target.identity.name).await?;
        if !live.is_some_and(|stream| requests_reload(&stream, &target.identity.uid)) {
            return Ok(Ran::Nothing);
        }
    }
    if purpose == RequestPurpose::Initial {
        // Likewise a stale copy of the stream may show it new after its initial request was served
        // and deleted: only a stream whose live status has no phase yet is new.
        let live = stream_api(ctx, target).get_opt(&target.identity.name).await?;
        if !live.is_some_and(|stream| still_new(&stream, &target.identity.uid)) {
            return Ok(Ran::Nothing);
        }
        // The cache may not show a request created a moment ago: ask the server before creating
        // a second initial backfill.
        let selector = format!("{LABEL_STREAM_ID}={stream_label}");
        let existing = api.list(&ListParams::default().labels(&selector)).await?;
        let owned = existing.items.into_iter().find(|r| {
            r.owner_references().iter().any(|o| o.uid == target.identity.uid)
                && r.spec.stream_id == target.identity.name
        });
        if let Some(request) = owned {
            // Expected too: the next reconcile must not start the streaming Job ahead of it.
            return Ok(Ran::Request {
                request: Box::new(request),
                wrote: false,
            });
        }
    }
    let mut request = request.clone();
    request
        .labels_mut()
        .insert(LABEL_STREAM_ID.to_string(), stream_label);
    let created = api.create(&post_params(), &request).await?;
    Ok(Ran::Request {
        request: Box::new(created),
        wrote: true,
    })
}

/// Whether `stream` (the live object, still the one of `uid`) carries the legacy
/// `arcane/state: reload-requested` annotation.
fn requests_reload(stream: &DynamicObject, uid: &str) -> bool {
    stream.uid().as_deref() == Some(uid)
        && stream
            .annotations()
            .get(ANNOTATION_LEGACY_STATE)
            .map(String::as_str)
            == Some(LEGACY_STATE_RELOAD_REQUESTED)
}

/// Whether `stream` (the live object, still the one of `uid`) is new: never given a phase and
/// still at its first generation ([`is_new_stream`]).
fn still_new(stream: &DynamicObject, uid: &str) -> bool {
    let phase = stream.data.pointer("/status/phase").and_then(Value::as_str);
    stream.uid().as_deref() == Some(uid) && is_new_stream(phase, stream.metadata.generation.unwrap_or(0))
}

async fn complete_request(ctx: &Context, ns: &str, name: &str, uid: &str) -> Result<bool, Error> {
    let api: Api<BackfillRequest> = Api::namespaced(ctx.client.clone(), ns);
    let patch: json_patch::Patch = serde_json::from_value(json!([
        {"op": "test", "path": "/metadata/uid", "value": uid},
        // `add` replaces the member, or adds it where a request was created without one.
        {"op": "add", "path": "/spec/completed", "value": true},
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
    let message = "The backfill Job succeeded";
    let request = RequestRef {
        name,
        uid,
        resource_version: None,
    };
    set_request_state(ctx, ns, request, BackfillRequestState::Completed, message).await?;
    Ok(true)
}

/// Runs a command about a BackfillRequest that no stream reconcile carries (a request naming a
/// stream that does not exist): only [`Command::SetRequestState`] is such a command.
pub async fn execute_for_request(ctx: &Context, namespace: &str, command: &Command) -> Result<bool, Error> {
    let Command::SetRequestState {
        name,
        uid,
        resource_version,
        state,
        message,
    } = command
    else {
        return Ok(false);
    };
    let request = RequestRef {
        name,
        uid,
        resource_version: Some(resource_version),
    };
    set_request_state(ctx, namespace, request, *state, message).await
}

/// The request a status write is for; with a resource version, only that version of it.
struct RequestRef<'a> {
    name: &'a str,
    uid: &'a str,
    resource_version: Option<&'a str>,
}

/// Writes the request's state on its status (the phase of the `arcane-crd` enum and the
/// `Completed` condition, [`BackfillRequestState`]) and says it in an Event on the request.
async fn set_request_state(
    ctx: &Context,
    ns: &str,
    request: RequestRef<'_>,
    state: BackfillRequestState,
    message: &str,
) -> Result<bool, Error> {
    let RequestRef { name, uid, .. } = request;
    let status = state.status(message, now(), None);
    let mut patch = json!({"status": status});
    if let Some(version) = request.resource_version.filter(|v| !v.is_empty()) {
        // Someone else's status write since the decision (a 409) wins; the change triggers another.
        patch["metadata"] = json!({"resourceVersion": version});
    }
    let wrote = patch_request_status(ctx, ns, name, uid, patch).await?;
    if wrote {
        let event = Event {
            type_: if state == BackfillRequestState::Invalid {
                KubeEventType::Warning
            } else {
                KubeEventType::Normal
            },
            reason: state.reason().to_string(),
            note: message.to_string(),
            action: "Backfill".to_string(),
        };
        let regarding = ObjectReference {
            api_version: Some(BackfillRequest::api_version(&()).into_owned()),
            kind: Some(BackfillRequest::kind(&()).into_owned()),
            name: Some(name.to_string()),
            namespace: Some(ns.to_string()),
            uid: Some(uid.to_string()),
            ..ObjectReference::default()
        };
        ctx.recorder.post(event, regarding).await;
        tracing::info!(
            namespace = ns,
            request = name,
            state = state.reason(),
            detail = message,
            "backfill request {}",
            state.reason().to_lowercase()
        );
    }
    Ok(wrote)
}

async fn patch_request_status(
    ctx: &Context,
    ns: &str,
    name: &str,
    uid: &str,
    status: Value,
) -> Result<bool, Error> {
    let api: Api<BackfillRequest> = Api::namespaced(ctx.client.clone(), ns);
    let mut patch = status;
    patch["metadata"]["uid"] = json!(uid);
    match api
        .patch_status(name, &patch_params(), &Patch::Merge(&patch))
        .await
    {
        Ok(_) => Ok(true),
        Err(error) if matches!(api_code(&error), Some(404 | 409)) => Ok(false),
        Err(error) => Err(error.into()),
    }
}

/// Writes the stream's status subresource as decided, with every condition (`decide` kept those of
/// other writers).
///
/// Never sends `null`: a plugin CRD generated from Go types marks `phase`, `configurationHash` and
/// `conditions` required, and a merge patch's `null` removes the field. A cleared field is written
/// as an empty string, which reading treats as absent.
async fn patch_status(ctx: &Context, target: &Target<'_>, desired: &DesiredStatus) -> Result<Ran, Error> {
    let patch = json!({
        "metadata": {"uid": target.identity.uid},
        "status": status_patch(desired),
    });
    let api = stream_api(ctx, target);
    match api
        .patch_status(&target.identity.name, &patch_params(), &Patch::Merge(&patch))
        .await
    {
        Ok(stream) => Ok(wrote_stream(stream)),
        // The stream was deleted meanwhile: nothing to report on.
        Err(error) if api_code(&error) == Some(404) => Ok(Ran::Nothing),
        Err(error) => match status_refusal(&error) {
            Some(message) => Ok(Ran::StatusRefused(message)),
            None => Err(error.into()),
        },
    }
}

/// The `status` object of a status patch: every field a string, a number or a list.
fn status_patch(desired: &DesiredStatus) -> Value {
    json!({
        "phase": desired.phase.as_str(),
        "conditions": desired.conditions,
        "observedGeneration": desired.observed_generation,
        "configurationHash": desired.configuration_hash,
        "backfillRequest": desired.backfill_request.as_deref().unwrap_or_default(),
        "restarts": desired.restarts,
    })
}

/// The API server's message when it refused a status write for its content (a 4xx other than a
/// conflict or throttling, e.g. 422 from the plugin's status schema): retrying the same write
/// cannot succeed, and it must not hold back the rest of the decision.
fn status_refusal(error: &kube::Error) -> Option<String> {
    match error {
        kube::Error::Api(status)
            if (400..500).contains(&status.code) && !matches!(status.code, 409 | 429) =>
        {
            Some(status.message.clone())
        }
        _ => None,
    }
}

fn stream_api(ctx: &Context, target: &Target<'_>) -> Api<DynamicObject> {
    Api::namespaced_with(ctx.client.clone(), &target.identity.namespace, target.resource)
}

async fn remove_legacy_annotation(ctx: &Context, target: &Target<'_>) -> Result<Ran, Error> {
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
        Ok(stream) => Ok(wrote_stream(stream)),
        // Already removed or changed by the user: leave it.
        Err(error) if matches!(api_code(&error), Some(404 | 422)) => Ok(Ran::Nothing),
        Err(error) => Err(error.into()),
    }
}

/// Publishes an Event on the stream in the background; failures are logged, never fatal (Events are
/// best effort).
async fn publish(ctx: &Context, target: &Target<'_>, note: &EventNote) {
    let event = Event {
        type_: match note.type_ {
            EventType::Normal => KubeEventType::Normal,
            EventType::Warning => KubeEventType::Warning,
        },
        reason: note.reason.as_str().to_string(),
        note: note.message.clone(),
        action: "Reconcile".to_string(),
    };
    ctx.recorder
        .post(event, target.object.object_ref(target.resource))
        .await;
}

/// The current time as a Kubernetes timestamp.
pub fn now() -> Time {
    Time(jiff::Timestamp::now())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn api_error(code: u16) -> Error {
        Error::Kube(kube::Error::Api(Box::new(kube::core::Status {
            code,
            message: format!("refused with {code}"),
            ..kube::core::Status::default()
        })))
    }

    /// Only the live object of the same stream with the annotation still set asks for a reload.
    #[test]
    fn a_reload_is_requested_only_by_the_live_annotation() {
        let stream = |uid: &str, state: Option<&str>| {
            let mut annotations = std::collections::BTreeMap::new();
            if let Some(state) = state {
                annotations.insert(ANNOTATION_LEGACY_STATE.to_string(), state.to_string());
            }
            DynamicObject {
                types: None,
                metadata: kube::api::ObjectMeta {
                    uid: Some(uid.to_string()),
                    annotations: Some(annotations),
                    ..Default::default()
                },
                data: json!({}),
            }
        };
        let cases = [
            (stream("u", Some(LEGACY_STATE_RELOAD_REQUESTED)), true),
            (stream("u", None), false),
            (stream("u", Some("suspended")), false),
            (stream("other", Some(LEGACY_STATE_RELOAD_REQUESTED)), false),
        ];
        for (object, expected) in cases {
            assert_eq!(requests_reload(&object, "u"), expected, "{:?}", object.metadata);
        }
    }

    /// Only the live object of the same stream, without a phase and at its first generation, is new.
    #[test]
    fn a_stream_is_new_until_it_has_a_phase_or_a_second_generation() {
        let stream_at = |uid: &str, generation: i64, data: Value| DynamicObject {
            types: None,
            metadata: kube::api::ObjectMeta {
                uid: Some(uid.to_string()),
                generation: Some(generation),
                ..Default::default()
            },
            data,
        };
        let stream = |uid: &str, data: Value| stream_at(uid, 1, data);
        let cases = [
            (stream("u", json!({"spec": {}})), true),
            (stream("u", json!({"status": {}})), true),
            (stream("u", json!({"status": {"phase": ""}})), true),
            (stream("u", json!({"status": {"phase": "Backfilling"}})), false),
            (stream_at("u", 2, json!({"spec": {}})), false),
            (stream_at("u", 1, json!({"status": {"phase": ""}})), true),
            (stream("other", json!({})), false),
        ];
        for (object, expected) in cases {
            assert_eq!(still_new(&object, "u"), expected, "{}", object.data);
        }
    }

    #[test]
    fn only_refusals_that_a_retry_cannot_fix_are_reported() {
        let cases = [
            (api_error(422), Some("refused with 422")),
            (api_error(400), Some("refused with 400")),
            (api_error(403), Some("refused with 403")),
            (api_error(409), None),
            (api_error(429), None),
            (api_error(500), None),
            (api_error(503), None),
        ];
        for (error, expected) in cases {
            assert_eq!(refusal(&error).as_deref(), expected, "{error}");
        }
        let foreign = Error::ForeignWorkload {
            kind: "Job",
            name: "s".into(),
        };
        assert!(refusal(&foreign).is_some_and(|m| m.contains("not owned")));
    }
}
