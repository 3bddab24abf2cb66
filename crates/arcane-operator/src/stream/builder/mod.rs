//! The workload builder: pure functions from (stream, class, template, mode) to a Job or CronJob.
//!
//! OWNER: builder helper. Signatures are the contract with `decide`.

mod env;
mod error;
mod meta;
mod template;

#[cfg(test)]
mod edge_tests;
#[cfg(test)]
mod hash_tests;
#[cfg(test)]
mod proptests;
#[cfg(test)]
mod size_tests;
#[cfg(test)]
mod tests;

use k8s_openapi::api::batch::v1::{CronJob, CronJobSpec, Job, JobTemplateSpec};
use k8s_openapi::api::core::v1::EnvVar;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use serde_json::{Map, Value};

use crate::crd::{BackfillRequest, StreamingJobTemplate};

use super::hash;
use super::model::{Backend, ClassInfo, StreamDefinition, StreamIdentity, Workload, WorkloadKind};
use super::names;

pub use env::{
    ENV_BACKFILL, ENV_BACKFILL_ID, ENV_OVERRIDE, ENV_SPEC, ENV_STREAM_ID, ENV_STREAM_KIND,
    JOB_NAME_FIELD_PATH, MAX_ENV_STRING_BYTES, env_string_bytes,
};
pub use error::{BuildError, EnvSource, EnvTooLarge, check_request};

/// Version of the rendering rules, part of every configuration hash: bump it when the builder's
/// output changes for the same input, so that running workloads get rebuilt with the new rules.
pub const FORMAT_VERSION: u32 = 1;

/// `spec.concurrencyPolicy` of every CronJob: a batch run never overlaps the previous one.
pub const CRONJOB_CONCURRENCY_POLICY: &str = "Forbid";

/// What kind of workload to build.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Mode<'a> {
    /// The stream's backend: a long-running Job or a CronJob.
    Streaming,
    /// A backfill Job for this request.
    Backfill(&'a BackfillRequest),
}

/// Everything a workload is built from.
#[derive(Debug, Clone, Copy)]
pub struct BuildInput<'a> {
    pub identity: &'a StreamIdentity,
    pub definition: &'a StreamDefinition,
    pub class: &'a ClassInfo,
    /// The template for this mode (streaming template for `Streaming`, backfill template otherwise).
    pub template: &'a StreamingJobTemplate,
    pub mode: Mode<'a>,
    /// Restarts of completed streaming Jobs before this one (recorded as an annotation; not hashed).
    pub restarts: u32,
}

/// Builds the workload: a Job (streaming with a Job backend, or backfill) or a CronJob.
pub fn build(input: &BuildInput<'_>) -> Result<Workload, BuildError> {
    let namespace = || input.template.metadata.namespace.clone().unwrap_or_default();
    let name = || input.template.metadata.name.clone().unwrap_or_default();
    let parts = template::parse(&input.template.spec.job).map_err(|message| BuildError::Template {
        namespace: namespace(),
        name: name(),
        message,
    })?;
    let hash = configuration_hash(input);
    let kind = match (input.mode, &input.definition.backend) {
        (Mode::Streaming, Backend::CronJob { .. }) => WorkloadKind::CronJob,
        (Mode::Streaming, Backend::Job) | (Mode::Backfill(_), _) => WorkloadKind::Job,
    };
    if let Some((path, variable, bytes)) = env::oversized_in_template(&parts.job_spec) {
        let source = EnvSource::Template {
            namespace: namespace(),
            name: name(),
            path,
        };
        return Err(EnvTooLarge {
            source,
            variable,
            bytes,
            workload: kind,
        }
        .into());
    }
    match (input.mode, &input.definition.backend) {
        (Mode::Streaming, Backend::CronJob { schedule }) => Ok(Workload::CronJob(Box::new(build_cronjob(
            input, parts, schedule, hash,
        )?))),
        (Mode::Streaming, Backend::Job) | (Mode::Backfill(_), _) => {
            Ok(Workload::Job(Box::new(build_job(input, parts, hash)?)))
        }
    }
}

/// Refuses `vars` when one of them cannot be passed to a process: the stream's spec or the
/// request's payload is too large.
fn check_sizes(vars: &[EnvVar], request: Option<&str>, kind: WorkloadKind) -> Result<(), EnvTooLarge> {
    let Some((var, bytes)) = env::oversized(vars) else {
        return Ok(());
    };
    let source = match request {
        Some(request) if var.name == ENV_OVERRIDE => EnvSource::Payload {
            request: request.to_owned(),
        },
        // The other variables hold names of at most 253 characters and fixed words.
        _ => EnvSource::Spec,
    };
    Err(EnvTooLarge {
        source,
        variable: var.name.clone(),
        bytes,
        workload: kind,
    })
}

/// The `configuration-hash` the workload built from `input` carries.
pub fn configuration_hash(input: &BuildInput<'_>) -> String {
    hash::digest(&hash_document(input))
}

