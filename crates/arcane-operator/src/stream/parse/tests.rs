mod errors;
mod messages;

use serde_json::{Value, json};

use super::{identity, parse};
use crate::stream::fixtures::{
    self, BACKFILL_TEMPLATE, BATCH_TEMPLATE, NAMESPACE, SCHEDULE, STREAMING_TEMPLATE, dynamic, remove_path,
    secret_name, secret_ref_fields, set_path,
};
use crate::stream::model::{Backend, InvalidSpec, Layout, StreamDefinition, StreamIdentity, TemplateRef};

pub(super) fn template(name: &str) -> TemplateRef {
    TemplateRef {
        namespace: NAMESPACE.to_owned(),
        name: name.to_owned(),
    }
}

pub(super) fn parse_value(value: Value) -> Result<StreamDefinition, InvalidSpec> {
    parse(&dynamic(value), &secret_ref_fields())
}

pub(super) fn parse_ok(value: Value) -> StreamDefinition {
    match parse_value(value.clone()) {
        Ok(definition) => definition,
        Err(error) => panic!("expected {value} to parse, got {error}"),
    }
}

/// The definition a fixture named `name` parses to, its raw spec left to the caller.
fn expected(
    layout: Layout,
    suspended: bool,
    backend: Backend,
    streaming: &str,
    backfill: Option<&str>,
    name: &str,
) -> StreamDefinition {
    StreamDefinition {
        layout,
        suspended,
        suspended_by_annotation: false,
        backend,
        streaming_template: template(streaming),
        backfill_template: backfill.map(template),
        secret_names: vec![secret_name(name)],
        reload_requested: false,
        spec: Value::Null,
    }
}

#[test]
fn every_layout_is_parsed_fully() {
    use Layout::{V0, V1, V2};
    let cron = || Backend::CronJob {
        schedule: SCHEDULE.to_owned(),
    };
    let (job, backfill) = (Backend::Job, Some(BACKFILL_TEMPLATE));
    let cases = vec![
        (
            fixtures::stream_v0("s0", true),
            expected(V0, true, job.clone(), STREAMING_TEMPLATE, backfill, "s0"),
        ),
        (
            fixtures::stream_v1_job("s1", false),
            expected(V1, false, job.clone(), STREAMING_TEMPLATE, backfill, "s1"),
        ),
        (
            fixtures::stream_v1_cron("s2", true, SCHEDULE),
            expected(V1, true, cron(), BATCH_TEMPLATE, backfill, "s2"),
        ),
        (
            fixtures::stream_v2_job("s3", true),
            expected(V2, true, job, STREAMING_TEMPLATE, backfill, "s3"),
        ),
        (
            fixtures::stream_v2_cron("s4", false, SCHEDULE),
            expected(V2, false, cron(), BATCH_TEMPLATE, None, "s4"),
        ),
    ];
    for (value, mut expected) in cases {
        expected.spec = value["spec"].clone();
        assert!(expected.spec.is_object());
        assert_eq!(parse_ok(value), expected);
    }
}

type Fixture = fn() -> Value;

pub(super) fn set(value: &mut Value, path: &str, new: Value) {
    let path: Vec<&str> = path.split('.').collect();
    set_path(value, &path, new);
}

pub(super) fn remove(value: &mut Value, path: &str) {
    let path: Vec<&str> = path.split('.').collect();
    remove_path(value, &path);
}

pub(super) fn v0() -> Value {
    fixtures::stream_v0("s", false)
}
pub(super) fn v1_job() -> Value {
    fixtures::stream_v1_job("s", false)
}
pub(super) fn v1_cron() -> Value {
    fixtures::stream_v1_cron("s", false, SCHEDULE)
}
pub(super) fn v2_job() -> Value {
    fixtures::stream_v2_job("s", false)
}
pub(super) fn v2_cron() -> Value {
    fixtures::stream_v2_cron("s", false, SCHEDULE)
}

pub(super) const BATCH: &str = "spec.execution.streamingBackend.batch";
pub(super) const CHANGE_CAPTURE: &str = "spec.execution.streamingBackend.changeCapture";

