//! Parsing a stream definition (a dynamic object) of layout v0, v1 or v2 into a [`StreamDefinition`].
//!
//! OWNER: parsing helper. Signatures are the contract with the rest of the crate.

use kube::api::DynamicObject;

use super::model::{InvalidSpec, StreamDefinition, StreamIdentity};

/// Identity of any stream object, however malformed its spec.
pub fn identity(object: &DynamicObject) -> StreamIdentity {
    let _ = object;
    todo!("parse::identity")
}

/// Parses and validates a stream definition; `secret_ref_fields` are the class's `secretRefs`.
pub fn parse(object: &DynamicObject, secret_ref_fields: &[String]) -> Result<StreamDefinition, InvalidSpec> {
    let _ = (object, secret_ref_fields);
    todo!("parse::parse")
}
