//! Fault injection: rules matched against incoming requests (answer with an error status, or delay), and
//! one-shot actions (drop open watches, expire resourceVersions, pause/resume the GC or CRD establishment).
//!
//! JSON accepted by `POST /sandbox/v1/faults`:
//! ```json
//! {"match": {"method": "PATCH", "path": "/apis/example.com/v1/*", "userAgent": "arcane", "watch": false},
//!  "count": 3, "probability": 0.5,
//!  "action": {"status": {"code": 429, "retryAfterSeconds": 1, "message": "slow down"}}}
//! {"action": {"delay": {"ms": 200}}, "match": {"path": "/api/v1/**"}}
//! {"action": "dropWatches", "match": {"path": "/apis/batch/v1/*"}}
//! {"action": {"watchChaos": {"duplicate": true, "reorder": true, "closeAfterSeconds": 20, "midEvent": true}}}
//! {"action": {"outage": {"seconds": 60}}}
//! {"action": "expireResourceVersions"}   {"action": "pauseGc"}   {"action": "resumeGc"}
//! {"action": "pauseCrdEstablishment"}    {"action": "resumeCrdEstablishment"}
//! ```
//! `method` is one method, a `|`-separated list, or `write` (POST, PUT, PATCH, DELETE).
//! `path` is a glob over the request path: `*` matches any run of characters except `/`, `**` matches anything
//! (including `/`), `?` one character. `pathRegex` is a regular expression instead (unanchored unless you anchor it).
//! `count` limits how many requests a rule answers (absent = unlimited); `probability` (0..1) makes it random.

use std::sync::Arc;

use parking_lot::Mutex;
use regex::Regex;
use serde::{Deserialize, Serialize};

#[derive(Debug, thiserror::Error)]
pub enum FaultError {
    #[error("invalid fault rule: {0}")]
    Invalid(String),
}

#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct FaultMatch {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub method: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path_regex: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_agent: Option<String>,
    /// Match only watch requests (true) or only non-watch requests (false).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub watch: Option<bool>,
}

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub enum FaultAction {
    /// Answer with this HTTP status and a matching metav1 Status (500, 503, 409, 429, 504, ...).
    Status {
        code: u16,
        #[serde(
            default,
            rename = "retryAfterSeconds",
            skip_serializing_if = "Option::is_none"
        )]
        retry_after_seconds: Option<u64>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        message: Option<String>,
    },
    /// Delay the request, then serve it normally.
    Delay {
        ms: u64,
    },
    /// For matching watch requests: send every event twice (`duplicate`), re-send the previous event after the
    /// next one (`reorder`: an older resourceVersion after a newer one), and/or end the stream after
    /// `closeAfterSeconds`, cutting it in the middle of an event line when `midEvent` is set.
    WatchChaos {
        #[serde(default)]
        duplicate: bool,
        #[serde(default)]
        reorder: bool,
        #[serde(
            default,
            rename = "closeAfterSeconds",
            skip_serializing_if = "Option::is_none"
        )]
        close_after_seconds: Option<f64>,
        #[serde(default, rename = "midEvent")]
        mid_event: bool,
    },
    /// Stop listening for `seconds` (clients get connection refused), then serve again with the same state.
    Outage {
        seconds: f64,
    },
    /// Close the open watches matching `match` (one-shot).
    DropWatches,
    /// Compact the watch history: every watch from an older resourceVersion gets 410 (one-shot).
    ExpireResourceVersions,
    PauseGc,
    ResumeGc,
    PauseCrdEstablishment,
    ResumeCrdEstablishment,
}

impl FaultAction {
    /// Actions that are carried out once when posted, rather than installed as rules.
    pub fn is_one_shot(&self) -> bool {
        !matches!(
            self,
            FaultAction::Status { .. } | FaultAction::Delay { .. } | FaultAction::WatchChaos { .. }
        )
    }
}

/// A posted rule (or one-shot action).
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct FaultSpec {
    #[serde(default, rename = "match")]
    pub matcher: FaultMatch,
    /// How many requests the rule answers; None = unlimited.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub count: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub probability: Option<f64>,
    pub action: FaultAction,
}

/// An installed rule, as listed by `GET /sandbox/v1/faults`.
#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct FaultRule {
    pub id: u64,
    #[serde(flatten)]
    pub spec: FaultSpec,
    /// Requests this rule has answered or delayed.
    pub hits: u64,
    #[serde(skip)]
    compiled: Compiled,
}

#[derive(Clone, Debug)]
pub struct Compiled {
    path: Option<Regex>,
}

/// Translates a path glob into an anchored regex.
fn glob_regex(glob: &str) -> Result<Regex, FaultError> {
    let mut re = String::from("^");
    let mut chars = glob.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '*' if chars.peek() == Some(&'*') => {
                chars.next();
                re.push_str(".*");
            }
            '*' => re.push_str("[^/]*"),
            '?' => re.push('.'),
            c => re.push_str(&regex::escape(&c.to_string())),
        }
    }
    re.push('$');
    Regex::new(&re).map_err(|e| FaultError::Invalid(e.to_string()))
}

impl FaultMatch {
    pub fn compile(&self) -> Result<Compiled, FaultError> {
        let path = match (&self.path, &self.path_regex) {
            (Some(_), Some(_)) => {
                return Err(FaultError::Invalid(
                    "give either path or pathRegex, not both".into(),
                ));
            }
            (Some(g), None) => Some(glob_regex(g)?),
            (None, Some(r)) => Some(Regex::new(r).map_err(|e| FaultError::Invalid(e.to_string()))?),
            (None, None) => None,
        };
        Ok(Compiled { path })
    }

