//! Workloads as the operator caches them: metadata and status, never the spec.
//!
//! The operator decides from a workload's labels, annotations (configuration hash, backfill
//! request), owner references and status; it never reads the pod template back, which is most of
//! a served Job (`STREAMCONTEXT__SPEC` repeats the stream's spec in every container). Watching
//! into these types skips the spec while deserializing, and a cached Job takes about 600 bytes
//! in place of a `k8s_openapi` Job's 2.6 kB before any of its heap data (arcane-bench L1,
//! heaptrack: the Job cache was 26 MB of the heap at 10,000 streams).
//!
//! Of the labels and annotations, the cache keeps only the values of the few a decision reads
//! (the backfill label; the configuration hash, backfill request, stream generation and restarts
//! annotations), in one allocation: a `BTreeMap` of any size takes a 540-byte node and each of its
//! strings one allocation more, and a served Job carries its template's labels and annotations
//! besides.

use std::borrow::Cow;
use std::collections::BTreeMap;

use k8s_openapi::NamespaceResourceScope;
use k8s_openapi::api::batch::v1::{CronJob, CronJobStatus, Job, JobStatus};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use serde::Deserialize;

use crate::stream::{
    ANNOTATION_BACKFILL_REQUEST, ANNOTATION_CONFIGURATION_HASH, ANNOTATION_RESTARTS,
    ANNOTATION_STREAM_GENERATION, LABEL_BACKFILLING,
};

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

/// The labels a decision reads back on a workload.
const KEPT_LABELS: [&str; 1] = [LABEL_BACKFILLING];
/// The annotations a decision reads back on a workload.
const KEPT_ANNOTATIONS: [&str; 4] = [
    ANNOTATION_CONFIGURATION_HASH,
    ANNOTATION_BACKFILL_REQUEST,
    ANNOTATION_STREAM_GENERATION,
    ANNOTATION_RESTARTS,
];
const KEPT: usize = KEPT_LABELS.len() + KEPT_ANNOTATIONS.len();
const ABSENT: (u32, u32) = (u32::MAX, u32::MAX);

/// The values of the labels and annotations a decision reads (`KEPT_LABELS`, then
/// `KEPT_ANNOTATIONS`), in one allocation: `spans[i]` is the range of value `i` in `text`.
#[derive(Clone, Debug, PartialEq)]
pub struct Kept {
    text: Box<str>,
    spans: [(u32, u32); KEPT],
}

impl Default for Kept {
    fn default() -> Self {
        Kept {
            text: Box::default(),
            spans: [ABSENT; KEPT],
        }
    }
}

impl Kept {
    /// Moves the kept labels and annotations out of `meta` (the others are dropped).
    fn take_from(&mut self, meta: &mut ObjectMeta) {
        let labels = meta.labels.take().unwrap_or_default();
        let annotations = meta.annotations.take().unwrap_or_default();
        let values = KEPT_LABELS
            .iter()
            .map(|k| labels.get(*k))
            .chain(KEPT_ANNOTATIONS.iter().map(|k| annotations.get(*k)));
        let mut text = String::new();
        let mut spans = [ABSENT; KEPT];
        for (span, value) in spans.iter_mut().zip(values) {
            if let Some(value) = value {
                let start = text.len();
                text.push_str(value);
                // A value past 4 GiB cannot be served; kept as absent rather than truncated.
                if let (Ok(a), Ok(b)) = (u32::try_from(start), u32::try_from(text.len())) {
                    *span = (a, b);
                }
            }
        }
        self.text = text.into_boxed_str();
        self.spans = spans;
    }

    fn value(&self, i: usize) -> Option<&str> {
        let (a, b) = *self.spans.get(i)?;
        if (a, b) == ABSENT {
            return None;
        }
        self.text.get(a as usize..b as usize)
    }

    fn map(&self, keys: &[&str], offset: usize) -> Option<BTreeMap<String, String>> {
        let map: BTreeMap<String, String> = keys
            .iter()
            .enumerate()
            .filter_map(|(i, k)| Some((k.to_string(), self.value(offset + i)?.to_string())))
            .collect();
        (!map.is_empty()).then_some(map)
    }

    /// Puts them back (a workload that was never compacted keeps its own).
    fn restore_into(&self, meta: &mut ObjectMeta) {
        if meta.labels.is_none() {
            meta.labels = self.map(&KEPT_LABELS, 0);
        }
        if meta.annotations.is_none() {
            meta.annotations = self.map(&KEPT_ANNOTATIONS, KEPT_LABELS.len());
        }
    }

    fn annotation(&self, key: &str) -> Option<&str> {
        let i = KEPT_ANNOTATIONS.iter().position(|k| *k == key)?;
        self.value(KEPT_LABELS.len() + i)
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
        assert_eq!(cached.annotation("arcane/backfill-request"), None);
        let job = cached.to_workload();
        let labels = job.metadata.labels.expect("labels");
        assert_eq!(
            labels.into_iter().collect::<Vec<_>>(),
            [("arcane/backfilling".to_string(), "false".to_string())]
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
        // An empty value is kept as present; a workload without any keeps none.
        let mut bare: CachedJob = serde_json::from_value(json!({
            "metadata": {"name": "b", "annotations": {"arcane/backfill-request": ""}},
        }))
        .expect("a Job parses");
        bare.compact();
        assert_eq!(bare.annotation("arcane/backfill-request"), Some(""));
        assert_eq!(bare.annotation("configuration-hash"), None);
        let workload = bare.to_workload();
        assert!(workload.metadata.labels.is_none());
        assert_eq!(workload.metadata.annotations.map(|a| a.len()), Some(1));
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
