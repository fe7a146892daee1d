//! The crate's main job: a whole visitor chat over real HTTP.
//!
//! * `cargo run --example chat` starts the simulator behind an HTTP server on 127.0.0.1 (an ephemeral port)
//!   and chats with it through a real HTTP client, printing a readable transcript.
//! * `cargo run --example chat -- --endpoint URL --org-id ID --deployment-id ID --button-id ID
//!   [--visitor-name NAME] [--api-version N] [--say TEXT]... [--max-wait SECS]` chats with a real org.
//!   Without `--say`, each line typed on stdin is sent and `/end` or end of input ends the chat.
//!
//! Exit status: 0 when an established chat ended normally; otherwise non-zero with the reason on stderr.

#[path = "drivers/blocking.rs"]
mod blocking;
#[path = "support/sim_http.rs"]
mod sim_http;

use blocking::{BlockingDriver, Input, Wake};
use liveagent::sim::{AgentAction, AgentScript, SimConfig};
use liveagent::wire::Endpoint;
use liveagent::{Config, EndReason, Event, Session};
use std::io::BufRead;
use std::process::ExitCode;
use std::time::{Duration, Instant};

const USAGE: &str = "usage: chat [--endpoint URL --org-id ID --deployment-id ID --button-id ID \
[--visitor-name NAME] [--api-version N] [--say TEXT]... [--max-wait SECS]]";

struct Args {
    endpoint: Option<String>,
    org_id: String,
    deployment_id: String,
    button_id: String,
    visitor_name: String,
    api_version: u32,
    say: Vec<String>,
    max_wait: Duration,
}

fn parse_args() -> Result<Args, String> {
    let mut a = Args {
        endpoint: None,
        org_id: String::new(),
        deployment_id: String::new(),
        button_id: String::new(),
        visitor_name: "Visitor".into(),
        api_version: 59,
        say: Vec::new(),
        max_wait: Duration::from_secs(60),
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        if flag == "--help" || flag == "-h" {
            return Err(USAGE.into());
        }
        let value = it
            .next()
            .ok_or_else(|| format!("{flag} needs a value\n{USAGE}"))?;
        match flag.as_str() {
            "--endpoint" => a.endpoint = Some(value),
            "--org-id" => a.org_id = value,
            "--deployment-id" => a.deployment_id = value,
            "--button-id" => a.button_id = value,
            "--visitor-name" => a.visitor_name = value,
            "--api-version" => {
                a.api_version = value.parse().map_err(|_| "--api-version: not a number")?
            }
            "--say" => a.say.push(value),
            "--max-wait" => {
                a.max_wait =
                    Duration::from_secs(value.parse().map_err(|_| "--max-wait: not a number")?)
            }
            other => return Err(format!("unknown option {other}\n{USAGE}")),
        }
    }
    if a.endpoint.is_some()
        && (a.org_id.is_empty() || a.deployment_id.is_empty() || a.button_id.is_empty())
    {
        return Err(format!(
            "--endpoint needs --org-id, --deployment-id and --button-id\n{USAGE}"
        ));
    }
    Ok(a)
}

/// What the visitor does.
enum Script {
    /// Send these lines once the chat is established, then wait for the agent to end it (at most `max_wait`
    /// after the last line, then end it ourselves).
    Say(Vec<String>, Duration),
    /// Lines from stdin; `/end` or end of input ends the chat.
    Stdin,
}

enum AppInput {
    Line(String),
    Eof,
    Tick,
}

fn main() -> ExitCode {
    let args = match parse_args() {
        Ok(a) => a,
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::from(2);
        }
    };
    let (config, script, sim) = match &args.endpoint {
        None => {
            let sim = match sim_http::SimHttp::start(SimConfig::default().with_agent(demo_agent()))
            {
                Ok(s) => s,
                Err(e) => {
                    eprintln!("could not start the simulator: {e}");
                    return ExitCode::FAILURE;
                }
            };
            let endpoint = Endpoint::parse(&sim.url()).expect("loopback URL");
            let config = Config::new(
                endpoint,
                "00D000000000001",
                "572000000000001",
                "573000000000001",
            )
            .visitor_name("Ada");
            let lines = vec![
                "Hi! My parcel has not arrived yet.".to_string(),
                "The order number is 1234.".to_string(),
            ];
            println!("simulator listening on {}", sim.url());
            (
                config,
                Script::Say(lines, Duration::from_secs(3)),
                Some(sim),
            )
        }
        Some(url) => {
            let endpoint = match Endpoint::parse(url) {
                Ok(e) => e,
                Err(e) => {
                    eprintln!("--endpoint: {e}");
                    return ExitCode::from(2);
                }
            };
            if !endpoint.is_tls() && !endpoint.is_loopback() {
                eprintln!(
                    "--endpoint: plain http:// is only allowed for loopback hosts; use https://"
                );
                return ExitCode::from(2);
            }
            let config = Config::new(endpoint, &args.org_id, &args.deployment_id, &args.button_id)
                .visitor_name(args.visitor_name.clone())
                .api_version(args.api_version)
                .seed(std::process::id().into());
            let script = if args.say.is_empty() {
                Script::Stdin
            } else {
                Script::Say(args.say.clone(), args.max_wait)
            };
            (config, script, None)
        }
    };

    let outcome = chat(config, script);
    if let Some(sim) = sim {
        let server = sim.stop();
        if std::env::var_os("LIVEAGENT_SIM_TRANSCRIPT").is_some()
            && let Some(server) = server
        {
            eprintln!("--- simulator transcript ---\n{}", server.transcript_text());
        }
    }
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(reason) => {
            eprintln!("chat failed: {reason}");
            ExitCode::FAILURE
        }
    }
}

