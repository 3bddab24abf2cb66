//! Stream definitions: parsing into one model, the state machine and the workload builder.

pub mod builder;
pub mod class_decide;
pub mod decide;
pub mod fixtures;
pub mod go_hash;
pub mod hash;
pub mod model;
pub mod names;
pub mod parse;
pub mod reasons;

pub use model::*;
