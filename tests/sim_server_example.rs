//! The conformance server (`cargo run --example sim_server`) over loopback, driven through the same
//! command line a user types: the project's own blocking and tokio drivers complete chats with a clean
//! report, a deliberately sloppy client gets exactly the warnings it earned, and the example binary itself
//! shuts down cleanly at end of input and on SIGTERM with its report written.

mod common;

/// The example drivers and the simulator's HTTP front end, as the examples compile them: example code (it does
/// I/O), not part of the library, so the tests reach it by path.
#[path = "../examples"]
#[allow(dead_code)]
mod examples {
    pub mod drivers {
        pub mod blocking;
        pub mod tokio;
    }
    pub mod support {
        pub mod sim_cli;
        pub mod sim_http;
    }
}

use common::PingPong;
use examples::drivers::{blocking, tokio as tokio_driver};
use examples::support::sim_cli;

use liveagent::wire::Endpoint;
use liveagent::{Config, EndReason, Event, RetryPolicy, Session};
use serde_json::Value;
use std::path::PathBuf;
use std::time::{Duration, Instant};

/// A fresh scratch directory under the target dir (no tempfile crate).
fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!(
        "liveagent-sim-server-{}-{name}",
        std::process::id()
    ));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("scratch dir");
    dir
}

/// Starts the server with these flags (plus a free loopback port and fast timings) the way `main` does.
fn serve(flags: &[&str]) -> sim_cli::Running {
    let mut args: Vec<String> = [
        "--listen",
        "127.0.0.1:0",
        "--accept-after-ms",
        "50",
        "--poll-hold-ms",
        "600",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    args.extend(flags.iter().map(|s| s.to_string()));
    match sim_cli::parse(args) {
        Ok(sim_cli::Command::Run(options)) => sim_cli::start(options).expect("start"),
        Ok(_) => panic!("not a run command"),
        Err(e) => panic!("flags refused: {e}"),
    }
}

fn client_config(url: &str, seed: u64) -> Config {
    let mut c = Config::new(
        Endpoint::parse(url).expect("loopback url"),
        "00D000000000001",
        "572000000000001",
        "573000000000001",
    )
    .visitor_name("Conformance")
    .seed(seed);
    let mut retry = RetryPolicy::default();
    retry.initial_backoff = Duration::from_millis(20);
    retry.max_backoff = Duration::from_millis(200);
    retry.max_attempts = 10;
    c.retry = retry;
    c.poll_margin = Duration::from_millis(500);
    c.request_timeout = Duration::from_secs(5);
    c
}

fn blocking_chat(url: &str, seed: u64) -> PingPong {
    let mut driver: blocking::BlockingDriver<()> = blocking::BlockingDriver::new();
    let mut session = Session::new(client_config(url, seed), driver.now());
    let mut visitor = PingPong::new("blocking", 3);
    driver.run(&mut session, |s, input| {
        if let blocking::Input::Event(ev) = input {
            visitor.on_event(s, ev);
        }
    });
    visitor
}

fn tokio_chat(url: &str, seed: u64) -> PingPong {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("rt");
    rt.block_on(async move {
        let client = tokio_driver::client();
        let clock = liveagent::Clock::new(Instant::now());
        let mut session = Session::new(client_config(url, seed), clock.at(Instant::now()));
        let mut visitor = PingPong::new("tokio", 3);
        let (_tx, rx) = tokio::sync::mpsc::channel::<()>(1);
        tokio_driver::run(&client, clock, &mut session, rx, |s, input| {
            if let tokio_driver::Input::Event(ev) = input {
                visitor.on_event(s, ev);
            }
        })
        .await;
        visitor
    })
}

/// One blocking and one tokio chat against a server started with `flags`; returns the parsed JSON report
/// (read back from the `--report` file) and the text report.
fn both_drivers(name: &str, flags: &[&str]) -> (Value, String, String) {
    let dir = scratch(name);
    let report = dir.join("report.json");
    let report_arg = report.to_string_lossy().into_owned();
    let mut all: Vec<&str> = flags.to_vec();
    all.extend(["--report", &report_arg]);
    let running = serve(&all);
    let url = running.url();
    // Each chat on its own thread, with a deadline: a chat that stalls fails the test with the
    // server's transcript instead of hanging it.
    let (tx, rx) = std::sync::mpsc::channel();
    for which in ["blocking", "tokio"] {
        let (tx, url) = (tx.clone(), url.clone());
        std::thread::spawn(move || {
            let v = if which == "blocking" {
                blocking_chat(&url, 1)
            } else {
                tokio_chat(&url, 2)
            };
            let _ = tx.send((which, v));
        });
    }
    let mut done = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(20);
    while done.len() < 2 {
        match rx.recv_timeout(deadline.saturating_duration_since(Instant::now())) {
            Ok(v) => done.push(v),
            Err(_) => {
                let finished = running.shutdown().expect("shutdown");
                panic!(
                    "{name}: a chat did not end within 20 s; finished: {:?}\n{}\n{}",
                    done.iter().map(|(w, _)| *w).collect::<Vec<_>>(),
                    finished.report_text,
                    finished.server.transcript_text()
                );
            }
        }
    }
    done.sort_by_key(|(w, _)| *w);
    let (a, b) = (&done[0].1, &done[1].1);
    let finished = running.shutdown().expect("shutdown");
    a.check(&finished.server);
    b.check(&finished.server);
    let json: Value =
        serde_json::from_str(&std::fs::read_to_string(&report).expect("report written"))
            .expect("report is JSON");
    assert_eq!(
        json,
        serde_json::from_str::<Value>(&finished.report_json).expect("json")
    );
    (
        json,
        finished.report_text,
        finished.server.transcript_text(),
    )
}

fn sessions(report: &Value) -> &[Value] {
    report["sessions"].as_array().expect("sessions array")
}

/// Every session completed with no violation and no warning.
fn assert_clean(report: &Value, text: &str, expected_sessions: usize) {
    let sessions = sessions(report);
    assert_eq!(sessions.len(), expected_sessions, "{report:#}");
    for s in sessions {
        assert_eq!(s["completed"], Value::Bool(true), "{s:#}");
        assert!(s["requests"].as_u64().is_some_and(|n| n >= 8), "{s:#}");
        assert_eq!(s["violations"], Value::Array(vec![]), "{s:#}\n{text}");
        assert_eq!(s["warnings"], Value::Array(vec![]), "{s:#}\n{text}");
        assert!(s["id"].as_str().is_some_and(|id| !id.is_empty()));
    }
}

/// Each named dialect (`--dialect NAME`), servers side by side: both drivers, clean reports.
#[test]
fn project_drivers_complete_with_a_clean_report_in_every_named_dialect() {
    let names = liveagent::sim::Dialect::NAMES;
    assert!(names.contains(&"default") && names.len() >= 3, "{names:?}");
    std::thread::scope(|s| {
        let runs: Vec<_> = names
            .iter()
            .map(|name| {
                (
                    name,
                    s.spawn(move || both_drivers(&format!("dialect-{name}"), &["--dialect", name])),
                )
            })
            .collect();
        for (name, run) in runs {
            let (report, text, transcript) =
                run.join().unwrap_or_else(|_| panic!("dialect {name}"));
            assert_clean(&report, &format!("dialect {name}\n{text}\n{transcript}"), 2);
        }
    });
}

/// The fault flags (a 503 handover 200 ms in, every 7th reply dropped, two 500s at the 3rd request), in
/// every named dialect: both drivers recover without a single finding.
#[test]
fn project_drivers_complete_through_fault_flags_with_a_clean_report_in_every_named_dialect() {
    std::thread::scope(|s| {
        let runs: Vec<_> = liveagent::sim::Dialect::NAMES
            .iter()
            .map(|name| {
                let run = s.spawn(move || {
                    let flags = [
                        "--dialect",
                        name,
                        "--handover-after-ms",
                        "200",
                        "--drop-reply-every",
                        "7",
                        "--server-errors",
                        "2",
                    ];
                    both_drivers(&format!("faults-{name}"), &flags)
                });
                (name, run)
            })
            .collect();
        for (name, run) in runs {
            let (report, text, transcript) =
                run.join().unwrap_or_else(|_| panic!("dialect {name}"));
            assert_clean(&report, &format!("dialect {name}\n{text}\n{transcript}"), 2);
            // Every kind of fault fired, in both sessions.
            for kind in ["fault Handover", "fault DropReply", "fault ServerErrors"] {
                for session in ["s0", "s1"] {
                    assert!(
                        transcript
                            .lines()
                            .any(|l| l.contains(&format!(" {session} {kind}"))),
                        "{name} {session}: no {kind}\n{transcript}"
                    );
                }
            }
        }
    });
}

/// The example scenario the README points to stays valid: its dialect, agent and faults are read.
#[test]
fn the_example_scenario_file_reads() {
    let file = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/examples/clients/scenario.json"
    );
    let Ok(sim_cli::Command::Run(o)) = sim_cli::parse(["--scenario".to_string(), file.into()])
    else {
        panic!("scenario refused")
    };
    let c = &o.config;
    assert_eq!(c.dialect.get("sequence-rule"), Some("consecutive"));
    assert_eq!(
        c.dialect.get("numbers"),
        Some("integers"),
        "missing switches default"
    );
    assert_eq!(c.agent.queue_position, 2);
    assert_eq!(c.agent.steps.len(), 6);
    assert_eq!(
        c.agent.echo_prefix, "echo: ",
        "missing agent fields default"
    );
    assert_eq!(c.faults.faults.len(), 3);
    assert_eq!(c.poll_hold, Duration::from_secs(20));
}

