//! The crate's main job: a whole visitor chat over real HTTP.
//!
//! * `cargo run --example chat` starts the simulator behind an HTTP server on 127.0.0.1 (an ephemeral port)
//!   and chats with it through a real HTTP client, printing a readable transcript. The simulated agent asks
//!   for a file on the way, and the visitor uploads a small receipt (`Session::upload_request`, sent to the
//!   simulator's upload servlet). `--interactive` reads the visitor's lines from stdin instead, with an agent
//!   that echoes them and never ends the chat itself.
//! * `cargo run --example chat -- --endpoint URL --org-id ID --deployment-id ID --button-id ID
//!   [--visitor-name NAME] [--api-version N] [--say TEXT]... [--max-wait SECS] [--upload PATH]` chats with a
//!   real org. Without `--say`, each line typed on stdin is sent and `/end` or end of input ends the chat.
//!   When the agent asks for a file, the file at `--upload PATH` is sent (without it, the request is only
//!   printed).
//!
//! Ctrl-C (SIGINT) or SIGTERM ends the chat the way `/end` does: ChatEnd (or, before an agent joined, DELETE
//! SessionId), the one more poll for ChatEnded, then exit, so the agent is not left with a visitor who
//! vanished. A second Ctrl-C (or SIGTERM) quits at once without waiting.
//!
//! Exit status: 0 when an established chat ended normally; 130 (SIGINT) or 143 (SIGTERM) when a signal ended
//! it; 2 for bad arguments; otherwise 1 with the reason on stderr.

// Files of examples/ shared with other examples and tests (inline modules: no `#[path]`).
mod drivers {
    pub mod blocking;
}
mod support {
    pub mod sim_http;
}

use drivers::blocking::{BlockingDriver, Input, Wake};
use liveagent::sim::{AgentAction, AgentScript, SimConfig};
use liveagent::wire::{Endpoint, FileTransfer, Message};
use liveagent::{Config, EndReason, Event, Session};
use std::io::BufRead;
use std::process::ExitCode;
use std::sync::mpsc::Sender;
use std::time::{Duration, Instant};
use support::sim_http;

const USAGE: &str = "usage: chat [--interactive] [--endpoint URL --org-id ID --deployment-id ID --button-id ID \
[--visitor-name NAME] [--api-version N] [--say TEXT]... [--max-wait SECS] [--upload PATH]]";

/// What the demo visitor uploads when the simulated agent asks for a file.
const DEMO_RECEIPT: &[u8] = b"Receipt for order 1234\nPaid: 42.00 EUR\n";

struct Args {
    endpoint: Option<String>,
    org_id: String,
    deployment_id: String,
    button_id: String,
    visitor_name: String,
    api_version: u32,
    say: Vec<String>,
    max_wait: Duration,
    interactive: bool,
    upload: Option<String>,
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
        interactive: false,
        upload: None,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        if flag == "--help" || flag == "-h" {
            return Err(USAGE.into());
        }
        if flag == "--interactive" {
            a.interactive = true;
            continue;
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
            "--upload" => a.upload = Some(value),
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
    /// SIGINT or SIGTERM arrived (the first one; a second quits at once).
    Signal(Signal),
    /// The upload's answer (status and body, read by the session), or why it could not be sent.
    Uploaded(Result<(u16, Vec<u8>), String>),
}

#[derive(Clone, Copy)]
enum Signal {
    Interrupt,
    Terminate,
}

impl Signal {
    fn name(self) -> &'static str {
        match self {
            Signal::Interrupt => "SIGINT",
            Signal::Terminate => "SIGTERM",
        }
    }

    /// 128 + the signal number, as shells report a process a signal ended.
    fn exit_code(self) -> u8 {
        match self {
            Signal::Interrupt => 130,
            Signal::Terminate => 143,
        }
    }
}

