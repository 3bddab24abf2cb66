//! Workloads as the operator caches them: metadata and status, never the spec.
//!
//! The operator decides from a workload's labels, annotations (configuration hash, backfill
//! request), owner references and status; it never reads the pod template back, which is most of
//! a served Job (`STREAMCONTEXT__SPEC` repeats the stream's spec in every container). Watching
//! into these types skips the spec while deserializing, and a cached Job takes about 600 bytes
//! in place of a `k8s_openapi` Job's 2.6 kB before any of its heap data (arcane-bench L1,
//! heaptrack: the Job cache was 26 MB of the heap at 10,000 streams).

use std::borrow::Cow;

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
        }

        impl From<$name> for $full {
            fn from(cached: $name) -> $full {
                $full {
                    metadata: cached.metadata,
                    spec: None,
                    status: cached.status,
                }
            }
        }
    };
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
