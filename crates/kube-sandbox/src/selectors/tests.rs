use serde_json::{Map, Value, json};

use super::*;

fn labels(v: Value) -> Map<String, Value> {
    match v {
        Value::Object(m) => m,
        _ => Map::new(),
    }
}

#[test]
fn label_selector_matching() {
    let a = labels(json!({"app": "a"}));
    let bx = labels(json!({"app": "b", "tier": "x"}));
    let none = labels(json!({}));
    let num = labels(json!({"n": "5"}));
    // (selector, [matches a, matches bx, matches {}, matches n=5])
    let cases: Vec<(&str, [bool; 4])> = vec![
        ("", [true, true, true, true]),
        ("app in (a,b),tier!=x", [true, false, false, false]),
        ("!app", [false, false, true, true]),
        ("app", [true, true, false, false]),
        ("app=a", [true, false, false, false]),
        ("app==a", [true, false, false, false]),
        ("app!=a", [false, true, true, true]),
        ("app notin (a)", [false, true, true, true]),
        ("  app  in  ( a , b )  ,  tier  ", [false, true, false, false]),
        ("tier=", [false, false, false, false]),
        ("n>4", [false, false, false, true]),
        ("n<5", [false, false, false, false]),
        ("app=a,app=b", [false, false, false, false]),
    ];
    for (sel, want) in cases {
        let s = LabelSelector::parse(sel).unwrap_or_else(|e| panic!("{sel}: {e}"));
        let got = [
            s.matches(Some(&a)),
            s.matches(Some(&bx)),
            s.matches(Some(&none)),
            s.matches(Some(&num)),
        ];
        assert_eq!(got, want, "{sel}");
        assert_eq!(s.is_empty(), sel.is_empty(), "{sel}");
    }
    let s = LabelSelector::parse("!app").unwrap();
    assert!(s.matches(None), "no labels at all matches !app");
    let s = LabelSelector::parse("x=").unwrap();
    assert!(s.matches(Some(&labels(json!({"x": ""})))));
}

#[test]
fn label_selector_errors() {
    let cases: Vec<(&str, &str)> = vec![
        ("app in ()", "values set can't be empty"),
        ("app in a", "expected: '('"),
        ("app=a b", "expected: ',' or 'end of string'"),
        ("=a", "expected: identifier"),
        ("app=a,", "expected: identifier"),
        ("app=(a)", "expected: identifier"),
        ("-bad=a", "key: Invalid value"),
        ("app=-bad", "values[0][app]: Invalid value: \"-bad\""),
        ("app in (a,-b)", "values[1][app]: Invalid value: \"-b\""),
        ("n>x", "must be an integer"),
        ("app in (a", "expected: ',', ')' or identifier"),
        ("Bad_Prefix.com/x=1", "key: Invalid value"),
    ];
    for (sel, want) in cases {
        let err = LabelSelector::parse(sel).expect_err(sel);
        assert!(err.contains(want), "{sel}: {err}");
    }
}

#[test]
fn field_selector_matching() {
    let cm = json!({"kind": "ConfigMap", "metadata": {"name": "a,b", "namespace": "ns"}});
    let ev = json!({"kind": "Event", "metadata": {"name": "e"}, "involvedObject": {"kind": "Widget", "name": "w"},
                    "source": {"component": "kubelet"}});
    let job = json!({"kind": "Job", "metadata": {"name": "j"}, "status": {"successful": 1}});
    let cases: Vec<(&str, &Value, bool)> = vec![
        ("metadata.name=a\\,b", &cm, true),
        ("metadata.name==a\\,b,metadata.namespace=ns", &cm, true),
        ("metadata.name!=a\\,b", &cm, false),
        ("metadata.namespace=other", &cm, false),
        ("metadata.namespace=", &ev, true),
        ("involvedObject.kind=Widget,involvedObject.name=w", &ev, true),
        ("source=kubelet", &ev, true),
        ("status.successful=1", &job, true),
        ("status.successful!=1", &job, false),
        ("", &cm, true),
    ];
    for (sel, obj, want) in cases {
        let s = FieldSelector::parse(sel).unwrap_or_else(|e| panic!("{sel}: {e}"));
        assert_eq!(s.matches(obj), want, "{sel}");
    }
    let s = FieldSelector::parse("metadata.name=x,involvedObject.uid!=y").unwrap();
    assert_eq!(s.fields(), vec!["metadata.name", "involvedObject.uid"]);
    assert_eq!(s.exact_name(), Some("x"));
}

#[test]
fn field_selector_errors() {
    for (sel, want) in [
        ("metadata.name", "can't understand 'metadata.name'"),
        ("a=b,c", "can't understand 'c'"),
        ("=b", "can't understand"),
        ("a=b\\x", "invalid escape sequence"),
    ] {
        let err = FieldSelector::parse(sel).expect_err(sel);
        assert!(err.contains(want), "{sel}: {err}");
    }
}

#[test]
fn supported_fields() {
    let sel = vec![".spec.color".to_string()];
    let cases: Vec<(&str, &str, &str, bool)> = vec![
        ("", "ConfigMap", "metadata.name", true),
        ("", "ConfigMap", "metadata.namespace", true),
        ("", "ConfigMap", "spec.x", false),
        ("", "Pod", "spec.nodeName", true),
        ("", "Pod", "status.phase", true),
        ("", "Event", "involvedObject.uid", true),
        ("", "Secret", "type", true),
        ("batch", "Job", "status.successful", true),
        ("batch", "Job", "status.failed", false),
        ("example.com", "Widget", "spec.color", true),
        ("example.com", "Widget", "spec.size", false),
    ];
    for (g, k, f, want) in cases {
        assert_eq!(supported_field(g, k, f, &sel), want, "{g}/{k} {f}");
    }
    assert_eq!(
        unsupported_field_message("", "ConfigMap", "spec.x", &[]),
        r#""spec.x" is not a known field selector: only "metadata.name", "metadata.namespace""#
    );
    assert_eq!(
        unsupported_field_message("", "Pod", "spec.x", &[]),
        "field label not supported: spec.x"
    );
}
