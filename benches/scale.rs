//! Scale: N concurrent visitors, each through a whole chat (init, queue, ten messages each way, end), driven by
//! ONE thread against ONE in-process simulator (`record_transcript = false`) on a virtual clock. Prints wall
//! time and peak heap (counting allocator) for N = 1,000, 10,000 and 100,000, and how both grow.
//!
//! `cargo bench --bench scale` runs all three; `cargo bench --bench scale -- 1000 50000` runs the sizes given.

#[path = "support/mod.rs"]
mod support;

use std::time::Instant;
use support::alloc::{self, Counting};
use support::{Fleet, MESSAGES_EACH_WAY, sim_config};

#[global_allocator]
static ALLOC: Counting = Counting;

struct Row {
    n: usize,
    wall: f64,
    peak: usize,
    allocs: u64,
    requests: u64,
    virtual_secs: f64,
}

fn run(n: usize) -> Row {
    let live0 = alloc::live();
    alloc::reset_peak();
    let a0 = alloc::allocs();
    let start = Instant::now();
    let mut fleet = Fleet::new(n, sim_config(false), start);
    fleet.run();
    let virt = fleet.stats.last_end;
    let wall = start.elapsed().as_secs_f64();
    let s = fleet.stats;
    let ok = s.ended_ok == n as u64 && s.agent_messages == n as u64 * u64::from(MESSAGES_EACH_WAY);
    assert!(ok, "not every chat completed: {s:?}");
    assert_eq!(fleet.server.live_sessions(), 0);
    let row = Row {
        n,
        wall,
        peak: alloc::peak().saturating_sub(live0),
        allocs: alloc::allocs() - a0,
        requests: s.requests,
        virtual_secs: virt.as_secs_f64(),
    };
    drop(fleet);
    row
}

fn main() {
    let mut sizes: Vec<usize> = std::env::args()
        .skip(1)
        .filter_map(|a| a.replace('_', "").parse().ok())
        .collect();
    if sizes.is_empty() {
        sizes = vec![1_000, 10_000, 100_000];
    }
    println!(
        "whole chats ({MESSAGES_EACH_WAY} messages each way) through one simulator, one thread, virtual clock"
    );
    println!(
        "{:>8} {:>9} {:>10} {:>10} {:>11} {:>9} {:>10} {:>9} {:>8}",
        "sessions",
        "wall s",
        "µs/chat",
        "req/chat",
        "allocs/chat",
        "peak MiB",
        "B/session",
        "x wall",
        "x peak"
    );
    let mut prev: Option<Row> = None;
    for n in sizes {
        let r = run(n);
        let (gw, gp) = match &prev {
            Some(p) => (
                format!("{:.1}", r.wall / p.wall),
                format!("{:.1}", r.peak as f64 / p.peak as f64),
            ),
            None => ("-".into(), "-".into()),
        };
        println!(
            "{:>8} {:>9.3} {:>10.1} {:>10.1} {:>11.1} {:>9.1} {:>10.0} {:>9} {:>8}   (virtual time {:.0} s)",
            r.n,
            r.wall,
            r.wall * 1e6 / r.n as f64,
            r.requests as f64 / r.n as f64,
            r.allocs as f64 / r.n as f64,
            r.peak as f64 / (1024.0 * 1024.0),
            r.peak as f64 / r.n as f64,
            gw,
            gp,
            r.virtual_secs,
        );
        prev = Some(r);
    }
}
