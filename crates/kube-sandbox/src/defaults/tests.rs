use serde_json::json;

use crate::registry::{crd_gvr, new_store};
use crate::store::{Gvr, StoreConfig};

fn job() -> serde_json::Value {
    json!({"apiVersion": "batch/v1", "kind": "Job", "metadata": {"name": "j", "namespace": "default"},
        "spec": {"template": {"spec": {"restartPolicy": "Never", "containers": [{"name": "c", "image": "busybox"}]}}}})
}

#[test]
fn job_create_defaults_and_selector() {
    let s = new_store(StoreConfig::default());
    let jobs = Gvr::new("batch", "v1", "jobs");
    let j = s.create(&jobs, job()).unwrap();
    let uid = j["metadata"]["uid"].as_str().unwrap();
    let spec = &j["spec"];
    assert_eq!(
        (
            spec["completions"].clone(),
            spec["parallelism"].clone(),
            spec["backoffLimit"].clone()
        ),
        (json!(1), json!(1), json!(6))
    );
    assert_eq!(spec["completionMode"], "NonIndexed");
    assert_eq!(spec["suspend"], false);
    assert_eq!(spec["podReplacementPolicy"], "TerminatingOrFailed");
    assert_eq!(
        spec["selector"]["matchLabels"]["batch.kubernetes.io/controller-uid"],
        uid
    );
    let labels = &spec["template"]["metadata"]["labels"];
    assert_eq!(labels["job-name"], "j");
    assert_eq!(labels["controller-uid"], uid);
    assert_eq!(labels["batch.kubernetes.io/job-name"], "j");
    let c = &spec["template"]["spec"]["containers"][0];
    assert_eq!(c["terminationMessagePath"], "/dev/termination-log");
    assert_eq!(c["imagePullPolicy"], "Always");
    assert_eq!(spec["template"]["spec"]["dnsPolicy"], "ClusterFirst");
    assert_eq!(j["metadata"]["generation"], 1);

    let mut bad = job();
    bad["metadata"]["name"] = json!("k");
    bad["spec"]["template"]["spec"]["restartPolicy"] = json!("Always");
    let e = s.create(&jobs, bad).unwrap_err();
    assert_eq!(e.code, 422);
    assert!(
        e.message.contains("spec.template.spec.restartPolicy"),
        "{}",
        e.message
    );

    let mut changed = j.clone();
    changed["spec"]["template"]["spec"]["containers"][0]["image"] = json!("other");
    assert!(
        s.update(&jobs, changed)
            .unwrap_err()
            .message
            .contains("field is immutable")
    );
}

#[test]
fn job_status_rules() {
    let s = new_store(StoreConfig::default());
    let jobs = Gvr::new("batch", "v1", "jobs");
    let j = s.create(&jobs, job()).unwrap();
    let mut st = j.clone();
    st["status"] = json!({"conditions": [{"type": "Complete", "status": "True"}]});
    let e = s.update_status(&jobs, st).unwrap_err();
    assert!(
        e.message
            .contains("cannot set Complete=True condition without the SuccessCriteriaMet=true condition"),
        "{}",
        e.message
    );
    let mut ok = j.clone();
    ok["status"] = json!({"startTime": "2026-01-01T00:00:00Z", "completionTime": "2026-01-01T00:00:05Z", "succeeded": 1,
        "conditions": [{"type": "SuccessCriteriaMet", "status": "True"}, {"type": "Complete", "status": "True"}]});
    s.update_status(&jobs, ok).unwrap();
}