#[test]
fn template_namespaces_default_to_the_stream_namespace_per_reference() {
    // (case, fixture, streaming ref path, backfill ref path)
    let cases: [(&str, Fixture, &str, &str); 5] = [
        ("v0", v0, "spec.jobTemplateRef", "spec.backfillJobTemplateRef"),
        (
            "v1 job",
            v1_job,
            "spec.execution.streamingBackend.changeCapture.jobTemplateRef",
            "spec.execution.backfillJobTemplateRef",
        ),
        (
            "v1 cron",
            v1_cron,
            "spec.execution.streamingBackend.batch.jobTemplateRef",
            "spec.execution.backfillJobTemplateRef",
        ),
        (
            "v2 job",
            v2_job,
            "spec.execution.streamingBackend.changeCapture.jobTemplateRef",
            "spec.execution.streamingBackend.changeCapture.backfillJobTemplateRef",
        ),
        (
            "v2 cron with backfill",
            v2_cron,
            "spec.execution.streamingBackend.batch.jobTemplateRef",
            "spec.execution.streamingBackend.changeCapture.backfillJobTemplateRef",
        ),
    ];
    let with_namespace = |ns: Option<&str>, name: &str| match ns {
        Some(ns) => json!({"name": name, "namespace": ns, "kind": "StreamingJobTemplate"}),
        None => json!({"name": name}),
    };
    // (streaming ref namespace, backfill ref namespace) -> expected resolved namespaces
    let namespaces = [
        (None, None, NAMESPACE, NAMESPACE),
        (Some(""), Some(""), NAMESPACE, NAMESPACE),
        (Some("templates"), None, "templates", NAMESPACE),
        (None, Some("backfills"), NAMESPACE, "backfills"),
        (Some("templates"), Some("backfills"), "templates", "backfills"),
    ];
    for (case, fixture, streaming_path, backfill_path) in cases {
        for (streaming_ns, backfill_ns, expected_streaming, expected_backfill) in namespaces {
            let mut value = fixture();
            set(
                &mut value,
                streaming_path,
                with_namespace(streaming_ns, "stream-tpl"),
            );
            set(
                &mut value,
                backfill_path,
                with_namespace(backfill_ns, "backfill-tpl"),
            );
            let definition = parse_ok(value);
            let context = format!("{case} {streaming_ns:?}/{backfill_ns:?}");
            assert_eq!(
                definition.streaming_template,
                TemplateRef {
                    namespace: expected_streaming.to_owned(),
                    name: "stream-tpl".to_owned()
                },
                "{context}"
            );
            assert_eq!(
                definition.backfill_template,
                Some(TemplateRef {
                    namespace: expected_backfill.to_owned(),
                    name: "backfill-tpl".to_owned()
                }),
                "{context}"
            );
        }
    }
}

#[test]
fn a_cron_stream_may_keep_its_backfill_beside_batch_and_cron_backfill_is_optional() {
    let cron = Backend::CronJob {
        schedule: SCHEDULE.to_owned(),
    };
    // (case, value, expected backfill template name)
    let cases: Vec<(&str, Value, Option<&str>)> = vec![
        (
            "v2 cron with a changeCapture holding only the backfill",
            {
                let mut value = v2_cron();
                set(
                    &mut value,
                    "spec.execution.streamingBackend.changeCapture.backfillJobTemplateRef.name",
                    json!("cc-backfill"),
                );
                value
            },
            Some("cc-backfill"),
        ),
        (
            "v2 cron with an empty changeCapture",
            {
                let mut value = v2_cron();
                set(&mut value, CHANGE_CAPTURE, json!({}));
                value
            },
            None,
        ),
        (
            "v1 cron without backfill",
            {
                let mut value = v1_cron();
                remove(&mut value, "spec.execution.backfillJobTemplateRef");
                value
            },
            None,
        ),
        (
            "v1 cron with a placeholder backfill",
            {
                let mut value = v1_cron();
                set(
                    &mut value,
                    "spec.execution.backfillJobTemplateRef",
                    json!({"namespace": ""}),
                );
                value
            },
            None,
        ),
        (
            "v2 cron ignores an execution-level backfill",
            {
                let mut value = v2_cron();
                set(
                    &mut value,
                    "spec.execution.backfillJobTemplateRef",
                    json!({"name": "b"}),
                );
                value
            },
            None,
        ),
        (
            "null changeCapture counts as absent",
            {
                let mut value = v1_cron();
                set(&mut value, CHANGE_CAPTURE, Value::Null);
                value
            },
            Some(BACKFILL_TEMPLATE),
        ),
    ];
    for (case, value, backfill) in cases {
        let definition = parse_ok(value);
        assert_eq!(definition.backend, cron, "{case}");
        assert_eq!(definition.streaming_template, template(BATCH_TEMPLATE), "{case}");
        assert_eq!(definition.backfill_template, backfill.map(template), "{case}");
    }
}

