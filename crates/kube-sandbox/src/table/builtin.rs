//! Server-side columns and cells of built-in kinds, after `pkg/printers/internalversion/printers.go`. The
//! apiserver always renders the wide set; kubectl hides `priority: 1` columns unless `-o wide`.

use serde_json::{Value, json};

use super::Column;
use super::format::{human_duration, parse_time, since};

const NAME_DESC: &str = "Name must be unique within a namespace. Is required when creating resources, although some \
resources may allow a client to request the generation of an appropriate name automatically. Name is primarily \
intended for creation idempotence and configuration definition. Cannot be updated. More info: \
https://kubernetes.io/docs/concepts/overview/working-with-objects/names#names";
const AGE_DESC: &str = "CreationTimestamp is a timestamp representing the server time when this object was created. \
It is not guaranteed to be set in happens-before order across separate operations. Clients may not set this value. \
It is represented in RFC3339 form and is in UTC.";

fn c(name: &str, type_: &str, priority: i32, description: &str) -> Column {
    Column {
        name: name.to_string(),
        type_: type_.to_string(),
        format: if name == "Name" {
            "name".to_string()
        } else {
            String::new()
        },
        description: description.to_string(),
        priority,
        json_path: None,
    }
}

pub(super) fn name_column() -> Column {
    c("Name", "string", 0, NAME_DESC)
}

pub(super) fn age_column() -> Column {
    c("Age", "string", 0, AGE_DESC)
}

fn workload_extra() -> [Column; 3] {
    [
        c(
            "Containers",
            "string",
            1,
            "Names of each container in the template.",
        ),
        c(
            "Images",
            "string",
            1,
            "Images referenced by each container in the template.",
        ),
        c(
            "Selector",
            "string",
            1,
            "Query over pods that should match the replica count.",
        ),
    ]
}

pub(super) fn columns(group: &str, kind: &str) -> Vec<Column> {
    let mut cols = vec![name_column()];
    match (group, kind) {
        ("", "Pod") => {
            cols.extend([
                c("Ready", "string", 0, "The aggregate readiness state of this pod for accepting traffic."),
                c("Status", "string", 0, "The aggregate status of the containers in this pod."),
                c("Restarts", "string", 0, "The number of times the containers in this pod have been restarted and when the last container in this pod has restarted."),
                age_column(),
                c("IP", "string", 1, "IP address allocated to the pod. Routable at least within the cluster. Empty if not yet allocated."),
                c("Node", "string", 1, "NodeName is a request to schedule this pod onto a specific node."),
                c("Nominated Node", "string", 1, "nominatedNodeName is set only when this pod preempts other pods on the node."),
                c("Readiness Gates", "string", 1, "If specified, all readiness gates will be evaluated for pod readiness."),
            ]);
        }
        ("", "Namespace") => cols.extend([c("Status", "string", 0, "The status of the namespace"), age_column()]),
        ("", "ConfigMap") => cols.extend([c("Data", "string", 0, "Data contains the configuration data."), age_column()]),
        ("", "Secret") => cols.extend([
            c("Type", "string", 0, "Used to facilitate programmatic handling of secret data."),
            c("Data", "string", 0, "Data contains the secret data."),
            age_column(),
        ]),
        ("", "ServiceAccount") => cols.extend([
            c("Secrets", "string", 0, "Secrets is a list of the secrets in the same namespace that pods running using this ServiceAccount are allowed to use."),
            age_column(),
        ]),
        ("coordination.k8s.io", "Lease") => {
            cols.extend([c("Holder", "string", 0, "holderIdentity contains the identity of the holder of a current lease."), age_column()]);
        }
        ("batch", "Job") => {
            cols.extend([
                c("Status", "string", 0, "Status of the job."),
                c("Completions", "string", 0, "The completion status of the job."),
                c("Duration", "string", 0, "Time required to complete the job."),
                age_column(),
            ]);
            cols.extend(workload_extra());
        }
        ("batch", "CronJob") => {
            cols.extend([
                c("Schedule", "string", 0, "The schedule in Cron format, see https://en.wikipedia.org/wiki/Cron."),
                c("Timezone", "string", 0, "The time zone name for the given schedule, see https://en.wikipedia.org/wiki/List_of_tz_database_time_zones."),
                c("Suspend", "boolean", 0, "This flag tells the controller to suspend subsequent executions."),
                c("Active", "integer", 0, "A list of pointers to currently running jobs."),
                c("Last Schedule", "string", 0, "Information when was the last time the job was successfully scheduled."),
                age_column(),
            ]);
            cols.extend(workload_extra());
        }
        ("" | "events.k8s.io", "Event") => {
            cols = vec![
                c("Last Seen", "string", 0, "Time when this Event was last seen"),
                c("Type", "string", 0, "Type of this event (Normal, Warning), new types could be added in the future."),
                c("Reason", "string", 0, "This should be a short, machine understandable string that gives the reason for this event being generated."),
                c("Object", "string", 0, "The object this Event is about."),
                c("Subobject", "string", 1, "The specific sub-object this event is about."),
                c("Source", "string", 1, "The component reporting this event."),
                c("Message", "string", 0, "A human-readable description of the status of this operation."),
                c("First Seen", "string", 1, "Time when this Event was first seen"),
                c("Count", "string", 1, "The number of times this event has occurred."),
                c("Name", "string", 1, NAME_DESC),
            ];
            if let Some(name) = cols.last_mut() {
                name.format = "name".to_string();
            }
        }
        ("apps", "Deployment") => {
            cols.extend([
                c("Ready", "string", 0, "Number of the pod with ready state"),
                c("Up-to-date", "string", 0, "Total number of non-terminated pods targeted by this deployment that have the desired template spec."),
                c("Available", "string", 0, "Total number of available pods (ready for at least minReadySeconds) targeted by this deployment."),
                age_column(),
            ]);
            cols.extend(workload_extra());
        }
        // The apiserver's default table convertor (`registry/rest/table.go`), used e.g. for CRDs themselves.
        _ => cols.push(c("Created At", "date", 0, AGE_DESC)),
    }
    cols
}

