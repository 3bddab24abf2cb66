//! The plugin's writes: each is the one write a user would make by editing YAML.

use std::time::Duration;

use k8s_openapi::api::batch::v1::{CronJob, Job};
use kube::api::{DeleteParams, Patch, PatchParams, PostParams};
use kube::{Api, Client};
use serde_json::{Value, json};

use super::error::{Call, PluginError, is_not_found};
use super::find::{FoundStream, Scope};
use super::status::{Inventory, WorkloadState};
use crate::crd::{BackfillRequest, BackfillRequestSpec, BackfillRequestState, GROUP};
use crate::stream::{ANNOTATION_LEGACY_STATE, LEGACY_STATE_SUSPENDED, Layout, parse};

/// The merge patch that sets the stream's `suspended` flag where its layout keeps it
/// (`spec.suspended` for v0, `spec.execution.suspended` for v1/v2), or `None` when it already
/// has that value. Resuming also removes the legacy `arcane/state: suspended` annotation, which
/// suspends a stream by itself.
pub fn suspend_patch(object: &kube::api::DynamicObject, suspend: bool) -> Option<Value> {
    let (layout, flag, by_annotation) = match parse::parse(object, &[]) {
        Ok(def) => (
            def.layout,
            def.suspended && !def.suspended_by_annotation,
            def.suspended_by_annotation,
        ),
        // An invalid definition still has a place for its flag: v1/v2 keep it under
        // `spec.execution` (the same test the parser's layout detection makes first).
        Err(_) => {
            let spec = object.data.get("spec");
            let nested = spec
                .and_then(|s| s.get("execution"))
                .is_some_and(Value::is_object);
            let layout = if nested { Layout::V1 } else { Layout::V0 };
            let flag = match layout {
                Layout::V0 => spec.and_then(|s| s.get("suspended")),
                _ => spec.and_then(|s| s.pointer("/execution/suspended")),
            };
            let annotation = object
                .metadata
                .annotations
                .as_ref()
                .and_then(|a| a.get(ANNOTATION_LEGACY_STATE))
                .is_some_and(|v| v == LEGACY_STATE_SUSPENDED);
            (layout, flag == Some(&Value::Bool(true)), annotation)
        }
    };
    let clear_annotation = !suspend && by_annotation;
    if flag == suspend && !clear_annotation {
        return None;
    }
    let mut patch = match layout {
        Layout::V0 => json!({"spec": {"suspended": suspend}}),
        Layout::V1 | Layout::V2 => json!({"spec": {"execution": {"suspended": suspend}}}),
    };
    if clear_annotation {
        patch["metadata"] = json!({"annotations": {ANNOTATION_LEGACY_STATE: null}});
    }
    Some(patch)
}

/// Suspends or resumes the stream; `false` when it already was.
pub async fn set_suspended(client: &Client, found: &FoundStream, suspend: bool) -> Result<bool, PluginError> {
    let Some(patch) = suspend_patch(&found.object, suspend) else {
        return Ok(false);
    };
    found
        .api(client)
        .patch(&found.name, &PatchParams::default(), &Patch::Merge(patch))
        .await
        .map_err(|e| found.call("patch").error(e))?;
    Ok(true)
}

/// The BackfillRequest `backfill` creates: `generateName: <stream>-backfill-`.
pub(super) fn backfill_request(found: &FoundStream) -> BackfillRequest {
    let mut request = BackfillRequest::new(
        "",
        BackfillRequestSpec {
            stream_class: found.class.clone(),
            stream_id: found.name.clone(),
            completed: false,
            payload: None,
        },
    );
    request.metadata.name = None;
    request.metadata.generate_name = Some(format!("{}-backfill-", found.name));
    request.metadata.namespace = Some(found.namespace.clone());
    request
}

fn requests_call<'a>(namespace: &'a str, verb: &'static str) -> Call<'a> {
    Call {
        verb,
        group: GROUP,
        resource: "backfillrequests",
        namespace: Some(namespace),
    }
}

/// Creates a BackfillRequest for the stream; returns its name.
pub async fn backfill(client: &Client, found: &FoundStream) -> Result<String, PluginError> {
    let api: Api<BackfillRequest> = Api::namespaced(client.clone(), &found.namespace);
    let created = api
        .create(&PostParams::default(), &backfill_request(found))
        .await
        .map_err(|e| requests_call(&found.namespace, "create").error(e))?;
    Ok(created.metadata.name.unwrap_or_default())
}

