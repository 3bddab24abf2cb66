use super::*;
use serde_json::json;

fn ts(text: &str) -> Timestamp {
    text.parse().unwrap()
}

fn cronjob(spec: Value, status: Value) -> Value {
    let mut spec_full = json!({
        "schedule": "*/5 * * * *",
        "jobTemplate": {"metadata": {"labels": {"app": "x"}, "annotations": {"a": "b"}},
                        "spec": {"template": {"spec": {"containers": [{"name": "c", "image": "busybox"}]}}}},
    });
    if let (Some(base), Some(extra)) = (spec_full.as_object_mut(), spec.as_object()) {
        base.extend(extra.clone());
    }
    json!({"apiVersion": "batch/v1", "kind": "CronJob",
           "metadata": {"name": "cj", "namespace": "ns", "uid": "cj-uid", "creationTimestamp": "2026-01-01T00:00:00Z"},
           "spec": spec_full, "status": status})
}

fn child(name: &str, state: Option<&str>, start: &str) -> Value {
    let mut job = json!({"apiVersion": "batch/v1", "kind": "Job",
        "metadata": {"name": name, "namespace": "ns", "uid": format!("{name}-uid"), "resourceVersion": "7",
                     "ownerReferences": [{"apiVersion": "batch/v1", "kind": "CronJob", "name": "cj", "uid": "cj-uid", "controller": true}]},
        "status": {"startTime": start}});
    if let Some(kind) = state {
        job["status"]["conditions"] = json!([{"type": kind, "status": "True"}]);
        if kind == "Complete" {
            job["status"]["completionTime"] = json!(start);
        }
    }
    job
}

/// The shared table of schedules (`tests/data/cron_schedules.txt`, also read by the operator's tests): the
/// sandbox's CronJob validation accepts exactly what kube-apiserver accepts.
#[test]
fn schedules_parse_as_the_shared_table_says() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/cron_schedules.txt");
    let table = std::fs::read_to_string(path).unwrap();
    let mut rows = 0;
    for line in table.lines() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let cols: Vec<&str> = line.split('|').map(str::trim).collect();
        let ok = match cols[0] {
            "ok" => true,
            "refused" => false,
            other => panic!("bad verdict {other:?} in {line:?}"),
        };
        let schedule = cols[1];
        assert_eq!(
            parse_schedule(schedule).is_ok(),
            ok,
            "{schedule:?}: {:?}",
            parse_schedule(schedule).err()
        );
        rows += 1;
    }
    assert!(rows > 50, "{rows} rows");
}

#[test]
fn every_counts_from_the_last_schedule() {
    let every = parse_schedule("@every 90s").unwrap();
    let start = ts("2026-01-01T00:00:00Z");
    assert_eq!(
        most_recent(&every, &TimeZone::UTC, start, ts("2026-01-01T00:04:00Z")),
        Some(ts("2026-01-01T00:03:00Z"))
    );
    assert_eq!(
        most_recent(&every, &TimeZone::UTC, start, ts("2026-01-01T00:01:00Z")),
        None
    );
    let never = parse_schedule(", * * * *").unwrap();
    assert_eq!(next_after(&never, &TimeZone::UTC, start), None);
}

#[test]
fn most_recent_and_next_respect_time_zone() {
    let cron = parse_schedule("0 9 * * *").unwrap();
    let berlin = TimeZone::get("Europe/Berlin").unwrap();
    let now = ts("2026-01-02T10:00:00Z");
    assert_eq!(
        most_recent(&cron, &berlin, ts("2026-01-01T00:00:00Z"), now),
        Some(ts("2026-01-02T08:00:00Z"))
    );
    assert_eq!(
        most_recent(&cron, &TimeZone::UTC, ts("2026-01-02T09:00:00Z"), now),
        None
    );
    assert_eq!(
        next_after(&cron, &TimeZone::UTC, now),
        Some(ts("2026-01-03T09:00:00Z"))
    );
}

#[test]
fn creates_job_for_latest_missed_time_with_template_and_owner() {
    let cj = cronjob(json!({}), json!({}));
    let p = plan(&cj, &[], ts("2026-01-01T00:12:00Z"), ts("2026-01-01T00:00:00Z"));
    let job = p.create.expect("a job");
    let scheduled = ts("2026-01-01T00:10:00Z");
    assert_eq!(p.scheduled, Some(scheduled));
    assert_eq!(
        job["metadata"]["name"],
        format!("cj-{}", scheduled.as_second() / 60)
    );
    assert_eq!(job["metadata"]["namespace"], "ns");
    assert_eq!(job["metadata"]["labels"], json!({"app": "x"}));
    assert_eq!(job["metadata"]["annotations"]["a"], "b");
    assert_eq!(
        job["metadata"]["annotations"][SCHEDULED_TIMESTAMP_ANNOTATION],
        "2026-01-01T00:10:00Z"
    );
    assert_eq!(job["metadata"]["ownerReferences"][0]["controller"], true);
    assert_eq!(job["metadata"]["ownerReferences"][0]["uid"], "cj-uid");
    assert!(job["spec"]["template"]["spec"]["containers"].is_array());
    assert_eq!(p.wake_at, Some(ts("2026-01-01T00:15:00Z")));
}

