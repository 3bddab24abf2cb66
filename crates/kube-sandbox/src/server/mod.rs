//! The HTTP server: routing, request logging, fault injection, and the `/sandbox/v1` control endpoints.

pub mod auth;
mod builtin_fields;
mod control;
pub mod discovery;
pub mod http;
pub mod list;
pub mod logs;
pub mod patching;
pub mod path;
#[cfg(feature = "kubectl")]
pub mod protobuf;
pub mod resource;
pub mod watch;

use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{Method, header};
use axum::response::Response;
use tokio::sync::broadcast;

use crate::controllers::GcSwitch;
use crate::faults::{FaultAction, Faults, RequestInfo, WatchMatcher};
use crate::registry::RegistrySwitch;
use crate::requestlog::{RequestLog, RequestRecord};
use crate::store::{ApiError, Store, meta};
use http::Query;
use path::ApiPath;

/// Server tunables.
#[derive(Clone, Debug)]
pub struct ServerConfig {
    pub version: discovery::VersionInfo,
    /// Interval of watch bookmarks (when the client allows them).
    pub bookmark_interval: Duration,
    /// Base of the server-chosen watch timeout when a client sends none (upstream: 30–60 min).
    pub default_watch_timeout: Duration,
    /// Authorize requests authenticated as a ServiceAccount (a token from `Sandbox::service_account_kubeconfig`)
    /// against the stored RBAC objects: a missing rule is a 403. Credential-less requests stay administrator.
    pub rbac_enforcement: bool,
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            version: discovery::VersionInfo::default(),
            bookmark_interval: Duration::from_secs(60),
            default_watch_timeout: Duration::from_secs(1800),
            rbac_enforcement: false,
        }
    }
}

/// A "drop watches" signal, checked by every open watch.
pub type DropWatches = WatchMatcher;

/// Everything a request handler needs.
pub struct AppState {
    pub store: Store,
    pub log: RequestLog,
    pub faults: Faults,
    pub registry: RegistrySwitch,
    pub gc: GcSwitch,
    pub pages: list::Pagination,
    pub watch_kill: broadcast::Sender<Arc<DropWatches>>,
    /// Flips to true on shutdown; open watches end.
    pub shutdown: tokio::sync::watch::Receiver<bool>,
    pub config: ServerConfig,
    /// host:port the server listens on (for `/api`'s serverAddressByClientCIDRs).
    pub address: String,
    /// Watch streams currently open.
    pub open_watches: Arc<std::sync::atomic::AtomicUsize>,
    /// Outage requests for the serving loop (fault injection).
    pub outage: Outage,
    /// Tokens and RBAC enforcement.
    pub auth: Arc<auth::Auth>,
}

/// Asks the serving loop to stop listening for a while (connection refused), keeping all state.
#[derive(Clone, Default)]
pub struct Outage {
    pending: Arc<parking_lot::Mutex<Option<Duration>>>,
    wake: Arc<tokio::sync::Notify>,
    /// Set from the request until the server listens again: no new watch may start meanwhile.
    down: Arc<std::sync::atomic::AtomicBool>,
}

impl Outage {
    pub fn request(&self, d: Duration) {
        self.down.store(true, std::sync::atomic::Ordering::SeqCst);
        *self.pending.lock() = Some(d);
        self.wake.notify_one();
    }

    /// Whether an outage was requested and the server has not listened again since. The graceful
    /// stop waits for every open request: a watch begun on a kept-alive connection after the open
    /// watches were ended would hold the outage off until it times out.
    pub fn is_down(&self) -> bool {
        self.down.load(std::sync::atomic::Ordering::SeqCst)
    }

    /// The server listens again.
    pub fn ended(&self) {
        self.down.store(false, std::sync::atomic::Ordering::SeqCst);
    }

    /// Waits for a request; returns how long to stay down.
    pub async fn requested(&self) -> Duration {
        loop {
            self.wake.notified().await;
            if let Some(d) = self.pending.lock().take() {
                return d;
            }
        }
    }
}

impl AppState {
    /// Carries out a one-shot fault action.
    pub fn run_action(
        &self,
        action: &FaultAction,
        matcher: &crate::faults::FaultMatch,
    ) -> Result<(), ApiError> {
        match action {
            FaultAction::DropWatches => {
                let m =
                    WatchMatcher::new(matcher.clone()).map_err(|e| ApiError::bad_request(e.to_string()))?;
                let _ = self.watch_kill.send(Arc::new(m));
            }
            FaultAction::ExpireResourceVersions => {
                self.store.compact();
                self.pages.clear();
            }
            FaultAction::PauseGc => self.gc.pause(),
            FaultAction::ResumeGc => self.gc.resume(),
            FaultAction::PauseCrdEstablishment => self.registry.pause_establishment(),
            FaultAction::ResumeCrdEstablishment => self.registry.resume_establishment(),
            FaultAction::Outage { seconds } => {
                // Open watches end first, so the server can stop gracefully; none starts after
                // (the flag is set before the kill, and a watch subscribes before it checks it).
                let all = WatchMatcher::new(Default::default())
                    .map_err(|e| ApiError::bad_request(e.to_string()))?;
                self.outage.request(Duration::from_secs_f64(seconds.max(0.0)));
                let _ = self.watch_kill.send(Arc::new(all));
            }
            FaultAction::Status { .. } | FaultAction::Delay { .. } | FaultAction::WatchChaos { .. } => {
                return Err(ApiError::bad_request("not a one-shot action"));
            }
        }
        Ok(())
    }
}

