//! Installing manifests on a cluster: the operator's CRDs and YAML documents such as the demo plugin.

use std::time::Duration;

use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::api::{ApiResource, DynamicObject, Patch, PatchParams};
use kube::core::GroupVersionKind;
use kube::discovery::{self, Scope};
use kube::{Api, Client};
use serde_json::Value;

/// Field manager of everything the installer writes.
const MANAGER: &str = "arcane-installer";

#[derive(Debug, thiserror::Error)]
pub enum InstallError {
    #[error("cannot parse YAML: {0}")]
    Yaml(String),
    #[error("document {index} has no {field}")]
    Incomplete { index: usize, field: &'static str },
    #[error("cannot apply {kind} {name}: {source}")]
    Apply {
        kind: String,
        name: String,
        #[source]
        source: kube::Error,
    },
    #[error("CustomResourceDefinition {0} was not established in time")]
    NotEstablished(String),
}

/// Parses a multi-document YAML into JSON objects (empty documents skipped).
pub fn parse_documents(yaml: &str) -> Result<Vec<Value>, InstallError> {
    let docs: Vec<Value> =
        serde_saphyr::from_multiple(yaml).map_err(|e| InstallError::Yaml(e.to_string()))?;
    Ok(docs.into_iter().filter(serde_json::Value::is_object).collect())
}

/// Applies each document with server-side apply (so running it twice changes nothing), in order;
/// CustomResourceDefinitions are waited for until established before the next document.
pub async fn apply_documents(client: &Client, docs: &[Value]) -> Result<(), InstallError> {
    for (index, doc) in docs.iter().enumerate() {
        let field = |name: &'static str| {
            doc.pointer(name)
                .and_then(Value::as_str)
                .map(str::to_string)
                .ok_or(InstallError::Incomplete {
                    index,
                    field: match name {
                        "/apiVersion" => "apiVersion",
                        "/kind" => "kind",
                        _ => "metadata.name",
                    },
                })
        };
        let (api_version, kind, name) = (field("/apiVersion")?, field("/kind")?, field("/metadata/name")?);
        let namespace = doc.pointer("/metadata/namespace").and_then(Value::as_str);
        let (group, version) = api_version.rsplit_once('/').unwrap_or(("", api_version.as_str()));
        let gvk = GroupVersionKind::gvk(group, version, &kind);
        let api = api_for(client, &gvk, namespace)
            .await
            .map_err(|source| InstallError::Apply {
                kind: kind.clone(),
                name: name.clone(),
                source,
            })?;
        let params = PatchParams::apply(MANAGER).force();
        api.patch(&name, &params, &Patch::Apply(doc))
            .await
            .map_err(|source| InstallError::Apply {
                kind: kind.clone(),
                name: name.clone(),
                source,
            })?;
        if kind == "CustomResourceDefinition" {
            wait_established(client, &name, Duration::from_secs(20)).await?;
        }
    }
    Ok(())
}

async fn api_for(
    client: &Client,
    gvk: &GroupVersionKind,
    namespace: Option<&str>,
) -> kube::Result<Api<DynamicObject>> {
    let (resource, caps): (ApiResource, _) = discovery::pinned_kind(client, gvk).await?;
    Ok(match caps.scope {
        Scope::Cluster => Api::all_with(client.clone(), &resource),
        Scope::Namespaced => Api::namespaced_with(client.clone(), namespace.unwrap_or("default"), &resource),
    })
}

/// Installs the operator's own CRDs and waits until they are served.
pub async fn install_crds(client: &Client) -> Result<(), InstallError> {
    let docs = crate::crd::crds()
        .into_iter()
        .map(|crd| serde_json::to_value(crd).map_err(|e| InstallError::Yaml(e.to_string())))
        .collect::<Result<Vec<_>, _>>()?;
    apply_documents(client, &docs).await
}

/// Waits until the named CRD reports `Established=True`.
pub async fn wait_established(client: &Client, name: &str, timeout: Duration) -> Result<(), InstallError> {
    let api: Api<CustomResourceDefinition> = Api::all(client.clone());
    let deadline = tokio::time::Instant::now() + timeout;
    while tokio::time::Instant::now() < deadline {
        if let Ok(Some(crd)) = api.get_opt(name).await {
            let established = crd
                .status
                .and_then(|s| s.conditions)
                .unwrap_or_default()
                .iter()
                .any(|c| c.type_ == "Established" && c.status == "True");
            if established {
                return Ok(());
            }
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    Err(InstallError::NotEstablished(name.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn demo_manifest_parses() {
        let docs = parse_documents(super::super::DEMO_YAML).expect("demo YAML parses");
        assert!(docs.len() >= 10);
        assert!(
            docs.iter()
                .all(|d| d.get("kind").is_some() && d.pointer("/metadata/name").is_some())
        );
    }

    #[test]
    fn bad_yaml_is_an_error() {
        assert!(matches!(
            parse_documents("a: [unclosed"),
            Err(InstallError::Yaml(_))
        ));
    }
}
