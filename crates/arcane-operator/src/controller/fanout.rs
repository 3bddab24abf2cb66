//! Shared watches: one reflector per watched type, fanned out to every stream controller, so the
//! number of watch connections does not grow with the number of classes.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use futures::channel::mpsc;
use futures::{Stream, StreamExt};
use kube::runtime::WatchStreamExt;
use kube::runtime::reflector::{self, Store};
use kube::runtime::watcher::{self, Event};
use kube::{Api, Resource};
use serde::de::DeserializeOwned;
use tokio::sync::Notify;

use crate::telemetry::{WatchHealth, WatchTarget};

/// A cached, shared watch of one type: a store for lookups and subscriptions for triggers.
pub struct SharedWatch<K: Resource<DynamicType = ()> + Clone + 'static> {
    store: Store<K>,
    subscribers: Mutex<Vec<mpsc::UnboundedSender<Arc<K>>>>,
    /// Woken on every change this watch applies to its store.
    changed: Arc<Notify>,
    ready: AtomicBool,
    name: &'static str,
    /// Failures of this watch, logged once and rate-limited; readiness reads it.
    health: Arc<WatchHealth>,
}

/// Drops `managedFields`: half of a served object's size, and the operator never reads them.
pub fn trim_managed_fields<K: Resource>(obj: &mut K) {
    obj.meta_mut().managed_fields = None;
}

/// What a shared cache keeps of each object it receives.
pub trait Compact {
    /// Drops what the operator never reads, before the object is cached.
    fn compact(&mut self);
}

impl Compact for super::cached::CachedJob {
    fn compact(&mut self) {
        super::cached::CachedJob::compact(self);
    }
}

impl Compact for super::cached::CachedCronJob {
    fn compact(&mut self) {
        super::cached::CachedCronJob::compact(self);
    }
}

impl Compact for crate::crd::BackfillRequest {
    fn compact(&mut self) {
        trim_managed_fields(self);
    }
}

impl Compact for crate::crd::StreamingJobTemplate {
    fn compact(&mut self) {
        trim_managed_fields(self);
    }
}

impl<K> SharedWatch<K>
where
    K: Resource<DynamicType = ()>
        + Compact
        + Clone
        + DeserializeOwned
        + std::fmt::Debug
        + Send
        + Sync
        + 'static,
{
    /// Starts watching `api` with `config`; returns the shared handle and the future that drives
    /// the watch (run it as a task). `changed` is woken whenever the store changes.
    pub fn start(
        name: &'static str,
        api: Api<K>,
        config: watcher::Config,
        changed: Arc<Notify>,
    ) -> (Arc<Self>, impl std::future::Future<Output = ()> + Send + 'static) {
        let (store, writer) = reflector::store();
        let target = WatchTarget {
            name: name.to_string(),
            class: None,
            group: K::group(&()).to_string(),
            version: K::version(&()).to_string(),
            kind: K::kind(&()).to_string(),
            plural: K::plural(&()).to_string(),
            fix_not_found: if K::group(&()) == "streaming.sneaksanddata.com" {
                super::context::OWN_CRDS_FIX.to_string()
            } else {
                "the API server must serve it".to_string()
            },
        };
        let shared = Arc::new(SharedWatch {
            store,
            subscribers: Mutex::new(Vec::new()),
            changed,
            ready: AtomicBool::new(false),
            name,
            health: WatchHealth::new(target, None),
        });
        let driver = {
            let shared = shared.clone();
            let events = watcher::watcher(api, config)
                .default_backoff()
                .modify(K::compact)
                .reflect(writer);
            async move { shared.drive(events).await }
        };
        (shared, driver)
    }

    async fn drive(&self, events: impl Stream<Item = watcher::Result<Event<K>>>) {
        let mut events = std::pin::pin!(events);
        while let Some(event) = events.next().await {
            self.health.observe(&event);
            match event {
                Ok(Event::Apply(obj) | Event::Delete(obj) | Event::InitApply(obj)) => self.publish(obj),
                Ok(Event::InitDone) => {
                    if !self.ready.swap(true, Ordering::SeqCst) {
                        tracing::debug!(watch = self.name, "initial list complete");
                    }
                }
                Ok(Event::Init) => {}
                // Logged by `health`: once, with the fix, then rate-limited.
                Err(_) => {}
            }
        }
    }

    fn publish(&self, obj: K) {
        // The store holds the change already (`reflect` runs first).
        self.changed.notify_waiters();
        let obj = Arc::new(obj);
        let mut subscribers = self
            .subscribers
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        subscribers.retain(|tx| tx.unbounded_send(obj.clone()).is_ok());
    }

    /// A stream of every object change seen from now on (applied or deleted objects).
    pub fn subscribe(&self) -> impl Stream<Item = Arc<K>> + Send + 'static {
        let (tx, rx) = mpsc::unbounded();
        self.subscribers
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .push(tx);
        rx
    }

    /// The cache of this watch.
    pub fn store(&self) -> &Store<K> {
        &self.store
    }

    /// Whether the initial list has completed and the watch is not misconfigured (forbidden,
    /// or its kind no longer served).
    pub fn is_ready(&self) -> bool {
        self.ready.load(Ordering::SeqCst) && !self.health.misconfigured()
    }

    /// The health of this watch.
    pub fn health(&self) -> &Arc<WatchHealth> {
        &self.health
    }

    pub fn name(&self) -> &'static str {
        self.name
    }
}
