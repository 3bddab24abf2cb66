//! Edge cases of building: invalid templates, long names and label values, missing metadata.

use serde_json::{Value, json};

use super::tests::{
    NS, STREAM, class, containers, definition, expect_cronjob, expect_job, identity, input, template,
    template_job, val,
};
use super::*;
use crate::stream::model::ANNOTATION_FULL_LABELS;

#[test]
fn invalid_templates_are_errors_naming_the_field() {
    let base = template_job();
    let with = |path: &[&str], value: Value| {
        let mut job = base.clone();
        let mut cursor = &mut job;
        for key in &path[..path.len() - 1] {
            cursor = &mut cursor[*key];
        }
        cursor[path[path.len() - 1]] = value;
        job
    };
    let cases: Vec<(Value, &str)> = vec![
        (json!("a string"), "spec: expected a batch/v1 Job"),
        (json!(null), "spec: expected a batch/v1 Job"),
        (json!({"metadata": {}}), "spec.spec: required field is missing"),
        (with(&["spec"], json!([])), "spec.spec: expected a JobSpec"),
        (
            with(&["spec", "template"], Value::Null),
            "spec.spec.template: required field is missing",
        ),
        (
            with(&["spec", "template", "spec"], json!(1)),
            "spec.spec.template.spec: expected a PodSpec",
        ),
        (
            with(&["spec", "template", "spec", "containers"], json!([])),
            "spec.spec.template.spec.containers: must list at least one container",
        ),
        (
            with(&["spec", "template", "spec", "containers"], json!({"name": "x"})),
            "spec.spec.template.spec.containers: expected an array, found an object",
        ),
        (
            with(&["spec", "template", "spec", "containers"], Value::Null),
            "spec.spec.template.spec.containers: required field is missing",
        ),
        (
            with(&["metadata"], json!(true)),
            "spec.metadata: expected object metadata",
        ),
        (
            with(&["metadata", "labels"], json!(["a"])),
            "spec.metadata.labels: expected a map of strings",
        ),
        (
            with(&["metadata", "annotations", "n"], json!(5)),
            "spec.metadata.annotations.n: expected a string, found a number",
        ),
        (
            with(&["spec", "backoffLimit"], json!("two")),
            "spec.spec.backoffLimit: invalid type",
        ),
        (
            with(
                &["spec", "template", "spec", "containers"],
                json!([{"image": "x"}]),
            ),
            "spec.spec.template.spec.containers[0].name: required field is missing",
        ),
        (
            with(
                &["spec", "template", "spec", "containers"],
                json!([{"name": "a"}, {"name": ""}]),
            ),
            "spec.spec.template.spec.containers[1].name: must not be empty",
        ),
        (
            with(
                &["spec", "template", "spec", "containers"],
                json!([{"name": "a"}, 7]),
            ),
            "spec.spec.template.spec.containers[1]: expected a container",
        ),
    ];
    let (id, def, cls) = (identity(STREAM), definition(Backend::Job), class());
    for (job, expected) in cases {
        let tpl = template(job.clone());
        let err = build(&input(&id, &def, &cls, &tpl, Mode::Streaming)).unwrap_err();
        let BuildError::Template {
            namespace,
            name,
            message,
        } = &err
        else {
            panic!("{job}: expected a template error, got {err}");
        };
        assert!(
            message.starts_with(expected),
            "{job}: got {message}, want prefix {expected}"
        );
        assert_eq!((namespace.as_str(), name.as_str()), (NS, "streaming-template"));
        assert!(
            err.to_string()
                .starts_with("template streams/streaming-template: ")
        );
    }
}

#[test]
fn invalid_nested_field_error_names_the_array_index() {
    let mut job = template_job();
    job["spec"]["template"]["spec"]["containers"][0]["env"] = json!({"a": 1});
    let (id, def, cls, tpl) = (identity(STREAM), definition(Backend::Job), class(), template(job));
    let err = build(&input(&id, &def, &cls, &tpl, Mode::Streaming)).unwrap_err();
    assert!(
        err.to_string().starts_with(
            "template streams/streaming-template: spec.spec.template.spec.containers[0].env: invalid type"
        ),
        "{err}"
    );
}

#[test]
fn long_names_and_label_values_are_shortened() {
    let long = format!("{}-stream", "a-very-long-stream-name-for-orders".repeat(2));
    assert!(long.len() > 63);
    let mut tpl_job = template_job();
    let long_label = "x".repeat(70);
    tpl_job["metadata"]["labels"]["big"] = json!(long_label);
    tpl_job["metadata"]["annotations"][ANNOTATION_FULL_LABELS] = json!("from-template");
    let (id, cls, tpl) = (identity(&long), class(), template(tpl_job));
    for backend in [
        Backend::Job,
        Backend::CronJob {
            schedule: "@daily".into(),
        },
    ] {
        let def = definition(backend.clone());
        let workload = build(&input(&id, &def, &cls, &tpl, Mode::Streaming)).unwrap();
        let (meta, limit, kind) = match &workload {
            Workload::Job(j) => (&j.metadata, 63, WorkloadKind::Job),
            Workload::CronJob(c) => (&c.metadata, 52, WorkloadKind::CronJob),
        };
        let name = meta.name.clone().unwrap();
        assert_eq!(name, names::workload_name(&long, kind));
        assert!(
            name.len() <= limit && name.len() >= limit - 2,
            "{backend:?}: {name}"
        );
        assert!(long.starts_with(&name[..name.len() - 11]));
        let labels = meta.labels.as_ref().unwrap();
        assert_eq!(labels["arcane/stream-id"], names::label_value(&long));
        assert_eq!(labels["big"], names::label_value(&long_label));
        assert!(labels.values().all(|v| names::is_valid_label_value(v)));
        let full: Value =
            serde_json::from_str(&meta.annotations.as_ref().unwrap()[ANNOTATION_FULL_LABELS]).unwrap();
        assert_eq!(full, json!({"arcane/stream-id": long, "big": long_label}));
        // The owner reference keeps the real name.
        assert_eq!(meta.owner_references.as_ref().unwrap()[0].name, long);
    }
    // Env carries the full stream name.
    let def = definition(Backend::Job);
    let job = expect_job(build(&input(&id, &def, &cls, &tpl, Mode::Streaming)).unwrap());
    assert_eq!(
        containers(job.spec.as_ref().unwrap())[1].env.as_ref().unwrap()[0],
        val(ENV_STREAM_ID, &long)
    );
}

#[test]
fn template_without_metadata_builds() {
    let mut job = template_job();
    job.as_object_mut().unwrap().remove("metadata");
    let (id, def, cls, tpl) = (
        identity(STREAM),
        definition(Backend::CronJob {
            schedule: "@daily".into(),
        }),
        class(),
        template(job),
    );
    let cron = expect_cronjob(build(&input(&id, &def, &cls, &tpl, Mode::Streaming)).unwrap());
    assert_eq!(cron.metadata.labels.unwrap().len(), 4);
    assert_eq!(cron.spec.unwrap().job_template.metadata, None);
}
