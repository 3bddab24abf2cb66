//! The stream state machine: a pure function from the observed state to a decision.
//!
//! OWNER: state-machine helper.

use super::model::{Decision, Observed};

/// Decides what to do for one stream, from its observed state alone.
pub fn decide(observed: &Observed) -> Decision {
    let _ = observed;
    todo!("decide::decide")
}
