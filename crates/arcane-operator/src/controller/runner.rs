//! The stream controller's runner: triggers into a FIFO [`WorkQueue`], `concurrency` workers
//! reconciling from it. It takes the place of kube-runtime's `Controller`, whose scheduler hands
//! out the triggers due under load in hash-set order (see [`super::queue`]).
//!
//! What it keeps from kube's `Controller`: every trigger queues the stream's key; a stream not in
//! the cache when its turn comes is dropped; no reconcile starts before the cache holds its initial
//! list; a stream never reconciles twice at once; a requeue or retry comes back after its delay;
//! a shutdown lets the reconciles in flight finish and starts no other.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use futures::{Stream, StreamExt};
use kube::api::{ApiResource, DynamicObject};
use kube::runtime::reflector::ObjectRef;
use tokio_util::sync::CancellationToken;

use super::compact::{StreamCache, StreamKey};
use super::queue::WorkQueue;

/// What a reconcile asks for next: `Some(delay)` to run again after `delay`, `None` to wait
/// for a change.
pub(super) type Requeue = Option<Duration>;

/// Runs `reconcile` over the streams of `store`, triggered by `triggers`, with `concurrency`
/// workers, until `shutdown`. `missing` is told of a triggered stream no longer in the cache.
/// `triggers` drives the watch that fills `store`.
pub(super) async fn run<T, R, RF, M>(
    store: StreamCache,
    resource: ApiResource,
    triggers: T,
    concurrency: u16,
    shutdown: CancellationToken,
    reconcile: R,
    missing: M,
) where
    T: Stream<Item = Vec<StreamKey>> + Send,
    R: Fn(Arc<DynamicObject>) -> RF,
    RF: Future<Output = Requeue>,
    M: Fn(&ObjectRef<DynamicObject>),
{
    let queue = Arc::new(WorkQueue::<StreamKey>::default());
    let feed = {
        let queue = queue.clone();
        triggers.for_each(move |keys| {
            keys.into_iter().for_each(|k| queue.add(k));
            std::future::ready(())
        })
    };
    let work = async {
        if !listed(&store, &shutdown).await {
            return;
        }
        let workers = (0..concurrency.max(1)).map(|_| async {
            while let Some(key) = queue.next().await {
                match store.get(&key) {
                    Some(object) => {
                        if let Some(delay) = reconcile(object).await {
                            queue.add_after(key.clone(), delay);
                        }
                    }
                    None => missing(&key.object_ref(&resource)),
                }
                queue.done(&key);
            }
        });
        futures::future::join_all(workers).await;
    };
    let stop = async {
        shutdown.cancelled().await;
        queue.shutdown();
    };
    // The feed drives the stream cache's watch: it runs until the workers have stopped.
    tokio::select! {
        _ = feed => {}
        _ = futures::future::join(work, stop) => {}
    }
}

/// Waits until `store` holds its initial list; false when stopped first.
async fn listed(store: &StreamCache, shutdown: &CancellationToken) -> bool {
    tokio::select! {
        _ = store.wait_until_ready() => true,
        _ = shutdown.cancelled() => false,
    }
}
