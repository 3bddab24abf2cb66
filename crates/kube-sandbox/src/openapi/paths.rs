//! The `paths` of a group-version document: per resource the collection, item and `/status` paths with their
//! operations, each carrying `x-kubernetes-action`, `x-kubernetes-group-version-kind` and its query parameters.

use serde_json::{Map, Value, json};

use super::schemas::{self, PATCH};
use super::{GroupVersionDoc, ResourceDoc};

fn query(name: &str, ty: &str, description: &str) -> Value {
    json!({"name": name, "in": "query", "description": description, "schema": {"type": ty, "uniqueItems": true}})
}

fn path_param(name: &str, description: &str) -> Value {
    json!({"name": name, "in": "path", "required": true, "description": description,
           "schema": {"type": "string", "uniqueItems": true}})
}

fn dry_run() -> Value {
    query(
        "dryRun",
        "string",
        "When present, indicates that modifications should not be persisted. Valid values are: - All",
    )
}

fn field_manager() -> Value {
    query(
        "fieldManager",
        "string",
        "fieldManager is a name associated with the actor or entity that is making these changes.",
    )
}

/// The parameter kubectl looks for before leaving validation to the server.
fn field_validation() -> Value {
    query(
        "fieldValidation",
        "string",
        "fieldValidation instructs the server on how to handle objects in the request containing unknown or \
         duplicate fields. Valid values are: - Ignore - Warn - Strict",
    )
}

fn list_params() -> Vec<Value> {
    vec![
        query(
            "allowWatchBookmarks",
            "boolean",
            "allowWatchBookmarks requests watch events with type \"BOOKMARK\".",
        ),
        query(
            "continue",
            "string",
            "The continue option should be set when retrieving more results from the server.",
        ),
        query(
            "fieldSelector",
            "string",
            "A selector to restrict the list of returned objects by their fields.",
        ),
        query(
            "labelSelector",
            "string",
            "A selector to restrict the list of returned objects by their labels.",
        ),
        query(
            "limit",
            "integer",
            "limit is a maximum number of responses to return for a list call.",
        ),
        query(
            "resourceVersion",
            "string",
            "resourceVersion sets a constraint on what resource versions a request may be served from.",
        ),
        query(
            "resourceVersionMatch",
            "string",
            "resourceVersionMatch determines how resourceVersion is applied to list calls.",
        ),
        query(
            "sendInitialEvents",
            "boolean",
            "`sendInitialEvents=true` may be set together with `watch=true`.",
        ),
        query("timeoutSeconds", "integer", "Timeout for the list/watch call."),
        query(
            "watch",
            "boolean",
            "Watch for changes to the described resources and return them as a stream of add, update, and remove notifications.",
        ),
    ]
}

fn content(schema: Value, types: &[&str]) -> Value {
    let mut m = Map::new();
    for t in types {
        m.insert((*t).to_string(), json!({"schema": schema}));
    }
    Value::Object(m)
}

fn responses(schema: &str, codes: &[&str]) -> Value {
    let mut m = Map::new();
    for code in codes {
        m.insert(
            (*code).to_string(),
            json!({"description": if *code == "201" { "Created" } else if *code == "202" { "Accepted" } else { "OK" },
                   "content": content(schemas::reference(schema), &["application/json", "application/yaml"])}),
        );
    }
    m.insert("401".into(), json!({"description": "Unauthorized"}));
    Value::Object(m)
}

struct Op<'a> {
    action: &'a str,
    id: String,
    params: Vec<Value>,
    body: Option<Value>,
    response: &'a str,
    codes: &'a [&'a str],
}

fn op(o: Op<'_>, gvk: &Value, tag: &str) -> Value {
    let mut m = Map::new();
    m.insert("tags".into(), json!([tag]));
    m.insert(
        "description".into(),
        json!(format!(
            "{} {}",
            o.action,
            gvk["kind"].as_str().unwrap_or_default()
        )),
    );
    m.insert("operationId".into(), json!(o.id));
    m.insert("parameters".into(), Value::Array(o.params));
    if let Some(b) = o.body {
        m.insert("requestBody".into(), json!({"content": b, "required": true}));
    }
    m.insert("responses".into(), responses(o.response, o.codes));
    m.insert("x-kubernetes-action".into(), json!(o.action));
    m.insert("x-kubernetes-group-version-kind".into(), gvk.clone());
    Value::Object(m)
}

fn patch_types(group: &str) -> Vec<&'static str> {
    let mut t = vec![
        "application/apply-patch+yaml",
        "application/json-patch+json",
        "application/merge-patch+json",
    ];
    if crate::patch::is_builtin_group(group) {
        t.push("application/strategic-merge-patch+json");
    }
    t
}

