//! The stream context passed to the workload's containers: environment variables and secret refs.

use k8s_openapi::api::batch::v1::JobSpec;
use k8s_openapi::api::core::v1::{EnvFromSource, EnvVar, EnvVarSource, ObjectFieldSelector, SecretEnvSource};
use serde_json::Value;

use super::BuildInput;
use crate::stream::hash::canonical_json;

pub const ENV_STREAM_ID: &str = "STREAMCONTEXT__STREAM_ID";
pub const ENV_STREAM_KIND: &str = "STREAMCONTEXT__STREAM_KIND";
pub const ENV_SPEC: &str = "STREAMCONTEXT__SPEC";
pub const ENV_BACKFILL: &str = "STREAMCONTEXT__BACKFILL";
pub const ENV_BACKFILL_ID: &str = "STREAMCONTEXT__BACKFILL_ID";
pub const ENV_OVERRIDE: &str = "STREAMCONTEXT__OVERRIDE";
/// Linux's limit on one argument or environment string, its final NUL included (`MAX_ARG_STRLEN`,
/// 32 pages of 4 KiB): `execve` fails with E2BIG on a longer one, so a container given such a
/// variable never starts, on any node.
pub const MAX_ENV_STRING_BYTES: usize = 131_072;

/// Bytes the string `name=value` takes in a process's environment, its final NUL included.
pub fn env_string_bytes(name: &str, value: &str) -> usize {
    name.len() + "=".len() + value.len() + 1
}

/// Where a CronJob's run finds its backfill id: the label the Job controller puts on its pods,
/// unique per scheduled run.
pub const JOB_NAME_FIELD_PATH: &str = "metadata.labels['job-name']";

fn var(name: &str, value: impl Into<String>) -> EnvVar {
    EnvVar {
        name: name.to_owned(),
        value: Some(value.into()),
        value_from: None,
    }
}

fn common_vars(input: &BuildInput<'_>, backfill: bool) -> Vec<EnvVar> {
    vec![
        var(ENV_STREAM_ID, input.identity.name.clone()),
        var(ENV_STREAM_KIND, input.identity.kind.clone()),
        var(ENV_SPEC, canonical_json(&input.definition.spec)),
        var(ENV_BACKFILL, backfill.to_string()),
    ]
}

/// Variables of the streaming Job.
pub(super) fn streaming_vars(input: &BuildInput<'_>) -> Vec<EnvVar> {
    common_vars(input, false)
}

/// Variables of a backfill Job for the request `request_name`.
pub(super) fn backfill_vars(
    input: &BuildInput<'_>,
    request_name: &str,
    payload: Option<&Value>,
) -> Vec<EnvVar> {
    let mut vars = common_vars(input, true);
    vars.push(var(ENV_BACKFILL_ID, request_name));
    if let Some(payload) = payload {
        vars.push(var(ENV_OVERRIDE, canonical_json(payload)));
    }
    vars
}

/// Variables of the Jobs a CronJob creates: every run is a backfill identified by its Job's name.
pub(super) fn cron_vars(input: &BuildInput<'_>) -> Vec<EnvVar> {
    let mut vars = common_vars(input, true);
    vars.push(EnvVar {
        name: ENV_BACKFILL_ID.to_owned(),
        value: None,
        value_from: Some(EnvVarSource {
            field_ref: Some(ObjectFieldSelector {
                api_version: None,
                field_path: JOB_NAME_FIELD_PATH.to_owned(),
            }),
            ..EnvVarSource::default()
        }),
    });
    vars
}

/// The first of `vars` with a literal value too long for one environment string, with its size.
pub(super) fn oversized(vars: &[EnvVar]) -> Option<(&EnvVar, usize)> {
    vars.iter().find_map(|var| {
        let bytes = env_string_bytes(&var.name, var.value.as_deref()?);
        (bytes > MAX_ENV_STRING_BYTES).then_some((var, bytes))
    })
}

/// The first literal variable of the template's own containers (init containers included) too
/// long for one environment string: `(JSON path from the template object, name, size)`.
pub(super) fn oversized_in_template(spec: &JobSpec) -> Option<(String, String, usize)> {
    let pod = spec.template.spec.as_ref()?;
    let lists = [
        ("containers", Some(&pod.containers)),
        ("initContainers", pod.init_containers.as_ref()),
    ];
    for (field, containers) in lists {
        for (i, container) in containers.into_iter().flatten().enumerate() {
            for (j, var) in container.env.iter().flatten().enumerate() {
                let Some(value) = var.value.as_deref() else {
                    continue;
                };
                let bytes = env_string_bytes(&var.name, value);
                if bytes > MAX_ENV_STRING_BYTES {
                    let path = format!("spec.spec.template.spec.{field}[{i}].env[{j}]");
                    return Some((path, var.name.clone(), bytes));
                }
            }
        }
    }
    None
}

