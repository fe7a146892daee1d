//! Scale: N concurrent visitors, each through a whole chat (init, queue, ten messages each way, end), driven by
//! ONE `sim::Pair` (a fleet) on ONE thread against ONE in-process simulator (`record_transcript = false`) on a virtual clock. Prints wall
//! time (and the client's and the simulator's shares of it, timed inside the pair's side markers), peak heap
//! (counting allocator), the simulator's heap per finished chat (what it keeps once every chat is over and
//! the clients are dropped), for N = 1,000, 10,000 and 100,000, and how each grows from the first size.
//!
//! `cargo bench --bench scale` runs all three; `cargo bench --bench scale -- 1000 50000` runs the sizes given.

mod support;

use liveagent::Timestamp;
use support::alloc::{self, Counting};
use support::{Fleet, MESSAGES_EACH_WAY, side_times, sim_config, time_sides};

#[global_allocator]
static ALLOC: Counting = Counting;

struct Row {
    n: usize,
    wall: f64,
    sim: f64,
    client: f64,
    sim_kept: usize,
    peak: usize,
    allocs: u64,
    requests: u64,
    virtual_secs: f64,
}

fn run(n: usize) -> Row {
    let live0 = alloc::live();
    alloc::reset_peak();
    let a0 = alloc::allocs();
    let (sim0, client0) = side_times();
    time_sides(true);
    let wall_start = std::time::Instant::now();
    let mut fleet = Fleet::new(n, sim_config(false), Timestamp::ZERO);
    fleet.run();
    let virt = fleet.stats.last_end;
    let wall = wall_start.elapsed().as_secs_f64();
    time_sides(false);
    let (sim1, client1) = side_times();
    let s = fleet.stats;
    let ok = s.ended_ok == n as u64 && s.agent_messages == n as u64 * u64::from(MESSAGES_EACH_WAY);
    assert!(ok, "not every chat completed: {s:?}");
    assert_eq!(fleet.server().live_sessions(), 0);
    let allocs = alloc::allocs() - a0;
    let peak = alloc::peak().saturating_sub(live0);
    let server = fleet.pair.into_server();
    let row = Row {
        n,
        wall,
        sim: (sim1 - sim0).as_secs_f64(),
        client: (client1 - client0).as_secs_f64(),
        sim_kept: alloc::live().saturating_sub(live0),
        peak,
        allocs,
        requests: s.requests,
        virtual_secs: virt.as_secs_f64(),
    };
    drop(server);
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
        "{:>8} {:>8} {:>8} {:>8} {:>8} {:>8} {:>9} {:>8} {:>9} {:>8} {:>8} {:>7}",
        "sessions",
        "wall s",
        "µs/chat",
        "client",
        "sim",
        "req",
        "allocs",
        "peak MiB",
        "B/session",
        "sim B/fin",
        "x µs/chat",
        "x peak"
    );
    let mut first: Option<Row> = None;
    for n in sizes {
        let r = run(n);
        let per_chat = |r: &Row| r.wall / r.n as f64;
        let per_peak = |r: &Row| r.peak as f64 / r.n as f64;
        let (gw, gp) = match &first {
            Some(f) => (
                format!("{:.2}", per_chat(&r) / per_chat(f)),
                format!("{:.2}", per_peak(&r) / per_peak(f)),
            ),
            None => ("-".into(), "-".into()),
        };
        println!(
            "{:>8} {:>8.3} {:>8.1} {:>8.1} {:>8.1} {:>8.1} {:>9.1} {:>8.1} {:>9.0} {:>9.0} {:>8} {:>7}   (virtual time {:.0} s)",
            r.n,
            r.wall,
            r.wall * 1e6 / r.n as f64,
            r.client * 1e6 / r.n as f64,
            r.sim * 1e6 / r.n as f64,
            r.requests as f64 / r.n as f64,
            r.allocs as f64 / r.n as f64,
            r.peak as f64 / (1024.0 * 1024.0),
            r.peak as f64 / r.n as f64,
            r.sim_kept as f64 / r.n as f64,
            gw,
            gp,
            r.virtual_secs,
        );
        if first.is_none() {
            first = Some(r);
        }
    }
    println!(
        "µs/chat: wall per chat; client, sim: its share (timed inside the pair's side markers, the rest is the \
         driver); sim B/fin: simulator heap per finished chat; x: per-chat growth from the first size (1.00 = linear)"
    );
}
