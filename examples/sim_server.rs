//! The simulator as a conformance server for Chat REST API clients in any language: the same program as the
//! installable `liveagent-sim-server` tool (`cargo install --path tools/sim-server`), kept as an example so
//! `cargo run --example sim_server -- --listen 127.0.0.1:8080` works from a checkout. `--help` lists the flags;
//! the README section "Test your own client" walks through one chat with curl. Everything is in
//! `support/sim_cli.rs`.
//!
//! Exit status: 0 after a clean shutdown, 2 for a bad command line, 1 when it cannot listen or write.

// Files of examples/ shared with tests (inline modules: no `#[path]`).
mod support {
    pub mod sim_cli;
    pub mod sim_http;
}

fn main() -> std::process::ExitCode {
    support::sim_cli::main_with(
        "sim_server",
        env!("CARGO_PKG_VERSION"),
        std::env::args().skip(1),
    )
}
