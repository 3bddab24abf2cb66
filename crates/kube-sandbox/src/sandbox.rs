//! The public `Sandbox` handle: starts the store, the registry task, the controllers and the HTTP server.

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;

use tokio::net::TcpListener;
use tokio::task::JoinHandle;

use crate::controllers::{self, ControllerConfig, ControllerHandle, GcSwitch};
use crate::faults::{FaultAction, FaultMatch, FaultRule, FaultSpec, Faults};
use crate::registry::{self, RegistrySwitch};
use crate::requestlog::{RequestLog, RequestRecord};
use crate::server::{self, AppState, ServerConfig};
use crate::store::{Store, StoreConfig};

#[derive(Debug, thiserror::Error)]
pub enum SandboxError {
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        addr: SocketAddr,
        source: std::io::Error,
    },
    #[error("cannot write kubeconfig {path}: {source}")]
    Kubeconfig { path: String, source: std::io::Error },
    #[error("invalid fault: {0}")]
    Fault(String),
    #[error("cannot build a client: {0}")]
    Client(String),
}

/// How to start a sandbox.
#[derive(Clone, Debug)]
pub struct SandboxConfig {
    /// Listen address; port 0 picks a free port. Keep it on loopback.
    pub listen: SocketAddr,
    pub store: StoreConfig,
    pub server: ServerConfig,
    pub controllers: ControllerConfig,
    /// Run the GC, Job and CronJob simulators (off: an API server without controllers, like envtest).
    pub run_controllers: bool,
}

impl Default for SandboxConfig {
    fn default() -> Self {
        SandboxConfig {
            listen: SocketAddr::from(([127, 0, 0, 1], 0)),
            store: StoreConfig::default(),
            server: ServerConfig::default(),
            controllers: ControllerConfig::default(),
            run_controllers: true,
        }
    }
}

/// A running sandbox. Dropping it stops the tasks; `shutdown` stops them gracefully.
pub struct Sandbox {
    state: Arc<AppState>,
    addr: SocketAddr,
    server: Option<JoinHandle<()>>,
    registry: JoinHandle<()>,
    controllers: Option<ControllerHandle>,
    stop: tokio::sync::watch::Sender<bool>,
}

