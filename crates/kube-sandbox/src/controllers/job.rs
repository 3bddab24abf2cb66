//! The Job simulator's decisions: from a Job, its policy and the time to the next status to write.
//!
//! No kubelet runs pods here, so the simulator plays the Job controller of Kubernetes 1.31+: it writes
//! `startTime`/`active`, then after the policy's duration the interim condition (`SuccessCriteriaMet` or
//! `FailureTarget`) and, on the next step, the terminal one (`Complete` or `Failed`). Every step is a pure
//! function of the stored Job so that replaying an event never writes twice.

use std::str::FromStr;
use std::time::Duration;

use jiff::Timestamp;
use serde_json::{Map, Value, json};

use super::util::{
    add, annotation, condition_true, find_condition, format_time, is_deleting, parse_duration, parse_time,
};

/// Annotation choosing a Job's simulated outcome: `Succeed`, `Fail` or `Run` (never finishes).
pub const OUTCOME_ANNOTATION: &str = "sandbox.arcane.dev/outcome";
/// Annotation choosing how long a simulated Job runs before its outcome, e.g. `5s`, `250ms`, `2m`.
pub const AFTER_ANNOTATION: &str = "sandbox.arcane.dev/after";

const SUCCESS_REASON: &str = "CompletionsReached";
const SUCCESS_MESSAGE: &str = "Reached expected number of succeeded pods";
const FAILURE_REASON: &str = "BackoffLimitExceeded";
const FAILURE_MESSAGE: &str = "Job has reached the specified backoff limit";

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum JobOutcome {
    #[default]
    Succeed,
    Fail,
    /// The Job stays active forever (until deleted or suspended).
    Run,
}

impl FromStr for JobOutcome {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim().to_ascii_lowercase().as_str() {
            "succeed" | "success" | "succeeded" | "complete" => Ok(Self::Succeed),
            "fail" | "failure" | "failed" => Ok(Self::Fail),
            "run" | "running" | "never" => Ok(Self::Run),
            other => Err(format!(
                "unknown job outcome {other:?} (expected Succeed, Fail or Run)"
            )),
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct JobPolicy {
    pub outcome: JobOutcome,
    pub after: Duration,
}

/// The policy for one Job: its own annotations win, then its pod template's, then the global default.
/// Unparseable annotation values fall back to the default rather than wedging the Job.
pub fn policy_for(job: &Value, default: JobPolicy) -> JobPolicy {
    let template_annotation = |key: &str| {
        job.pointer("/spec/template/metadata/annotations")
            .and_then(|a| a.get(key))
            .and_then(Value::as_str)
    };
    let pick = |key: &str| annotation(job, key).or_else(|| template_annotation(key));
    JobPolicy {
        outcome: pick(OUTCOME_ANNOTATION)
            .and_then(|v| v.parse().ok())
            .unwrap_or(default.outcome),
        after: pick(AFTER_ANNOTATION)
            .and_then(parse_duration)
            .unwrap_or(default.after),
    }
}

/// Phase of the simulated pod that belongs with a Job status.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PodPhase {
    Running,
    Succeeded,
    Failed,
}

impl PodPhase {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Running => "Running",
            Self::Succeeded => "Succeeded",
            Self::Failed => "Failed",
        }
    }
}

/// What the simulator does next for one Job.
#[derive(Debug, Default, PartialEq)]
pub struct JobPlan {
    /// The complete new `.status` to write through the status subresource.
    pub status: Option<Value>,
    /// The Job's `ttlSecondsAfterFinished` has passed: delete it.
    pub delete: bool,
    /// Look at the Job again at this time (even without events).
    pub wake_at: Option<Timestamp>,
}

/// Decides the next step for `job` at `now`. `started_at` is the precise start instant the caller
/// remembered (the stored `startTime` has whole seconds only); `pods_ready` says whether simulated pods
/// exist and count as ready.
pub fn plan(
    job: &Value,
    policy: JobPolicy,
    now: Timestamp,
    started_at: Option<Timestamp>,
    pods_ready: bool,
) -> JobPlan {
    if is_deleting(job) {
        return JobPlan::default();
    }
    if condition_true(job, "Complete") || condition_true(job, "Failed") {
        return plan_ttl(job, now);
    }
    let status = job
        .get("status")
        .and_then(Value::as_object)
        .cloned()
        .unwrap_or_default();
    let now_text = format_time(now);
    if condition_true(job, "SuccessCriteriaMet") {
        let mut status = status;
        push_condition(
            &mut status,
            "Complete",
            SUCCESS_REASON,
            SUCCESS_MESSAGE,
            &now_text,
        );
        status.insert("completionTime".into(), json!(now_text));
        return JobPlan {
            status: Some(Value::Object(status)),
            ..JobPlan::default()
        };
    }
    if condition_true(job, "FailureTarget") {
        let mut status = status;
        push_condition(&mut status, "Failed", FAILURE_REASON, FAILURE_MESSAGE, &now_text);
        return JobPlan {
            status: Some(Value::Object(status)),
            ..JobPlan::default()
        };
    }
    if job.pointer("/spec/suspend").and_then(Value::as_bool) == Some(true) {
        return plan_suspended(status, &now_text);
    }
    let Some(start) = status
        .get("startTime")
        .and_then(Value::as_str)
        .and_then(parse_time)
    else {
        return plan_start(status, policy, now, &now_text, pods_ready);
    };
    if policy.outcome == JobOutcome::Run {
        return JobPlan::default();
    }
    let due = add(started_at.filter(|s| *s >= start).unwrap_or(start), policy.after);
    if now < due {
        return JobPlan {
            wake_at: Some(due),
            ..JobPlan::default()
        };
    }
    let mut status = status;
    // `active` is a plain int32 with omitempty upstream (0 is left out); `ready`/`terminating` are pointers.
    status.remove("active");
    for counter in ["ready", "terminating"] {
        status.insert(counter.into(), json!(0));
    }
    status.insert("uncountedTerminatedPods".into(), json!({}));
    if policy.outcome == JobOutcome::Succeed {
        let completions = job
            .pointer("/spec/completions")
            .and_then(Value::as_i64)
            .unwrap_or(1)
            .max(1);
        status.insert("succeeded".into(), json!(completions));
        push_condition(
            &mut status,
            "SuccessCriteriaMet",
            SUCCESS_REASON,
            SUCCESS_MESSAGE,
            &now_text,
        );
    } else {
        // The backoff limit is exceeded once failures outnumber it.
        let backoff = job
            .pointer("/spec/backoffLimit")
            .and_then(Value::as_i64)
            .unwrap_or(6)
            .clamp(0, 1_000_000);
        status.insert("failed".into(), json!(backoff + 1));
        push_condition(
            &mut status,
            "FailureTarget",
            FAILURE_REASON,
            FAILURE_MESSAGE,
            &now_text,
        );
    }
    JobPlan {
        status: Some(Value::Object(status)),
        ..JobPlan::default()
    }
}

