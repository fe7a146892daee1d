//! The conformance server behind the `liveagent-sim-server` tool (`tools/sim-server`) and `cargo run --example
//! sim_server`: command line, scenario files, start, shutdown and the report. Both are a one-line `main` over
//! [`main_with`]; tests compile it as a module (next to `sim_http.rs`, which it uses as `super::sim_http`) and
//! drive it with the same flags a user types.

// Shared with tests; not every includer uses every item.
#![allow(dead_code)]

use super::sim_http::{ExpectedIds, FrontEnd, SimHttp};
use liveagent::sim::{
    AgentAction, AgentScript, Dialect, Fault, FaultKind, Server, SimConfig, Trigger,
};
use serde::{Deserialize, Serialize};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// `--help`.
pub const USAGE: &str = "\
usage: liveagent-sim-server [OPTIONS]

Serves the liveagent Chat REST API simulator over HTTP/1.1 until end of input on stdin, SIGINT or SIGTERM,
then writes the transcript and the conformance report and exits 0. Point your client at the URL it prints
(any org, deployment and button ids are accepted).

Listening:
  --listen ADDR              address to listen on (default 127.0.0.1:8080; port 0 picks a free port)
  --port-file FILE           write the bound port to FILE once listening (for scripts)
  --ignore-stdin             do not stop at end of input (stop with SIGINT/SIGTERM only)
  --no-admin                 do not serve the admin API under /__sim/ (report, reset, sessions, scenario,
                             agent actions; see the README)
Server behaviour:
  --dialect NAME             how the server reads the protocol's open questions (default: the evidence-weighted one)
  --set SWITCH=VALUE         set one dialect switch on top of --dialect (repeatable)
  --list-dialects            list the dialects, every switch and its values, and exit
  --scenario FILE            JSON: dialect, agent script, fault plan, timings (see --dump-scenario); flags given
                             with it apply on top
  --dump-scenario            print the effective scenario as JSON and exit (a starting point for --scenario)
  --accept-after-ms N        the agent accepts N ms after ChasitorInit (default 2000)
  --greeting TEXT            the agent says TEXT on accepting (default: nothing)
  --poll-hold-ms N           hold an idle Messages poll N ms before 204 (default 30000)
  --seed N                   seed of the ids the server makes up (default 24301)
  --org-id ID, --deployment-id ID, --button-id ID
                             decline (ChatRequestFail Unavailable) chats requested for other ids
Faults (every session):
  --handover-after-ms N      a 503 server handover N ms after the session was created
  --drop-reply-every N       close the connection without answering every N-th request of a session (N >= 2)
  --server-errors N          answer N consecutive requests of a session with an HTTP 500 (not processed)
  --server-errors-at K       ... starting at the session's K-th request (default 3)
  --server-error-status S    ... with status S instead of 500
Output:
  --transcript FILE          write the server's request-by-request transcript to FILE at exit
  --report FILE              write the conformance report as JSON to FILE at exit (text goes to stdout)
  --verbose, -v              print the transcript to stderr as it happens
  --no-transcript            keep no transcript (for load tests: it grows with every request)
  --help                     this text
  --version                  the version

Exit status: 0 after a clean shutdown (or --help, --version, --list-dialects, --dump-scenario), 1 when it
cannot listen or write its files, 2 for a bad command line.
";

/// The flags that take a value.
const VALUE_FLAGS: &[&str] = &[
    "--listen",
    "--port-file",
    "--transcript",
    "--report",
    "--scenario",
    "--dialect",
    "--set",
    "--accept-after-ms",
    "--greeting",
    "--poll-hold-ms",
    "--seed",
    "--handover-after-ms",
    "--drop-reply-every",
    "--server-errors",
    "--server-errors-at",
    "--server-error-status",
    "--org-id",
    "--deployment-id",
    "--button-id",
];

/// What the command line asks for. Built and matched once: boxing `Options` would only add an allocation.
#[allow(clippy::large_enum_variant)]
pub enum Command {
    /// Serve.
    Run(Options),
    /// Print [`USAGE`].
    Help,
    /// Print the version.
    Version,
    /// Print this scenario JSON and exit.
    DumpScenario(String),
    /// Print the dialects and their switches and exit.
    ListDialects,
}

