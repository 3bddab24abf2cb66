//! The CronJob simulator's decisions: which child Job to create for which scheduled time, which Jobs to
//! delete (`Replace`, history limits) and the CronJob status that results.
//!
//! Schedules are read as kube-controller-manager reads them (robfig/cron v3, see `cronspec`), evaluated in
//! `spec.timeZone` (UTC when absent) with the `croner` crate. All times given to [`plan`] are on the
//! controller's schedule clock, which may run faster than real time (see `ControllerConfig::cron_minute`).

use std::cmp::Reverse;

use croner::Cron;
use croner::parser::{CronParser, Seconds, Year};

use super::cronspec::Spec;
use jiff::Timestamp;
use jiff::tz::TimeZone;
use serde_json::{Map, Value, json};

use super::util::{
    condition_true, controller_ref, format_time, is_deleting, meta, name, namespace, parse_time, uid,
};

/// Annotation the real controller puts on each child Job (Kubernetes 1.32+).
pub const SCHEDULED_TIMESTAMP_ANNOTATION: &str = "batch.kubernetes.io/cronjob-scheduled-timestamp";

/// A parsed CronJob schedule: cron fields (evaluated by `croner` from their normalized form), robfig's
/// constant delay (`@every`), or fields that match nothing (robfig accepts `, * * * *`; it never fires).
#[derive(Clone, Debug)]
pub enum Schedule {
    Cron(Box<Cron>),
    Every(std::time::Duration),
    Never,
}

/// Parses a CronJob schedule the way Kubernetes accepts it (see [`super::cronspec`]).
pub fn parse_schedule(schedule: &str) -> Result<Schedule, String> {
    match super::cronspec::validate(schedule)? {
        Spec::Every(d) => Ok(Schedule::Every(d)),
        spec => match spec.normalized() {
            None => Ok(Schedule::Never),
            Some(text) => CronParser::builder()
                .seconds(Seconds::Disallowed)
                .year(Year::Disallowed)
                .build()
                .parse(&text)
                .map(|c| Schedule::Cron(Box::new(c)))
                .map_err(|e| format!("unparseable schedule {schedule:?}: {e}")),
        },
    }
}

pub fn time_zone(cronjob: &Value) -> Result<TimeZone, String> {
    match cronjob.pointer("/spec/timeZone").and_then(Value::as_str) {
        None | Some("") => Ok(TimeZone::UTC),
        Some(name) => TimeZone::get(name).map_err(|e| format!("unknown time zone {name:?}: {e}")),
    }
}

/// The latest scheduled time `t` with `earliest < t <= now`. For `@every d`, the times are `earliest + k·d`
/// (robfig's `ConstantDelaySchedule` counted from the last schedule or the creation).
pub fn most_recent(
    schedule: &Schedule,
    tz: &TimeZone,
    earliest: Timestamp,
    now: Timestamp,
) -> Option<Timestamp> {
    match schedule {
        Schedule::Cron(cron) => {
            let at = now.to_zoned(tz.clone());
            let t = cron.find_previous_occurrence(&at, true).ok()?.timestamp();
            (t > earliest).then_some(t)
        }
        Schedule::Every(d) => {
            let step = i64::try_from(d.as_secs()).ok()?.max(1);
            let elapsed = now.duration_since(earliest).as_secs();
            let k = elapsed / step;
            (k >= 1)
                .then(|| {
                    earliest
                        .checked_add(jiff::SignedDuration::from_secs(k * step))
                        .ok()
                })
                .flatten()
        }
        Schedule::Never => None,
    }
}

/// The first scheduled time strictly after `now` (for `@every`, one period after `now`; [`plan`] counts it
/// from the last schedule instead).
pub fn next_after(schedule: &Schedule, tz: &TimeZone, now: Timestamp) -> Option<Timestamp> {
    match schedule {
        Schedule::Cron(cron) => {
            let at = now.to_zoned(tz.clone());
            cron.find_next_occurrence(&at, false).ok().map(|z| z.timestamp())
        }
        Schedule::Every(d) => now.checked_add(*d).ok(),
        Schedule::Never => None,
    }
}

/// `<cronjob>-<scheduled time in minutes since the epoch>`, as the real controller names children.
pub fn job_name(cronjob_name: &str, scheduled: Timestamp) -> String {
    format!("{cronjob_name}-{}", scheduled.as_second().div_euclid(60))
}