/// The phase the Job's simulated pod should have once `status` is written.
pub fn pod_phase(status: &Value) -> Option<PodPhase> {
    let holder = json!({ "status": status });
    if condition_true(&holder, "SuccessCriteriaMet") || condition_true(&holder, "Complete") {
        Some(PodPhase::Succeeded)
    } else if condition_true(&holder, "FailureTarget") || condition_true(&holder, "Failed") {
        Some(PodPhase::Failed)
    } else if status.get("startTime").is_some()
        && status.get("active").and_then(Value::as_i64).unwrap_or(0) > 0
    {
        Some(PodPhase::Running)
    } else {
        None
    }
}

fn plan_start(
    mut status: Map<String, Value>,
    policy: JobPolicy,
    now: Timestamp,
    now_text: &str,
    pods_ready: bool,
) -> JobPlan {
    status.insert("startTime".into(), json!(now_text));
    status.insert("active".into(), json!(1));
    status.insert("ready".into(), json!(i32::from(pods_ready)));
    status.insert("terminating".into(), json!(0));
    status.insert("uncountedTerminatedPods".into(), json!({}));
    if condition_true(&json!({ "status": status }), "Suspended") {
        set_condition(
            &mut status,
            "Suspended",
            "False",
            "JobResumed",
            "Job resumed",
            now_text,
        );
    }
    let wake_at = (policy.outcome != JobOutcome::Run).then(|| add(now, policy.after));
    JobPlan {
        status: Some(Value::Object(status)),
        delete: false,
        wake_at,
    }
}

fn plan_suspended(status: Map<String, Value>, now_text: &str) -> JobPlan {
    let mut next = status.clone();
    // A suspended Job's pods are gone; resuming restarts the clock, as the real controller resets startTime.
    next.remove("startTime");
    next.remove("active");
    for counter in ["ready", "terminating"] {
        next.insert(counter.into(), json!(0));
    }
    if !condition_true(&json!({ "status": next }), "Suspended") {
        set_condition(
            &mut next,
            "Suspended",
            "True",
            "JobSuspended",
            "Job suspended",
            now_text,
        );
    }
    if next == status {
        return JobPlan::default();
    }
    JobPlan {
        status: Some(Value::Object(next)),
        ..JobPlan::default()
    }
}

fn plan_ttl(job: &Value, now: Timestamp) -> JobPlan {
    let Some(ttl) = job
        .pointer("/spec/ttlSecondsAfterFinished")
        .and_then(Value::as_u64)
    else {
        return JobPlan::default();
    };
    let finished = job
        .pointer("/status/completionTime")
        .and_then(Value::as_str)
        .or_else(|| find_condition(job, "Failed")?.get("lastTransitionTime")?.as_str())
        .and_then(parse_time);
    let Some(finished) = finished else {
        return JobPlan::default();
    };
    let expiry = add(finished, Duration::from_secs(ttl));
    if now >= expiry {
        JobPlan {
            delete: true,
            ..JobPlan::default()
        }
    } else {
        JobPlan {
            wake_at: Some(expiry),
            ..JobPlan::default()
        }
    }
}

fn push_condition(status: &mut Map<String, Value>, kind: &str, reason: &str, message: &str, now: &str) {
    set_condition(status, kind, "True", reason, message, now);
}

/// Sets a condition in place (keeping its position), or appends it.
fn set_condition(
    status: &mut Map<String, Value>,
    kind: &str,
    value: &str,
    reason: &str,
    message: &str,
    now: &str,
) {
    let condition = json!({
        "type": kind, "status": value, "lastProbeTime": now, "lastTransitionTime": now,
        "reason": reason, "message": message,
    });
    let conditions = status.entry("conditions").or_insert_with(|| json!([]));
    if !conditions.is_array() {
        *conditions = json!([]);
    }
    if let Some(list) = conditions.as_array_mut() {
        match list
            .iter_mut()
            .find(|c| c.get("type").and_then(Value::as_str) == Some(kind))
        {
            Some(existing) => *existing = condition,
            None => list.push(condition),
        }
    }
}

#[cfg(test)]
mod tests;
