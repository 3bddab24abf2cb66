//! Watch streaming: newline-delimited JSON events, replay from a resourceVersion, in-stream 410, bookmarks,
//! streaming lists (`sendInitialEvents`), selector transitions, timeouts, and slow-watcher eviction.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use axum::body::Body;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::Response;
use bytes::Bytes;
use serde_json::{Value, json};
use tokio::sync::{broadcast, mpsc};
use tokio::time::Instant;

use super::AppState;
use super::http::{Query, Representation};
use super::list::{Selectors, render_one};
use super::path::ResourcePath;
use crate::store::{ApiError, Cause, Change, EventKind, ResourceInfo};

/// Per-watcher output buffer (events); the store-side broadcast decides when a watcher is too slow.
const OUT_BUFFER: usize = 256;

/// Injected misbehaviour of one watch stream (fault rule `watchChaos`).
#[derive(Clone, Copy, Debug, Default)]
pub struct Chaos {
    pub duplicate: bool,
    pub reorder: bool,
    pub close_after: Option<Duration>,
    pub mid_event: bool,
}

type Chunk = Result<Bytes, std::io::Error>;

/// The outgoing side of a watch, applying injected chaos (duplicates, reordering, cuts).
struct Out {
    tx: mpsc::Sender<Chunk>,
    chaos: Chaos,
    prev: Option<Bytes>,
}

impl Out {
    /// Sends one line; Err when the client is gone.
    async fn send(&mut self, line: Bytes) -> Result<(), ()> {
        self.raw(line.clone()).await?;
        if self.chaos.duplicate {
            self.raw(line.clone()).await?;
        }
        if self.chaos.reorder
            && let Some(previous) = self.prev.replace(line)
        {
            self.raw(previous).await?;
        }
        Ok(())
    }

    async fn raw(&self, b: Bytes) -> Result<(), ()> {
        self.tx.send(Ok(b)).await.map_err(|_| ())
    }

    /// Ends the stream in the middle of an event line, without the closing chunk.
    async fn cut(&self) {
        let _ = self
            .tx
            .send(Ok(Bytes::from_static(b"{\"type\":\"MODIFIED\",\"obj")))
            .await;
        let _ = self
            .tx
            .send(Err(std::io::Error::other("watch cut by fault injection")))
            .await;
    }
}

/// Counts an open watch for as long as its task lives.
struct OpenWatch(Arc<AtomicUsize>);

impl OpenWatch {
    fn new(counter: Arc<AtomicUsize>) -> Self {
        counter.fetch_add(1, Ordering::SeqCst);
        OpenWatch(counter)
    }
}

impl Drop for OpenWatch {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

/// Identifies an open watch for the "drop watches" fault.
#[derive(Clone, Debug)]
pub struct WatchMeta {
    pub path: String,
    pub user_agent: String,
}

fn invalid_watch(msg: &str, field: &str) -> ApiError {
    ApiError::invalid(
        "ListOptions",
        "meta.k8s.io",
        "",
        vec![Cause::new(
            "FieldValueForbidden",
            field,
            format!("Forbidden: {msg}"),
        )],
    )
}

fn event_line(kind: &str, object: &Value) -> Bytes {
    let mut buf = Vec::with_capacity(256);
    buf.extend_from_slice(b"{\"type\":\"");
    buf.extend_from_slice(kind.as_bytes());
    buf.extend_from_slice(b"\",\"object\":");
    if serde_json::to_writer(&mut buf, object).is_err() {
        buf.extend_from_slice(b"null");
    }
    buf.extend_from_slice(b"}\n");
    Bytes::from(buf)
}

struct Watcher {
    info: Arc<ResourceInfo>,
    namespace: Option<String>,
    sel: Selectors,
    rep: Representation,
    q: Query,
    bookmarks: bool,
    /// Highest resourceVersion delivered (events or bookmarks).
    sent_rv: u64,
    /// Only changes above this are delivered (the requested resourceVersion, or the start point).
    floor: u64,
}

impl Watcher {
    fn render(&self, obj: &Value) -> Value {
        render_one(&self.info, self.rep, &self.q, obj)
    }

    fn bookmark(&self, rv: u64, initial_end: bool) -> Bytes {
        let mut meta = json!({"resourceVersion": rv.to_string(), "creationTimestamp": null});
        if initial_end {
            meta["annotations"] = json!({"k8s.io/initial-events-end": "true"});
        }
        event_line(
            "BOOKMARK",
            &json!({"kind": self.info.kind, "apiVersion": self.info.api_version(), "metadata": meta}),
        )
    }

    /// Whether this change deleted the CRD serving the watched type: the stream ends, as upstream's does.
    fn type_removed_by(&self, c: &Change) -> bool {
        c.kind == EventKind::Deleted
            && c.gvr == crate::registry::crd_gvr()
            && self
                .info
                .crd
                .as_ref()
                .is_some_and(|f| crate::store::meta::name_of(&c.object.decode()) == f.crd_name)
    }