pub fn router(state: Arc<AppState>) -> Router {
    Router::new().fallback(entry).with_state(state)
}

fn is_watch(path: &str, q: &Query) -> bool {
    q.flag("watch") || path.contains("/watch/")
}

/// Every request passes here: faults, dispatch, request log.
async fn entry(State(state): State<Arc<AppState>>, req: Request) -> Response {
    let started = Instant::now();
    let time = meta::now_micro();
    let method = req.method().clone();
    let path = req.uri().path().to_string();
    let raw_query = req.uri().query().unwrap_or("").to_string();
    let ua = http::header_str(req.headers(), header::USER_AGENT).to_string();
    if path.starts_with("/sandbox/") {
        return control::handle(&state, req).await;
    }
    let q = match Query::parse(Some(&raw_query)) {
        Ok(q) => q,
        Err(e) => return http::error(&e),
    };
    let watch = is_watch(&path, &q);
    let mut fault = None;
    let info = RequestInfo {
        method: method.as_str(),
        path: &path,
        user_agent: &ua,
        watch,
    };
    let mut response = None;
    let mut chaos = watch::Chaos::default();
    if let Some((id, action)) = state.faults.check(&info) {
        fault = Some(id);
        match action {
            FaultAction::WatchChaos {
                duplicate,
                reorder,
                close_after_seconds,
                mid_event,
            } => {
                chaos = watch::Chaos {
                    duplicate,
                    reorder,
                    close_after: close_after_seconds.map(|s| Duration::from_secs_f64(s.max(0.0))),
                    mid_event,
                };
            }
            FaultAction::Status {
                code,
                retry_after_seconds,
                message,
            } => {
                response = Some(http::error(&fault_error(code, retry_after_seconds, message)));
            }
            FaultAction::Delay { ms } => tokio::time::sleep(Duration::from_millis(ms)).await,
            _ => {}
        }
    }
    let response = match response {
        Some(r) => r,
        None => dispatch(&state, req, &path, &q, (watch, chaos), &ua).await,
    };
    state.log.push(RequestRecord {
        seq: 0,
        method: method.to_string(),
        path,
        query: raw_query,
        user_agent: ua,
        status: response.status().as_u16(),
        time,
        duration_ms: started.elapsed().as_secs_f64() * 1000.0,
        watch,
        fault,
    });
    response
}

fn fault_error(code: u16, retry_after: Option<u64>, message: Option<String>) -> ApiError {
    let (reason, default_msg) = match code {
        409 => ("Conflict", "Operation cannot be fulfilled: injected conflict"),
        429 => (
            "TooManyRequests",
            "the server has received too many requests and has asked us to try again later",
        ),
        503 => (
            "ServiceUnavailable",
            "the server is currently unable to handle the request",
        ),
        504 => (
            "Timeout",
            "the server was unable to return a response in the time allotted",
        ),
        500 => (
            "InternalError",
            "an error on the server (injected fault) has prevented the request from succeeding",
        ),
        400 => ("BadRequest", "injected bad request"),
        401 => ("Unauthorized", "Unauthorized"),
        403 => ("Forbidden", "forbidden: injected fault"),
        404 => ("NotFound", "the server could not find the requested resource"),
        410 => ("Expired", "too old resource version (injected fault)"),
        422 => ("Invalid", "the server rejected our request (injected fault)"),
        _ => ("Unknown", "injected fault"),
    };
    let mut e = ApiError::new(code, reason, message.unwrap_or_else(|| default_msg.to_string()));
    let mut details = serde_json::json!({});
    if let Some(s) = retry_after {
        details["retryAfterSeconds"] = serde_json::json!(s);
    }
    e.details = Some(details);
    e
}

