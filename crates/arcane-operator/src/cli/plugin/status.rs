//! `kubectl arcane status`: the classes, then every stream of every class, in one report.

use std::io::Write;
use std::time::Duration;

use k8s_openapi::api::batch::v1::{CronJob, Job};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, ObjectMeta};
use kube::api::{DynamicObject, ListParams};
use kube::{Api, Client, ResourceExt};
use serde::Serialize;
use serde_json::Value;

use super::Output;
use super::error::{Call, PluginError};
use super::find::{Scope, kinds, list_classes};
use super::table::{age, or_dash, render};
use crate::controller::observe;
use crate::crd::{BackfillRequest, BackfillRequestState, GROUP};
use crate::stream::ANNOTATION_BACKFILL_REQUEST;

/// Everything `status` shows, in the order it shows it.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct StatusReport {
    pub classes: Vec<ClassRow>,
    pub streams: Vec<StreamRow>,
    /// Whether the report covers every namespace (the table then has a NAMESPACE column).
    #[serde(skip)]
    pub all_namespaces: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ClassRow {
    pub name: String,
    pub kind: String,
    pub phase: Option<String>,
    pub reason: Option<String>,
    pub message: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct StreamRow {
    pub class: String,
    pub kind: String,
    pub namespace: String,
    pub name: String,
    pub phase: Option<String>,
    pub reason: Option<String>,
    pub message: Option<String>,
    pub workload: Option<WorkloadState>,
    /// The request being served, else the next one waiting (`name (State)`).
    pub backfill: Option<String>,
    /// `lastTransitionTime` of the `Ready` condition (RFC 3339).
    pub last_transition: Option<String>,
}

/// A stream's workload and where it stands.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct WorkloadState {
    pub kind: String,
    pub name: String,
    /// Job: Running, Pending, Succeeded, Failed, Suspended; CronJob: its schedule, `suspended`, active runs.
    pub state: String,
    /// The BackfillRequest a backfill Job serves.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub backfill_request: Option<String>,
}

impl WorkloadState {
    pub fn short(&self) -> String {
        format!("{}/{} {}", self.kind, self.name, self.state)
    }
}

/// The workloads and requests of a scope, listed once and shared by every stream.
pub(super) struct Inventory {
    pub jobs: Vec<Job>,
    pub cronjobs: Vec<CronJob>,
    pub requests: Vec<BackfillRequest>,
}

impl Inventory {
    pub(super) async fn list(client: &Client, scope: &Scope) -> Result<Inventory, PluginError> {
        let ns = scope.namespace();
        let lp = ListParams::default();
        let batch = |resource| Call {
            verb: "list",
            group: "batch",
            resource,
            namespace: ns,
        };
        let jobs: Api<Job> = scope.typed(client);
        let cronjobs: Api<CronJob> = scope.typed(client);
        let requests: Api<BackfillRequest> = scope.typed(client);
        Ok(Inventory {
            jobs: jobs.list(&lp).await.map_err(|e| batch("jobs").error(e))?.items,
            cronjobs: cronjobs
                .list(&lp)
                .await
                .map_err(|e| batch("cronjobs").error(e))?
                .items,
            requests: requests
                .list(&lp)
                .await
                .map_err(|e| {
                    Call {
                        verb: "list",
                        group: GROUP,
                        resource: "backfillrequests",
                        namespace: ns,
                    }
                    .error(e)
                })?
                .items,
        })
    }

    /// The stream's one workload: the Job or CronJob it controls.
    pub(super) fn workload(&self, namespace: &str, uid: &str) -> Option<WorkloadState> {
        if let Some(job) = self
            .jobs
            .iter()
            .find(|j| controlled_by(&j.metadata, namespace, uid))
        {
            return Some(job_state(job));
        }
        let cron = self
            .cronjobs
            .iter()
            .find(|c| controlled_by(&c.metadata, namespace, uid))?;
        Some(cronjob_state(cron))
    }

    /// The stream's open requests (not completed, not Invalid), oldest first, with their state.
    pub(super) fn open_requests(
        &self,
        class: &str,
        namespace: &str,
        name: &str,
    ) -> Vec<(String, BackfillRequestState)> {
        let mut open: Vec<(&BackfillRequest, BackfillRequestState)> = self
            .requests
            .iter()
            .filter(|r| {
                r.spec.stream_class == class
                    && r.spec.stream_id == name
                    && r.metadata.namespace.as_deref() == Some(namespace)
                    && !r.spec.completed
            })
            .map(|r| (r, request_state(r)))
            .filter(|(_, s)| matches!(s, BackfillRequestState::Pending | BackfillRequestState::Running))
            .collect();
        open.sort_by(|(a, _), (b, _)| {
            let key = |r: &BackfillRequest| (r.metadata.creation_timestamp.clone(), r.name_any());
            key(a).cmp(&key(b))
        });
        open.into_iter().map(|(r, s)| (r.name_any(), s)).collect()
    }
}

