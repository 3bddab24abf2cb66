//! The health of one watch, for logs, readiness and StreamClass statuses.
//!
//! kube's watcher retries every failure with a backoff and hands each failure to its consumer.
//! Logging each one (with kube's `Debug` dump of the API `Status`) made 2–3 WARN lines a second
//! without the CRDs and said nothing about the fix. Here a failure is logged once, clearly, with
//! the fix when it is known; the same failure again is logged at most once per
//! [`REPEAT_LOG_INTERVAL`] with the count; a recovery is logged once at INFO.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use kube::runtime::watcher;
use tokio::sync::Notify;
use tokio::time::Instant;

/// How often a failure that goes on is logged again.
pub const REPEAT_LOG_INTERVAL: Duration = Duration::from_secs(60);

/// What a watch reads, to name it and its fix in messages.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WatchTarget {
    /// Short name in logs: `streamclasses`, `jobs`, `stream/<class>`.
    pub name: String,
    /// The StreamClass whose streams this watch reads, if any.
    pub class: Option<String>,
    pub group: String,
    pub version: String,
    pub kind: String,
    pub plural: String,
    /// What to do when the kind is not served (its CRD missing).
    pub fix_not_found: String,
}

impl WatchTarget {
    /// `group/version, Kind=X`, as Kubernetes prints a GroupVersionKind.
    pub fn gvk(&self) -> String {
        format_gvk(&self.group, &self.version, &self.kind)
    }

    /// `plural.group` (or `plural` for the core group), as RBAC and kubectl name a resource.
    pub fn resource(&self) -> String {
        if self.group.is_empty() {
            self.plural.clone()
        } else {
            format!("{}.{}", self.plural, self.group)
        }
    }

    /// The RBAC rule this watch needs, in the words of a Role.
    pub fn rbac_rule(&self) -> String {
        format!(
            "verbs [get, list, watch] on resource \"{}\" in apiGroup \"{}\"",
            self.plural, self.group
        )
    }
}

/// `group/version, Kind=X` (`v1, Kind=X` for the core group), never Rust `Debug` text.
pub fn format_gvk(group: &str, version: &str, kind: &str) -> String {
    if group.is_empty() {
        format!("{version}, Kind={kind}")
    } else {
        format!("{group}/{version}, Kind={kind}")
    }
}

/// A kube error in one line: `404 NotFound: the server could not find…` for API answers, without
/// kube's `Debug` dump of the Status.
pub fn describe_kube_error(error: &kube::Error) -> String {
    match error {
        kube::Error::Api(status) => {
            let mut text = status.code.to_string();
            if !status.reason.is_empty() {
                text.push(' ');
                text.push_str(&status.reason);
            }
            if !status.message.is_empty() {
                text.push_str(": ");
                text.push_str(&status.message);
            }
            text
        }
        other => other.to_string(),
    }
}

/// A watcher error in one line; see [`describe_kube_error`].
pub fn describe_watch_error(error: &watcher::Error) -> String {
    match error {
        watcher::Error::InitialListFailed(e) => format!("list failed: {}", describe_kube_error(e)),
        watcher::Error::WatchStartFailed(e) => format!("watch failed to start: {}", describe_kube_error(e)),
        watcher::Error::WatchFailed(e) => format!("watch stream failed: {}", describe_kube_error(e)),
        watcher::Error::WatchError(status) => {
            let e = kube::Error::Api(status.clone());
            format!("watch ended with an error: {}", describe_kube_error(&e))
        }
        other => other.to_string(),
    }
}

/// The HTTP status behind a watcher error, when the API server answered.
pub fn watch_error_code(error: &watcher::Error) -> Option<u16> {
    match error {
        watcher::Error::InitialListFailed(kube::Error::Api(s))
        | watcher::Error::WatchStartFailed(kube::Error::Api(s))
        | watcher::Error::WatchFailed(kube::Error::Api(s)) => Some(s.code),
        watcher::Error::WatchError(s) => Some(s.code),
        _ => None,
    }
}

/// Why a watch fails.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProblemKind {
    /// 404: the kind is not served (its CRD is missing or was deleted).
    NotFound,
    /// 403: RBAC forbids the operator to list or watch it.
    Forbidden,
    /// Anything else (server errors, connection failures).
    Other,
}

impl ProblemKind {
    /// A problem only a human can fix (install a CRD, grant RBAC), not a passing one.
    pub fn is_configuration(self) -> bool {
        matches!(self, ProblemKind::NotFound | ProblemKind::Forbidden)
    }
}

/// A failure that is going on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WatchProblem {
    pub kind: ProblemKind,
    pub code: Option<u16>,
    /// The last error, in one line.
    pub detail: String,
    /// What is wrong and how to fix it, for people (status messages, Events, logs).
    pub message: String,
    pub since: Instant,
    /// Failures seen since it began.
    pub failures: u64,
}

#[derive(Debug, Default)]
struct State {
    listed: bool,
    problem: Option<WatchProblem>,
    last_logged: Option<Instant>,
    unlogged: u64,
}

/// The health of one watch; see the module documentation.
#[derive(Debug)]
pub struct WatchHealth {
    target: WatchTarget,
    state: Mutex<State>,
    /// Woken when the watch lists, fails or recovers.
    changed: Option<Arc<Notify>>,
}