/// Everything `sim_server` needs to run.
pub struct Options {
    /// Where to listen.
    pub listen: SocketAddr,
    /// Where to write the bound port.
    pub port_file: Option<PathBuf>,
    /// Stop at end of input on stdin.
    pub watch_stdin: bool,
    /// Where to write the transcript at exit.
    pub transcript: Option<PathBuf>,
    /// Where to write the JSON report at exit.
    pub report: Option<PathBuf>,
    /// The simulator's configuration (dialect, agent, faults, timings).
    pub config: SimConfig,
    /// Front-end options (ids, live transcript).
    pub front: FrontEnd,
}

/// A scenario file: every field is optional and defaults to what the flags would give. The steps of the agent
/// script wait serde's `{"secs": S, "nanos": N}`; actions, fault triggers and fault kinds are tagged by
/// `type` with durations in milliseconds (`{"type": "say", "text": "hi"}`, `{"type": "after", "ms": 5000}`;
/// the externally tagged `{"Say": {...}}`, `{"After": {"secs": 5, "nanos": 0}}` still read).
#[derive(Debug, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Scenario {
    /// The server's reading of the protocol's open questions ([`Dialect`]: switch names as keys, missing
    /// switches at their default).
    pub dialect: Option<Dialect>,
    /// The agent side of every chat ([`AgentScript`]).
    pub agent: Option<AgentScript>,
    /// Planned faults ([`Fault`]), added to the fault flags.
    pub faults: Option<Vec<Fault>>,
    /// Seed of the server's ids.
    pub seed: Option<u64>,
    /// How long an idle poll is held, in ms.
    pub poll_hold_ms: Option<u64>,
    /// A session with no poll in progress for this long expires, in ms.
    pub session_idle_timeout_ms: Option<u64>,
    /// `clientPollTimeout` of the SessionId answer, in seconds.
    pub client_poll_timeout: Option<i64>,
    /// Whether buttons and agents report available (Settings, Availability).
    pub available: Option<bool>,
}

/// The default agent: accepts `accept_after` after ChasitorInit (ChatRequestSuccess with queue position 1
/// first), optionally greets, and from acceptance on answers every visitor message with `echo: <text>`.
/// It never ends the chat itself.
pub fn default_agent(accept_after: Duration, greeting: Option<String>) -> AgentScript {
    let mut agent = AgentScript::new(Vec::new())
        .then(accept_after, AgentAction::Accept)
        .then(Duration::ZERO, AgentAction::EchoVisitor);
    if let Some(text) = greeting {
        agent = agent.then(Duration::ZERO, AgentAction::Say { text });
    }
    agent
}

fn number<T: std::str::FromStr>(flag: &str, value: &str) -> Result<T, String> {
    value
        .parse()
        .map_err(|_| format!("{flag}: {value:?} is not a valid number"))
}