/// A request's state; one the operator has not written yet is Pending.
pub(super) fn request_state(request: &BackfillRequest) -> BackfillRequestState {
    request
        .status
        .as_ref()
        .and_then(BackfillRequestState::of)
        .unwrap_or(BackfillRequestState::Pending)
}

fn controlled_by(meta: &ObjectMeta, namespace: &str, uid: &str) -> bool {
    meta.namespace.as_deref() == Some(namespace)
        && meta
            .owner_references
            .iter()
            .flatten()
            .any(|o| o.controller == Some(true) && o.uid == uid)
}

fn condition_true(conditions: Option<&Vec<k8s_openapi::api::batch::v1::JobCondition>>, type_: &str) -> bool {
    conditions
        .into_iter()
        .flatten()
        .any(|c| c.type_ == type_ && c.status == "True")
}

pub(super) fn job_state(job: &Job) -> WorkloadState {
    let status = job.status.as_ref();
    let conditions = status.and_then(|s| s.conditions.as_ref());
    let state = if condition_true(conditions, "Complete") {
        "Succeeded"
    } else if condition_true(conditions, "Failed") {
        "Failed"
    } else if job.spec.as_ref().and_then(|s| s.suspend) == Some(true) {
        "Suspended"
    } else if status.and_then(|s| s.active).unwrap_or(0) > 0 {
        "Running"
    } else {
        "Pending"
    };
    WorkloadState {
        kind: "Job".to_owned(),
        name: job.name_any(),
        state: state.to_owned(),
        backfill_request: job.annotations().get(ANNOTATION_BACKFILL_REQUEST).cloned(),
    }
}

pub(super) fn cronjob_state(cron: &CronJob) -> WorkloadState {
    let spec = cron.spec.as_ref();
    let schedule = spec.map(|s| s.schedule.as_str()).unwrap_or_default();
    let mut state = format!("({schedule})");
    if spec.and_then(|s| s.suspend) == Some(true) {
        state.push_str(" suspended");
    }
    let active = cron
        .status
        .as_ref()
        .and_then(|s| s.active.as_ref())
        .map_or(0, Vec::len);
    if active > 0 {
        state.push_str(&format!(" {active} active"));
    }
    WorkloadState {
        kind: "CronJob".to_owned(),
        name: cron.name_any(),
        state,
        backfill_request: None,
    }
}

/// The `Ready` condition of a stream or class status.
pub(super) fn ready(conditions: &[Condition]) -> Option<&Condition> {
    conditions.iter().find(|c| c.type_ == "Ready")
}

fn ready_of_value(status: Option<&Value>) -> (Option<String>, Option<Condition>) {
    let status = observe::status(status);
    let ready = ready(&status.conditions).cloned();
    (status.phase, ready)
}

/// Lists the classes, their streams in `scope`, and the streams' workloads and requests.
pub async fn collect(client: &Client, scope: &Scope) -> Result<StatusReport, PluginError> {
    let classes = list_classes(client).await?;
    let class_rows = classes
        .iter()
        .map(|class| {
            let status = class.status.as_ref();
            let ready = status
                .and_then(|s| s.conditions.as_deref())
                .and_then(ready)
                .cloned();
            ClassRow {
                name: class.name_any(),
                kind: class.spec.kind_ref.clone(),
                phase: status.and_then(|s| s.phase).map(|p| format!("{p:?}")),
                reason: ready.as_ref().map(|c| c.reason.clone()),
                message: ready.map(|c| c.message),
            }
        })
        .collect();
    let inventory = Inventory::list(client, scope).await?;
    let mut streams = Vec::new();
    for kind in kinds(&classes) {
        let api: Api<DynamicObject> = scope.api(client, &kind.resource);
        let call = Call {
            verb: "list",
            group: &kind.resource.group,
            resource: &kind.resource.plural,
            namespace: scope.namespace(),
        };
        let objects = match api.list(&ListParams::default()).await {
            Ok(list) => list.items,
            // A class whose kind is not installed has no streams (its class says so).
            Err(error) if super::error::is_not_found(&error) => Vec::new(),
            Err(error) => return Err(call.error(error)),
        };
        for object in objects {
            let namespace = object.namespace().unwrap_or_default();
            let name = object.name_any();
            let uid = object.metadata.uid.clone().unwrap_or_default();
            let (phase, ready) = ready_of_value(object.data.get("status"));
            let open = inventory.open_requests(&kind.class, &namespace, &name);
            let backfill = open
                .iter()
                .find(|(_, s)| *s == BackfillRequestState::Running)
                .or(open.first())
                .map(|(n, s)| {
                    let queued = open.len().saturating_sub(1);
                    let more = if queued > 0 {
                        format!(" +{queued} queued")
                    } else {
                        String::new()
                    };
                    format!("{n} ({}){more}", s.reason())
                });
            streams.push(StreamRow {
                class: kind.class.clone(),
                kind: kind.resource.kind.clone(),
                workload: inventory.workload(&namespace, &uid),
                namespace,
                name,
                phase,
                reason: ready.as_ref().map(|c| c.reason.clone()),
                message: ready.as_ref().map(|c| c.message.clone()),
                backfill,
                last_transition: ready.map(|c| c.last_transition_time.0.to_string()),
            });
        }
    }
    streams.sort_by(|a, b| (&a.namespace, &a.kind, &a.name).cmp(&(&b.namespace, &b.kind, &b.name)));
    Ok(StatusReport {
        classes: class_rows,
        streams,
        all_namespaces: *scope == Scope::All,
    })
}

