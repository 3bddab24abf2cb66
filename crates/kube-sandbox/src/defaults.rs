//! Built-in defaulting and validation a real API server applies on create and update (the `Strategy` installed
//! in the store): Namespaces, Pods, Secrets, Jobs, CronJobs, CRDs, and schema pruning/defaulting for custom resources.

use serde_json::{Map, Value, json};

use crate::registry::CRD_FINALIZER;
use crate::schema::{self, FieldErrorKind};
use crate::store::meta::name_of;
use crate::store::{ApiError, Cause, ResourceInfo, Strategy, Subresource};

mod batch;
mod checks;
mod job_status;

use batch::{default_job_spec, default_pod_failure_policy, default_pod_spec};

/// The strategy of the sandbox's store.
pub struct SandboxStrategy;

fn obj_mut<'a>(v: &'a mut Value, key: &str) -> Option<&'a mut Map<String, Value>> {
    let map = v.as_object_mut()?;
    let entry = map.entry(key.to_string()).or_insert_with(|| json!({}));
    if !entry.is_object() {
        *entry = json!({});
    }
    entry.as_object_mut()
}

fn default(map: &mut Map<String, Value>, key: &str, value: Value) {
    if map.get(key).is_none_or(Value::is_null) {
        map.insert(key.to_string(), value);
    }
}

fn invalid(info: &ResourceInfo, obj: &Value, causes: Vec<Cause>) -> ApiError {
    ApiError::invalid(&info.kind, &info.gvr.group, name_of(obj), causes)
}

fn require_containers(info: &ResourceInfo, obj: &Value, pointer: &str, field: &str) -> Result<(), ApiError> {
    let has = obj
        .pointer(pointer)
        .and_then(Value::as_array)
        .is_some_and(|a| !a.is_empty());
    if !has {
        return Err(invalid(
            info,
            obj,
            vec![Cause::new("FieldValueRequired", field, "Required value")],
        ));
    }
    let spec_pointer = pointer.strip_suffix("/containers").unwrap_or(pointer);
    let spec_field = field.strip_suffix(".containers").unwrap_or(field);
    let causes = checks::pod_spec(obj, spec_pointer, spec_field);
    if causes.is_empty() {
        Ok(())
    } else {
        Err(invalid(info, obj, causes))
    }
}

fn job_template_restart_policy(info: &ResourceInfo, obj: &Value, prefix: &str) -> Result<(), ApiError> {
    let field = format!("{prefix}.template.spec.restartPolicy");
    let pointer = format!("/{}/template/spec/restartPolicy", prefix.replace('.', "/"));
    match obj.pointer(&pointer).and_then(Value::as_str) {
        Some("Never" | "OnFailure") => Ok(()),
        None => Err(invalid(
            info,
            obj,
            vec![Cause::new(
                "FieldValueRequired",
                &field,
                "Required value: valid values: \"OnFailure\", \"Never\"",
            )],
        )),
        Some(other) => Err(invalid(
            info,
            obj,
            vec![Cause::new(
                "FieldValueNotSupported",
                &field,
                format!("Unsupported value: {other:?}: supported values: \"OnFailure\", \"Never\""),
            )],
        )),
    }
}

