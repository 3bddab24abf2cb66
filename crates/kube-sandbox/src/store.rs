//! The in-memory object store: one global resourceVersion counter, per-type object maps and bounded event
//! histories for watch replay, and two broadcasts (shared `Change`s for HTTP watchers, `StoreEvent`s for controllers).
//!
//! All writes happen under one short mutex; the lock covers map updates, cheap `Arc` clones and non-blocking
//! broadcast sends only (sending under the lock keeps every stream in resourceVersion order).

mod error;
pub mod meta;
pub(crate) mod names;
mod stored;
mod types;
pub(crate) mod validate;
pub mod write;

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::Arc;

use parking_lot::{Mutex, RwLock};
use serde_json::Value;
use tokio::sync::broadcast;

pub use error::{ApiError, Cause};
pub use stored::Stored;
use types::NewChange;
pub use types::{
    Change, CrdFacts, DeleteOptions, DeleteOutcome, EventKind, Gvr, NoStrategy, Propagation, ResourceInfo,
    StoreEvent, Strategy, Subresource, WriteOptions,
};
pub use write::Written;

/// Tunables of the store.
#[derive(Clone, Debug)]
pub struct StoreConfig {
    /// Events kept per resource type for watch replay; older resourceVersions answer 410 Expired.
    pub history_per_type: usize,
    /// Bytes of stored objects (JSON) the watch history of one type may hold; the oldest events go first, as
    /// with `history_per_type`. Keeps 100,000 large objects from holding gigabytes of history.
    pub history_bytes_per_type: usize,
    /// Capacity of the broadcast feeding HTTP watchers; a watcher that falls this far behind is closed.
    pub watch_buffer: usize,
    /// Capacity of the broadcast feeding controllers (`subscribe`).
    pub event_buffer: usize,
}

impl Default for StoreConfig {
    fn default() -> Self {
        StoreConfig {
            history_per_type: 10_000,
            history_bytes_per_type: 16 << 20,
            watch_buffer: 16_384,
            event_buffer: 16_384,
        }
    }
}

type Key = (String, String);

struct TypeState {
    info: Arc<ResourceInfo>,
    objects: BTreeMap<Key, Stored>,
    history: VecDeque<Arc<Change>>,
    /// Estimated size of each history entry's object, and their sum.
    history_sizes: VecDeque<usize>,
    history_bytes: usize,
    /// Every event with rv > floor is in `history`; watching from an older rv is 410.
    floor: u64,
}

struct Inner {
    rv: u64,
    types: HashMap<Gvr, TypeState>,
}

struct Shared {
    inner: Mutex<Inner>,
    changes: broadcast::Sender<Arc<Change>>,
    /// The same shared changes for controllers ([`EventReceiver`] parses each one as it is received).
    events: broadcast::Sender<Arc<Change>>,
    strategy: RwLock<Arc<dyn Strategy>>,
    config: StoreConfig,
}

/// Cheap to clone: all clones share one store.
#[derive(Clone)]
pub struct Store {
    shared: Arc<Shared>,
}

/// Where a watch starts: the events to send first, then the live receiver.
pub struct WatchStart {
    /// Replayed history (rv > the requested one) or synthetic ADDED events for the current state.
    pub backlog: Vec<Arc<Change>>,
    /// Live changes of every type; the receiver was created atomically with the backlog.
    pub rx: broadcast::Receiver<Arc<Change>>,
    /// The global resourceVersion when the watch started.
    pub rv: u64,
}

pub fn namespaces_gvr() -> Gvr {
    Gvr::new("", "v1", "namespaces")
}

fn key(namespace: Option<&str>, name: &str) -> Key {
    (namespace.unwrap_or("").to_string(), name.to_string())
}

/// A controller's subscription to every change ([`Store::subscribe`]). The channel holds the changes as stored
/// (JSON bytes, shared with the watch history), and each receiver parses what it receives: a controller that
/// falls behind costs `event_buffer` serialized changes, not as many parsed objects (ten times the size).
pub struct EventReceiver(broadcast::Receiver<Arc<Change>>);

impl EventReceiver {
    pub async fn recv(&mut self) -> Result<StoreEvent, broadcast::error::RecvError> {
        self.0.recv().await.map(|c| StoreEvent::of(&c))
    }

    /// The next change as stored, for a subscriber that parses only the changes it needs.
    pub async fn recv_change(&mut self) -> Result<Arc<Change>, broadcast::error::RecvError> {
        self.0.recv().await
    }

    pub fn try_recv(&mut self) -> Result<StoreEvent, broadcast::error::TryRecvError> {
        self.0.try_recv().map(|c| StoreEvent::of(&c))
    }
}