    /// The event to send for a change, if any (selector transitions become ADDED/DELETED).
    fn convert(&self, c: &Change) -> Option<Bytes> {
        if c.gvr != self.info.gvr || c.rv <= self.floor {
            return None;
        }
        if let Some(ns) = &self.namespace
            && c.namespace.as_deref() != Some(ns.as_str())
        {
            return None;
        }
        // Parsed once per watcher and change; a watch without selectors never looks at `old`.
        let object = c.object.decode();
        let all = self.sel.is_empty();
        let now = all || self.sel.matches(&object);
        let (kind, obj) = match c.kind {
            EventKind::Added => (now.then_some("ADDED")?, object),
            EventKind::Deleted => (now.then_some("DELETED")?, object),
            EventKind::Modified => {
                let before = all || c.old.as_ref().is_some_and(|o| self.sel.matches(&o.decode()));
                match (before, now) {
                    (true, true) => ("MODIFIED", object),
                    (false, true) => ("ADDED", object),
                    (true, false) => {
                        // Leaving the selection: the previous state, stamped with this change's resourceVersion.
                        let mut old = c.old.as_ref().map_or(Value::Null, |o| (*o.decode()).clone());
                        if let Some(m) = old.get_mut("metadata").and_then(Value::as_object_mut) {
                            m.insert("resourceVersion".into(), json!(c.rv.to_string()));
                        }
                        ("DELETED", Arc::new(old))
                    }
                    (false, false) => return None,
                }
            }
        };
        Some(event_line(kind, &self.render(&obj)))
    }
}

/// Starts a watch; errors in the parameters are answered as HTTP errors, an expired resourceVersion in-stream.
pub fn watch(
    chaos: Chaos,
    state: &Arc<AppState>,
    path: &ResourcePath,
    q: &Query,
    rep: Representation,
    user_agent: &str,
) -> Result<Response, ApiError> {
    let sel = Selectors::parse(&path.info, q)?;
    let send_initial = q.get("sendInitialEvents").map(|v| v == "true");
    let rv_match = q.value("resourceVersionMatch");
    match (send_initial, rv_match) {
        (Some(_), Some("NotOlderThan")) => {}
        (Some(_), _) => {
            return Err(invalid_watch(
                "sendInitialEvents requires setting resourceVersionMatch to NotOlderThan",
                "sendInitialEvents",
            ));
        }
        (None, Some(_)) => {
            return Err(invalid_watch(
                "resourceVersionMatch is forbidden for watch unless sendInitialEvents is provided",
                "resourceVersionMatch",
            ));
        }
        (None, None) => {}
    }
    let rv_param = q.value("resourceVersion");
    let requested: Option<u64> = match rv_param {
        None => None,
        Some(s) => Some(
            s.parse()
                .map_err(|_| ApiError::bad_request(format!("invalid resource version: {s}")))?,
        ),
    };
    let bookmarks = q.flag("allowWatchBookmarks");
    let timeout = match q.value("timeoutSeconds") {
        Some(t) => Duration::from_secs(
            t.parse()
                .map_err(|_| ApiError::bad_request(format!("invalid timeoutSeconds: {t}")))?,
        ),
        None => {
            let base = state.config.default_watch_timeout.as_secs_f64();
            Duration::from_secs_f64(base * (1.0 + fastrand::f64()))
        }
    };
    // rv unset or "0": the current state as ADDED events; sendInitialEvents=true: the same plus a sync bookmark.
    let from_state = send_initial == Some(true) || matches!(requested, None | Some(0));
    let start = state
        .store
        .watch(path.gvr(), if from_state { None } else { requested });
    let (tx, mut rx) = mpsc::channel::<Chunk>(OUT_BUFFER);
    let mut out = Out {
        tx,
        chaos,
        prev: None,
    };
    let mut watcher = Watcher {
        info: path.info.clone(),
        namespace: path.namespace.clone(),
        sel,
        rep,
        q: q.clone(),
        bookmarks,
        sent_rv: 0,
        floor: if from_state { 0 } else { requested.unwrap_or(0) },
    };
    let meta = WatchMeta {
        path: format!("/{}", path_string(path)),
        user_agent: user_agent.to_string(),
    };
    let kill = state.watch_kill.subscribe();
    if state.outage.is_down() {
        return Err(ApiError::new(
            503,
            "ServiceUnavailable",
            "the API server is going down (fault injection: outage)",
        ));
    }
    let shutdown = state.shutdown.clone();
    let bookmark_every = state.config.bookmark_interval;
    let store = state.store.clone();
    let gauge = OpenWatch::new(state.open_watches.clone());
    tokio::spawn(async move {
        let _gauge = gauge;
        let start = match start {
            Ok(s) => s,
            Err(e) => {
                let _ = out.raw(event_line("ERROR", &e.to_status())).await;
                return;
            }
        };
        let start_rv = start.rv;
        for c in &start.backlog {
            if let Some(line) = watcher.convert(c) {
                if out.send(line).await.is_err() {
                    return;
                }
                watcher.sent_rv = watcher.sent_rv.max(c.rv);
            }
        }
        watcher.floor = watcher.floor.max(if from_state { start_rv } else { 0 });
        if send_initial == Some(true) && watcher.bookmarks {
            if out.send(watcher.bookmark(start_rv, true)).await.is_err() {
                return;
            }
            watcher.sent_rv = start_rv;
        }
        let ctx = StreamCtx {
            kill,
            shutdown,
            meta,
            timeout,
            bookmark_every,
            store,
        };
        stream(watcher, start.rx, out, ctx).await;
    });
    let body = Body::from_stream(futures::stream::poll_fn(move |cx| rx.poll_recv(cx)));
    let mut resp = Response::new(body);
    *resp.status_mut() = StatusCode::OK;
    resp.headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
    Ok(resp)
}

fn path_string(path: &ResourcePath) -> String {
    let g = &path.info.gvr;
    let mut s = if g.group.is_empty() {
        format!("api/{}", g.version)
    } else {
        format!("apis/{}/{}", g.group, g.version)
    };
    if let Some(ns) = &path.namespace {
        s.push_str(&format!("/namespaces/{ns}"));
    }
    s.push('/');
    s.push_str(&g.resource);
    s
}

/// Sleeps until `at`, or forever when there is no such instant.
async fn sleep_until_opt(at: Option<Instant>) {
    match at {
        Some(t) => tokio::time::sleep_until(t).await,
        None => std::future::pending().await,
    }
}

/// What a running watch stream listens to besides the store's changes.
struct StreamCtx {
    kill: broadcast::Receiver<Arc<super::DropWatches>>,
    shutdown: tokio::sync::watch::Receiver<bool>,
    meta: WatchMeta,
    timeout: Duration,
    bookmark_every: Duration,
    store: crate::store::Store,
}

async fn stream(mut w: Watcher, mut changes: broadcast::Receiver<Arc<Change>>, mut out: Out, ctx: StreamCtx) {
    let StreamCtx {
        mut kill,
        mut shutdown,
        meta,
        timeout,
        bookmark_every,
        store,
    } = ctx;
    let deadline = Instant::now() + timeout;
    // Injected cut: the stream ends early (in the middle of a line when asked).
    let cut_at = out.chaos.close_after.map(|d| Instant::now() + d);
    let final_bookmark = deadline
        .checked_sub(Duration::from_secs(2))
        .filter(|t| *t > Instant::now());
    let mut next_bookmark = Instant::now() + bookmark_every;
    let mut final_sent = final_bookmark.is_none();
    loop {
        let bookmark_at = if !w.bookmarks {
            deadline
        } else if !final_sent {
            final_bookmark.map_or(next_bookmark, |f| f.min(next_bookmark))
        } else {
            next_bookmark.min(deadline)
        };
        tokio::select! {
                    biased;
                    _ = shutdown.changed() => return,
                    // The client went away: stop now rather than at the next event or the timeout.
                    () = out.tx.closed() => return,
                    () = sleep_until_opt(cut_at) => {
                        if out.chaos.mid_event {
                            out.cut().await;
                        }
                        return;
                    }
                    k = kill.recv() => match k {
                        Ok(d) if d.matches(&meta.path, &meta.user_agent) => return,
                        Ok(_) | Err(broadcast::error::RecvError::Lagged(_)) => {}
                        Err(broadcast::error::RecvError::Closed) => return,
                    },
                    c = changes.recv() => match c {
                        Ok(c) => {
                            if w.type_removed_by(&c) {
                                return;
                            }
                            if let Some(line) = w.convert(&c) {
                                if out.send(line).await.is_err() {
                                    return;
                                }
                                w.sent_rv = w.sent_rv.max(c.rv);
                            }
                        }
                        // Too slow: the real cacher closes such watchers too; the client re-watches from its last rv.
                        Err(broadcast::error::RecvError::Lagged(_) |
        broadcast::error::RecvError::Closed) => return,
                    },
                    () = tokio::time::sleep_until(bookmark_at) => {
                        if Instant::now() >= deadline {
                            return;
                        }
                        if w.bookmarks {
                            // Everything at or below `rv` was broadcast before it was read: drain it before claiming it.
                            let mut rv = store.current_rv();
                            loop {
                                match changes.try_recv() {
                                    Ok(c) => {
                                        rv = rv.max(c.rv);
                                        if let Some(line) = w.convert(&c)
                                            && out.send(line).await.is_err()
                                        {
                                            return;
                                        }
                                    }
                                    Err(broadcast::error::TryRecvError::Empty) => break,
                                    Err(_) => return,
                                }
                            }
                            let rv = rv.max(w.sent_rv);
                            if out.send(w.bookmark(rv, false)).await.is_err() {
                                return;
                            }
                            w.sent_rv = rv;
                            if final_bookmark.is_some_and(|f| Instant::now() >= f) {
                                final_sent = true;
                            }
                            next_bookmark = Instant::now() + bookmark_every;
                        }
                    }
                    () = tokio::time::sleep_until(deadline) => return,
                }
    }
}
