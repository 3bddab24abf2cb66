//! Defaulting of Jobs (`SetDefaults_Job`, `SetDefaults_PodFailurePolicyOnPodConditionsPattern` of
//! `pkg/apis/batch/v1/defaults.go`) and of pod specs (`pkg/apis/core/v1/defaults.go`), which Pods, Job
//! templates and CronJob job templates get. What is defaulted, when absent:
//!
//! Job `spec`: `completions` 1 and `parallelism` 1 when both are absent, else `parallelism` 1; `backoffLimit` 6,
//! or 2147483647 when `backoffLimitPerIndex` is set; `completionMode` NonIndexed; `suspend` false;
//! `manualSelector` false; `podReplacementPolicy` Failed with a `podFailurePolicy`, else TerminatingOrFailed;
//! `podFailurePolicy.rules[].onPodConditions[].status` "True". Job `metadata.labels`: the template's labels when
//! the Job has none.
//!
//! Pod spec: `restartPolicy` (Always for Pods, Never for Job templates unless given), `dnsPolicy` ClusterFirst,
//! `schedulerName` default-scheduler, `securityContext` {}, `terminationGracePeriodSeconds` 30; containers and
//! init containers: `terminationMessagePath` /dev/termination-log, `terminationMessagePolicy` File,
//! `imagePullPolicy` (Always for `:latest` or no tag, else IfNotPresent), `resources` {}, `ports[].protocol` TCP,
//! probes' `timeoutSeconds` 1, `periodSeconds` 10, `successThreshold` 1, `failureThreshold` 3 and `httpGet.scheme`
//! HTTP, `env[].valueFrom.fieldRef.apiVersion` v1; volumes: `configMap`/`secret` `defaultMode` 420 (0644).

use serde_json::{Map, Value, json};

fn default(map: &mut Map<String, Value>, key: &str, value: Value) {
    if map.get(key).is_none_or(Value::is_null) {
        map.insert(key.to_string(), value);
    }
}

fn objects_in<'a>(
    m: &'a mut Map<String, Value>,
    key: &str,
) -> impl Iterator<Item = &'a mut Map<String, Value>> {
    m.get_mut(key)
        .and_then(Value::as_array_mut)
        .into_iter()
        .flatten()
        .filter_map(Value::as_object_mut)
}

fn default_probe(c: &mut Map<String, Value>, key: &str) {
    let Some(p) = c.get_mut(key).and_then(Value::as_object_mut) else {
        return;
    };
    default(p, "timeoutSeconds", json!(1));
    default(p, "periodSeconds", json!(10));
    default(p, "successThreshold", json!(1));
    default(p, "failureThreshold", json!(3));
    if let Some(h) = p.get_mut("httpGet").and_then(Value::as_object_mut) {
        default(h, "scheme", json!("HTTP"));
    }
}

fn default_container(c: &mut Map<String, Value>) {
    default(c, "terminationMessagePath", json!("/dev/termination-log"));
    default(c, "terminationMessagePolicy", json!("File"));
    default(c, "resources", json!({}));
    let image = c.get("image").and_then(Value::as_str).unwrap_or("");
    let last = image.rsplit('/').next().unwrap_or("");
    let policy = if !last.contains(':') || image.ends_with(":latest") {
        "Always"
    } else {
        "IfNotPresent"
    };
    default(c, "imagePullPolicy", json!(policy));
    for port in objects_in(c, "ports") {
        default(port, "protocol", json!("TCP"));
    }
    for probe in ["livenessProbe", "readinessProbe", "startupProbe"] {
        default_probe(c, probe);
    }
    for env in objects_in(c, "env") {
        if let Some(f) = env
            .get_mut("valueFrom")
            .and_then(|v| v.get_mut("fieldRef"))
            .and_then(Value::as_object_mut)
        {
            default(f, "apiVersion", json!("v1"));
        }
    }
}

/// Pod spec defaults, applied to pods and to Job/CronJob templates.
pub(super) fn default_pod_spec(spec: &mut Value, restart_default: &str) {
    let Some(s) = spec.as_object_mut() else { return };
    default(s, "restartPolicy", json!(restart_default));
    default(s, "dnsPolicy", json!("ClusterFirst"));
    default(s, "schedulerName", json!("default-scheduler"));
    default(s, "securityContext", json!({}));
    default(s, "terminationGracePeriodSeconds", json!(30));
    for list in ["containers", "initContainers"] {
        for c in objects_in(s, list) {
            default_container(c);
        }
    }
    for v in objects_in(s, "volumes") {
        for source in ["configMap", "secret"] {
            if let Some(src) = v.get_mut(source).and_then(Value::as_object_mut) {
                default(src, "defaultMode", json!(420));
            }
        }
    }
}

/// `podFailurePolicy.rules[].onPodConditions[].status` defaults to "True".
pub(super) fn default_pod_failure_policy(job_spec: &mut Value) {
    let Some(rules) = job_spec
        .pointer_mut("/podFailurePolicy/rules")
        .and_then(Value::as_array_mut)
    else {
        return;
    };
    for rule in rules.iter_mut().filter_map(Value::as_object_mut) {
        for pattern in objects_in(rule, "onPodConditions") {
            if pattern
                .get("status")
                .and_then(Value::as_str)
                .is_none_or(str::is_empty)
            {
                pattern.insert("status".into(), json!("True"));
            }
        }
    }
}

