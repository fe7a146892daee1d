//! The simulator as a conformance server for Chat REST API clients in any language.
//!
//! `cargo run --example sim_server -- --listen 127.0.0.1:8080 --report report.json` serves the simulator over
//! HTTP/1.1 until end of input on stdin, SIGINT or SIGTERM, then writes the transcript and the conformance
//! report (JSON to `--report`, text to stdout) and exits 0. `--help` lists the flags; the README section
//! "Test your own client" walks through one chat with curl. Everything is in `support/sim_cli.rs`.
//!
//! Exit status: 0 after a clean shutdown, 2 for a bad command line, 1 when it cannot listen or write.

// Files of examples/ shared with tests (inline modules: no `#[path]`).
mod support {
    pub mod sim_cli;
    pub mod sim_http;
}

use std::process::ExitCode;
use support::sim_cli;

fn main() -> ExitCode {
    let options = match sim_cli::parse(std::env::args().skip(1)) {
        Ok(sim_cli::Command::Run(o)) => o,
        Ok(sim_cli::Command::Help) => {
            print!("{}", sim_cli::USAGE);
            return ExitCode::SUCCESS;
        }
        Ok(sim_cli::Command::ListDialects) => {
            print!("{}", sim_cli::dialects_text());
            return ExitCode::SUCCESS;
        }
        Ok(sim_cli::Command::DumpScenario(json)) => {
            println!("{json}");
            return ExitCode::SUCCESS;
        }
        Err(e) => {
            eprintln!("sim_server: {e}");
            return ExitCode::from(2);
        }
    };
    let watch_stdin = options.watch_stdin;
    let listen = options.listen;
    let running = match sim_cli::start(options) {
        Ok(r) => r,
        Err(e) => {
            eprintln!("sim_server: cannot listen on {listen}: {e}");
            return ExitCode::FAILURE;
        }
    };
    eprintln!(
        "sim_server: listening on {} (SwitchServer alternate {}); stop with Ctrl-C, SIGTERM{}",
        running.url(),
        running.alternate_url(),
        if watch_stdin { " or end of input" } else { "" }
    );
    let why = sim_cli::wait_for_stop(watch_stdin).unwrap_or("an error waiting for signals");
    eprintln!("sim_server: stopping ({why})");
    match running.shutdown() {
        Ok(finished) => {
            print!("{}", finished.report_text);
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("sim_server: {e}");
            ExitCode::FAILURE
        }
    }
}