fn prepare_job_create(info: &ResourceInfo, obj: &mut Value) -> Result<(), ApiError> {
    require_containers(
        info,
        obj,
        "/spec/template/spec/containers",
        "spec.template.spec.containers",
    )?;
    job_template_restart_policy(info, obj, "spec")?;
    let uid = obj
        .pointer("/metadata/uid")
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_string();
    let name = name_of(obj).to_string();
    if let Some(spec) = obj.get_mut("spec") {
        default_job_spec(spec);
        let manual = spec.get("manualSelector").and_then(Value::as_bool) == Some(true);
        if !manual {
            if let Some(s) = spec.as_object_mut() {
                s.insert(
                    "selector".into(),
                    json!({"matchLabels": {"batch.kubernetes.io/controller-uid": uid}}),
                );
            }
            if let Some(meta) = spec.get_mut("template").and_then(|t| obj_mut(t, "metadata")) {
                let labels = meta.entry("labels").or_insert_with(|| json!({}));
                if let Some(l) = labels.as_object_mut() {
                    l.insert("batch.kubernetes.io/controller-uid".into(), json!(uid));
                    l.insert("batch.kubernetes.io/job-name".into(), json!(name));
                    l.insert("controller-uid".into(), json!(uid));
                    l.insert("job-name".into(), json!(name));
                }
            }
        }
    }
    // `SetDefaults_Job` (run again when the stored object is decoded): a Job without labels gets its template's.
    let template_labels = obj.pointer("/spec/template/metadata/labels").cloned();
    if let (Some(labels), Some(meta)) = (template_labels, obj_mut(obj, "metadata"))
        && meta
            .get("labels")
            .and_then(Value::as_object)
            .is_none_or(serde_json::Map::is_empty)
    {
        meta.insert("labels".into(), labels);
    }
    // The generated job-name labels make names over 63 characters invalid (`ValidatePodTemplateSpec`).
    let causes = template_label_causes(obj, "/spec/template/metadata/labels", "spec.template.labels");
    if !causes.is_empty() {
        return Err(invalid(info, obj, causes));
    }
    Ok(())
}

/// `ValidateLabels` of a pod template's labels.
fn template_label_causes(obj: &Value, pointer: &str, field: &str) -> Vec<Cause> {
    use crate::store::meta::{label_value_errors, qualified_name_errors};
    let mut causes = Vec::new();
    for (k, v) in obj
        .pointer(pointer)
        .and_then(Value::as_object)
        .into_iter()
        .flatten()
    {
        for e in qualified_name_errors(k) {
            causes.push(Cause::new(
                "FieldValueInvalid",
                field,
                format!("Invalid value: {k:?}: {e}"),
            ));
        }
        let v = v.as_str().unwrap_or("");
        for e in label_value_errors(v) {
            causes.push(Cause::new(
                "FieldValueInvalid",
                field,
                format!("Invalid value: {v:?}: {e}"),
            ));
        }
    }
    causes
}

fn prepare_job_update(
    info: &ResourceInfo,
    old: &Value,
    new: &Value,
    sub: Subresource,
) -> Result<(), ApiError> {
    if sub == Subresource::Status {
        return job_status::validate(info, old, new);
    }
    let mut causes = Vec::new();
    for field in ["selector", "template", "completionMode"] {
        if old["spec"].get(field) != new["spec"].get(field) {
            causes.push(Cause::new(
                "FieldValueInvalid",
                &format!("spec.{field}"),
                format!(
                    "Invalid value: {}: field is immutable",
                    new["spec"].get(field).unwrap_or(&Value::Null)
                ),
            ));
        }
    }
    if causes.is_empty() {
        Ok(())
    } else {
        Err(invalid(info, new, causes))
    }
}

/// Schedule syntax and time zone, as the CronJob validation checks them.
fn cronjob_schedule(info: &ResourceInfo, obj: &Value) -> Result<(), ApiError> {
    let mut causes = Vec::new();
    if let Some(schedule) = obj.pointer("/spec/schedule").and_then(Value::as_str)
        && !schedule.is_empty()
        && let Err(e) = crate::controllers::cronjob::parse_schedule(schedule)
    {
        causes.push(Cause::new(
            "FieldValueInvalid",
            "spec.schedule",
            format!("Invalid value: {schedule:?}: {e}"),
        ));
    }
    if let Err(e) = crate::controllers::cronjob::time_zone(obj) {
        let tz = obj.pointer("/spec/timeZone").cloned().unwrap_or(Value::Null);
        causes.push(Cause::new(
            "FieldValueInvalid",
            "spec.timeZone",
            format!("Invalid value: {tz}: {e}"),
        ));
    }
    if causes.is_empty() {
        Ok(())
    } else {
        Err(invalid(info, obj, causes))
    }
}