impl WatchHealth {
    pub fn new(target: WatchTarget, changed: Option<Arc<Notify>>) -> Arc<Self> {
        Arc::new(WatchHealth {
            target,
            state: Mutex::new(State::default()),
            changed,
        })
    }

    pub fn target(&self) -> &WatchTarget {
        &self.target
    }

    /// Feeds one item of the watcher stream.
    pub fn observe<K>(&self, item: &Result<watcher::Event<K>, watcher::Error>) {
        match item {
            Ok(watcher::Event::Init) => {}
            Ok(watcher::Event::InitDone) => {
                let first = !self.lock().listed;
                self.lock().listed = true;
                self.recovered();
                if first {
                    tracing::debug!(watch = %self.target.name, "initial list complete");
                    self.wake();
                }
            }
            Ok(_) => self.recovered(),
            Err(error) => self.failed(error),
        }
    }

    /// Whether the watch has completed a list at least once.
    pub fn listed(&self) -> bool {
        self.lock().listed
    }

    /// The failure going on, if any.
    pub fn problem(&self) -> Option<WatchProblem> {
        self.lock().problem.clone()
    }

    /// Whether a human must fix something before this watch can work.
    pub fn misconfigured(&self) -> bool {
        self.lock()
            .problem
            .as_ref()
            .is_some_and(|p| p.kind.is_configuration())
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn wake(&self) {
        if let Some(n) = &self.changed {
            n.notify_one();
        }
    }

    fn failed(&self, error: &watcher::Error) {
        let code = watch_error_code(error);
        let detail = describe_watch_error(error);
        if matches!(error, watcher::Error::WatchError(s) if s.code == 410) {
            // An expired resourceVersion: the watcher lists again, nothing is wrong.
            tracing::debug!(watch = %self.target.name, error = %detail, "watch expired, listing again");
            return;
        }
        let kind = match code {
            Some(404) => ProblemKind::NotFound,
            Some(403) => ProblemKind::Forbidden,
            _ => ProblemKind::Other,
        };
        let now = Instant::now();
        let mut guard = self.lock();
        let state = &mut *guard;
        match &mut state.problem {
            Some(p) if p.kind == kind => {
                p.failures += 1;
                p.detail = detail;
                p.code = code;
                let due = state
                    .last_logged
                    .is_none_or(|t| now.duration_since(t) >= REPEAT_LOG_INTERVAL);
                if due {
                    let (problem, unlogged) = (p.clone(), state.unlogged);
                    state.last_logged = Some(now);
                    state.unlogged = 0;
                    drop(guard);
                    self.log(&problem, Some(unlogged));
                } else {
                    state.unlogged += 1;
                }
            }
            _ => {
                let problem = WatchProblem {
                    kind,
                    code,
                    message: self.message(kind, &detail),
                    detail,
                    since: now,
                    failures: 1,
                };
                state.problem = Some(problem.clone());
                state.last_logged = Some(now);
                state.unlogged = 0;
                drop(guard);
                self.log(&problem, None);
                self.wake();
            }
        }
    }

    fn recovered(&self) {
        let mut state = self.lock();
        let Some(problem) = state.problem.take() else {
            return;
        };
        drop(state);
        tracing::info!(
            watch = %self.target.name,
            class = self.target.class.as_deref().unwrap_or_default(),
            resource = %self.target.resource(),
            failures = problem.failures,
            failing_s = problem.since.elapsed().as_secs(),
            "watch recovered"
        );
        self.wake();
    }

    /// What is wrong and the fix, for a human.
    fn message(&self, kind: ProblemKind, detail: &str) -> String {
        let t = &self.target;
        match kind {
            ProblemKind::NotFound => format!(
                "{} is not served by the API server (its CustomResourceDefinition is not installed): {}",
                t.gvk(),
                t.fix_not_found
            ),
            ProblemKind::Forbidden => format!(
                "RBAC forbids the operator to list and watch {}: grant its ServiceAccount {}",
                t.resource(),
                t.rbac_rule()
            ),
            ProblemKind::Other => format!("the watch of {} fails: {detail}", t.resource()),
        }
    }

    fn log(&self, problem: &WatchProblem, repeated: Option<u64>) {
        let t = &self.target;
        let class = t.class.as_deref().unwrap_or_default();
        let code = problem.code.map(|c| c.to_string()).unwrap_or_default();
        let text = match (problem.kind, repeated) {
            (ProblemKind::NotFound, None) => "watch failing: kind not served (CRD missing)",
            (ProblemKind::Forbidden, None) => "watch failing: forbidden by RBAC",
            (ProblemKind::Other, None) => "watch failing, retrying",
            (_, Some(_)) => "watch still failing",
        };
        tracing::warn!(
            watch = %t.name,
            class,
            group = %t.group,
            resource = %t.plural,
            kind = %t.kind,
            code = %code,
            error = %problem.detail,
            hint = %problem.message,
            failures = problem.failures,
            suppressed = repeated.unwrap_or(0),
            "{text}"
        );
    }
}

#[cfg(test)]
mod tests;
