//! The HTTP request log: every API request (the `/sandbox/v1` control endpoints excluded), bounded in memory.

use std::collections::VecDeque;
use std::sync::Arc;

use parking_lot::Mutex;
use serde::Serialize;

/// One logged request.
#[derive(Clone, Debug, Serialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct RequestRecord {
    /// Increasing sequence number (starts at 1).
    pub seq: u64,
    pub method: String,
    pub path: String,
    /// The raw query string ("" when absent).
    pub query: String,
    pub user_agent: String,
    pub status: u16,
    /// RFC 3339 time the request arrived.
    pub time: String,
    /// Time to the response head (for watches: until the stream started).
    pub duration_ms: f64,
    pub watch: bool,
    /// Id of the fault rule that answered or delayed this request.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fault: Option<u64>,
}

impl RequestRecord {
    /// Whether the request was a write (POST, PUT, PATCH, DELETE).
    pub fn is_write(&self) -> bool {
        matches!(self.method.as_str(), "POST" | "PUT" | "PATCH" | "DELETE")
    }

    /// The value of a query parameter (percent-decoded).
    pub fn query_param(&self, key: &str) -> Option<String> {
        serde_urlencoded::from_str::<Vec<(String, String)>>(&self.query)
            .ok()?
            .into_iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v)
    }
}

/// The RBAC attributes of a resource request (what a ClusterRole rule must grant for it).
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub struct RbacAttributes {
    /// API group ("" for core).
    pub group: String,
    /// Resource, with `/subresource` when one is addressed (`jobs/status`).
    pub resource: String,
    /// get, list, watch, create, update, patch, delete, deletecollection.
    pub verb: String,
    pub namespace: Option<String>,
}

impl RequestRecord {
    /// The RBAC attributes of this request, or None for non-resource paths (discovery, /version, /openapi...).
    pub fn rbac(&self) -> Option<RbacAttributes> {
        let segs: Vec<&str> = self.path.trim_matches('/').split('/').collect();
        let (group, rest) = match segs.as_slice() {
            ["api", _v, rest @ ..] if !rest.is_empty() => ("", rest),
            ["apis", g, _v, rest @ ..] if !rest.is_empty() => (*g, rest),
            _ => return None,
        };
        let (legacy_watch, rest) = match rest {
            ["watch", tail @ ..] => (true, tail),
            _ => (false, rest),
        };
        let (namespace, resource, name, sub) = match rest {
            ["namespaces", ns] => (None, "namespaces", Some(*ns), None),
            ["namespaces", ns, s @ ("status" | "finalize")] => (None, "namespaces", Some(*ns), Some(*s)),
            ["namespaces", ns, r, tail @ ..] => (Some(*ns), *r, tail.first().copied(), tail.get(1).copied()),
            [r, tail @ ..] => (None, *r, tail.first().copied(), tail.get(1).copied()),
            [] => return None,
        };
        let watch = legacy_watch || matches!(self.query_param("watch").as_deref(), Some("true" | "1"));
        let verb = match (self.method.as_str(), name.is_some()) {
            ("GET", _) if watch => "watch",
            ("GET", true) => "get",
            ("GET", false) => "list",
            ("POST", _) => "create",
            ("PUT", _) => "update",
            ("PATCH", _) => "patch",
            ("DELETE", true) => "delete",
            ("DELETE", false) => "deletecollection",
            _ => return None,
        };
        let resource = match sub {
            Some(s) => format!("{resource}/{s}"),
            None => resource.to_string(),
        };
        Some(RbacAttributes {
            group: group.to_string(),
            resource,
            verb: verb.to_string(),
            namespace: namespace.map(str::to_string),
        })
    }
}

/// Shared, bounded request log.
#[derive(Clone)]
pub struct RequestLog {
    inner: Arc<Mutex<(u64, VecDeque<RequestRecord>, usize)>>,
    capacity: usize,
    max_bytes: usize,
}

impl Default for RequestLog {
    fn default() -> Self {
        RequestLog::with_limits(200_000, 48 << 20)
    }
}

/// Heap and inline size of one record.
fn record_bytes(r: &RequestRecord) -> usize {
    std::mem::size_of::<RequestRecord>()
        + r.method.len()
        + r.path.len()
        + r.query.len()
        + r.user_agent.len()
        + r.time.len()
}

impl RequestLog {
    pub fn new(capacity: usize) -> Self {
        RequestLog::with_limits(capacity, usize::MAX)
    }

    /// A log keeping at most `capacity` records and about `max_bytes` of them; the oldest go first.
    pub fn with_limits(capacity: usize, max_bytes: usize) -> Self {
        RequestLog {
            inner: Arc::new(Mutex::new((0, VecDeque::new(), 0))),
            capacity: capacity.max(1),
            max_bytes,
        }
    }

