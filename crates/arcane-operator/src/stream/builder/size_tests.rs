//! The kernel's limit on one environment string (`MAX_ARG_STRLEN`): a spec or a payload that would
//! not fit is refused with a message naming its size and the limit, one byte under it is built.

use serde_json::{Value, json};

use super::tests::{
    STREAM, class, containers, definition, expect_job, identity, input, request, template, template_job,
};
use super::*;
use crate::stream::fixtures::{self, dynamic, secret_ref_fields, set_path};
use crate::stream::hash::canonical_json;
use crate::stream::parse::{self, MAX_SPEC_BYTES};

/// A v1 change-capture stream whose `.spec`, as the builder renders it, is exactly `bytes` long.
fn stream_with_spec_of(bytes: usize) -> Value {
    let mut stream = fixtures::stream_v1_job(STREAM, false);
    set_path(&mut stream, &["spec", "blob"], json!(""));
    let base = canonical_json(&stream["spec"]).len();
    set_path(&mut stream, &["spec", "blob"], json!("x".repeat(bytes - base)));
    assert_eq!(canonical_json(&stream["spec"]).len(), bytes);
    stream
}

/// A payload whose `STREAMCONTEXT__OVERRIDE=<json>` string, NUL included, is `bytes` long.
fn payload_of(bytes: usize) -> Value {
    let base = env_string_bytes(ENV_OVERRIDE, &canonical_json(&json!({"k": ""})));
    let payload = json!({"k": "p".repeat(bytes - base)});
    assert_eq!(env_string_bytes(ENV_OVERRIDE, &canonical_json(&payload)), bytes);
    payload
}

fn env_value<'a>(job: &'a k8s_openapi::api::batch::v1::Job, name: &str) -> &'a str {
    let spec = job.spec.as_ref().expect("a built Job has a spec");
    containers(spec)[0]
        .env
        .iter()
        .flatten()
        .find(|v| v.name == name)
        .and_then(|v| v.value.as_deref())
        .unwrap_or_else(|| panic!("no {name}"))
}

#[test]
fn the_spec_limit_is_the_kernel_limit_for_its_variable() {
    assert_eq!(MAX_ENV_STRING_BYTES, 128 * 1024);
    // "STREAMCONTEXT__SPEC" + '=' + the JSON + NUL.
    assert_eq!(MAX_SPEC_BYTES, 131_072 - 19 - 1 - 1);
    assert_eq!(
        env_string_bytes(ENV_SPEC, &"x".repeat(MAX_SPEC_BYTES)),
        MAX_ENV_STRING_BYTES
    );
}

#[test]
fn a_spec_at_the_limit_is_built_and_one_byte_more_is_an_invalid_spec() {
    let (id, cls, tpl) = (identity(STREAM), class(), template(template_job()));

    let at_limit = parse::parse(
        &dynamic(stream_with_spec_of(MAX_SPEC_BYTES)),
        &secret_ref_fields(),
    )
    .expect("a spec of exactly MAX_SPEC_BYTES parses");
    let job = expect_job(build(&input(&id, &at_limit, &cls, &tpl, Mode::Streaming)).expect("and builds"));
    let spec_var = env_value(&job, ENV_SPEC);
    assert_eq!(env_string_bytes(ENV_SPEC, spec_var), MAX_ENV_STRING_BYTES);

    let over = stream_with_spec_of(MAX_SPEC_BYTES + 1);
    let error = parse::parse(&dynamic(over.clone()), &secret_ref_fields()).expect_err("one byte more");
    assert_eq!(error.field, "spec");
    let size = (MAX_SPEC_BYTES + 1).to_string();
    for needle in [
        size.as_str(),
        "131051",
        "131072",
        "STREAMCONTEXT__SPEC",
        "MAX_ARG_STRLEN",
    ] {
        assert!(
            error.message.contains(needle),
            "{needle} not in: {}",
            error.message
        );
    }

    // The builder checks on its own too, for a definition that did not come through the parser.
    let mut unparsed = definition(Backend::Job);
    unparsed.spec = over["spec"].clone();
    let error = build(&input(&id, &unparsed, &cls, &tpl, Mode::Streaming)).expect_err("over the limit");
    let BuildError::EnvTooLarge(too_large) = &error else {
        panic!("expected EnvTooLarge, got {error}");
    };
    assert_eq!(too_large.source, EnvSource::Spec);
    assert_eq!(too_large.bytes, MAX_ENV_STRING_BYTES + 1);
    assert_eq!(
        error.to_string(),
        "the stream's spec is too large: STREAMCONTEXT__SPEC=<value> would be 131073 bytes, over the \
         131072 bytes Linux allows for one environment string (MAX_ARG_STRLEN, counting the name, \
         '=' and the final NUL), so the Job could never start"
    );
}

