//! The custom resources the operator owns (group `streaming.sneaksanddata.com`, version `v1`).

mod backfill_request;
mod stream_class;
mod template;

pub use backfill_request::{BackfillRequest, BackfillRequestSpec, BackfillRequestStatus};
pub use stream_class::{StreamClass, StreamClassPhase, StreamClassSpec, StreamClassStatus};
pub use template::{StreamingJobTemplate, StreamingJobTemplateSpec};

pub const GROUP: &str = "streaming.sneaksanddata.com";
pub const VERSION: &str = "v1";

/// The three CRDs as one multi-document YAML (what `arcane-operator crd` prints).
///
/// OWNER: CRD helper.
pub fn crds_yaml() -> String {
    todo!("crd::crds_yaml")
}
