//! BackfillRequests of a class that name a stream the class does not have: no stream reconcile
//! ever sees them, so without this they would wait in silence (no status, no Event, no log).

use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use kube::ResourceExt;
use kube::api::{ApiResource, DynamicObject};
use kube::runtime::reflector::{ObjectRef, Store};

use super::context::Context;
use super::handlers;
use crate::crd::{BackfillRequest, StreamClass};
use crate::stream::Command;
use crate::stream::decide::{unknown_class, unknown_stream};

/// How often the requests of the class are checked besides on every request change: a stream
/// deleted after its request was recorded is not a request change.
const PERIOD: Duration = Duration::from_secs(10);

/// Records every active request of `class` naming a stream missing from `streams` (the class's
/// cache, once listed) as `Pending` with the reason, until the controller stops.
pub async fn report(ctx: Arc<Context>, class: String, resource: ApiResource, streams: Store<DynamicObject>) {
    // kube's readiness signal wakes only the last task that polled it: poll on a short timer.
    loop {
        match tokio::time::timeout(Duration::from_millis(200), streams.wait_until_ready()).await {
            Ok(Ok(())) => break,
            Ok(Err(_)) => return,
            Err(_) => continue,
        }
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
        for request in requests.iter().filter(|r| r.spec.stream_class == class) {
            let namespace = request.namespace().unwrap_or_default();
            let key = ObjectRef::new_with(&request.spec.stream_id, resource.clone()).within(&namespace);
            if streams.get(&key).is_some() {
                continue;
            }
            let Some(command) = unknown_stream(request, &resource.kind) else {
                continue;
            };
            record(&ctx, request, &command).await;
        }
    }
}

/// Records every active request naming a StreamClass missing from `classes` (the StreamClass
/// controller's cache) as `Pending` with the reason, until the operator stops.
pub async fn report_unknown_classes(ctx: Arc<Context>, classes: Store<StreamClass>) {
    loop {
        match tokio::time::timeout(Duration::from_millis(200), classes.wait_until_ready()).await {
            Ok(Ok(())) => break,
            Ok(Err(_)) => return,
            Err(_) => continue,
        }
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
            if classes.get(&ObjectRef::new(&request.spec.stream_class)).is_some() {
                continue;
            }
            if let Some(command) = unknown_class(request) {
                record(&ctx, request, &command).await;
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
