//! The custom resources the operator owns (group `streaming.sneaksanddata.com`, version `v1`).

mod backfill_request;
mod schema;
mod stream_class;
mod template;

use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::{
    CustomResourceDefinition, CustomResourceSubresourceStatus, CustomResourceSubresources,
};
use kube::CustomResourceExt;

pub use backfill_request::{
    BackfillRequest, BackfillRequestSpec, BackfillRequestState, BackfillRequestStatus,
};
pub use stream_class::{StreamClass, StreamClassPhase, StreamClassSpec, StreamClassStatus};
pub use template::{StreamingJobTemplate, StreamingJobTemplateSpec};

pub const GROUP: &str = "streaming.sneaksanddata.com";
pub const VERSION: &str = "v1";

/// The three CRDs, in a fixed order: StreamClass, StreamingJobTemplate, BackfillRequest.
pub fn crds() -> Vec<CustomResourceDefinition> {
    let mut template = StreamingJobTemplate::crd();
    // The arcane-crd chart declares a status subresource on templates although the type has no
    // status; keep declaring it so the CRD matches what clusters already run. kube-derive only
    // emits the subresource for types with a status field.
    for version in &mut template.spec.versions {
        version
            .subresources
            .get_or_insert_with(|| CustomResourceSubresources {
                scale: None,
                status: Some(CustomResourceSubresourceStatus(serde_json::json!({}))),
            });
    }
    vec![StreamClass::crd(), template, BackfillRequest::crd()]
}

/// The three CRDs as one multi-document YAML (what `arcane-operator crd` prints).
///
/// # Panics
///
/// Never in practice: the input is built from the compiled-in types only, and the drift test in
/// `tests/crd/main.rs` runs this exact serialization.
pub fn crds_yaml() -> String {
    #[allow(clippy::expect_used)]
    serde_saphyr::to_string_multiple(&crds())
        .expect("CustomResourceDefinitions built from static types serialize to YAML")
}
