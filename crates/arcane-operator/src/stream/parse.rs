//! Parsing a stream definition (a dynamic object) of layout v0, v1 or v2 into a [`StreamDefinition`].
//!
//! Stream definitions belong to plugins and arrive untyped, possibly malformed or hostile. Nothing
//! here panics: every defect becomes an [`InvalidSpec`] naming the field, so the stream can be
//! marked `Failed` while the watch of its class carries on.

mod access;
mod syntax;

#[cfg(test)]
mod proptests;
#[cfg(test)]
mod tests;

use std::io;

use kube::api::DynamicObject;
use serde_json::{Map, Value};

use access::{Node, invalid, quote};

use super::model::{
    ANNOTATION_LEGACY_STATE, Backend, InvalidSpec, LEGACY_STATE_RELOAD_REQUESTED, LEGACY_STATE_SUSPENDED,
    Layout, StreamDefinition, StreamIdentity, TemplateRef,
};

/// Largest accepted `.spec`, serialized. The spec is hashed and copied into every workload's
/// environment; real ones are a few KiB, so this only stops absurd objects.
pub const MAX_SPEC_BYTES: usize = 1024 * 1024;

/// Identity of any stream object, however malformed its spec.
pub fn identity(object: &DynamicObject) -> StreamIdentity {
    let (api_version, kind) = object
        .types
        .as_ref()
        .map(|t| (t.api_version.clone(), t.kind.clone()))
        .unwrap_or_default();
    let metadata = &object.metadata;
    StreamIdentity {
        api_version,
        kind,
        namespace: metadata.namespace.clone().unwrap_or_default(),
        name: metadata.name.clone().unwrap_or_default(),
        uid: metadata.uid.clone().unwrap_or_default(),
        generation: metadata.generation.unwrap_or(0),
    }
}

/// Parses and validates a stream definition; `secret_ref_fields` are the class's `secretRefs`.
pub fn parse(object: &DynamicObject, secret_ref_fields: &[String]) -> Result<StreamDefinition, InvalidSpec> {
    let spec = Node::new("spec", object.data.get("spec"));
    let spec_map = spec.required_object()?;
    check_size(spec_map)?;
    // Template references default to it, and workloads are created in it.
    let namespace = object
        .metadata
        .namespace
        .as_deref()
        .filter(|ns| !ns.is_empty())
        .ok_or_else(|| invalid("metadata.namespace", "the stream definition has no namespace"))?;

    let layout = layout(&spec)?;
    let execution = match layout {
        Layout::V0 => flat(&spec, namespace)?,
        Layout::V1 => nested(&spec, namespace, BackfillAt::Execution)?,
        Layout::V2 => nested(&spec, namespace, BackfillAt::ChangeCapture)?,
    };
    let secret_names = secret_names(&spec, secret_ref_fields)?;
    let legacy_state = object
        .metadata
        .annotations
        .as_ref()
        .and_then(|annotations| annotations.get(ANNOTATION_LEGACY_STATE))
        .map(String::as_str);

    Ok(StreamDefinition {
        layout,
        suspended: execution.suspended || legacy_state == Some(LEGACY_STATE_SUSPENDED),
        backend: execution.backend,
        streaming_template: execution.streaming_template,
        backfill_template: execution.backfill_template,
        secret_names,
        reload_requested: legacy_state == Some(LEGACY_STATE_RELOAD_REQUESTED),
        spec: Value::Object(spec_map.clone()),
    })
}

/// The layout-dependent part of a definition.
struct Execution {
    suspended: bool,
    backend: Backend,
    streaming_template: TemplateRef,
    backfill_template: Option<TemplateRef>,
}

/// Where a v1/v2 definition keeps its backfill template.
#[derive(Clone, Copy)]
enum BackfillAt {
    /// v1: `spec.execution.backfillJobTemplateRef`.
    Execution,
    /// v2: `spec.execution.streamingBackend.changeCapture.backfillJobTemplateRef`.
    ChangeCapture,
}

/// Counts serialized bytes and stops the serializer once over budget, so an absurd spec is never
/// serialized in full.
struct Budget(usize);