/// The file to send when the agent asks for one: name, content type, bytes.
struct UploadFile {
    name: String,
    content_type: String,
    bytes: Vec<u8>,
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
            let agent = demo_agent(args.interactive);
            let sim = match sim_http::SimHttp::start(SimConfig::default().with_agent(agent)) {
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
            let script = if args.interactive {
                Script::Stdin
            } else {
                Script::Say(lines, Duration::from_secs(3))
            };
            (config, script, Some(sim))
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

    let upload = match (&args.upload, &args.endpoint) {
        (Some(path), _) => match std::fs::read(path) {
            Ok(bytes) => Some(UploadFile {
                name: path.clone(),
                content_type: content_type_of(path).into(),
                bytes,
            }),
            Err(e) => {
                eprintln!("--upload {path}: {e}");
                return ExitCode::from(2);
            }
        },
        (None, None) => Some(UploadFile {
            name: "receipt-1234.txt".into(),
            content_type: "text/plain".into(),
            bytes: DEMO_RECEIPT.to_vec(),
        }),
        (None, Some(_)) => None,
    };

    let outcome = chat(config, script, upload);
    if let Some(sim) = sim {
        let server = sim.stop();
        if std::env::var_os("LIVEAGENT_SIM_TRANSCRIPT").is_some()
            && let Some(server) = server
        {
            eprintln!("--- simulator transcript ---\n{}", server.transcript_text());
        }
    }
    match outcome {
        Ok(None) => ExitCode::SUCCESS,
        Ok(Some(signal)) => ExitCode::from(signal.exit_code()),
        Err(reason) => {
            eprintln!("chat failed: {reason}");
            ExitCode::FAILURE
        }
    }
}

/// A content type from the file name's extension (the few a support chat sees), else octet-stream.
fn content_type_of(path: &str) -> &'static str {
    let ext = path
        .rsplit('.')
        .next()
        .unwrap_or_default()
        .to_ascii_lowercase();
    match ext.as_str() {
        "txt" | "log" => "text/plain",
        "pdf" => "application/pdf",
        "png" => "image/png",
        "jpg" | "jpeg" => "image/jpeg",
        "gif" => "image/gif",
        "json" => "application/json",
        _ => "application/octet-stream",
    }
}

/// Watches SIGINT and SIGTERM from now on (registered before this returns, so no signal is lost): the first
/// wakes the drive loop to end the chat, a second quits at once. The handlers live on a thread with its own
/// small tokio runtime (the blocking driver has none).
fn watch_signals(tx: Sender<Wake<AppInput>>) -> std::io::Result<()> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    #[cfg(unix)]
    let (mut int, mut term) = {
        use tokio::signal::unix::{SignalKind, signal};
        let _in_runtime = rt.enter();
        (
            signal(SignalKind::interrupt())?,
            signal(SignalKind::terminate())?,
        )
    };
    std::thread::spawn(move || {
        rt.block_on(async move {
            let mut first = true;
            loop {
                #[cfg(unix)]
                let signal = tokio::select! {
                    Some(()) = int.recv() => Signal::Interrupt,
                    Some(()) = term.recv() => Signal::Terminate,
                    else => return,
                };
                #[cfg(not(unix))]
                let signal = match tokio::signal::ctrl_c().await {
                    Ok(()) => Signal::Interrupt,
                    Err(_) => return,
                };
                if !first {
                    eprintln!(
                        "{}: quitting at once, without ending the chat",
                        signal.name()
                    );
                    std::process::exit(signal.exit_code().into());
                }
                first = false;
                if tx.send(Wake::App(AppInput::Signal(signal))).is_err() {
                    return;
                }
            }
        })
    });
    Ok(())
}

/// Sends the upload on its own thread (it is not a Chat REST request: the session does not track it) and
/// reports the answer to the drive loop.
fn send_upload(req: http::Request<Vec<u8>>, tx: Sender<Wake<AppInput>>) {
    std::thread::spawn(move || {
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .max_redirects(0)
            .timeout_global(Some(Duration::from_secs(60)))
            .build()
            .into();
        let answer = agent
            .run(req)
            .and_then(|mut resp| {
                let status = resp.status().as_u16();
                let body = resp
                    .body_mut()
                    .with_config()
                    .limit(64 * 1024)
                    .read_to_vec()?;
                Ok((status, body))
            })
            .map_err(|e| e.to_string());
        let _ = tx.send(Wake::App(AppInput::Uploaded(answer)));
    });
}

