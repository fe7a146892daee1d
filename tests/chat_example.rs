//! Runs `examples/chat.rs` as a user would (through `cargo run`: on Unix cargo execs the example, so the
//! child's pid is the example's) and sends it real signals:
//! * one SIGINT during an established chat ends it the way `/end` does — ChatEnd, ChatEnded delivered by
//!   the poll, the session ended by the visitor — and the exit status is 130;
//! * a second SIGINT while the first end is still waiting quits at once (130), without waiting for it;
//! * the scripted demo uploads a file when the simulated agent asks for one.
//!
//! Timeouts here only stop a hung child; nothing asserts how long anything took.
#![cfg(all(unix, feature = "sim"))]

use std::io::{BufRead, BufReader, Read};
use std::net::TcpListener;
use std::path::Path;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc::{self, Receiver};
use std::time::{Duration, Instant};

/// `cargo run -q --example chat -- ARGS` with stdin, stdout and stderr piped.
fn spawn_chat(args: &[&str]) -> Child {
    let mut cmd = Command::new(env!("CARGO"));
    // As in tests/decode_example.rs: the package's own variables would dirty dependency fingerprints.
    for (name, _) in std::env::vars_os() {
        let n = name.to_string_lossy();
        if n.starts_with("CARGO_PKG_")
            || n.starts_with("CARGO_MANIFEST_")
            || matches!(
                &*n,
                "CARGO_CRATE_NAME" | "CARGO_PRIMARY_PACKAGE" | "CARGO_TARGET_TMPDIR"
            )
        {
            cmd.env_remove(&name);
        }
    }
    cmd.current_dir(Path::new(env!("CARGO_MANIFEST_DIR")))
        // `--features sim`: the example needs it, and a packaged copy of the crate has no dev-dependency on
        // itself to turn it on.
        .args(["run", "-q", "--features", "sim", "--example", "chat", "--"])
        .args(args)
        .env("LIVEAGENT_SIM_TRANSCRIPT", "1")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("cargo run --example chat")
}

/// The child's stdout, line by line, on a channel.
fn lines_of(child: &mut Child) -> Receiver<String> {
    let out = child.stdout.take().expect("stdout");
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(out).lines() {
            let Ok(line) = line else { return };
            if tx.send(line).is_err() {
                return;
            }
        }
    });
    rx
}

/// Collects lines until one contains `needle` (and returns them all), or panics after `limit`.
fn wait_for(rx: &Receiver<String>, seen: &mut Vec<String>, needle: &str, limit: Duration) {
    let deadline = Instant::now() + limit;
    loop {
        if seen.iter().any(|l| l.contains(needle)) {
            return;
        }
        match rx.recv_timeout(deadline.saturating_duration_since(Instant::now())) {
            Ok(line) => seen.push(line),
            Err(_) => panic!(
                "no line with {needle:?}; stdout so far:\n{}",
                seen.join("\n")
            ),
        }
    }
}

fn sigint(child: &Child) {
    let status = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .expect("kill");
    assert!(status.success(), "kill -INT {}", child.id());
}