#[test]
fn nothing_before_first_schedule_and_after_last_schedule_time() {
    let cj = cronjob(json!({}), json!({}));
    assert_eq!(
        plan(&cj, &[], ts("2026-01-01T00:04:00Z"), ts("2026-01-01T00:00:00Z")).create,
        None
    );
    let cj = cronjob(json!({}), json!({"lastScheduleTime": "2026-01-01T00:10:00Z"}));
    let p = plan(&cj, &[], ts("2026-01-01T00:14:59Z"), ts("2026-01-01T00:00:00Z"));
    assert_eq!(p.create, None);
    assert_eq!(p.wake_at, Some(ts("2026-01-01T00:15:00Z")));
}

#[test]
fn concurrency_policies() {
    let running = child("cj-1", None, "2026-01-01T00:05:00Z");
    let active = json!({"active": [job_ref(&running)], "lastScheduleTime": "2026-01-01T00:05:00Z"});
    let now = ts("2026-01-01T00:10:30Z");
    let created = ts("2026-01-01T00:00:00Z");
    let cases = [
        ("Allow", true, 1, 0),
        ("Forbid", false, 1, 0),
        ("Replace", true, 0, 1),
    ];
    for (policy, creates, active_after, deletes) in cases {
        let cj = cronjob(json!({"concurrencyPolicy": policy}), active.clone());
        let p = plan(&cj, &[&running], now, created);
        assert_eq!(p.create.is_some(), creates, "{policy}");
        assert_eq!(p.active.len(), active_after, "{policy}");
        assert_eq!(p.delete.len(), deletes, "{policy}");
    }
}

#[test]
fn suspended_or_deleting_creates_nothing() {
    let cj = cronjob(json!({"suspend": true}), json!({}));
    assert_eq!(
        plan(&cj, &[], ts("2026-01-01T01:00:00Z"), ts("2026-01-01T00:00:00Z")).create,
        None
    );
    let mut cj = cronjob(json!({}), json!({}));
    cj["metadata"]["deletionTimestamp"] = json!("2026-01-01T00:30:00Z");
    assert_eq!(
        plan(&cj, &[], ts("2026-01-01T01:00:00Z"), ts("2026-01-01T00:00:00Z")),
        CronPlan::default()
    );
}

#[test]
fn starting_deadline_skips_stale_runs() {
    let cj = cronjob(json!({"startingDeadlineSeconds": 30}), json!({}));
    let p = plan(&cj, &[], ts("2026-01-01T00:11:00Z"), ts("2026-01-01T00:00:00Z"));
    assert_eq!(p.create, None);
    let p = plan(&cj, &[], ts("2026-01-01T00:10:20Z"), ts("2026-01-01T00:00:00Z"));
    assert!(p.create.is_some());
}

#[test]
fn history_limits_delete_oldest_finished() {
    let jobs = [
        child("ok-1", Some("Complete"), "2026-01-01T00:01:00Z"),
        child("ok-2", Some("Complete"), "2026-01-01T00:02:00Z"),
        child("ok-3", Some("Complete"), "2026-01-01T00:03:00Z"),
        child("ok-4", Some("Complete"), "2026-01-01T00:04:00Z"),
        child("bad-1", Some("Failed"), "2026-01-01T00:01:30Z"),
        child("bad-2", Some("Failed"), "2026-01-01T00:02:30Z"),
        child("run-1", None, "2026-01-01T00:05:00Z"),
    ];
    let refs: Vec<&Value> = jobs.iter().collect();
    let cj = cronjob(json!({"suspend": true}), json!({}));
    let p = plan(&cj, &refs, ts("2026-01-01T00:06:00Z"), ts("2026-01-01T00:00:00Z"));
    assert_eq!(p.delete, ["ok-1", "bad-1"]);
    assert_eq!(p.active.len(), 1);
    assert_eq!(p.last_successful, Some(ts("2026-01-01T00:04:00Z")));
    let status = render_status(&cj, &p, None);
    assert_eq!(status["active"][0]["name"], "run-1");
    assert_eq!(status["lastSuccessfulTime"], "2026-01-01T00:04:00Z");
}

#[test]
fn render_status_records_created_job_and_drops_empty_active() {
    let cj = cronjob(
        json!({}),
        json!({"active": [{"name": "gone", "uid": "gone-uid"}]}),
    );
    let p = plan(&cj, &[], ts("2026-01-01T00:12:00Z"), ts("2026-01-01T00:00:00Z"));
    let mut created = p.create.clone().unwrap();
    created["metadata"]["uid"] = json!("new-uid");
    let status = render_status(&cj, &p, Some(&created));
    assert_eq!(status["active"].as_array().map(Vec::len), Some(1));
    assert_eq!(status["active"][0]["uid"], "new-uid");
    assert_eq!(status["lastScheduleTime"], "2026-01-01T00:10:00Z");
    let idle = render_status(&cj, &CronPlan::default(), None);
    assert!(idle.get("active").is_none());
}

#[test]
fn children_are_matched_by_controller_uid() {
    let cj = cronjob(json!({}), json!({}));
    let mine = child("a", None, "2026-01-01T00:00:00Z");
    let mut other = child("b", None, "2026-01-01T00:00:00Z");
    other["metadata"]["ownerReferences"][0]["uid"] = json!("someone-else");
    let jobs = [mine, other];
    let found = children(&cj, &jobs);
    assert_eq!(found.len(), 1);
    assert_eq!(name(found[0]), "a");
}
