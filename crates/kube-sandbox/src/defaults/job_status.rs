//! The Job status rules a 1.31+ API server enforces on `/status` writes (`pkg/apis/batch/validation`).

use serde_json::Value;

use crate::store::meta::name_of;
use crate::store::{ApiError, Cause, ResourceInfo};

fn condition_true(status: &Value, kind: &str) -> bool {
    status["conditions"]
        .as_array()
        .is_some_and(|cs| cs.iter().any(|c| c["type"] == kind && c["status"] == "True"))
}

fn int(status: &Value, key: &str) -> i64 {
    status[key].as_i64().unwrap_or(0)
}

fn parse_time(v: &Value) -> Option<jiff::Timestamp> {
    v.as_str()?.parse().ok()
}

/// Validates a status transition `old` → `new`.
pub(super) fn validate(info: &ResourceInfo, old: &Value, new: &Value) -> Result<(), ApiError> {
    let (os, ns) = (&old["status"], &new["status"]);
    let mut errs: Vec<(&str, String)> = Vec::new();
    let complete = condition_true(ns, "Complete");
    let failed = condition_true(ns, "Failed");
    let failure_target = condition_true(ns, "FailureTarget");
    let success = condition_true(ns, "SuccessCriteriaMet");
    if complete && !success {
        errs.push((
            "status.conditions",
            "cannot set Complete=True condition without the SuccessCriteriaMet=true condition".into(),
        ));
    }
    if failed && !failure_target {
        errs.push((
            "status.conditions",
            "cannot set Failed=True condition without the FailureTarget=true condition".into(),
        ));
    }
    if complete && (failed || failure_target) {
        errs.push((
            "status.conditions",
            "cannot set Complete=True together with Failed=True or FailureTarget=True conditions".into(),
        ));
    }
    if success && (failed || failure_target) {
        errs.push((
            "status.conditions",
            "cannot set SuccessCriteriaMet=True together with Failed=True or FailureTarget=True conditions"
                .into(),
        ));
    }
    let completion = ns.get("completionTime").filter(|v| !v.is_null());
    if completion.is_some() && !complete {
        errs.push((
            "status.completionTime",
            "cannot set completionTime when there is no Complete=True condition".into(),
        ));
    }
    if complete && completion.is_none() {
        errs.push((
            "status.completionTime",
            "completionTime is required for a Job with the Complete=True condition".into(),
        ));
    }
    let start = ns.get("startTime").filter(|v| !v.is_null());
    if (complete || failed) && start.is_none() {
        errs.push((
            "status.startTime",
            "startTime is required for a finished job".into(),
        ));
    }
    if let (Some(s), Some(c)) = (start.and_then(parse_time), completion.and_then(parse_time))
        && c < s
    {
        errs.push((
            "status.completionTime",
            "completionTime cannot be set before startTime".into(),
        ));
    }
    if complete || failed {
        if int(ns, "active") > 0 {
            errs.push(("status.active", "active>0 is invalid for a finished job".into()));
        }
        if int(ns, "terminating") > 0 {
            errs.push((
                "status.terminating",
                "terminating>0 is invalid for a finished job".into(),
            ));
        }
        let uncounted = &ns["uncountedTerminatedPods"];
        let pending = ["succeeded", "failed"]
            .iter()
            .any(|k| uncounted[*k].as_array().is_some_and(|a| !a.is_empty()));
        if pending {
            errs.push((
                "status.uncountedTerminatedPods",
                "must be empty for a finished job".into(),
            ));
        }
    }
    if ns.get("ready").is_some_and(|r| !r.is_null()) && int(ns, "ready") > int(ns, "active") {
        errs.push(("status.ready", "cannot set more ready pods than active".into()));
    }
    for key in ["succeeded", "failed"] {
        if int(ns, key) < int(os, key) {
            errs.push(if key == "succeeded" {
                ("status.succeeded", "cannot decrease the succeeded counter".into())
            } else {
                ("status.failed", "cannot decrease the failed counter".into())
            });
        }
    }
    let old_completion = os.get("completionTime").filter(|v| !v.is_null());
    if old_completion.is_some() && completion.is_some() && old_completion != completion {
        errs.push(("status.completionTime", "field is immutable".into()));
    }
    for kind in ["Complete", "Failed", "SuccessCriteriaMet", "FailureTarget"] {
        if condition_true(os, kind) && !condition_true(ns, kind) {
            errs.push((
                "status.conditions",
                format!("cannot disable the {kind}=True condition"),
            ));
        }
    }
    if errs.is_empty() {
        return Ok(());
    }
    let causes = errs
        .into_iter()
        .map(|(field, msg)| Cause::new("FieldValueInvalid", field, format!("Invalid value: {msg}")))
        .collect();
    Err(ApiError::invalid(
        &info.kind,
        &info.gvr.group,
        name_of(new),
        causes,
    ))
}