fn s<'a>(obj: &'a Value, ptr: &str) -> &'a str {
    obj.pointer(ptr).and_then(Value::as_str).unwrap_or("")
}

fn n(obj: &Value, ptr: &str) -> i64 {
    obj.pointer(ptr).and_then(Value::as_i64).unwrap_or(0)
}

fn len(obj: &Value, ptr: &str) -> usize {
    match obj.pointer(ptr) {
        Some(Value::Array(a)) => a.len(),
        Some(Value::Object(m)) => m.len(),
        _ => 0,
    }
}

fn has_condition(obj: &Value, ty: &str) -> bool {
    obj.pointer("/status/conditions")
        .and_then(Value::as_array)
        .is_some_and(|cs| cs.iter().any(|c| c["type"] == ty && c["status"] == "True"))
}

fn join_containers(obj: &Value, ptr: &str, field: &str) -> String {
    obj.pointer(ptr)
        .and_then(Value::as_array)
        .map(|cs| {
            cs.iter()
                .filter_map(|c| c.get(field).and_then(Value::as_str))
                .collect::<Vec<_>>()
                .join(",")
        })
        .unwrap_or_default()
}

fn selector(obj: &Value, ptr: &str) -> String {
    let Some(sel) = obj.pointer(ptr) else {
        return "<none>".to_string();
    };
    let mut parts: Vec<String> = sel
        .get("matchLabels")
        .and_then(Value::as_object)
        .map(|m| {
            m.iter()
                .map(|(k, v)| format!("{k}={}", v.as_str().unwrap_or_default()))
                .collect()
        })
        .unwrap_or_default();
    if let Some(exprs) = sel.get("matchExpressions").and_then(Value::as_array) {
        for e in exprs {
            let values: Vec<&str> = e["values"]
                .as_array()
                .map(|a| a.iter().filter_map(Value::as_str).collect())
                .unwrap_or_default();
            let key = e["key"].as_str().unwrap_or_default();
            parts.push(match e["operator"].as_str().unwrap_or_default() {
                "In" => format!("{key} in ({})", values.join(",")),
                "NotIn" => format!("{key} notin ({})", values.join(",")),
                "Exists" => key.to_string(),
                _ => format!("!{key}"),
            });
        }
    }
    if parts.is_empty() {
        "<none>".to_string()
    } else {
        parts.join(",")
    }
}