impl Default for Store {
    fn default() -> Self {
        Store::new(StoreConfig::default())
    }
}

impl Store {
    /// An empty store with no types registered (see `registry::new_store` for one with the built-in types).
    pub fn new(config: StoreConfig) -> Self {
        let (changes, _) = broadcast::channel(config.watch_buffer.max(16));
        let (events, _) = broadcast::channel(config.event_buffer.max(16));
        Store {
            shared: Arc::new(Shared {
                inner: Mutex::new(Inner {
                    rv: 1,
                    types: HashMap::new(),
                }),
                changes,
                events,
                strategy: RwLock::new(Arc::new(NoStrategy)),
                config,
            }),
        }
    }

    pub fn set_strategy(&self, strategy: Arc<dyn Strategy>) {
        *self.shared.strategy.write() = strategy;
    }

    fn strategy(&self) -> Arc<dyn Strategy> {
        self.shared.strategy.read().clone()
    }

    /// Makes a type served by the store; re-registering keeps its objects and replaces its facts.
    pub fn register_type(&self, info: ResourceInfo) {
        let mut inner = self.shared.inner.lock();
        let floor = inner.rv;
        let gvr = info.gvr.clone();
        match inner.types.get_mut(&gvr) {
            Some(state) => state.info = Arc::new(info),
            None => {
                inner.types.insert(
                    gvr,
                    TypeState {
                        info: Arc::new(info),
                        objects: BTreeMap::new(),
                        history: VecDeque::new(),
                        history_sizes: VecDeque::new(),
                        history_bytes: 0,
                        floor,
                    },
                );
            }
        }
    }

    /// Stops serving a type; its remaining objects are dropped without events (callers delete them first).
    pub fn unregister_type(&self, gvr: &Gvr) {
        self.shared.inner.lock().types.remove(gvr);
    }

    pub fn info(&self, gvr: &Gvr) -> Option<Arc<ResourceInfo>> {
        self.shared.inner.lock().types.get(gvr).map(|t| t.info.clone())
    }

    /// All served types, sorted by group, version, resource.
    pub fn types(&self) -> Vec<Arc<ResourceInfo>> {
        let inner = self.shared.inner.lock();
        let mut v: Vec<Arc<ResourceInfo>> = inner.types.values().map(|t| t.info.clone()).collect();
        v.sort_by(|a, b| a.gvr.cmp(&b.gvr));
        v
    }

    /// The type serving `kind` in `api_version` (`v1`, `batch/v1`), e.g. to follow an ownerReference.
    pub fn info_for_kind(&self, api_version: &str, kind: &str) -> Option<Arc<ResourceInfo>> {
        let (group, version) = api_version.rsplit_once('/').unwrap_or(("", api_version));
        let inner = self.shared.inner.lock();
        inner
            .types
            .values()
            .find(|t| t.info.kind == kind && t.info.gvr.group == group && t.info.gvr.version == version)
            .map(|t| t.info.clone())
    }

    /// The current global resourceVersion.
    pub fn current_rv(&self) -> u64 {
        self.shared.inner.lock().rv
    }

    pub fn get(&self, gvr: &Gvr, namespace: Option<&str>, name: &str) -> Option<Value> {
        self.get_arc(gvr, namespace, name).map(|v| (*v).clone())
    }

    /// Whether the object exists (nothing parsed).
    pub fn contains(&self, gvr: &Gvr, namespace: Option<&str>, name: &str) -> bool {
        self.shared
            .inner
            .lock()
            .types
            .get(gvr)
            .is_some_and(|t| t.objects.contains_key(&key(namespace, name)))
    }

    pub fn get_arc(&self, gvr: &Gvr, namespace: Option<&str>, name: &str) -> Option<Arc<Value>> {
        let inner = self.shared.inner.lock();
        let stored = inner.types.get(gvr)?.objects.get(&key(namespace, name))?.clone();
        drop(inner);
        Some(stored.decode())
    }

    pub fn list(&self, gvr: &Gvr, namespace: Option<&str>) -> (Vec<Value>, u64) {
        let (items, rv) = self.list_arc(gvr, namespace);
        (items.iter().map(|v| (**v).clone()).collect(), rv)
    }

    /// Objects sorted by namespace then name; `namespace` None = all namespaces.
    pub fn list_arc(&self, gvr: &Gvr, namespace: Option<&str>) -> (Vec<Arc<Value>>, u64) {
        let (items, rv) = self.list_stored(gvr, namespace);
        (items.iter().map(Stored::decode).collect(), rv)
    }

