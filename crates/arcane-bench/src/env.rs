//! The benchmark's cluster: a sandbox in this process, the operator's CRDs, `K` generated stream
//! kinds with one StreamClass each (layouts v0/v1/v2 in turn), and job templates whose simulated
//! Jobs run forever (streaming) or succeed quickly (backfill).

use std::time::Duration;

use arcane_operator::crd::StreamingJobTemplate;
use arcane_operator::sandbox::{DEMO_YAML, install};
use futures::StreamExt;
use k8s_openapi::api::core::v1::Namespace;
use kube::api::{ApiResource, DynamicObject, Patch, PatchParams, PostParams};
use kube::core::GroupVersionKind;
use kube::{Api, Client};
use kube_sandbox::{Sandbox, SandboxConfig};
use serde_json::{Value, json};

use crate::error::BenchError;
use crate::track::Tracker;

/// Namespace the operator watches (it runs with `--namespace`).
pub(crate) const NS: &str = "arcane-bench";
/// Namespace of the bare loop's streams: invisible to the operator.
pub(crate) const BARE_NS: &str = "bare-loop";
pub(crate) const GROUP: &str = "bench.arcane.dev";
pub(crate) const STREAMING_TEMPLATE: &str = "streaming-job";
pub(crate) const BACKFILL_TEMPLATE: &str = "backfill-job";
/// The secret-reference field of v2 streams (the Secret itself is never created or read).
const SECRET_FIELD: &str = "connectionStringRef";

/// Stream-definition layout of a class.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Layout {
    V0,
    V1,
    V2,
}

/// One StreamClass and its stream kind.
#[derive(Debug, Clone)]
pub(crate) struct Class {
    pub name: String,
    pub kind: String,
    pub plural: String,
    pub layout: Layout,
    pub resource: ApiResource,
    pub secret_refs: Vec<String>,
}

impl Class {
    pub(crate) fn new(index: usize) -> Class {
        let layout = [Layout::V0, Layout::V1, Layout::V2][index % 3];
        let kind = format!("BenchStream{index}");
        let plural = format!("benchstream{index}s");
        let gvk = GroupVersionKind::gvk(GROUP, "v1", &kind);
        Class {
            name: format!("bench-{index}"),
            resource: ApiResource::from_gvk_with_plural(&gvk, &plural),
            secret_refs: if layout == Layout::V2 {
                vec![SECRET_FIELD.to_string()]
            } else {
                Vec::new()
            },
            kind,
            plural,
            layout,
        }
    }

    /// A Job-backend stream definition of this class.
    pub(crate) fn stream(&self, ns: &str, name: &str, suspended: bool) -> Value {
        let spec = match self.layout {
            Layout::V0 => json!({
                "suspended": suspended,
                "source": format!("{name}-source"),
                "jobTemplateRef": {"name": STREAMING_TEMPLATE},
                "backfillJobTemplateRef": {"name": BACKFILL_TEMPLATE},
            }),
            Layout::V1 => json!({
                "source": format!("{name}-source"),
                "execution": {
                    "layoutVersion": "v1",
                    "suspended": suspended,
                    "backfillJobTemplateRef": {"name": BACKFILL_TEMPLATE},
                    "streamingBackend": {"changeCapture": {"jobTemplateRef": {"name": STREAMING_TEMPLATE}}},
                },
            }),
            Layout::V2 => json!({
                "source": format!("{name}-source"),
                SECRET_FIELD: {"name": "bench-source-connection"},
                "execution": {
                    "layoutVersion": "v2",
                    "suspended": suspended,
                    "streamingBackend": {"changeCapture": {
                        "jobTemplateRef": {"name": STREAMING_TEMPLATE},
                        "backfillJobTemplateRef": {"name": BACKFILL_TEMPLATE},
                    }},
                },
            }),
        };
        json!({
            "apiVersion": format!("{GROUP}/v1"),
            "kind": self.kind,
            "metadata": {"name": name, "namespace": ns},
            "spec": spec,
        })
    }

    /// The merge patch that sets the suspended flag where this layout keeps it.
    pub(crate) fn suspend_patch(&self, suspended: bool) -> Value {
        match self.layout {
            Layout::V0 => json!({"spec": {"suspended": suspended}}),
            _ => json!({"spec": {"execution": {"suspended": suspended}}}),
        }
    }

