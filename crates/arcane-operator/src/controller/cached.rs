//! Workloads as the operator caches them: metadata and status, never the spec.
//!
//! The operator decides from a workload's labels, annotations (configuration hash, backfill
//! request), owner references and status; it never reads the pod template back, which is most of
//! a served Job (`STREAMCONTEXT__SPEC` repeats the stream's spec in every container). Watching
//! into these types skips the spec while deserializing, and a cached Job takes about 600 bytes
//! in place of a `k8s_openapi` Job's 2.6 kB before any of its heap data (arcane-bench L1,
//! heaptrack: the Job cache was 26 MB of the heap at 10,000 streams).
//!
//! Of the labels and annotations, the cache keeps only the operator's own (`arcane/…` and the
//! configuration hash: what `decide` reads), as a flat list: a `BTreeMap` of any size takes a
//! 540-byte node, and a served Job carries its template's labels and annotations besides.

use std::borrow::Cow;
use std::collections::BTreeMap;

use k8s_openapi::NamespaceResourceScope;
use k8s_openapi::api::batch::v1::{CronJob, CronJobStatus, Job, JobStatus};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use serde::Deserialize;

macro_rules! cached_workload {
    ($(#[$doc:meta])* $name:ident, $full:ident, $status:ty) => {
        $(#[$doc])*
        #[derive(Clone, Debug, Default, PartialEq, Deserialize)]
        pub struct $name {
            #[serde(default)]
            pub metadata: ObjectMeta,
            #[serde(default)]
            pub status: Option<$status>,
            /// The operator's labels and annotations, moved out of `metadata` by `compact`.
            #[serde(skip)]
            pub kept: Kept,
        }

        impl kube::Resource for $name {
            type DynamicType = ();
            type Scope = NamespaceResourceScope;

            fn kind(_: &()) -> Cow<'_, str> {
                <$full as k8s_openapi::Resource>::KIND.into()
            }

            fn group(_: &()) -> Cow<'_, str> {
                <$full as k8s_openapi::Resource>::GROUP.into()
            }

            fn version(_: &()) -> Cow<'_, str> {
                <$full as k8s_openapi::Resource>::VERSION.into()
            }

            fn plural(_: &()) -> Cow<'_, str> {
                <$full as k8s_openapi::Resource>::URL_PATH_SEGMENT.into()
            }

            fn meta(&self) -> &ObjectMeta {
                &self.metadata
            }

            fn meta_mut(&mut self) -> &mut ObjectMeta {
                &mut self.metadata
            }
        }

        impl $name {
            /// The workload as `decide` reads it: metadata and status, no spec.
            pub fn to_workload(&self) -> $full {
                $full::from(self.clone())
            }

            /// Drops what the operator never reads (see the module documentation).
            pub fn compact(&mut self) {
                self.metadata.managed_fields = None;
                self.kept.take_from(&mut self.metadata);
            }

            /// One of the kept annotations (whether compacted or not).
            pub fn annotation(&self, key: &str) -> Option<&str> {
                self.kept.annotation(key).or_else(|| {
                    self.metadata.annotations.as_ref()?.get(key).map(String::as_str)
                })
            }
        }

        impl From<$name> for $full {
            fn from(mut cached: $name) -> $full {
                cached.kept.restore_into(&mut cached.metadata);
                $full {
                    metadata: cached.metadata,
                    spec: None,
                    status: cached.status,
                }
            }
        }
    };
}

/// Labels and annotations as a flat list of the operator's own.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Kept {
    labels: Box<[(Box<str>, Box<str>)]>,
    annotations: Box<[(Box<str>, Box<str>)]>,
}

/// The labels the operator reads back on a workload: its own.
fn keeps_label(key: &str) -> bool {
    key.starts_with("arcane/")
}

/// The annotations the operator reads back on a workload: its own and the configuration hash.
fn keeps_annotation(key: &str) -> bool {
    key.starts_with("arcane/") || key == crate::stream::ANNOTATION_CONFIGURATION_HASH
}

fn flat(map: Option<BTreeMap<String, String>>, keep: fn(&str) -> bool) -> Box<[(Box<str>, Box<str>)]> {
    map.into_iter()
        .flatten()
        .filter(|(k, _)| keep(k))
        .map(|(k, v)| (k.into_boxed_str(), v.into_boxed_str()))
        .collect()
}

fn map(flat: &[(Box<str>, Box<str>)]) -> Option<BTreeMap<String, String>> {
    (!flat.is_empty()).then(|| flat.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect())
}

impl Kept {
    /// Moves the kept labels and annotations out of `meta` (the others are dropped).
    fn take_from(&mut self, meta: &mut ObjectMeta) {
        self.labels = flat(meta.labels.take(), keeps_label);
        self.annotations = flat(meta.annotations.take(), keeps_annotation);
    }

    /// Puts them back (a workload that was never compacted keeps its own).
    fn restore_into(&self, meta: &mut ObjectMeta) {
        if meta.labels.is_none() {
            meta.labels = map(&self.labels);
        }
        if meta.annotations.is_none() {
            meta.annotations = map(&self.annotations);
        }
    }

