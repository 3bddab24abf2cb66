//! `kubectl arcane logs STREAM [-f]`: the pod logs of the stream's current Job, read as kubectl
//! does: pods by the `job-name=<job>` label, then `pods/<name>/log` (`follow=true` with `-f`).

use std::io::Write;

use futures::{AsyncBufReadExt, TryStreamExt};
use k8s_openapi::api::batch::v1::Job;
use k8s_openapi::api::core::v1::Pod;
use kube::api::{ListParams, LogParams};
use kube::{Api, Client, ResourceExt};

use super::error::{Call, PluginError};
use super::find::{FoundStream, Scope};
use super::status::Inventory;

/// What the user asked of the logs.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LogRequest {
    pub follow: bool,
    pub tail_lines: Option<i64>,
}

/// The query of `pods/<name>/log`.
pub fn log_params(request: &LogRequest) -> LogParams {
    LogParams {
        follow: request.follow,
        tail_lines: request.tail_lines,
        ..LogParams::default()
    }
}

/// The label selector of a Job's pods (set by the Job controller).
pub(super) fn pod_selector(job: &str) -> String {
    format!("job-name={job}")
}

/// The Job whose pods to read: the stream's Job, or the newest run of its CronJob.
fn current_job(inventory: &Inventory, found: &FoundStream) -> Option<String> {
    let workload = inventory.workload(&found.namespace, found.uid())?;
    if workload.kind == "Job" {
        return Some(workload.name);
    }
    let cron_uid = inventory
        .cronjobs
        .iter()
        .find(|c| c.name_any() == workload.name)?
        .metadata
        .uid
        .clone()?;
    inventory
        .jobs
        .iter()
        .filter(|j| {
            j.metadata
                .owner_references
                .iter()
                .flatten()
                .any(|o| o.uid == cron_uid)
        })
        .max_by_key(|j: &&Job| j.metadata.creation_timestamp.clone())
        .map(ResourceExt::name_any)
}

pub(super) async fn stream_logs(
    client: &Client,
    found: &FoundStream,
    request: &LogRequest,
    out: &mut (dyn Write + Send),
) -> Result<(), PluginError> {
    let namespace = &found.namespace;
    let inventory = Inventory::list(client, &Scope::Namespace(namespace.clone())).await?;
    let Some(job) = current_job(&inventory, found) else {
        return Err(PluginError::Refused(format!(
            "{} has no Job now (kubectl arcane status shows its phase)",
            found.display()
        )));
    };
    let call = |verb| Call {
        verb,
        group: "",
        resource: if verb == "list" { "pods" } else { "pods/log" },
        namespace: Some(namespace),
    };
    let pods: Api<Pod> = Api::namespaced(client.clone(), namespace);
    let mut list = pods
        .list(&ListParams::default().labels(&pod_selector(&job)))
        .await
        .map_err(|e| call("list").error(e))?
        .items;
    if list.is_empty() {
        return Err(PluginError::Refused(format!("job/{job} has no pods (yet)")));
    }
    list.sort_by_key(|p| p.metadata.creation_timestamp.clone());
    let params = log_params(request);
    if request.follow {
        // Following several pods at once would interleave them: follow the newest, like
        // `kubectl logs job/<name> -f`.
        let Some(pod) = list.last() else { return Ok(()) };
        let mut lines = pods
            .log_stream(&pod.name_any(), &params)
            .await
            .map_err(|e| call("get").error(e))?
            .lines();
        while let Some(line) = lines.try_next().await? {
            writeln!(out, "{line}")?;
            out.flush()?;
        }
        return Ok(());
    }
    let prefix = list.len() > 1;
    for pod in &list {
        let name = pod.name_any();
        let text = pods
            .logs(&name, &params)
            .await
            .map_err(|e| call("get").error(e))?;
        for line in text.lines() {
            if prefix {
                writeln!(out, "[pod/{name}] {line}")?;
            } else {
                writeln!(out, "{line}")?;
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use kube::core::Request;

    /// The request `logs` makes is kubectl's: `GET /api/v1/namespaces/<ns>/pods/<pod>/log`, with
    /// `follow=true` and `tailLines` as asked.
    #[test]
    fn the_log_request_is_kubectls() {
        let request = Request::new("/api/v1/namespaces/prod/pods");
        let follow = log_params(&LogRequest {
            follow: true,
            tail_lines: Some(100),
        });
        let http = request.logs("orders-abcde", &follow).unwrap();
        assert_eq!(http.method(), "GET");
        assert_eq!(
            http.uri().to_string(),
            "/api/v1/namespaces/prod/pods/orders-abcde/log?&follow=true&tailLines=100"
        );
        let plain = request
            .logs("orders-abcde", &log_params(&LogRequest::default()))
            .unwrap();
        assert_eq!(
            plain.uri().to_string(),
            "/api/v1/namespaces/prod/pods/orders-abcde/log?"
        );
        assert_eq!(pod_selector("orders"), "job-name=orders");
    }
}