    /// Whether a stored object of this class is suspended.
    pub(crate) fn is_suspended(&self, obj: &Value) -> bool {
        let pointer = match self.layout {
            Layout::V0 => "/spec/suspended",
            _ => "/spec/execution/suspended",
        };
        obj.pointer(pointer).and_then(Value::as_bool).unwrap_or(false)
    }

    pub(crate) fn api(&self, client: &Client, ns: &str) -> Api<DynamicObject> {
        Api::namespaced_with(client.clone(), ns, &self.resource)
    }
}

/// A stream of the benchmark: its class (index into `Env::classes`) and name.
#[derive(Debug, Clone)]
pub(crate) struct StreamRef {
    pub class: usize,
    pub name: String,
}

/// `count` streams named `{prefix}-{i}`, spread round-robin over the classes.
/// Runs `each` for every stream, `workers` at a time; the results in completion order.
pub(crate) async fn for_each_stream<'a, Fut>(
    streams: &'a [StreamRef],
    workers: usize,
    each: impl FnMut(&'a StreamRef) -> Fut,
) -> Vec<Result<(), BenchError>>
where
    Fut: std::future::Future<Output = Result<(), BenchError>>,
{
    futures::stream::iter(streams)
        .map(each)
        .buffer_unordered(workers.max(1))
        .collect()
        .await
}

pub(crate) fn streams(prefix: &str, count: usize, classes: usize) -> Vec<StreamRef> {
    (0..count)
        .map(|i| StreamRef {
            class: i % classes,
            name: format!("{prefix}-{i}"),
        })
        .collect()
}

pub(crate) struct Env {
    pub sandbox: Sandbox,
    pub client: Client,
    pub classes: Vec<Class>,
    pub tracker: Tracker,
    pub streaming_template: StreamingJobTemplate,
}

impl Env {
    pub(crate) async fn start(classes: usize, backfill_ms: u64) -> Result<Env, BenchError> {
        let sandbox = Sandbox::start(SandboxConfig::default()).await?;
        let client = bench_client(&sandbox)?;
        let classes: Vec<Class> = (0..classes).map(Class::new).collect();
        let tracker = Tracker::start(sandbox.store(), &classes);
        install::install_crds(&client).await?;
        let namespaces: Api<Namespace> = Api::all(client.clone());
        for ns in [NS, BARE_NS] {
            let obj: Namespace = serde_json::from_value(json!({"metadata": {"name": ns}}))?;
            namespaces.create(&PostParams::default(), &obj).await?;
        }
        let demo = install::parse_documents(DEMO_YAML)?;
        let crd = demo
            .iter()
            .find(|d| d["kind"] == "CustomResourceDefinition")
            .ok_or_else(|| BenchError::Setup("the demo plugin has no CRD to copy".into()))?;
        let mut docs: Vec<Value> = classes.iter().map(|c| stream_crd(crd, c)).collect();
        docs.extend(classes.iter().map(stream_class));
        let mut streaming_template = None;
        for (name, outcome, after) in [
            (STREAMING_TEMPLATE, "Run", "1s".to_string()),
            (BACKFILL_TEMPLATE, "Succeed", format!("{backfill_ms}ms")),
        ] {
            let mut doc = demo
                .iter()
                .find(|d| {
                    d["kind"] == "StreamingJobTemplate" && d.pointer("/metadata/name") == Some(&json!(name))
                })
                .cloned()
                .ok_or_else(|| BenchError::Setup(format!("the demo plugin has no template {name}")))?;
            doc["metadata"]["namespace"] = json!(NS);
            doc["spec"]["metadata"]["annotations"]["sandbox.arcane.dev/outcome"] = json!(outcome);
            doc["spec"]["metadata"]["annotations"]["sandbox.arcane.dev/after"] = json!(after);
            if name == STREAMING_TEMPLATE {
                streaming_template = Some(serde_json::from_value::<StreamingJobTemplate>(doc.clone())?);
            }
            docs.push(doc);
        }
        install::apply_documents(&client, &docs).await?;
        let streaming_template =
            streaming_template.ok_or_else(|| BenchError::Setup("no streaming template".into()))?;
        Ok(Env {
            sandbox,
            client,
            classes,
            tracker,
            streaming_template,
        })
    }

    pub(crate) fn class(&self, stream: &StreamRef) -> &Class {
        &self.classes[stream.class]
    }

