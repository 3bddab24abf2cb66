//! `GET .../pods/<name>/log`: a few simulated lines per container (there is no kubelet), with the API server's
//! refusals for an ambiguous or unknown container and for a pod whose containers have not started.

use axum::body::Body;
use axum::http::{HeaderValue, header};
use axum::response::Response;
use serde_json::Value;

use super::http::Query;
use super::path::ResourcePath;
use crate::store::{ApiError, Store};

fn names(pod: &Value, list: &str) -> Vec<String> {
    pod.pointer(&format!("/spec/{list}"))
        .and_then(Value::as_array)
        .map(|cs| {
            cs.iter()
                .filter_map(|c| c["name"].as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default()
}

pub fn pod_log(store: &Store, rp: &ResourcePath, q: &Query) -> Result<Response, ApiError> {
    let name = rp.name.as_deref().unwrap_or("");
    let pod = store
        .get_arc(rp.gvr(), rp.namespace.as_deref(), name)
        .ok_or_else(|| ApiError::not_found(rp.gvr(), name))?;
    let containers = names(&pod, "containers");
    let init = names(&pod, "initContainers");
    let container = match q.value("container").filter(|c| !c.is_empty()) {
        Some(c) if containers.iter().chain(&init).any(|n| n == c) => c.to_string(),
        Some(c) => {
            return Err(ApiError::bad_request(format!(
                "container {c} is not valid for pod {name}"
            )));
        }
        None if containers.len() == 1 => containers[0].clone(),
        None => {
            let mut msg = format!(
                "a container name must be specified for pod {name}, choose one of: [{}]",
                containers.join(" ")
            );
            if !init.is_empty() {
                msg.push_str(&format!(" or one of the init containers: [{}]", init.join(" ")));
            }
            return Err(ApiError::bad_request(msg));
        }
    };
    let phase = pod
        .pointer("/status/phase")
        .and_then(Value::as_str)
        .unwrap_or("Pending");
    if phase == "Pending" {
        return Err(ApiError::bad_request(format!(
            "container {container:?} in pod {name:?} is waiting to start: ContainerCreating"
        )));
    }
    let owner = pod
        .pointer("/metadata/ownerReferences/0/name")
        .and_then(Value::as_str)
        .unwrap_or("");
    let mut lines = vec![
        format!("kube-sandbox: simulated log of container {container} in pod {name}"),
        format!("kube-sandbox: owner {owner}, no process ran (there is no kubelet)"),
        format!("kube-sandbox: pod phase {phase}"),
    ];
    if let Some(n) = q.value("tailLines").and_then(|t| t.parse::<usize>().ok()) {
        let skip = lines.len().saturating_sub(n);
        lines.drain(..skip);
    }
    let mut text = lines.join("\n");
    text.push('\n');
    let mut resp = Response::new(Body::from(text));
    resp.headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static("text/plain"));
    Ok(resp)
}