fn prepare_cronjob(info: &ResourceInfo, obj: &mut Value) -> Result<(), ApiError> {
    cronjob_schedule(info, obj)?;
    if obj
        .pointer("/spec/schedule")
        .and_then(Value::as_str)
        .is_none_or(str::is_empty)
    {
        return Err(invalid(
            info,
            obj,
            vec![Cause::new(
                "FieldValueRequired",
                "spec.schedule",
                "Required value",
            )],
        ));
    }
    require_containers(
        info,
        obj,
        "/spec/jobTemplate/spec/template/spec/containers",
        "spec.jobTemplate.spec.template.spec.containers",
    )?;
    job_template_restart_policy(info, obj, "spec.jobTemplate.spec")?;
    if let Some(s) = obj.get_mut("spec").and_then(Value::as_object_mut) {
        default(s, "concurrencyPolicy", json!("Allow"));
        default(s, "suspend", json!(false));
        default(s, "successfulJobsHistoryLimit", json!(3));
        default(s, "failedJobsHistoryLimit", json!(1));
        if let Some(js) = s.get_mut("jobTemplate").and_then(|t| t.get_mut("spec")) {
            // CronJob templates get the nested defaults (pod spec, pod failure policy patterns) but not the
            // Job's own (`SetDefaults_Job` is for Jobs) nor a generated selector (the Job gets it when created).
            default_pod_failure_policy(js);
            if let Some(t) = js.get_mut("template").and_then(|t| t.get_mut("spec")) {
                default_pod_spec(t, "Never");
            }
        }
    }
    Ok(())
}

/// `stringData` is write-only: the server merges it into `data` (base64) and never stores it.
fn merge_string_data(secret: &mut Value) {
    let Some(m) = secret.as_object_mut() else { return };
    let Some(Value::Object(sd)) = m.remove("stringData") else {
        return;
    };
    let data = m.entry("data").or_insert_with(|| json!({}));
    if let Some(d) = data.as_object_mut() {
        for (k, v) in sd {
            if let Some(s) = v.as_str() {
                d.insert(k, json!(crate::store::meta::base64(s.as_bytes())));
            }
        }
    }
}

fn schema_causes(errors: Vec<schema::FieldError>) -> Vec<Cause> {
    errors
        .into_iter()
        .map(|e| {
            let reason = match e.kind {
                FieldErrorKind::Invalid => "FieldValueInvalid",
                FieldErrorKind::Required => "FieldValueRequired",
                FieldErrorKind::NotSupported => "FieldValueNotSupported",
                FieldErrorKind::TypeInvalid => "FieldValueTypeInvalid",
                FieldErrorKind::Duplicate => "FieldValueDuplicate",
                FieldErrorKind::TooLong => "FieldValueTooLong",
                FieldErrorKind::TooMany => "FieldValueTooMany",
                FieldErrorKind::Forbidden => "FieldValueForbidden",
            };
            Cause::new(reason, e.path.trim_start_matches('.'), e.message)
        })
        .collect()
}

/// Pruning, defaulting and validation from the CRD schema.
fn prepare_custom(info: &ResourceInfo, obj: &mut Value) -> Result<(), ApiError> {
    let Some(facts) = &info.crd else { return Ok(()) };
    if facts.schema.is_null() {
        return Ok(());
    }
    schema::prune(obj, &facts.schema);
    schema::apply_defaults(obj, &facts.schema);
    let errors = schema::validate(obj, &facts.schema);
    if errors.is_empty() {
        Ok(())
    } else {
        Err(invalid(info, obj, schema_causes(errors)))
    }
}