/// Adds the paths of resource `r` to `paths`.
pub(super) fn add(
    paths: &mut Map<String, Value>,
    gv: &GroupVersionDoc,
    r: &ResourceDoc,
    gvk: &Value,
    schema: &str,
    list_schema: &str,
) {
    let prefix = format!("/{}", gv.path());
    let tag = format!(
        "{}_{}",
        if gv.group.is_empty() {
            "core"
        } else {
            gv.group.as_str()
        },
        gv.version
    );
    let scope = if r.namespaced { "Namespaced" } else { "" };
    let kind = &r.kind;
    let collection = if r.namespaced {
        format!("{prefix}/namespaces/{{namespace}}/{}", r.plural)
    } else {
        format!("{prefix}/{}", r.plural)
    };
    let mut common = vec![query(
        "pretty",
        "string",
        "If 'true', then the output is pretty printed.",
    )];
    if r.namespaced {
        common.push(path_param(
            "namespace",
            "object name and auth scope, such as for teams and projects",
        ));
    }
    let body = |s: &str| content(schemas::reference(s), &["*/*"]);

    let mut coll = Map::new();
    coll.insert("parameters".into(), Value::Array(common.clone()));
    coll.insert(
        "get".into(),
        op(
            Op {
                action: "list",
                id: format!("list{scope}{kind}"),
                params: list_params(),
                body: None,
                response: list_schema,
                codes: &["200"],
            },
            gvk,
            &tag,
        ),
    );
    coll.insert(
        "post".into(),
        op(
            Op {
                action: "post",
                id: format!("create{scope}{kind}"),
                params: vec![dry_run(), field_manager(), field_validation()],
                body: Some(body(schema)),
                response: schema,
                codes: &["200", "201", "202"],
            },
            gvk,
            &tag,
        ),
    );
    let mut dc_params = list_params();
    dc_params.extend([
        dry_run(),
        query(
            "gracePeriodSeconds",
            "integer",
            "The duration in seconds before the object should be deleted.",
        ),
        query(
            "propagationPolicy",
            "string",
            "Whether and how garbage collection will be performed.",
        ),
    ]);
    coll.insert(
        "delete".into(),
        op(
            Op {
                action: "deletecollection",
                id: format!("deleteCollection{scope}{kind}"),
                params: dc_params,
                body: Some(body(schemas::DELETE_OPTIONS)),
                response: schemas::STATUS,
                codes: &["200"],
            },
            gvk,
            &tag,
        ),
    );
    paths.insert(collection.clone(), Value::Object(coll));

    let mut item_common = common.clone();
    item_common.insert(0, path_param("name", &format!("name of the {kind}")));
    let item_ops = |suffix: &str, sub: &str| {
        let mut m = Map::new();
        m.insert("parameters".into(), Value::Array(item_common.clone()));
        m.insert(
            "get".into(),
            op(
                Op {
                    action: "get",
                    id: format!("read{scope}{kind}{sub}"),
                    params: vec![],
                    body: None,
                    response: schema,
                    codes: &["200"],
                },
                gvk,
                &tag,
            ),
        );
        m.insert(
            "put".into(),
            op(
                Op {
                    action: "put",
                    id: format!("replace{scope}{kind}{sub}"),
                    params: vec![dry_run(), field_manager(), field_validation()],
                    body: Some(body(schema)),
                    response: schema,
                    codes: &["200", "201"],
                },
                gvk,
                &tag,
            ),
        );
        m.insert(
            "patch".into(),
            op(
                Op {
                    action: "patch",
                    id: format!("patch{scope}{kind}{sub}"),
                    params: vec![
                        dry_run(),
                        field_manager(),
                        field_validation(),
                        query("force", "boolean", "Force is going to \"force\" Apply requests."),
                    ],
                    body: Some(content(schemas::reference(PATCH), &patch_types(&gv.group))),
                    response: schema,
                    codes: &["200", "201"],
                },
                gvk,
                &tag,
            ),
        );
        if suffix.is_empty() {
            m.insert(
                "delete".into(),
                op(
                    Op {
                        action: "delete",
                        id: format!("delete{scope}{kind}"),
                        params: vec![
                            dry_run(),
                            query(
                                "gracePeriodSeconds",
                                "integer",
                                "The duration in seconds before the object should be deleted.",
                            ),
                            query(
                                "propagationPolicy",
                                "string",
                                "Whether and how garbage collection will be performed.",
                            ),
                        ],
                        body: Some(body(schemas::DELETE_OPTIONS)),
                        response: schemas::STATUS,
                        codes: &["200", "202"],
                    },
                    gvk,
                    &tag,
                ),
            );
        }
        (format!("{collection}/{{name}}{suffix}"), Value::Object(m))
    };
    let (p, v) = item_ops("", "");
    paths.insert(p, v);
    if r.status {
        let (p, v) = item_ops("/status", "Status");
        paths.insert(p, v);
    }
    if r.namespaced {
        let mut all = Map::new();
        all.insert(
            "parameters".into(),
            json!([query(
                "pretty",
                "string",
                "If 'true', then the output is pretty printed."
            )]),
        );
        all.insert(
            "get".into(),
            op(
                Op {
                    action: "list",
                    id: format!("list{kind}ForAllNamespaces"),
                    params: list_params(),
                    body: None,
                    response: list_schema,
                    codes: &["200"],
                },
                gvk,
                &tag,
            ),
        );
        paths.insert(format!("{prefix}/{}", r.plural), Value::Object(all));
    }
}
