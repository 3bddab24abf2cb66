//! Reliability scenarios (TESTING.md layer 4; ecosystem-reliability §B.7): the fault rows with
//! the operator in-process (`faults`, `objects`) and as a child process killed and restarted
//! (`crash`), each checking the "nothing lost" invariants N1–N8. One test binary.

mod crash;
mod faults;
mod objects;
mod support;
