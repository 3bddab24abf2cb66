//! Every defect is reported on the exact field that holds it.

use serde_json::{Value, json};

use super::{BATCH, CHANGE_CAPTURE, parse_value, remove, set, v0, v1_cron, v1_job, v2_cron, v2_job};

/// One defective definition: a valid fixture, what breaks it, and the field the error must name.
struct Defect {
    case: &'static str,
    fixture: fn() -> Value,
    mutate: fn(&mut Value),
    field: &'static str,
}

fn defect(case: &'static str, fixture: fn() -> Value, mutate: fn(&mut Value), field: &'static str) -> Defect {
    Defect {
        case,
        fixture,
        mutate,
        field,
    }
}

#[test]
fn every_defect_names_its_field() {
    let cases = vec![
        defect("spec absent", v0, |v| remove(v, "spec"), "spec"),
        defect("spec null", v0, |v| set(v, "spec", Value::Null), "spec"),
        defect("spec a string", v1_job, |v| set(v, "spec", json!("x")), "spec"),
        defect("spec an array", v1_job, |v| set(v, "spec", json!([])), "spec"),
        defect(
            "spec too large",
            v1_job,
            |v| set(v, "spec.source.blob", json!("x".repeat(1024 * 1024))),
            "spec",
        ),
        defect(
            "no namespace",
            v0,
            |v| remove(v, "metadata.namespace"),
            "metadata.namespace",
        ),
        defect(
            "empty namespace",
            v0,
            |v| set(v, "metadata.namespace", json!("")),
            "metadata.namespace",
        ),
        defect(
            "execution a string",
            v0,
            |v| set(v, "spec.execution", json!("v1")),
            "spec.execution",
        ),
        defect(
            "unknown layout",
            v1_job,
            |v| set(v, "spec.execution.layoutVersion", json!("v3")),
            "spec.execution.layoutVersion",
        ),
        defect(
            "layout a number",
            v1_job,
            |v| set(v, "spec.execution.layoutVersion", json!(1)),
            "spec.execution.layoutVersion",
        ),
        defect(
            "v0 suspended a string",
            v0,
            |v| set(v, "spec.suspended", json!("yes")),
            "spec.suspended",
        ),
        defect(
            "v0 no template",
            v0,
            |v| remove(v, "spec.jobTemplateRef"),
            "spec.jobTemplateRef",
        ),
        defect(
            "v0 template a string",
            v0,
            |v| set(v, "spec.jobTemplateRef", json!("t")),
            "spec.jobTemplateRef",
        ),
        defect(
            "v0 template nameless",
            v0,
            |v| set(v, "spec.jobTemplateRef", json!({})),
            "spec.jobTemplateRef.name",
        ),
        defect(
            "v0 template name empty",
            v0,
            |v| set(v, "spec.jobTemplateRef.name", json!("")),
            "spec.jobTemplateRef.name",
        ),
        defect(
            "v0 template name a number",
            v0,
            |v| set(v, "spec.jobTemplateRef.name", json!(3)),
            "spec.jobTemplateRef.name",
        ),
        defect(
            "v0 template name uppercase",
            v0,
            |v| set(v, "spec.jobTemplateRef.name", json!("Tpl")),
            "spec.jobTemplateRef.name",
        ),
        defect(
            "v0 template name too long",
            v0,
            |v| set(v, "spec.jobTemplateRef.name", json!("a".repeat(254))),
            "spec.jobTemplateRef.name",
        ),
        defect(
            "v0 template namespace invalid",
            v0,
            |v| set(v, "spec.jobTemplateRef.namespace", json!("a.b")),
            "spec.jobTemplateRef.namespace",
        ),
        defect(
            "v0 template namespace too long",
            v0,
            |v| set(v, "spec.jobTemplateRef.namespace", json!("a".repeat(64))),
            "spec.jobTemplateRef.namespace",
        ),
        defect(
            "v0 template namespace a bool",
            v0,
            |v| set(v, "spec.jobTemplateRef.namespace", json!(true)),
            "spec.jobTemplateRef.namespace",
        ),
        defect(
            "v0 no backfill",
            v0,
            |v| remove(v, "spec.backfillJobTemplateRef"),
            "spec.backfillJobTemplateRef",
        ),
        defect(
            "v0 backfill nameless",
            v0,
            |v| set(v, "spec.backfillJobTemplateRef", json!({"namespace": "x"})),
            "spec.backfillJobTemplateRef.name",
        ),
        defect(
            "v1 suspended a string",
            v1_job,
            |v| set(v, "spec.execution.suspended", json!("true")),
            "spec.execution.suspended",
        ),
        defect(
            "v1 no backend",
            v1_job,
            |v| remove(v, "spec.execution.streamingBackend"),
            "spec.execution.streamingBackend",
        ),
        defect(
            "v2 empty backend",
            v2_job,
            |v| set(v, "spec.execution.streamingBackend", json!({})),
            "spec.execution.streamingBackend",
        ),
        defect(
            "v2 backend an array",
            v2_job,
            |v| set(v, "spec.execution.streamingBackend", json!([])),
            "spec.execution.streamingBackend",
        ),
        defect(
            "v1 batch a string",
            v1_cron,
            |v| set(v, BATCH, json!("daily")),
            BATCH,
        ),
        defect(
            "v1 no schedule",
            v1_cron,
            |v| remove(v, "spec.execution.streamingBackend.batch.schedule"),
            "spec.execution.streamingBackend.batch.schedule",
        ),
        defect(
            "v2 schedule empty",
            v2_cron,
            |v| set(v, "spec.execution.streamingBackend.batch.schedule", json!("")),
            "spec.execution.streamingBackend.batch.schedule",
        ),
        defect(
            "v2 schedule a number",
            v2_cron,
            |v| set(v, "spec.execution.streamingBackend.batch.schedule", json!(5)),
            "spec.execution.streamingBackend.batch.schedule",
        ),
        defect(
            "v1 schedule prose",
            v1_cron,
            |v| {
                set(
                    v,
                    "spec.execution.streamingBackend.batch.schedule",
                    json!("every day"),
                );
            },
            "spec.execution.streamingBackend.batch.schedule",
        ),
        defect(
            "v1 schedule too long",
            v1_cron,
            |v| {
                let long = format!("{}* * * * *", " ".repeat(300));
                set(v, "spec.execution.streamingBackend.batch.schedule", json!(long));
            },
            "spec.execution.streamingBackend.batch.schedule",
        ),
        defect(
            "v2 batch without template",
            v2_cron,
            |v| remove(v, "spec.execution.streamingBackend.batch.jobTemplateRef"),
            "spec.execution.streamingBackend.batch.jobTemplateRef",
        ),
        defect(
            "v1 change capture without template",
            v1_job,
            |v| remove(v, "spec.execution.streamingBackend.changeCapture.jobTemplateRef"),
            "spec.execution.streamingBackend.changeCapture.jobTemplateRef",
        ),
        defect(
            "v1 change capture a string",
            v1_job,
            |v| set(v, CHANGE_CAPTURE, json!("on")),
            CHANGE_CAPTURE,
        ),
        defect(
            "v2 change capture a number beside batch",
            v2_cron,
            |v| set(v, CHANGE_CAPTURE, json!(1)),
            CHANGE_CAPTURE,
        ),
        defect(
            "v1 job without backfill",
            v1_job,
            |v| remove(v, "spec.execution.backfillJobTemplateRef"),
            "spec.execution.backfillJobTemplateRef",
        ),
        defect(
            "v1 job with nameless backfill",
            v1_job,
            |v| set(v, "spec.execution.backfillJobTemplateRef", json!({})),
            "spec.execution.backfillJobTemplateRef.name",
        ),
        defect(
            "v1 cron backfill invalid name",
            v1_cron,
            |v| set(v, "spec.execution.backfillJobTemplateRef.name", json!("-bad")),
            "spec.execution.backfillJobTemplateRef.name",
        ),
        defect(
            "v1 cron backfill a string",
            v1_cron,
            |v| set(v, "spec.execution.backfillJobTemplateRef", json!("t")),
            "spec.execution.backfillJobTemplateRef",
        ),
        defect(
            "v2 job without backfill, execution-level one ignored",
            v2_job,
            |v| {
                remove(
                    v,
                    "spec.execution.streamingBackend.changeCapture.backfillJobTemplateRef",
                );
                set(v, "spec.execution.backfillJobTemplateRef", json!({"name": "b"}));
            },
            "spec.execution.streamingBackend.changeCapture.backfillJobTemplateRef",
        ),
        defect(
            "v2 cron backfill invalid namespace",
            v2_cron,
            |v| {
                set(
                    v,
                    "spec.execution.streamingBackend.changeCapture.backfillJobTemplateRef",
                    json!({"name": "b", "namespace": "NS"}),
                );
            },
            "spec.execution.streamingBackend.changeCapture.backfillJobTemplateRef.namespace",
        ),
        defect(
            "secret missing",
            v0,
            |v| remove(v, "spec.secretRef"),
            "spec.secretRef",
        ),
        defect(
            "secret a string",
            v1_job,
            |v| set(v, "spec.secretRef", json!("s")),
            "spec.secretRef",
        ),
        defect(
            "secret nameless",
            v2_job,
            |v| set(v, "spec.secretRef", json!({})),
            "spec.secretRef.name",
        ),
        defect(
            "secret name empty",
            v1_cron,
            |v| set(v, "spec.secretRef.name", json!("")),
            "spec.secretRef.name",
        ),
        defect(
            "secret name a list",
            v2_cron,
            |v| set(v, "spec.secretRef.name", json!(["a"])),
            "spec.secretRef.name",
        ),
        defect(
            "secret name invalid",
            v0,
            |v| set(v, "spec.secretRef.name", json!("my_secret")),
            "spec.secretRef.name",
        ),
    ];
    for Defect {
        case,
        fixture,
        mutate,
        field,
    } in cases
    {
        let mut value = fixture();
        assert!(
            parse_value(value.clone()).is_ok(),
            "{case}: the fixture itself must be valid"
        );
        mutate(&mut value);
        match parse_value(value) {
            Ok(definition) => panic!("{case}: expected an error at {field}, parsed {definition:?}"),
            Err(error) => {
                assert_eq!(error.field, field, "{case}: {error}");
                assert!(!error.message.trim().is_empty(), "{case}: empty message");
                super::messages::assert_no_debug_text(case, &error.message);
                assert!(
                    error.message.len() < 400,
                    "{case}: message too long: {}",
                    error.message
                );
            }
        }
    }
}
