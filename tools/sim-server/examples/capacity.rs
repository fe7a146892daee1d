//! Capacity of the conformance server for load tests (not a criterion bench, not a test: figures only).
//!
//! Starts `liveagent-sim-server` as its own process pinned to one core (`taskset -c 0` when available;
//! `--no-transcript`, an agent that accepts after 100 ms and echoes), then drives N concurrent chats over
//! loopback with the crate's own client (`liveagent::Session` under the tokio driver of `examples/drivers/`):
//! each chat holds its long poll, sends a ChatMessage every `--interval-ms`, `--messages` times, waits for
//! each echo, then ends the chat. Reports how many chats completed, the server's resident memory per chat
//! at the peak (all chats established), its CPU use, and the time from each ChatMessage being handed to the
//! session to its echo reaching the visitor (p50, p99, max).
//!
//! `cargo run --release -p liveagent-sim-server --example capacity -- --chats 10000` (it builds the server
//! binary in release first). Sockets: one held poll per chat on each
//! side plus the POSTs' pooled connections, so the process needs more than N file descriptors: check
//! `ulimit -n` (it says so and stops when the limit is too low).

#[path = "../../../examples/drivers/tokio.rs"]
mod tokio_driver;

use liveagent::wire::Endpoint;
use liveagent::{Config, Event, RetryPolicy, Session};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

struct Args {
    chats: usize,
    messages: usize,
    interval: Duration,
    ramp: Duration,
    client_threads: usize,
}

fn args() -> Args {
    let mut a = Args {
        chats: 1000,
        messages: 3,
        interval: Duration::from_secs(5),
        ramp: Duration::from_secs(20),
        client_threads: 1,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let mut value = || it.next().and_then(|v| v.parse::<u64>().ok()).unwrap_or(0);
        match flag.as_str() {
            "--chats" => a.chats = value() as usize,
            "--messages" => a.messages = value() as usize,
            "--interval-ms" => a.interval = Duration::from_millis(value()),
            "--ramp-ms" => a.ramp = Duration::from_millis(value()),
            "--client-threads" => a.client_threads = (value() as usize).max(1),
            _ => {}
        }
    }
    a
}

fn open_files_limit() -> Option<u64> {
    let limits = std::fs::read_to_string("/proc/self/limits").ok()?;
    let line = limits.lines().find(|l| l.starts_with("Max open files"))?;
    line.split_whitespace().nth(3)?.parse().ok()
}

/// Resident memory and CPU time (user + system) of a process, from /proc.
fn usage(pid: u32) -> (u64, Duration) {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    let rss_kib = status
        .lines()
        .find(|l| l.starts_with("VmRSS:"))
        .and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
        .unwrap_or(0);
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    let fields: Vec<&str> = stat
        .rsplit_once(')')
        .map(|(_, r)| r.split_whitespace().collect())
        .unwrap_or_default();
    let ticks: u64 = [11, 12]
        .iter()
        .filter_map(|&i| fields.get(i)?.parse::<u64>().ok())
        .sum();
    (rss_kib, Duration::from_millis(ticks * 10))
}

