//! Object metadata helpers: uids, timestamps, generated names, name validation.

use serde_json::{Map, Value};

use super::{ApiError, Cause, ResourceInfo};

/// A random RFC 4122 version 4 UUID.
pub fn new_uid() -> String {
    let mut b: [u8; 16] = std::array::from_fn(|_| fastrand::u8(..));
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    let h: String = b.iter().map(|x| format!("{x:02x}")).collect();
    format!(
        "{}-{}-{}-{}-{}",
        &h[0..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..32]
    )
}

/// RFC 3339 with second precision, as `creationTimestamp` and `deletionTimestamp` are.
pub fn now_rfc3339() -> String {
    jiff::Timestamp::now().strftime("%Y-%m-%dT%H:%M:%SZ").to_string()
}

/// MicroTime, as Events and managedFields use.
pub fn now_micro() -> String {
    jiff::Timestamp::now()
        .strftime("%Y-%m-%dT%H:%M:%S%.6fZ")
        .to_string()
}

const NAME_ALPHABET: &[u8] = b"bcdfghjklmnpqrstvwxz2456789";

/// `generateName` + 5 random characters; the prefix is cut to 58 characters as upstream does.
pub fn generate_name(prefix: &str) -> String {
    let cut: String = prefix.chars().take(58).collect();
    let suffix: String = (0..5)
        .map(|_| NAME_ALPHABET[fastrand::usize(..NAME_ALPHABET.len())] as char)
        .collect();
    format!("{cut}{suffix}")
}

pub fn metadata(obj: &Value) -> Option<&Map<String, Value>> {
    obj.get("metadata")?.as_object()
}

pub fn metadata_mut(obj: &mut Value) -> Option<&mut Map<String, Value>> {
    if !obj.is_object() {
        return None;
    }
    let map = obj.as_object_mut()?;
    let meta = map.entry("metadata").or_insert_with(|| Value::Object(Map::new()));
    if !meta.is_object() {
        *meta = Value::Object(Map::new());
    }
    meta.as_object_mut()
}

pub fn meta_str<'a>(obj: &'a Value, key: &str) -> Option<&'a str> {
    metadata(obj)?.get(key)?.as_str()
}

pub fn name_of(obj: &Value) -> &str {
    meta_str(obj, "name").unwrap_or("")
}

pub fn namespace_of(obj: &Value) -> Option<&str> {
    meta_str(obj, "namespace").filter(|s| !s.is_empty())
}

pub fn rv_of(obj: &Value) -> Option<u64> {
    meta_str(obj, "resourceVersion").and_then(|s| s.parse().ok())
}

pub fn finalizers_of(obj: &Value) -> Vec<String> {
    metadata(obj)
        .and_then(|m| m.get("finalizers"))
        .and_then(Value::as_array)
        .map(|a| a.iter().filter_map(|v| v.as_str().map(str::to_string)).collect())
        .unwrap_or_default()
}

/// Finalizers that block removal: `metadata.finalizers`, plus `spec.finalizers` of a Namespace.
pub fn pending_finalizers(info: &ResourceInfo, obj: &Value) -> usize {
    let mut n = finalizers_of(obj).len();
    if info.gvr.group.is_empty() && info.gvr.resource == "namespaces" {
        n += obj
            .pointer("/spec/finalizers")
            .and_then(Value::as_array)
            .map_or(0, Vec::len);
    }
    n
}

pub fn is_deleting(obj: &Value) -> bool {
    metadata(obj)
        .and_then(|m| m.get("deletionTimestamp"))
        .is_some_and(|v| !v.is_null())
}

/// Standard base64 with padding, as JSON encodes `[]byte` fields.
pub fn base64(data: &[u8]) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.encode(data)
}

pub use super::validate::{label_value_errors, meta_causes, qualified_name_errors};

pub use super::names::{
    dns_label_errors, dns_subdomain_errors, is_dns_label, is_dns_subdomain, path_segment_errors,
    validate_name,
};

/// Generic metadata validation every type gets: label keys/values shapes are left out; owner references are checked.
pub fn validate_meta(info: &ResourceInfo, obj: &Value) -> Result<(), ApiError> {
    let name = name_of(obj);
    let controllers = metadata(obj)
        .and_then(|m| m.get("ownerReferences"))
        .and_then(Value::as_array)
        .map_or(0, |refs| {
            refs.iter()
                .filter(|r| r.get("controller").and_then(Value::as_bool) == Some(true))
                .count()
        });
    let mut causes = metadata(obj)
        .map(super::validate::meta_causes)
        .unwrap_or_default();
    if controllers > 1 {
        causes.push(Cause::new(
            "FieldValueInvalid",
            "metadata.ownerReferences",
            "Invalid value: []: Only one reference can have Controller set to true",
        ));
    }
    if causes.is_empty() {
        Ok(())
    } else {
        Err(ApiError::invalid(&info.kind, &info.gvr.group, name, causes))
    }
}

