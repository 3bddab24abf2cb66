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

/// Shared, bounded request log.
#[derive(Clone)]
pub struct RequestLog {
    inner: Arc<Mutex<(u64, VecDeque<RequestRecord>)>>,
    capacity: usize,
}

impl Default for RequestLog {
    fn default() -> Self {
        RequestLog::new(200_000)
    }
}

impl RequestLog {
    pub fn new(capacity: usize) -> Self {
        RequestLog {
            inner: Arc::new(Mutex::new((0, VecDeque::new()))),
            capacity: capacity.max(1),
        }
    }

    /// Appends a record, assigning its sequence number.
    pub fn push(&self, mut r: RequestRecord) -> u64 {
        let mut g = self.inner.lock();
        g.0 += 1;
        r.seq = g.0;
        g.1.push_back(r);
        while g.1.len() > self.capacity {
            g.1.pop_front();
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

    /// Forgets all records (sequence numbers keep increasing).
    pub fn clear(&self) {
        self.inner.lock().1.clear();
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
}