impl io::Write for Budget {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.0 = self
            .0
            .checked_sub(buf.len())
            .ok_or_else(|| io::Error::other("over budget"))?;
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

fn check_size(spec: &Map<String, Value>) -> Result<(), InvalidSpec> {
    serde_json::to_writer(Budget(MAX_SPEC_BYTES), spec).map_err(|_| {
        invalid(
            "spec",
            format!("too large: over {MAX_SPEC_BYTES} bytes when serialized"),
        )
    })
}

fn layout(spec: &Node<'_>) -> Result<Layout, InvalidSpec> {
    let execution = spec.child("execution");
    if execution.object()?.is_none() {
        return Ok(Layout::V0);
    }
    let version = execution.child("layoutVersion");
    match version.string()? {
        None | Some("") => Ok(Layout::V0),
        Some("v1") => Ok(Layout::V1),
        Some("v2") => Ok(Layout::V2),
        Some(other) => Err(invalid(
            version.path(),
            format!(
                "unknown layout version {}: expected \"v1\", \"v2\" or none",
                quote(other)
            ),
        )),
    }
}

/// v0: everything at the top of `.spec`; always a Job backend.
fn flat(spec: &Node<'_>, namespace: &str) -> Result<Execution, InvalidSpec> {
    Ok(Execution {
        suspended: spec.child("suspended").bool()?.unwrap_or(false),
        backend: Backend::Job,
        streaming_template: template_ref(&spec.child("jobTemplateRef"), namespace)?,
        backfill_template: Some(template_ref(&spec.child("backfillJobTemplateRef"), namespace)?),
    })
}

/// v1 and v2: `spec.execution`, with `batch` taking precedence over `changeCapture`.
fn nested(spec: &Node<'_>, namespace: &str, backfill_at: BackfillAt) -> Result<Execution, InvalidSpec> {
    let execution = spec.child("execution");
    let suspended = execution.child("suspended").bool()?.unwrap_or(false);
    let backends = execution.child("streamingBackend");
    let no_backend = || {
        invalid(
            backends.path(),
            "no streaming backend: set changeCapture or batch",
        )
    };
    backends.object()?.ok_or_else(no_backend)?;
    let batch = backends.child("batch");
    let change_capture = backends.child("changeCapture");
    let has_batch = batch.object()?.is_some();
    // Read even when `batch` wins: a v2 cron stream takes its backfill template from here.
    let has_change_capture = change_capture.object()?.is_some();

    let (backend, streaming_template) = if has_batch {
        let schedule = batch.child("schedule");
        let text = schedule.required_string()?;
        syntax::schedule(text).map_err(|message| invalid(schedule.path(), message))?;
        let template = template_ref(&batch.child("jobTemplateRef"), namespace)?;
        let backend = Backend::CronJob {
            // Surrounding blanks are harmless here but not to every cron parser.
            schedule: text.trim().to_owned(),
        };
        (backend, template)
    } else if has_change_capture {
        let template = template_ref(&change_capture.child("jobTemplateRef"), namespace)?;
        (Backend::Job, template)
    } else {
        return Err(no_backend());
    };

    let backfill = match backfill_at {
        BackfillAt::Execution => execution.child("backfillJobTemplateRef"),
        BackfillAt::ChangeCapture => change_capture.child("backfillJobTemplateRef"),
    };
    let backfill_template = match backend {
        Backend::Job => Some(template_ref(&backfill, namespace)?),
        Backend::CronJob { .. } => optional_template_ref(&backfill, namespace)?,
    };
    Ok(Execution {
        suspended,
        backend,
        streaming_template,
        backfill_template,
    })
}

/// A required `{name, namespace}` reference; an empty or absent namespace is the stream's.
fn template_ref(node: &Node<'_>, stream_namespace: &str) -> Result<TemplateRef, InvalidSpec> {
    node.required_object()?;
    let name_node = node.child("name");
    let name = name_node.required_string()?;
    syntax::subdomain(name).map_err(|message| invalid(name_node.path(), message))?;
    let namespace_node = node.child("namespace");
    let namespace = match namespace_node.string()? {
        None | Some("") => stream_namespace,
        Some(namespace) => {
            syntax::label(namespace).map_err(|message| invalid(namespace_node.path(), message))?;
            namespace
        }
    };
    Ok(TemplateRef {
        namespace: namespace.to_owned(),
        name: name.to_owned(),
    })
}

/// The backfill reference of a CronJob stream. The Go operator demanded one even for v1 cron
/// streams while accepting `{}`, so existing cron streams carry nameless placeholders: those mean
/// "no backfill template" rather than an invalid stream.
fn optional_template_ref(
    node: &Node<'_>,
    stream_namespace: &str,
) -> Result<Option<TemplateRef>, InvalidSpec> {
    if node.object()?.is_none() {
        return Ok(None);
    }
    match node.child("name").string()? {
        None | Some("") => Ok(None),
        Some(_) => template_ref(node, stream_namespace).map(Some),
    }
}

fn secret_names(spec: &Node<'_>, fields: &[String]) -> Result<Vec<String>, InvalidSpec> {
    fields
        .iter()
        .map(|field| {
            let reference = spec.child(field);
            if !reference.is_present() {
                return Err(invalid(
                    reference.path(),
                    "required by the stream class's secretRefs but missing",
                ));
            }
            reference.required_object()?;
            let name_node = reference.child("name");
            let name = name_node.required_string()?;
            syntax::subdomain(name).map_err(|message| invalid(name_node.path(), message))?;
            Ok(name.to_owned())
        })
        .collect()
}
