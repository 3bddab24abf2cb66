//! Table-driven decoding of the small protobuf messages kubectl's typed clients send: the RBAC kinds
//! (`kubectl create role|clusterrole|rolebinding|clusterrolebinding`) and the access/subject reviews
//! (`kubectl auth can-i|whoami`). Field numbers are those of `k8s.io/api/{rbac,authorization,authentication}/v1`'s
//! `generated.proto`; a field not in the table makes the request fail with 415 rather than be dropped.

use serde_json::{Map, Value, json};

use super::{
    ProtoError, Reader, Wire, bytes, insert_entry, map_entry, object_meta, push, string, unknown, varint,
};

/// How one field is mapped to JSON.
pub(super) enum F {
    Str(&'static str),
    Strs(&'static str),
    Msg(&'static str, &'static [(u64, F)]),
    Msgs(&'static str, &'static [(u64, F)]),
    StrMap(&'static str),
    /// `map<string, Quantity>` (resource lists).
    QuantityMap(&'static str),
    /// A varint kept as a number (a pointer field in Go: written only when set).
    Int(&'static str),
    /// A varint left out when 0 (a non-pointer `omitempty` field in Go: always written).
    IntNz(&'static str),
    Bool(&'static str),
    /// A bool left out when false (non-pointer `omitempty`).
    BoolNz(&'static str),
    /// `repeated int32` (packed or not).
    Ints(&'static str),
    /// An embedded Go struct: its fields are the parent's in JSON.
    Inline(&'static [(u64, F)]),
    Meta,
    /// Set by the server (status): ignored.
    Skip,
}

pub(super) type Schema = &'static [(u64, F)];

const POLICY_RULE: Schema = &[
    (1, F::Strs("verbs")),
    (2, F::Strs("apiGroups")),
    (3, F::Strs("resources")),
    (4, F::Strs("resourceNames")),
    (5, F::Strs("nonResourceURLs")),
];
const REQUIREMENT: Schema = &[
    (1, F::Str("key")),
    (2, F::Str("operator")),
    (3, F::Strs("values")),
];
pub(super) const LABEL_SELECTOR: Schema = &[
    (1, F::StrMap("matchLabels")),
    (2, F::Msgs("matchExpressions", REQUIREMENT)),
];
const AGGREGATION: Schema = &[(1, F::Msgs("clusterRoleSelectors", LABEL_SELECTOR))];
const ROLE: Schema = &[(1, F::Meta), (2, F::Msgs("rules", POLICY_RULE))];
const CLUSTER_ROLE: Schema = &[
    (1, F::Meta),
    (2, F::Msgs("rules", POLICY_RULE)),
    (3, F::Msg("aggregationRule", AGGREGATION)),
];
const SUBJECT: Schema = &[
    (1, F::Str("kind")),
    (2, F::Str("apiGroup")),
    (3, F::Str("name")),
    (4, F::Str("namespace")),
];
const ROLE_REF: Schema = &[(1, F::Str("apiGroup")), (2, F::Str("kind")), (3, F::Str("name"))];
const BINDING: Schema = &[
    (1, F::Meta),
    (2, F::Msgs("subjects", SUBJECT)),
    (3, F::Msg("roleRef", ROLE_REF)),
];
const RESOURCE_ATTRS: Schema = &[
    (1, F::Str("namespace")),
    (2, F::Str("verb")),
    (3, F::Str("group")),
    (4, F::Str("version")),
    (5, F::Str("resource")),
    (6, F::Str("subresource")),
    (7, F::Str("name")),
    (8, F::Skip),
    (9, F::Skip),
];
const NON_RESOURCE_ATTRS: Schema = &[(1, F::Str("path")), (2, F::Str("verb"))];
const SSAR_SPEC: Schema = &[
    (1, F::Msg("resourceAttributes", RESOURCE_ATTRS)),
    (2, F::Msg("nonResourceAttributes", NON_RESOURCE_ATTRS)),
];
const SAR_SPEC: Schema = &[
    (1, F::Msg("resourceAttributes", RESOURCE_ATTRS)),
    (2, F::Msg("nonResourceAttributes", NON_RESOURCE_ATTRS)),
    (3, F::Str("user")),
    (4, F::Strs("groups")),
    (5, F::Skip),
    (6, F::Str("uid")),
];
const SSAR: Schema = &[(1, F::Meta), (2, F::Msg("spec", SSAR_SPEC)), (3, F::Skip)];
const SAR: Schema = &[(1, F::Meta), (2, F::Msg("spec", SAR_SPEC)), (3, F::Skip)];
const SSRR: Schema = &[
    (1, F::Meta),
    (2, F::Msg("spec", &[(1, F::Str("namespace"))])),
    (3, F::Skip),
];
const SELF_SUBJECT_REVIEW: Schema = &[(1, F::Meta), (2, F::Skip)];
/// `meta/v1` DeleteOptions, as client-go's typed clients send it with a protobuf content type (helm's release
/// Secrets on `helm uninstall`).
const DELETE_OPTIONS: Schema = &[
    (1, F::Int("gracePeriodSeconds")),
    (
        2,
        F::Msg(
            "preconditions",
            &[(1, F::Str("uid")), (2, F::Str("resourceVersion"))],
        ),
    ),
    (3, F::Bool("orphanDependents")),
    (4, F::Str("propagationPolicy")),
    (5, F::Strs("dryRun")),
    (6, F::Bool("ignoreStoreReadErrorWithClusterBreakingPotential")),
];

/// A varint as the signed integer Go wrote (negative int32/int64 are 10-byte two's complement).
fn signed(v: u64) -> i64 {
    v as i64
}

/// One `map<string, Quantity>` entry (`Quantity { string string = 1; }`).
fn quantity_entry(b: &[u8]) -> Result<(String, Value), ProtoError> {
    let mut r = Reader::new(b);
    let (mut k, mut v) = (String::new(), String::new());
    while let Some((f, w)) = r.next()? {
        match f {
            1 => k = string(w, "map key")?,
            2 => {
                let mut q = Reader::new(bytes(w, "quantity")?);
                while let Some((qf, qw)) = q.next()? {
                    if qf == 1 {
                        v = string(qw, "quantity")?;
                    }
                }
            }
            _ => return Err(unknown("resource list entry", f)),
        }
    }
    Ok((k, json!(v)))
}

pub(super) const OWNER_REF: Schema = &[
    (1, F::Str("kind")),
    (3, F::Str("name")),
    (4, F::Str("uid")),
    (5, F::Str("apiVersion")),
    (6, F::Bool("controller")),
    (7, F::Bool("blockOwnerDeletion")),
];

/// The table of an (apiVersion, kind), when this decoder knows it.
pub(super) fn schema_of(api_version: &str, kind: &str) -> Option<Schema> {
    Some(match (api_version, kind) {
        ("rbac.authorization.k8s.io/v1", "Role") => ROLE,
        ("rbac.authorization.k8s.io/v1", "ClusterRole") => CLUSTER_ROLE,
        ("rbac.authorization.k8s.io/v1", "RoleBinding" | "ClusterRoleBinding") => BINDING,
        ("authorization.k8s.io/v1", "SelfSubjectAccessReview") => SSAR,
        ("authorization.k8s.io/v1", "SubjectAccessReview" | "LocalSubjectAccessReview") => SAR,
        ("authorization.k8s.io/v1", "SelfSubjectRulesReview") => SSRR,
        ("authentication.k8s.io/v1", "SelfSubjectReview") => SELF_SUBJECT_REVIEW,
        ("batch/v1", "Job") => super::workloads::JOB,
        ("batch/v1", "CronJob") => super::workloads::CRON_JOB,
        // Registered in every group version (client-go encodes it with the one of the resource's client).
        (_, "DeleteOptions") => DELETE_OPTIONS,
        _ => return None,
    })
}

/// Decodes one message by its table.
pub(super) fn decode_with(schema: Schema, what: &str, b: &[u8]) -> Result<Map<String, Value>, ProtoError> {
    let mut r = Reader::new(b);
    let mut m = Map::new();
    while let Some((f, w)) = r.next()? {
        let Some((_, how)) = schema.iter().find(|(n, _)| *n == f) else {
            return Err(unknown(what, f));
        };
        match how {
            F::Str(k) => {
                // Go encodes empty optional strings; JSON (omitempty) leaves them out.
                let v = string(w, k)?;
                if !v.is_empty() {
                    m.insert((*k).into(), json!(v));
                }
            }
            F::Strs(k) => push(&mut m, k, json!(string(w, "string")?)),
            F::Msg(k, s) => drop(m.insert((*k).into(), Value::Object(decode_with(s, k, bytes(w, k)?)?))),
            F::Msgs(k, s) => push(&mut m, k, Value::Object(decode_with(s, k, bytes(w, k)?)?)),
            F::StrMap(k) => insert_entry(&mut m, k, map_entry(bytes(w, k)?, false)?),
            F::QuantityMap(k) => insert_entry(&mut m, k, quantity_entry(bytes(w, k)?)?),
            F::Int(k) => drop(m.insert((*k).into(), json!(signed(varint(w, k)?)))),
            F::IntNz(k) => {
                let v = signed(varint(w, k)?);
                if v != 0 {
                    m.insert((*k).into(), json!(v));
                }
            }
            F::Bool(k) => drop(m.insert((*k).into(), json!(varint(w, k)? != 0))),
            F::BoolNz(k) => {
                if varint(w, k)? != 0 {
                    m.insert((*k).into(), json!(true));
                }
            }
            F::Ints(k) => match w {
                Wire::Varint(v) => push(&mut m, k, json!(signed(v))),
                Wire::Bytes(b) => {
                    let mut r = Reader::new(b);
                    while r.pos < b.len() {
                        push(&mut m, k, json!(signed(r.varint()?)));
                    }
                }
            },
            F::Inline(s) => m.extend(decode_with(s, what, bytes(w, "embedded struct")?)?),
            F::Meta => drop(m.insert("metadata".into(), object_meta(bytes(w, "metadata")?)?)),
            F::Skip => {}
        }
    }
    Ok(m)
}