#[test]
fn command_line_errors_and_help() {
    let parse = |args: &[&str]| sim_cli::parse(args.iter().map(|s| s.to_string()));
    assert!(matches!(parse(&["--help"]), Ok(sim_cli::Command::Help)));
    for (args, says) in [
        (&["--bogus"][..], "unknown option --bogus"),
        (&["--listen"], "--listen needs a value"),
        (&["--listen", "nowhere"], "not an address"),
        (&["--drop-reply-every", "1"], "at least 2"),
        (&["--server-error-status", "404"], "5xx"),
        (&["--seed", "x"], "not a valid number"),
        (&["--set", "novalue"], "SWITCH=VALUE"),
        (&["--scenario", "/nonexistent/scenario.json"], "--scenario"),
    ] {
        match parse(args) {
            Err(e) => assert!(e.contains(says), "{args:?}: {e}"),
            Ok(_) => panic!("{args:?} accepted"),
        }
    }
}

#[test]
fn a_dumped_scenario_reads_back_as_the_same_configuration() {
    let parse = |args: &[&str]| sim_cli::parse(args.iter().map(|s| s.to_string()));
    let flags = [
        "--accept-after-ms",
        "750",
        "--greeting",
        "Hi there",
        "--handover-after-ms",
        "1500",
        "--server-errors",
        "3",
        "--server-error-status",
        "502",
        "--poll-hold-ms",
        "1234",
        "--seed",
        "99",
    ];
    let Ok(sim_cli::Command::Run(from_flags)) = parse(&flags) else {
        panic!("flags refused")
    };
    let mut with_dump = flags.to_vec();
    with_dump.push("--dump-scenario");
    let Ok(sim_cli::Command::DumpScenario(json)) = parse(&with_dump) else {
        panic!("no dump")
    };
    let dir = scratch("scenario");
    let file = dir.join("scenario.json");
    std::fs::write(&file, &json).expect("write scenario");
    let file = file.to_string_lossy().into_owned();
    let Ok(sim_cli::Command::Run(from_file)) = parse(&["--scenario", &file]) else {
        panic!("scenario refused: {json}")
    };
    assert_eq!(from_file.config, from_flags.config);
    assert_eq!(from_flags.config.poll_hold, Duration::from_millis(1234));
    assert_eq!(from_flags.config.faults.faults.len(), 2);
    // Unknown fields are refused, so a typo does not silently run the default.
    std::fs::write(dir.join("typo.json"), r#"{"fualts": []}"#).expect("write");
    let typo = dir.join("typo.json").to_string_lossy().into_owned();
    match parse(&["--scenario", &typo]) {
        Err(e) => assert!(e.contains("fualts"), "{e}"),
        Ok(_) => panic!("typo accepted"),
    }
    std::fs::write(
        dir.join("switch.json"),
        r#"{"dialect": {"sequence-rul": "consecutive"}}"#,
    )
    .expect("write");
    let typo = dir.join("switch.json").to_string_lossy().into_owned();
    match parse(&["--scenario", &typo]) {
        Err(e) => assert!(e.contains("sequence-rul"), "{e}"),
        Ok(_) => panic!("switch typo accepted"),
    }
    // And a bad value names the switch and its values.
    std::fs::write(
        dir.join("value.json"),
        r#"{"dialect": {"sequence-rule": "strictly"}}"#,
    )
    .expect("write");
    let bad = dir.join("value.json").to_string_lossy().into_owned();
    match parse(&["--scenario", &bad]) {
        Err(e) => assert!(e.contains("strictly"), "{e}"),
        Ok(_) => panic!("bad value accepted"),
    }
    match parse(&["--set", "sequence-rule=strictly"]) {
        Err(e) => assert!(e.contains("consecutive"), "{e}"),
        Ok(_) => panic!("bad --set accepted"),
    }
    match parse(&["--dialect", "nonsense"]) {
        Err(e) => assert!(e.contains("guide"), "{e}"),
        Ok(_) => panic!("bad --dialect accepted"),
    }
}

/// The example binary next to this test's binary (`cargo test` builds the examples; `cargo test --test
/// sim_server` alone does not, and then these tests say so and pass without checking anything).
fn example_binary() -> Option<PathBuf> {
    let exe = std::env::current_exe().ok()?;
    let bin = exe
        .parent()?
        .parent()?
        .join("examples")
        .join(format!("sim_server{}", std::env::consts::EXE_SUFFIX));
    if bin.exists() {
        Some(bin)
    } else {
        eprintln!(
            "{} not built (run the whole `cargo test`): skipped",
            bin.display()
        );
        None
    }
}

struct Spawned {
    child: std::process::Child,
    port: u16,
    report: PathBuf,
    transcript: PathBuf,
}

/// Starts the example binary on a free loopback port and waits for its port file.
fn spawn_example(bin: &PathBuf, name: &str, extra: &[&str]) -> Spawned {
    let dir = scratch(name);
    let (port_file, report, transcript) = (
        dir.join("port"),
        dir.join("report.json"),
        dir.join("transcript.txt"),
    );
    let child = std::process::Command::new(bin)
        .args(["--listen", "127.0.0.1:0", "--accept-after-ms", "50"])
        .arg("--port-file")
        .arg(&port_file)
        .arg("--report")
        .arg(&report)
        .arg("--transcript")
        .arg(&transcript)
        .args(extra)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("spawn sim_server");
    let started = Instant::now();
    let port = loop {
        if let Some(p) = std::fs::read_to_string(&port_file)
            .ok()
            .and_then(|t| t.trim().parse().ok())
        {
            break p;
        }
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "no port file after 10 s"
        );
        std::thread::sleep(Duration::from_millis(20));
    };
    Spawned {
        child,
        port,
        report,
        transcript,
    }
}

