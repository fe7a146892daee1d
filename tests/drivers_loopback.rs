//! Both example drivers through complete chats over real loopback HTTP against the simulator, with faults
//! injected (503 handover, 409 sequence resync, a dropped poll, a 5xx burst, a duplicated batch), plus a
//! bounded soak of many concurrent sessions through the async driver. Every message must arrive exactly once
//! and in order, in both directions.

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
        pub mod sim_http;
    }
}

use common::PingPong;
use examples::drivers::{blocking, tokio as tokio_driver};
use examples::support::sim_http;

use liveagent::sim::{AgentScript, Fault, FaultKind, FaultPlan, SimConfig, Trigger};
use liveagent::wire::Endpoint;
use liveagent::{Config, RetryPolicy, Session};
use std::time::{Duration, Instant};

fn sim_config(faults: FaultPlan) -> SimConfig {
    let mut c = SimConfig::default()
        .with_agent(AgentScript::echo(Duration::from_millis(50)))
        .with_faults(faults);
    c.poll_hold = Duration::from_millis(800);
    c.client_poll_timeout = 2;
    c.session_idle_timeout = Duration::from_secs(30);
    c.record_transcript = true;
    c
}

fn client_config(url: &str, seed: u64) -> Config {
    let mut c = Config::new(
        Endpoint::parse(url).expect("loopback url"),
        "00D000000000001",
        "572000000000001",
        "573000000000001",
    )
    .visitor_name("Soak")
    .seed(seed);
    let mut retry = RetryPolicy::default();
    retry.initial_backoff = Duration::from_millis(20);
    retry.max_backoff = Duration::from_millis(300);
    retry.max_attempts = 10;
    c.retry = retry;
    c.poll_margin = Duration::from_millis(700);
    c.request_timeout = Duration::from_secs(5);
    c
}

/// Faults one chat meets: a 503 handover on a POST, a dropped poll answer, a 5xx burst, a duplicated batch,
/// and a 409 sequence resync.
fn chat_faults() -> FaultPlan {
    FaultPlan::new()
        .with(Fault::for_session(0, Trigger::Post(3), FaultKind::Handover))
        .with(Fault::for_session(
            0,
            Trigger::Poll(6),
            FaultKind::DropReply,
        ))
        .with(Fault::for_session(
            0,
            Trigger::Request(14),
            FaultKind::ServerErrors {
                count: 2,
                status: 502,
            },
        ))
        .with(Fault::for_session(
            0,
            Trigger::Poll(10),
            FaultKind::DuplicateBatch,
        ))
        .with(Fault::for_session(
            0,
            Trigger::Post(6),
            FaultKind::SequenceDrift(5),
        ))
}

fn fault_lines(server: &liveagent::sim::Server) -> Vec<String> {
    server
        .transcript_text()
        .lines()
        .filter(|l| l.contains("fault"))
        .map(str::to_owned)
        .collect()
}

#[test]
fn blocking_driver_completes_a_chat_through_faults() {
    let sim = sim_http::SimHttp::start(sim_config(chat_faults())).expect("start sim");
    let mut driver: blocking::BlockingDriver<()> = blocking::BlockingDriver::new();
    let mut session = Session::new(client_config(&sim.url(), 1), driver.now());
    let mut visitor = PingPong::new("blocking", 8);
    driver.run(&mut session, |s, input| {
        if let blocking::Input::Event(ev) = input {
            visitor.on_event(s, ev);
        }
    });
    let server = sim.stop().expect("sim stopped");
    visitor.check(&server);
    let faults = fault_lines(&server);
    assert!(faults.len() >= 5, "every planned fault fired: {faults:#?}");
    let text = server.transcript_text();
    assert!(text.contains("ReconnectSession"), "the handover happened");
    assert!(
        text.contains("ChasitorResyncState"),
        "the visitor resynced after the handover"
    );
}

#[test]
fn async_driver_completes_a_chat_through_faults() {
    let sim = sim_http::SimHttp::start(sim_config(chat_faults())).expect("start sim");
    let url = sim.url();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("rt");
    let visitor = rt.block_on(async move {
        let client = tokio_driver::client();
        let clock = liveagent::Clock::new(Instant::now());
        let mut session = Session::new(client_config(&url, 2), clock.at(Instant::now()));
        let mut visitor = PingPong::new("async", 8);
        let (_tx, rx) = tokio::sync::mpsc::channel::<()>(1);
        tokio_driver::run(&client, clock, &mut session, rx, |s, input| {
            if let tokio_driver::Input::Event(ev) = input {
                visitor.on_event(s, ev);
            }
        })
        .await;
        visitor
    });
    let server = sim.stop().expect("sim stopped");
    visitor.check(&server);
    assert!(fault_lines(&server).len() >= 5);
}

/// 500 concurrent sessions through the async driver, each meeting a fault chosen by its index.
#[test]
fn soak_many_concurrent_sessions_with_faults() {
    const SESSIONS: usize = 500;
    const LINES: usize = 4;
    let mut plan = FaultPlan::new();
    for i in 0..SESSIONS {
        let kind = match i % 6 {
            0 => FaultKind::Handover,
            1 => FaultKind::DropReply,
            2 => FaultKind::ServerErrors {
                count: 2,
                status: 500,
            },
            3 => FaultKind::DuplicateBatch,
            4 => FaultKind::SequenceDrift(3),
            _ => continue,
        };
        let at = match kind {
            FaultKind::DropReply | FaultKind::DuplicateBatch => Trigger::Poll(4),
            _ => Trigger::Post(3),
        };
        plan = plan.with(Fault::for_session(i, at, kind));
    }
    let mut config = sim_config(plan);
    config.record_transcript = true;
    let sim = sim_http::SimHttp::start(config).expect("start sim");
    let url = sim.url();
    let started = Instant::now();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("rt");
    let visitors = rt.block_on(async move {
        let client = tokio_driver::client();
        let mut tasks = tokio::task::JoinSet::new();
        for i in 0..SESSIONS {
            let client = client.clone();
            let url = url.clone();
            tasks.spawn(async move {
                let clock = liveagent::Clock::new(Instant::now());
                let mut session =
                    Session::new(client_config(&url, i as u64), clock.at(Instant::now()));
                let mut visitor = PingPong::new(&format!("s{i}"), LINES);
                let (_tx, rx) = tokio::sync::mpsc::channel::<()>(1);
                tokio_driver::run(&client, clock, &mut session, rx, |s, input| {
                    if let tokio_driver::Input::Event(ev) = input {
                        visitor.on_event(s, ev);
                    }
                })
                .await;
                visitor
            });
        }
        let mut out = Vec::new();
        while let Some(v) = tasks.join_next().await {
            out.push(v.expect("task"));
        }
        out
    });
    let wall = started.elapsed();
    let server = sim.stop().expect("sim stopped");
    for v in &visitors {
        v.check(&server);
    }
    let messages: usize = visitors
        .iter()
        .map(|v| v.sent.len() + v.received.len())
        .sum();
    let faults = fault_lines(&server).len();
    eprintln!(
        "soak: {SESSIONS} sessions, {messages} messages delivered exactly once in order, {faults} faults injected, wall {:.2}s",
        wall.as_secs_f64()
    );
    assert_eq!(visitors.len(), SESSIONS);
    assert_eq!(messages, SESSIONS * LINES * 2);
    assert!(faults >= SESSIONS * 5 / 6 - 5, "faults fired: {faults}");
}