    /// Like [`Store::list_arc`], the objects as stored (parsed by the caller when needed, outside the lock).
    pub fn list_stored(&self, gvr: &Gvr, namespace: Option<&str>) -> (Vec<Stored>, u64) {
        let inner = self.shared.inner.lock();
        let rv = inner.rv;
        let Some(state) = inner.types.get(gvr) else {
            return (Vec::new(), rv);
        };
        let items = match namespace {
            None => state.objects.values().cloned().collect(),
            Some(ns) => state
                .objects
                .range((ns.to_string(), String::new())..)
                .take_while(|((n, _), _)| n == ns)
                .map(|(_, v)| v.clone())
                .collect(),
        };
        (items, rv)
    }

    /// Number of objects of a type in a namespace (None = all).
    pub fn count(&self, gvr: &Gvr, namespace: Option<&str>) -> usize {
        match namespace {
            None => self
                .shared
                .inner
                .lock()
                .types
                .get(gvr)
                .map_or(0, |t| t.objects.len()),
            Some(_) => self.list_stored(gvr, namespace).0.len(),
        }
    }

    /// Every change of every type, for controllers. On `Lagged` a subscriber must re-list.
    pub fn subscribe(&self) -> EventReceiver {
        EventReceiver(self.shared.events.subscribe())
    }

    /// Starts a watch on one type. `from` None = synthetic ADDED for the current state; Some(n) = replay every
    /// event with rv > n, or 410 Expired when history no longer reaches back to n.
    pub fn watch(&self, gvr: &Gvr, from: Option<u64>) -> Result<WatchStart, ApiError> {
        let inner = self.shared.inner.lock();
        let state = inner.types.get(gvr).ok_or_else(ApiError::unknown_resource)?;
        let rx = self.shared.changes.subscribe();
        let backlog = match from {
            None => state
                .objects
                .iter()
                .map(|((ns, _), stored)| {
                    Arc::new(Change {
                        gvr: gvr.clone(),
                        kind: EventKind::Added,
                        rv: meta::rv_of(&stored.decode()).unwrap_or(0),
                        namespace: (!ns.is_empty()).then(|| ns.clone()),
                        object: stored.clone(),
                        old: None,
                    })
                })
                .collect(),
            Some(n) if n < state.floor => {
                return Err(ApiError::expired(format!(
                    "too old resource version: {n} ({})",
                    state.floor
                )));
            }
            Some(n) => {
                // History is in rv order: skip the prefix at or below n.
                let start = state.history.partition_point(|c| c.rv <= n);
                state.history.iter().skip(start).cloned().collect()
            }
        };
        Ok(WatchStart {
            backlog,
            rx,
            rv: inner.rv,
        })
    }

    /// Whether a list/watch from `rv` can still be served from history for this type.
    pub fn oldest_replayable(&self, gvr: &Gvr) -> Option<u64> {
        self.shared.inner.lock().types.get(gvr).map(|t| t.floor)
    }

    /// Drops all watch history (fault injection): every watch from an older resourceVersion then gets 410.
    pub fn compact(&self) {
        let mut inner = self.shared.inner.lock();
        let rv = inner.rv;
        for state in inner.types.values_mut() {
            state.history.clear();
            state.history_sizes.clear();
            state.history_bytes = 0;
            state.floor = rv;
        }
    }

    /// Applies a committed change: bumps nothing itself (callers set rv), records history and broadcasts.
    fn publish(&self, inner: &mut Inner, new: NewChange) {
        let change = Change {
            gvr: new.gvr,
            kind: new.kind,
            rv: new.rv,
            namespace: new.namespace,
            object: Stored::encode(&new.object),
            old: new.old.as_deref().map(Stored::encode),
        };
        let limit = self.shared.config.history_per_type.max(1);
        let byte_limit = self.shared.config.history_bytes_per_type;
        let change = Arc::new(change);
        if let Some(state) = inner.types.get_mut(&change.gvr) {
            let size = change.object.bytes().len() + change.old.as_ref().map_or(0, |o| o.bytes().len());
            state.history.push_back(change.clone());
            state.history_sizes.push_back(size);
            state.history_bytes += size;
            while state.history.len() > limit || (state.history_bytes > byte_limit && state.history.len() > 1)
            {
                if let Some(old) = state.history.pop_front() {
                    state.floor = old.rv;
                }
                state.history_bytes -= state.history_sizes.pop_front().unwrap_or(0);
            }
        }
        if self.shared.events.receiver_count() > 0 {
            let _ = self.shared.events.send(change.clone());
        }
        // No receivers is not an error: nobody watches.
        let _ = self.shared.changes.send(change);
    }
}

#[cfg(test)]
mod tests;