async fn dispatch(
    state: &Arc<AppState>,
    req: Request,
    path: &str,
    q: &Query,
    (watch, chaos): (bool, watch::Chaos),
    ua: &str,
) -> Response {
    let (parts, body) = req.into_parts();
    let method = parts.method;
    let headers = parts.headers;
    let user = match state.auth.authenticate(&state.store, &headers) {
        Ok(u) => u,
        Err(e) => return http::error(&e),
    };
    let is_resource = path.starts_with("/api/") || path.starts_with("/apis/");
    if !is_resource
        && let Err(e) = auth::check(
            &state.auth,
            &state.store,
            &user,
            &auth::non_resource_attributes(&method, path),
        )
    {
        return http::error(&e);
    }
    let segments: Vec<&str> = path
        .trim_start_matches('/')
        .trim_end_matches('/')
        .split('/')
        .collect();
    let get_only = |r: Response| {
        if method == Method::GET {
            r
        } else {
            http::error(&ApiError::method_not_allowed())
        }
    };
    match segments.as_slice() {
        ["version"] => return get_only(discovery::version(&state.config.version)),
        ["healthz" | "readyz" | "livez", ..] => {
            let mut r = Response::new(Body::from("ok"));
            r.headers_mut().insert(
                header::CONTENT_TYPE,
                header::HeaderValue::from_static("text/plain; charset=utf-8"),
            );
            return r;
        }
        ["api"] => return get_only(discovery::core_versions(&state.store, &headers, &state.address)),
        ["apis"] => return get_only(discovery::groups(&state.store, &headers)),
        #[cfg(feature = "kubectl")]
        ["openapi", "v2"] => return get_only(discovery::openapi_v2(&headers, &state.config.version)),
        #[cfg(feature = "kubectl")]
        ["openapi", "v3"] => return get_only(discovery::openapi_index(&state.store)),
        #[cfg(feature = "kubectl")]
        ["openapi", "v3", rest @ ..] => return get_only(discovery::openapi_document(&state.store, rest)),
        _ => {}
    }
    let resolved = match path::resolve(&state.store, &segments) {
        Ok(r) => r,
        Err(e) => return http::error(&e),
    };
    let rp = match resolved {
        ApiPath::Group(g) => return get_only(discovery::group(&state.store, &g)),
        ApiPath::GroupVersion { group, version } => {
            return get_only(discovery::resource_list(&state.store, &group, &version));
        }
        ApiPath::Resource(rp) => rp,
    };
    let attrs = auth::resource_attributes(&method, &rp, watch);
    if let Err(e) = auth::check(&state.auth, &state.store, &user, &attrs) {
        return http::error(&e);
    }
    let Ok(body) = axum::body::to_bytes(body, http::MAX_BODY).await else {
        return http::error(&ApiError::too_large());
    };
    let rep = http::representation(&headers);
    let store = &state.store;
    if crate::registry::is_review(&rp.info) {
        return match (&method, rp.name.is_some()) {
            (&Method::POST, false) => review(store, &user, &rp, &headers, &body),
            _ => Err(ApiError::method_not_allowed()),
        }
        .unwrap_or_else(|e| http::error(&e));
    }
    if rp.subresource.as_deref() == Some("log") {
        return match method {
            Method::GET => logs::pod_log(store, &rp, q),
            _ => Err(ApiError::method_not_allowed()),
        }
        .unwrap_or_else(|e| http::error(&e));
    }
    let result = match (&method, rp.name.is_some()) {
        (&Method::GET, _) if watch || rp.legacy_watch => match &rp.name {
            // Watching one object is a watch of the collection restricted to its name.
            Some(name) => {
                let mut q = q.clone();
                let by_name = format!("metadata.name={name}");
                let combined = match q.value("fieldSelector") {
                    Some(f) => format!("{f},{by_name}"),
                    None => by_name,
                };
                q.0.retain(|(k, _)| k != "fieldSelector");
                q.0.push(("fieldSelector".into(), combined));
                let collection = path::ResourcePath {
                    name: None,
                    ..rp.clone()
                };
                watch::watch(chaos, state, &collection, &q, rep, ua)
            }
            None => watch::watch(chaos, state, &rp, q, rep, ua),
        },
        (&Method::GET, true) => resource::get(store, &rp, q, rep),
        (&Method::GET, false) => list::list(store, &state.pages, &rp, q, rep).await,
        (&Method::POST, false) => resource::create(store, &rp, q, &headers, &body, ua),
        (&Method::PUT, true) => resource::update(store, &rp, q, &headers, &body, ua),
        (&Method::PATCH, true) => patching::patch(store, &rp, q, &headers, &body, ua),
        (&Method::DELETE, true) if rp.subresource.is_none() => {
            resource::delete(store, &rp, q, &headers, &body)
        }
        (&Method::DELETE, false) => resource::delete_collection(store, &rp, q, &headers, &body),
        _ => Err(ApiError::method_not_allowed()),
    };
    result.unwrap_or_else(|e| http::error(&e))
}

/// POST to a review resource: the request with a computed status (201), nothing stored.
fn review(
    store: &Store,
    user: &crate::rbac::UserInfo,
    rp: &path::ResourcePath,
    headers: &axum::http::HeaderMap,
    body: &bytes::Bytes,
) -> Result<Response, ApiError> {
    let obj = http::decode_object(headers, body)?;
    let answer = if rp.info.gvr.group == "authentication.k8s.io" {
        crate::rbac::self_subject_review(user, &obj)
    } else {
        crate::rbac::handle_review(store, user, &rp.info, rp.namespace.as_deref(), obj)?
    };
    Ok(http::json(201, &answer, &[]))
}
