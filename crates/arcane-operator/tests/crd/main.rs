//! The operator's owned CRDs: committed manifest, structural schemas, names and columns, and the
//! wire shape of each kind.

// Tests may unwrap: a panic is the failure report.
#![allow(clippy::unwrap_used)]

mod structural;
mod wire;

use arcane_operator::crd;
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use serde_json::{Value, json};

const DEPLOY_CRDS: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../deploy/crds.yaml");

fn crd_named(kind: &str) -> CustomResourceDefinition {
    crd::crds()
        .into_iter()
        .find(|c| c.spec.names.kind == kind)
        .unwrap_or_else(|| panic!("no CRD for {kind}"))
}

fn schema_of(c: &CustomResourceDefinition) -> Value {
    let schema = c.spec.versions[0]
        .schema
        .as_ref()
        .and_then(|s| s.open_api_v3_schema.as_ref());
    serde_json::to_value(schema.expect("the CRD has a schema")).unwrap()
}

// ---------------------------------------------------------------------------------------------
// (a) the committed manifest

#[test]
fn committed_manifest_matches_the_types() {
    let committed = std::fs::read_to_string(DEPLOY_CRDS).unwrap_or_default();
    assert!(
        committed == crd::crds_yaml(),
        "deploy/crds.yaml is stale or missing; regenerate it with:\n    \
         cargo run -q -p arcane-operator -- crd > deploy/crds.yaml"
    );
}

#[test]
fn yaml_holds_three_documents_that_parse_back_to_the_crds() {
    let yaml = crd::crds_yaml();
    assert_eq!(yaml, crd::crds_yaml(), "output must be deterministic");
    assert_eq!(yaml.lines().filter(|l| *l == "---").count(), 2);
    let parsed: Vec<CustomResourceDefinition> = serde_saphyr::from_multiple(&yaml).unwrap();
    assert_eq!(parsed, crd::crds());
    let kinds: Vec<_> = parsed.iter().map(|c| c.spec.names.kind.as_str()).collect();
    assert_eq!(kinds, ["StreamClass", "StreamingJobTemplate", "BackfillRequest"]);
}

// ---------------------------------------------------------------------------------------------
// (b) structural schemas

#[test]
fn every_schema_is_structural() {
    for c in crd::crds() {
        let found = structural::violations(&schema_of(&c));
        assert!(found.is_empty(), "{}: {found:#?}", c.spec.names.kind);
    }
}

