use super::*;
use serde_json::json;

fn ts(text: &str) -> Timestamp {
    text.parse().unwrap()
}

fn job(annotations: Value, spec: Value) -> Value {
    json!({
        "apiVersion": "batch/v1", "kind": "Job",
        "metadata": {"name": "j", "namespace": "default", "uid": "u1", "annotations": annotations},
        "spec": spec,
    })
}

const DEFAULT: JobPolicy = JobPolicy {
    outcome: JobOutcome::Succeed,
    after: Duration::from_secs(5),
};

/// Applies plans until the Job settles, advancing the clock to each wake-up; returns the statuses written.
fn run_to_end(mut job: Value, policy: JobPolicy, mut now: Timestamp) -> Vec<Value> {
    let mut written = Vec::new();
    for _ in 0..10 {
        let step = plan(&job, policy, now, None, false);
        match (step.status, step.wake_at) {
            (Some(status), _) => {
                job["status"] = status.clone();
                written.push(status);
            }
            (None, Some(at)) => now = at,
            (None, None) => break,
        }
    }
    written
}

fn types(status: &Value) -> Vec<&str> {
    status["conditions"]
        .as_array()
        .map(|c| c.iter().filter_map(|c| c["type"].as_str()).collect())
        .unwrap_or_default()
}

#[test]
fn success_sequence_follows_1_31_rules() {
    let written = run_to_end(job(json!({}), json!({})), DEFAULT, ts("2026-01-01T00:00:00Z"));
    assert_eq!(written.len(), 3, "{written:#?}");
    let start = &written[0];
    assert_eq!(start["startTime"], "2026-01-01T00:00:00Z");
    assert_eq!(
        (
            start["active"].as_i64(),
            start["ready"].as_i64(),
            start["terminating"].as_i64()
        ),
        (Some(1), Some(0), Some(0))
    );
    assert_eq!(start["uncountedTerminatedPods"], json!({}));
    assert!(types(start).is_empty());
    assert_eq!(types(&written[1]), ["SuccessCriteriaMet"]);
    assert_eq!(written[1]["succeeded"], 1);
    assert!(written[1].get("active").is_none(), "0 is left out (omitempty)");
    assert!(written[1].get("completionTime").is_none());
    let done = &written[2];
    assert_eq!(types(done), ["SuccessCriteriaMet", "Complete"]);
    assert_eq!(done["completionTime"], "2026-01-01T00:00:05Z");
    assert_eq!(done["conditions"][1]["reason"], "CompletionsReached");
    assert_eq!(pod_phase(done), Some(PodPhase::Succeeded));
}

#[test]
fn failure_sequence_has_no_completion_time() {
    let policy = JobPolicy {
        outcome: JobOutcome::Fail,
        after: Duration::from_millis(250),
    };
    let written = run_to_end(
        job(json!({}), json!({"backoffLimit": 2})),
        policy,
        ts("2026-01-01T00:00:00Z"),
    );
    assert_eq!(written.len(), 3);
    let done = written.last().unwrap();
    assert_eq!(types(done), ["FailureTarget", "Failed"]);
    assert_eq!(done["conditions"][1]["reason"], "BackoffLimitExceeded");
    assert_eq!(
        done["conditions"][1]["message"],
        "Job has reached the specified backoff limit"
    );
    assert_eq!(done["failed"], 3);
    assert!(done.get("active").is_none(), "0 is left out (omitempty)");
    assert!(done.get("completionTime").is_none());
    assert_eq!(pod_phase(done), Some(PodPhase::Failed));
}

#[test]
fn run_outcome_never_finishes() {
    let policy = JobPolicy {
        outcome: JobOutcome::Run,
        after: Duration::ZERO,
    };
    let written = run_to_end(job(json!({}), json!({})), policy, ts("2026-01-01T00:00:00Z"));
    assert_eq!(written.len(), 1);
    assert_eq!(pod_phase(&written[0]), Some(PodPhase::Running));
}

#[test]
fn waits_until_due_using_precise_start() {
    let mut j = job(json!({}), json!({}));
    j["status"] = json!({"startTime": "2026-01-01T00:00:00Z", "active": 1});
    let precise = ts("2026-01-01T00:00:00.900Z");
    let step = plan(&j, DEFAULT, ts("2026-01-01T00:00:05.5Z"), Some(precise), false);
    assert_eq!(
        step,
        JobPlan {
            wake_at: Some(ts("2026-01-01T00:00:05.9Z")),
            ..JobPlan::default()
        }
    );
}

