//! Component schemas: the shared meta types, and modest built-in kind schemas that carry what kubectl reads
//! (`x-kubernetes-group-version-kind`, list merge keys and strategies, field types for `kubectl explain`).
//! Built-in objects keep `x-kubernetes-preserve-unknown-fields` where the schema is abridged.

use serde_json::{Map, Value, json};

pub(super) const OBJECT_META: &str = "io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta";
pub(super) const LIST_META: &str = "io.k8s.apimachinery.pkg.apis.meta.v1.ListMeta";
pub(super) const PATCH: &str = "io.k8s.apimachinery.pkg.apis.meta.v1.Patch";
pub(super) const STATUS: &str = "io.k8s.apimachinery.pkg.apis.meta.v1.Status";
pub(super) const DELETE_OPTIONS: &str = "io.k8s.apimachinery.pkg.apis.meta.v1.DeleteOptions";
pub(super) const WATCH_EVENT: &str = "io.k8s.apimachinery.pkg.apis.meta.v1.WatchEvent";
const POD_TEMPLATE_SPEC: &str = "io.k8s.api.core.v1.PodTemplateSpec";
const POD_SPEC: &str = "io.k8s.api.core.v1.PodSpec";
const CONTAINER: &str = "io.k8s.api.core.v1.Container";
const JOB_SPEC: &str = "io.k8s.api.batch.v1.JobSpec";
const OWNER_REFERENCE: &str = "io.k8s.apimachinery.pkg.apis.meta.v1.OwnerReference";
const CONDITION: &str = "io.k8s.apimachinery.pkg.apis.meta.v1.Condition";

pub(super) fn reference(name: &str) -> Value {
    json!({"$ref": format!("#/components/schemas/{name}")})
}

/// A `$ref` wrapped in `allOf`, the way the apiserver's v3 documents point at named types from a property.
pub(super) fn ref_prop(name: &str, description: &str) -> Value {
    json!({"allOf": [reference(name)], "default": {}, "description": description})
}

fn string(description: &str) -> Value {
    json!({"type": "string", "default": "", "description": description})
}

fn string_map(description: &str) -> Value {
    json!({"type": "object", "additionalProperties": {"type": "string", "default": ""}, "description": description})
}

fn open_object(description: &str) -> Value {
    json!({"type": "object", "x-kubernetes-preserve-unknown-fields": true, "description": description})
}

/// A list of objects merged by `key` (strategic merge patch and server-side apply agree on it).
fn keyed_list(item: Value, key: &str, description: &str) -> Value {
    json!({"type": "array", "items": item, "description": description,
           "x-kubernetes-list-type": "map", "x-kubernetes-list-map-keys": [key],
           "x-kubernetes-patch-merge-key": key, "x-kubernetes-patch-strategy": "merge"})
}

fn atomic_list(item: Value, description: &str) -> Value {
    json!({"type": "array", "items": item, "description": description, "x-kubernetes-list-type": "atomic"})
}

pub(super) const API_VERSION_DESC: &str = "APIVersion defines the versioned schema of this representation of an object. \
Servers should convert recognized schemas to the latest internal value, and may reject unrecognized values.";
pub(super) const KIND_DESC: &str = "Kind is a string value representing the REST resource this object represents. \
Servers may infer this from the endpoint the client submits requests to. Cannot be updated. In CamelCase.";
pub(super) const METADATA_DESC: &str = "Standard object's metadata.";