#[test]
fn crd_validation_and_finalizer() {
    let s = new_store(StoreConfig::default());
    let bad = json!({"metadata": {"name": "x.example.com"}, "spec": {"group": "example.com", "scope": "Namespaced",
        "names": {"plural": "widgets", "kind": "Widget"}, "versions": []}});
    let e = s.create(&crd_gvr(), bad).unwrap_err();
    assert_eq!(e.code, 422);
    let good = json!({"metadata": {"name": "widgets.example.com"}, "spec": {"group": "example.com", "scope": "Namespaced",
        "names": {"plural": "widgets", "kind": "Widget"}, "versions": [{"name": "v1", "served": true, "storage": true,
        "schema": {"openAPIV3Schema": {"type": "object"}}}]}});
    let c = s.create(&crd_gvr(), good).unwrap();
    assert_eq!(
        c["metadata"]["finalizers"],
        json!([crate::registry::CRD_FINALIZER])
    );
}

#[test]
fn fresh_store_has_namespaces() {
    let s = new_store(StoreConfig::default());
    let ns = s.get(&crate::store::namespaces_gvr(), None, "default").unwrap();
    assert_eq!(ns["status"]["phase"], "Active");
    assert_eq!(ns["spec"]["finalizers"], json!(["kubernetes"]));
    assert_eq!(ns["metadata"]["labels"]["kubernetes.io/metadata.name"], "default");
}

#[test]
fn secrets_merge_string_data_and_immutability() {
    let s = new_store(StoreConfig::default());
    let secrets = Gvr::new("", "v1", "secrets");
    let created = s
        .create(&secrets, json!({"metadata": {"name": "s", "namespace": "default"}, "stringData": {"k": "ab"}, "immutable": true}))
        .unwrap();
    assert_eq!(created["data"]["k"], "YWI=");
    assert!(created.get("stringData").is_none());
    let mut changed = created.clone();
    changed["data"]["k"] = json!("Yg==");
    assert_eq!(s.update(&secrets, changed).unwrap_err().code, 422);
    let cms = Gvr::new("", "v1", "configmaps");
    let bad = json!({"metadata": {"name": "c", "namespace": "default"}, "data": {"a/b": "x"}});
    assert_eq!(s.create(&cms, bad).unwrap_err().code, 422);
    let pods = Gvr::new("", "v1", "pods");
    let no_image =
        json!({"metadata": {"name": "p", "namespace": "default"}, "spec": {"containers": [{"name": "c"}]}});
    let e = s.create(&pods, no_image).unwrap_err();
    assert!(
        e.message.contains("spec.containers[0].image: Required value"),
        "{}",
        e.message
    );
}

#[test]
fn cronjob_schedules_and_time_zones() {
    let s = new_store(StoreConfig::default());
    let cjs = Gvr::new("batch", "v1", "cronjobs");
    let cj = |name: &str, schedule: &str, tz: Option<&str>| {
        let mut v = json!({"metadata": {"name": name, "namespace": "default"}, "spec": {"schedule": schedule,
            "jobTemplate": {"spec": {"template": {"spec": {"restartPolicy": "OnFailure", "containers": [{"name": "c", "image": "x"}]}}}}}});
        if let Some(tz) = tz {
            v["spec"]["timeZone"] = json!(tz);
        }
        v
    };
    let ok = s
        .create(&cjs, cj("ok", "*/5 * * * *", Some("Europe/Amsterdam")))
        .unwrap();
    assert_eq!(ok["spec"]["concurrencyPolicy"], "Allow");
    assert_eq!(ok["spec"]["successfulJobsHistoryLimit"], 3);
    assert_eq!(ok["spec"]["failedJobsHistoryLimit"], 1);
    s.create(&cjs, cj("daily", "@daily", None)).unwrap();
    for (name, schedule, tz, field) in [
        ("a", "* * *", None, "spec.schedule"),
        ("b", "TZ=UTC * * * * *", None, "spec.schedule"),
        ("c", "* * * * *", Some("Mars/Base"), "spec.timeZone"),
    ] {
        let e = s.create(&cjs, cj(name, schedule, tz)).unwrap_err();
        assert_eq!(e.code, 422, "{name}");
        assert!(e.message.contains(field), "{name}: {}", e.message);
    }
}