#[test]
fn annotations_choose_policy_job_before_template() {
    let cases = [
        (
            json!({OUTCOME_ANNOTATION: "Fail", AFTER_ANNOTATION: "2m"}),
            json!({}),
            JobOutcome::Fail,
            120,
        ),
        (
            json!({}),
            json!({OUTCOME_ANNOTATION: "Run", AFTER_ANNOTATION: "250ms"}),
            JobOutcome::Run,
            0,
        ),
        (
            json!({OUTCOME_ANNOTATION: "Succeed"}),
            json!({OUTCOME_ANNOTATION: "Fail"}),
            JobOutcome::Succeed,
            5,
        ),
        (
            json!({OUTCOME_ANNOTATION: "bogus", AFTER_ANNOTATION: "soon"}),
            json!({}),
            JobOutcome::Succeed,
            5,
        ),
    ];
    for (job_ann, tpl_ann, outcome, after_secs) in cases {
        let j = job(
            job_ann,
            json!({"template": {"metadata": {"annotations": tpl_ann}}}),
        );
        let policy = policy_for(&j, DEFAULT);
        assert_eq!(policy.outcome, outcome);
        assert_eq!(policy.after.as_secs(), after_secs);
    }
    let j = job(
        json!({}),
        json!({"template": {"metadata": {"annotations": {AFTER_ANNOTATION: "250ms"}}}}),
    );
    assert_eq!(policy_for(&j, DEFAULT).after, Duration::from_millis(250));
}

#[test]
fn deleting_job_is_not_advanced() {
    let mut j = job(json!({}), json!({}));
    j["metadata"]["deletionTimestamp"] = json!("2026-01-01T00:00:00Z");
    assert_eq!(
        plan(&j, DEFAULT, ts("2026-01-01T00:00:00Z"), None, false),
        JobPlan::default()
    );
}

#[test]
fn ttl_after_finished_deletes_at_expiry() {
    let mut j = job(json!({}), json!({"ttlSecondsAfterFinished": 10}));
    j["status"] = run_to_end(j.clone(), DEFAULT, ts("2026-01-01T00:00:00Z"))
        .pop()
        .unwrap();
    let early = plan(&j, DEFAULT, ts("2026-01-01T00:00:06Z"), None, false);
    assert_eq!(early.wake_at, Some(ts("2026-01-01T00:00:15Z")));
    assert!(!early.delete);
    assert!(plan(&j, DEFAULT, ts("2026-01-01T00:00:15Z"), None, false).delete);

    let fail = JobPolicy {
        outcome: JobOutcome::Fail,
        after: Duration::ZERO,
    };
    let mut f = job(json!({}), json!({"ttlSecondsAfterFinished": 0}));
    f["status"] = run_to_end(f.clone(), fail, ts("2026-01-01T00:00:00Z"))
        .pop()
        .unwrap();
    assert!(plan(&f, fail, ts("2026-01-01T00:00:00Z"), None, false).delete);
}

#[test]
fn suspended_job_gets_condition_once_and_resumes() {
    let mut j = job(json!({}), json!({"suspend": true}));
    let step = plan(&j, DEFAULT, ts("2026-01-01T00:00:00Z"), None, false);
    let status = step.status.unwrap();
    assert_eq!(types(&status), ["Suspended"]);
    assert!(status.get("active").is_none(), "0 is left out (omitempty)");
    j["status"] = status;
    assert_eq!(
        plan(&j, DEFAULT, ts("2026-01-01T00:00:01Z"), None, false),
        JobPlan::default()
    );
    j["spec"]["suspend"] = json!(false);
    let resumed = plan(&j, DEFAULT, ts("2026-01-01T00:00:02Z"), None, true)
        .status
        .unwrap();
    assert_eq!(resumed["conditions"][0]["status"], "False");
    assert_eq!(resumed["conditions"][0]["reason"], "JobResumed");
    assert_eq!(resumed["startTime"], "2026-01-01T00:00:02Z");
    assert_eq!(resumed["ready"], 1);
}

#[test]
fn outcome_names_parse() {
    for (text, want) in [
        ("Succeed", Ok(JobOutcome::Succeed)),
        ("fail", Ok(JobOutcome::Fail)),
        ("RUN", Ok(JobOutcome::Run)),
    ] {
        assert_eq!(text.parse::<JobOutcome>(), want);
    }
    assert!("later".parse::<JobOutcome>().is_err());
}
