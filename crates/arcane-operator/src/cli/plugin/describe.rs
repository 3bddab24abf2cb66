//! `kubectl arcane describe STREAM`: one stream in detail.

use k8s_openapi::api::events::v1::Event;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition;
use kube::api::ListParams;
use kube::{Api, Client, ResourceExt};

use super::error::{Call, PluginError};
use super::find::{FoundStream, Scope, StreamRef, find_stream};
use super::status::{Inventory, WorkloadState, ready, request_state};
use super::table::{age, or_dash, render};
use crate::controller::observe;
use crate::crd::BackfillRequestState;
use crate::stream::{Backend, Layout, StreamDefinition, parse};

/// What `describe` prints, gathered first so that it can be rendered for any `now`.
#[derive(Debug, Clone, PartialEq)]
pub struct Description {
    pub kind: String,
    pub api_version: String,
    pub class: String,
    pub namespace: String,
    pub name: String,
    pub created: Option<String>,
    /// The parsed definition, or why it cannot be parsed.
    pub definition: Result<StreamDefinition, String>,
    pub phase: Option<String>,
    pub conditions: Vec<Condition>,
    pub workload: Option<WorkloadState>,
    pub backfills: Vec<BackfillRow>,
    pub events: Vec<EventRow>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct BackfillRow {
    pub name: String,
    pub state: BackfillRequestState,
    pub created: Option<String>,
    pub message: String,
}

#[derive(Debug, Clone, PartialEq)]
pub struct EventRow {
    pub type_: String,
    pub reason: String,
    pub last_seen: Option<String>,
    pub count: i32,
    pub note: String,
}

/// Recent Events shown (newest last, as kubectl does).
const EVENTS_SHOWN: usize = 10;

pub async fn describe(client: &Client, stream: &StreamRef) -> Result<Description, PluginError> {
    let found = find_stream(client, stream).await?;
    let scope = Scope::Namespace(found.namespace.clone());
    let inventory = Inventory::list(client, &scope).await?;
    let class = crate::cli::plugin::find::list_classes(client)
        .await?
        .into_iter()
        .find(|c| c.metadata.name.as_deref() == Some(found.class.as_str()));
    let secret_refs = class.and_then(|c| c.spec.secret_refs).unwrap_or_default();
    let status = observe::status(found.object.data.get("status"));
    let mut backfills: Vec<BackfillRow> = inventory
        .requests
        .iter()
        .filter(|r| r.spec.stream_class == found.class && r.spec.stream_id == found.name)
        .map(|r| BackfillRow {
            name: r.name_any(),
            state: request_state(r),
            created: r.metadata.creation_timestamp.as_ref().map(|t| t.0.to_string()),
            message: r
                .status
                .as_ref()
                .and_then(|s| s.conditions.as_ref())
                .and_then(|cs| {
                    cs.iter()
                        .find(|c| c.type_ == BackfillRequestState::CONDITION_TYPE)
                })
                .map(|c| c.message.clone())
                .unwrap_or_default(),
        })
        .collect();
    backfills.sort_by(|a, b| (&a.created, &a.name).cmp(&(&b.created, &b.name)));
    Ok(Description {
        kind: found.resource.kind.clone(),
        api_version: found.resource.api_version.clone(),
        class: found.class.clone(),
        namespace: found.namespace.clone(),
        name: found.name.clone(),
        created: found
            .object
            .metadata
            .creation_timestamp
            .as_ref()
            .map(|t| t.0.to_string()),
        definition: parse::parse(&found.object, &secret_refs).map_err(|e| e.to_string()),
        phase: status.phase,
        conditions: status.conditions,
        workload: inventory.workload(&found.namespace, found.uid()),
        backfills,
        events: events(client, &found).await?,
    })
}

/// The stream's Events (`events.k8s.io/v1`), oldest first, the last [`EVENTS_SHOWN`].
async fn events(client: &Client, found: &FoundStream) -> Result<Vec<EventRow>, PluginError> {
    let api: Api<Event> = Api::namespaced(client.clone(), &found.namespace);
    let call = Call {
        verb: "list",
        group: "events.k8s.io",
        resource: "events",
        namespace: Some(&found.namespace),
    };
    let list = api
        .list(&ListParams::default())
        .await
        .map_err(|e| call.error(e))?;
    let mut rows: Vec<EventRow> = list
        .items
        .into_iter()
        .filter(|e| {
            e.regarding.as_ref().is_some_and(|r| {
                r.name.as_deref() == Some(found.name.as_str())
                    && r.kind.as_deref() == Some(found.resource.kind.as_str())
            })
        })
        .map(|e| {
            let last_seen = e
                .series
                .as_ref()
                .map(|s| s.last_observed_time.0.to_string())
                .or_else(|| e.event_time.as_ref().map(|t| t.0.to_string()))
                .or_else(|| e.deprecated_last_timestamp.as_ref().map(|t| t.0.to_string()));
            EventRow {
                type_: e.type_.unwrap_or_default(),
                reason: e.reason.unwrap_or_default(),
                last_seen,
                count: e.series.as_ref().map_or(1, |s| s.count),
                note: e.note.unwrap_or_default(),
            }
        })
        .collect();
    rows.sort_by(|a, b| a.last_seen.cmp(&b.last_seen));
    let skip = rows.len().saturating_sub(EVENTS_SHOWN);
    Ok(rows.split_off(skip))
}

fn layout_name(layout: Layout) -> &'static str {
    match layout {
        Layout::V0 => "v0",
        Layout::V1 => "v1",
        Layout::V2 => "v2",
    }
}

