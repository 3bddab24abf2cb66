//! Label selectors (`apimachinery/pkg/labels/selector.go`) and field selectors (`apimachinery/pkg/fields`),
//! plus which field paths each resource supports in field selectors.

mod fields;
mod labels;

pub use fields::{FieldSelector, supported_field, unsupported_field_message};
pub use labels::LabelSelector;

#[cfg(test)]
mod tests;
