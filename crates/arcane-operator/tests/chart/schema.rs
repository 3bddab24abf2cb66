//! values.schema.json: it describes every value of values.yaml, and helm refuses values the
//! operator or Kubernetes would refuse later (a crash-looping pod instead of a failed install).

use super::*;

fn schema() -> Value {
    serde_json::from_str(&std::fs::read_to_string(chart_dir().join("values.schema.json")).unwrap()).unwrap()
}

/// Every key path of `values` that the schema does not describe; objects the schema leaves open
/// (Kubernetes structures such as `resources`) are not descended into.
fn undescribed(values: &Value, schema: &Value, path: &str, out: &mut Vec<String>) {
    let Some(map) = values.as_object() else { return };
    let props = &schema["properties"];
    if props.is_null() {
        return;
    }
    for (key, value) in map {
        let at = format!("{path}.{key}");
        match props.get(key) {
            Some(sub) => undescribed(value, sub, &at, out),
            None => out.push(at),
        }
    }
}

#[test]
fn schema_describes_every_value_and_closes_every_object() {
    let values: Value =
        serde_saphyr::from_str(&std::fs::read_to_string(chart_dir().join("values.yaml")).unwrap()).unwrap();
    let schema = schema();
    let mut missing = Vec::new();
    undescribed(&values, &schema, "", &mut missing);
    assert!(
        missing.is_empty(),
        "values.yaml keys without a schema: {missing:?}"
    );
    // A typo in a key (`replicacount`) must fail, not be ignored.
    assert_eq!(schema["additionalProperties"], false);
    for (key, sub) in schema["properties"].as_object().unwrap() {
        if sub["properties"].is_object() {
            assert_eq!(sub["additionalProperties"], false, "{key} accepts unknown keys");
        }
    }
}

#[test]
fn schema_rejects_bad_values() {
    let Some(helm) = helm() else { return };
    let bad = [
        "logging.format=yaml",
        "logging.level=",
        "concurrency=0",
        "replicaCount=-1",
        "replicacount=2",
        "image.pullPolicy=Sometimes",
        "image.digest=latest",
        "leaderElection.leaseDuration=15x",
        "leaderElection.enabled=yes",
        "probes.port=70000",
        "metrics.port=0",
        "crds.install=maybe",
        "podAntiAffinity.type=strict",
        "podAntiAffinity.weight=101",
        "watchNamespace=Not_A_Namespace",
        "streamKinds[0].apiGroup=streaming.sneaksanddata.com",
        "serviceMonitor.interval=often",
        "prometheusRule.enabled=1",
    ];
    for set in bad {
        let result = try_render(&helm, &[set]);
        assert!(
            matches!(&result, Err(e) if e.contains("schema")),
            "{set} must be refused by the schema: {result:?}"
        );
    }
    let good = [
        "logging.format=text",
        "crds.install=false",
        "crds.install=true",
        "crds.install=auto",
        "leaderElection.leaseDuration=1.5m",
        "podDisruptionBudget.maxUnavailable=50%",
        "image.digest=sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
        "replicaCount=0",
    ];
    for set in good {
        if let Err(e) = try_render(&helm, &[set]) {
            panic!("{set} must be accepted: {e}");
        }
    }
}
