//! Controllers: the StreamClass controller, one stream controller per class, and the command
//! handlers that perform decisions. Everything here does I/O; the decisions are in [`crate::stream`].

pub mod class_controller;
pub mod context;
pub mod error;
pub mod fanout;
pub mod handlers;
pub mod observe;
pub mod stream_controller;

use std::sync::Arc;

use kube::Client;
use tokio_util::sync::CancellationToken;

pub use context::{Config, Context, SharedWatches};
pub use error::Error;

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
        let (shared, tasks) = SharedWatches::start(&client, config.namespace.as_deref());
        let ctx = Arc::new(Context::new(client, config, shared));
        let shutdown = CancellationToken::new();
        let class_task = tokio::spawn(class_controller::run(ctx.clone(), shutdown.clone()));
        Operator {
            ctx,
            shutdown,
            tasks,
            class_task,
        }
    }

    /// Whether every shared watch has finished its initial list.
    pub fn is_ready(&self) -> bool {
        self.ctx.shared.is_ready()
    }

    /// Stops taking work, lets in-flight reconciles finish, and returns when everything stopped.
    pub async fn shutdown(self) {
        self.shutdown.cancel();
        let _ = self.class_task.await;
        for task in self.tasks {
            task.abort();
        }
    }
}