fn start_server() -> (Child, u16) {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..");
    let built = Command::new(env!("CARGO"))
        .args(["build", "--release", "-p", "liveagent-sim-server"])
        .current_dir(&root)
        .status()
        .expect("cargo build");
    assert!(built.success(), "building the server");
    let target = std::env::var("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|_| root.join("target"));
    let binary = target.join("release/liveagent-sim-server");
    let port_file = std::env::temp_dir().join(format!("capacity-port-{}", std::process::id()));
    let _ = std::fs::remove_file(&port_file);
    let server_args = [
        "--listen",
        "127.0.0.1:0",
        "--port-file",
        port_file.to_str().unwrap_or_default(),
        "--ignore-stdin",
        "--no-transcript",
        "--accept-after-ms",
        "100",
        "--poll-hold-ms",
        "30000",
    ];
    let pinned = Command::new("taskset").arg("-V").output().is_ok();
    let mut cmd = if pinned {
        let mut c = Command::new("taskset");
        c.args(["-c", "0"]).arg(&binary);
        c
    } else {
        Command::new(&binary)
    };
    let child = cmd
        .args(server_args)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("server");
    let deadline = Instant::now() + Duration::from_secs(10);
    let port = loop {
        if let Ok(p) = std::fs::read_to_string(&port_file)
            && let Ok(p) = p.trim().parse()
        {
            break p;
        }
        assert!(Instant::now() < deadline, "the server did not start");
        std::thread::sleep(Duration::from_millis(20));
    };
    let _ = std::fs::remove_file(&port_file);
    eprintln!(
        "server pid {} on port {port} (pinned to core 0: {pinned})",
        child.id()
    );
    (child, port)
}

fn config(url: &str, seed: u64) -> Config {
    let mut c = Config::new(
        Endpoint::parse(url).expect("loopback url"),
        "00D000000000001",
        "572000000000001",
        "573000000000001",
    )
    .visitor_name("Load")
    .seed(seed);
    let mut retry = RetryPolicy::default();
    retry.max_attempts = 5;
    c.retry = retry;
    c.request_timeout = Duration::from_secs(30);
    c
}

#[derive(Default)]
struct Outcome {
    completed: bool,
    latencies: Vec<Duration>,
}

fn main() {
    let a = args();
    let limit = open_files_limit().unwrap_or(0);
    // Each chat: a held poll and, now and then, a POST connection (pooled, shared) in this process.
    let needed = a.chats as u64 + a.chats as u64 / 10 + 100;
    eprintln!("ulimit -n: {limit} (about {needed} needed here, as many in the server)");
    if limit < needed {
        eprintln!(
            "too few file descriptors for {} chats: raise `ulimit -n`",
            a.chats
        );
        return;
    }
    let (mut server, port) = start_server();
    let pid = server.id();
    let url = format!("http://127.0.0.1:{port}");
    std::thread::sleep(Duration::from_millis(200));
    let (rss0, cpu0) = usage(pid);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(a.client_threads)
        .enable_all()
        .build()
        .expect("runtime");
    let established = Arc::new(AtomicUsize::new(0));
    let started = Instant::now();
    let n = a.chats;
    let (peak_rss, outcomes) = rt.block_on(async {
        let client = tokio_driver::client();
        let mut tasks = tokio::task::JoinSet::new();
        for i in 0..n {
            let client = client.clone();
            let url = url.clone();
            let established = established.clone();
            // Chats start evenly over the ramp; each sends its first message one interval after the ramp,
            // with a phase of its own so the messages spread over the interval.
            let start_at = started + a.ramp.mul_f64(i as f64 / n as f64);
            let phase = a.interval.mul_f64((i % 1000) as f64 / 1000.0);
            let first = started + a.ramp + phase;
            let (interval, messages) = (a.interval, a.messages);
            tasks.spawn(async move {
                tokio::time::sleep_until(start_at.into()).await;
                let clock = liveagent::Clock::new(Instant::now());
                let mut session = Session::new(config(&url, i as u64), clock.at(Instant::now()));
                let (tx, rx) = tokio::sync::mpsc::channel::<()>(1);
                tokio::spawn(async move {
                    let mut at = first;
                    for _ in 0..=messages {
                        tokio::time::sleep_until(at.into()).await;
                        if tx.send(()).await.is_err() {
                            return;
                        }
                        at += interval;
                    }
                });
                let mut out = Outcome::default();
                let mut sent: Option<Instant> = None;
                let mut count = 0;
                tokio_driver::run(&client, clock, &mut session, rx, |s, input| match input {
                    tokio_driver::Input::App(()) => {
                        if count < messages {
                            if s.send_message(format!("chat {i} message {count}")).is_ok() {
                                sent = Some(Instant::now());
                                count += 1;
                            }
                        } else {
                            let _ = s.end();
                        }
                    }
                    tokio_driver::Input::Event(Event::ChatEstablished(_)) => {
                        established.fetch_add(1, Ordering::Relaxed);
                    }
                    tokio_driver::Input::Event(Event::AgentMessage(m)) => {
                        if m.text.starts_with("echo: ")
                            && let Some(t) = sent.take()
                        {
                            out.latencies.push(t.elapsed());
                        }
                    }
                    tokio_driver::Input::Event(Event::Ended(reason)) => {
                        out.completed = count == messages
                            && out.latencies.len() == messages
                            && matches!(reason, liveagent::EndReason::VisitorEnded { .. });
                    }
                    _ => {}
                })
                .await;
                out
            });
        }
        // The peak: every chat established and holding its poll, before the first message.
        let mut peak = 0;
        while started.elapsed() < a.ramp + Duration::from_millis(500) {
            tokio::time::sleep(Duration::from_millis(250)).await;
            peak = peak.max(usage(pid).0);
        }
        let mut outcomes = Vec::with_capacity(n);
        while let Some(r) = tasks.join_next().await {
            outcomes.push(r.unwrap_or_default());
        }
        (peak, outcomes)
    });
    let wall = started.elapsed();
    let (_, cpu1) = usage(pid);
    let (_, client_cpu) = usage(std::process::id());
    let _ = server.kill();
    let _ = server.wait();

    let completed = outcomes.iter().filter(|o| o.completed).count();
    let mut lat: Vec<Duration> = outcomes
        .iter()
        .flat_map(|o| o.latencies.iter().copied())
        .collect();
    lat.sort();
    let pct = |p: f64| {
        lat.get(((lat.len() as f64 * p).ceil() as usize).saturating_sub(1))
            .copied()
            .unwrap_or_default()
    };
    let per_chat = (peak_rss.saturating_sub(rss0)) as f64 / n.max(1) as f64;
    let cpu = cpu1.saturating_sub(cpu0);
    println!(
        "chats {n}: established {} completed {completed}; server RSS {rss0} KiB idle, {peak_rss} KiB at the peak = {per_chat:.1} KiB/chat; server CPU {:.1} s in {:.1} s ({:.0}% of one core), client CPU {:.1} s; ChatMessage->echo over {} messages: p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms",
        established.load(Ordering::Relaxed),
        cpu.as_secs_f64(),
        wall.as_secs_f64(),
        100.0 * cpu.as_secs_f64() / wall.as_secs_f64(),
        client_cpu.as_secs_f64(),
        lat.len(),
        pct(0.50).as_secs_f64() * 1e3,
        pct(0.99).as_secs_f64() * 1e3,
        lat.last().copied().unwrap_or_default().as_secs_f64() * 1e3,
    );
}