/// CRD validation (`apiextensions/validation`): names, scope, versions, structural schemas.
pub fn validate_crd(info: &ResourceInfo, crd: &Value) -> Result<(), ApiError> {
    let mut causes = Vec::new();
    let spec = &crd["spec"];
    let group = spec["group"].as_str().unwrap_or("");
    let plural = spec["names"]["plural"].as_str().unwrap_or("");
    let kind = spec["names"]["kind"].as_str().unwrap_or("");
    if group.is_empty() {
        causes.push(Cause::new("FieldValueRequired", "spec.group", "Required value"));
    } else if !group.contains('.') {
        causes.push(Cause::new(
            "FieldValueInvalid",
            "spec.group",
            format!("Invalid value: {group:?}: should be a domain with at least one dot"),
        ));
    }
    if plural.is_empty() {
        causes.push(Cause::new(
            "FieldValueRequired",
            "spec.names.plural",
            "Required value",
        ));
    }
    if kind.is_empty() {
        causes.push(Cause::new(
            "FieldValueRequired",
            "spec.names.kind",
            "Required value",
        ));
    }
    if !plural.is_empty() && !group.is_empty() && name_of(crd) != format!("{plural}.{group}") {
        causes.push(Cause::new(
            "FieldValueInvalid",
            "metadata.name",
            format!(
                "Invalid value: {:?}: must be spec.names.plural+\".\"+spec.group",
                name_of(crd)
            ),
        ));
    }
    match spec["scope"].as_str() {
        Some("Namespaced" | "Cluster") => {}
        other => causes.push(Cause::new(
            "FieldValueNotSupported",
            "spec.scope",
            format!(
                "Unsupported value: {:?}: supported values: \"Cluster\", \"Namespaced\"",
                other.unwrap_or("")
            ),
        )),
    }
    let versions = spec["versions"].as_array().cloned().unwrap_or_default();
    if versions.is_empty() {
        causes.push(Cause::new(
            "FieldValueInvalid",
            "spec.versions",
            "Invalid value: null: must have exactly one version marked as storage version",
        ));
    }
    let storage = versions.iter().filter(|v| v["storage"] == true).count();
    if !versions.is_empty() && storage != 1 {
        causes.push(Cause::new(
            "FieldValueInvalid",
            "spec.versions",
            format!(
                "Invalid value: {}: must have exactly one version marked as storage version",
                json!(versions.iter().map(|v| &v["name"]).collect::<Vec<_>>())
            ),
        ));
    }
    for (i, v) in versions.iter().enumerate() {
        match v.pointer("/schema/openAPIV3Schema") {
            None => causes.push(Cause::new(
                "FieldValueRequired",
                &format!("spec.versions[{i}].schema.openAPIV3Schema"),
                "Required value: schemas are required",
            )),
            Some(s) => {
                if let Err(errs) = schema::check_structural(s) {
                    for e in errs {
                        causes.push(Cause::new(
                            "FieldValueInvalid",
                            &format!("spec.versions[{i}].schema.openAPIV3Schema"),
                            e,
                        ));
                    }
                }
            }
        }
    }
    if causes.is_empty() {
        Ok(())
    } else {
        Err(invalid(info, crd, causes))
    }
}

