use serde_json::{Value, json};

use super::*;

fn widget_schema() -> Value {
    json!({"type": "object", "properties": {
        "spec": {"type": "object", "required": ["size"], "properties": {
            "size": {"type": "integer", "minimum": 1, "maximum": 10},
            "color": {"type": "string", "enum": ["red", "blue"], "default": "red"},
            "name": {"type": "string", "maxLength": 5, "minLength": 1},
            "dns": {"type": "string", "pattern": "^[a-z0-9]([-a-z0-9]*[a-z0-9])?$"},
            "digits": {"type": "string", "pattern": "^\\d+$"},
            "ports": {"type": "array", "x-kubernetes-list-type": "map", "x-kubernetes-list-map-keys": ["name"],
                      "items": {"type": "object", "properties": {"name": {"type": "string"}}}},
            "port": {"x-kubernetes-int-or-string": true},
            "when": {"type": "string", "format": "date-time"},
            "count32": {"type": "integer", "format": "int32"},
            "maybe": {"type": "string", "nullable": true},
            "tags": {"type": "array", "maxItems": 2, "x-kubernetes-list-type": "set", "items": {"type": "string"}},
            "items": {"type": "array", "items": {"type": "object", "properties": {
                "id": {"type": "string"}, "mode": {"type": "string", "default": "auto"}}}},
            "labels": {"type": "object", "additionalProperties": {"type": "string"}},
            "free": {"type": "object", "x-kubernetes-preserve-unknown-fields": true, "properties": {
                "known": {"type": "object", "properties": {"a": {"type": "string"}}}}},
            "template": {"type": "object", "x-kubernetes-embedded-resource": true, "properties": {
                "spec": {"type": "object", "properties": {"x": {"type": "string"}}}}}
        }},
        "status": {"type": "object", "properties": {"ready": {"type": "boolean"}}}
    }})
}

#[test]
fn prune_cases() {
    let cases: Vec<(&str, Value, Value, Vec<&str>)> = vec![
        (
            "unknown fields removed, root type meta and metadata kept",
            json!({"apiVersion": "example.com/v1", "kind": "Widget", "metadata": {"name": "w", "anything": 1},
                   "spec": {"size": 1, "bogus": true}, "extra": 1}),
            json!({"apiVersion": "example.com/v1", "kind": "Widget", "metadata": {"name": "w", "anything": 1},
                   "spec": {"size": 1}}),
            vec![".extra", ".spec.bogus"],
        ),
        (
            "preserve-unknown keeps unknowns but prunes inside known children",
            json!({"spec": {"free": {"x": {"deep": 1}, "known": {"a": "1", "b": "2"}}}}),
            json!({"spec": {"free": {"x": {"deep": 1}, "known": {"a": "1"}}}}),
            vec![".spec.free.known.b"],
        ),
        (
            "embedded resource keeps apiVersion/kind/metadata, prunes the rest per schema",
            json!({"spec": {"template": {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p"},
                                         "spec": {"x": "1", "y": "2"}, "status": {}}}}),
            json!({"spec": {"template": {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p"},
                                         "spec": {"x": "1"}}}}),
            vec![".spec.template.spec.y", ".spec.template.status"],
        ),
        (
            "array items and additionalProperties",
            json!({"spec": {"items": [{"id": "a", "junk": 1}, {"id": "b"}], "labels": {"k": "v"}}}),
            json!({"spec": {"items": [{"id": "a"}, {"id": "b"}], "labels": {"k": "v"}}}),
            vec![".spec.items[0].junk"],
        ),
    ];
    let schema = widget_schema();
    for (name, mut obj, want, want_paths) in cases {
        let mut removed = prune(&mut obj, &schema);
        removed.sort();
        assert_eq!(obj, want, "{name}");
        assert_eq!(removed, want_paths, "{name}");
    }
    // An object without properties and without preserve-unknown keeps nothing.
    let mut obj = json!({"spec": {"a": 1}});
    prune(
        &mut obj,
        &json!({"type": "object", "properties": {"spec": {"type": "object"}}}),
    );
    assert_eq!(obj, json!({"spec": {}}));
    // Root preserve-unknown keeps everything.
    let mut obj = json!({"spec": {"a": 1}, "other": 2});
    assert!(
        prune(
            &mut obj,
            &json!({"type": "object", "x-kubernetes-preserve-unknown-fields": true})
        )
        .is_empty()
    );
    assert_eq!(obj, json!({"spec": {"a": 1}, "other": 2}));
    assert_eq!(
        strict_message(&[".spec.a".into(), ".spec.b".into()]),
        r#"strict decoding error: unknown field "spec.a", unknown field "spec.b""#
    );
}

