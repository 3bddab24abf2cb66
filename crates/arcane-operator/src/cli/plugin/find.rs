//! Finding streams: through the StreamClasses, which name each plugin's stream kind.

use kube::api::{ApiResource, DynamicObject, ListParams};
use kube::core::GroupVersionKind;
use kube::{Api, Client};

use super::error::{Call, PluginError, is_not_found};
use crate::crd::{GROUP, StreamClass};

/// Which namespaces a listing covers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Scope {
    Namespace(String),
    All,
}

impl Scope {
    pub fn namespace(&self) -> Option<&str> {
        match self {
            Scope::Namespace(ns) => Some(ns),
            Scope::All => None,
        }
    }

    pub fn api(&self, client: &Client, resource: &ApiResource) -> Api<DynamicObject> {
        match self {
            Scope::Namespace(ns) => Api::namespaced_with(client.clone(), ns, resource),
            Scope::All => Api::all_with(client.clone(), resource),
        }
    }

    pub fn typed<K>(&self, client: &Client) -> Api<K>
    where
        K: kube::Resource<Scope = k8s_openapi::NamespaceResourceScope, DynamicType = ()>,
    {
        match self {
            Scope::Namespace(ns) => Api::namespaced(client.clone(), ns),
            Scope::All => Api::all(client.clone()),
        }
    }
}

/// A stream the user named: `name` in `namespace`, optionally of `kind`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StreamRef {
    pub namespace: String,
    pub name: String,
    pub kind: Option<String>,
}

impl StreamRef {
    /// `name`, or `kind/name` as kubectl prints objects (`mockstreamv1/customers`); `--kind`, when
    /// given, wins over a kind in the name.
    pub fn parse(namespace: &str, stream: &str, kind: Option<&str>) -> StreamRef {
        let (from_name, name) = match stream.split_once('/') {
            Some((kind, name)) => (Some(kind), name),
            None => (None, stream),
        };
        StreamRef {
            namespace: namespace.to_owned(),
            name: name.to_owned(),
            kind: kind.or(from_name).map(str::to_owned),
        }
    }
}

/// A class's stream kind, as an API resource.
#[derive(Debug, Clone)]
pub(super) struct ClassKind {
    /// `metadata.name` of the StreamClass.
    pub class: String,
    pub resource: ApiResource,
}

/// A stream found in the cluster, with the class that serves its kind.
#[derive(Debug, Clone)]
pub struct FoundStream {
    pub class: String,
    pub resource: ApiResource,
    pub namespace: String,
    pub name: String,
    pub object: DynamicObject,
}

impl FoundStream {
    /// `kind/name`, as kubectl prints an object.
    pub fn display(&self) -> String {
        format!("{}/{}", self.resource.kind.to_lowercase(), self.name)
    }

    pub fn api(&self, client: &Client) -> Api<DynamicObject> {
        Api::namespaced_with(client.clone(), &self.namespace, &self.resource)
    }

    pub fn uid(&self) -> &str {
        self.object.metadata.uid.as_deref().unwrap_or_default()
    }

    /// A `get` of this stream, for errors.
    pub fn call<'a>(&'a self, verb: &'a str) -> Call<'a> {
        Call {
            verb,
            group: &self.resource.group,
            resource: &self.resource.plural,
            namespace: Some(&self.namespace),
        }
    }
}

/// Every StreamClass, by name. A cluster without the StreamClass CRD has none.
pub async fn list_classes(client: &Client) -> Result<Vec<StreamClass>, PluginError> {
    let call = Call {
        verb: "list",
        group: GROUP,
        resource: "streamclasses",
        namespace: None,
    };
    let api: Api<StreamClass> = Api::all(client.clone());
    let mut classes = match api.list(&ListParams::default()).await {
        Ok(list) => list.items,
        Err(error) if is_not_found(&error) => Vec::new(),
        Err(error) => return Err(call.error(error)),
    };
    classes.sort_by(|a, b| a.metadata.name.cmp(&b.metadata.name));
    Ok(classes)
}

