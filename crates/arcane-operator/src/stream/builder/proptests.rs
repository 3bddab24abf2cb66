//! Property tests: no template or stream content makes the builder panic, and whatever it builds is
//! a well-formed workload carrying its own configuration hash.

use k8s_openapi::api::core::v1::EnvVar;
use proptest::prelude::*;
use serde_json::Value;

use super::tests::{class, definition, identity, request, template, template_job};
use super::*;
use crate::stream::model::ANNOTATION_CONFIGURATION_HASH;

fn arb_json() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        any::<f64>()
            .prop_filter("finite", |f| f.is_finite())
            .prop_map(Value::from),
        "\\PC{0,12}".prop_map(Value::String),
    ];
    leaf.prop_recursive(4, 48, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            prop::collection::vec(("[a-zA-Z]{0,8}", inner), 0..6)
                .prop_map(|pairs| Value::Object(pairs.into_iter().collect())),
        ]
    })
}

/// Places of a valid template where a random value is most likely to reach deep validation.
const PATHS: &[&[&str]] = &[
    &["metadata"],
    &["metadata", "labels"],
    &["metadata", "labels", "app"],
    &["metadata", "annotations"],
    &["spec"],
    &["spec", "backoffLimit"],
    &["spec", "template"],
    &["spec", "template", "metadata"],
    &["spec", "template", "spec"],
    &["spec", "template", "spec", "containers"],
    &["spec", "template", "spec", "containers", "0"],
    &["spec", "template", "spec", "containers", "0", "env"],
    &["spec", "template", "spec", "containers", "0", "env", "0"],
    &[
        "spec",
        "template",
        "spec",
        "containers",
        "0",
        "env",
        "0",
        "valueFrom",
    ],
    &["spec", "template", "spec", "containers", "1", "envFrom"],
    &["spec", "template", "spec", "containers", "0", "resources"],
    &["spec", "template", "spec", "initContainers"],
];

/// Replaces the value at `path` (object keys, or array indices as digits) when the path exists.
fn set_at(root: &mut Value, path: &[&str], new: Value) {
    let Some((last, parents)) = path.split_last() else {
        *root = new;
        return;
    };
    let mut cursor = root;
    for key in parents {
        let next = match cursor {
            Value::Object(map) => map.get_mut(*key),
            Value::Array(items) => key.parse::<usize>().ok().and_then(|i| items.get_mut(i)),
            _ => None,
        };
        match next {
            Some(value) => cursor = value,
            None => return,
        }
    }
    match cursor {
        Value::Object(map) => {
            map.insert((*last).to_owned(), new);
        }
        Value::Array(items) => {
            if let Some(slot) = last.parse::<usize>().ok().and_then(|i| items.get_mut(i)) {
                *slot = new;
            }
        }
        _ => {}
    }
}

fn arb_template() -> impl Strategy<Value = Value> {
    prop_oneof![
        1 => arb_json(),
        3 => prop::collection::vec((0..PATHS.len(), arb_json()), 0..3).prop_map(|edits| {
            let mut job = template_job();
            for (path, value) in edits {
                set_at(&mut job, PATHS[path], value);
            }
            job
        }),
    ]
}

fn arb_backend() -> impl Strategy<Value = Backend> {
    prop_oneof![
        Just(Backend::Job),
        "\\PC{0,20}".prop_map(|schedule| Backend::CronJob { schedule })
    ]
}