/// Whether anything that bumps `generation` changed: everything but metadata (and status when it is a
/// subresource). Compares in place, without copying the objects.
pub fn generation_relevant_changed(old: &Value, new: &Value, status_subresource: bool) -> bool {
    let skip = |k: &str| {
        k == "metadata" || k == "kind" || k == "apiVersion" || (status_subresource && k == "status")
    };
    let (Some(a), Some(b)) = (old.as_object(), new.as_object()) else {
        return old != new;
    };
    let relevant = |m: &'_ Map<String, Value>| m.iter().filter(|(k, _)| !skip(k)).count();
    relevant(a) != relevant(b)
        || a.iter()
            .filter(|(k, _)| !skip(k))
            .any(|(k, v)| b.get(k) != Some(v))
}

/// Equality ignoring managedFields timestamps, as upstream's no-op detection does.
pub fn same_ignoring_managed_times(a: &Value, b: &Value) -> bool {
    fn strip(v: &Value) -> Value {
        let mut v = v.clone();
        if let Some(mf) = v
            .pointer_mut("/metadata/managedFields")
            .and_then(Value::as_array_mut)
        {
            for e in mf {
                if let Some(m) = e.as_object_mut() {
                    m.remove("time");
                }
            }
        }
        v
    }
    a == b || strip(a) == strip(b)
}

/// The approximate heap a `serde_json::Value` takes: a map allocates B-tree nodes of 11 entries (~640 bytes),
/// strings their length, every value a 32-byte slot. Good enough to bound caches by memory.
pub fn estimated_size(v: &Value) -> usize {
    32 + match v {
        Value::String(s) => s.len(),
        Value::Array(a) => a.iter().map(estimated_size).sum(),
        Value::Object(m) => {
            m.len().div_ceil(11) * 640 + m.iter().map(|(k, v)| k.len() + estimated_size(v)).sum::<usize>()
        }
        _ => 0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uid_shape() {
        let u = new_uid();
        assert_eq!(u.len(), 36);
        assert_eq!(&u[14..15], "4");
        assert_ne!(new_uid(), u);
    }

    #[test]
    fn generated_names() {
        let n = generate_name("job-");
        assert_eq!(n.len(), 9);
        assert!(n.starts_with("job-"));
        assert!(n[4..].bytes().all(|c| NAME_ALPHABET.contains(&c)));
        assert_eq!(generate_name(&"a".repeat(80)).len(), 63);
    }

    #[test]
    fn names() {
        for (s, ok) in [
            ("a", true),
            ("a.b-c", true),
            ("A", false),
            ("-a", false),
            ("a_b", false),
            ("", false),
        ] {
            assert_eq!(is_dns_subdomain(s), ok, "{s}");
        }
        assert!(!is_dns_label("a.b"));
    }

    #[test]
    fn generation_relevance() {
        let old =
            serde_json::json!({"metadata": {"labels": {"a": "1"}}, "spec": {"x": 1}, "status": {"s": 1}});
        let cases = [
            (
                serde_json::json!({"metadata": {}, "spec": {"x": 1}, "status": {"s": 1}}),
                true,
                false,
            ),
            (
                serde_json::json!({"metadata": {}, "spec": {"x": 1}, "status": {"s": 2}}),
                true,
                false,
            ),
            (
                serde_json::json!({"metadata": {}, "spec": {"x": 1}, "status": {"s": 2}}),
                false,
                true,
            ),
            (
                serde_json::json!({"metadata": {}, "spec": {"x": 2}, "status": {"s": 1}}),
                true,
                true,
            ),
            (serde_json::json!({"metadata": {}, "spec": {"x": 1}}), true, false),
            (
                serde_json::json!({"metadata": {}, "spec": {"x": 1}, "data": 1, "status": {"s": 1}}),
                true,
                true,
            ),
        ];
        for (new, status_sub, want) in cases {
            assert_eq!(
                generation_relevant_changed(&old, &new, status_sub),
                want,
                "{new} {status_sub}"
            );
        }
    }

    #[test]
    fn base64_like_json() {
        assert_eq!(base64(b"b"), "Yg==");
        assert_eq!(base64(b"ab"), "YWI=");
        assert_eq!(base64(b"abc"), "YWJj");
    }

    #[test]
    fn timestamps() {
        assert_eq!(now_rfc3339().len(), 20);
        assert!(now_micro().ends_with('Z'));
        assert_eq!(now_micro().len(), 27);
    }
}