fn job_status(obj: &Value) -> &'static str {
    if has_condition(obj, "Complete") {
        "Complete"
    } else if has_condition(obj, "Failed") {
        "Failed"
    } else if obj.pointer("/metadata/deletionTimestamp").is_some() {
        "Terminating"
    } else if has_condition(obj, "Suspended") {
        "Suspended"
    } else if has_condition(obj, "FailureTarget") {
        "FailureTarget"
    } else if has_condition(obj, "SuccessCriteriaMet") {
        "SuccessCriteriaMet"
    } else {
        "Running"
    }
}

fn job_completions(obj: &Value) -> String {
    let succeeded = n(obj, "/status/succeeded");
    match (
        obj.pointer("/spec/completions").and_then(Value::as_i64),
        obj.pointer("/spec/parallelism").and_then(Value::as_i64),
    ) {
        (Some(c), _) => format!("{succeeded}/{c}"),
        (None, Some(p)) if p > 1 => format!("{succeeded}/1 of {p}"),
        _ => format!("{succeeded}/1"),
    }
}

fn job_duration(obj: &Value, now: jiff::Timestamp) -> String {
    let Some(start) = parse_time(obj.pointer("/status/startTime")) else {
        return String::new();
    };
    let end = parse_time(obj.pointer("/status/completionTime")).unwrap_or(now);
    human_duration(end.as_second() - start.as_second())
}

fn pod_status(obj: &Value) -> String {
    if obj.pointer("/metadata/deletionTimestamp").is_some() {
        return "Terminating".to_string();
    }
    let mut reason = obj
        .pointer("/status/reason")
        .and_then(Value::as_str)
        .or_else(|| obj.pointer("/status/phase").and_then(Value::as_str))
        .unwrap_or("Pending")
        .to_string();
    if let Some(statuses) = obj.pointer("/status/containerStatuses").and_then(Value::as_array) {
        for st in statuses.iter().rev() {
            if let Some(r) = st.pointer("/state/waiting/reason").and_then(Value::as_str) {
                reason = r.to_string();
            } else if let Some(t) = st.pointer("/state/terminated") {
                reason = match t.get("reason").and_then(Value::as_str) {
                    Some(r) => r.to_string(),
                    None => format!(
                        "ExitCode:{}",
                        t.get("exitCode").and_then(Value::as_i64).unwrap_or(0)
                    ),
                };
            }
        }
    }
    reason
}

fn pod_ready(obj: &Value) -> String {
    let total = len(obj, "/spec/containers");
    let ready = obj
        .pointer("/status/containerStatuses")
        .and_then(Value::as_array)
        .map_or(0, |a| a.iter().filter(|c| c["ready"] == true).count());
    format!("{ready}/{total}")
}

fn event_cells(obj: &Value, now: jiff::Timestamp) -> Vec<Value> {
    // core/v1 and events.k8s.io/v1 name the same things differently.
    let pick = |a: &str, b: &str| obj.pointer(a).or_else(|| obj.pointer(b));
    let at = |v: Option<&Value>| parse_time(v).map(|_| since(v, now));
    let first =
        at(pick("/firstTimestamp", "/deprecatedFirstTimestamp")).or_else(|| at(obj.pointer("/eventTime")));
    let first = first.unwrap_or_else(|| "<unknown>".to_string());
    let mut last = at(pick("/lastTimestamp", "/deprecatedLastTimestamp")).unwrap_or_else(|| first.clone());
    let mut count = pick("/count", "/deprecatedCount")
        .and_then(Value::as_i64)
        .unwrap_or(0);
    if let Some(series) = obj.get("series") {
        last = since(series.get("lastObservedTime"), now);
        count = series.get("count").and_then(Value::as_i64).unwrap_or(count);
    } else if count == 0 {
        count = 1;
    }
    let involved = pick("/involvedObject", "/regarding")
        .cloned()
        .unwrap_or(Value::Null);
    let kind = involved["kind"].as_str().unwrap_or_default().to_lowercase();
    let target = match involved["name"].as_str() {
        Some(name) if !name.is_empty() => format!("{kind}/{name}"),
        _ => kind,
    };
    let source = {
        let comp = pick("/source/component", "/deprecatedSource/component").and_then(Value::as_str);
        let host = pick("/source/host", "/deprecatedSource/host").and_then(Value::as_str);
        match (comp, host) {
            (Some(c), Some(h)) if !h.is_empty() => format!("{c}, {h}"),
            (Some(c), _) if !c.is_empty() => c.to_string(),
            _ => s(obj, "/reportingController").to_string(),
        }
    };
    let message = pick("/message", "/note")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .trim()
        .to_string();
    vec![
        json!(last),
        json!(s(obj, "/type")),
        json!(s(obj, "/reason")),
        json!(target),
        json!(involved["fieldPath"].as_str().unwrap_or_default()),
        json!(source),
        json!(message),
        json!(first),
        json!(count),
        json!(s(obj, "/metadata/name")),
    ]
}