/// The child Job for one scheduled time: the jobTemplate's metadata and spec, owned by the CronJob.
pub fn build_job(cronjob: &Value, scheduled: Timestamp, tz: &TimeZone) -> Value {
    let template = cronjob
        .pointer("/spec/jobTemplate")
        .cloned()
        .unwrap_or_else(|| json!({}));
    let labels = template
        .pointer("/metadata/labels")
        .cloned()
        .unwrap_or_else(|| json!({}));
    let mut annotations = template
        .pointer("/metadata/annotations")
        .cloned()
        .unwrap_or_else(|| json!({}));
    if let Some(map) = annotations.as_object_mut() {
        let stamp = scheduled
            .to_zoned(tz.clone())
            .strftime("%Y-%m-%dT%H:%M:%S%:z")
            .to_string();
        map.insert(
            SCHEDULED_TIMESTAMP_ANNOTATION.into(),
            json!(stamp.replace("+00:00", "Z")),
        );
    }
    let mut metadata = json!({
        "name": job_name(name(cronjob), scheduled),
        "labels": labels,
        "annotations": annotations,
        "ownerReferences": [{
            "apiVersion": "batch/v1", "kind": "CronJob", "name": name(cronjob), "uid": uid(cronjob),
            "controller": true, "blockOwnerDeletion": true,
        }],
    });
    if let Some(ns) = namespace(cronjob) {
        metadata["namespace"] = json!(ns);
    }
    json!({
        "apiVersion": "batch/v1", "kind": "Job", "metadata": metadata,
        "spec": template.get("spec").cloned().unwrap_or_else(|| json!({})),
    })
}

/// An `ObjectReference` to a Job, as listed in `status.active`.
pub fn job_ref(job: &Value) -> Value {
    let mut r = json!({"apiVersion": "batch/v1", "kind": "Job", "name": name(job), "uid": uid(job)});
    if let Some(ns) = namespace(job) {
        r["namespace"] = json!(ns);
    }
    if let Some(rv) = meta(job).and_then(|m| m.get("resourceVersion")) {
        r["resourceVersion"] = rv.clone();
    }
    r
}

/// The CronJob's children among `jobs` (controller reference with its uid).
pub fn children<'a>(cronjob: &Value, jobs: &'a [Value]) -> Vec<&'a Value> {
    jobs.iter()
        .filter(|j| controller_ref(j).is_some_and(|r| r.uid == uid(cronjob)))
        .collect()
}

fn finished(job: &Value) -> bool {
    condition_true(job, "Complete") || condition_true(job, "Failed")
}

#[derive(Debug, Default, PartialEq)]
pub struct CronPlan {
    /// The Job to create, for `scheduled`.
    pub create: Option<Value>,
    pub scheduled: Option<Timestamp>,
    /// Names of child Jobs to delete (replaced, or beyond the history limits).
    pub delete: Vec<String>,
    /// `status.active` after the deletions, before the creation.
    pub active: Vec<Value>,
    pub last_successful: Option<Timestamp>,
    /// Look again at this schedule-clock time.
    pub wake_at: Option<Timestamp>,
    /// Why nothing can be scheduled (bad schedule or time zone), for the log.
    pub error: Option<String>,
}