#[test]
fn defaulting_cases() {
    let schema = widget_schema();
    let cases: Vec<(&str, Value, Value)> = vec![
        (
            "default where parent exists",
            json!({"spec": {"size": 1}}),
            json!({"spec": {"size": 1, "color": "red"}}),
        ),
        (
            "no parent, no default",
            json!({"metadata": {}}),
            json!({"metadata": {}}),
        ),
        (
            "existing value wins",
            json!({"spec": {"color": "blue"}}),
            json!({"spec": {"color": "blue"}}),
        ),
        (
            "defaults inside array items",
            json!({"spec": {"items": [{"id": "a"}, {"id": "b", "mode": "manual"}]}}),
            json!({"spec": {"items": [{"id": "a", "mode": "auto"}, {"id": "b", "mode": "manual"}], "color": "red"}}),
        ),
        (
            "null replaced by default",
            json!({"spec": {"color": null}}),
            json!({"spec": {"color": "red"}}),
        ),
        (
            "null without default dropped",
            json!({"spec": {"name": null}}),
            json!({"spec": {"color": "red"}}),
        ),
        (
            "nullable null kept",
            json!({"spec": {"maybe": null}}),
            json!({"spec": {"maybe": null, "color": "red"}}),
        ),
    ];
    for (name, mut obj, want) in cases {
        apply_defaults(&mut obj, &schema);
        assert_eq!(obj, want, "{name}");
    }
    // Defaults nest: a defaulted object gets its own children's defaults.
    let nested = json!({"type": "object", "properties": {"spec": {"type": "object", "default": {},
        "properties": {"replicas": {"type": "integer", "default": 1}}}}});
    let mut obj = json!({"apiVersion": "x/v1"});
    apply_defaults(&mut obj, &nested);
    assert_eq!(obj, json!({"apiVersion": "x/v1", "spec": {"replicas": 1}}));
}

#[test]
fn validation_cases() {
    let schema = widget_schema();
    type Expected<'a> = Vec<(&'a str, FieldErrorKind, &'a str)>;
    let cases: Vec<(&str, Value, Expected<'_>)> = vec![
        (
            "valid",
            json!({"metadata": {"name": "w"}, "spec": {"size": 3, "port": "http"}}),
            vec![],
        ),
        (
            "type error",
            json!({"spec": {"size": "string"}}),
            vec![(
                "spec.size",
                FieldErrorKind::TypeInvalid,
                r#"Invalid value: "string": spec.size in body must be of type integer: "string""#,
            )],
        ),
        (
            "required",
            json!({"spec": {}}),
            vec![("spec.size", FieldErrorKind::Required, "Required value")],
        ),
        (
            "enum",
            json!({"spec": {"size": 1, "color": "pink"}}),
            vec![(
                "spec.color",
                FieldErrorKind::NotSupported,
                r#"Unsupported value: "pink": supported values: "red", "blue""#,
            )],
        ),
        (
            "bounds",
            json!({"spec": {"size": 0}}),
            vec![(
                "spec.size",
                FieldErrorKind::Invalid,
                "Invalid value: 0: spec.size in body should be greater than or equal to 1",
            )],
        ),
        (
            "maximum",
            json!({"spec": {"size": 11}}),
            vec![(
                "spec.size",
                FieldErrorKind::Invalid,
                "Invalid value: 11: spec.size in body should be less than or equal to 10",
            )],
        ),
        (
            "maxLength",
            json!({"spec": {"size": 1, "name": "toolong"}}),
            vec![(
                "spec.name",
                FieldErrorKind::TooLong,
                "Too long: may not be more than 5 bytes",
            )],
        ),
        (
            "int-or-string",
            json!({"spec": {"size": 1, "port": true}}),
            vec![(
                "spec.port",
                FieldErrorKind::TypeInvalid,
                r#"Invalid value: "boolean": spec.port in body must be of type integer,string: "boolean""#,
            )],
        ),
        (
            "date-time",
            json!({"spec": {"size": 1, "when": "yesterday"}}),
            vec![(
                "spec.when",
                FieldErrorKind::Invalid,
                r#"Invalid value: "yesterday": spec.when in body must be of type date-time: "yesterday""#,
            )],
        ),
        (
            "date-time ok",
            json!({"spec": {"size": 1, "when": "2024-01-02T03:04:05Z"}}),
            vec![],
        ),
        (
            "int32 range",
            json!({"spec": {"size": 1, "count32": 3_000_000_000u64}}),
            vec![(
                "spec.count32",
                FieldErrorKind::Invalid,
                r#"Invalid value: 3000000000: spec.count32 in body must be of type int32: "3000000000""#,
            )],
        ),
        (
            "null not nullable",
            json!({"spec": {"size": null}}),
            vec![(
                "spec.size",
                FieldErrorKind::TypeInvalid,
                r#"Invalid value: "null": spec.size in body must be of type integer: "null""#,
            )],
        ),
        ("nullable", json!({"spec": {"size": 1, "maybe": null}}), vec![]),
        (
            "array: too many and duplicates, item types",
            json!({"spec": {"size": 1, "tags": ["a", "a", 3]}}),
            vec![
                (
                    "spec.tags",
                    FieldErrorKind::TooMany,
                    "Too many: 3: must have at most 2 items",
                ),
                (
                    "spec.tags[1]",
                    FieldErrorKind::Duplicate,
                    r#"Duplicate value: "a""#,
                ),
                (
                    "spec.tags[2]",
                    FieldErrorKind::TypeInvalid,
                    r#"Invalid value: "integer": spec.tags[2] in body must be of type string: "integer""#,
                ),
            ],
        ),
        (
            "map values",
            json!({"spec": {"size": 1, "labels": {"a": 1}}}),
            vec![(
                "spec.labels.a",
                FieldErrorKind::TypeInvalid,
                r#"Invalid value: "integer": spec.labels.a in body must be of type string: "integer""#,
            )],
        ),
        (
            "integer-valued float accepted",
            json!({"spec": {"size": 2.0}}),
            vec![],
        ),
    ];
    for (name, obj, want) in cases {
        let got = validate(&obj, &schema);
        let got: Expected<'_> = got
            .iter()
            .map(|e| (e.path.as_str(), e.kind, e.message.as_str()))
            .collect();
        assert_eq!(got, want, "{name}");
    }
    let mut errs = validate(&json!({"spec": {"size": "x", "color": "pink"}}), &schema);
    errs.sort_by(|a, b| b.path.cmp(&a.path));
    assert_eq!(
        invalid_message("Widget", "example.com", "w", &errs[..1]),
        r#"Widget.example.com "w" is invalid: spec.size: Invalid value: "string": spec.size in body must be of type integer: "string""#
    );
    assert!(invalid_message("Widget", "example.com", "w", &errs).contains(": [spec.size: "));
    assert_eq!(FieldErrorKind::NotSupported.reason(), "FieldValueNotSupported");
}

