//! One measured workload per run, for `valgrind --tool=callgrind` (driven by `benches/callgrind.sh`).
//!
//! `instructions MODE N` sets the workload up, runs it once to warm up, then `N` more times, and prints the
//! allocations per iteration (counting allocator). Run under callgrind twice, with `N` and with `0`, the
//! difference of the two instruction totals divided by `N` is the cost of one iteration with every piece of
//! setup excluded. `instructions list` prints the modes. Asserts only that each workload did what it says.

mod support;

use liveagent::Timestamp;
use liveagent::wire::{self, Limits, MessagesAnswer};
use liveagent::{Output, RequestId, Session};
use std::hint::black_box;
use std::path::Path;
use std::sync::Arc;
use support::alloc::{self, Counting};
use support::{Fleet, MESSAGES_EACH_WAY, SequencedBody, established, response, sim_config};

#[global_allocator]
static ALLOC: Counting = Counting;

/// The bodies of the decode comparison: 1, 10 and 100 mixed messages and every captured Messages fixture.
fn bodies() -> Vec<(String, Vec<u8>)> {
    let mut out: Vec<(String, Vec<u8>)> = [1, 10, 100]
        .iter()
        .map(|&n| (format!("mixed-{n}"), support::messages_body(n)))
        .collect();
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/peers");
    let mut fixtures = Vec::new();
    if let Ok(entries) = std::fs::read_dir(&dir) {
        for e in entries.flatten() {
            let name = e.file_name().to_string_lossy().into_owned();
            if name.contains("__messages-200")
                && name.ends_with(".json")
                && let Ok(bytes) = std::fs::read(e.path())
            {
                fixtures.push((name.trim_end_matches(".json").to_owned(), bytes));
            }
        }
    }
    fixtures.sort();
    out.extend(fixtures);
    out
}

fn typed(body: &[u8], limits: &Limits) -> usize {
    match wire::parse_messages(200, body, limits) {
        Ok(MessagesAnswer::Batch(b)) => b.messages.len(),
        Ok(_) => 0,
        Err(e) => panic!("decode failed: {e}"),
    }
}

fn value(body: &[u8]) -> usize {
    match serde_json::from_slice::<serde_json::Value>(body) {
        Ok(v) => v["messages"].as_array().map_or(0, Vec::len),
        Err(e) => panic!("Value parse failed: {e}"),
    }
}

/// Drains to `Wait`, returning the id of the last request handed out.
fn step(s: &mut Session, now: Timestamp) -> Option<RequestId> {
    let mut id = None;
    loop {
        match s.poll_output(now) {
            Output::Request(r) => {
                id = Some(r.id);
                black_box(&r);
            }
            Output::Event(e) => {
                black_box(&e);
            }
            _ => return id,
        }
    }
}

/// Runs `f` once to warm up, then `n` times; returns the allocations per measured call.
fn repeat(n: u64, mut f: impl FnMut()) -> f64 {
    f();
    let a0 = alloc::allocs();
    for _ in 0..n {
        f();
    }
    (alloc::allocs() - a0) as f64 / n.max(1) as f64
}

const MODES: &[&str] = &[
    "cycle-204",
    "cycle-200",
    "send-round-trip",
    "chat",
    "idle-session",
];

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let mode = args.first().map(String::as_str).unwrap_or("list");
    let n: u64 = args.get(1).and_then(|a| a.parse().ok()).unwrap_or(0);
    let now = Timestamp::ZERO;
    let config = Arc::new(support::config());
    let allocs = match mode {
        "list" => {
            for m in MODES {
                println!("{m}");
            }
            for (name, _) in bodies() {
                println!("decode-typed:{name}");
                println!("decode-value:{name}");
            }
            return;
        }
        "cycle-204" => {
            let (mut s, mut poll) = established(Arc::clone(&config), now);
            // Each 204 a second after its poll: an idle long poll, not the instant empty answers the
            // session paces, so every iteration builds the next poll at once.
            let mut t = now;
            let a = repeat(n, || {
                t += std::time::Duration::from_secs(1);
                let _ = s.handle_response(poll, response(204, b""), t);
                poll = step(&mut s, t).unwrap_or(poll);
            });
            assert!(s.in_flight().any(|(id, _)| id == poll), "poll in flight");
            a
        }
        "cycle-200" => {
            let (mut s, mut poll) = established(Arc::clone(&config), now);
            let mut body = SequencedBody::chat_message();
            let mut seq = s.ack().max(0) as u64;
            let a = repeat(n, || {
                seq += 1;
                body.set_sequence(seq);
                let _ = s.handle_response(poll, response(200, &body.bytes), now);
                poll = step(&mut s, now).unwrap_or(poll);
            });
            assert_eq!(s.ack(), seq as i64, "every batch was taken");
            a
        }
        "send-round-trip" => {
            let (mut s, _) = established(Arc::clone(&config), now);
            let a = repeat(n, || {
                let _ = s.send_message("Hi, my parcel has not arrived yet.");
                if let Some(post) = step(&mut s, now) {
                    let _ = s.handle_response(post, response(200, b""), now);
                }
                step(&mut s, now);
            });
            assert_eq!(s.pending_commands(), 0, "every message delivered");
            a
        }
        "chat" => {
            // N whole chats through one simulator (N = 0: the same setup with no chat).
            let a0 = alloc::allocs();
            let mut fleet = Fleet::new(n as usize, sim_config(false), now);
            fleet.run();
            let s = fleet.stats;
            assert_eq!(s.ended_ok, n, "{s:?}");
            assert_eq!(s.agent_messages, n * u64::from(MESSAGES_EACH_WAY), "{s:?}");
            fleet.dispose();
            (alloc::allocs() - a0) as f64 / n.max(1) as f64
        }
        "idle-session" => {
            let live0 = alloc::live();
            let (s, _) = established(Arc::clone(&config), now);
            let heap = alloc::live() - live0;
            let size = std::mem::size_of::<Session>();
            println!(
                "idle-session size_of {size} B + heap {heap} B = {} B",
                size + heap
            );
            black_box(s);
            return;
        }
        other => {
            let limits = Limits::default();
            let (kind, name) = other.split_once(':').unwrap_or((other, ""));
            let Some((_, body)) = bodies().into_iter().find(|(b, _)| b == name) else {
                eprintln!("unknown mode {other}; `instructions list` prints them");
                std::process::exit(2);
            };
            match kind {
                "decode-typed" => repeat(n, || {
                    black_box(typed(black_box(&body), &limits));
                }),
                "decode-value" => repeat(n, || {
                    black_box(value(black_box(&body)));
                }),
                _ => {
                    eprintln!("unknown mode {other}; `instructions list` prints them");
                    std::process::exit(2);
                }
            }
        }
    };
    println!("{mode} {n} iterations: {allocs:.2} allocs/iteration");
}
