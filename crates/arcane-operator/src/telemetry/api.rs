//! One place that counts every Kubernetes API call: a tower layer installed in the operator's
//! `kube::Client`, so client requests, watches, Events and the Lease are all counted the same way
//! (`rest_client_requests_total{code,method,host}` as client-go names it, and
//! `arcane_api_errors_total{verb,code}`), whatever code path made them.
//!
//! The layer sits outside kube's own stack: a call retried inside kube counts once, with the
//! answer the operator finally got.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use http::{Method, Request, Response};
use tower_layer::Layer;
use tower_service::Service;

use super::metrics::Metrics;

/// Counts every request through the wrapped service into `metrics`.
#[derive(Clone)]
pub struct ApiMetricsLayer {
    metrics: Metrics,
    host: Arc<str>,
}

impl ApiMetricsLayer {
    /// `host` is the API server's `host:port`, the `host` label of `rest_client_requests_total`.
    pub fn new(metrics: Metrics, host: &str) -> Self {
        ApiMetricsLayer {
            metrics,
            host: Arc::from(host),
        }
    }

    /// The `host:port` of a cluster URL (what client-go puts in the `host` label).
    pub fn host_of(url: &http::Uri) -> String {
        match (url.host(), url.port_u16()) {
            (Some(host), Some(port)) => format!("{host}:{port}"),
            (Some(host), None) => match url.scheme_str() {
                Some("http") => format!("{host}:80"),
                _ => format!("{host}:443"),
            },
            _ => String::new(),
        }
    }
}

impl<S> Layer<S> for ApiMetricsLayer {
    type Service = ApiMetricsService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        ApiMetricsService {
            inner,
            metrics: self.metrics.clone(),
            host: self.host.clone(),
        }
    }
}

/// See [`ApiMetricsLayer`].
#[derive(Clone)]
pub struct ApiMetricsService<S> {
    inner: S,
    metrics: Metrics,
    host: Arc<str>,
}

impl<S, B, RB> Service<Request<B>> for ApiMetricsService<S>
where
    S: Service<Request<B>, Response = Response<RB>>,
    S::Future: Send + 'static,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, Self::Error>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request<B>) -> Self::Future {
        let method = request.method().clone();
        let verb = verb_of(
            &method,
            request.uri().path(),
            request.uri().query().unwrap_or_default(),
            request.extensions().get::<&'static str>().copied(),
        );
        let metrics = self.metrics.clone();
        let host = self.host.clone();
        let answer = self.inner.call(request);
        Box::pin(async move {
            let result = answer.await;
            let status = result.as_ref().ok().map(|r| r.status().as_u16());
            metrics.api_call(verb, method.as_str(), &host, status);
            result
        })
    }
}

/// The Kubernetes verb of a request, as the API server's audit log names it. kube tags the
/// requests of its `Api` methods with their name; untagged ones (discovery) are read from the
/// method and path.
pub fn verb_of(method: &Method, path: &str, query: &str, tag: Option<&str>) -> &'static str {
    if let Some(verb) = tag.and_then(verb_of_tag) {
        return verb;
    }
    match *method {
        Method::GET if is_watch(query) => "watch",
        Method::GET if is_collection(path) => "list",
        Method::GET => "get",
        Method::POST => "create",
        Method::PUT => "update",
        Method::PATCH => "patch",
        Method::DELETE if is_collection(path) => "deletecollection",
        Method::DELETE => "delete",
        _ => "other",
    }
}

fn verb_of_tag(tag: &str) -> Option<&'static str> {
    let verb = match tag {
        "watch" | "watch_metadata" => "watch",
        "list" | "list_metadata" => "list",
        "delete_collection" => "deletecollection",
        "delete" => "delete",
        t if t.starts_with("get") => "get",
        t if t.starts_with("create") => "create",
        t if t.starts_with("replace") => "update",
        t if t.starts_with("patch") => "patch",
        _ => return None,
    };
    Some(verb)
}

fn is_watch(query: &str) -> bool {
    query.split('&').any(|p| p == "watch=true" || p == "watch=1")
}

/// Whether `path` names a collection (`…/namespaces/ns/jobs`) rather than one object.
fn is_collection(path: &str) -> bool {
    let segments: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();
    let rest = match segments.as_slice() {
        ["api", _version, rest @ ..] => rest,
        ["apis", _group, _version, rest @ ..] => rest,
        _ => return false,
    };
    let rest = match rest {
        ["namespaces", _ns, rest @ ..] if !rest.is_empty() => rest,
        other => other,
    };
    rest.len() == 1
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn verbs_follow_the_audit_log() {
        let cases = [
            (
                Method::GET,
                "/apis/batch/v1/namespaces/ns/jobs",
                "watch=true&rv=1",
                None,
                "watch",
            ),
            (Method::GET, "/apis/batch/v1/namespaces/ns/jobs", "", None, "list"),
            (
                Method::GET,
                "/apis/batch/v1/jobs",
                "labelSelector=x",
                None,
                "list",
            ),
            (
                Method::GET,
                "/apis/batch/v1/namespaces/ns/jobs/a",
                "",
                None,
                "get",
            ),
            (Method::GET, "/api/v1/namespaces", "", None, "list"),
            (Method::GET, "/api/v1/namespaces/ns", "", None, "get"),
            (Method::GET, "/apis/example.com/v1", "", None, "get"),
            (
                Method::POST,
                "/apis/batch/v1/namespaces/ns/jobs",
                "",
                None,
                "create",
            ),
            (
                Method::PUT,
                "/apis/x/v1/namespaces/ns/leases/l",
                "",
                None,
                "update",
            ),
            (
                Method::PATCH,
                "/apis/x/v1/namespaces/ns/s/a/status",
                "",
                None,
                "patch",
            ),
            (
                Method::DELETE,
                "/apis/batch/v1/namespaces/ns/jobs/a",
                "",
                None,
                "delete",
            ),
            (
                Method::DELETE,
                "/apis/batch/v1/namespaces/ns/jobs",
                "",
                None,
                "deletecollection",
            ),
            (Method::GET, "/x", "", Some("get_metadata"), "get"),
            (Method::GET, "/x", "", Some("watch_metadata"), "watch"),
            (Method::PUT, "/x", "", Some("replace_status"), "update"),
            (Method::PATCH, "/x", "", Some("patch_status"), "patch"),
        ];
        for (method, path, query, tag, want) in cases {
            assert_eq!(
                verb_of(&method, path, query, tag),
                want,
                "{method} {path}?{query} {tag:?}"
            );
        }
    }

    #[test]
    fn host_label_is_host_and_port() {
        let cases = [
            ("https://10.0.0.1:6443", "10.0.0.1:6443"),
            ("https://kubernetes.default.svc", "kubernetes.default.svc:443"),
            ("http://127.0.0.1", "127.0.0.1:80"),
        ];
        for (url, want) in cases {
            let uri: http::Uri = url.parse().unwrap();
            assert_eq!(ApiMetricsLayer::host_of(&uri), want);
        }
    }
}
