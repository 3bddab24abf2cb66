//! Tests of the state machine: a table per rule, the Go scenarios, back-off, status writes, and
//! properties driven through a small world simulator.

mod backoff;
mod causes;
mod flows;
mod go_migration;
mod props;
mod refused;
mod scenarios;
mod sim;
mod status;
mod support;
mod table;
mod table_run;