/// The shared meta and pod-template schemas every document carries.
pub(super) fn shared() -> Map<String, Value> {
    let mut m = Map::new();
    m.insert(
        OBJECT_META.into(),
        json!({"type": "object", "description": "ObjectMeta is metadata that all persisted resources must have.",
               "properties": {
                 "name": string("Name must be unique within a namespace."),
                 "generateName": string("GenerateName is an optional prefix, used by the server, to generate a unique name."),
                 "namespace": string("Namespace defines the space within which each name must be unique."),
                 "uid": string("UID is the unique in time and space value for this object."),
                 "resourceVersion": string("An opaque value that represents the internal version of this object."),
                 "generation": {"type": "integer", "format": "int64", "description": "A sequence number representing a specific generation of the desired state."},
                 "creationTimestamp": {"type": "string", "format": "date-time", "description": "CreationTimestamp is a timestamp representing the server time when this object was created."},
                 "deletionTimestamp": {"type": "string", "format": "date-time", "description": "DeletionTimestamp is RFC 3339 date and time at which this resource will be deleted."},
                 "deletionGracePeriodSeconds": {"type": "integer", "format": "int64", "description": "Number of seconds allowed for this object to gracefully terminate."},
                 "labels": string_map("Map of string keys and values that can be used to organize and categorize objects."),
                 "annotations": string_map("Annotations is an unstructured key value map stored with a resource."),
                 "finalizers": {"type": "array", "items": {"type": "string", "default": ""},
                                "description": "Must be empty before the object is deleted from the registry.",
                                "x-kubernetes-list-type": "set", "x-kubernetes-patch-strategy": "merge"},
                 "ownerReferences": keyed_list(reference(OWNER_REFERENCE), "uid", "List of objects depended by this object."),
                 "managedFields": {"type": "array", "items": open_object("ManagedFieldsEntry"),
                                   "description": "ManagedFields maps workflow-id and version to the set of fields that are managed by that workflow."}
               }}),
    );
    m.insert(
        OWNER_REFERENCE.into(),
        json!({"type": "object", "required": ["apiVersion", "kind", "name", "uid"],
               "description": "OwnerReference contains enough information to let you identify an owning object.",
               "properties": {"apiVersion": string("API version of the referent."), "kind": string("Kind of the referent."),
                              "name": string("Name of the referent."), "uid": string("UID of the referent."),
                              "controller": {"type": "boolean", "description": "If true, this reference points to the managing controller."},
                              "blockOwnerDeletion": {"type": "boolean", "description": "If true, the owner cannot be deleted from the key-value store until this reference is removed."}},
               "x-kubernetes-map-type": "atomic"}),
    );
    m.insert(
        LIST_META.into(),
        json!({"type": "object", "description": "ListMeta describes metadata that synthetic resources must have.",
               "properties": {"resourceVersion": string("String that identifies the server's internal version of this object."),
                              "continue": string("continue may be set if the user set a limit on the number of items returned."),
                              "remainingItemCount": {"type": "integer", "format": "int64"}}}),
    );
    m.insert(
        CONDITION.into(),
        json!({"type": "object", "required": ["type", "status", "lastTransitionTime", "reason", "message"],
               "description": "Condition contains details for one aspect of the current state of this API Resource.",
               "properties": {"type": string("type of condition in CamelCase."), "status": string("status of the condition, one of True, False, Unknown."),
                              "observedGeneration": {"type": "integer", "format": "int64"},
                              "lastTransitionTime": {"type": "string", "format": "date-time"},
                              "reason": string("reason contains a programmatic identifier."), "message": string("message is a human readable message.")}}),
    );
    m.insert(PATCH.into(), json!({"type": "object", "description": "Patch is provided to give a concrete name and type to the Kubernetes PATCH request body."}));
    m.insert(
        STATUS.into(),
        open_object("Status is a return value for calls that don't return other objects."),
    );
    m.insert(
        DELETE_OPTIONS.into(),
        open_object("DeleteOptions may be provided when deleting an API object."),
    );
    m.insert(WATCH_EVENT.into(), json!({"type": "object", "required": ["type", "object"], "description": "Event represents a single event to a watched resource.",
        "properties": {"type": string("ADDED, MODIFIED, DELETED, BOOKMARK or ERROR"), "object": open_object("Object is the object of the event.")}}));
    m.insert(
        POD_TEMPLATE_SPEC.into(),
        json!({"type": "object", "description": "PodTemplateSpec describes the data a pod should have when created from a template",
               "properties": {"metadata": ref_prop(OBJECT_META, METADATA_DESC), "spec": ref_prop(POD_SPEC, "Specification of the desired behavior of the pod.")}}),
    );
    let named = |d: &str| {
        json!({"type": "object", "x-kubernetes-preserve-unknown-fields": true, "required": ["name"], "description": d,
                                 "properties": {"name": string("Name of the item.")}})
    };
    m.insert(
        POD_SPEC.into(),
        json!({"type": "object", "x-kubernetes-preserve-unknown-fields": true,
               "description": "PodSpec is a description of a pod.",
               "properties": {
                 "containers": keyed_list(reference(CONTAINER), "name", "List of containers belonging to the pod."),
                 "initContainers": keyed_list(reference(CONTAINER), "name", "List of initialization containers belonging to the pod."),
                 "ephemeralContainers": keyed_list(reference(CONTAINER), "name", "List of ephemeral containers run in this pod."),
                 "volumes": keyed_list(named("Volume represents a named volume in a pod."), "name", "List of volumes that can be mounted by containers belonging to the pod."),
                 "imagePullSecrets": keyed_list(named("LocalObjectReference"), "name", "ImagePullSecrets is an optional list of references to secrets."),
                 "tolerations": atomic_list(open_object("Toleration"), "If specified, the pod's tolerations."),
                 "restartPolicy": string("Restart policy for all containers within the pod. One of Always, OnFailure, Never."),
                 "serviceAccountName": string("ServiceAccountName is the name of the ServiceAccount to use to run this pod."),
                 "nodeName": string("NodeName indicates in which node this pod is scheduled.")
               }}),
    );
    m.insert(
        CONTAINER.into(),
        json!({"type": "object", "required": ["name"], "x-kubernetes-preserve-unknown-fields": true,
               "description": "A single application container that you want to run within a pod.",
               "properties": {
                 "name": string("Name of the container specified as a DNS_LABEL."),
                 "image": string("Container image name."),
                 "command": atomic_list(json!({"type": "string", "default": ""}), "Entrypoint array."),
                 "args": atomic_list(json!({"type": "string", "default": ""}), "Arguments to the entrypoint."),
                 "env": keyed_list(named("EnvVar represents an environment variable present in a Container."), "name", "List of environment variables to set in the container."),
                 "envFrom": atomic_list(open_object("EnvFromSource"), "List of sources to populate environment variables in the container."),
                 "ports": {"type": "array", "items": open_object("ContainerPort"), "description": "List of ports to expose from the container.",
                           "x-kubernetes-list-type": "map", "x-kubernetes-list-map-keys": ["containerPort", "protocol"],
                           "x-kubernetes-patch-merge-key": "containerPort", "x-kubernetes-patch-strategy": "merge"},
                 "volumeMounts": {"type": "array", "items": open_object("VolumeMount"), "description": "Pod volumes to mount into the container's filesystem.",
                                  "x-kubernetes-list-type": "map", "x-kubernetes-list-map-keys": ["mountPath"],
                                  "x-kubernetes-patch-merge-key": "mountPath", "x-kubernetes-patch-strategy": "merge"},
                 "resources": open_object("Compute Resources required by this container.")
               }}),
    );
    m.insert(
        JOB_SPEC.into(),
        json!({"type": "object", "required": ["template"], "x-kubernetes-preserve-unknown-fields": true,
               "description": "JobSpec describes how the job execution will look like.",
               "properties": {
                 "template": ref_prop(POD_TEMPLATE_SPEC, "Describes the pod that will be created when executing a job."),
                 "parallelism": {"type": "integer", "format": "int32"}, "completions": {"type": "integer", "format": "int32"},
                 "backoffLimit": {"type": "integer", "format": "int32"}, "activeDeadlineSeconds": {"type": "integer", "format": "int64"},
                 "ttlSecondsAfterFinished": {"type": "integer", "format": "int32"}, "suspend": {"type": "boolean"},
                 "selector": open_object("A label query over pods that should match the pod count.")
               }}),
    );
    m
}

