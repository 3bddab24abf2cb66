//! The words of each error: what an on-call engineer reads in the stream's condition and Event.

use serde_json::{Value, json};

use super::super::access::quote;
use super::{CHANGE_CAPTURE, parse_value, remove, set, v0, v1_cron, v1_job, v2_cron, v2_job};

const BACKENDS: &str = "spec.execution.streamingBackend";
const V0_NEEDS: &str = "which needs spec.jobTemplateRef and spec.backfillJobTemplateRef; layouts v1 and v2 \
                        need spec.execution.layoutVersion (\"v1\" or \"v2\") and spec.execution.streamingBackend";
const AMBIGUOUS_V1: &str = "ambiguous backend: both spec.execution.streamingBackend.batch and \
                            spec.execution.streamingBackend.changeCapture are set; keep batch for a CronJob \
                            on a schedule, or changeCapture for a long-running Job";

/// One defective definition and the exact error it must give.
struct Case {
    case: &'static str,
    fixture: fn() -> Value,
    mutate: fn(&mut Value),
    field: &'static str,
    message: String,
}

fn case(
    case: &'static str,
    fixture: fn() -> Value,
    mutate: fn(&mut Value),
    field: &'static str,
    message: &str,
) -> Case {
    Case {
        case,
        fixture,
        mutate,
        field,
        message: message.to_owned(),
    }
}

/// Text that only Rust's `Debug` formatting produces; none of it may reach a user.
pub(super) fn assert_no_debug_text(case: &str, message: &str) {
    for marker in [
        "\\u{", "Some(", "None", "Object {", "Array [", "String(", "Number(", "Bool(",
    ] {
        assert!(!message.contains(marker), "{case}: {marker} in {message}");
    }
}