/// Reads the command line (without the program name).
pub fn parse<I: IntoIterator<Item = String>>(args: I) -> Result<Command, String> {
    let mut listen: SocketAddr = SocketAddr::from(([127, 0, 0, 1], 8080));
    let mut port_file = None;
    let mut watch_stdin = true;
    let mut transcript = None;
    let mut report = None;
    let mut scenario_file: Option<PathBuf> = None;
    let mut dump = false;
    let mut dialect: Option<String> = None;
    let mut sets: Vec<(String, String)> = Vec::new();
    let mut accept_after: Option<Duration> = None;
    let mut greeting: Option<String> = None;
    let mut poll_hold: Option<Duration> = None;
    let mut seed: Option<u64> = None;
    let mut fault_flags: Vec<Fault> = Vec::new();
    let mut expected_ids = ExpectedIds::default();
    let mut live_transcript = false;
    let mut admin_api = true;
    let mut record_transcript = true;
    let (mut errors, mut errors_at, mut error_status) = (None::<u32>, 3u64, 500u16);

    let mut it = args.into_iter();
    while let Some(flag) = it.next() {
        match flag.as_str() {
            "--help" | "-h" => return Ok(Command::Help),
            "--version" | "-V" => return Ok(Command::Version),
            "--no-admin" => {
                admin_api = false;
                continue;
            }
            "--no-transcript" => {
                record_transcript = false;
                continue;
            }
            "--ignore-stdin" => {
                watch_stdin = false;
                continue;
            }
            "--dump-scenario" => {
                dump = true;
                continue;
            }
            "--list-dialects" => return Ok(Command::ListDialects),
            "--verbose" | "-v" => {
                live_transcript = true;
                continue;
            }
            _ => {}
        }
        if !VALUE_FLAGS.contains(&flag.as_str()) {
            return Err(format!("unknown option {flag} (see --help)"));
        }
        let Some(value) = it.next() else {
            return Err(format!("{flag} needs a value (see --help)"));
        };
        match flag.as_str() {
            "--listen" => {
                listen = value.parse().map_err(|_| {
                    format!("--listen: {value:?} is not an address like 127.0.0.1:8080")
                })?
            }
            "--port-file" => port_file = Some(PathBuf::from(value)),
            "--transcript" => transcript = Some(PathBuf::from(value)),
            "--report" => report = Some(PathBuf::from(value)),
            "--scenario" => scenario_file = Some(PathBuf::from(value)),
            "--dialect" => dialect = Some(value),
            "--set" => {
                let (k, v) = value
                    .split_once('=')
                    .ok_or_else(|| format!("--set: {value:?} is not SWITCH=VALUE"))?;
                sets.push((k.trim().to_owned(), v.trim().to_owned()));
            }
            "--accept-after-ms" => {
                accept_after = Some(Duration::from_millis(number(&flag, &value)?))
            }
            "--greeting" => greeting = Some(value),
            "--org-id" => expected_ids.org_id = Some(value),
            "--deployment-id" => expected_ids.deployment_id = Some(value),
            "--button-id" => expected_ids.button_id = Some(value),
            "--poll-hold-ms" => poll_hold = Some(Duration::from_millis(number(&flag, &value)?)),
            "--seed" => seed = Some(number(&flag, &value)?),
            "--handover-after-ms" => fault_flags.push(Fault::every_session(
                Trigger::After(Duration::from_millis(number(&flag, &value)?)),
                FaultKind::Handover,
            )),
            "--drop-reply-every" => {
                let every: u64 = number(&flag, &value)?;
                if every < 2 {
                    return Err("--drop-reply-every: N must be at least 2".into());
                }
                // Faults fire once per session each: plan the first 1000 drops.
                fault_flags.extend((1..=1000u64).map(|k| {
                    Fault::every_session(
                        Trigger::Request(k.saturating_mul(every)),
                        FaultKind::DropReply,
                    )
                }));
            }
            "--server-errors" => errors = Some(number(&flag, &value)?),
            "--server-errors-at" => errors_at = number(&flag, &value)?,
            "--server-error-status" => {
                error_status = number(&flag, &value)?;
                if !(500..=599).contains(&error_status) {
                    return Err("--server-error-status: use a 5xx status".into());
                }
            }
            other => return Err(format!("unknown option {other} (see --help)")),
        }
    }
    if let Some(count) = errors.filter(|n| *n > 0) {
        fault_flags.push(Fault::every_session(
            Trigger::Request(errors_at.max(1)),
            FaultKind::ServerErrors {
                count,
                status: error_status,
            },
        ));
    }

    // Defaults, then the scenario file, then the flags.
    let scenario = match &scenario_file {
        Some(path) => read_scenario(path)?,
        None => Scenario::default(),
    };
    let mut config = SimConfig::default();
    config.poll_hold = scenario
        .poll_hold_ms
        .map_or(config.poll_hold, Duration::from_millis);
    if let Some(ms) = scenario.session_idle_timeout_ms {
        config.session_idle_timeout = Duration::from_millis(ms);
    }
    if let Some(t) = scenario.client_poll_timeout {
        config.client_poll_timeout = t;
    }
    if let Some(a) = scenario.available {
        config.available = a;
    }
    config.seed = scenario.seed.unwrap_or(config.seed);
    config.dialect = scenario.dialect.unwrap_or_default();
    config.agent = match scenario.agent {
        Some(agent) if accept_after.is_none() && greeting.is_none() => agent,
        Some(_) => {
            return Err(
                "--accept-after-ms/--greeting and a scenario with an agent script: use one".into(),
            );
        }
        None => default_agent(accept_after.unwrap_or(Duration::from_secs(2)), greeting),
    };
    config.faults.faults = scenario.faults.unwrap_or_default();
    config.faults.faults.extend(fault_flags);
    if let Some(d) = poll_hold {
        config.poll_hold = d;
    }
    if let Some(s) = seed {
        config.seed = s;
    }
    apply_dialect(&mut config, dialect.as_deref(), &sets)?;
    config.admin_api = admin_api;
    config.record_transcript = record_transcript;

    if dump {
        return Ok(Command::DumpScenario(scenario_json(&config)));
    }
    Ok(Command::Run(Options {
        listen,
        port_file,
        watch_stdin,
        transcript,
        report,
        config,
        front: FrontEnd {
            expected_ids,
            live_transcript,
        },
    }))
}