    fn matches(&self, compiled: &Compiled, req: &RequestInfo<'_>) -> bool {
        self.method.as_ref().is_none_or(|m| method_matches(m, req.method))
            && compiled.path.as_ref().is_none_or(|r| r.is_match(req.path))
            && self
                .user_agent
                .as_ref()
                .is_none_or(|ua| req.user_agent.contains(ua.as_str()))
            && self.watch.is_none_or(|w| w == req.watch)
    }
}

/// `method` is one method, a `|`- or `,`-separated list, or `write` (POST, PUT, PATCH, DELETE).
fn method_matches(spec: &str, method: &str) -> bool {
    spec.split(['|', ',']).map(str::trim).any(|m| {
        m.eq_ignore_ascii_case(method)
            || (m.eq_ignore_ascii_case("write") && matches!(method, "POST" | "PUT" | "PATCH" | "DELETE"))
    })
}

/// What the matcher needs to know about a request.
pub struct RequestInfo<'a> {
    pub method: &'a str,
    pub path: &'a str,
    pub user_agent: &'a str,
    pub watch: bool,
}

/// A matcher for open watches (drop-watches action).
#[derive(Clone, Debug)]
pub struct WatchMatcher {
    matcher: FaultMatch,
    compiled: Compiled,
}

impl WatchMatcher {
    pub fn new(matcher: FaultMatch) -> Result<Self, FaultError> {
        let compiled = matcher.compile()?;
        Ok(WatchMatcher { matcher, compiled })
    }

    pub fn matches(&self, path: &str, user_agent: &str) -> bool {
        let req = RequestInfo {
            method: "GET",
            path,
            user_agent,
            watch: true,
        };
        self.matcher.matches(&self.compiled, &req)
    }
}

/// The installed rules.
#[derive(Clone, Default)]
pub struct Faults {
    inner: Arc<Mutex<(u64, Vec<FaultRule>)>>,
}

impl Faults {
    /// Installs a rule (Status or Delay action); returns its id.
    pub fn add(&self, spec: FaultSpec) -> Result<u64, FaultError> {
        if spec.action.is_one_shot() {
            return Err(FaultError::Invalid(
                "one-shot actions are not installed as rules".into(),
            ));
        }
        if let FaultAction::Status { code, .. } = &spec.action
            && !(400..=599).contains(code)
        {
            return Err(FaultError::Invalid(format!(
                "status code {code} is not an error code"
            )));
        }
        if spec.probability.is_some_and(|p| !(0.0..=1.0).contains(&p)) {
            return Err(FaultError::Invalid("probability must be between 0 and 1".into()));
        }
        let compiled = spec.matcher.compile()?;
        let mut g = self.inner.lock();
        g.0 += 1;
        let id = g.0;
        g.1.push(FaultRule {
            id,
            spec,
            hits: 0,
            compiled,
        });
        Ok(id)
    }

    pub fn clear(&self) {
        self.inner.lock().1.clear();
    }

    pub fn list(&self) -> Vec<FaultRule> {
        self.inner.lock().1.clone()
    }

    /// The first rule that fires for this request (counting it), if any.
    pub fn check(&self, req: &RequestInfo<'_>) -> Option<(u64, FaultAction)> {
        let mut g = self.inner.lock();
        if g.1.is_empty() {
            return None;
        }
        for rule in &mut g.1 {
            let watch_only = matches!(rule.spec.action, FaultAction::WatchChaos { .. });
            if rule.spec.count.is_some_and(|c| rule.hits >= c)
                || (watch_only && !req.watch)
                || !rule.spec.matcher.matches(&rule.compiled, req)
            {
                continue;
            }
            if rule.spec.probability.is_some_and(|p| fastrand::f64() >= p) {
                continue;
            }
            rule.hits += 1;
            return Some((rule.id, rule.spec.action.clone()));
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req<'a>(method: &'a str, path: &'a str) -> RequestInfo<'a> {
        RequestInfo {
            method,
            path,
            user_agent: "kube-rs/5",
            watch: false,
        }
    }

    #[test]
    fn globs() {
        let r = glob_regex("/api/v1/namespaces/*/configmaps").unwrap();
        assert!(r.is_match("/api/v1/namespaces/default/configmaps"));
        assert!(!r.is_match("/api/v1/namespaces/default/configmaps/x"));
        assert!(glob_regex("/apis/**").unwrap().is_match("/apis/batch/v1/jobs"));
    }

    #[test]
    fn rules_count_and_match() {
        let f = Faults::default();
        let spec: FaultSpec = serde_json::from_str(
            r#"{"match": {"method": "post", "path": "/api/**", "userAgent": "kube"}, "count": 2,
                "action": {"status": {"code": 500}}}"#,
        )
        .unwrap();
        f.add(spec).unwrap();
        assert!(f.check(&req("GET", "/api/v1/pods")).is_none());
        assert!(f.check(&req("POST", "/api/v1/pods")).is_some());
        assert!(
            method_matches("write", "PATCH")
                && method_matches("GET|put", "PUT")
                && !method_matches("write", "GET")
        );
        assert!(f.check(&req("POST", "/api/v1/pods")).is_some());
        assert!(f.check(&req("POST", "/api/v1/pods")).is_none(), "count exhausted");
        assert_eq!(f.list()[0].hits, 2);
        let bad: FaultSpec = serde_json::from_str(r#"{"action": {"status": {"code": 200}}}"#).unwrap();
        assert!(f.add(bad).is_err());
        let one: FaultSpec = serde_json::from_str(r#"{"action": "expireResourceVersions"}"#).unwrap();
        assert!(one.action.is_one_shot());
        f.clear();
        assert!(f.list().is_empty());
    }
}