impl Description {
    /// The description as text; ages are counted to `now`.
    pub fn render(&self, now: jiff::Timestamp) -> String {
        let mut out = String::new();
        let mut field =
            |label: &str, value: &str| out.push_str(&format!("{:<19}{value}\n", format!("{label}:")));
        field("Name", &self.name);
        field("Namespace", &self.namespace);
        field("Kind", &format!("{} ({})", self.kind, self.api_version));
        field("StreamClass", &self.class);
        field("Age", &age(self.created.as_deref(), now));
        match &self.definition {
            Ok(def) => {
                let backend = match &def.backend {
                    Backend::Job => "streaming Job".to_owned(),
                    Backend::CronJob { schedule } => format!("CronJob, schedule {schedule:?}"),
                };
                field("Layout", layout_name(def.layout));
                field("Backend", &backend);
                let suspended = match (def.suspended, def.suspended_by_annotation) {
                    (true, true) => "true (by the legacy annotation arcane/state: suspended)",
                    (true, false) => "true",
                    _ => "false",
                };
                field("Suspended", suspended);
                let t = &def.streaming_template;
                field("Job template", &format!("{}/{}", t.namespace, t.name));
                let backfill = def.backfill_template.as_ref().map_or_else(
                    || "- (no backfills)".to_owned(),
                    |t| format!("{}/{}", t.namespace, t.name),
                );
                field("Backfill template", &backfill);
                if !def.secret_names.is_empty() {
                    field("Secrets", &def.secret_names.join(", "));
                }
            }
            Err(invalid) => field("Definition", &format!("invalid: {invalid}")),
        }
        field("Phase", &or_dash(self.phase.as_deref()));
        let workload = self.workload.as_ref().map_or_else(
            || "-".to_owned(),
            |w| match &w.backfill_request {
                Some(request) => format!("{} (backfill for {request})", w.short()),
                None => w.short(),
            },
        );
        field("Workload", &workload);

        out.push_str("\nConditions:\n");
        if self.conditions.is_empty() {
            out.push_str("  <none>\n");
        } else {
            let rows: Vec<Vec<String>> = self
                .conditions
                .iter()
                .map(|c| {
                    vec![
                        c.type_.clone(),
                        c.status.clone(),
                        c.reason.clone(),
                        age(Some(&c.last_transition_time.0.to_string()), now),
                        c.message.clone(),
                    ]
                })
                .collect();
            indent(
                &mut out,
                &render(&["TYPE", "STATUS", "REASON", "AGE", "MESSAGE"], &rows),
            );
        }

        out.push_str("\nBackfills:\n");
        if self.backfills.is_empty() {
            out.push_str("  <none>\n");
        } else {
            let rows: Vec<Vec<String>> = self
                .backfills
                .iter()
                .map(|b| {
                    vec![
                        b.name.clone(),
                        b.state.reason().to_owned(),
                        age(b.created.as_deref(), now),
                        b.message.clone(),
                    ]
                })
                .collect();
            indent(&mut out, &render(&["REQUEST", "STATE", "AGE", "MESSAGE"], &rows));
        }

        out.push_str("\nEvents:\n");
        if self.events.is_empty() {
            out.push_str("  <none>\n");
        } else {
            let rows: Vec<Vec<String>> = self
                .events
                .iter()
                .map(|e| {
                    let seen = age(e.last_seen.as_deref(), now);
                    let seen = if e.count > 1 {
                        format!("{seen} (x{})", e.count)
                    } else {
                        seen
                    };
                    vec![e.type_.clone(), e.reason.clone(), seen, e.note.clone()]
                })
                .collect();
            indent(&mut out, &render(&["TYPE", "REASON", "AGE", "MESSAGE"], &rows));
        }

        if let Some(hint) = self.recovery_hint() {
            out.push_str(&format!("\nTo recover: {hint}\n"));
        }
        out
    }

    /// For a failed stream: what the operator says to do (its message ends with it), spelled as
    /// plugin commands.
    pub fn recovery_hint(&self) -> Option<String> {
        if self.phase.as_deref() != Some("Failed") {
            return None;
        }
        let invalid = self.definition.is_err()
            || ready(&self.conditions)
                .is_some_and(|c| c.reason == crate::stream::reasons::Reason::InvalidSpec.as_str());
        if invalid {
            return Some(
                "fix the stream definition (see the Ready message); the operator retries on every change."
                    .to_owned(),
            );
        }
        Some(format!(
            "kubectl arcane suspend {name}, wait for phase Suspended, then kubectl arcane resume {name} \
             (or change the definition or its template).",
            name = self.name
        ))
    }
}

fn indent(out: &mut String, text: &str) {
    for line in text.lines() {
        out.push_str("  ");
        out.push_str(line);
        out.push('\n');
    }
}
