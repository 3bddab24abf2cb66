//! Field-by-field tests of the built workloads. Fixtures are local so the expected values are in view.

use std::collections::BTreeMap;

use k8s_openapi::api::batch::v1::{CronJob, Job, JobSpec};
use k8s_openapi::api::core::v1::{Container, EnvFromSource, EnvVar};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::OwnerReference;
use serde_json::{Value, json};

use super::*;
use crate::crd::{BackfillRequestSpec, StreamingJobTemplateSpec};
use crate::stream::model::{
    ANNOTATION_BACKFILL_REQUEST, ANNOTATION_CONFIGURATION_HASH, ANNOTATION_RESTARTS,
    ANNOTATION_STREAM_GENERATION, Layout, TemplateRef,
};

pub(super) const NS: &str = "streams";
pub(super) const STREAM: &str = "orders";
pub(super) const KIND: &str = "MockStreamDefinition";
pub(super) const CLASS: &str = "arcane-stream-mock";
const SPEC_JSON: &str =
    r#"{"destination":{"table":"sink"},"secretRef":{"name":"orders-secret"},"source":{"table":"src"}}"#;

pub(super) fn identity(name: &str) -> StreamIdentity {
    StreamIdentity {
        api_version: "streaming.sneaksanddata.com/v1".into(),
        kind: KIND.into(),
        namespace: NS.into(),
        name: name.into(),
        uid: format!("uid-{name}"),
        generation: 7,
    }
}

pub(super) fn definition(backend: Backend) -> StreamDefinition {
    StreamDefinition {
        layout: Layout::V1,
        suspended: false,
        suspended_by_annotation: false,
        backend,
        streaming_template: TemplateRef {
            namespace: NS.into(),
            name: "streaming-template".into(),
        },
        backfill_template: Some(TemplateRef {
            namespace: NS.into(),
            name: "backfill-template".into(),
        }),
        secret_names: vec!["orders-secret".into()],
        reload_requested: false,
        // Keys deliberately out of order: STREAMCONTEXT__SPEC must sort them.
        spec: json!({
            "source": {"table": "src"},
            "secretRef": {"name": "orders-secret"},
            "destination": {"table": "sink"},
        }),
    }
}

pub(super) fn class() -> ClassInfo {
    ClassInfo {
        name: CLASS.into(),
        secret_refs: vec!["secretRef".into()],
    }
}

/// A template with an init container, two containers (one already defining some context variables,
/// one with an existing envFrom), template labels/annotations and an owner reference to drop.
pub(super) fn template_job() -> Value {
    json!({
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {
            "name": "ignored",
            "labels": {"app": "mock", "arcane/stream-id": "from-template"},
            "annotations": {"team": "data", "arcane/backfill-request": "bogus", "configuration-hash": "bogus"},
            "ownerReferences": [{"apiVersion": "v1", "kind": "ConfigMap", "name": "x", "uid": "u"}],
        },
        "spec": {
            "backoffLimit": 2,
            "template": {
                "metadata": {"labels": {"pod": "yes"}},
                "spec": {
                    "restartPolicy": "Never",
                    "initContainers": [{"name": "init", "image": "busybox", "env": [{"name": "INIT", "value": "1"}]}],
                    "containers": [
                        {
                            "name": "main",
                            "image": "mock:1",
                            "env": [
                                {"name": "FIRST", "value": "1"},
                                {"name": "STREAMCONTEXT__SPEC", "value": "stale"},
                                {"name": "MIDDLE", "value": "m"},
                                {"name": "STREAMCONTEXT__BACKFILL", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}},
                                {"name": "STREAMCONTEXT__SPEC", "value": "duplicate"},
                                {"name": "STREAMCONTEXT__OVERRIDE", "value": "template-override"},
                            ],
                        },
                        {
                            "name": "sidecar",
                            "image": "side:1",
                            "envFrom": [
                                {"configMapRef": {"name": "cm"}},
                                {"secretRef": {"name": "orders-secret"}},
                            ],
                        },
                    ],
                },
            },
        },
    })
}

pub(super) fn template(job: Value) -> StreamingJobTemplate {
    let mut t = StreamingJobTemplate::new("streaming-template", StreamingJobTemplateSpec { job });
    t.metadata.namespace = Some(NS.into());
    t
}

pub(super) fn request(name: &str, payload: Option<Value>) -> BackfillRequest {
    let mut r = BackfillRequest::new(
        name,
        BackfillRequestSpec {
            stream_class: CLASS.into(),
            stream_id: STREAM.into(),
            completed: false,
            payload,
        },
    );
    r.metadata.namespace = Some(NS.into());
    r
}

pub(super) fn input<'a>(
    identity: &'a StreamIdentity,
    definition: &'a StreamDefinition,
    class: &'a ClassInfo,
    template: &'a StreamingJobTemplate,
    mode: Mode<'a>,
) -> BuildInput<'a> {
    BuildInput {
        identity,
        definition,
        class,
        template,
        mode,
        restarts: 3,
    }
}