#[test]
fn structural_check_cases() {
    assert_eq!(check_structural(&widget_schema()), Ok(()));
    let cases: Vec<(&str, Value, &str)> = vec![
        (
            "missing type",
            json!({"type": "object", "properties": {"spec": {"properties": {}}}}),
            "properties[spec].type: Required value",
        ),
        (
            "root not object",
            json!({"type": "string"}),
            "type: Invalid value: \"string\": must be object at the root",
        ),
        (
            "$ref",
            json!({"type": "object", "properties": {"a": {"$ref": "#/x"}}}),
            "properties[a].$ref: Forbidden",
        ),
        (
            "properties and additionalProperties",
            json!({"type": "object", "properties": {"a": {"type": "object", "properties": {}, "additionalProperties": {"type": "string"}}}}),
            "properties[a].additionalProperties: Forbidden: additionalProperties and properties are mutual exclusive",
        ),
        (
            "array without items",
            json!({"type": "object", "properties": {"l": {"type": "array"}}}),
            "properties[l].items: Required value",
        ),
        (
            "nested items missing type",
            json!({"type": "object", "properties": {"l": {"type": "array", "items": {"properties": {}}}}}),
            "properties[l].items.type: Required value",
        ),
        (
            "preserve false",
            json!({"type": "object", "x-kubernetes-preserve-unknown-fields": false}),
            "x-kubernetes-preserve-unknown-fields: Invalid value: false",
        ),
        (
            "metadata restricted",
            json!({"type": "object", "properties": {"metadata": {"type": "object", "properties": {"labels": {"type": "object"}}}}}),
            "properties[metadata]: Forbidden",
        ),
        (
            "int-or-string with type",
            json!({"type": "object", "properties": {"p": {"type": "string", "x-kubernetes-int-or-string": true}}}),
            "must be empty if x-kubernetes-int-or-string is true",
        ),
    ];
    for (name, schema, want) in cases {
        let errs = check_structural(&schema).expect_err(name);
        assert!(errs.iter().any(|e| e.contains(want)), "{name}: {errs:?}");
    }
    // Nodes without type are fine under preserve-unknown or int-or-string.
    let ok = json!({"type": "object", "properties": {"a": {"x-kubernetes-preserve-unknown-fields": true},
                                                     "b": {"x-kubernetes-int-or-string": true}}});
    assert_eq!(check_structural(&ok), Ok(()));
}