/// The cells of a built-in kind's row, in [`columns`] order.
pub(super) fn cells(group: &str, kind: &str, obj: &Value, now: jiff::Timestamp) -> Vec<Value> {
    let name = json!(s(obj, "/metadata/name"));
    let age = json!(since(obj.pointer("/metadata/creationTimestamp"), now));
    match (group, kind) {
        ("", "Pod") => {
            let restarts: i64 = obj
                .pointer("/status/containerStatuses")
                .and_then(Value::as_array)
                .map_or(0, |a| {
                    a.iter().map(|c| c["restartCount"].as_i64().unwrap_or(0)).sum()
                });
            let none = |p: &str| {
                let v = s(obj, p);
                json!(if v.is_empty() { "<none>" } else { v })
            };
            vec![
                name,
                json!(pod_ready(obj)),
                json!(pod_status(obj)),
                json!(restarts.to_string()),
                age,
                none("/status/podIP"),
                none("/spec/nodeName"),
                none("/status/nominatedNodeName"),
                json!("<none>"),
            ]
        }
        ("", "Namespace") => vec![name, json!(s(obj, "/status/phase")), age],
        ("", "ConfigMap") => vec![name, json!(len(obj, "/data") + len(obj, "/binaryData")), age],
        // Only the number of keys: a Secret's values never appear in a table.
        ("", "Secret") => vec![name, json!(s(obj, "/type")), json!(len(obj, "/data")), age],
        ("", "ServiceAccount") => vec![name, json!(len(obj, "/secrets")), age],
        ("coordination.k8s.io", "Lease") => vec![name, json!(s(obj, "/spec/holderIdentity")), age],
        ("batch", "Job") => vec![
            name,
            json!(job_status(obj)),
            json!(job_completions(obj)),
            json!(job_duration(obj, now)),
            age,
            json!(join_containers(obj, "/spec/template/spec/containers", "name")),
            json!(join_containers(obj, "/spec/template/spec/containers", "image")),
            json!(selector(obj, "/spec/selector")),
        ],
        ("batch", "CronJob") => {
            let tz = s(obj, "/spec/timeZone");
            let suspend = match obj.pointer("/spec/suspend").and_then(Value::as_bool) {
                Some(true) => "True",
                Some(false) => "False",
                None => "<unset>",
            };
            let last = match obj.pointer("/status/lastScheduleTime") {
                Some(t) => since(Some(t), now),
                None => "<none>".to_string(),
            };
            let tmpl = "/spec/jobTemplate/spec/template/spec/containers";
            vec![
                name,
                json!(s(obj, "/spec/schedule")),
                json!(if tz.is_empty() { "<none>" } else { tz }),
                json!(suspend),
                json!(len(obj, "/status/active")),
                json!(last),
                age,
                json!(join_containers(obj, tmpl, "name")),
                json!(join_containers(obj, tmpl, "image")),
                json!(selector(obj, "/spec/jobTemplate/spec/selector")),
            ]
        }
        ("" | "events.k8s.io", "Event") => event_cells(obj, now),
        ("apps", "Deployment") => vec![
            name,
            json!(format!(
                "{}/{}",
                n(obj, "/status/readyReplicas"),
                n(obj, "/spec/replicas")
            )),
            json!(n(obj, "/status/updatedReplicas")),
            json!(n(obj, "/status/availableReplicas")),
            age,
            json!(join_containers(obj, "/spec/template/spec/containers", "name")),
            json!(join_containers(obj, "/spec/template/spec/containers", "image")),
            json!(selector(obj, "/spec/selector")),
        ],
        _ => vec![name, json!(s(obj, "/metadata/creationTimestamp"))],
    }
}