pub(super) fn expect_job(workload: Workload) -> Job {
    match workload {
        Workload::Job(job) => *job,
        Workload::CronJob(c) => panic!("expected a Job, got CronJob {:?}", c.metadata.name),
    }
}

pub(super) fn expect_cronjob(workload: Workload) -> CronJob {
    match workload {
        Workload::CronJob(c) => *c,
        Workload::Job(j) => panic!("expected a CronJob, got Job {:?}", j.metadata.name),
    }
}

fn map(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect()
}

pub(super) fn val(name: &str, value: &str) -> EnvVar {
    EnvVar {
        name: name.into(),
        value: Some(value.into()),
        value_from: None,
    }
}

pub(super) fn containers(spec: &JobSpec) -> &[Container] {
    &spec.template.spec.as_ref().unwrap().containers
}

fn secret_refs(container: &Container) -> Vec<(Option<String>, Option<String>)> {
    container
        .env_from
        .iter()
        .flatten()
        .map(|e: &EnvFromSource| {
            (
                e.config_map_ref.as_ref().map(|c| c.name.clone()),
                e.secret_ref.as_ref().map(|s| s.name.clone()),
            )
        })
        .collect()
}

fn stream_owner() -> Vec<OwnerReference> {
    vec![OwnerReference {
        api_version: "streaming.sneaksanddata.com/v1".into(),
        kind: KIND.into(),
        name: STREAM.into(),
        uid: "uid-orders".into(),
        controller: Some(true),
        block_owner_deletion: Some(true),
    }]
}

/// Expected env of the template's first container after the context `vars` were set.
fn main_env(spec_value: EnvVar, backfill: EnvVar, override_var: EnvVar, extra: Vec<EnvVar>) -> Vec<EnvVar> {
    let mut env = vec![
        val("FIRST", "1"),
        spec_value,
        val("MIDDLE", "m"),
        backfill,
        override_var,
    ];
    env.push(val(ENV_STREAM_ID, STREAM));
    env.push(val(ENV_STREAM_KIND, KIND));
    env.extend(extra);
    env
}

#[test]
fn streaming_job_is_built_field_by_field() {
    let (id, def, cls, tpl) = (
        identity(STREAM),
        definition(Backend::Job),
        class(),
        template(template_job()),
    );
    let input = input(&id, &def, &cls, &tpl, Mode::Streaming);
    let job = expect_job(build(&input).unwrap());

    assert_eq!(job.metadata.name.as_deref(), Some(STREAM));
    assert_eq!(job.metadata.namespace.as_deref(), Some(NS));
    assert_eq!(
        job.metadata.labels.clone().unwrap(),
        map(&[
            ("app", "mock"),
            ("arcane/stream-id", STREAM),
            ("arcane/stream-kind", KIND),
            ("arcane/stream-class", CLASS),
            ("arcane/backfilling", "false"),
        ])
    );
    let hash = configuration_hash(&input);
    assert_eq!(
        job.metadata.annotations.clone().unwrap(),
        map(&[
            ("team", "data"),
            (ANNOTATION_CONFIGURATION_HASH, &hash),
            (ANNOTATION_STREAM_GENERATION, "7"),
            (ANNOTATION_RESTARTS, "3"),
        ])
    );
    assert_eq!(job.metadata.owner_references.clone().unwrap(), stream_owner());

    let spec = job.spec.unwrap();
    assert_eq!(spec.backoff_limit, Some(2));
    let c = containers(&spec);
    assert_eq!(c.len(), 2);
    assert_eq!(
        c[0].env.clone().unwrap(),
        main_env(
            val(ENV_SPEC, SPEC_JSON),
            val(ENV_BACKFILL, "false"),
            val(ENV_OVERRIDE, "template-override"),
            vec![]
        )
    );
    assert_eq!(
        c[1].env.clone().unwrap(),
        vec![
            val(ENV_STREAM_ID, STREAM),
            val(ENV_STREAM_KIND, KIND),
            val(ENV_SPEC, SPEC_JSON),
            val(ENV_BACKFILL, "false"),
        ]
    );
    assert_eq!(secret_refs(&c[0]), vec![(None, Some("orders-secret".into()))]);
    assert_eq!(
        secret_refs(&c[1]),
        vec![(Some("cm".into()), None), (None, Some("orders-secret".into()))],
        "an identical secretRef is not added twice"
    );
    let init = &spec
        .template
        .spec
        .as_ref()
        .unwrap()
        .init_containers
        .as_ref()
        .unwrap()[0];
    assert_eq!(init.env.clone().unwrap(), vec![val("INIT", "1")]);
    assert_eq!(init.env_from, None);
    assert_eq!(
        spec.template.metadata.unwrap().labels.unwrap(),
        map(&[("pod", "yes")])
    );
}

