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

use super::builder::{ENV_SPEC, MAX_ENV_STRING_BYTES};
use super::model::{
    ANNOTATION_LEGACY_STATE, Backend, InvalidSpec, LEGACY_STATE_RELOAD_REQUESTED, LEGACY_STATE_SUSPENDED,
    Layout, StreamDefinition, StreamIdentity, TemplateRef,
};

/// Largest accepted `.spec`, as compact JSON. Every workload receives the spec whole as one
/// environment string, `STREAMCONTEXT__SPEC=<json>` plus its final NUL, and Linux refuses to start
/// a process with an environment string over [`MAX_ENV_STRING_BYTES`]: a larger spec would make a
/// Job whose pods can never start, so it is refused here, before any workload is built.
pub const MAX_SPEC_BYTES: usize = MAX_ENV_STRING_BYTES - ENV_SPEC.len() - "=".len() - 1;

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
        suspended_by_annotation: !execution.suspended && legacy_state == Some(LEGACY_STATE_SUSPENDED),
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

/// Counts serialized bytes without keeping them.
struct Count(usize);

impl io::Write for Count {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.0 = self.0.saturating_add(buf.len());
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// Bytes of `spec` as the compact JSON the builder renders into `STREAMCONTEXT__SPEC`. serde_json
/// escapes strings and prints numbers exactly as the builder's canonical form does; only the key
/// order differs, which does not change the length. The whole object is counted, so that the
/// message can name the size: the API server bounds it to a few MiB.
pub(crate) fn spec_json_bytes(spec: &Map<String, Value>) -> usize {
    let mut count = Count(0);
    // Writing a JSON value to a counter cannot fail; a failure would only leave the count short.
    let _ = serde_json::to_writer(&mut count, spec);
    count.0
}

fn check_size(spec: &Map<String, Value>) -> Result<(), InvalidSpec> {
    let bytes = spec_json_bytes(spec);
    if bytes <= MAX_SPEC_BYTES {
        return Ok(());
    }
    Err(invalid(
        "spec",
        format!(
            "too large: {bytes} bytes as JSON, over the {MAX_SPEC_BYTES} that fit in the \
             workload's environment variable {ENV_SPEC}; Linux refuses to start a container with \
             an environment string over {MAX_ENV_STRING_BYTES} bytes (MAX_ARG_STRLEN, counting \
             the name, '=' and the final NUL)"
        ),
    ))
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
    let suspended = spec.child("suspended").bool()?.unwrap_or(false);
    let reference = |key: &str| {
        let node = spec.child(key);
        if node.is_present() {
            template_ref(&node, namespace)
        } else {
            Err(invalid(
                node.path(),
                format!("required but missing: {}", v0_advice(spec)),
            ))
        }
    };
    Ok(Execution {
        suspended,
        backend: Backend::Job,
        streaming_template: reference("jobTemplateRef")?,
        backfill_template: Some(reference("backfillJobTemplateRef")?),
    })
}

/// Why a stream missing a v0 template was read as v0 at all, and what each layout needs: the
/// stream may well be a v1/v2 one that lost or never had its `layoutVersion`.
fn v0_advice(spec: &Node<'_>) -> String {
    let why = if spec.child("execution").is_present() {
        "spec.execution has no layoutVersion, so the stream is read as layout v0"
    } else if let Some(field) = ["streamingBackend", "layoutVersion"]
        .into_iter()
        .find(|key| spec.child(key).is_present())
    {
        return format!(
            "spec.{field} is a layout v1/v2 field and belongs under spec.execution; without \
             spec.execution the stream is read as layout v0, {NEEDS}"
        );
    } else {
        "without spec.execution.layoutVersion the stream is read as layout v0"
    };
    format!("{why}, {NEEDS}")
}

const NEEDS: &str = "which needs spec.jobTemplateRef and spec.backfillJobTemplateRef; layouts v1 \
                     and v2 need spec.execution.layoutVersion (\"v1\" or \"v2\") and \
                     spec.execution.streamingBackend";

/// v1 and v2: `spec.execution`, with exactly one of `batch` and `changeCapture`.
fn nested(spec: &Node<'_>, namespace: &str, backfill_at: BackfillAt) -> Result<Execution, InvalidSpec> {
    let execution = spec.child("execution");
    let suspended = execution.child("suspended").bool()?.unwrap_or(false);
    let backends = execution.child("streamingBackend");
    let no_backend = || {
        invalid(
            backends.path(),
            "no streaming backend: set changeCapture.jobTemplateRef for a long-running Job, or \
             batch.schedule and batch.jobTemplateRef for a CronJob",
        )
    };
    backends.object()?.ok_or_else(no_backend)?;
    let batch = backends.child("batch");
    let change_capture = backends.child("changeCapture");
    let has_batch = batch.object()?.is_some();
    // Read even beside `batch`: a v2 cron stream takes its backfill template from here.
    let has_change_capture = change_capture.object()?.is_some();
    if has_batch && has_change_capture {
        check_one_backend(&backends, &change_capture, backfill_at)?;
    }

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

    let at_execution = execution.child("backfillJobTemplateRef");
    let at_change_capture = change_capture.child("backfillJobTemplateRef");
    let (backfill, elsewhere, layout) = match backfill_at {
        BackfillAt::Execution => (&at_execution, &at_change_capture, "v1"),
        BackfillAt::ChangeCapture => (&at_change_capture, &at_execution, "v2"),
    };
    let backfill_template = match backend {
        Backend::Job if !backfill.is_present() => {
            // The other layout's place is the likely mistake: say it is not read.
            let hint = if elsewhere.is_present() {
                format!("; {} is not read in layout {layout}", elsewhere.path())
            } else {
                String::new()
            };
            return Err(invalid(
                backfill.path(),
                format!(
                    "required but missing: a layout {layout} stream with changeCapture keeps \
                     its backfill template here{hint}"
                ),
            ));
        }
        Backend::Job => Some(template_ref(backfill, namespace)?),
        Backend::CronJob { .. } => optional_template_ref(backfill, namespace)?,
    };
    Ok(Execution {
        suspended,
        backend,
        streaming_template,
        backfill_template,
    })
}

/// Refuses a stream that sets both backends, rather than picking one silently: the user meant one
/// of them, and running the other would be a surprise. A v2 `changeCapture` without a
/// `jobTemplateRef` beside `batch` is not a second backend: it is where a v2 cron stream keeps its
/// backfill template.
fn check_one_backend(
    backends: &Node<'_>,
    change_capture: &Node<'_>,
    backfill_at: BackfillAt,
) -> Result<(), InvalidSpec> {
    let batch = backends.child("batch");
    let streaming = change_capture.child("jobTemplateRef");
    let message = match backfill_at {
        BackfillAt::ChangeCapture if !streaming.is_present() => return Ok(()),
        BackfillAt::ChangeCapture => format!(
            "ambiguous backend: both {} and {} are set; keep batch for a CronJob on a schedule, \
             or changeCapture for a long-running Job (a layout v2 cron stream may keep \
             changeCapture for its backfillJobTemplateRef alone)",
            batch.path(),
            streaming.path()
        ),
        BackfillAt::Execution => format!(
            "ambiguous backend: both {} and {} are set; keep batch for a CronJob on a schedule, \
             or changeCapture for a long-running Job",
            batch.path(),
            change_capture.path()
        ),
    };
    Err(invalid(backends.path(), message))
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