#[test]
fn each_error_says_what_is_wrong_and_what_would_be_right() {
    let cases = vec![
        case(
            "v1 with both backends",
            v1_cron,
            |v| set(v, CHANGE_CAPTURE, json!({"jobTemplateRef": {"name": "cc"}})),
            BACKENDS,
            AMBIGUOUS_V1,
        ),
        case(
            "v1 with batch beside an empty changeCapture",
            v1_cron,
            |v| set(v, CHANGE_CAPTURE, json!({})),
            BACKENDS,
            AMBIGUOUS_V1,
        ),
        case(
            "v1 change capture given a batch too",
            v1_job,
            |v| {
                set(
                    v,
                    "spec.execution.streamingBackend.batch",
                    json!({"schedule": "@daily"}),
                );
            },
            BACKENDS,
            AMBIGUOUS_V1,
        ),
        case(
            "v2 with both streaming templates",
            v2_cron,
            |v| set(v, CHANGE_CAPTURE, json!({"jobTemplateRef": {"name": "cc"}})),
            BACKENDS,
            "ambiguous backend: both spec.execution.streamingBackend.batch and \
             spec.execution.streamingBackend.changeCapture.jobTemplateRef are set; keep batch for a \
             CronJob on a schedule, or changeCapture for a long-running Job (a layout v2 cron stream \
             may keep changeCapture for its backfillJobTemplateRef alone)",
        ),
        case(
            "v1 stream without execution",
            v1_job,
            |v| remove(v, "spec.execution"),
            "spec.jobTemplateRef",
            &format!(
                "required but missing: without spec.execution.layoutVersion the stream is read as \
                 layout v0, {V0_NEEDS}"
            ),
        ),
        case(
            "v1 stream without layoutVersion",
            v1_job,
            |v| remove(v, "spec.execution.layoutVersion"),
            "spec.jobTemplateRef",
            &format!(
                "required but missing: spec.execution has no layoutVersion, so the stream is read \
                 as layout v0, {V0_NEEDS}"
            ),
        ),
        case(
            "v2 stream with an empty layoutVersion",
            v2_job,
            |v| set(v, "spec.execution.layoutVersion", json!("")),
            "spec.jobTemplateRef",
            &format!(
                "required but missing: spec.execution has no layoutVersion, so the stream is read \
                 as layout v0, {V0_NEEDS}"
            ),
        ),
        case(
            "v1 fields at the top of spec",
            v1_job,
            |v| {
                let execution = v["spec"]["execution"].take();
                remove(v, "spec.execution");
                set(v, "spec.streamingBackend", execution["streamingBackend"].clone());
            },
            "spec.jobTemplateRef",
            &format!(
                "required but missing: spec.streamingBackend is a layout v1/v2 field and belongs \
                 under spec.execution; without spec.execution the stream is read as layout v0, \
                 {V0_NEEDS}"
            ),
        ),
        case(
            "v0 without backfill",
            v0,
            |v| remove(v, "spec.backfillJobTemplateRef"),
            "spec.backfillJobTemplateRef",
            &format!(
                "required but missing: without spec.execution.layoutVersion the stream is read as \
                 layout v0, {V0_NEEDS}"
            ),
        ),
        case(
            "v1 job without backfill",
            v1_job,
            |v| remove(v, "spec.execution.backfillJobTemplateRef"),
            "spec.execution.backfillJobTemplateRef",
            "required but missing: a layout v1 stream with changeCapture keeps its backfill template here",
        ),
        case(
            "v1 job with its backfill where v2 keeps it",
            v1_job,
            |v| {
                let backfill = v["spec"]["execution"]["backfillJobTemplateRef"].take();
                remove(v, "spec.execution.backfillJobTemplateRef");
                set(
                    v,
                    "spec.execution.streamingBackend.changeCapture.backfillJobTemplateRef",
                    backfill,
                );
            },
            "spec.execution.backfillJobTemplateRef",
            "required but missing: a layout v1 stream with changeCapture keeps its backfill template \
             here; spec.execution.streamingBackend.changeCapture.backfillJobTemplateRef is not read in \
             layout v1",
        ),
        case(
            "v2 job with its backfill where v1 keeps it",
            v2_job,
            |v| {
                remove(
                    v,
                    "spec.execution.streamingBackend.changeCapture.backfillJobTemplateRef",
                );
                set(v, "spec.execution.backfillJobTemplateRef", json!({"name": "b"}));
            },
            "spec.execution.streamingBackend.changeCapture.backfillJobTemplateRef",
            "required but missing: a layout v2 stream with changeCapture keeps its backfill template \
             here; spec.execution.backfillJobTemplateRef is not read in layout v2",
        ),
        case(
            "no backend",
            v2_job,
            |v| set(v, BACKENDS, json!({})),
            BACKENDS,
            "no streaming backend: set changeCapture.jobTemplateRef for a long-running Job, or \
             batch.schedule and batch.jobTemplateRef for a CronJob",
        ),
        case(
            "unknown layout",
            v1_job,
            |v| set(v, "spec.execution.layoutVersion", json!("V2")),
            "spec.execution.layoutVersion",
            "unknown layout version \"V2\": expected \"v1\", \"v2\" or none",
        ),
        case(
            "a name with an escape character",
            v0,
            |v| set(v, "spec.jobTemplateRef.name", json!("tpl\u{1b}[31m")),
            "spec.jobTemplateRef.name",
            "\"tpl\\u001b[31m\" is not a valid name: use lowercase letters, digits, '-' and '.', \
             starting and ending with a letter or digit",
        ),
        case(
            "a wrong type",
            v2_cron,
            |v| {
                set(
                    v,
                    "spec.execution.streamingBackend.batch.schedule",
                    json!(["@daily"]),
                );
            },
            "spec.execution.streamingBackend.batch.schedule",
            "must be a string, not an array",
        ),
    ];
    for Case {
        case,
        fixture,
        mutate,
        field,
        message,
    } in cases
    {
        let mut value = fixture();
        assert!(
            parse_value(value.clone()).is_ok(),
            "{case}: the fixture must be valid"
        );
        mutate(&mut value);
        let error = parse_value(value).expect_err(case);
        assert_eq!(
            (error.field.as_str(), error.message.as_str()),
            (field, message.as_str()),
            "{case}"
        );
        assert_no_debug_text(case, &error.message);
    }
}

#[test]
fn echoed_values_are_quoted_as_json_with_invisible_characters_shown() {
    let cases = [
        ("plain", "\"plain\""),
        ("a\"b\\c", "\"a\\\"b\\\\c\""),
        ("line\nbreak\ttab", "\"line\\nbreak\\ttab\""),
        ("esc\u{1b}del\u{7f}", "\"esc\\u001bdel\\u007f\""),
        ("zero\u{200b}width\u{feff}", "\"zero\\u200bwidth\\ufeff\""),
        ("nb\u{a0}sp", "\"nb\\u00a0sp\""),
        ("émoji 🚀", "\"émoji 🚀\""),
    ];
    for (raw, quoted) in cases {
        assert_eq!(quote(raw), quoted, "{raw:?}");
    }
    let long = quote(&"é".repeat(100));
    assert_eq!(long, format!("\"{}\"…", "é".repeat(64)));
}
