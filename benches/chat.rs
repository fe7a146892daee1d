//! A whole chat against the in-process simulator, per session: SessionId, ChasitorInit, queued
//! (ChatRequestSuccess, QueueUpdate), ChatEstablished, ten visitor messages each echoed by the agent, ChatEnd,
//! ChatEnded. Client and server both run here, driven by `liveagent::sim::Pair` on a virtual clock (the agent's
//! 2 s of "thinking" cost nothing).

mod support;

use criterion::{Criterion, criterion_group, criterion_main};
use liveagent::Timestamp;
use std::time::Duration;
use support::{MESSAGES_EACH_WAY, pair_chat, sim_config};

fn one_chat(record_transcript: bool) -> liveagent::sim::Pair {
    pair_chat(sim_config(record_transcript), Timestamp::ZERO)
        .unwrap_or_else(|e| panic!("chat: {e}"))
}

fn bench_chat(c: &mut Criterion) {
    let p = one_chat(false);
    assert!(
        matches!(
            p.session().end_reason(),
            Some(liveagent::EndReason::VisitorEnded { .. })
        ),
        "{p:?}"
    );
    assert_eq!(p.agent_texts().len(), MESSAGES_EACH_WAY as usize, "{p:?}");
    let report = p.check_delivery();
    assert!(report.is_clean(), "{report}");
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