#[test]
fn the_structural_checker_rejects_what_the_api_server_rejects() {
    let obj = |props: Value| json!({"type": "object", "properties": props});
    let cases = [
        (
            "missing type",
            obj(json!({"a": {"description": "x"}})),
            "missing type",
        ),
        (
            "type list",
            obj(json!({"a": {"type": ["string", "null"]}})),
            "type must be one of",
        ),
        (
            "root not object",
            json!({"type": "string"}),
            "root must be type object",
        ),
        (
            "properties with additionalProperties",
            obj(
                json!({"a": {"type": "object", "properties": {}, "additionalProperties": {"type": "string"}}}),
            ),
            "mutually exclusive",
        ),
        (
            "additionalProperties false",
            obj(json!({"a": {"type": "object", "additionalProperties": false}})),
            "additionalProperties: false",
        ),
        (
            "$ref",
            obj(json!({"a": {"$ref": "#/definitions/A"}})),
            "$ref is not allowed",
        ),
        (
            "definitions",
            json!({"type": "object", "definitions": {"A": {"type": "string"}}}),
            "definitions is not allowed",
        ),
        (
            "typed anyOf (schemars Option<Enum>)",
            obj(
                json!({"a": {"anyOf": [{"type": "string", "enum": ["X"]}, {"enum": [null], "nullable": true}]}}),
            ),
            "not allowed inside allOf/anyOf/oneOf/not",
        ),
        (
            "junctor property not declared outside",
            obj(json!({"a": {"type": "object", "anyOf": [{"properties": {"b": {}}}]}})),
            "not declared outside",
        ),
        (
            "embedded resource not an object",
            obj(json!({"a": {"type": "string", "x-kubernetes-embedded-resource": true}})),
            "requires type object",
        ),
        (
            "embedded resource without fields",
            obj(json!({"a": {"type": "object", "x-kubernetes-embedded-resource": true}})),
            "requires properties or preserve-unknown-fields",
        ),
        (
            "preserve-unknown false",
            obj(json!({"a": {"type": "object", "x-kubernetes-preserve-unknown-fields": false}})),
            "must be true or absent",
        ),
        (
            "array without items",
            obj(json!({"a": {"type": "array"}})),
            "single items schema",
        ),
        (
            "missing item type",
            obj(json!({"a": {"type": "array", "items": {}}})),
            ".a[]: missing type",
        ),
        (
            "null in a non-nullable enum",
            obj(json!({"a": {"type": "string", "enum": ["X", null]}})),
            "enum value null",
        ),
        (
            "default of the wrong type",
            obj(json!({"a": {"type": "boolean", "default": "no"}})),
            "default \"no\"",
        ),
        (
            "required but undeclared",
            json!({"type": "object", "properties": {}, "required": ["spec"]}),
            "required \"spec\"",
        ),
        (
            "metadata restricted beyond name",
            obj(json!({"metadata": {"type": "object", "properties": {"labels": {"type": "object"}}}})),
            "only name/generateName",
        ),
        (
            "uniqueItems",
            obj(json!({"a": {"type": "array", "items": {"type": "string"}, "uniqueItems": true}})),
            "uniqueItems",
        ),
    ];
    for (name, schema, expected) in cases {
        let found = structural::violations(&schema);
        assert!(
            found.iter().any(|v| v.contains(expected)),
            "{name}: expected {expected:?} in {found:#?}"
        );
    }

    let accepted = [
        obj(json!({"a": {"x-kubernetes-preserve-unknown-fields": true}})),
        obj(
            json!({"a": {"x-kubernetes-int-or-string": true, "anyOf": [{"type": "integer"}, {"type": "string"}]}}),
        ),
        obj(json!({"a": {"type": "string", "nullable": true, "enum": ["X", null]}})),
        obj(json!({"a": {"type": "object", "additionalProperties": {"type": "string"}}})),
        obj(
            json!({"metadata": {"type": "object", "properties": {"name": {"type": "string", "maxLength": 63}}}}),
        ),
    ];
    for schema in accepted {
        assert_eq!(structural::violations(&schema), Vec::<String>::new(), "{schema}");
    }
}

// ---------------------------------------------------------------------------------------------
// (c) names, scope, subresources, columns, selectable fields

struct Expected {
    kind: &'static str,
    plural: &'static str,
    singular: &'static str,
    short: &'static str,
    scope: &'static str,
    /// (name, type, jsonPath), in order.
    columns: &'static [(&'static str, &'static str, &'static str)],
    selectable: &'static [&'static str],
}

/// kubectl shows no age for a kind that declares columns unless one of them is the age.
const AGE: (&str, &str, &str) = ("Age", "date", ".metadata.creationTimestamp");