/// Checks a built workload; returns a description of the first problem.
fn check(input: &BuildInput<'_>, workload: &Workload) -> Result<(), String> {
    let (meta, limit, job_spec) = match workload {
        Workload::Job(j) => (&j.metadata, names::JOB_NAME_MAX, j.spec.as_ref()),
        Workload::CronJob(c) => (
            &c.metadata,
            names::CRONJOB_NAME_MAX,
            c.spec.as_ref().and_then(|s| s.job_template.spec.as_ref()),
        ),
    };
    let annotations = meta.annotations.as_ref().ok_or("no annotations")?;
    if annotations.get(ANNOTATION_CONFIGURATION_HASH) != Some(&configuration_hash(input)) {
        return Err("configuration-hash annotation differs from configuration_hash".into());
    }
    let name = meta.name.as_deref().ok_or("no name")?;
    if name.len() > limit {
        return Err(format!("name {name:?} longer than {limit}"));
    }
    if let Some(bad) = meta
        .labels
        .iter()
        .flatten()
        .find(|(_, v)| !names::is_valid_label_value(v))
    {
        return Err(format!("invalid label value {bad:?}"));
    }
    if meta.owner_references.as_ref().map(Vec::len) != Some(1) {
        return Err("expected exactly one owner reference".into());
    }
    let pod = job_spec
        .and_then(|s| s.template.spec.as_ref())
        .ok_or("no pod spec")?;
    let ours = [ENV_STREAM_ID, ENV_STREAM_KIND, ENV_SPEC, ENV_BACKFILL];
    for container in &pod.containers {
        let env: &[EnvVar] = container.env.as_deref().unwrap_or_default();
        for var_name in ours {
            let found: Vec<&EnvVar> = env.iter().filter(|v| v.name == var_name).collect();
            if found.len() != 1 || found[0].value.is_none() || found[0].value_from.is_some() {
                return Err(format!("{var_name} in {:?}: {found:?}", container.name));
            }
        }
        if !env
            .iter()
            .any(|v| v.name == ENV_STREAM_ID && v.value.as_deref() == Some(input.identity.name.as_str()))
        {
            return Err("STREAM_ID is not the stream's name".into());
        }
    }
    let serialized = match workload {
        Workload::Job(j) => serde_json::to_value(j),
        Workload::CronJob(c) => serde_json::to_value(c),
    };
    serialized
        .map(|_| ())
        .map_err(|e| format!("does not serialize: {e}"))
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn build_never_panics_and_carries_its_hash(
        job in arb_template(),
        spec in arb_json(),
        name in prop_oneof!["[a-z0-9][-a-z0-9.]{0,90}", "\\PC{0,70}"],
        backend in arb_backend(),
        backfill in prop::option::of(("[a-z0-9-]{1,30}", prop::option::of(arb_json()))),
        secrets in prop::collection::vec("\\PC{0,10}", 0..3),
        restarts in any::<u32>(),
    ) {
        let id = identity(&name);
        let mut def = definition(backend);
        def.spec = spec;
        def.secret_names = secrets;
        let cls = class();
        let tpl = template(job);
        let req = backfill.map(|(request_name, payload)| request(&request_name, payload));
        let input = BuildInput {
            identity: &id,
            definition: &def,
            class: &cls,
            template: &tpl,
            mode: req.as_ref().map_or(Mode::Streaming, Mode::Backfill),
            restarts,
        };
        let hash = configuration_hash(&input);
        prop_assert_eq!(hash.len(), 32);
        match build(&input) {
            Ok(workload) => {
                if let Err(problem) = check(&input, &workload) {
                    prop_assert!(false, "{}", problem);
                }
            }
            Err(BuildError::Template { message, .. }) => {
                prop_assert!(message.starts_with("spec"), "error names no path: {}", message);
            }
            Err(other) => prop_assert!(false, "only templates are generated invalid: {}", other),
        }
    }
}

#[test]
fn the_unmodified_template_passes_the_checks() {
    // Guards the property test: `check` accepts what the builder makes of a good template.
    let (id, def, cls, tpl) = (
        identity("orders"),
        definition(Backend::Job),
        class(),
        template(template_job()),
    );
    let input = BuildInput {
        identity: &id,
        definition: &def,
        class: &cls,
        template: &tpl,
        mode: Mode::Streaming,
        restarts: 0,
    };
    assert_eq!(check(&input, &build(&input).unwrap()), Ok(()));
}