/// Sets `vars` and appends a `secretRef` per secret name in every container of the pod template;
/// init containers are left alone (they run before the stream and need no context).
pub(super) fn apply(spec: &mut JobSpec, vars: &[EnvVar], secret_names: &[String]) {
    let Some(pod) = spec.template.spec.as_mut() else {
        return;
    };
    for container in &mut pod.containers {
        let env = container.env.get_or_insert_with(Vec::new);
        for v in vars {
            set_env(env, v.clone());
        }
        let mut env_from = container.env_from.take().unwrap_or_default();
        for name in secret_names {
            add_secret_ref(&mut env_from, name);
        }
        container.env_from = (!env_from.is_empty()).then_some(env_from);
    }
}

/// Sets `var` in `env`: the first variable of that name is replaced where it stands, any later ones
/// of the same name are removed, and a new name goes to the end.
pub(super) fn set_env(env: &mut Vec<EnvVar>, var: EnvVar) {
    match env.iter().position(|existing| existing.name == var.name) {
        Some(first) => {
            let mut index = 0;
            env.retain(|existing| {
                let keep = index <= first || existing.name != var.name;
                index += 1;
                keep
            });
            env[first] = var;
        }
        None => env.push(var),
    }
}

/// Appends a `secretRef` to `name` unless the very same entry is already there.
pub(super) fn add_secret_ref(env_from: &mut Vec<EnvFromSource>, name: &str) {
    // An empty name cannot come from a parsed definition, and would make the API server reject the
    // whole workload.
    if name.is_empty() {
        return;
    }
    let entry = EnvFromSource {
        secret_ref: Some(SecretEnvSource {
            name: name.to_owned(),
            optional: None,
        }),
        ..EnvFromSource::default()
    };
    if !env_from.contains(&entry) {
        env_from.push(entry);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// (name, value, has valueFrom)
    type Row = (String, Option<String>, bool);

    fn names_values(env: &[EnvVar]) -> Vec<Row> {
        env.iter()
            .map(|v| (v.name.clone(), v.value.clone(), v.value_from.is_some()))
            .collect()
    }

    fn field_ref_var(name: &str) -> EnvVar {
        EnvVar {
            name: name.into(),
            value: None,
            value_from: Some(EnvVarSource {
                field_ref: Some(ObjectFieldSelector {
                    api_version: None,
                    field_path: "metadata.name".into(),
                }),
                ..EnvVarSource::default()
            }),
        }
    }

    #[test]
    fn set_env_cases() {
        // (start, var set, expected (name, value, has valueFrom))
        let s = |n: &str, v: &str| (n.to_owned(), Some(v.to_owned()), false);
        let cases: Vec<(Vec<EnvVar>, EnvVar, Vec<Row>)> = vec![
            (vec![], var("A", "1"), vec![s("A", "1")]),
            (vec![var("X", "x")], var("A", "1"), vec![s("X", "x"), s("A", "1")]),
            (
                vec![var("A", "0"), var("X", "x")],
                var("A", "1"),
                vec![s("A", "1"), s("X", "x")],
            ),
            (
                vec![
                    var("X", "x"),
                    var("A", "0"),
                    var("Y", "y"),
                    var("A", "2"),
                    var("A", "3"),
                ],
                var("A", "1"),
                vec![s("X", "x"), s("A", "1"), s("Y", "y")],
            ),
            (
                vec![field_ref_var("A"), var("X", "x")],
                var("A", "1"),
                vec![s("A", "1"), s("X", "x")],
            ),
            (
                vec![var("A", "0")],
                field_ref_var("A"),
                vec![("A".to_owned(), None, true)],
            ),
        ];
        for (mut env, v, expected) in cases {
            set_env(&mut env, v);
            assert_eq!(names_values(&env), expected);
        }
    }

    #[test]
    fn add_secret_ref_appends_once() {
        let config_map = EnvFromSource {
            config_map_ref: Some(k8s_openapi::api::core::v1::ConfigMapEnvSource {
                name: "cm".into(),
                optional: None,
            }),
            ..EnvFromSource::default()
        };
        let mut env_from = vec![config_map.clone()];
        for name in ["a", "b", "a", "", "b"] {
            add_secret_ref(&mut env_from, name);
        }
        let secret_names: Vec<Option<&str>> = env_from
            .iter()
            .map(|e| e.secret_ref.as_ref().map(|s| s.name.as_str()))
            .collect();
        assert_eq!(secret_names, vec![None, Some("a"), Some("b")]);
        assert_eq!(env_from[0], config_map);
    }
}