/// The stream resource a class names.
pub(super) fn class_kind(class: &StreamClass) -> ClassKind {
    let group = class.spec.api_group_ref.clone().unwrap_or_default();
    let gvk = GroupVersionKind::gvk(&group, &class.spec.api_version, &class.spec.kind_ref);
    ClassKind {
        class: class.metadata.name.clone().unwrap_or_default(),
        resource: ApiResource::from_gvk_with_plural(&gvk, &class.spec.plural_name),
    }
}

/// The stream kinds of `classes`, one per resource (two classes naming one kind list it once).
pub(super) fn kinds(classes: &[StreamClass]) -> Vec<ClassKind> {
    let mut kinds: Vec<ClassKind> = Vec::new();
    for kind in classes.iter().map(class_kind) {
        if !kinds.iter().any(|k| same_resource(&k.resource, &kind.resource)) {
            kinds.push(kind);
        }
    }
    kinds
}

fn same_resource(a: &ApiResource, b: &ApiResource) -> bool {
    a.group == b.group && a.version == b.version && a.plural == b.plural
}

/// Whether `wanted` (from `--kind`) names this kind: its kind, plural or class name, any case.
fn kind_matches(kind: &ClassKind, wanted: &str) -> bool {
    [&kind.resource.kind, &kind.resource.plural, &kind.class]
        .iter()
        .any(|name| name.eq_ignore_ascii_case(wanted))
}

/// The one stream `stream` names. Errors: no class, unknown `--kind`, no such stream, or a name
/// that streams of several kinds share (the error lists them as `kind/name`).
pub async fn find_stream(client: &Client, stream: &StreamRef) -> Result<FoundStream, PluginError> {
    let classes = list_classes(client).await?;
    if classes.is_empty() {
        return Err(PluginError::NoClasses);
    }
    let all = kinds(&classes);
    let candidates: Vec<&ClassKind> = match &stream.kind {
        Some(wanted) => all.iter().filter(|k| kind_matches(k, wanted)).collect(),
        None => all.iter().collect(),
    };
    if candidates.is_empty() {
        let known: Vec<&str> = all.iter().map(|k| k.resource.kind.as_str()).collect();
        return Err(PluginError::UnknownKind {
            kind: stream.kind.clone().unwrap_or_default(),
            known: known.join(", "),
        });
    }
    let mut found = Vec::new();
    for kind in &candidates {
        let api: Api<DynamicObject> = Api::namespaced_with(client.clone(), &stream.namespace, &kind.resource);
        let call = Call {
            verb: "get",
            group: &kind.resource.group,
            resource: &kind.resource.plural,
            namespace: Some(&stream.namespace),
        };
        // A class whose CRD is not installed answers 404 like a missing object: nothing there.
        if let Some(object) = api.get_opt(&stream.name).await.map_err(|e| call.error(e))? {
            found.push(FoundStream {
                class: kind.class.clone(),
                resource: kind.resource.clone(),
                namespace: stream.namespace.clone(),
                name: stream.name.clone(),
                object,
            });
        }
    }
    match found.len() {
        0 => {
            let looked: Vec<&str> = candidates.iter().map(|k| k.resource.kind.as_str()).collect();
            Err(PluginError::NoSuchStream {
                name: stream.name.clone(),
                namespace: stream.namespace.clone(),
                kinds: format!(" (looked in kinds {})", looked.join(", ")),
            })
        }
        1 => Ok(found.remove(0)),
        _ => {
            let choices: Vec<String> = found
                .iter()
                .map(|f| format!("{}/{}", f.resource.kind, f.name))
                .collect();
            Err(PluginError::Ambiguous {
                name: stream.name.clone(),
                namespace: stream.namespace.clone(),
                choices: choices.join(", "),
            })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_stream_is_named_alone_or_as_kind_slash_name() {
        let r = StreamRef::parse("ns", "orders", None);
        assert_eq!((r.name.as_str(), r.kind), ("orders", None));
        let r = StreamRef::parse("ns", "mockstreamv1/orders", None);
        assert_eq!(
            (r.name.as_str(), r.kind.as_deref()),
            ("orders", Some("mockstreamv1"))
        );
        let r = StreamRef::parse("ns", "mockstreamv1/orders", Some("MockStreamV0"));
        assert_eq!(r.kind.as_deref(), Some("MockStreamV0"));
    }
}