fn conditions(description: &str) -> Value {
    keyed_list(open_object("A condition"), "type", description)
}

/// The schema name and spec/status properties of a built-in kind (empty properties: the kind stays open).
pub(super) fn builtin_kind(group: &str, kind: &str) -> Option<(String, Map<String, Value>)> {
    let pkg = match group {
        "" => "io.k8s.api.core",
        "batch" => "io.k8s.api.batch",
        "coordination.k8s.io" => "io.k8s.api.coordination",
        "events.k8s.io" => "io.k8s.api.events",
        "apps" => "io.k8s.api.apps",
        "apiextensions.k8s.io" => "io.k8s.apiextensions-apiserver.pkg.apis.apiextensions",
        _ => return None,
    };
    let props = match (group, kind) {
        ("", "ConfigMap") => json!({
            "data": string_map("Data contains the configuration data."),
            "binaryData": {"type": "object", "additionalProperties": {"type": "string", "format": "byte"}, "description": "BinaryData contains the binary data."},
            "immutable": {"type": "boolean", "description": "Immutable, if set to true, ensures that data stored in the ConfigMap cannot be updated."}}),
        ("", "Secret") => json!({
            "data": {"type": "object", "additionalProperties": {"type": "string", "format": "byte"}, "description": "Data contains the secret data."},
            "stringData": string_map("stringData allows specifying non-binary secret data in string form."),
            "type": string("Used to facilitate programmatic handling of secret data."),
            "immutable": {"type": "boolean"}}),
        ("", "ServiceAccount") => json!({
            "secrets": keyed_list(open_object("ObjectReference"), "name", "Secrets is a list of the secrets in the same namespace."),
            "imagePullSecrets": atomic_list(open_object("LocalObjectReference"), "ImagePullSecrets"),
            "automountServiceAccountToken": {"type": "boolean"}}),
        ("", "Namespace") => json!({
            "spec": open_object("Spec defines the behavior of the Namespace."),
            "status": {"type": "object", "properties": {"phase": string("Phase is the current lifecycle phase of the namespace."),
                       "conditions": conditions("Represents the latest available observations of a namespace's current state.")}}}),
        ("", "Pod") => json!({
            "spec": ref_prop(POD_SPEC, "Specification of the desired behavior of the pod."),
            "status": {"type": "object", "x-kubernetes-preserve-unknown-fields": true, "properties": {
                "phase": string("The phase of a Pod."), "conditions": conditions("Current service state of pod.")}}}),
        ("batch", "Job") => json!({
            "spec": ref_prop(JOB_SPEC, "Specification of the desired behavior of a job."),
            "status": {"type": "object", "x-kubernetes-preserve-unknown-fields": true, "properties": {
                "conditions": conditions("The latest available observations of an object's current state."),
                "active": {"type": "integer", "format": "int32"}, "succeeded": {"type": "integer", "format": "int32"},
                "failed": {"type": "integer", "format": "int32"},
                "startTime": {"type": "string", "format": "date-time"}, "completionTime": {"type": "string", "format": "date-time"}}}}),
        ("batch", "CronJob") => json!({
            "spec": {"type": "object", "required": ["schedule", "jobTemplate"], "x-kubernetes-preserve-unknown-fields": true, "properties": {
                "schedule": string("The schedule in Cron format."), "timeZone": {"type": "string"},
                "suspend": {"type": "boolean"}, "concurrencyPolicy": string("Specifies how to treat concurrent executions of a Job."),
                "jobTemplate": {"type": "object", "description": "Specifies the job that will be created when executing a CronJob.",
                                "properties": {"metadata": ref_prop(OBJECT_META, METADATA_DESC), "spec": ref_prop(JOB_SPEC, "Specification of the desired behavior of the job.")}}}},
            "status": open_object("Current status of a cron job.")}),
        ("coordination.k8s.io", "Lease") => json!({
            "spec": {"type": "object", "properties": {
                "holderIdentity": {"type": "string"}, "leaseDurationSeconds": {"type": "integer", "format": "int32"},
                "acquireTime": {"type": "string", "format": "date-time"}, "renewTime": {"type": "string", "format": "date-time"},
                "leaseTransitions": {"type": "integer", "format": "int32"}}}}),
        ("apiextensions.k8s.io", "CustomResourceDefinition") => json!({
            "spec": open_object("spec describes how the user wants the resources to appear"),
            "status": {"type": "object", "x-kubernetes-preserve-unknown-fields": true, "properties": {
                "conditions": conditions("conditions indicate state for particular aspects of a CustomResourceDefinition")}}}),
        // Events and anything else: the top-level fields stay open.
        _ => Value::Null,
    };
    let props = match props {
        Value::Object(m) => m,
        _ => Map::new(),
    };
    Some((format!("{pkg}.v1.{kind}"), props))
}