#[test]
fn suspension_flag_and_legacy_annotations() {
    // (case, value, expected suspended, expected reload_requested)
    let cases: Vec<(&str, Value, bool, bool)> = vec![
        (
            "v0 flag absent",
            {
                let mut v = v0();
                remove(&mut v, "spec.suspended");
                v
            },
            false,
            false,
        ),
        (
            "v0 flag null",
            {
                let mut v = v0();
                set(&mut v, "spec.suspended", Value::Null);
                v
            },
            false,
            false,
        ),
        (
            "v1 flag absent",
            {
                let mut v = v1_job();
                remove(&mut v, "spec.execution.suspended");
                v
            },
            false,
            false,
        ),
        ("v2 flag true", fixtures::stream_v2_job("s", true), true, false),
        (
            "v1 execution flag, not the top-level one",
            {
                let mut v = v1_job();
                set(&mut v, "spec.suspended", json!(true));
                v
            },
            false,
            false,
        ),
        (
            "legacy suspended overrides",
            fixtures::with_legacy_state(v1_job(), "suspended"),
            true,
            false,
        ),
        (
            "legacy suspended v0",
            fixtures::with_legacy_state(v0(), "suspended"),
            true,
            false,
        ),
        (
            "legacy reload",
            fixtures::with_legacy_state(v2_cron(), "reload-requested"),
            false,
            true,
        ),
        (
            "legacy reload on a suspended stream",
            fixtures::with_legacy_state(fixtures::stream_v0("s", true), "reload-requested"),
            true,
            true,
        ),
        (
            "other legacy state",
            fixtures::with_legacy_state(v0(), "RUNNING"),
            false,
            false,
        ),
        (
            "legacy value is exact",
            fixtures::with_legacy_state(v0(), "Suspended"),
            false,
            false,
        ),
    ];
    for (case, value, suspended, reload_requested) in cases {
        let definition = parse_ok(value);
        assert_eq!(definition.suspended, suspended, "{case}");
        assert_eq!(definition.reload_requested, reload_requested, "{case}");
    }
    // Suspended by the annotation alone only where the spec's flag is not set.
    let by_annotation = |value| parse_ok(value).suspended_by_annotation;
    assert!(by_annotation(fixtures::with_legacy_state(v1_job(), "suspended")));
    assert!(!by_annotation(fixtures::with_legacy_state(
        fixtures::stream_v0("s", true),
        "suspended"
    )));
    assert!(!by_annotation(fixtures::stream_v2_job("s", true)));
}

#[test]
fn secret_references_follow_the_class_order() {
    let mut value = v1_job();
    set(
        &mut value,
        "spec.otherRef",
        json!({"name": "other", "optional": true}),
    );
    set(&mut value, "spec.thirdRef", json!({"name": "third.secret"}));
    let object = dynamic(value);
    let fields = |names: &[&str]| names.iter().map(|n| (*n).to_owned()).collect::<Vec<_>>();
    let cases: Vec<(Vec<String>, Vec<&str>)> = vec![
        (vec![], vec![]),
        (fields(&["secretRef"]), vec!["s-secret"]),
        (fields(&["otherRef", "secretRef"]), vec!["other", "s-secret"]),
        (
            fields(&["thirdRef", "secretRef", "otherRef"]),
            vec!["third.secret", "s-secret", "other"],
        ),
    ];
    for (refs, expected) in cases {
        let definition = parse(&object, &refs);
        assert_eq!(
            definition.map(|d| d.secret_names),
            Ok(fields(&expected)),
            "{refs:?}"
        );
    }
    let missing = parse(&object, &fields(&["secretRef", "absentRef"]));
    assert_eq!(missing.map_err(|e| e.field), Err("spec.absentRef".to_owned()));
}

#[test]
fn identity_reads_metadata_and_types() {
    let object = dynamic(fixtures::stream_v1_job("orders", false));
    assert_eq!(
        identity(&object),
        StreamIdentity {
            api_version: fixtures::API_VERSION.to_owned(),
            kind: fixtures::KIND.to_owned(),
            namespace: NAMESPACE.to_owned(),
            name: "orders".to_owned(),
            uid: "uid-orders".to_owned(),
            generation: 1,
        }
    );
    assert_eq!(identity(&dynamic(json!({"spec": 1}))), StreamIdentity::default());
}

#[test]
fn echoed_values_are_cut() {
    let mut value = v1_job();
    set(
        &mut value,
        "spec.execution.layoutVersion",
        json!("v".repeat(10_000)),
    );
    let error = parse_value(value).err();
    assert!(error.is_some_and(|e| e.message.len() < 200));
}

#[test]
fn schedules_are_kept_without_surrounding_blanks() {
    let cases = [
        ("*/5 * * * *", "*/5 * * * *"),
        ("  @daily\n", "@daily"),
        (" CRON_TZ=UTC 0 1 * * * ", "CRON_TZ=UTC 0 1 * * *"),
    ];
    for (raw, kept) in cases {
        let definition = parse_ok(fixtures::stream_v2_cron("s", false, raw));
        let expected = Backend::CronJob {
            schedule: kept.to_owned(),
        };
        assert_eq!(definition.backend, expected, "{raw:?}");
        assert_eq!(
            definition.spec["execution"]["streamingBackend"]["batch"]["schedule"],
            json!(raw),
            "the raw spec is untouched"
        );
    }
}
