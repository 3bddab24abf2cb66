//! Metadata of a built workload: name, labels, annotations and the owner reference.

use std::collections::BTreeMap;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, OwnerReference};
use serde_json::Value;

use super::BuildInput;
use crate::stream::hash::canonical_json;
use crate::stream::model::{
    ANNOTATION_BACKFILL_REQUEST, ANNOTATION_CONFIGURATION_HASH, ANNOTATION_FULL_LABELS, ANNOTATION_RESTARTS,
    ANNOTATION_STREAM_GENERATION, LABEL_BACKFILLING, LABEL_STREAM_CLASS, LABEL_STREAM_ID, LABEL_STREAM_KIND,
};
use crate::stream::names;

/// Annotations whose meaning the operator owns: a template cannot provide them, because `decide`
/// reads them back (a template's `arcane/backfill-request` would make a streaming Job look like a
/// backfill).
const OPERATOR_ANNOTATIONS: [&str; 5] = [
    ANNOTATION_CONFIGURATION_HASH,
    ANNOTATION_BACKFILL_REQUEST,
    ANNOTATION_STREAM_GENERATION,
    ANNOTATION_RESTARTS,
    ANNOTATION_FULL_LABELS,
];

/// The per-workload facts besides the input.
pub(super) struct WorkloadMeta<'a> {
    pub name: String,
    pub template_labels: &'a BTreeMap<String, String>,
    pub template_annotations: &'a BTreeMap<String, String>,
    pub backfilling: bool,
    pub backfill_request: Option<String>,
    pub hash: String,
}

/// Metadata of a Job or CronJob built for the input's stream.
pub(super) fn workload_metadata(input: &BuildInput<'_>, meta: &WorkloadMeta<'_>) -> ObjectMeta {
    let mut labels = meta.template_labels.clone();
    labels.insert(LABEL_STREAM_ID.into(), input.identity.name.clone());
    labels.insert(LABEL_STREAM_KIND.into(), input.identity.kind.clone());
    labels.insert(LABEL_STREAM_CLASS.into(), input.class.name.clone());
    labels.insert(LABEL_BACKFILLING.into(), meta.backfilling.to_string());

    let mut annotations = without_operator_annotations(meta.template_annotations);
    let labels = valid_labels(labels, &mut annotations);
    annotations.insert(ANNOTATION_CONFIGURATION_HASH.into(), meta.hash.clone());
    annotations.insert(
        ANNOTATION_STREAM_GENERATION.into(),
        input.identity.generation.to_string(),
    );
    annotations.insert(ANNOTATION_RESTARTS.into(), input.restarts.to_string());
    if let Some(request) = &meta.backfill_request {
        annotations.insert(ANNOTATION_BACKFILL_REQUEST.into(), request.clone());
    }

    ObjectMeta {
        name: Some(meta.name.clone()),
        namespace: Some(input.identity.namespace.clone()),
        labels: Some(labels),
        annotations: Some(annotations),
        owner_references: Some(vec![owner_reference(input)]),
        ..ObjectMeta::default()
    }
}

/// The template's own labels and annotations, for the Jobs a CronJob creates.
pub(super) fn template_metadata(
    labels: &BTreeMap<String, String>,
    annotations: &BTreeMap<String, String>,
) -> ObjectMeta {
    let mut annotations = without_operator_annotations(annotations);
    let labels = valid_labels(labels.clone(), &mut annotations);
    ObjectMeta {
        labels: (!labels.is_empty()).then_some(labels),
        annotations: (!annotations.is_empty()).then_some(annotations),
        ..ObjectMeta::default()
    }
}

/// The one owner reference of every workload: the stream, as its controller, so that deleting the
/// stream deletes the workload and the workload's events reach the stream's controller.
fn owner_reference(input: &BuildInput<'_>) -> OwnerReference {
    OwnerReference {
        api_version: input.identity.api_version.clone(),
        kind: input.identity.kind.clone(),
        name: input.identity.name.clone(),
        uid: input.identity.uid.clone(),
        controller: Some(true),
        block_owner_deletion: Some(true),
    }
}

fn without_operator_annotations(annotations: &BTreeMap<String, String>) -> BTreeMap<String, String> {
    annotations
        .iter()
        .filter(|(key, _)| !OPERATOR_ANNOTATIONS.contains(&key.as_str()))
        .map(|(key, value)| (key.clone(), value.clone()))
        .collect()
}

/// Labels with every value made valid; the full values of shortened ones are recorded in
/// `annotations` as one JSON object.
fn valid_labels(
    labels: BTreeMap<String, String>,
    annotations: &mut BTreeMap<String, String>,
) -> BTreeMap<String, String> {
    let mut full = serde_json::Map::new();
    let labels = labels
        .into_iter()
        .map(|(key, value)| {
            let valid = names::label_value(&value);
            if valid != value {
                full.insert(key.clone(), Value::String(value));
            }
            (key, valid)
        })
        .collect();
    if !full.is_empty() {
        annotations.insert(
            ANNOTATION_FULL_LABELS.into(),
            canonical_json(&Value::Object(full)),
        );
    }
    labels
}