/// Waits (at most 10 s) for the process to exit; returns its status and stdout.
fn wait_exit(mut child: std::process::Child) -> (std::process::ExitStatus, String) {
    let started = Instant::now();
    loop {
        if let Some(status) = child.try_wait().expect("try_wait") {
            let out = child.wait_with_output().expect("output");
            return (status, String::from_utf8_lossy(&out.stdout).into_owned());
        }
        if started.elapsed() > Duration::from_secs(10) {
            let _ = child.kill();
            panic!("sim_server did not exit within 10 s");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn the_example_serves_until_end_of_input_then_writes_its_report() {
    let Some(bin) = example_binary() else { return };
    let mut spawned = spawn_example(&bin, "eof", &[]);
    let visitor = blocking_chat(&format!("http://127.0.0.1:{}", spawned.port), 7);
    assert!(matches!(visitor.end, Some(EndReason::VisitorEnded { .. })));
    drop(spawned.child.stdin.take()); // end of input
    let (status, stdout) = wait_exit(spawned.child);
    assert!(status.success(), "{status}");
    let report: Value =
        serde_json::from_str(&std::fs::read_to_string(&spawned.report).expect("report written"))
            .expect("JSON");
    assert_clean(&report, &stdout, 1);
    let transcript = std::fs::read_to_string(&spawned.transcript).expect("transcript written");
    assert!(
        transcript.contains("POST /chat/rest/Chasitor/ChasitorInit seq=1 -> 200"),
        "{transcript}"
    );
    assert!(
        transcript.contains("session ended (Visitor)"),
        "{transcript}"
    );
    assert!(stdout.contains("1 session"), "{stdout}");
}

#[cfg(unix)]
#[test]
fn the_example_stops_cleanly_on_sigterm() {
    let Some(bin) = example_binary() else { return };
    let spawned = spawn_example(&bin, "sigterm", &[]);
    let killed = std::process::Command::new("kill")
        .args(["-TERM", &spawned.child.id().to_string()])
        .status()
        .expect("kill");
    assert!(killed.success());
    let (status, _stdout) = wait_exit(spawned.child);
    assert!(status.success(), "{status}");
    let report: Value =
        serde_json::from_str(&std::fs::read_to_string(&spawned.report).expect("report written"))
            .expect("JSON");
    assert_eq!(report["sessions"], Value::Array(vec![]));
}

/// The standard-library Python client of the README, in every named dialect (skipped where there is no
/// python3).
#[test]
fn the_python_client_completes_a_clean_chat_in_every_named_dialect() {
    let Some(bin) = example_binary() else { return };
    if std::process::Command::new("python3")
        .arg("--version")
        .output()
        .is_err()
    {
        eprintln!("no python3: skipped");
        return;
    }
    std::thread::scope(|s| {
        for name in liveagent::sim::Dialect::NAMES {
            let bin = &bin;
            s.spawn(move || python_chat(bin, name));
        }
    });
}

fn python_chat(bin: &PathBuf, dialect: &str) {
    let mut spawned = spawn_example(bin, &format!("python-{dialect}"), &["--dialect", dialect]);
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/examples/clients/chat.py");
    let mut child = std::process::Command::new("python3")
        .arg(script)
        .arg(format!("http://127.0.0.1:{}", spawned.port))
        .args(["Hello", "Where is my parcel?"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("run python3");
    let started = Instant::now();
    while child.try_wait().expect("try_wait").is_none() {
        if started.elapsed() > Duration::from_secs(10) {
            let _ = child.kill();
            break;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let out = child.wait_with_output().expect("python3 output");
    let stdout = String::from_utf8_lossy(&out.stdout);
    drop(spawned.child.stdin.take());
    let (status, text) = wait_exit(spawned.child);
    assert!(
        out.status.success(),
        "{dialect}: {stdout}\n{}\n{text}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("echo: Where is my parcel?"), "{stdout}");
    assert!(stdout.contains("chat ended (client)"), "{stdout}");
    assert!(status.success());
    let report: Value =
        serde_json::from_str(&std::fs::read_to_string(&spawned.report).expect("report written"))
            .expect("JSON");
    assert_clean(&report, &format!("{dialect}\n{text}"), 1);
}

#[test]
fn chats_for_other_ids_are_declined_when_ids_are_given() {
    let running = serve(&["--button-id", "573000000000009"]);
    let url = running.url();
    let mut driver: blocking::BlockingDriver<()> = blocking::BlockingDriver::new();
    let mut session = Session::new(client_config(&url, 3), driver.now());
    let mut end = None;
    driver.run(&mut session, |_, input| {
        if let blocking::Input::Event(Event::Ended(reason)) = input {
            end = Some(reason);
        }
    });
    let finished = running.shutdown().expect("shutdown");
    assert!(
        matches!(&end, Some(EndReason::RequestFailed { reason: Some(r) }) if r == "Unavailable"),
        "{end:?}"
    );
    assert!(
        finished
            .server
            .transcript_text()
            .contains("ChatRequestFail Unavailable")
    );
}

/// Real clients send whatever `Host` they were configured with and some send absolute-form targets
/// (`GET http://host/path`): the front end maps both to what the simulator expects.
#[test]
fn any_host_header_and_absolute_form_targets_are_served() {
    use std::io::{Read, Write};
    let running = serve(&[]);
    let addr = running.addr();
    for (target, host) in [
        (
            "/chat/rest/System/SessionId".to_string(),
            "localhost:1".to_string(),
        ),
        (
            format!("http://{addr}/chat/rest/System/SessionId"),
            addr.to_string(),
        ),
        (
            "http://chat.example.invalid/chat/rest/System/SessionId".to_string(),
            "chat.example.invalid".to_string(),
        ),
    ] {
        let mut conn = std::net::TcpStream::connect(addr).expect("connect");
        write!(
            conn,
            "GET {target} HTTP/1.1\r\nHost: {host}\r\nX-LIVEAGENT-API-VERSION: 59\r\n\
             X-LIVEAGENT-AFFINITY: null\r\nConnection: close\r\n\r\n"
        )
        .expect("write");
        let mut answer = String::new();
        conn.read_to_string(&mut answer).expect("read");
        assert!(answer.starts_with("HTTP/1.1 200"), "{target}: {answer}");
        assert!(answer.contains("\"affinityToken\""), "{target}: {answer}");
    }
    let finished = running.shutdown().expect("shutdown");
    assert_eq!(finished.server.conformance_report().sessions.len(), 3);
}

/// A SwitchServer moves the session to the alternate host, which listens on its own port: the drivers
/// follow it and complete, and requests then arrive at the alternate listener.
#[test]
fn a_switch_server_moves_the_chat_to_the_alternate_listener() {
    let args = [
        "--listen",
        "127.0.0.1:0",
        "--accept-after-ms",
        "50",
        "--poll-hold-ms",
        "600",
    ];
    let Ok(sim_cli::Command::Run(mut options)) = sim_cli::parse(args.iter().map(|s| s.to_string()))
    else {
        panic!("flags refused")
    };
    options
        .config
        .faults
        .faults
        .push(liveagent::sim::Fault::every_session(
            liveagent::sim::Trigger::Poll(3),
            liveagent::sim::FaultKind::SwitchServer,
        ));
    let running = sim_cli::start(options).expect("start");
    let (url, alternate) = (running.url(), running.alternate_url());
    assert_ne!(url, alternate);
    let visitor = blocking_chat(&url, 4);
    let finished = running.shutdown().expect("shutdown");
    visitor.check(&finished.server);
    let record = finished.server.sessions().next().expect("one session");
    // `newUrl` names the alternate listener; after the visitor acknowledged it, the simulator refuses
    // the session's requests at the primary, so completing the chat means the driver moved.
    let switched = record.switched_to.as_deref().unwrap_or_default();
    assert!(
        switched.starts_with(&alternate),
        "{switched} vs {alternate}"
    );
    let report = finished.server.conformance_report();
    assert_eq!(
        report.violations() + report.warnings(),
        0,
        "{}",
        report.to_text()
    );
}
/// A deliberately sloppy client, as several production clients were (peers.md): no `X-LIVEAGENT-SEQUENCE`
/// on ChasitorInit and ChatEnd, polls without `ack`, and a "retry" of its message under a new sequence
/// number. One request at a time, so the number of polls — and so the report — is deterministic.
struct Sloppy {
    agent: ureq::Agent,
    base: String,
    key: String,
    affinity: String,
}

impl Sloppy {
    fn start(url: &str) -> (Sloppy, String) {
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .build()
            .into();
        let base = format!("{url}/chat/rest");
        let mut resp = agent
            .get(format!("{base}/System/SessionId"))
            .header("X-LIVEAGENT-API-VERSION", "59")
            .header("X-LIVEAGENT-AFFINITY", "null")
            .call()
            .expect("SessionId");
        let body: Value =
            serde_json::from_str(&resp.body_mut().read_to_string().expect("body")).expect("JSON");
        let text = |k: &str| body[k].as_str().expect(k).to_owned();
        let sloppy = Sloppy {
            agent,
            base,
            key: text("key"),
            affinity: text("affinityToken"),
        };
        (sloppy, text("id"))
    }

    fn post(&self, noun: &str, body: Value, sequence: Option<u64>) -> u16 {
        let mut req = self
            .agent
            .post(format!("{}/Chasitor/{noun}", self.base))
            .header("X-LIVEAGENT-API-VERSION", "59")
            .header("X-LIVEAGENT-SESSION-KEY", &self.key)
            .header("X-LIVEAGENT-AFFINITY", &self.affinity)
            .header("Content-Type", "application/json");
        if let Some(n) = sequence {
            req = req.header("X-LIVEAGENT-SEQUENCE", n.to_string());
        }
        req.send(body.to_string()).expect("POST").status().as_u16()
    }

    /// One poll without `ack`: the types and chat texts it got.
    fn poll(&self) -> Vec<String> {
        let mut resp = self
            .agent
            .get(format!("{}/System/Messages", self.base))
            .header("X-LIVEAGENT-API-VERSION", "59")
            .header("X-LIVEAGENT-SESSION-KEY", &self.key)
            .header("X-LIVEAGENT-AFFINITY", &self.affinity)
            .call()
            .expect("poll");
        if resp.status() != 200 {
            return Vec::new();
        }
        let body: Value =
            serde_json::from_str(&resp.body_mut().read_to_string().expect("body")).expect("JSON");
        body["messages"]
            .as_array()
            .map(|ms| {
                ms.iter()
                    .map(|m| match m["message"]["text"].as_str() {
                        Some(t) => format!("{}: {t}", m["type"].as_str().unwrap_or("?")),
                        None => m["type"].as_str().unwrap_or("?").to_owned(),
                    })
                    .collect()
            })
            .unwrap_or_default()
    }

    /// Polls until a message of this kind arrives; returns the number of polls.
    fn poll_until(&self, kind: &str, seen: &mut Vec<String>) -> usize {
        for n in 1..=20 {
            let got = self.poll();
            let done = got.iter().any(|m| m.starts_with(kind));
            seen.extend(got);
            if done {
                return n;
            }
        }
        panic!("no {kind} after 20 polls: {seen:?}");
    }
}

#[test]
fn a_sloppy_client_completes_and_gets_exactly_the_warnings_it_earned() {
    let running = serve(&[]);
    let (client, session_id) = Sloppy::start(&running.url());
    let init = serde_json::json!({
        "organizationId": "00D000000000001", "deploymentId": "572000000000001",
        "buttonId": "573000000000001", "sessionId": session_id, "userAgent": "sloppy",
        "language": "en-US", "screenResolution": "800x600", "visitorName": "Sloppy",
        "prechatDetails": [], "prechatEntities": [], "receiveQueueUpdates": true, "isPost": true,
    });
    let mut seen = Vec::new();
    assert_eq!(client.post("ChasitorInit", init, None), 200); // no sequence
    let until_established = client.poll_until("ChatEstablished", &mut seen); // no ack
    let hello = serde_json::json!({"text": "hello"});
    assert_eq!(client.post("ChatMessage", hello.clone(), Some(1)), 200);
    assert_eq!(client.post("ChatMessage", hello, Some(2)), 200); // the same message, renumbered
    let until_echo = client.poll_until("ChatMessage: echo: hello", &mut seen);
    let end = serde_json::json!({"reason": "client"});
    assert_eq!(client.post("ChatEnd", end, None), 200); // no sequence
    let until_ended = client.poll_until("ChatEnded", &mut seen);
    let finished = running.shutdown().expect("shutdown");

    // It completed, and the renumbered retry was processed twice (the server could not know).
    let report = finished.server.conformance_report();
    assert_eq!(report.sessions.len(), 1);
    let session = &report.sessions[0];
    assert!(session.completed, "{}", finished.report_text);
    assert_eq!(
        finished
            .server
            .visitor_messages(&session_id)
            .expect("known"),
        ["hello", "hello"]
    );
    assert_eq!(session.violations, [], "{}", finished.report_text);
    // Expected from what the client did, in request order (at most MAX_FINDINGS_PER_CODE of one code
    // are kept).
    let cap = liveagent::sim::conformance::MAX_FINDINGS_PER_CODE;
    let mut want: Vec<&str> = Vec::new();
    let mut acks = 0;
    let mut polls = |want: &mut Vec<&str>, n: usize| {
        for _ in 0..n {
            if acks < cap {
                want.push("missing-ack");
                acks += 1;
            }
        }
    };
    want.push("missing-sequence");
    polls(&mut want, until_established);
    want.push("retry-new-sequence");
    polls(&mut want, until_echo);
    want.push("missing-sequence");
    polls(&mut want, until_ended);
    let codes: Vec<&str> = session.warnings.iter().map(|f| f.code.as_str()).collect();
    assert_eq!(codes, want, "{}", finished.report_text);
    assert_eq!(session.dropped, 0);
    // Each finding names the request, what was wrong and the section.
    for f in &session.warnings {
        assert!(
            f.request >= 1 && f.request_line.contains("/chat/rest/"),
            "{f:?}"
        );
        assert!(f.section.starts_with('§') && !f.what.is_empty(), "{f:?}");
    }
}
