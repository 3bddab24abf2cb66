//! Unknown fields of built-in kinds, as kube-apiserver finds them by decoding into its Go types: the body is
//! decoded into the matching `k8s-openapi` type (generated from the same API, version 1.33) and encoded again;
//! what the body has and the round trip lacks is unknown (`spec.template.spec.containers[0].foo`). Upstream
//! then refuses the request (`fieldValidation=Strict`, what kubectl sends) or drops the fields with a warning.
//! A body the types cannot decode at all is left to the rest of the validation.

use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;

use crate::store::ResourceInfo;

#[derive(Clone, Debug, PartialEq, Eq)]
enum Seg {
    Key(String),
    Index(usize),
}

fn round_trip<T: DeserializeOwned + Serialize>(obj: &Value) -> Option<Value> {
    let typed: T = serde_json::from_value(obj.clone()).ok()?;
    serde_json::to_value(typed).ok()
}

fn typed_copy(info: &ResourceInfo, obj: &Value) -> Option<Value> {
    use k8s_openapi::api::{batch, coordination, core, events, rbac};
    if info.crd.is_some() {
        return None;
    }
    match (info.gvr.group.as_str(), info.gvr.resource.as_str()) {
        ("", "namespaces") => round_trip::<core::v1::Namespace>(obj),
        ("", "pods") => round_trip::<core::v1::Pod>(obj),
        ("", "configmaps") => round_trip::<core::v1::ConfigMap>(obj),
        ("", "secrets") => round_trip::<core::v1::Secret>(obj),
        ("", "serviceaccounts") => round_trip::<core::v1::ServiceAccount>(obj),
        ("", "events") => round_trip::<core::v1::Event>(obj),
        ("events.k8s.io", "events") => round_trip::<events::v1::Event>(obj),
        ("coordination.k8s.io", "leases") => round_trip::<coordination::v1::Lease>(obj),
        ("batch", "jobs") => round_trip::<batch::v1::Job>(obj),
        ("batch", "cronjobs") => round_trip::<batch::v1::CronJob>(obj),
        ("rbac.authorization.k8s.io", "roles") => round_trip::<rbac::v1::Role>(obj),
        ("rbac.authorization.k8s.io", "clusterroles") => round_trip::<rbac::v1::ClusterRole>(obj),
        ("rbac.authorization.k8s.io", "rolebindings") => round_trip::<rbac::v1::RoleBinding>(obj),
        ("rbac.authorization.k8s.io", "clusterrolebindings") => {
            round_trip::<rbac::v1::ClusterRoleBinding>(obj)
        }
        _ => None,
    }
}

fn diff(body: &Value, typed: &Value, at: &mut Vec<Seg>, out: &mut Vec<Vec<Seg>>) {
    match (body, typed) {
        (Value::Object(b), Value::Object(t)) => {
            for (k, v) in b {
                if v.is_null() {
                    continue;
                }
                at.push(Seg::Key(k.clone()));
                match t.get(k) {
                    None => out.push(at.clone()),
                    Some(tv) => diff(v, tv, at, out),
                }
                at.pop();
            }
        }
        (Value::Array(b), Value::Array(t)) => {
            for (i, (v, tv)) in b.iter().zip(t).enumerate() {
                at.push(Seg::Index(i));
                diff(v, tv, at, out);
                at.pop();
            }
        }
        _ => {}
    }
}

fn show(path: &[Seg]) -> String {
    let mut s = String::new();
    for seg in path {
        match seg {
            Seg::Key(k) if s.is_empty() => s.push_str(k),
            Seg::Key(k) => {
                s.push('.');
                s.push_str(k);
            }
            Seg::Index(i) => s.push_str(&format!("[{i}]")),
        }
    }
    s
}

fn remove(obj: &mut Value, path: &[Seg]) {
    let Some((last, parents)) = path.split_last() else {
        return;
    };
    let mut cur = obj;
    for seg in parents {
        let next = match seg {
            Seg::Key(k) => cur.get_mut(k.as_str()),
            Seg::Index(i) => cur.get_mut(*i),
        };
        let Some(next) = next else { return };
        cur = next;
    }
    if let (Seg::Key(k), Some(m)) = (last, cur.as_object_mut()) {
        m.remove(k);
    }
}

/// The unknown fields of a built-in object (`unknown field "<path>"` each), removed from `obj` as upstream's
/// decoding drops them. Empty for custom resources and bodies the types cannot decode.
pub(super) fn take_unknown_fields(info: &ResourceInfo, obj: &mut Value) -> Vec<String> {
    let Some(typed) = typed_copy(info, obj) else {
        return Vec::new();
    };
    let mut paths = Vec::new();
    diff(obj, &typed, &mut Vec::new(), &mut paths);
    for p in &paths {
        remove(obj, p);
    }
    paths
        .iter()
        .map(|p| format!("unknown field \"{}\"", show(p)))
        .collect()
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn finds_and_drops_unknown_fields_of_built_ins() {
        let info = crate::registry::builtins()
            .into_iter()
            .find(|i| i.gvr.group == "batch" && i.gvr.resource == "jobs")
            .unwrap();
        let mut job = json!({"apiVersion": "batch/v1", "kind": "Job", "metadata": {"name": "j", "labels": {"a": "b"}},
            "foo": 1, "spec": {"backoffLimit": 1, "completions": null, "template": {"spec": {"restartPolicy": "Never",
            "containers": [{"name": "c", "image": "busybox", "imagePullPolicyy": "Always"}]}}}});
        let unknown = take_unknown_fields(&info, &mut job);
        assert_eq!(
            unknown,
            vec![
                "unknown field \"foo\"",
                "unknown field \"spec.template.spec.containers[0].imagePullPolicyy\""
            ]
        );
        assert!(job.get("foo").is_none());
        assert!(
            job["spec"]["template"]["spec"]["containers"][0]
                .get("imagePullPolicyy")
                .is_none()
        );
        assert_eq!(job["metadata"]["labels"]["a"], "b");
        let mut again = job.clone();
        assert!(take_unknown_fields(&info, &mut again).is_empty());
        assert_eq!(again, job);
    }
}
