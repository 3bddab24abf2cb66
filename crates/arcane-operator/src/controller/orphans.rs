//! BackfillRequests no stream reconcile ever sees — naming a stream its class does not have, or a
//! StreamClass that does not exist: without this they would wait in silence (no status, no Event,
//! no log). Each is recorded once as `Pending` with the reason; the decision is
//! [`unknown_stream`] / [`unknown_class`].

use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use kube::ResourceExt;
use kube::api::ApiResource;
use kube::runtime::reflector::{ObjectRef, Store};

use super::compact::{StreamCache, StreamKey};
use super::context::Context;
use super::handlers;
use crate::crd::{BackfillRequest, StreamClass};
use crate::stream::Command;
use crate::stream::decide::{unknown_class, unknown_stream};

/// How often every request is checked besides on each request change: a stream or class deleted
/// after its request was recorded is not a request change.
const PERIOD: Duration = Duration::from_secs(10);

/// Records every active request of `class` naming a stream missing from `streams` (the class's
/// cache, once listed), until the controller stops.
pub(super) async fn report(ctx: Arc<Context>, class: String, resource: ApiResource, streams: StreamCache) {
    let listed = async {
        streams.wait_until_ready().await;
        true
    };
    watch_requests(&ctx, listed, |request| {
        if request.spec.stream_class != class {
            return None;
        }
        let key = StreamKey {
            namespace: Some(request.namespace().unwrap_or_default()),
            name: request.spec.stream_id.clone(),
        };
        if streams.contains(&key) {
            return None;
        }
        unknown_stream(request, &resource.kind)
    })
    .await;
}

/// Records every active request naming a StreamClass missing from `classes` (the StreamClass
/// controller's cache), until the operator stops.
pub(super) async fn report_unknown_classes(ctx: Arc<Context>, classes: Store<StreamClass>) {
    watch_requests(&ctx, listed(&classes), |request| {
        let known = classes.get(&ObjectRef::new(&request.spec.stream_class)).is_some();
        if known { None } else { unknown_class(request) }
    })
    .await;
}

/// Whether `store` has listed (waiting for it); false when its writer is gone.
async fn listed<K>(store: &Store<K>) -> bool
where
    K: kube::Resource + Clone + 'static,
    K::DynamicType: std::hash::Hash + Eq + Clone,
{
    // kube's readiness signal wakes only the last task that polled it: poll on a short timer.
    loop {
        match tokio::time::timeout(Duration::from_millis(200), store.wait_until_ready()).await {
            Ok(Ok(())) => return true,
            Ok(Err(_)) => return false,
            Err(_) => {}
        }
    }
}

/// Once `listed` says the cache has listed, runs `decide` on each request as it changes and on
/// all of them every [`PERIOD`], carrying out the command it returns.
async fn watch_requests(
    ctx: &Context,
    listed: impl std::future::Future<Output = bool>,
    decide: impl Fn(&BackfillRequest) -> Option<Command>,
) {
    if !listed.await {
        return;
    }
    let mut changes = std::pin::pin!(ctx.shared.requests.subscribe());
    let mut tick = tokio::time::interval(PERIOD);
    loop {
        let requests: Vec<Arc<BackfillRequest>> = tokio::select! {
            _ = tick.tick() => ctx.shared.requests.store().state(),
            changed = changes.next() => match changed {
                Some(request) => vec![request],
                None => return,
            },
        };
        for request in &requests {
            if let Some(command) = decide(request) {
                record(ctx, request, &command).await;
            }
        }
    }
}

async fn record(ctx: &Context, request: &BackfillRequest, command: &Command) {
    let namespace = request.namespace().unwrap_or_default();
    if let Err(error) = handlers::execute_for_request(ctx, &namespace, command).await {
        tracing::warn!(
            %namespace,
            request = %request.name_any(),
            %error,
            "cannot record why the BackfillRequest waits"
        );
    }
}
