//! Property tests: whatever a plugin object holds, parsing returns (never panics), errors name a
//! field under `spec` or `metadata`, and successes satisfy the model's invariants.

use proptest::prelude::*;
use proptest::sample::{Index, select};
use serde_json::{Map, Value, json};

use super::parse;
use crate::stream::fixtures::{self, SCHEDULE, dynamic, remove_path, secret_ref_fields, set_path};
use crate::stream::model::{Backend, InvalidSpec, StreamDefinition};

/// Keys the parser looks for, so that random objects reach deep into it.
const KEYS: [&str; 22] = [
    "spec",
    "metadata",
    "namespace",
    "name",
    "annotations",
    "arcane/state",
    "execution",
    "layoutVersion",
    "suspended",
    "streamingBackend",
    "batch",
    "changeCapture",
    "schedule",
    "jobTemplateRef",
    "backfillJobTemplateRef",
    "secretRef",
    "apiVersion",
    "kind",
    "uid",
    "generation",
    "source",
    "",
];

const STRINGS: [&str; 14] = [
    "",
    "v0",
    "v1",
    "v2",
    "*/5 * * * *",
    "@hourly",
    "CRON_TZ=UTC 0 0 * * *",
    "suspended",
    "reload-requested",
    "streams",
    "template",
    "Not-A-Name",
    "a.b",
    "\u{0}\u{ffff}é",
];

fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        any::<f64>().prop_map(Value::from),
        select(&STRINGS[..]).prop_map(Value::from),
        ".{0,20}".prop_map(Value::from),
    ];
    leaf.prop_recursive(5, 64, 6, |inner| {
        let key = prop_oneof![select(&KEYS[..]).prop_map(str::to_owned), "[a-zA-Z/.]{0,8}"];
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..5).prop_map(Value::Array),
            prop::collection::vec((key, inner), 0..6)
                .prop_map(|entries| Value::Object(entries.into_iter().collect::<Map<_, _>>())),
        ]
    })
}

fn class_fields() -> impl Strategy<Value = Vec<String>> {
    let field = prop_oneof![
        Just(fixtures::SECRET_REF_FIELD.to_owned()),
        select(&KEYS[..]).prop_map(str::to_owned),
        ".{0,10}",
    ];
    prop::collection::vec(field, 0..3)
}

fn valid_fixture() -> impl Strategy<Value = Value> {
    select(&[0usize, 1, 2, 3, 4][..]).prop_map(|which| match which {
        0 => fixtures::stream_v0("p", false),
        1 => fixtures::stream_v1_job("p", true),
        2 => fixtures::stream_v1_cron("p", false, SCHEDULE),
        3 => fixtures::stream_v2_job("p", false),
        _ => fixtures::stream_v2_cron("p", true, SCHEDULE),
    })
}

/// Paths of every value inside `value`'s `spec` and `metadata` (object keys only).
fn paths(value: &Value, prefix: &mut Vec<String>, out: &mut Vec<Vec<String>>) {
    if let Value::Object(map) = value {
        for (key, child) in map {
            if prefix.is_empty() && key != "spec" && key != "metadata" {
                continue;
            }
            prefix.push(key.clone());
            out.push(prefix.clone());
            paths(child, prefix, out);
            prefix.pop();
        }
    }
}

#[derive(Debug, Clone)]
enum Mutation {
    Delete(Index),
    Replace(Index, Value),
}

fn mutations() -> impl Strategy<Value = Vec<Mutation>> {
    let mutation = prop_oneof![
        any::<Index>().prop_map(Mutation::Delete),
        (any::<Index>(), json_value()).prop_map(|(at, value)| Mutation::Replace(at, value)),
    ];
    prop::collection::vec(mutation, 1..4)
}

fn apply(mut value: Value, mutations: &[Mutation]) -> Value {
    for mutation in mutations {
        let mut all = Vec::new();
        paths(&value, &mut Vec::new(), &mut all);
        if all.is_empty() {
            break;
        }
        let (at, replacement) = match mutation {
            Mutation::Delete(at) => (at, None),
            Mutation::Replace(at, new) => (at, Some(new.clone())),
        };
        let path = all[at.index(all.len())].clone();
        let path: Vec<&str> = path.iter().map(String::as_str).collect();
        match replacement {
            None => {
                remove_path(&mut value, &path);
            }
            Some(new) => set_path(&mut value, &path, new),
        }
    }
    value
}

fn check(result: &Result<StreamDefinition, InvalidSpec>) -> Result<(), TestCaseError> {
    match result {
        Err(error) => {
            prop_assert!(
                error.field.starts_with("spec") || error.field.starts_with("metadata"),
                "field {:?}",
                error.field
            );
            prop_assert!(!error.message.trim().is_empty());
        }
        Ok(definition) => {
            let mut templates = vec![&definition.streaming_template];
            templates.extend(definition.backfill_template.as_ref());
            for template in templates {
                prop_assert!(!template.name.is_empty() && !template.namespace.is_empty());
            }
            if definition.backend == Backend::Job {
                prop_assert!(definition.backfill_template.is_some());
            }
            prop_assert!(definition.secret_names.iter().all(|name| !name.is_empty()));
            prop_assert!(definition.spec.is_object());
        }
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(384))]

    #[test]
    fn arbitrary_objects_never_panic(value in json_value(), fields in class_fields()) {
        check(&parse(&dynamic(value), &fields))?;
    }

    #[test]
    fn arbitrary_specs_never_panic(spec in json_value(), fields in class_fields()) {
        let value = json!({"metadata": {"name": "p", "namespace": "streams"}, "spec": spec});
        check(&parse(&dynamic(value), &fields))?;
    }

    #[test]
    fn almost_valid_specs_never_panic(fixture in valid_fixture(), mutations in mutations()) {
        let object = dynamic(apply(fixture, &mutations));
        check(&parse(&object, &secret_ref_fields()))?;
    }
}
