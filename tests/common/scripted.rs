//! Hand-driven scenarios on the test kit's harness (`liveagent::testkit::Harness`), for what the simulator
//! never does: answers it does not send, a clock that runs backwards or jumps a hundred years. The test
//! answers each request exactly as it says, [`LATENCY`](super::scenario::LATENCY) after the current time.

use super::scenario::{LATENCY, secs};
use liveagent::testkit::{Harness, Out};
use liveagent::{Config, OutgoingRequest, RequestKind, State, Timestamp};
use serde_json::{Value, json};

/// The session key the script issues (a secret: never in a transcript).
pub const KEY: &str = "c0ffee00-SECRET-KEY!1519169434766!c2lnbmF0dXJl=";
/// The affinity token the script issues.
pub const AFFINITY: &str = "73061fa0";

/// `at` seconds of virtual time.
pub fn t(at: f64) -> Timestamp {
    Timestamp::ZERO + secs(at)
}

/// One `{type, message}` element of a Messages answer.
pub fn msg(kind: &str, payload: Value) -> Value {
    json!({"type": kind, "message": payload})
}

/// A 200 Messages body.
pub fn batch(messages: Vec<Value>, sequence: i64) -> Vec<u8> {
    let body = json!({"messages": messages, "sequence": sequence, "offset": 5000 + sequence});
    serde_json::to_vec(&body).expect("json")
}

/// The harness and the `ack` of every poll answered so far.
pub struct Scripted {
    /// The test kit's harness (session, clock, monitor, transcript).
    pub h: Harness,
    answered_acks: Vec<Option<i64>>,
}

fn ack_of(r: &OutgoingRequest) -> Option<i64> {
    let q = r.http.uri().query()?;
    q.split('&')
        .filter_map(|kv| kv.split_once('='))
        .find(|(k, _)| *k == "ack")
        .and_then(|(_, v)| v.parse().ok())
}

impl Scripted {
    /// A session with `config`, at virtual time zero.
    pub fn new(config: Config) -> Scripted {
        let h = Harness::with_config(config, Timestamp::ZERO).unwrap_or_else(|v| panic!("{v}"));
        Scripted {
            h,
            answered_acks: Vec::new(),
        }
    }

    /// Like the simulator's scenarios: SessionId and ChasitorInit answered, ChatRequestSuccess at 1 s,
    /// ChatEstablished at 2 s; the poll with `ack=1` is in flight (sent at 2.05 s).
    pub fn chatting(config: Config) -> Scripted {
        let mut s = Scripted::new(config);
        let body =
            json!({"id": "sess-1", "key": KEY, "affinityToken": AFFINITY, "clientPollTimeout": 40});
        s.answer(RequestKind::SessionId, 200, body.to_string().as_bytes());
        s.answer(RequestKind::ChasitorInit, 200, b"");
        s.set(1.0);
        let success = msg(
            "ChatRequestSuccess",
            json!({"queuePosition": 1, "estimatedWaitTime": 30}),
        );
        s.answer(RequestKind::Messages, 200, &batch(vec![success], 0));
        s.set(2.0);
        let agent =
            json!({"name": "Andy L.", "userId": "005B0000000F3b2", "sneakPeekEnabled": true});
        s.answer(
            RequestKind::Messages,
            200,
            &batch(vec![msg("ChatEstablished", agent)], 1),
        );
        assert_eq!(s.h.session().state(), State::Chatting);
        s
    }

    /// Sets the clock to `at` seconds (the session hears of it with its next input).
    pub fn set(&mut self, at: f64) {
        self.h.set_now(t(at));
    }

    /// Answers the oldest unanswered request of `kind`, [`LATENCY`] from now, with exactly this status and
    /// body, and drains.
    pub fn answer(&mut self, kind: RequestKind, status: u16, body: &[u8]) {
        let Some(req) = self.h.take(kind) else {
            panic!("no {kind:?} request to answer; log: {:?}", self.h.log());
        };
        if kind == RequestKind::Messages {
            self.answered_acks.push(ack_of(&req));
        }
        self.h.advance(LATENCY);
        self.h
            .answer(req.id, status, body)
            .unwrap_or_else(|v| panic!("{v}"));
    }

    /// The `ack` of every poll, answered or not, in order.
    pub fn acks(&self) -> Vec<Option<i64>> {
        let waiting = self.h.log().iter().filter_map(|o| match o {
            Out::Request(r) if r.kind == RequestKind::Messages => Some(ack_of(r)),
            _ => None,
        });
        self.answered_acks.iter().copied().chain(waiting).collect()
    }

    /// Texts of the agent messages the application got.
    pub fn agent_texts(&self) -> Vec<String> {
        self.h
            .events()
            .iter()
            .filter_map(|e| match e {
                liveagent::Event::AgentMessage(m) => Some(m.text.clone()),
                _ => None,
            })
            .collect()
    }
}