impl Strategy for SandboxStrategy {
    fn prepare_create(&self, info: &ResourceInfo, obj: &mut Value) -> Result<(), ApiError> {
        if info.crd.is_some() {
            return prepare_custom(info, obj);
        }
        match (info.gvr.group.as_str(), info.gvr.resource.as_str()) {
            ("", "namespaces") => {
                let name = name_of(obj).to_string();
                if let Some(labels) =
                    obj_mut(obj, "metadata").map(|m| m.entry("labels").or_insert_with(|| json!({})))
                    && let Some(l) = labels.as_object_mut()
                {
                    l.insert("kubernetes.io/metadata.name".into(), json!(name));
                }
                if let Some(spec) = obj_mut(obj, "spec") {
                    default(spec, "finalizers", json!(["kubernetes"]));
                }
                if let Some(m) = obj.as_object_mut() {
                    m.insert("status".into(), json!({"phase": "Active"}));
                }
                Ok(())
            }
            ("", "pods") => {
                require_containers(info, obj, "/spec/containers", "spec.containers")?;
                if let Some(spec) = obj.get_mut("spec") {
                    default_pod_spec(spec, "Always");
                }
                if let Some(m) = obj.as_object_mut() {
                    m.insert(
                        "status".into(),
                        json!({"phase": "Pending", "qosClass": "BestEffort"}),
                    );
                }
                Ok(())
            }
            ("events.k8s.io", "events") => {
                let causes = checks::new_event(obj);
                if causes.is_empty() {
                    Ok(())
                } else {
                    Err(invalid(info, obj, causes))
                }
            }
            ("", "configmaps") => {
                let causes = checks::data_maps(obj, &["data", "binaryData"]);
                if causes.is_empty() {
                    Ok(())
                } else {
                    Err(invalid(info, obj, causes))
                }
            }
            ("", "secrets") => {
                let causes = checks::data_maps(obj, &["data", "stringData"]);
                if !causes.is_empty() {
                    return Err(invalid(info, obj, causes));
                }
                merge_string_data(obj);
                if let Some(m) = obj.as_object_mut() {
                    if m.get("type").and_then(Value::as_str) == Some("") {
                        m.remove("type");
                    }
                    default(m, "type", json!("Opaque"));
                }
                Ok(())
            }
            ("batch", "jobs") => prepare_job_create(info, obj),
            ("batch", "cronjobs") => prepare_cronjob(info, obj),
            (crate::rbac::GROUP, _) => crate::rbac::prepare(info, obj),
            ("apiextensions.k8s.io", "customresourcedefinitions") => {
                validate_crd(info, obj)?;
                if let Some(m) = obj_mut(obj, "metadata") {
                    let fs = m.entry("finalizers").or_insert_with(|| json!([]));
                    if let Some(a) = fs.as_array_mut()
                        && !a.iter().any(|f| f == CRD_FINALIZER)
                    {
                        a.push(json!(CRD_FINALIZER));
                    }
                }
                if let Some(spec) = obj_mut(obj, "spec") {
                    default(spec, "conversion", json!({"strategy": "None"}));
                }
                Ok(())
            }
            _ => Ok(()),
        }
    }

    fn prepare_update(
        &self,
        info: &ResourceInfo,
        old: &Value,
        new: &mut Value,
        sub: Subresource,
    ) -> Result<(), ApiError> {
        if info.crd.is_some() {
            return prepare_custom(info, new);
        }
        match (info.gvr.group.as_str(), info.gvr.resource.as_str()) {
            ("batch", "jobs") => prepare_job_update(info, old, new, sub),
            (crate::rbac::GROUP, _) => crate::rbac::prepare_update(info, old, new),
            ("batch", "cronjobs") if sub == Subresource::Main => cronjob_schedule(info, new),
            ("apiextensions.k8s.io", "customresourcedefinitions") if sub == Subresource::Main => {
                validate_crd(info, new)
            }
            ("", "configmaps") => {
                let mut causes = checks::data_maps(new, &["data", "binaryData"]);
                causes.extend(checks::immutable_data(old, new, &["data", "binaryData"]));
                if causes.is_empty() {
                    Ok(())
                } else {
                    Err(invalid(info, new, causes))
                }
            }
            ("", "secrets") => {
                let mut causes = checks::data_maps(new, &["data", "stringData"]);
                causes.extend(checks::immutable_data(old, new, &["data", "stringData"]));
                if !causes.is_empty() {
                    return Err(invalid(info, new, causes));
                }
                merge_string_data(new);
                if old.get("type") != new.get("type") && new.get("type").is_some() {
                    return Err(invalid(
                        info,
                        new,
                        vec![Cause::new(
                            "FieldValueInvalid",
                            "type",
                            "Invalid value: field is immutable",
                        )],
                    ));
                }
                if let Some(m) = new.as_object_mut()
                    && let Some(t) = old.get("type")
                {
                    default(m, "type", t.clone());
                }
                Ok(())
            }
            _ => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests;