#[test]
fn a_cronjob_with_an_oversized_spec_is_refused_too() {
    let (id, cls, tpl) = (identity(STREAM), class(), template(template_job()));
    let mut cron = definition(Backend::CronJob {
        schedule: "@daily".into(),
    });
    cron.spec = stream_with_spec_of(MAX_SPEC_BYTES + 1)["spec"].clone();
    let error = build(&input(&id, &cron, &cls, &tpl, Mode::Streaming)).expect_err("over the limit");
    assert!(
        error
            .to_string()
            .ends_with("so the CronJob's Jobs could never start"),
        "{error}"
    );
}

#[test]
fn a_payload_at_the_limit_is_built_and_one_byte_more_names_the_request() {
    let (id, def, cls, tpl) = (
        identity(STREAM),
        definition(Backend::Job),
        class(),
        template(template_job()),
    );

    let fits = request("fits", Some(payload_of(MAX_ENV_STRING_BYTES)));
    assert_eq!(check_request(&fits), Ok(()));
    let job = expect_job(build(&input(&id, &def, &cls, &tpl, Mode::Backfill(&fits))).expect("builds"));
    assert_eq!(
        env_string_bytes(ENV_OVERRIDE, env_value(&job, ENV_OVERRIDE)),
        MAX_ENV_STRING_BYTES
    );

    let big = request("big", Some(payload_of(MAX_ENV_STRING_BYTES + 1)));
    let error = build(&input(&id, &def, &cls, &tpl, Mode::Backfill(&big))).expect_err("over the limit");
    let expected = EnvTooLarge {
        source: EnvSource::Payload {
            request: "big".into(),
        },
        variable: ENV_OVERRIDE.into(),
        bytes: MAX_ENV_STRING_BYTES + 1,
        workload: WorkloadKind::Job,
    };
    assert_eq!(error, BuildError::EnvTooLarge(expected.clone()));
    // The state machine can refuse the request up front with the very same error.
    assert_eq!(check_request(&big), Err(expected));
    assert!(
        error
            .to_string()
            .starts_with("BackfillRequest big: spec.payload is too large: STREAMCONTEXT__OVERRIDE=<value> would be 131073 bytes, over the 131072 bytes"),
        "{error}"
    );
    // The payload does not matter to a streaming Job.
    assert!(build(&input(&id, &def, &cls, &tpl, Mode::Streaming)).is_ok());
}

#[test]
fn an_oversized_variable_of_the_template_names_its_path() {
    let (id, def, cls) = (identity(STREAM), definition(Backend::Job), class());
    let mut job = template_job();
    let huge = "v".repeat(MAX_ENV_STRING_BYTES);
    job["spec"]["template"]["spec"]["initContainers"] = json!([{"name": "init", "image": "i:1", "env": [{"name": "A", "value": "a"}, {"name": "B", "value": huge}]}]);
    let tpl = template(job);
    let error = build(&input(&id, &def, &cls, &tpl, Mode::Streaming)).expect_err("over the limit");
    let message = error.to_string();
    assert!(
        message.starts_with(
            "template streams/streaming-template: spec.spec.template.spec.initContainers[0].env[1] is \
             too large: B=<value> would be 131075 bytes"
        ),
        "{message}"
    );
}