/// Decides what to do for `cronjob` given its child Jobs, at schedule-clock time `now`.
/// `created` is the CronJob's creationTimestamp on the schedule clock.
pub fn plan(cronjob: &Value, children: &[&Value], now: Timestamp, created: Timestamp) -> CronPlan {
    let mut plan = CronPlan::default();
    if is_deleting(cronjob) {
        return plan;
    }
    let previous: Vec<Value> = cronjob
        .pointer("/status/active")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    let running: Vec<&Value> = children.iter().copied().filter(|j| !finished(j)).collect();
    // Keep existing references (stable, no churn), then add running children they miss.
    plan.active = previous
        .into_iter()
        .filter(|r| {
            running
                .iter()
                .any(|j| Some(uid(j)) == r.get("uid").and_then(Value::as_str))
        })
        .collect();
    for job in &running {
        if !plan
            .active
            .iter()
            .any(|r| r.get("uid").and_then(Value::as_str) == Some(uid(job)))
        {
            plan.active.push(job_ref(job));
        }
    }
    let old_success = cronjob
        .pointer("/status/lastSuccessfulTime")
        .and_then(Value::as_str)
        .and_then(parse_time);
    plan.last_successful = children
        .iter()
        .filter(|j| condition_true(j, "Complete"))
        .filter_map(|j| {
            j.pointer("/status/completionTime")
                .and_then(Value::as_str)
                .and_then(parse_time)
        })
        .chain(old_success)
        .max();
    plan.delete = history_to_delete(cronjob, children);
    if cronjob.pointer("/spec/suspend").and_then(Value::as_bool) == Some(true) {
        return plan;
    }
    let schedule = cronjob
        .pointer("/spec/schedule")
        .and_then(Value::as_str)
        .unwrap_or_default();
    let (cron, tz) = match parse_schedule(schedule).and_then(|c| Ok((c, time_zone(cronjob)?))) {
        Ok(parsed) => parsed,
        Err(e) => {
            plan.error = Some(e);
            return plan;
        }
    };
    plan.wake_at = next_after(&cron, &tz, now);
    let last = cronjob
        .pointer("/status/lastScheduleTime")
        .and_then(Value::as_str)
        .and_then(parse_time);
    let mut earliest = last.unwrap_or(created);
    let deadline = cronjob
        .pointer("/spec/startingDeadlineSeconds")
        .and_then(Value::as_i64);
    if let Some(secs) = deadline {
        earliest = earliest.max(
            now.checked_sub(jiff::SignedDuration::from_secs(secs))
                .unwrap_or(now),
        );
    }
    if let Schedule::Every(d) = &cron {
        // The next one counts from the same start as the most recent one.
        let step = i64::try_from(d.as_secs()).unwrap_or(i64::MAX).max(1);
        let k = now.duration_since(earliest).as_secs() / step;
        plan.wake_at = earliest
            .checked_add(jiff::SignedDuration::from_secs((k + 1).saturating_mul(step)))
            .ok();
    }
    let Some(scheduled) = most_recent(&cron, &tz, earliest, now) else {
        return plan;
    };
    match cronjob
        .pointer("/spec/concurrencyPolicy")
        .and_then(Value::as_str)
        .unwrap_or("Allow")
    {
        // The missed run stays due: it starts once the active Job finishes (a Job event wakes us).
        "Forbid" if !plan.active.is_empty() => return plan,
        "Replace" => {
            for r in plan.active.drain(..) {
                if let Some(n) = r.get("name").and_then(Value::as_str) {
                    plan.delete.push(n.to_owned());
                }
            }
        }
        _ => {}
    }
    plan.create = Some(build_job(cronjob, scheduled, &tz));
    plan.scheduled = Some(scheduled);
    plan
}

/// Finished children beyond `successfulJobsHistoryLimit` (default 3) / `failedJobsHistoryLimit` (default 1),
/// oldest first.
fn history_to_delete(cronjob: &Value, children: &[&Value]) -> Vec<String> {
    let limit = |field: &str, default: i64| {
        cronjob
            .pointer(&format!("/spec/{field}"))
            .and_then(Value::as_i64)
            .unwrap_or(default)
            .max(0) as usize
    };
    let mut out = Vec::new();
    for (kind, field, default) in [
        ("Complete", "successfulJobsHistoryLimit", 3),
        ("Failed", "failedJobsHistoryLimit", 1),
    ] {
        let mut done: Vec<&&Value> = children
            .iter()
            .filter(|j| condition_true(j, kind) && !is_deleting(j))
            .collect();
        // Newest first by start (then creation) time; keep the first `limit`.
        done.sort_by_key(|j| {
            Reverse((
                j.pointer("/status/startTime")
                    .and_then(Value::as_str)
                    .and_then(parse_time),
                super::util::meta_str(j, "creationTimestamp").and_then(parse_time),
                name(j).to_owned(),
            ))
        });
        out.extend(
            done.into_iter()
                .skip(limit(field, default))
                .map(|j| name(j).to_owned()),
        );
    }
    out
}

/// The CronJob status after carrying out `plan`; `created` is the Job the store returned, if any.
pub fn render_status(cronjob: &Value, plan: &CronPlan, created: Option<&Value>) -> Value {
    let mut status: Map<String, Value> = cronjob
        .get("status")
        .and_then(Value::as_object)
        .cloned()
        .unwrap_or_default();
    let mut active = plan.active.clone();
    if let Some(job) = created {
        active.push(job_ref(job));
    }
    // Kubernetes omits empty `active` (omitempty).
    if active.is_empty() {
        status.remove("active");
    } else {
        status.insert("active".into(), Value::Array(active));
    }
    if let (Some(_), Some(t)) = (created, plan.scheduled) {
        status.insert("lastScheduleTime".into(), json!(format_time(t)));
    }
    if let Some(t) = plan.last_successful {
        status.insert("lastSuccessfulTime".into(), json!(format_time(t)));
    }
    Value::Object(status)
}

#[cfg(test)]
mod tests;
