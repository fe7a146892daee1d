//! Shared by the bench binaries: realistic Messages bodies, a session established by hand, one whole chat
//! driven by `liveagent::sim::Pair`, a fleet of sessions driven by one `Pair` against one in-process simulator
//! on a virtual clock, and (for the memory and scale binaries only) a counting global allocator.
#![allow(dead_code)]

pub mod alloc;

use liveagent::Timestamp;
use liveagent::http;
use liveagent::sim::{
    AgentAction, AgentScript, AgentStep, Pair, PairError, PairStep, Server, Side, SimConfig,
};
use liveagent::wire::Endpoint;
use liveagent::{Config, Event, Output, RequestId, RequestKind, Session};
use std::sync::Arc;
use std::time::Duration;

// ------------------------------------------------------------------------------------------------
// Bodies

/// One message of each shape seen in the captured peers (tests/fixtures/peers/), in a fixed cycle of ten that
/// starts with the common case (an agent ChatMessage).
pub fn message_json(i: usize) -> String {
    match i % 10 {
        0 | 2 | 5 => format!(
            r#"{{"type":"ChatMessage","message":{{"text":"Thanks for waiting, this is reply number {i} to your question.","name":"Everardo G","schedule":{{"responseDelayMilliseconds":0.0}},"agentId":"0053g000000usWa"}}}}"#
        ),
        1 | 6 => r#"{"type":"AgentTyping","message":{"name":"Everardo G","agentId":"5a4f3c2e-8f1d-4b7a-9c3e-1d2f3a4b5c6d"}}"#.to_owned(),
        3 | 8 => r#"{"type":"AgentNotTyping","message":{"name":"Everardo G","agentId":"5a4f3c2e-8f1d-4b7a-9c3e-1d2f3a4b5c6d"}}"#.to_owned(),
        4 => format!(r#"{{"type":"QueueUpdate","message":{{"position":{},"estimatedWaitTime":45}}}}"#, i % 7),
        7 => r#"{"type":"ChatEstablished","message":{"name":"Everardo G","userId":"0053g000000usWa","items":[],"sneakPeekEnabled":false,"chasitorIdleTimeout":{"isEnabled":false}}}"#.to_owned(),
        _ => r#"{"type":"ChatRequestSuccess","message":{"connectionTimeout":150000,"estimatedWaitTime":-1,"sensitiveDataRules":[{"name":"Credit Card","pattern":"\\b(?:\\d{4})(?:-?|\\040?)((((?:\\d{4})(?:-?|\\040?)){3})|(\\d{6}(?:-?|\\040?)(\\d{5}|\\d{4})))\\b","id":"0GO1I000000TN8C","replacement":"XXXX-XXXX-XXXX-XXXX","actionType":"Replace"}],"transcriptSaveEnabled":false,"url":"","queuePosition":1,"customDetails":[],"visitorId":"17878b72-61d5-47ae-be39-0a48951a0e4d","geoLocation":{"organization":"Amazon.com","region":"VA","city":"Ashburn","countryName":"United States","latitude":39.0437,"countryCode":"US","longitude":-77.4875}}}"#.to_owned(),
    }
}

/// A 200 Messages body with `n` messages (compact JSON, as the server sends it).
pub fn messages_body(n: usize) -> Vec<u8> {
    let msgs: Vec<String> = (0..n).map(message_json).collect();
    format!(
        r#"{{"messages":[{}],"sequence":{},"offset":1574190116}}"#,
        msgs.join(","),
        n.saturating_sub(1)
    )
    .into_bytes()
}

/// A one-ChatMessage body whose `sequence` can be rewritten in place (right-aligned in a blank field) so a
/// bench loop can feed ever-increasing sequences without allocating.
pub struct SequencedBody {
    pub bytes: Vec<u8>,
    field: std::ops::Range<usize>,
}

const SEQ_FIELD: usize = 20;

impl SequencedBody {
    pub fn chat_message() -> SequencedBody {
        let head = format!(r#"{{"messages":[{}],"sequence":"#, message_json(0));
        let start = head.len();
        let mut bytes = head.into_bytes();
        bytes.extend_from_slice(&[b' '; SEQ_FIELD]);
        bytes.extend_from_slice(br#","offset":1574190116}"#);
        SequencedBody {
            bytes,
            field: start..start + SEQ_FIELD,
        }
    }

    pub fn set_sequence(&mut self, mut seq: u64) {
        let field = &mut self.bytes[self.field.clone()];
        field.fill(b' ');
        let mut i = field.len();
        loop {
            i -= 1;
            field[i] = b'0' + (seq % 10) as u8;
            seq /= 10;
            if seq == 0 {
                break;
            }
        }
    }
}

pub fn response(status: u16, body: &[u8]) -> http::Response<&[u8]> {
    let mut r = http::Response::new(body);
    *r.status_mut() = http::StatusCode::from_u16(status).unwrap_or(http::StatusCode::OK);
    r
}

// ------------------------------------------------------------------------------------------------
// A session established by hand (canned answers, no server)

pub const SESSION_ID_BODY: &[u8] = br#"{"clientPollTimeout":40,"key":"ec550263-748c-4d17-a8b4-4a1f6d3b9a7e!1570039675081!TxbTUjf1hP8Vns6w0h3zjLhAp3U6HYJvr+M1pbrY3WE=","affinityToken":"878a1fa0","id":"ec550263-748c-4d17-a8b4-4a1f6d3b9a7e"}"#;
pub const ESTABLISHED_BODY: &[u8] = br#"{"messages":[{"type":"ChatRequestSuccess","message":{"queuePosition":1,"estimatedWaitTime":-1,"geoLocation":{"countryCode":"US","city":"Ashburn"},"visitorId":"17878b72-61d5-47ae-be39-0a48951a0e4d"}},{"type":"ChatEstablished","message":{"name":"Everardo G","userId":"0053g000000usWa","items":[],"sneakPeekEnabled":false,"chasitorIdleTimeout":{"isEnabled":false}}}],"sequence":1,"offset":1574190116}"#;

pub fn config() -> Config {
    let endpoint = Endpoint::parse("https://d.la4-c1-ph2.salesforceliveagent.com/chat/rest/")
        .unwrap_or_else(|e| panic!("endpoint: {e}"));
    let mut c = Config::new(
        endpoint,
        "00DD0000000JVXs",
        "572D000000000J6",
        "573D000000000OC",
    )
    .visitor_name("Jon A.")
    .seed(7);
    // The cycle benches run on a frozen clock: ChatMessage pacing would hold every message after the first
    // (they measure the work of a send, not the pause between two).
    c.message_spacing = Duration::ZERO;
    // Likewise the request-rate ceiling: thousands of cycles at one instant are the work measured here, not
    // a server flooding the session.
    c.limits.max_requests_per_second = u32::MAX;
    c.limits.request_burst = u32::MAX;
    c
}

/// Drains outputs until `Wait`; returns the requests handed out (id, kind) and how many events.
pub fn drain(s: &mut Session, now: Timestamp) -> (Vec<(RequestId, RequestKind)>, usize) {
    let mut reqs = Vec::new();
    let mut events = 0;
    loop {
        match s.poll_output(now) {
            Output::Request(r) => reqs.push((r.id, r.kind)),
            Output::Event(_) => events += 1,
            _ => return (reqs, events),
        }
    }
}

/// A session in `Chatting` with its long poll in flight; returns the poll's id.
pub fn established(config: Arc<Config>, now: Timestamp) -> (Session, RequestId) {
    let mut s = Session::with_shared_config(config, now);
    let (reqs, _) = drain(&mut s, now);
    let sid = find(&reqs, RequestKind::SessionId);
    accept(&mut s, sid, response(200, SESSION_ID_BODY), now);
    let (reqs, _) = drain(&mut s, now);
    let init = find(&reqs, RequestKind::ChasitorInit);
    accept(&mut s, init, response(200, b""), now);
    let (reqs, _) = drain(&mut s, now);
    let poll = find(&reqs, RequestKind::Messages);
    accept(&mut s, poll, response(200, ESTABLISHED_BODY), now);
    let (reqs, _) = drain(&mut s, now);
    let poll = find(&reqs, RequestKind::Messages);
    assert_eq!(s.state(), liveagent::State::Chatting);
    (s, poll)
}

fn find(reqs: &[(RequestId, RequestKind)], kind: RequestKind) -> RequestId {
    reqs.iter()
        .find(|(_, k)| *k == kind)
        .map(|(id, _)| *id)
        .unwrap_or_else(|| panic!("no {kind:?} request in {reqs:?}"))
}

fn accept(s: &mut Session, id: RequestId, r: http::Response<&[u8]>, now: Timestamp) {
    if let Err(e) = s.handle_response(id, r, now) {
        panic!("handle_response: {e}");
    }
}

// ------------------------------------------------------------------------------------------------
// A fleet of sessions against one simulator

/// Messages the visitor sends (and the agent echoes) per chat.
pub const MESSAGES_EACH_WAY: u32 = 10;

/// The simulator for whole chats: ChatRequestSuccess (queue position 2), QueueUpdate after 1 s, the agent
/// accepts 1 s later and echoes every visitor message at once; the visitor ends the chat.
pub fn sim_config(record_transcript: bool) -> SimConfig {
    let mut agent = AgentScript::new(vec![
        AgentStep::new(
            Duration::from_secs(1),
            AgentAction::QueueUpdate { position: 1 },
        ),
        AgentStep::new(Duration::from_secs(1), AgentAction::Accept),
        AgentStep::new(Duration::ZERO, AgentAction::EchoVisitor),
    ]);
    agent.queue_position = 2;
    let mut c = SimConfig::default().with_agent(agent);
    c.record_transcript = record_transcript;
    c
}

/// The configuration of the fleet's visitors (and of [`pair_chat`]'s): the simulator's endpoint.
pub fn visitor_config(sim: &SimConfig) -> Config {
    let endpoint = sim.endpoint().unwrap_or_else(|e| panic!("endpoint: {e}"));
    Config::new(
        endpoint,
        "00DD0000000JVXs",
        "572D000000000J6",
        "573D000000000OC",
    )
    .visitor_name("Jon A.")
}

/// One whole chat with [`sim_config`]'s echo agent, driven by [`Pair`]: wait for ChatEstablished, then
/// `MESSAGES_EACH_WAY` times send a text and wait for its echo, then end and run to the end. The pair keeps
/// no transcript of its own; `sim` says whether the simulator does.
pub fn pair_chat(sim: SimConfig, start: Timestamp) -> Result<Pair, PairError> {
    let config = visitor_config(&sim);
    let mut pair = Pair::new(config, sim, start);
    pair.set_transcript(false);
    pair.run_until_event(|e| matches!(e, Event::ChatEstablished(_)))?;
    for i in 1..=MESSAGES_EACH_WAY {
        if let Err(e) = pair.send_message(format!("visitor message {i}")) {
            panic!("send_message: {e}");
        }
        pair.run_until_event(|e| matches!(e, Event::AgentMessage(_)))?;
    }
    if let Err(e) = pair.end() {
        panic!("end: {e}");
    }
    pair.run()?;
    Ok(pair)
}

/// Totals of one fleet run.
#[derive(Debug, Default, Clone, Copy)]
pub struct FleetStats {
    pub requests: u64,
    pub events: u64,
    pub agent_messages: u64,
    pub ended_ok: u64,
    pub ended_other: u64,
    /// When the last chat ended (virtual time since the start).
    pub last_end: Duration,
}

/// `n` visitors, each chatting `MESSAGES_EACH_WAY` messages each way with the simulator's echo agent, all
/// driven by one `sim::Pair` (a fleet: many sessions on one server) on one thread and a virtual clock. This
/// type is only the application: what each visitor does when an event arrives.
pub struct Fleet {
    pub pair: Pair,
    /// Per visitor: texts sent, agent texts received.
    progress: Vec<(u32, u32)>,
    pub stats: FleetStats,
}

impl Fleet {
    pub fn new(n: usize, sim: SimConfig, t0: Timestamp) -> Fleet {
        let config = Arc::new(visitor_config(&sim));
        let mut pair = Pair::fleet(n, config, sim, t0, Some(side_hook));
        pair.set_transcript(false);
        pair.set_keep_events(false);
        pair.set_delivery_tracking(false);
        pair.set_max_steps(usize::MAX);
        Fleet {
            pair,
            progress: vec![(0, 0); n],
            stats: FleetStats::default(),
        }
    }

    /// Runs every chat to its end; returns the virtual time it took.
    pub fn run(&mut self) -> Duration {
        let t0 = self.pair.elapsed();
        loop {
            let step = self
                .pair
                .step()
                .unwrap_or_else(|e| panic!("the fleet stopped: {e}"));
            match step {
                PairStep::Finished => break,
                PairStep::Sent { .. } => self.stats.requests += 1,
                PairStep::Event { session, .. } => self.on_event(session),
                _ => {}
            }
        }
        self.pair.elapsed().saturating_sub(t0)
    }

    fn on_event(&mut self, i: usize) {
        self.stats.events += 1;
        let Some(ev) = self.pair.last_event_of(i) else {
            return;
        };
        let progress = &mut self.progress[i];
        let next = match ev {
            Event::ChatEstablished(_) => true,
            Event::AgentMessage(_) => {
                self.stats.agent_messages += 1;
                progress.1 += 1;
                progress.1 == progress.0
            }
            Event::Ended(reason) => {
                self.stats.last_end = self.pair.elapsed();
                if matches!(reason, liveagent::EndReason::VisitorEnded { .. }) {
                    self.stats.ended_ok += 1;
                } else {
                    self.stats.ended_other += 1;
                }
                false
            }
            _ => false,
        };
        if next {
            if progress.0 < MESSAGES_EACH_WAY {
                progress.0 += 1;
                let text = format!("visitor message {}", progress.0);
                if let Err(e) = self.pair.send_message_of(i, text) {
                    panic!("send_message: {e}");
                }
            } else if let Err(e) = self.pair.end_of(i) {
                panic!("end: {e}");
            }
        }
    }

    /// The simulator.
    pub fn server(&self) -> &Server {
        self.pair.server()
    }

    /// Drops the sessions and the simulator, each inside its side's marker (so callgrind counts it there).
    pub fn dispose(self) {
        self.pair.dispose();
    }
}

/// The fleet's side hook: times each side's work when [`time_sides`] is on (the scale bench). The pair runs
/// every simulator call inside `sim::pair::server_side` and every client call inside `sim::pair::client_side`
/// (never inlined, never nested): `benches/callgrind.sh` counts the instructions inside each.
fn side_hook(side: Side, enter: bool) {
    use std::sync::atomic::Ordering::Relaxed;
    if !TIME_SIDES.load(Relaxed) {
        return;
    }
    SIDE_START.with(|start| {
        if enter {
            start.set(Some(std::time::Instant::now()));
        } else if let Some(t) = start.take() {
            let acc = match side {
                Side::Server => &SIM_NANOS,
                Side::Client => &CLIENT_NANOS,
            };
            acc.fetch_add(t.elapsed().as_nanos() as u64, Relaxed);
        }
    });
}

thread_local! {
    static SIDE_START: std::cell::Cell<Option<std::time::Instant>> = const { std::cell::Cell::new(None) };
}

static TIME_SIDES: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);
static SIM_NANOS: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
static CLIENT_NANOS: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

/// Turns the per-side clocks on or off (two clock reads per call when on).
pub fn time_sides(on: bool) {
    TIME_SIDES.store(on, std::sync::atomic::Ordering::Relaxed);
}

/// Wall time spent inside the pair's server and client sides so far (while [`time_sides`] was on).
pub fn side_times() -> (Duration, Duration) {
    use std::sync::atomic::Ordering::Relaxed;
    (
        Duration::from_nanos(SIM_NANOS.load(Relaxed)),
        Duration::from_nanos(CLIENT_NANOS.load(Relaxed)),
    )
}
