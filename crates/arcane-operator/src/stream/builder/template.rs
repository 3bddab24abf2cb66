//! Validation of a template's raw Job JSON into the parts the builder uses.
//!
//! Errors name the offending field as a path from the StreamingJobTemplate object (the Job lives
//! under its `spec`), so that a plugin author can find it with `kubectl get sjt -o yaml`.

use std::collections::BTreeMap;

use k8s_openapi::api::batch::v1::JobSpec;
use serde_json::{Map, Value};

/// What the builder takes from a template's Job.
#[derive(Debug, Clone)]
pub(super) struct TemplateParts {
    pub labels: BTreeMap<String, String>,
    pub annotations: BTreeMap<String, String>,
    pub job_spec: JobSpec,
}

/// Validates the template's Job (`template.spec`) and extracts its labels, annotations and spec.
pub(super) fn parse(job: &Value) -> Result<TemplateParts, String> {
    let job = as_object(job, "spec", "a batch/v1 Job")?;
    let (labels, annotations) = match job.get("metadata") {
        None | Some(Value::Null) => (BTreeMap::new(), BTreeMap::new()),
        Some(metadata) => {
            let metadata = as_object(metadata, "spec.metadata", "object metadata")?;
            (
                string_map(metadata.get("labels"), "spec.metadata.labels")?,
                string_map(metadata.get("annotations"), "spec.metadata.annotations")?,
            )
        }
    };
    let spec_value = required(job, "spec", "spec.spec")?;
    let spec = as_object(spec_value, "spec.spec", "a JobSpec")?;
    let pod_template = as_object(
        required(spec, "template", "spec.spec.template")?,
        "spec.spec.template",
        "a pod template",
    )?;
    let pod_spec = as_object(
        required(pod_template, "spec", "spec.spec.template.spec")?,
        "spec.spec.template.spec",
        "a PodSpec",
    )?;
    const CONTAINERS: &str = "spec.spec.template.spec.containers";
    match required(pod_spec, "containers", CONTAINERS)? {
        Value::Array(containers) if containers.is_empty() => {
            return Err(format!("{CONTAINERS}: must list at least one container"));
        }
        Value::Array(containers) => check_container_names(containers, CONTAINERS)?,
        other => {
            return Err(format!(
                "{CONTAINERS}: expected an array, found {}",
                type_name(other)
            ));
        }
    }
    let job_spec: JobSpec = serde_path_to_error::deserialize(spec_value.clone()).map_err(|err| {
        let path = err.path().to_string();
        let inner = err.into_inner();
        if path == "." {
            format!("spec.spec: {inner}")
        } else {
            format!("spec.spec.{path}: {inner}")
        }
    })?;
    Ok(TemplateParts {
        labels,
        annotations,
        job_spec,
    })
}

/// k8s-openapi reads a missing required string as empty; the API server would reject the workload
/// instead, so a nameless container is reported here with its path.
fn check_container_names(containers: &[Value], path: &str) -> Result<(), String> {
    for (i, container) in containers.iter().enumerate() {
        let container = as_object(container, &format!("{path}[{i}]"), "a container")?;
        match container.get("name") {
            Some(Value::String(name)) if !name.is_empty() => {}
            None | Some(Value::Null) => return Err(format!("{path}[{i}].name: required field is missing")),
            Some(Value::String(_)) => return Err(format!("{path}[{i}].name: must not be empty")),
            Some(other) => {
                return Err(format!(
                    "{path}[{i}].name: expected a string, found {}",
                    type_name(other)
                ));
            }
        }
    }
    Ok(())
}

fn required<'a>(object: &'a Map<String, Value>, key: &str, path: &str) -> Result<&'a Value, String> {
    match object.get(key) {
        None | Some(Value::Null) => Err(format!("{path}: required field is missing")),
        Some(value) => Ok(value),
    }
}

fn as_object<'a>(value: &'a Value, path: &str, what: &str) -> Result<&'a Map<String, Value>, String> {
    value
        .as_object()
        .ok_or_else(|| format!("{path}: expected {what} (an object), found {}", type_name(value)))
}

/// A map of strings to strings (labels, annotations); absent or `null` is empty.
fn string_map(value: Option<&Value>, path: &str) -> Result<BTreeMap<String, String>, String> {
    let object = match value {
        None | Some(Value::Null) => return Ok(BTreeMap::new()),
        Some(value) => as_object(value, path, "a map of strings")?,
    };
    object
        .iter()
        .map(|(key, value)| match value {
            Value::String(s) => {
                // A value can be made valid (labels are shortened by the builder), a key cannot
                // without changing its meaning: the API server would refuse the workload.
                check_key(key).map_err(|why| format!("{path}.{key}: {why}"))?;
                Ok((key.clone(), s.clone()))
            }
            other => Err(format!(
                "{path}.{key}: expected a string, found {}",
                type_name(other)
            )),
        })
        .collect()
}

/// A label or annotation key as the API server accepts it: an optional DNS subdomain prefix and
/// `/`, then a name of at most 63 characters of `[-A-Za-z0-9_.]`, alphanumeric at both ends.
fn check_key(key: &str) -> Result<(), String> {
    let (prefix, name) = match key.rsplit_once('/') {
        Some((prefix, name)) => (Some(prefix), name),
        None => (None, key),
    };
    let alnum_ends = |s: &str| {
        s.chars().next().is_some_and(|c| c.is_ascii_alphanumeric())
            && s.chars().last().is_some_and(|c| c.is_ascii_alphanumeric())
    };
    let name_ok = name.len() <= 63
        && alnum_ends(name)
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
    if !name_ok {
        return Err(
            "invalid key: the name part must be at most 63 characters of letters, digits, \
                    '-', '_' and '.', starting and ending with a letter or digit"
                .to_string(),
        );
    }
    let label = |part: &str| {
        part.len() <= 63
            && alnum_ends(part)
            && part
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
    };
    match prefix {
        Some(prefix) if prefix.len() > 253 || !prefix.split('.').all(label) => Err(
            "invalid key: the prefix must be a DNS subdomain (lowercase letters, digits, '-' and '.')"
                .to_string(),
        ),
        _ => Ok(()),
    }
}

fn type_name(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

#[cfg(test)]
mod key_tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn label_and_annotation_keys_are_checked() {
        let long = "k".repeat(64);
        // (key, accepted)
        let cases = [
            ("app", true),
            ("app.kubernetes.io/name", true),
            ("UPPER_lower-1.2", true),
            ("sandbox.arcane.dev/outcome", true),
            ("Équipe", false),
            ("bad key!", false),
            ("-leading", false),
            ("trailing.", false),
            ("", false),
            ("Example.com/name", false),
            ("/name", false),
            ("a/b/c", false),
            (long.as_str(), false),
        ];
        for (key, accepted) in cases {
            assert_eq!(check_key(key).is_ok(), accepted, "{key:?}");
            let labels = json!({ key: "v" });
            let parsed = string_map(Some(&labels), "spec.metadata.labels");
            assert_eq!(parsed.is_ok(), accepted, "{key:?}: {parsed:?}");
            if let Err(message) = parsed {
                assert!(
                    message.starts_with(&format!("spec.metadata.labels.{key}: invalid key")),
                    "{message}"
                );
            }
        }
    }
}