impl Sandbox {
    /// Starts everything on the current tokio runtime.
    pub async fn start(config: SandboxConfig) -> Result<Sandbox, SandboxError> {
        let listener = TcpListener::bind(config.listen)
            .await
            .map_err(|source| SandboxError::Bind {
                addr: config.listen,
                source,
            })?;
        let addr = listener.local_addr().map_err(|source| SandboxError::Bind {
            addr: config.listen,
            source,
        })?;
        let store = registry::new_store(config.store.clone());
        let registry_switch = RegistrySwitch::default();
        let registry = registry::start(store.clone(), registry_switch.clone());
        let controllers = config
            .run_controllers
            .then(|| controllers::start(store.clone(), config.controllers.clone()));
        let gc = controllers
            .as_ref()
            .map_or_else(GcSwitch::default, ControllerHandle::gc_switch);
        let (stop, stopped) = tokio::sync::watch::channel(false);
        let (watch_kill, _) = tokio::sync::broadcast::channel(64);
        let state = Arc::new(AppState {
            store,
            log: RequestLog::default(),
            faults: Faults::default(),
            registry: registry_switch,
            gc,
            pages: Default::default(),
            watch_kill,
            shutdown: stopped.clone(),
            config: config.server.clone(),
            address: addr.to_string(),
            open_watches: Default::default(),
            outage: Default::default(),
            auth: Arc::new(server::auth::Auth::new(config.server.rbac_enforcement)),
        });
        let server = tokio::spawn(serve_loop(listener, addr, state.clone(), stopped));
        Ok(Sandbox {
            state,
            addr,
            server: Some(server),
            registry,
            controllers,
            stop,
        })
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// A kube client for this sandbox (default namespace `default`).
    pub fn client(&self) -> Result<kube::Client, SandboxError> {
        let uri: http::Uri = self
            .url()
            .parse()
            .map_err(|e: http::uri::InvalidUri| SandboxError::Client(e.to_string()))?;
        let config = kube::Config::new(uri);
        kube::Client::try_from(config).map_err(|e| SandboxError::Client(e.to_string()))
    }

    pub fn kubeconfig(&self) -> String {
        crate::kubeconfig::render(&self.url(), "default")
    }

    pub fn write_kubeconfig(&self, path: impl AsRef<Path>) -> Result<(), SandboxError> {
        let path = path.as_ref();
        std::fs::write(path, self.kubeconfig()).map_err(|source| SandboxError::Kubeconfig {
            path: path.display().to_string(),
            source,
        })
    }

    /// A kubeconfig whose requests act as the ServiceAccount `namespace/name` (by impersonation, which kubectl
    /// sends over plain HTTP); with `ServerConfig::rbac_enforcement` they are authorized by the stored RBAC objects.
    pub fn service_account_kubeconfig(&self, namespace: &str, name: &str) -> String {
        let user = crate::rbac::UserInfo::service_account(namespace, name);
        crate::kubeconfig::render_as(&self.url(), namespace, &user.name)
    }

    pub fn write_service_account_kubeconfig(
        &self,
        path: impl AsRef<Path>,
        namespace: &str,
        name: &str,
    ) -> Result<(), SandboxError> {
        let path = path.as_ref();
        std::fs::write(path, self.service_account_kubeconfig(namespace, name)).map_err(|source| {
            SandboxError::Kubeconfig {
                path: path.display().to_string(),
                source,
            }
        })
    }

    /// A kube client authenticated as the ServiceAccount `namespace/name` (a bearer token the sandbox minted).
    pub fn service_account_client(&self, namespace: &str, name: &str) -> Result<kube::Client, SandboxError> {
        let uri: http::Uri = self
            .url()
            .parse()
            .map_err(|e: http::uri::InvalidUri| SandboxError::Client(e.to_string()))?;
        let mut config = kube::Config::new(uri);
        config.default_namespace = namespace.to_string();
        config.auth_info.token = Some(self.state.auth.token_for(namespace, name).into());
        kube::Client::try_from(config).map_err(|e| SandboxError::Client(e.to_string()))
    }

    /// Turns RBAC enforcement for ServiceAccount requests on or off.
    pub fn set_rbac_enforcement(&self, on: bool) {
        self.state.auth.set_enforcement(on);
    }

    pub fn store(&self) -> &Store {
        &self.state.store
    }

    /// Every logged HTTP request so far.
    pub fn requests(&self) -> Vec<RequestRecord> {
        self.state.log.all()
    }

    /// Watch streams currently open (to check a client does not leak or hot-loop watches).
    pub fn open_watches(&self) -> usize {
        self.state.open_watches.load(std::sync::atomic::Ordering::SeqCst)
    }

    pub fn request_log(&self) -> &RequestLog {
        &self.state.log
    }

    /// Installs a fault rule (status or delay), or carries out a one-shot action. Returns the rule id (0 for actions).
    pub fn add_fault(&self, spec: FaultSpec) -> Result<u64, SandboxError> {
        if spec.action.is_one_shot() {
            self.state
                .run_action(&spec.action, &spec.matcher)
                .map_err(|e| SandboxError::Fault(e.message))?;
            return Ok(0);
        }
        self.state
            .faults
            .add(spec)
            .map_err(|e| SandboxError::Fault(e.to_string()))
    }

    pub fn faults(&self) -> Vec<FaultRule> {
        self.state.faults.list()
    }

    pub fn clear_faults(&self) {
        self.state.faults.clear();
    }

    /// Closes the open watches whose path / user agent match.
    pub fn drop_watches(&self, matcher: FaultMatch) -> Result<(), SandboxError> {
        self.state
            .run_action(&FaultAction::DropWatches, &matcher)
            .map_err(|e| SandboxError::Fault(e.message))
    }

    /// Compacts the watch history and expires continue tokens: clients must re-list.
    pub fn expire_resource_versions(&self) {
        self.state.store.compact();
        self.state.pages.clear();
    }

    pub fn pause_gc(&self) {
        self.state.gc.pause();
    }

    pub fn resume_gc(&self) {
        self.state.gc.resume();
    }

    pub fn pause_crd_establishment(&self) {
        self.state.registry.pause_establishment();
    }

    pub fn resume_crd_establishment(&self) {
        self.state.registry.resume_establishment();
    }

    /// Stops listening for `d` (clients get connection refused; open watches end), then serves again on the same
    /// address with the same state. Returns at once.
    pub fn outage(&self, d: std::time::Duration) -> Result<(), SandboxError> {
        self.add_fault(FaultSpec {
            matcher: FaultMatch::default(),
            count: None,
            probability: None,
            action: FaultAction::Outage {
                seconds: d.as_secs_f64(),
            },
        })
        .map(|_| ())
    }

    /// Stops serving (open watches end), then stops the controllers and the registry task.
    pub async fn shutdown(mut self) {
        let _ = self.stop.send(true);
        if let Some(server) = self.server.take() {
            let _ = tokio::time::timeout(std::time::Duration::from_secs(5), server).await;
        }
        if let Some(c) = self.controllers.take() {
            c.shutdown().await;
        }
        self.registry.abort();
    }
}

/// Serves until stopped; an outage request closes the listener for a while, then serves again on the same
/// address with the same state.
async fn serve_loop(
    listener: TcpListener,
    addr: SocketAddr,
    state: Arc<AppState>,
    stopped: tokio::sync::watch::Receiver<bool>,
) {
    let mut listener = Some(listener);
    loop {
        let Some(l) = listener.take() else { return };
        let app = server::router(state.clone());
        let mut stop = stopped.clone();
        let outage = state.outage.clone();
        let down_for = Arc::new(parking_lot::Mutex::new(None));
        let slot = down_for.clone();
        let signal = async move {
            tokio::select! {
                _ = stop.wait_for(|s| *s) => {}
                d = outage.requested() => *slot.lock() = Some(d),
            }
        };
        if let Err(e) = axum::serve(l, app).with_graceful_shutdown(signal).await {
            tracing::error!(%e, "sandbox server failed");
            return;
        }
        let Some(d) = down_for.lock().take() else { return };
        tracing::info!(seconds = d.as_secs_f64(), "sandbox outage (fault injection)");
        tokio::time::sleep(d).await;
        // The port was ours a moment ago; retry briefly in case the OS holds it.
        for _ in 0..50 {
            if *stopped.borrow() {
                return;
            }
            match TcpListener::bind(addr).await {
                Ok(l) => {
                    listener = Some(l);
                    state.outage.ended();
                    break;
                }
                Err(_) => tokio::time::sleep(std::time::Duration::from_millis(100)).await,
            }
        }
        if listener.is_none() {
            tracing::error!(%addr, "could not listen again after an outage");
        }
    }
}

impl Drop for Sandbox {
    fn drop(&mut self) {
        let _ = self.stop.send(true);
        if let Some(server) = self.server.take() {
            server.abort();
        }
        self.registry.abort();
    }
}
