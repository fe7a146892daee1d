//! `liveagent-sim-server`: the Chat REST API simulator as a conformance server. `--help` lists the flags.
//!
//! Exit status: 0 after a clean shutdown (or `--help`, `--version`, `--list-dialects`, `--dump-scenario`),
//! 1 when it cannot listen or write its files, 2 for a bad command line.

fn main() -> std::process::ExitCode {
    liveagent_sim_server::sim_cli::main_with(
        env!("CARGO_PKG_NAME"),
        env!("CARGO_PKG_VERSION"),
        std::env::args().skip(1),
    )
}
