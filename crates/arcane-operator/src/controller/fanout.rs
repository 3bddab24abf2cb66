//! Shared watches: one reflector per watched type, fanned out to every stream controller, so the
//! number of watch connections does not grow with the number of classes.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use futures::channel::mpsc;
use futures::{Stream, StreamExt};
use k8s_openapi::api::batch::v1::{CronJob, Job, JobSpec, JobTemplateSpec};
use k8s_openapi::api::core::v1::PodTemplateSpec;
use kube::runtime::WatchStreamExt;
use kube::runtime::reflector::{self, Store};
use kube::runtime::watcher::{self, Event};
use kube::{Api, Resource};
use serde::de::DeserializeOwned;

/// A cached, shared watch of one type: a store for lookups and subscriptions for triggers.
pub struct SharedWatch<K: Resource<DynamicType = ()> + Clone + 'static> {
    store: Store<K>,
    subscribers: Mutex<Vec<mpsc::UnboundedSender<Arc<K>>>>,
    ready: AtomicBool,
    name: &'static str,
}

/// Drops `managedFields`: half of a served object's size, and the operator never reads them.
pub fn trim_managed_fields<K: Resource>(obj: &mut K) {
    obj.meta_mut().managed_fields = None;
}

/// A cached Job keeps its metadata and status: the operator decides from labels, annotations
/// (configuration hash, backfill request), owner references and conditions, never from the pod
/// template, which is most of a Job's size (`STREAMCONTEXT__SPEC` repeats the stream's spec in
/// every container).
pub fn trim_job(job: &mut Job) {
    trim_managed_fields(job);
    if let Some(spec) = job.spec.as_mut() {
        *spec = JobSpec {
            template: PodTemplateSpec::default(),
            ..JobSpec::default()
        };
    }
}

/// A cached CronJob keeps its metadata and status, for the same reason as [`trim_job`].
pub fn trim_cronjob(cronjob: &mut CronJob) {
    trim_managed_fields(cronjob);
    if let Some(spec) = cronjob.spec.as_mut() {
        spec.job_template = JobTemplateSpec::default();
    }
}

impl<K> SharedWatch<K>
where
    K: Resource<DynamicType = ()> + Clone + DeserializeOwned + std::fmt::Debug + Send + Sync + 'static,
{
    /// Starts watching `api` with `config`; returns the shared handle and the future that drives
    /// the watch (run it as a task). Every object is passed through `trim` before it is cached:
    /// what the operator never reads need not be held.
    pub fn start(
        name: &'static str,
        api: Api<K>,
        config: watcher::Config,
        trim: fn(&mut K),
    ) -> (Arc<Self>, impl std::future::Future<Output = ()> + Send + 'static) {
        let (store, writer) = reflector::store();
        let shared = Arc::new(SharedWatch {
            store,
            subscribers: Mutex::new(Vec::new()),
            ready: AtomicBool::new(false),
            name,
        });
        let driver = {
            let shared = shared.clone();
            let events = watcher::watcher(api, config)
                .default_backoff()
                .modify(move |obj: &mut K| trim(obj))
                .reflect(writer);
            async move { shared.drive(events).await }
        };
        (shared, driver)
    }

    async fn drive(&self, events: impl Stream<Item = watcher::Result<Event<K>>>) {
        let mut events = std::pin::pin!(events);
        while let Some(event) = events.next().await {
            match event {
                Ok(Event::Apply(obj) | Event::Delete(obj) | Event::InitApply(obj)) => self.publish(obj),
                Ok(Event::InitDone) => {
                    if !self.ready.swap(true, Ordering::SeqCst) {
                        tracing::debug!(watch = self.name, "initial list complete");
                    }
                }
                Ok(Event::Init) => {}
                Err(error) => tracing::warn!(watch = self.name, %error, "watch error, retrying"),
            }
        }
    }

    fn publish(&self, obj: K) {
        let obj = Arc::new(obj);
        let mut subscribers = self.subscribers.lock().unwrap_or_else(|e| e.into_inner());
        subscribers.retain(|tx| tx.unbounded_send(obj.clone()).is_ok());
    }

    /// A stream of every object change seen from now on (applied or deleted objects).
    pub fn subscribe(&self) -> impl Stream<Item = Arc<K>> + Send + 'static {
        let (tx, rx) = mpsc::unbounded();
        self.subscribers
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(tx);
        rx
    }

    /// The cache of this watch.
    pub fn store(&self) -> &Store<K> {
        &self.store
    }

    /// Whether the initial list has completed.
    pub fn is_ready(&self) -> bool {
        self.ready.load(Ordering::SeqCst)
    }

    pub fn name(&self) -> &'static str {
        self.name
    }
}
