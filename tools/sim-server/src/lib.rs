//! The front end of `liveagent-sim-server`: the sans-IO simulator (`liveagent::sim::Server`) behind an
//! HTTP/1.1 listener ([`sim_http`]) and the command line, scenario files, report and shutdown ([`sim_cli`]).
//! The same source serves `cargo run --example sim_server` in the core's checkout (`examples/support/`).

#[path = "../../../examples/support/sim_http.rs"]
pub mod sim_http;

#[path = "../../../examples/support/sim_cli.rs"]
pub mod sim_cli;