/// Everything the rendered workload depends on, and nothing else: the generation, restart count and
/// UID only land in annotations and owner references, and must not make an unchanged workload look
/// outdated.
fn hash_document(input: &BuildInput<'_>) -> Value {
    let mut doc = Map::new();
    doc.insert("format".into(), FORMAT_VERSION.into());
    doc.insert(
        "stream".into(),
        serde_json::json!({
            "kind": input.identity.kind,
            "namespace": input.identity.namespace,
            "name": input.identity.name,
        }),
    );
    doc.insert("spec".into(), input.definition.spec.clone());
    doc.insert("template".into(), input.template.spec.job.clone());
    doc.insert("class".into(), input.class.name.clone().into());
    doc.insert("secrets".into(), input.definition.secret_names.clone().into());
    // The backend is hashed in both modes (as the contract says), though a backfill Job does not
    // render it: it lives in `.spec` anyway, so a backend change changes the hash either way.
    let backend = match &input.definition.backend {
        Backend::Job => serde_json::json!({"type": "job"}),
        Backend::CronJob { schedule } => serde_json::json!({"type": "cronJob", "schedule": schedule}),
    };
    doc.insert("backend".into(), backend);
    match input.mode {
        Mode::Streaming => {
            doc.insert("mode".into(), "streaming".into());
        }
        Mode::Backfill(request) => {
            doc.insert("mode".into(), "backfill".into());
            doc.insert(
                "backfill".into(),
                serde_json::json!({
                    "request": request_name(request),
                    "payload": request_payload(request).cloned().unwrap_or(Value::Null),
                }),
            );
        }
    }
    Value::Object(doc)
}

fn request_name(request: &BackfillRequest) -> String {
    request.metadata.name.clone().unwrap_or_default()
}

/// The request's payload; an explicit `null` counts as no payload.
fn request_payload(request: &BackfillRequest) -> Option<&Value> {
    request.spec.payload.as_ref().filter(|payload| !payload.is_null())
}

fn build_job(
    input: &BuildInput<'_>,
    parts: template::TemplateParts,
    hash: String,
) -> Result<Job, EnvTooLarge> {
    let request = match input.mode {
        Mode::Backfill(request) => Some(request),
        Mode::Streaming => None,
    };
    let metadata = meta::workload_metadata(
        input,
        &meta::WorkloadMeta {
            name: names::workload_name(&input.identity.name, WorkloadKind::Job),
            template_labels: &parts.labels,
            template_annotations: &parts.annotations,
            backfilling: request.is_some(),
            backfill_request: request.map(request_name),
            hash,
        },
    );
    let vars = match request {
        Some(request) => env::backfill_vars(input, &request_name(request), request_payload(request)),
        None => env::streaming_vars(input),
    };
    let request_name = request.map(request_name);
    check_sizes(&vars, request_name.as_deref(), WorkloadKind::Job)?;
    let mut spec = parts.job_spec;
    env::apply(&mut spec, &vars, &input.definition.secret_names);
    Ok(Job {
        metadata,
        spec: Some(spec),
        status: None,
    })
}

fn build_cronjob(
    input: &BuildInput<'_>,
    parts: template::TemplateParts,
    schedule: &str,
    hash: String,
) -> Result<CronJob, EnvTooLarge> {
    let metadata = meta::workload_metadata(
        input,
        &meta::WorkloadMeta {
            name: names::workload_name(&input.identity.name, WorkloadKind::CronJob),
            template_labels: &parts.labels,
            template_annotations: &parts.annotations,
            backfilling: false,
            backfill_request: None,
            hash,
        },
    );
    let vars = env::cron_vars(input);
    check_sizes(&vars, None, WorkloadKind::CronJob)?;
    let mut job_spec = parts.job_spec;
    env::apply(&mut job_spec, &vars, &input.definition.secret_names);
    // The child Jobs carry the template's metadata only: with the operator's labels they would look
    // like the stream's own workload to anything selecting on `arcane/stream-id`.
    let job_metadata = meta::template_metadata(&parts.labels, &parts.annotations);
    let (time_zone, schedule) = split_time_zone(schedule);
    Ok(CronJob {
        metadata,
        spec: Some(CronJobSpec {
            schedule: schedule.to_owned(),
            time_zone: time_zone.map(str::to_owned),
            concurrency_policy: Some(CRONJOB_CONCURRENCY_POLICY.to_owned()),
            job_template: JobTemplateSpec {
                metadata: (job_metadata != ObjectMeta::default()).then_some(job_metadata),
                spec: Some(job_spec),
            },
            ..CronJobSpec::default()
        }),
        status: None,
    })
}

/// Splits a `CRON_TZ=<zone> ` or `TZ=<zone> ` prefix off a schedule: API servers since 1.29 refuse
/// it inside `spec.schedule` and take the zone in `spec.timeZone` instead.
fn split_time_zone(schedule: &str) -> (Option<&str>, &str) {
    let schedule = schedule.trim();
    for prefix in ["CRON_TZ=", "TZ="] {
        if let Some(rest) = schedule.strip_prefix(prefix)
            && let Some((zone, cron)) = rest.split_once(char::is_whitespace)
            && !zone.is_empty()
        {
            return (Some(zone), cron.trim_start());
        }
    }
    (None, schedule)
}

#[cfg(test)]
mod time_zone_tests {
    use super::split_time_zone;

    #[test]
    fn time_zone_prefix_moves_to_its_own_field() {
        let cases = [
            ("0 * * * *", None, "0 * * * *"),
            (
                "CRON_TZ=Europe/Amsterdam 0 3 * * *",
                Some("Europe/Amsterdam"),
                "0 3 * * *",
            ),
            ("TZ=UTC   @daily", Some("UTC"), "@daily"),
            ("TZ= 0 * * * *", None, "TZ= 0 * * * *"),
        ];
        for (input, zone, cron) in cases {
            assert_eq!(split_time_zone(input), (zone, cron), "{input}");
        }
    }
}