    /// Appends a record, assigning its sequence number.
    pub fn push(&self, mut r: RequestRecord) -> u64 {
        let mut g = self.inner.lock();
        g.0 += 1;
        r.seq = g.0;
        g.2 += record_bytes(&r);
        g.1.push_back(r);
        while g.1.len() > self.capacity || (g.2 > self.max_bytes && g.1.len() > 1) {
            if let Some(old) = g.1.pop_front() {
                g.2 -= record_bytes(&old);
            }
        }
        g.0
    }

    /// Records with `seq > since`.
    pub fn since(&self, since: u64) -> Vec<RequestRecord> {
        let g = self.inner.lock();
        let start = g.1.partition_point(|r| r.seq <= since);
        g.1.iter().skip(start).cloned().collect()
    }

    pub fn all(&self) -> Vec<RequestRecord> {
        self.since(0)
    }

    /// The sequence number of the last record (0 when none).
    pub fn last_seq(&self) -> u64 {
        self.inner.lock().0
    }

    /// The distinct (group, resource, verb) triples requested so far, e.g. to compare with a ClusterRole.
    pub fn verbs_used(&self) -> std::collections::BTreeSet<(String, String, String)> {
        self.all()
            .iter()
            .filter_map(RequestRecord::rbac)
            .map(|a| (a.group, a.resource, a.verb))
            .collect()
    }

    /// Forgets all records (sequence numbers keep increasing).
    pub fn clear(&self) {
        let mut g = self.inner.lock();
        g.1.clear();
        g.2 = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rec(method: &str) -> RequestRecord {
        RequestRecord {
            seq: 0,
            method: method.into(),
            path: "/api/v1/namespaces".into(),
            query: "fieldManager=kubectl&limit=500".into(),
            user_agent: "t".into(),
            status: 200,
            time: String::new(),
            duration_ms: 0.0,
            watch: false,
            fault: None,
        }
    }

    #[test]
    fn rbac_attributes() {
        let cases = [
            (
                "GET",
                "/api/v1/namespaces/d/configmaps/a",
                "",
                Some(("", "configmaps", "get", Some("d"))),
            ),
            (
                "GET",
                "/api/v1/namespaces/d/configmaps",
                "limit=500",
                Some(("", "configmaps", "list", Some("d"))),
            ),
            (
                "GET",
                "/apis/batch/v1/jobs",
                "watch=true",
                Some(("batch", "jobs", "watch", None)),
            ),
            (
                "GET",
                "/api/v1/watch/namespaces/d/pods",
                "",
                Some(("", "pods", "watch", Some("d"))),
            ),
            (
                "PATCH",
                "/apis/batch/v1/namespaces/d/jobs/j/status",
                "",
                Some(("batch", "jobs/status", "patch", Some("d"))),
            ),
            (
                "DELETE",
                "/apis/example.com/v1/namespaces/d/widgets",
                "",
                Some(("example.com", "widgets", "deletecollection", Some("d"))),
            ),
            (
                "PUT",
                "/api/v1/namespaces/x/finalize",
                "",
                Some(("", "namespaces/finalize", "update", None)),
            ),
            (
                "POST",
                "/api/v1/namespaces",
                "",
                Some(("", "namespaces", "create", None)),
            ),
            ("GET", "/apis/batch/v1", "", None),
            ("GET", "/version", "", None),
        ];
        for (method, path, query, want) in cases {
            let mut r = rec(method);
            r.path = path.into();
            r.query = query.into();
            let got = r.rbac().map(|a| (a.group, a.resource, a.verb, a.namespace));
            let want = want.map(|(g, res, v, ns)| {
                (
                    g.to_string(),
                    res.to_string(),
                    v.to_string(),
                    ns.map(str::to_string),
                )
            });
            assert_eq!(got, want, "{method} {path}");
        }
        let log = RequestLog::new(10);
        log.push(rec("GET"));
        log.push(rec("GET"));
        assert_eq!(log.verbs_used().len(), 1);
    }

    #[test]
    fn bounded_and_since() {
        let log = RequestLog::new(2);
        for m in ["GET", "POST", "PUT"] {
            log.push(rec(m));
        }
        let all = log.all();
        assert_eq!(all.iter().map(|r| r.seq).collect::<Vec<_>>(), vec![2, 3]);
        assert_eq!(log.since(2).len(), 1);
        assert!(all[1].is_write());
        assert_eq!(all[0].query_param("fieldManager").as_deref(), Some("kubectl"));
    }

    #[test]
    fn bounded_in_bytes() {
        let one = record_bytes(&rec("GET"));
        let log = RequestLog::with_limits(1000, one * 10);
        for _ in 0..50 {
            log.push(rec("GET"));
        }
        let kept = log.all();
        assert_eq!(kept.len(), 10);
        assert_eq!(kept.last().map(|r| r.seq), Some(50), "the newest are kept");
    }
}