/// The simulator's agent for the demo: a short queue, a greeting, echoes, a transfer.
fn demo_agent() -> AgentScript {
    let mut s = AgentScript::new(Vec::new())
        .then(
            Duration::from_millis(400),
            AgentAction::QueueUpdate { position: 1 },
        )
        .then(Duration::from_millis(400), AgentAction::Accept)
        .then(
            Duration::ZERO,
            AgentAction::Say {
                text: "Hello, I'm Andy. How can I help you?".into(),
            },
        )
        .then(Duration::ZERO, AgentAction::EchoVisitor)
        .then(Duration::from_millis(1200), AgentAction::Typing)
        .then(
            Duration::from_millis(500),
            AgentAction::Say {
                text: "Your parcel is on its way and arrives tomorrow. Anything else?".into(),
            },
        )
        .then(
            Duration::from_millis(800),
            AgentAction::Say {
                text: "Thanks for chatting with us. Goodbye!".into(),
            },
        )
        .then(Duration::from_millis(200), AgentAction::End);
    s.queue_position = 2;
    s.echo_prefix = "Let me check that for you: ".into();
    s
}

fn chat(config: Config, script: Script) -> Result<(), String> {
    let start = Instant::now();
    let stamp = move || format!("[{:7.3}]", start.elapsed().as_secs_f64());
    println!("{} connecting to {}", stamp(), config.endpoint);
    let mut session = Session::new(config, Instant::now());
    let mut driver: BlockingDriver<AppInput> = BlockingDriver::new();
    let wake = driver.sender();

    let (mut to_say, max_wait) = match script {
        Script::Say(lines, wait) => (lines.into_iter(), Some(wait)),
        Script::Stdin => {
            let tx = wake.clone();
            std::thread::spawn(move || {
                for line in std::io::stdin().lock().lines() {
                    let Ok(line) = line else { break };
                    if tx.send(Wake::App(AppInput::Line(line))).is_err() {
                        return;
                    }
                }
                let _ = tx.send(Wake::App(AppInput::Eof));
            });
            (Vec::new().into_iter(), None)
        }
    };
    let mut established = false;
    let mut ended: Option<EndReason> = None;

    driver.run(&mut session, |session, input| match input {
        Input::Event(ev) => {
            if let Some(line) = describe(&ev) {
                println!("{} {line}", stamp());
            }
            match &ev {
                Event::ChatEstablished(_) if !established => {
                    established = true;
                    // Scripted visitor: say everything now (the session sends it in order), then give the
                    // agent `max_wait` to end the chat before ending it ourselves.
                    for line in to_say.by_ref() {
                        println!("{} you: {line}", stamp());
                        let _ = session.send_message(line);
                    }
                    if let Some(wait) = max_wait {
                        let tx = wake.clone();
                        std::thread::spawn(move || {
                            std::thread::sleep(wait);
                            let _ = tx.send(Wake::App(AppInput::Tick));
                        });
                    }
                }
                Event::Ended(reason) => ended = Some(reason.clone()),
                _ => {}
            }
        }
        Input::App(AppInput::Line(line)) => {
            let line = line.trim().to_string();
            if line == "/end" {
                let _ = session.end();
            } else if !line.is_empty() {
                match session.send_message(line.clone()) {
                    Ok(_) => println!("{} you: {line}", stamp()),
                    Err(e) => eprintln!("not sent: {e}"),
                }
            }
        }
        Input::App(AppInput::Eof | AppInput::Tick) => {
            let _ = session.end();
        }
    });

    match ended {
        Some(reason) if established && reason.is_normal() => Ok(()),
        Some(reason) => Err(reason.to_string()),
        None => Err("the session stopped without an end reason".into()),
    }
}

fn describe(ev: &Event) -> Option<String> {
    Some(match ev {
        Event::ChatRequested => "chat requested, waiting for an agent".into(),
        Event::Queued {
            position,
            estimated_wait_secs,
        }
        | Event::QueueUpdate {
            position,
            estimated_wait_secs,
        } => {
            let mut s = match position {
                Some(p) if *p > 0 => format!("queue position {p}"),
                _ => "in the queue".to_string(),
            };
            if let Some(w) = estimated_wait_secs.filter(|w| *w >= 0.0) {
                s.push_str(&format!(", estimated wait {w:.0}s"));
            }
            s
        }
        Event::ChatEstablished(agent) => format!(
            "{} joined the chat",
            agent.name.as_deref().unwrap_or("an agent")
        ),
        Event::ChatTransferred(agent) => format!(
            "transferred to {}",
            agent.name.as_deref().unwrap_or("another agent")
        ),
        Event::AgentDisconnected => "the agent disconnected; waiting for another agent".into(),
        Event::AgentTyping(true) => "agent is typing...".into(),
        Event::AgentTyping(false) => "agent stopped typing".into(),
        Event::AgentMessage(m) => format!("{}: {}", m.name.as_deref().unwrap_or("agent"), m.text),
        Event::SessionRestored(_) => "session restored after a server handover".into(),
        Event::ServerSwitched(e) => format!("moved to {e}"),
        Event::IdleWarning { .. } => "you have been idle; the chat will end soon".into(),
        Event::Retrying {
            request,
            attempt,
            cause,
            ..
        } => format!("retrying {request:?} (attempt {attempt}): {cause}"),
        Event::Message(m) => format!("({} message)", m.kind()),
        Event::Ended(reason) => format!("chat ended: {reason}"),
        _ => return None,
    })
}
