//! End-to-end scenarios (TESTING.md layer 3): the sandbox plus the operator in-process (or, in
//! `restart`, its binary as a child process), driven through the API as a user would. One test
//! binary; the shared fixture is the `arcane-testkit` crate.

mod backfill;
mod bad;
mod bad_input;
mod bad_rows;
mod classes;
mod failures;
mod fuzz;
mod go_compat;
mod lifecycle;
mod restart;
