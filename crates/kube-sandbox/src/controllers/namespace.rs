//! The namespace controller: a Namespace being deleted keeps its `kubernetes` finalizer (in `spec.finalizers`)
//! until everything in it is gone, as upstream's namespace lifecycle controller does; then the finalizer goes
//! and the store removes the Namespace.

use std::time::Duration;

use serde_json::{Value, json};
use tokio::time::Instant;
use tracing::debug;

use super::queue::DelayQueue;
use super::util::{is_deleting, name, namespace};
use crate::store::{
    ApiError, DeleteOptions, EventKind, Gvr, Propagation, Store, StoreEvent, Subresource, WriteOptions,
};

pub const KUBERNETES_FINALIZER: &str = "kubernetes";
const MANAGER: &str = "namespace-controller";

fn namespaces_gvr() -> Gvr {
    Gvr::new("", "v1", "namespaces")
}

pub struct NsSim {
    queue: DelayQueue<String>,
    delay: Duration,
}

impl NsSim {
    pub fn new(delay: Duration) -> Self {
        NsSim {
            queue: DelayQueue::default(),
            delay,
        }
    }

    pub fn next_deadline(&self) -> Option<Instant> {
        self.queue.next_deadline()
    }

    pub fn resync(&mut self, store: &Store) {
        let (all, _) = store.list_arc(&namespaces_gvr(), None);
        for ns in all.iter().filter(|n| is_deleting(n)) {
            self.queue
                .schedule(name(ns).to_owned(), Instant::now() + self.delay);
        }
    }

    pub fn on_event(&mut self, store: &Store, event: &StoreEvent) {
        if event.gvr == namespaces_gvr() {
            if is_deleting(&event.object) || event.kind == EventKind::Deleted {
                self.queue
                    .schedule(name(&event.object).to_owned(), Instant::now() + self.delay);
            }
        } else if event.kind == EventKind::Deleted
            && let Some(ns) = namespace(&event.object)
            && store
                .get_arc(&namespaces_gvr(), None, ns)
                .is_some_and(|n| is_deleting(&n))
        {
            // Content went away: maybe the last of it.
            self.queue.schedule(ns.to_owned(), Instant::now() + self.delay);
        }
    }

    pub fn process_due(&mut self, store: &Store) {
        for ns in self.queue.pop_due(Instant::now(), 16) {
            if let Err(e) = finalize(store, &ns) {
                debug!(namespace = ns, error = %e, "namespace controller retry");
                self.queue
                    .schedule(ns, Instant::now() + self.delay.max(Duration::from_millis(200)));
            }
        }
    }
}

/// Deletes the namespace's content; once nothing is left, drops the `kubernetes` finalizer.
fn finalize(store: &Store, ns: &str) -> Result<(), ApiError> {
    let namespace_obj = store.get_arc(&namespaces_gvr(), None, ns);
    if namespace_obj.as_ref().is_some_and(|n| !is_deleting(n)) {
        return Ok(());
    }
    let mut remaining = 0;
    for info in store.types().into_iter().filter(|t| t.namespaced) {
        let (objects, _) = store.list_arc(&info.gvr, Some(ns));
        remaining += objects.len();
        for obj in objects.iter().filter(|o| !is_deleting(o)) {
            let opts = DeleteOptions {
                propagation: Some(Propagation::Background),
                ..DeleteOptions::default()
            };
            match store.delete_ext(&info.gvr, Some(ns), name(obj), &opts) {
                Err(e) if e.code != 404 => return Err(e),
                _ => {}
            }
        }
    }
    let Some(namespace_obj) = namespace_obj else {
        return Ok(());
    };
    if remaining > 0 {
        // Objects with finalizers of their own: their DELETED events bring us back.
        return Ok(());
    }
    let holds = namespace_obj
        .pointer("/spec/finalizers")
        .and_then(Value::as_array)
        .is_some_and(|f| f.iter().any(|x| x.as_str() == Some(KUBERNETES_FINALIZER)));
    if !holds {
        return Ok(());
    }
    store
        .mutate(
            &namespaces_gvr(),
            None,
            ns,
            Subresource::Main,
            &WriteOptions::manager(MANAGER),
            |cur| {
                let mut next = cur
                    .cloned()
                    .ok_or_else(|| ApiError::not_found(&namespaces_gvr(), ns))?;
                let kept: Vec<Value> = next
                    .pointer("/spec/finalizers")
                    .and_then(Value::as_array)
                    .map(|f| {
                        f.iter()
                            .filter(|x| x.as_str() != Some(KUBERNETES_FINALIZER))
                            .cloned()
                            .collect()
                    })
                    .unwrap_or_default();
                next["spec"]["finalizers"] = json!(kept);
                Ok(next)
            },
        )
        .map(|_| ())
}