/// Waits for the child to exit (killing it after `limit`), then returns its status, the rest of stdout
/// and all of stderr.
fn finish(
    mut child: Child,
    rx: &Receiver<String>,
    seen: &mut Vec<String>,
    limit: Duration,
) -> (ExitStatus, String) {
    let deadline = Instant::now() + limit;
    let status = loop {
        if let Some(s) = child.try_wait().expect("try_wait") {
            break s;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("the example did not exit; stdout:\n{}", seen.join("\n"));
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    seen.extend(rx.try_iter());
    let mut err = String::new();
    if let Some(mut e) = child.stderr.take() {
        let _ = e.read_to_string(&mut err);
    }
    (status, err)
}

#[test]
fn one_ctrl_c_ends_the_chat_like_end_and_exits_130() {
    let mut child = spawn_chat(&["--interactive"]);
    let rx = lines_of(&mut child);
    let mut seen = Vec::new();
    // Generous: the first run may compile the example.
    wait_for(&rx, &mut seen, "joined the chat", Duration::from_secs(600));
    sigint(&child);
    let (status, transcript) = finish(child, &rx, &mut seen, Duration::from_secs(60));
    let stdout = seen.join("\n");
    assert_eq!(
        status.code(),
        Some(130),
        "stdout:\n{stdout}\nstderr:\n{transcript}"
    );
    assert!(
        stdout.contains("SIGINT: ending the chat (press Ctrl-C again to quit at once)"),
        "{stdout}"
    );
    assert!(
        stdout.contains("chat ended: the visitor ended the chat"),
        "{stdout}"
    );
    // The simulator saw the chat ended properly: ChatEnd, then ChatEnded delivered, then the end.
    let lines: Vec<&str> = transcript.lines().collect();
    let at = |needle: &str| {
        lines
            .iter()
            .position(|l| l.contains(needle))
            .unwrap_or_else(|| panic!("no {needle:?} in the transcript:\n{transcript}"))
    };
    let chat_end = at("POST /chat/rest/Chasitor/ChatEnd");
    let delivered = at("[ChatEnded]");
    let ended = at("session ended (Visitor)");
    assert!(chat_end < delivered && delivered <= ended, "{transcript}");
}

#[test]
fn a_second_ctrl_c_quits_at_once() {
    // A server that accepts connections and never answers: the SessionId request stays in flight, so the
    // first Ctrl-C's end has to wait for it.
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let url = format!("http://{}", listener.local_addr().expect("addr"));
    let (conn_tx, conn_rx) = mpsc::channel();
    std::thread::spawn(move || {
        let mut held = Vec::new();
        for stream in listener.incoming() {
            let Ok(s) = stream else { return };
            held.push(s);
            let _ = conn_tx.send(());
        }
    });
    let mut child = spawn_chat(&[
        "--endpoint",
        &url,
        "--org-id",
        "00D000000000001",
        "--deployment-id",
        "572000000000001",
        "--button-id",
        "573000000000001",
    ]);
    let rx = lines_of(&mut child);
    let mut seen = Vec::new();
    wait_for(&rx, &mut seen, "connecting to", Duration::from_secs(600));
    conn_rx
        .recv_timeout(Duration::from_secs(60))
        .expect("the example connected");
    sigint(&child);
    wait_for(
        &rx,
        &mut seen,
        "SIGINT: ending the chat",
        Duration::from_secs(60),
    );
    sigint(&child);
    let (status, stderr) = finish(child, &rx, &mut seen, Duration::from_secs(60));
    assert_eq!(status.code(), Some(130), "stderr:\n{stderr}");
    assert!(
        stderr.contains("SIGINT: quitting at once, without ending the chat"),
        "{stderr}"
    );
    assert!(
        !seen.iter().any(|l| l.contains("chat ended")),
        "{}",
        seen.join("\n")
    );
}

#[test]
fn the_demo_uploads_the_file_the_agent_asks_for() {
    let mut child = spawn_chat(&[]);
    let rx = lines_of(&mut child);
    let mut seen = Vec::new();
    let (status, transcript) = finish(child, &rx, &mut seen, Duration::from_secs(600));
    let stdout = seen.join("\n");
    assert!(status.success(), "stdout:\n{stdout}\nstderr:\n{transcript}");
    for line in [
        "the agent asks for a file: uploading receipt-1234.txt (39 bytes, text/plain)",
        "upload servlet answered: upload succeeded",
        "the agent received the file",
        "chat ended: the chat was ended (agent)",
    ] {
        assert!(stdout.contains(line), "no {line:?} in:\n{stdout}");
    }
    assert!(
        transcript.contains("POST /content/rest/fileupload -> 200 Success"),
        "{transcript}"
    );
    assert!(
        transcript.contains("upload accepted: \"receipt-1234.txt\", 39 bytes, text/plain"),
        "{transcript}"
    );
}