    /// Creates the streams in `ns` with `workers` concurrent requests.
    pub(crate) async fn create_streams(
        &self,
        ns: &str,
        streams: &[StreamRef],
        suspended: bool,
        workers: usize,
    ) -> Result<(), BenchError> {
        let results = for_each_stream(streams, workers, |s| async move {
            let class = self.class(s);
            let obj: DynamicObject = serde_json::from_value(class.stream(ns, &s.name, suspended))?;
            class
                .api(&self.client, ns)
                .create(&PostParams::default(), &obj)
                .await?;
            Ok(())
        })
        .await;
        results.into_iter().collect()
    }

    /// Merge-patches each stream's suspended flag with `workers` concurrent requests.
    pub(crate) async fn set_suspended(
        &self,
        streams: &[StreamRef],
        suspended: bool,
        workers: usize,
    ) -> Result<(), BenchError> {
        let results = for_each_stream(streams, workers, |s| async move {
            let class = self.class(s);
            class
                .api(&self.client, NS)
                .patch(
                    &s.name,
                    &PatchParams::default(),
                    &Patch::Merge(class.suspend_patch(suspended)),
                )
                .await?;
            Ok(())
        })
        .await;
        results.into_iter().collect()
    }

    /// A stored object of the operator's namespace.
    pub(crate) fn stored(&self, resource: &ApiResource, name: &str) -> Option<Value> {
        let gvr = kube_sandbox::Gvr::new(&resource.group, &resource.version, &resource.plural);
        self.sandbox.store().get(&gvr, Some(NS), name)
    }

    pub(crate) fn stored_job(&self, name: &str) -> Option<Value> {
        self.sandbox
            .store()
            .get(&kube_sandbox::Gvr::new("batch", "v1", "jobs"), Some(NS), name)
    }

    pub(crate) fn stored_stream(&self, stream: &StreamRef) -> Option<Value> {
        self.stored(&self.class(stream).resource, &stream.name)
    }
}

/// User agent of every request the benchmark itself sends: everything else in the sandbox's
/// request log is the operator's.
pub(crate) const BENCH_USER_AGENT: &str = "arcane-bench";

fn bench_client(sandbox: &Sandbox) -> Result<Client, BenchError> {
    let uri: http::Uri = sandbox
        .url()
        .parse()
        .map_err(|e: http::uri::InvalidUri| BenchError::Setup(e.to_string()))?;
    let mut config = kube::Config::new(uri);
    config.headers.push((
        http::header::USER_AGENT,
        http::HeaderValue::from_static(BENCH_USER_AGENT),
    ));
    Ok(Client::try_from(config)?)
}

/// The demo plugin's stream CRD, renamed for `class`.
fn stream_crd(template: &Value, class: &Class) -> Value {
    let mut crd = template.clone();
    crd["metadata"] = json!({"name": format!("{}.{GROUP}", class.plural)});
    crd["spec"]["group"] = json!(GROUP);
    crd["spec"]["names"] = json!({
        "kind": class.kind,
        "plural": class.plural,
        "singular": class.kind.to_lowercase(),
        "listKind": format!("{}List", class.kind),
    });
    crd
}

fn stream_class(class: &Class) -> Value {
    let mut spec = json!({
        "apiGroupRef": GROUP,
        "apiVersion": "v1",
        "kindRef": class.kind,
        "pluralName": class.plural,
    });
    if !class.secret_refs.is_empty() {
        spec["secretRefs"] = json!(class.secret_refs);
    }
    json!({
        "apiVersion": "streaming.sneaksanddata.com/v1",
        "kind": "StreamClass",
        "metadata": {"name": class.name},
        "spec": spec,
    })
}

/// Polls `done` every `every` until it holds; the time it took, or a timeout error naming `what`.
pub(crate) async fn wait_until(
    what: &str,
    timeout: Duration,
    every: Duration,
    mut done: impl FnMut() -> bool,
) -> Result<Duration, BenchError> {
    let start = std::time::Instant::now();
    loop {
        if done() {
            return Ok(start.elapsed());
        }
        if start.elapsed() > timeout {
            return Err(BenchError::Timeout {
                what: what.to_string(),
                secs: timeout.as_secs_f64(),
            });
        }
        tokio::time::sleep(every).await;
    }
}