/// `SetDefaults_Job` on `spec`, plus the pod template's defaults.
pub(super) fn default_job_spec(spec: &mut Value) {
    default_pod_failure_policy(spec);
    let Some(s) = spec.as_object_mut() else { return };
    if s.get("completions").is_none_or(Value::is_null) && s.get("parallelism").is_none_or(Value::is_null) {
        s.insert("completions".into(), json!(1));
    }
    default(s, "parallelism", json!(1));
    let per_index = s.get("backoffLimitPerIndex").is_some_and(|v| !v.is_null());
    default(s, "backoffLimit", json!(if per_index { i32::MAX } else { 6 }));
    default(s, "completionMode", json!("NonIndexed"));
    default(s, "suspend", json!(false));
    default(s, "manualSelector", json!(false));
    let replacement = if s.get("podFailurePolicy").is_some_and(|p| !p.is_null()) {
        "Failed"
    } else {
        "TerminatingOrFailed"
    };
    default(s, "podReplacementPolicy", json!(replacement));
    if let Some(ts) = s.get_mut("template").and_then(|t| t.get_mut("spec")) {
        default_pod_spec(ts, "Never");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn job(spec: Value) -> Value {
        let mut s = spec;
        default_job_spec(&mut s);
        s
    }

    #[test]
    fn job_defaults_each() {
        let template = json!({"spec": {"containers": [{"name": "c", "image": "busybox"}]}});
        let d = job(json!({"template": template}));
        for (k, want) in [
            ("completions", json!(1)),
            ("parallelism", json!(1)),
            ("backoffLimit", json!(6)),
            ("completionMode", json!("NonIndexed")),
            ("suspend", json!(false)),
            ("manualSelector", json!(false)),
            ("podReplacementPolicy", json!("TerminatingOrFailed")),
        ] {
            assert_eq!(d[k], want, "{k}");
        }
        let parallel = job(json!({"parallelism": 3, "template": template}));
        assert!(
            parallel.get("completions").is_none(),
            "completions stay unset with parallelism given"
        );
        let per_index = job(
            json!({"completionMode": "Indexed", "completions": 3, "backoffLimitPerIndex": 1, "template": template}),
        );
        assert_eq!(per_index["backoffLimit"], json!(2147483647));
        assert_eq!(per_index["completionMode"], "Indexed");
        let pfp = job(json!({"template": template, "podFailurePolicy": {"rules": [
            {"action": "Ignore", "onPodConditions": [{"type": "DisruptionTarget"}, {"type": "X", "status": "False"}]},
            {"action": "FailJob", "onExitCodes": {"operator": "In", "values": [42]}}]}}));
        assert_eq!(
            pfp["podFailurePolicy"]["rules"][0]["onPodConditions"][0]["status"],
            "True"
        );
        assert_eq!(
            pfp["podFailurePolicy"]["rules"][0]["onPodConditions"][1]["status"],
            "False"
        );
        assert_eq!(pfp["podReplacementPolicy"], "Failed");
    }

    #[test]
    fn pod_spec_defaults_each() {
        let mut spec = json!({
            "containers": [{"name": "c", "image": "repo/app:1.2",
                "ports": [{"containerPort": 80}],
                "livenessProbe": {"httpGet": {"path": "/", "port": 80}},
                "env": [{"name": "NS", "valueFrom": {"fieldRef": {"fieldPath": "metadata.namespace"}}}]}],
            "initContainers": [{"name": "i", "image": "busybox:latest"}],
            "volumes": [{"name": "v", "configMap": {"name": "cm"}}, {"name": "s", "secret": {"secretName": "x"}}]});
        default_pod_spec(&mut spec, "Never");
        let c = &spec["containers"][0];
        assert_eq!(spec["restartPolicy"], "Never");
        assert_eq!(spec["dnsPolicy"], "ClusterFirst");
        assert_eq!(spec["schedulerName"], "default-scheduler");
        assert_eq!(spec["securityContext"], json!({}));
        assert_eq!(spec["terminationGracePeriodSeconds"], 30);
        assert_eq!(c["imagePullPolicy"], "IfNotPresent");
        assert_eq!(spec["initContainers"][0]["imagePullPolicy"], "Always");
        assert_eq!(c["terminationMessagePath"], "/dev/termination-log");
        assert_eq!(c["terminationMessagePolicy"], "File");
        assert_eq!(c["ports"][0]["protocol"], "TCP");
        let probe = &c["livenessProbe"];
        assert_eq!(
            (
                &probe["timeoutSeconds"],
                &probe["periodSeconds"],
                &probe["successThreshold"],
                &probe["failureThreshold"]
            ),
            (&json!(1), &json!(10), &json!(1), &json!(3))
        );
        assert_eq!(probe["httpGet"]["scheme"], "HTTP");
        assert_eq!(c["env"][0]["valueFrom"]["fieldRef"]["apiVersion"], "v1");
        assert_eq!(spec["volumes"][0]["configMap"]["defaultMode"], 420);
        assert_eq!(spec["volumes"][1]["secret"]["defaultMode"], 420);
    }
}
