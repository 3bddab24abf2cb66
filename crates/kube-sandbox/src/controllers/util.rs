//! Small helpers shared by the simulated controllers: durations, API timestamps and object accessors.

use std::time::Duration;

use jiff::Timestamp;
use serde_json::{Map, Value};

/// Parses a duration like `5s`, `250ms`, `2m`, `1h30m`, `1.5s` (the Go `time.ParseDuration` subset a
/// test author would write in an annotation). A bare number is taken as seconds.
pub fn parse_duration(text: &str) -> Option<Duration> {
    let text = text.trim();
    if text.is_empty() {
        return None;
    }
    // A bare number is seconds (annotations written by hand); the rest is Go's syntax, as kube parses it.
    if let Ok(secs) = text.parse::<f64>() {
        return Duration::try_from_secs_f64(secs).ok();
    }
    let d: kube::core::Duration = text.parse().ok()?;
    (!d.is_negative()).then(|| d.into())
}

/// Formats a timestamp the way `metav1.Time` serialises: RFC 3339, whole seconds, UTC.
pub(super) fn format_time(ts: Timestamp) -> String {
    let secs = ts.as_second();
    Timestamp::from_second(secs)
        .unwrap_or(ts)
        .strftime("%Y-%m-%dT%H:%M:%SZ")
        .to_string()
}

pub(super) fn parse_time(text: &str) -> Option<Timestamp> {
    text.parse::<Timestamp>().ok()
}

pub(super) fn add(ts: Timestamp, d: Duration) -> Timestamp {
    jiff::SignedDuration::try_from(d)
        .ok()
        .and_then(|sd| ts.checked_add(sd).ok())
        .unwrap_or(Timestamp::MAX)
}

pub(super) fn meta(obj: &Value) -> Option<&Map<String, Value>> {
    obj.get("metadata")?.as_object()
}

pub(super) fn meta_str<'a>(obj: &'a Value, field: &str) -> Option<&'a str> {
    meta(obj)?.get(field)?.as_str()
}

pub(super) fn name(obj: &Value) -> &str {
    meta_str(obj, "name").unwrap_or_default()
}

pub(super) fn namespace(obj: &Value) -> Option<&str> {
    meta_str(obj, "namespace").filter(|ns| !ns.is_empty())
}

pub(super) fn uid(obj: &Value) -> &str {
    meta_str(obj, "uid").unwrap_or_default()
}

pub(super) fn is_deleting(obj: &Value) -> bool {
    meta_str(obj, "deletionTimestamp").is_some()
}

pub(super) fn annotation<'a>(obj: &'a Value, key: &str) -> Option<&'a str> {
    meta(obj)?.get("annotations")?.get(key)?.as_str()
}

pub(super) fn finalizers(obj: &Value) -> Vec<String> {
    meta(obj)
        .and_then(|m| m.get("finalizers"))
        .and_then(Value::as_array)
        .map(|items| {
            items
                .iter()
                .filter_map(|f| f.as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default()
}

pub(super) fn has_finalizer(obj: &Value, finalizer: &str) -> bool {
    finalizers(obj).iter().any(|f| f == finalizer)
}

/// One `metadata.ownerReferences` entry, reduced to what the controllers look at.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) struct OwnerRef {
    pub api_version: String,
    pub kind: String,
    pub name: String,
    pub uid: String,
    pub controller: bool,
    pub block_owner_deletion: bool,
}

pub(super) fn owner_refs(obj: &Value) -> Vec<OwnerRef> {
    let Some(refs) = meta(obj)
        .and_then(|m| m.get("ownerReferences"))
        .and_then(Value::as_array)
    else {
        return Vec::new();
    };
    refs.iter()
        .filter_map(|r| {
            let field = |k: &str| r.get(k).and_then(Value::as_str).map(str::to_owned);
            Some(OwnerRef {
                api_version: field("apiVersion").unwrap_or_default(),
                kind: field("kind").unwrap_or_default(),
                name: field("name").unwrap_or_default(),
                uid: field("uid")?,
                controller: r.get("controller").and_then(Value::as_bool) == Some(true),
                block_owner_deletion: r.get("blockOwnerDeletion").and_then(Value::as_bool) == Some(true),
            })
        })
        .collect()
}

/// The owner reference marked `controller: true`, if any.
pub(super) fn controller_ref(obj: &Value) -> Option<OwnerRef> {
    owner_refs(obj).into_iter().find(|r| r.controller)
}

/// A condition of `status.conditions` with the given type and `status: "True"`.
pub(super) fn condition_true(obj: &Value, kind: &str) -> bool {
    find_condition(obj, kind).and_then(|c| c.get("status")?.as_str()) == Some("True")
}

pub(super) fn find_condition<'a>(obj: &'a Value, kind: &str) -> Option<&'a Value> {
    obj.pointer("/status/conditions")?
        .as_array()?
        .iter()
        .find(|c| c.get("type").and_then(Value::as_str) == Some(kind))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        let cases: &[(&str, Option<Duration>)] = &[
            ("5s", Some(Duration::from_secs(5))),
            ("250ms", Some(Duration::from_millis(250))),
            ("2m", Some(Duration::from_secs(120))),
            ("1h30m", Some(Duration::from_secs(5400))),
            ("1.5s", Some(Duration::from_millis(1500))),
            ("3", Some(Duration::from_secs(3))),
            ("0s", Some(Duration::ZERO)),
            ("", None),
            ("5 parsecs", None),
            ("s", None),
            ("-1s", None),
        ];
        for (text, want) in cases {
            assert_eq!(parse_duration(text), *want, "{text}");
        }
    }

    #[test]
    fn time_round_trip_is_whole_seconds() {
        let ts: Timestamp = "2026-11-26T07:44:06.789Z".parse().unwrap();
        assert_eq!(format_time(ts), "2026-11-26T07:44:06Z");
        assert_eq!(
            parse_time("2026-11-26T07:44:06Z").map(format_time).as_deref(),
            Some("2026-11-26T07:44:06Z")
        );
    }

    #[test]
    fn owner_refs_skip_entries_without_uid() {
        let obj = serde_json::json!({"metadata": {"ownerReferences": [
            {"apiVersion": "v1", "kind": "A", "name": "a", "uid": "1", "controller": true},
            {"apiVersion": "v1", "kind": "B", "name": "b"},
            {"apiVersion": "v1", "kind": "C", "name": "c", "uid": "3", "blockOwnerDeletion": true}
        ]}});
        let refs = owner_refs(&obj);
        assert_eq!(refs.len(), 2);
        assert!(refs[0].controller && !refs[0].block_owner_deletion);
        assert!(!refs[1].controller && refs[1].block_owner_deletion);
        assert_eq!(controller_ref(&obj).map(|r| r.uid), Some("1".into()));
    }
}