/// Waits until the request is Completed (its message is returned) or Invalid (an error).
pub async fn wait_backfill(
    client: &Client,
    namespace: &str,
    name: &str,
    timeout: Duration,
) -> Result<String, PluginError> {
    let api: Api<BackfillRequest> = Api::namespaced(client.clone(), namespace);
    let deadline = tokio::time::Instant::now() + timeout;
    loop {
        let request = api
            .get(name)
            .await
            .map_err(|e| requests_call(namespace, "get").error(e))?;
        let status = request.status.as_ref();
        let state = status.and_then(BackfillRequestState::of);
        let message = status
            .and_then(|s| s.conditions.as_ref())
            .and_then(|cs| {
                cs.iter()
                    .find(|c| c.type_ == BackfillRequestState::CONDITION_TYPE)
            })
            .map(|c| c.message.clone())
            .unwrap_or_default();
        match state {
            Some(BackfillRequestState::Completed) => return Ok(message),
            Some(BackfillRequestState::Invalid) => {
                return Err(PluginError::BackfillInvalid {
                    name: name.to_owned(),
                    message,
                });
            }
            _ if request.spec.completed => return Ok(message),
            _ => {}
        }
        if tokio::time::Instant::now() >= deadline {
            return Err(PluginError::Timeout {
                what: format!("backfillrequest/{name} to complete (last state: {state:?}, {message:?})"),
                after: timeout,
            });
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

/// What `restart` did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RestartOutcome {
    pub stream: String,
    pub deleted: String,
}

impl std::fmt::Display for RestartOutcome {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} restarting: deleted {}; the operator creates a new one",
            self.stream, self.deleted
        )
    }
}

/// Restarts a running stream by deleting its workload (background propagation, so its pods go
/// too), exactly as `kubectl delete job` would: the operator sees its stream without a workload and
/// creates a fresh one. Refused, with what to do instead, for a stream that is suspended,
/// backfilling (deleting the backfill Job would abort the backfill), failed (the operator keeps a
/// failed stream stopped until it is suspended and resumed) or has no workload yet.
pub async fn restart(client: &Client, found: &FoundStream) -> Result<RestartOutcome, PluginError> {
    let status = crate::controller::observe::status(found.object.data.get("status"));
    let name = &found.name;
    match status.phase.as_deref() {
        Some("Failed")
            if super::status::ready(&status.conditions)
                .is_some_and(|c| c.reason == crate::stream::reasons::Reason::InvalidSpec.as_str()) =>
        {
            return Err(PluginError::Refused(format!(
                "{} has an invalid definition, and no restart runs it: fix the definition \
                 (`kubectl arcane describe {name}` shows what is wrong)",
                found.display()
            )));
        }
        Some("Failed") => {
            return Err(PluginError::Refused(format!(
                "{} has failed, and the operator keeps a failed stream stopped: run \
                 `kubectl arcane suspend {name}`, wait for phase Suspended, then \
                 `kubectl arcane resume {name}` (or fix its definition or template)",
                found.display()
            )));
        }
        Some("Suspended") => {
            return Err(PluginError::Refused(format!(
                "{} is suspended: `kubectl arcane resume {name}` starts it",
                found.display()
            )));
        }
        Some("Backfilling") => {
            return Err(PluginError::Refused(format!(
                "{} is backfilling: restarting would abort the backfill; wait for it to finish \
                 (`kubectl arcane describe {name}`)",
                found.display()
            )));
        }
        _ => {}
    }
    let inventory = Inventory::list(client, &Scope::Namespace(found.namespace.clone())).await?;
    let Some(workload) = inventory.workload(&found.namespace, found.uid()) else {
        return Err(PluginError::Refused(format!(
            "{} has no workload to restart (phase {}); the operator creates one when it runs the stream",
            found.display(),
            status.phase.as_deref().unwrap_or("unknown")
        )));
    };
    if workload.backfill_request.is_some() {
        return Err(PluginError::Refused(format!(
            "{} runs a backfill Job: restarting would abort the backfill",
            found.display()
        )));
    }
    delete_workload(client, &found.namespace, &workload).await?;
    Ok(RestartOutcome {
        stream: found.display(),
        deleted: format!("{}/{}", workload.kind.to_lowercase(), workload.name),
    })
}

