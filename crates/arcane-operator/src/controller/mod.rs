//! Controllers: the StreamClass controller, one stream controller per class, and the command
//! handlers that perform decisions. Everything here does I/O; the decisions are in [`crate::stream`].

pub mod cached;
pub mod class_controller;
pub mod compact;
pub mod context;
pub mod error;
pub mod events;
pub mod fanout;
pub mod handlers;
mod memory;
pub mod observe;
mod orphans;
pub mod queue;
mod runner;
pub mod stream_controller;
mod written;

use std::sync::Arc;

use kube::Client;
use tokio_util::sync::CancellationToken;

use crate::telemetry::Metrics;

pub use context::{Config, Context, SharedWatches};
pub use error::Error;

/// How long a shutdown waits for Events still being sent.
const EVENT_DRAIN: std::time::Duration = std::time::Duration::from_secs(2);

/// A running operator: its shared watches and the StreamClass controller.
pub struct Operator {
    pub ctx: Arc<Context>,
    shutdown: CancellationToken,
    tasks: Vec<tokio::task::JoinHandle<()>>,
    class_task: tokio::task::JoinHandle<()>,
}

impl Operator {
    /// Starts the operator on the current Tokio runtime.
    pub fn start(client: Client, config: Config) -> Operator {
        Operator::start_with_metrics(client, config, Metrics::new())
    }

    /// Starts the operator, recording into `metrics`.
    pub fn start_with_metrics(client: Client, config: Config, metrics: Metrics) -> Operator {
        let (shared, tasks) = SharedWatches::start(&client, config.namespace.as_deref());
        let ctx = Arc::new(Context::new(client, config, shared, metrics));
        let shutdown = CancellationToken::new();
        let class_task = tokio::spawn(class_controller::run(ctx.clone(), shutdown.clone()));
        Operator {
            ctx,
            shutdown,
            tasks,
            class_task,
        }
    }

    /// Whether every watch has finished its initial list.
    pub fn is_ready(&self) -> bool {
        self.ctx.is_ready()
    }

    /// A readiness check that outlives borrows of the operator (for the probe server).
    pub fn readiness(&self) -> impl Fn() -> bool + Send + Sync + 'static {
        let ctx = self.ctx.clone();
        move || ctx.is_ready()
    }

    /// Stops at once, without letting in-flight reconciles finish: for a lost leadership, when
    /// another replica may already be acting.
    pub fn halt(self) {
        self.ctx.halt.cancel();
        self.shutdown.cancel();
        self.class_task.abort();
        for task in self.tasks {
            task.abort();
        }
    }

    /// Stops taking work, lets in-flight reconciles finish, and returns when everything stopped.
    pub async fn shutdown(self) {
        self.shutdown.cancel();
        let _ = self.class_task.await;
        self.ctx.recorder.drain(EVENT_DRAIN).await;
        for task in self.tasks {
            task.abort();
        }
    }
}
