//! A whole chat against the in-process simulator, per session: SessionId, ChasitorInit, queued
//! (ChatRequestSuccess, QueueUpdate), ChatEstablished, ten visitor messages each echoed by the agent, ChatEnd,
//! ChatEnded. Client and server both run here, on a virtual clock (the agent's 2 s of "thinking" cost nothing).

#[path = "support/mod.rs"]
mod support;

use criterion::{Criterion, criterion_group, criterion_main};
use std::time::{Duration, Instant};
use support::{Fleet, MESSAGES_EACH_WAY, sim_config};

fn one_chat(record_transcript: bool) -> support::FleetStats {
    let mut f = Fleet::new(1, sim_config(record_transcript), Instant::now());
    f.run();
    f.stats
}

fn bench_chat(c: &mut Criterion) {
    let s = one_chat(false);
    assert_eq!(s.ended_ok, 1, "{s:?}");
    assert_eq!(s.agent_messages, u64::from(MESSAGES_EACH_WAY), "{s:?}");
    let mut g = c.benchmark_group("chat");
    g.bench_function("whole_chat", |b| b.iter(|| one_chat(false)));
    g.bench_function("whole_chat_with_transcript", |b| b.iter(|| one_chat(true)));
    g.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(3))
        .sample_size(30);
    targets = bench_chat
}
criterion_main!(benches);
