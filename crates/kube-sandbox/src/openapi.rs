//! OpenAPI v3 index and per-group-version documents.

use serde_json::{Value, json};

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct GroupVersionDoc {
    pub group: String,
    pub version: String,
}

impl GroupVersionDoc {
    /// The index key, e.g. `api/v1` or `apis/batch/v1`.
    pub fn path(&self) -> String {
        if self.group.is_empty() {
            format!("api/{}", self.version)
        } else {
            format!("apis/{}/{}", self.group, self.version)
        }
    }
}

pub fn v3_index(gvs: &[GroupVersionDoc], hash_of: &dyn Fn(&GroupVersionDoc) -> String) -> Value {
    let mut paths = serde_json::Map::new();
    for gv in gvs {
        let p = gv.path();
        paths.insert(
            p.clone(),
            json!({"serverRelativeURL": format!("/openapi/v3/{p}?hash={}", hash_of(gv))}),
        );
    }
    json!({ "paths": paths })
}

pub fn v3_document(gv: &GroupVersionDoc, crds: &[(String, Value, bool)]) -> Value {
    let _ = crds;
    json!({"openapi": "3.0.0", "info": {"title": "Kubernetes", "version": "v1.33.0"},
           "paths": {}, "components": {"schemas": {}}, "x-group": gv.group})
}