    fn annotation(&self, key: &str) -> Option<&str> {
        self.annotations
            .iter()
            .find(|(k, _)| k.as_ref() == key)
            .map(|(_, v)| v.as_ref())
    }
}

cached_workload!(
    /// A cached Job: metadata and status.
    CachedJob,
    Job,
    JobStatus
);

cached_workload!(
    /// A cached CronJob: metadata and status.
    CachedCronJob,
    CronJob,
    CronJobStatus
);

#[cfg(test)]
mod tests {
    use super::*;
    use kube::Resource;
    use serde_json::json;

    #[test]
    fn a_served_job_is_cached_without_its_spec() {
        let served = json!({
            "apiVersion": "batch/v1",
            "kind": "Job",
            "metadata": {
                "name": "s", "namespace": "ns", "uid": "u",
                "labels": {"arcane/stream-id": "s"},
                "annotations": {"configuration-hash": "h"},
                "ownerReferences": [{"apiVersion": "v1", "kind": "K", "name": "s", "uid": "o", "controller": true}],
            },
            "spec": {"template": {"spec": {"containers": [{"name": "c", "image": "i",
                "env": [{"name": "STREAMCONTEXT__SPEC", "value": "{\"big\":true}"}]}]}}},
            "status": {"conditions": [{"type": "Complete", "status": "True"}], "succeeded": 1},
        });
        let cached: CachedJob = serde_json::from_value(served.clone()).expect("a Job parses");
        let full: Job = serde_json::from_value(served).expect("a Job parses");
        assert_eq!(cached.metadata, full.metadata);
        assert_eq!(cached.status, full.status);
        let workload = cached.to_workload();
        assert!(workload.spec.is_none());
        assert_eq!(workload.metadata, full.metadata);
        assert!(std::mem::size_of::<CachedJob>() * 3 < std::mem::size_of::<Job>());
    }

    #[test]
    fn a_compacted_job_keeps_exactly_the_operators_labels_and_annotations() {
        let served = json!({
            "metadata": {
                "name": "s", "namespace": "ns", "uid": "u", "resourceVersion": "7",
                "labels": {"arcane/stream-id": "s", "arcane/backfilling": "false", "team": "data",
                           "batch.kubernetes.io/job-name": "s"},
                "annotations": {"configuration-hash": "h", "arcane/stream-generation": "3",
                                "arcane/restarts": "0", "template/note": "long text"},
                "managedFields": [{"manager": "m"}],
                "ownerReferences": [{"apiVersion": "v1", "kind": "K", "name": "s", "uid": "o", "controller": true}],
            },
            "status": {"active": 1},
        });
        let mut cached: CachedJob = serde_json::from_value(served).expect("a Job parses");
        assert_eq!(cached.annotation("configuration-hash"), Some("h"));
        cached.compact();
        assert!(cached.metadata.labels.is_none() && cached.metadata.annotations.is_none());
        assert!(cached.metadata.managed_fields.is_none());
        assert_eq!(cached.annotation("configuration-hash"), Some("h"));
        assert_eq!(cached.annotation("arcane/restarts"), Some("0"));
        assert_eq!(cached.annotation("template/note"), None);
        let job = cached.to_workload();
        let labels = job.metadata.labels.expect("labels");
        assert_eq!(
            labels.keys().map(String::as_str).collect::<Vec<_>>(),
            ["arcane/backfilling", "arcane/stream-id"]
        );
        let annotations = job.metadata.annotations.expect("annotations");
        assert_eq!(annotations.len(), 3);
        assert_eq!(
            annotations.get("arcane/stream-generation").map(String::as_str),
            Some("3")
        );
        assert_eq!(job.metadata.uid.as_deref(), Some("u"));
        assert_eq!(job.metadata.owner_references.map(|o| o.len()), Some(1));
        assert_eq!(job.status.and_then(|s| s.active), Some(1));
    }

    #[test]
    fn cached_types_address_the_workload_resources() {
        assert_eq!(
            CachedJob::url_path(&(), Some("ns")),
            Job::url_path(&(), Some("ns"))
        );
        assert_eq!(CachedJob::api_version(&()), "batch/v1");
        assert_eq!(CachedJob::kind(&()), "Job");
        assert_eq!(
            CachedCronJob::url_path(&(), Some("ns")),
            CronJob::url_path(&(), Some("ns"))
        );
        assert_eq!(CachedCronJob::kind(&()), "CronJob");
        let cron: CachedCronJob = serde_json::from_value(json!({
            "metadata": {"name": "c"}, "spec": {"schedule": "* * * * *", "jobTemplate": {}},
            "status": {"lastScheduleTime": "2026-01-01T00:00:00Z"},
        }))
        .expect("a CronJob parses");
        assert!(
            cron.to_workload()
                .status
                .is_some_and(|s| s.last_schedule_time.is_some())
        );
    }
}