fn read_scenario(path: &Path) -> Result<Scenario, String> {
    let text =
        std::fs::read_to_string(path).map_err(|e| format!("--scenario {}: {e}", path.display()))?;
    let fail = |e: String| format!("--scenario {}: {e}", path.display());
    // Dialect fields default when missing; refuse unknown switch names, so a typo is not a silent default.
    let raw: serde_json::Value = serde_json::from_str(&text).map_err(|e| fail(e.to_string()))?;
    if let Some(switches) = raw.get("dialect").and_then(|d| d.as_object()) {
        for name in switches.keys() {
            if !Dialect::switches().iter().any(|s| s.name == name) {
                return Err(fail(format!(
                    "unknown dialect switch {name:?} (see --list-dialects)"
                )));
            }
        }
    }
    serde_json::from_value(raw).map_err(|e| fail(e.to_string()))
}

/// The scenario that reproduces `config` (what `--dump-scenario` prints).
pub fn scenario_json(config: &SimConfig) -> String {
    let s = Scenario {
        dialect: Some(config.dialect.clone()),
        agent: Some(config.agent.clone()),
        faults: Some(config.faults.faults.clone()),
        seed: Some(config.seed),
        poll_hold_ms: Some(config.poll_hold.as_millis().try_into().unwrap_or(u64::MAX)),
        session_idle_timeout_ms: Some(
            config
                .session_idle_timeout
                .as_millis()
                .try_into()
                .unwrap_or(u64::MAX),
        ),
        client_poll_timeout: Some(config.client_poll_timeout),
        available: Some(config.available),
    };
    serde_json::to_string_pretty(&s).unwrap_or_default()
}

/// `--dialect` (replaces the scenario's dialect) and `--set` (on top, in order).
fn apply_dialect(
    config: &mut SimConfig,
    dialect: Option<&str>,
    sets: &[(String, String)],
) -> Result<(), String> {
    if let Some(name) = dialect {
        config.dialect = Dialect::named(name).ok_or_else(|| {
            format!(
                "--dialect: unknown dialect {name:?} (known: {})",
                Dialect::NAMES.join(", ")
            )
        })?;
    }
    for (switch, value) in sets {
        config
            .dialect
            .set(switch, value)
            .map_err(|e| format!("--set: {e}"))?;
    }
    Ok(())
}

/// `--list-dialects`: the named dialects and every switch with its values (the default first).
pub fn dialects_text() -> String {
    let mut out = format!("dialects (--dialect NAME): {}\n", Dialect::NAMES.join(", "));
    for name in Dialect::NAMES {
        if let Some(d) = Dialect::named(name) {
            let label = d.label();
            let label = if label.is_empty() {
                "every switch at its default"
            } else {
                &label
            };
            out.push_str(&format!("  {name}: {label}\n"));
        }
    }
    out.push_str("switches (--set SWITCH=VALUE; the first value is the default):\n");
    for s in Dialect::switches() {
        out.push_str(&format!("  {}: {}\n", s.name, s.values.join(" | ")));
    }
    out
}

/// A running conformance server.
pub struct Running {
    http: SimHttp,
    transcript: Option<PathBuf>,
    report: Option<PathBuf>,
}

/// What a stopped server leaves.
pub struct Finished {
    /// The simulator, with its records.
    pub server: Server,
    /// The report as JSON (also written to `--report`).
    pub report_json: String,
    /// The report as text (what `sim_server` prints at exit).
    pub report_text: String,
}

/// Writes `contents` to `path` through a temporary file and a rename, so a script polling for the file
/// never reads it half written.
fn write_atomically(path: &Path, contents: &str) -> std::io::Result<()> {
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(".tmp");
    std::fs::write(&tmp, contents)?;
    std::fs::rename(&tmp, path)
}

/// Binds and starts serving; writes the port file.
pub fn start(options: Options) -> std::io::Result<Running> {
    let http = SimHttp::start_with(options.config, options.listen, options.front)?;
    if let Some(path) = &options.port_file {
        write_atomically(path, &format!("{}\n", http.addr.port()))?;
    }
    Ok(Running {
        http,
        transcript: options.transcript,
        report: options.report,
    })
}

impl Running {
    /// The URL clients should use.
    pub fn url(&self) -> String {
        self.http.url()
    }

