//! Memory of a session and allocation counts of the steady-state cycles, with a counting global allocator.
//! Prints a table; asserts nothing about the figures.

mod support;

use liveagent::Timestamp;
use liveagent::{Output, RequestId, Session};
use std::sync::Arc;
use support::alloc::{self, Counting};
use support::{SequencedBody, established, response};

#[global_allocator]
static ALLOC: Counting = Counting;

const CYCLES: u64 = 10_000;

fn step(s: &mut Session, now: Timestamp) -> Option<RequestId> {
    let mut id = None;
    loop {
        match s.poll_output(now) {
            Output::Request(r) => id = Some(r.id),
            Output::Event(_) => {}
            _ => return id,
        }
    }
}

/// Allocations and peak bytes live per call of `f` (mean over `CYCLES`, after one warm-up call).
fn per_cycle(mut f: impl FnMut()) -> (f64, f64) {
    f();
    let a0 = alloc::allocs();
    let mut bytes = 0usize;
    for _ in 0..CYCLES {
        alloc::reset_peak();
        let live0 = alloc::live();
        f();
        bytes += alloc::peak().saturating_sub(live0);
    }
    (
        (alloc::allocs() - a0) as f64 / CYCLES as f64,
        bytes as f64 / CYCLES as f64,
    )
}

// One cycle each, never inlined so a profiler (`valgrind --tool=callgrind`) shows their cost by name.

#[inline(never)]
fn cycle_204(s: &mut Session, poll: &mut RequestId, now: &mut Timestamp) {
    // Each 204 a second after its poll: an idle long poll, not the instant empty answers the session paces.
    *now += std::time::Duration::from_secs(1);
    let _ = s.handle_response(*poll, response(204, b""), *now);
    *poll = step(s, *now).unwrap_or(*poll);
}

#[inline(never)]
fn cycle_200(
    s: &mut Session,
    poll: &mut RequestId,
    body: &mut SequencedBody,
    seq: &mut u64,
    now: Timestamp,
) {
    *seq += 1;
    body.set_sequence(*seq);
    let _ = s.handle_response(*poll, response(200, &body.bytes), now);
    *poll = step(s, now).unwrap_or(*poll);
}

#[inline(never)]
fn cycle_send(s: &mut Session, now: Timestamp) {
    let _ = s.send_message("Hi, my parcel has not arrived yet.");
    if let Some(post) = step(s, now) {
        let _ = s.handle_response(post, response(200, b""), now);
    }
    step(s, now);
}

fn main() {
    let now = Timestamp::ZERO;
    let config = Arc::new(support::config());

    // An established idle session: Chatting, the long poll in flight, every output drained.
    let live0 = alloc::live();
    let (s, _) = established(Arc::clone(&config), now);
    let heap = alloc::live() - live0;
    let size = std::mem::size_of::<Session>();
    drop(s);
    let live0 = alloc::live();
    let shared = Arc::new(support::config());
    let config_heap = alloc::live() - live0;
    drop(shared);

    println!(
        "memory of one established idle session (Chatting, long poll in flight, outputs drained)"
    );
    println!("  size_of::<Session>()           {size:>6} B");
    println!("  heap owned by the session      {heap:>6} B");
    println!(
        "  total                          {:>6} B  (target < 2048 B)",
        size + heap
    );
    println!("  shared Arc<Config> (not counted above, one per fleet) {config_heap} B");
    println!(
        "  sizes: Event {} B, Message {} B, EndReason {} B, OutgoingRequest {} B, AgentInfo {} B",
        std::mem::size_of::<liveagent::Event>(),
        std::mem::size_of::<liveagent::wire::Message>(),
        std::mem::size_of::<liveagent::EndReason>(),
        std::mem::size_of::<liveagent::OutgoingRequest>(),
        std::mem::size_of::<liveagent::wire::AgentInfo>(),
    );

    println!("\nallocations per cycle (mean of {CYCLES}; peak bytes live during one cycle)");
    let (mut s, mut poll) = established(Arc::clone(&config), now);
    let mut t = now;
    let (a, b) = per_cycle(|| cycle_204(&mut s, &mut poll, &mut t));
    println!("  204 poll cycle                  {a:>6.1} allocs  {b:>7.0} B");

    let (mut s, mut poll) = established(Arc::clone(&config), now);
    let mut body = SequencedBody::chat_message();
    let mut seq = s.ack().max(0) as u64;
    let (a, b) = per_cycle(|| cycle_200(&mut s, &mut poll, &mut body, &mut seq, now));
    println!("  200 ChatMessage poll cycle      {a:>6.1} allocs  {b:>7.0} B");

    let (mut s, _) = established(Arc::clone(&config), now);
    let (a, b) = per_cycle(|| cycle_send(&mut s, now));
    println!(
        "  send_message round trip         {a:>6.1} allocs  {b:>7.0} B  (request built, 200 handled, Delivered drained)"
    );

    let body = support::messages_body(10);
    let limits = liveagent::wire::Limits::default();
    let (a, _) = per_cycle(|| {
        let _ = liveagent::wire::parse_messages(200, &body, &limits);
    });
    let (v, _) = per_cycle(|| {
        let _ = serde_json::from_slice::<serde_json::Value>(&body);
    });
    println!("  decode 10 messages: typed       {a:>6.1} allocs; serde_json::Value {v:.1} allocs");
}