impl StatusReport {
    /// The two tables, classes on top; ages are counted to `now`.
    pub fn table(&self, now: jiff::Timestamp) -> String {
        let mut out = String::new();
        if self.classes.is_empty() {
            out.push_str(
                "No StreamClasses found (is the Arcane operator installed? kubectl get streamclasses).\n",
            );
            return out;
        }
        let classes: Vec<Vec<String>> = self
            .classes
            .iter()
            .map(|c| {
                vec![
                    c.name.clone(),
                    c.kind.clone(),
                    or_dash(c.phase.as_deref()),
                    or_dash(c.reason.as_deref()),
                ]
            })
            .collect();
        out.push_str(&render(&["CLASS", "KIND", "PHASE", "REASON"], &classes));
        out.push('\n');
        if self.streams.is_empty() {
            out.push_str("No streams found.\n");
            return out;
        }
        let mut headers = vec!["KIND", "NAME", "PHASE", "REASON", "WORKLOAD", "BACKFILL", "AGE"];
        if self.all_namespaces {
            headers.insert(0, "NAMESPACE");
        }
        let rows: Vec<Vec<String>> = self
            .streams
            .iter()
            .map(|s| {
                let mut row = vec![
                    s.kind.clone(),
                    s.name.clone(),
                    or_dash(s.phase.as_deref()),
                    or_dash(s.reason.as_deref()),
                    s.workload
                        .as_ref()
                        .map_or_else(|| "-".to_owned(), WorkloadState::short),
                    or_dash(s.backfill.as_deref()),
                    age(s.last_transition.as_deref(), now),
                ];
                if self.all_namespaces {
                    row.insert(0, s.namespace.clone());
                }
                row
            })
            .collect();
        out.push_str(&render(&headers, &rows));
        // Point at what needs a look: `describe` shows why a stream failed and how to recover.
        for failed in self
            .streams
            .iter()
            .filter(|s| s.phase.as_deref() == Some("Failed"))
        {
            let namespace = if self.all_namespaces {
                format!(" -n {}", failed.namespace)
            } else {
                String::new()
            };
            out.push_str(&format!(
                "\n{}/{} failed: kubectl arcane describe {}/{}{namespace}",
                failed.kind,
                failed.name,
                failed.kind.to_lowercase(),
                failed.name
            ));
        }
        if self.streams.iter().any(|s| s.phase.as_deref() == Some("Failed")) {
            out.push('\n');
        }
        out
    }

    /// Writes the report as a table, JSON or YAML.
    pub fn write(
        &self,
        output: Output,
        now: jiff::Timestamp,
        out: &mut (dyn Write + Send),
    ) -> Result<(), PluginError> {
        match output {
            Output::Table => write!(out, "{}", self.table(now))?,
            Output::Json => {
                let text =
                    serde_json::to_string_pretty(self).map_err(|e| PluginError::Encode(e.to_string()))?;
                writeln!(out, "{text}")?;
            }
            Output::Yaml => {
                let text = serde_saphyr::to_string(self).map_err(|e| PluginError::Encode(e.to_string()))?;
                write!(out, "{text}")?;
            }
        }
        Ok(())
    }
}

/// Prints the report, then again each time it changes, polling every `interval`; stops after
/// `frames` reports when given (tests), else runs until interrupted. Each table is preceded by
/// the time it was taken; JSON and YAML reports follow each other as separate documents.
pub async fn watch(
    client: &Client,
    scope: &Scope,
    output: Output,
    out: &mut (dyn Write + Send),
    interval: Duration,
    frames: Option<usize>,
) -> Result<(), PluginError> {
    let mut last: Option<StatusReport> = None;
    let mut printed = 0;
    loop {
        let report = collect(client, scope).await?;
        // Ages alone change every second: only a change of state prints a new report.
        if last.as_ref() != Some(&report) {
            let now = jiff::Timestamp::now();
            match output {
                Output::Table => {
                    if printed > 0 {
                        writeln!(out)?;
                    }
                    // The local time, as `watch` prints it.
                    writeln!(out, "{}", jiff::Zoned::now().strftime("%H:%M:%S"))?;
                }
                Output::Yaml if printed > 0 => writeln!(out, "---")?,
                _ => {}
            }
            report.write(output, now, out)?;
            out.flush()?;
            printed += 1;
            last = Some(report);
            if frames.is_some_and(|f| printed >= f) {
                return Ok(());
            }
        }
        tokio::time::sleep(interval).await;
    }
}