const EXPECTED: [Expected; 3] = [
    Expected {
        kind: "StreamClass",
        plural: "streamclasses",
        singular: "streamclass",
        short: "sc",
        scope: "Cluster",
        columns: &[
            ("ApiGroupRef", "string", ".spec.apiGroupRef"),
            ("ApiVersion", "string", ".spec.apiVersion"),
            ("KindRef", "string", ".spec.kindRef"),
            ("PluralName", "string", ".spec.pluralName"),
            ("Phase", "string", ".status.phase"),
            AGE,
        ],
        selectable: &[],
    },
    Expected {
        kind: "StreamingJobTemplate",
        plural: "streamingjobtemplates",
        singular: "streamingjobtemplate",
        short: "sjt",
        scope: "Namespaced",
        columns: &[
            (
                "MemoryLimit",
                "string",
                ".spec.spec.template.spec.containers[0].resources.limits.memory",
            ),
            (
                "CpuLimit",
                "string",
                ".spec.spec.template.spec.containers[0].resources.limits.cpu",
            ),
            ("Image", "string", ".spec.spec.template.spec.containers[0].image"),
            AGE,
        ],
        selectable: &[],
    },
    Expected {
        kind: "BackfillRequest",
        plural: "backfillrequests",
        singular: "backfillrequest",
        short: "bfr",
        scope: "Namespaced",
        columns: &[
            ("StreamClass", "string", ".spec.streamClass"),
            ("StreamId", "string", ".spec.streamId"),
            ("Completed", "boolean", ".spec.completed"),
            ("Phase", "string", ".status.phase"),
            (
                "State",
                "string",
                ".status.conditions[?(@.type==\"Completed\")].reason",
            ),
            AGE,
        ],
        selectable: &[".spec.completed", ".spec.streamId"],
    },
];

#[test]
fn each_crd_has_the_arcane_names_scope_and_columns() {
    assert_eq!(crd::crds().len(), EXPECTED.len());
    for e in &EXPECTED {
        let c = crd_named(e.kind);
        let k = e.kind;
        assert_eq!(
            c.metadata.name.as_deref(),
            Some(format!("{}.{}", e.plural, crd::GROUP).as_str()),
            "{k}"
        );
        assert_eq!(c.spec.group, "streaming.sneaksanddata.com", "{k}");
        assert_eq!(c.spec.names.plural, e.plural, "{k}");
        assert_eq!(c.spec.names.singular.as_deref(), Some(e.singular), "{k}");
        assert_eq!(c.spec.names.short_names, Some(vec![e.short.to_string()]), "{k}");
        assert_eq!(c.spec.scope, e.scope, "{k}");
        assert_eq!(c.spec.versions.len(), 1, "{k}");

        let v = &c.spec.versions[0];
        assert_eq!((v.name.as_str(), v.served, v.storage), ("v1", true, true), "{k}");
        let status = v.subresources.as_ref().and_then(|s| s.status.as_ref());
        assert_eq!(status.map(|s| &s.0), Some(&json!({})), "{k}: status subresource");
        assert!(
            v.subresources.as_ref().is_some_and(|s| s.scale.is_none()),
            "{k}: no scale"
        );

        let columns: Vec<_> = v
            .additional_printer_columns
            .iter()
            .flatten()
            .map(|p| (p.name.as_str(), p.type_.as_str(), p.json_path.as_str()))
            .collect();
        assert_eq!(columns, e.columns, "{k}: printer columns");

        let selectable: Vec<_> = v
            .selectable_fields
            .iter()
            .flatten()
            .map(|f| f.json_path.as_str())
            .collect();
        assert_eq!(selectable, e.selectable, "{k}: selectable fields");
    }
}

/// What a JSONPath lands on in a schema.
#[derive(Debug, PartialEq)]
enum Lands {
    Typed(String),
    /// Below a node that preserves unknown fields: any content is accepted and kept.
    Opaque,
    Missing,
}

fn resolve(schema: &Value, json_path: &str) -> Lands {
    // The API server knows ObjectMeta whatever the schema says: a timestamp is a date-time string.
    if json_path == ".metadata.creationTimestamp" {
        return Lands::Typed("date".to_string());
    }
    // A filter (`[?(@.type=="Completed")]`) selects array items: keep only that it indexes.
    let mut path = String::new();
    let mut depth = 0;
    for c in json_path.chars() {
        match c {
            '[' => {
                depth += 1;
                if depth == 1 {
                    path.push('[');
                }
            }
            ']' => {
                depth -= 1;
                if depth == 0 {
                    path.push(']');
                }
            }
            c if depth == 0 => path.push(c),
            _ => {}
        }
    }
    let mut node = schema;
    for step in path.trim_start_matches('.').split('.') {
        if node.get("x-kubernetes-preserve-unknown-fields") == Some(&Value::Bool(true)) {
            return Lands::Opaque;
        }
        let (field, indexed) = match step.split_once('[') {
            Some((f, _)) => (f, true),
            None => (step, false),
        };
        let Some(next) = node.pointer(&format!("/properties/{field}")) else {
            return Lands::Missing;
        };
        node = next;
        if indexed {
            let Some(items) = node.get("items") else {
                return Lands::Missing;
            };
            node = items;
        }
    }
    match node.get("type").and_then(Value::as_str) {
        Some(t) => Lands::Typed(t.to_string()),
        None => Lands::Opaque,
    }
}