async fn delete_workload(
    client: &Client,
    namespace: &str,
    workload: &WorkloadState,
) -> Result<(), PluginError> {
    let call = |resource| Call {
        verb: "delete",
        group: "batch",
        resource,
        namespace: Some(namespace),
    };
    let params = DeleteParams::background();
    let deleted = if workload.kind == "CronJob" {
        let api: Api<CronJob> = Api::namespaced(client.clone(), namespace);
        api.delete(&workload.name, &params)
            .await
            .map(|_| ())
            .map_err(|e| (e, "cronjobs"))
    } else {
        let api: Api<Job> = Api::namespaced(client.clone(), namespace);
        api.delete(&workload.name, &params)
            .await
            .map(|_| ())
            .map_err(|e| (e, "jobs"))
    };
    match deleted {
        Ok(()) => Ok(()),
        // Gone already: the operator is replacing it anyway.
        Err((error, _)) if is_not_found(&error) => Ok(()),
        Err((error, resource)) => Err(call(resource).error(error)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use kube::api::DynamicObject;

    fn object(spec: Value, annotations: Option<Value>) -> DynamicObject {
        let mut obj = json!({
            "apiVersion": "x/v1", "kind": "S",
            "metadata": {"name": "s", "namespace": "default"},
            "spec": spec,
        });
        if let Some(a) = annotations {
            obj["metadata"]["annotations"] = a;
        }
        serde_json::from_value(obj).unwrap()
    }

    #[test]
    fn the_flag_is_patched_where_the_layout_keeps_it() {
        let v0 = object(json!({"suspended": false, "jobTemplateRef": {"name": "t"}}), None);
        assert_eq!(
            suspend_patch(&v0, true),
            Some(json!({"spec": {"suspended": true}}))
        );
        assert_eq!(suspend_patch(&v0, false), None);
        let v1 = object(
            json!({"execution": {"layoutVersion": "v1", "suspended": true,
                   "streamingBackend": {"changeCapture": {"jobTemplateRef": {"name": "t"}}}}}),
            None,
        );
        assert_eq!(
            suspend_patch(&v1, false),
            Some(json!({"spec": {"execution": {"suspended": false}}}))
        );
        assert_eq!(suspend_patch(&v1, true), None);
        // Unparseable, but its flag's place is known from `spec.execution`.
        let bad = object(json!({"execution": {"layoutVersion": "v9"}}), None);
        assert_eq!(
            suspend_patch(&bad, true),
            Some(json!({"spec": {"execution": {"suspended": true}}}))
        );
    }

    #[test]
    fn resuming_removes_the_legacy_suspended_annotation() {
        let legacy = object(
            json!({"suspended": false, "jobTemplateRef": {"name": "t"}}),
            Some(json!({"arcane/state": "suspended"})),
        );
        assert_eq!(
            suspend_patch(&legacy, false),
            Some(json!({"spec": {"suspended": false}, "metadata": {"annotations": {"arcane/state": null}}}))
        );
        // Suspending sets the flag too: the annotation alone is legacy.
        assert_eq!(
            suspend_patch(&legacy, true),
            Some(json!({"spec": {"suspended": true}}))
        );
    }

    #[test]
    fn a_backfill_request_is_generated_for_the_stream() {
        let found = FoundStream {
            class: "mock-stream-v0".into(),
            resource: kube::api::ApiResource::erase::<Job>(&()),
            namespace: "prod".into(),
            name: "orders".into(),
            object: object(json!({}), None),
        };
        let wire = serde_json::to_value(backfill_request(&found)).unwrap();
        assert_eq!(wire["metadata"]["generateName"], "orders-backfill-");
        assert_eq!(wire["metadata"]["namespace"], "prod");
        assert!(wire["metadata"].get("name").is_none(), "{wire}");
        assert_eq!(
            wire["spec"],
            json!({"streamClass": "mock-stream-v0", "streamId": "orders", "completed": false})
        );
    }
}