/// `x-kubernetes-embedded-resource`: apiVersion and kind required ("must not be empty"), metadata allowed and
/// kept by pruning, kind shaped as a DNS-1035 label of any case.
#[test]
fn embedded_resources_need_api_version_and_kind() {
    let schema = json!({"type": "object", "properties": {"spec": {"type": "object", "properties": {
        "template": {"type": "object", "x-kubernetes-embedded-resource": true, "x-kubernetes-preserve-unknown-fields": true}}}}});
    let mut missing = json!({"apiVersion": "x/v1", "kind": "T", "metadata": {"name": "t"},
        "spec": {"template": {"metadata": {"labels": {"a": "b"}}, "spec": {"x": 1}}}});
    assert!(
        prune(&mut missing, &schema).is_empty(),
        "metadata and unknown fields kept"
    );
    let errs = validate(&missing, &schema);
    let shown: Vec<String> = errs.iter().map(ToString::to_string).collect();
    assert_eq!(
        shown,
        vec![
            "spec.template.apiVersion: Required value: must not be empty",
            "spec.template.kind: Required value: must not be empty"
        ]
    );
    assert!(errs.iter().all(|e| e.kind == FieldErrorKind::Required));
    let ok = json!({"spec": {"template": {"apiVersion": "batch/v1", "kind": "Job", "spec": {}}}});
    assert!(validate(&ok, &schema).is_empty());
    let bad = json!({"spec": {"template": {"apiVersion": "a/b/c", "kind": "Bad_Kind",
        "metadata": {"labels": {"k": "-bad"}}}}});
    let shown: Vec<String> = validate(&bad, &schema).iter().map(ToString::to_string).collect();
    assert_eq!(shown.len(), 3, "{shown:?}");
    assert!(
        shown[0].starts_with(
            "spec.template.apiVersion: Invalid value: \"a/b/c\": unexpected GroupVersion string"
        )
    );
    assert!(shown[1].starts_with("spec.template.kind: Invalid value: \"Bad_Kind\": may have mixed case, but should otherwise match: a DNS-1035 label"));
    assert!(
        shown[2].starts_with("spec.template.metadata.labels: Invalid value: \"-bad\": a valid label must be"),
        "{shown:?}"
    );
}

/// Embedded metadata is validated as upstream's `ValidateObjectMeta` (path-segment names, DNS-label
/// namespaces, labels, annotations, owner references); valid metadata passes.
#[test]
fn embedded_metadata_is_validated() {
    let schema = json!({"type": "object", "properties": {"spec": {"type": "object",
        "x-kubernetes-embedded-resource": true, "x-kubernetes-preserve-unknown-fields": true}}});
    let with_meta = |meta: serde_json::Value| {
        let obj = json!({"spec": {"apiVersion": "batch/v1", "kind": "Job", "metadata": meta}});
        validate(&obj, &schema)
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
    };
    let good = json!({"name": "system:x", "generateName": "..", "namespace": "ns-1",
        "labels": {"owner": "ALICE", "example.com/tier": "a.b_c"},
        "annotations": {"note": "Équipe 🚀"}});
    assert_eq!(with_meta(good), Vec::<String>::new());
    let cases = [
        (
            json!({"labels": {"team": "Équipe"}}),
            "spec.metadata.labels: Invalid value: \"Équipe\"",
        ),
        (
            json!({"labels": {"tier": "t".repeat(64)}}),
            "must be no more than 63 characters",
        ),
        (
            json!({"labels": {"Équipe key!": "x"}}),
            "spec.metadata.labels: Invalid value: \"Équipe key!\"",
        ),
        (
            json!({"annotations": {"bad key!": "x"}}),
            "spec.metadata.annotations: Invalid value: \"bad key!\"",
        ),
        (
            json!({"name": "a/b"}),
            "spec.metadata.name: Invalid value: \"a/b\": may not contain '/'",
        ),
        (
            json!({"generateName": "a%"}),
            "spec.metadata.generateName: Invalid value: \"a%\": may not contain '%'",
        ),
        (
            json!({"namespace": "Bad_NS"}),
            "spec.metadata.namespace: Invalid value: \"Bad_NS\"",
        ),
        (
            json!({"ownerReferences": [{"apiVersion": "v1", "kind": "ConfigMap", "name": "a"}]}),
            "spec.metadata.ownerReferences[0].uid: Invalid value: \"\": uid must not be empty",
        ),
    ];
    for (meta, want) in cases {
        let shown = with_meta(meta.clone());
        assert!(shown.len() == 1 && shown[0].contains(want), "{meta}: {shown:?}");
    }
}
