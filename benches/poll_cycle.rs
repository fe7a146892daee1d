//! The steady-state costs of an established chat, measured on the session alone (canned answers, no server):
//! * `poll_204`: a 204 handled, the next poll request produced, the drive loop back at `Wait`;
//! * `poll_200_chat_message`: a 200 with one agent ChatMessage handled, the next poll produced, the
//!   `AgentMessage` event drained, back at `Wait`;
//! * `send_message`: `send_message` to its finished `http::Request` (POST Chasitor/ChatMessage);
//! * `send_message_round_trip`: the same plus its 200 handled and the `Delivered` event drained.

mod support;

use criterion::{BatchSize, Criterion, criterion_group, criterion_main};
use liveagent::Timestamp;
use liveagent::{Output, RequestId, Session};
use std::hint::black_box;
use std::sync::Arc;
use std::time::Duration;
use support::{SequencedBody, established, response};

/// Drains to `Wait`, returning the id of the (single) request handed out.
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

/// How long after its poll each 204 comes back in the 204 cycles.
const IDLE_ANSWER: std::time::Duration = std::time::Duration::from_secs(1);

fn bench_cycles(c: &mut Criterion) {
    let config = Arc::new(support::config());
    let now = Timestamp::ZERO;
    let mut g = c.benchmark_group("poll_cycle");

    g.bench_function("poll_204", |b| {
        let (mut s, mut poll) = established(Arc::clone(&config), now);
        // Each 204 a second after its poll: an idle long poll, not the instant empty answers the session
        // paces, so every iteration builds the next poll at once.
        let mut t = now;
        b.iter(|| {
            t += IDLE_ANSWER;
            let _ = s.handle_response(poll, response(204, b""), t);
            poll = step(&mut s, t).unwrap_or(poll);
        });
    });

    g.bench_function("poll_200_chat_message", |b| {
        let (mut s, mut poll) = established(Arc::clone(&config), now);
        let mut body = SequencedBody::chat_message();
        let mut seq = s.ack().max(0) as u64;
        b.iter(|| {
            seq += 1;
            body.set_sequence(seq);
            let _ = s.handle_response(poll, response(200, &body.bytes), now);
            poll = step(&mut s, now).unwrap_or(poll);
        });
        assert_eq!(s.ack(), seq as i64, "every batch was taken");
    });

    g.bench_function("send_message", |b| {
        b.iter_batched_ref(
            || established(Arc::clone(&config), now).0,
            |s| {
                let _ = s.send_message("Hi, my parcel has not arrived yet.");
                match s.poll_output(now) {
                    Output::Request(r) => r,
                    _ => panic!("no request"),
                }
            },
            BatchSize::SmallInput,
        );
    });

    g.bench_function("send_message_round_trip", |b| {
        let (mut s, _poll) = established(Arc::clone(&config), now);
        b.iter(|| {
            let _ = s.send_message("Hi, my parcel has not arrived yet.");
            if let Some(post) = step(&mut s, now) {
                let _ = s.handle_response(post, response(200, b""), now);
            }
            step(&mut s, now);
        });
    });
    g.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2))
        .sample_size(50);
    targets = bench_cycles
}
criterion_main!(benches);