    /// The alternate host (where a SwitchServer moves sessions).
    pub fn alternate_url(&self) -> String {
        self.http.alternate_url()
    }

    /// The bound address.
    pub fn addr(&self) -> SocketAddr {
        self.http.addr
    }

    /// Stops serving, then writes the transcript and the report files.
    pub fn shutdown(self) -> std::io::Result<Finished> {
        let server = self
            .http
            .stop()
            .ok_or_else(|| std::io::Error::other("the simulator task ended unexpectedly"))?;
        if let Some(path) = &self.transcript {
            write_atomically(path, &format!("{}\n", server.transcript_text()))?;
        }
        let (report_json, report_text) = report(&server);
        if let Some(path) = &self.report {
            write_atomically(path, &format!("{report_json}\n"))?;
        }
        Ok(Finished {
            server,
            report_json,
            report_text,
        })
    }
}

/// The simulator's conformance report of everything it saw: JSON and text.
fn report(server: &Server) -> (String, String) {
    let report = server.conformance_report();
    let json = serde_json::to_string_pretty(&report).unwrap_or_default();
    (json, report.to_text())
}

/// Blocks until end of input on stdin (when `watch_stdin`), SIGINT or SIGTERM; says which.
pub fn wait_for_stop(watch_stdin: bool) -> std::io::Result<&'static str> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    rt.block_on(async move {
        let (eof_tx, eof_rx) = tokio::sync::oneshot::channel::<()>();
        // Without stdin watching the sender lives to the end of this block: that branch never fires.
        let mut unused_sender = Some(eof_tx);
        if watch_stdin {
            let tx = unused_sender.take();
            std::thread::spawn(move || {
                use std::io::Read;
                let mut buf = [0u8; 4096];
                let mut stdin = std::io::stdin().lock();
                while let Ok(n) = stdin.read(&mut buf) {
                    if n == 0 {
                        break;
                    }
                }
                if let Some(tx) = tx {
                    let _ = tx.send(());
                }
            });
        }
        #[cfg(unix)]
        let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
        #[cfg(unix)]
        let terminated = term.recv();
        #[cfg(not(unix))]
        let terminated = std::future::pending::<Option<()>>();
        let stopped = tokio::select! {
            r = tokio::signal::ctrl_c() => r.map(|()| "SIGINT"),
            _ = terminated => Ok("SIGTERM"),
            _ = eof_rx => Ok("end of input"),
        };
        drop(unused_sender);
        stopped
    })
}

/// The whole program: parses `args`, serves until told to stop, prints the report; `name` prefixes messages
/// and `version` answers `--version`. Exit status as [`USAGE`] says.
pub fn main_with<I: IntoIterator<Item = String>>(
    name: &str,
    version: &str,
    args: I,
) -> std::process::ExitCode {
    use std::process::ExitCode;
    let options = match parse(args) {
        Ok(Command::Run(o)) => o,
        Ok(Command::Help) => {
            print!("{}", USAGE.replacen("liveagent-sim-server", name, 1));
            return ExitCode::SUCCESS;
        }
        Ok(Command::Version) => {
            println!("{name} {version}");
            return ExitCode::SUCCESS;
        }
        Ok(Command::ListDialects) => {
            print!("{}", dialects_text());
            return ExitCode::SUCCESS;
        }
        Ok(Command::DumpScenario(json)) => {
            println!("{json}");
            return ExitCode::SUCCESS;
        }
        Err(e) => {
            eprintln!("{name}: {e}");
            return ExitCode::from(2);
        }
    };
    let watch_stdin = options.watch_stdin;
    let listen = options.listen;
    let admin = options.config.admin_api;
    let running = match start(options) {
        Ok(r) => r,
        Err(e) => {
            eprintln!("{name}: cannot listen on {listen} or write the port file: {e}");
            return ExitCode::FAILURE;
        }
    };
    eprintln!(
        "{name}: listening on {} (SwitchServer alternate {}{}); stop with Ctrl-C, SIGTERM{}",
        running.url(),
        running.alternate_url(),
        if admin {
            ", admin API under /__sim/"
        } else {
            ""
        },
        if watch_stdin { " or end of input" } else { "" }
    );
    let why = wait_for_stop(watch_stdin).unwrap_or("an error waiting for signals");
    eprintln!("{name}: stopping ({why})");
    match running.shutdown() {
        Ok(finished) => {
            print!("{}", finished.report_text);
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("{name}: {e}");
            ExitCode::FAILURE
        }
    }
}