#[test]
fn backfill_jobs_with_and_without_payload() {
    let payload = json!({"to": "2024-02-01", "from": "2024-01-01"});
    // (payload, expected OVERRIDE in the container that had none, in the one that had the template's)
    let cases = [
        (
            Some(payload),
            Some(r#"{"from":"2024-01-01","to":"2024-02-01"}"#),
            r#"{"from":"2024-01-01","to":"2024-02-01"}"#,
        ),
        (None, None, "template-override"),
        (Some(Value::Null), None, "template-override"),
    ];
    for backend in [
        Backend::Job,
        Backend::CronJob {
            schedule: "*/5 * * * *".into(),
        },
    ] {
        for (payload, fresh_override, main_override) in cases.clone() {
            let (id, def, cls, tpl) = (
                identity(STREAM),
                definition(backend.clone()),
                class(),
                template(template_job()),
            );
            let req = request("orders-backfill-x1", payload.clone());
            let input = input(&id, &def, &cls, &tpl, Mode::Backfill(&req));
            let job = expect_job(build(&input).unwrap());
            let ctx = format!("{backend:?} {payload:?}");

            assert_eq!(job.metadata.name.as_deref(), Some(STREAM), "{ctx}");
            let labels = job.metadata.labels.clone().unwrap();
            assert_eq!(labels["arcane/backfilling"], "true", "{ctx}");
            assert_eq!(
                job.metadata.annotations.clone().unwrap(),
                map(&[
                    ("team", "data"),
                    (ANNOTATION_CONFIGURATION_HASH, &configuration_hash(&input)),
                    (ANNOTATION_STREAM_GENERATION, "7"),
                    (ANNOTATION_RESTARTS, "3"),
                    (ANNOTATION_BACKFILL_REQUEST, "orders-backfill-x1"),
                ]),
                "{ctx}"
            );
            assert_eq!(job.metadata.owner_references.clone().unwrap(), stream_owner());

            let spec = job.spec.unwrap();
            let c = containers(&spec);
            assert_eq!(
                c[0].env.clone().unwrap(),
                main_env(
                    val(ENV_SPEC, SPEC_JSON),
                    val(ENV_BACKFILL, "true"),
                    val(ENV_OVERRIDE, main_override),
                    vec![val(ENV_BACKFILL_ID, "orders-backfill-x1")],
                ),
                "{ctx}"
            );
            let mut sidecar = vec![
                val(ENV_STREAM_ID, STREAM),
                val(ENV_STREAM_KIND, KIND),
                val(ENV_SPEC, SPEC_JSON),
                val(ENV_BACKFILL, "true"),
                val(ENV_BACKFILL_ID, "orders-backfill-x1"),
            ];
            if let Some(o) = fresh_override {
                sidecar.push(val(ENV_OVERRIDE, o));
            }
            assert_eq!(c[1].env.clone().unwrap(), sidecar, "{ctx}");
        }
    }
}

#[test]
fn cronjob_is_built_field_by_field() {
    let backend = Backend::CronJob {
        schedule: "0 * * * *".into(),
    };
    let (id, def, cls, tpl) = (
        identity(STREAM),
        definition(backend),
        class(),
        template(template_job()),
    );
    let input = input(&id, &def, &cls, &tpl, Mode::Streaming);
    let cron = expect_cronjob(build(&input).unwrap());

    assert_eq!(cron.metadata.name.as_deref(), Some(STREAM));
    assert_eq!(cron.metadata.namespace.as_deref(), Some(NS));
    assert_eq!(
        cron.metadata.labels.clone().unwrap(),
        map(&[
            ("app", "mock"),
            ("arcane/stream-id", STREAM),
            ("arcane/stream-kind", KIND),
            ("arcane/stream-class", CLASS),
            ("arcane/backfilling", "false"),
        ])
    );
    assert_eq!(
        cron.metadata.annotations.clone().unwrap(),
        map(&[
            ("team", "data"),
            (ANNOTATION_CONFIGURATION_HASH, &configuration_hash(&input)),
            (ANNOTATION_STREAM_GENERATION, "7"),
            (ANNOTATION_RESTARTS, "3"),
        ])
    );
    assert_eq!(cron.metadata.owner_references.clone().unwrap(), stream_owner());

    let spec = cron.spec.unwrap();
    assert_eq!(spec.schedule, "0 * * * *");
    assert_eq!(spec.concurrency_policy.as_deref(), Some("Forbid"));
    assert_eq!(spec.suspend, None);
    let job_meta = spec.job_template.metadata.unwrap();
    assert_eq!(
        job_meta.labels.unwrap(),
        map(&[("app", "mock"), ("arcane/stream-id", "from-template")])
    );
    assert_eq!(job_meta.annotations.unwrap(), map(&[("team", "data")]));
    assert_eq!(job_meta.owner_references, None);

    let job_spec = spec.job_template.spec.unwrap();
    let from_job_name = EnvVar {
        name: ENV_BACKFILL_ID.into(),
        value: None,
        value_from: Some(k8s_openapi::api::core::v1::EnvVarSource {
            field_ref: Some(k8s_openapi::api::core::v1::ObjectFieldSelector {
                api_version: None,
                field_path: "metadata.labels['job-name']".into(),
            }),
            ..Default::default()
        }),
    };
    let c = containers(&job_spec);
    assert_eq!(
        c[0].env.clone().unwrap(),
        main_env(
            val(ENV_SPEC, SPEC_JSON),
            val(ENV_BACKFILL, "true"),
            val(ENV_OVERRIDE, "template-override"),
            vec![from_job_name.clone()],
        )
    );
    assert_eq!(
        c[1].env.clone().unwrap(),
        vec![
            val(ENV_STREAM_ID, STREAM),
            val(ENV_STREAM_KIND, KIND),
            val(ENV_SPEC, SPEC_JSON),
            val(ENV_BACKFILL, "true"),
            from_job_name,
        ]
    );
    assert_eq!(secret_refs(&c[0]), vec![(None, Some("orders-secret".into()))]);
    let init = &job_spec
        .template
        .spec
        .as_ref()
        .unwrap()
        .init_containers
        .as_ref()
        .unwrap()[0];
    assert_eq!(init.env.clone().unwrap(), vec![val("INIT", "1")]);
}

#[test]
fn template_context_vars_with_value_from_are_replaced_in_place() {
    let mut job = template_job();
    job["spec"]["template"]["spec"]["containers"][1]["env"] = json!([
        {"name": "STREAMCONTEXT__BACKFILL_ID", "valueFrom": {"fieldRef": {"fieldPath": "metadata.uid"}}},
        {"name": "STREAMCONTEXT__STREAM_ID", "valueFrom": {"secretKeyRef": {"name": "s", "key": "k"}}},
        {"name": "KEEP", "value": "k"},
        {"name": "STREAMCONTEXT__STREAM_ID", "value": "dup"},
        {"name": "STREAMCONTEXT__BACKFILL_ID", "value": "dup"},
    ]);
    let (id, def, cls, tpl) = (identity(STREAM), definition(Backend::Job), class(), template(job));
    let req = request("r1", None);
    for (mode, backfill_id) in [(Mode::Streaming, None), (Mode::Backfill(&req), Some("r1"))] {
        let job = expect_job(build(&input(&id, &def, &cls, &tpl, mode)).unwrap());
        let env = containers(job.spec.as_ref().unwrap())[1].env.clone().unwrap();
        let first = match backfill_id {
            Some(bid) => val(ENV_BACKFILL_ID, bid),
            // A streaming Job leaves a template's BACKFILL_ID alone (duplicates included).
            None => env[0].clone(),
        };
        let mut expected = vec![first, val(ENV_STREAM_ID, STREAM), val("KEEP", "k")];
        if backfill_id.is_none() {
            expected.push(val(ENV_BACKFILL_ID, "dup"));
        }
        expected.extend([val(ENV_STREAM_KIND, KIND), val(ENV_SPEC, SPEC_JSON)]);
        expected.push(val(
            ENV_BACKFILL,
            if backfill_id.is_some() { "true" } else { "false" },
        ));
        assert_eq!(env, expected, "{mode:?}");
        assert!(env.iter().all(|v| !(v.value.is_some() && v.value_from.is_some())));
    }
}

#[test]
fn secret_refs_follow_the_definition_order_without_duplicates() {
    let mut def = definition(Backend::Job);
    def.secret_names = vec!["b".into(), "orders-secret".into(), "a".into(), "b".into()];
    let (id, cls, tpl) = (identity(STREAM), class(), template(template_job()));
    let job = expect_job(build(&input(&id, &def, &cls, &tpl, Mode::Streaming)).unwrap());
    let c = containers(job.spec.as_ref().unwrap());
    let s = |n: &str| (None, Some(n.to_owned()));
    assert_eq!(secret_refs(&c[0]), vec![s("b"), s("orders-secret"), s("a")]);
    assert_eq!(
        secret_refs(&c[1]),
        vec![(Some("cm".into()), None), s("orders-secret"), s("b"), s("a")]
    );

    def.secret_names.clear();
    let job = expect_job(build(&input(&id, &def, &cls, &tpl, Mode::Streaming)).unwrap());
    let c = containers(job.spec.as_ref().unwrap());
    assert_eq!(c[0].env_from, None, "no secrets, no envFrom");
    assert_eq!(secret_refs(&c[1]).len(), 2, "existing entries kept");
}