#[test]
fn columns_and_selectable_fields_point_at_fields_of_their_type() {
    for e in &EXPECTED {
        let schema = schema_of(&crd_named(e.kind));
        for (name, ty, path) in e.columns {
            let lands = resolve(&schema, path);
            assert!(
                lands == Lands::Typed(ty.to_string()) || lands == Lands::Opaque,
                "{}: column {name} ({path}) lands on {lands:?}",
                e.kind
            );
        }
        // The API server only accepts selectable fields on string, integer or boolean fields.
        for path in e.selectable {
            let lands = resolve(&schema, path);
            assert!(
                matches!(&lands, Lands::Typed(t) if ["string", "integer", "boolean"].contains(&t.as_str())),
                "{}: selectable {path} lands on {lands:?}",
                e.kind
            );
        }
    }
    let bfr = schema_of(&crd_named("BackfillRequest"));
    assert_eq!(
        resolve(&bfr, ".spec.nope"),
        Lands::Missing,
        "the resolver can fail"
    );
}

#[test]
fn schema_details_the_api_server_depends_on() {
    let sjt = schema_of(&crd_named("StreamingJobTemplate"));
    let job = &sjt["properties"]["spec"];
    assert_eq!(job["type"], "object");
    assert_eq!(job["x-kubernetes-embedded-resource"], true);
    assert_eq!(job["x-kubernetes-preserve-unknown-fields"], true);
    assert!(
        job.get("properties").is_none(),
        "the Job must not be pruned: {job}"
    );
    assert!(
        sjt["properties"].get("status").is_none(),
        "templates have no status fields"
    );

    let bfr = schema_of(&crd_named("BackfillRequest"));
    let spec = &bfr["properties"]["spec"];
    assert_eq!(spec["properties"]["completed"]["default"], false);
    assert_eq!(spec["properties"]["completed"]["type"], "boolean");
    assert_eq!(spec["properties"]["payload"]["type"], "object");
    assert_eq!(
        spec["properties"]["payload"]["x-kubernetes-preserve-unknown-fields"],
        true
    );
    assert_eq!(spec["required"], json!(["streamClass", "streamId"]));

    let sc = schema_of(&crd_named("StreamClass"));
    assert_eq!(
        sc["properties"]["spec"]["required"],
        json!(["apiVersion", "kindRef", "pluralName"])
    );
    assert_eq!(
        sc["properties"]["spec"]["properties"]["secretRefs"]["items"]["type"],
        "string"
    );
    for (kind, schema) in [("StreamClass", &sc), ("BackfillRequest", &bfr)] {
        let status = &schema["properties"]["status"]["properties"];
        assert_eq!(
            status["phase"]["enum"],
            json!(["Pending", "Ready", "Failed", "Stopped"]),
            "{kind}"
        );
        let condition = &status["conditions"]["items"];
        assert_eq!(
            condition["required"],
            json!(["lastTransitionTime", "message", "reason", "status", "type"]),
            "{kind}"
        );
        assert_eq!(
            condition["properties"]["lastTransitionTime"]["format"], "date-time",
            "{kind}"
        );
    }
    assert_eq!(
        sc["properties"]["status"]["properties"]["observedGeneration"]["type"],
        "integer"
    );
}