/// The simulator's agent for the demo: a short queue, a greeting, echoes, a request for a file. Scripted, it
/// then says goodbye and ends the chat; interactive, it keeps echoing until the visitor ends the chat.
fn demo_agent(interactive: bool) -> AgentScript {
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
                text:
                    "Your parcel is on its way and arrives tomorrow. Could you send me the receipt?"
                        .into(),
            },
        )
        .then(Duration::ZERO, AgentAction::RequestFile);
    if !interactive {
        s = s
            .then(
                Duration::from_millis(800),
                AgentAction::Say {
                    text: "Got it, thanks for chatting with us. Goodbye!".into(),
                },
            )
            .then(Duration::from_millis(200), AgentAction::End);
    }
    s.queue_position = 2;
    s.echo_prefix = "Let me check that for you: ".into();
    s
}

/// Runs the chat. `Ok(Some(signal))` when a signal ended it.
fn chat(
    config: Config,
    script: Script,
    upload: Option<UploadFile>,
) -> Result<Option<Signal>, String> {
    let start = Instant::now();
    let stamp = move || format!("[{:7.3}]", start.elapsed().as_secs_f64());
    let mut driver: BlockingDriver<AppInput> = BlockingDriver::new();
    let wake = driver.sender();
    if let Err(e) = watch_signals(wake.clone()) {
        eprintln!("Ctrl-C will quit at once: could not watch signals: {e}");
    }
    println!("{} connecting to {}", stamp(), config.endpoint);
    let mut session = Session::new(config, driver.now());

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
    let mut interrupted: Option<Signal> = None;

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
                Event::Message(Message::FileTransfer(t)) => {
                    on_file_transfer(session, t, upload.as_ref(), &wake, &stamp)
                }
                Event::Ended(reason) => ended = Some(reason.clone()),
                _ => {}
            }
        }
        Input::App(AppInput::Signal(signal)) => {
            println!(
                "{} {}: ending the chat (press Ctrl-C again to quit at once)",
                stamp(),
                signal.name()
            );
            interrupted = Some(signal);
            let _ = session.end();
        }
        Input::App(AppInput::Uploaded(answer)) => match answer {
            Ok((status, body)) => println!(
                "{} upload servlet answered: {}",
                stamp(),
                session.upload_answer(status, &body)
            ),
            Err(e) => println!("{} upload not sent: {e}", stamp()),
        },
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

    match (ended, interrupted) {
        (Some(_), Some(signal)) => Ok(Some(signal)),
        (Some(reason), None) if established && reason.is_normal() => Ok(None),
        (Some(reason), None) => Err(reason.to_string()),
        (None, _) => Err("the session stopped without an end reason".into()),
    }
}

/// A FileTransfer message: `Requested` sends the file (if there is one) to the upload servlet; the others
/// report how it went.
fn on_file_transfer(
    session: &Session,
    t: &FileTransfer,
    upload: Option<&UploadFile>,
    wake: &Sender<Wake<AppInput>>,
    stamp: &dyn Fn() -> String,
) {
    match t.kind.as_deref().unwrap_or_default() {
        "Requested" => {
            let Some(file) = upload else {
                println!(
                    "{} the agent asks for a file (run with --upload PATH to send one)",
                    stamp()
                );
                return;
            };
            match session.upload_request(t, &file.name, &file.content_type, &file.bytes) {
                Ok(req) => {
                    println!(
                        "{} the agent asks for a file: uploading {} ({} bytes, {})",
                        stamp(),
                        liveagent::wire::sanitize_filename(&file.name),
                        file.bytes.len(),
                        file.content_type
                    );
                    send_upload(req, wake.clone());
                }
                Err(e) => println!("{} the agent asks for a file; not sent: {e}", stamp()),
            }
        }
        "Success" => println!("{} the agent received the file", stamp()),
        "Failure" => println!("{} the file transfer failed", stamp()),
        "Canceled" => println!("{} the agent cancelled the file request", stamp()),
        other => println!("{} file transfer: {other}", stamp()),
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
        Event::Message(Message::FileTransfer(_)) => return None,
        Event::Message(m) => format!("({} message)", m.kind()),
        Event::Ended(reason) => format!("chat ended: {reason}"),
        _ => return None,
    })
}
