//! The server simulator driven directly with requests built by `liveagent::wire::Api`, on a virtual clock.
#![cfg(feature = "sim")]

use liveagent::Timestamp;
use liveagent::sim::dialect::{SequenceHeader, SequenceRule};
use liveagent::sim::{
    AgentAction, AgentScript, Dialect, Fault, FaultKind, FaultPlan, Reply, Server, ServerEnd,
    SessionState, Severity, SimConfig, Ticket, Trigger, VisitorEvent, offset_for_index,
};
use liveagent::wire::{
    self, AffinityToken, Api, AvailabilityQuery, ChasitorInit, Endpoint, Limits, Message,
    MessagesAnswer, MessagesBody, Noun, ServerError, SessionAuth, SessionKey, SettingsQuery,
};
use std::collections::HashMap;
use std::time::Duration;

const V: u32 = 59;

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

/// The server plus a virtual clock and a mailbox of replies.
struct Harness {
    server: Server,
    t0: Timestamp,
    now: Timestamp,
    endpoint: Endpoint,
    mailbox: HashMap<Ticket, (Timestamp, Reply)>,
}

impl Harness {
    fn new(config: SimConfig) -> Harness {
        let t0 = Timestamp::ZERO;
        let endpoint = config.endpoint().expect("endpoint");
        Harness {
            server: Server::new(config, t0),
            t0,
            now: t0,
            endpoint,
            mailbox: HashMap::new(),
        }
    }

    fn api(&self) -> Api<'_> {
        Api::new(&self.endpoint, V)
    }

    /// Moves the clock to `t0 + d`, running everything due.
    fn at(&mut self, d: Duration) {
        let t = self.t0 + d;
        assert!(t >= self.now, "time goes forward");
        while let Some(next) = self.server.poll_timeout() {
            if next > t {
                break;
            }
            self.now = self.now.max(next);
            self.server.handle_timeout(self.now);
            self.drain();
        }
        self.now = t;
        self.server.handle_timeout(t);
        self.drain();
    }

    fn elapsed(&self) -> Duration {
        self.now - self.t0
    }

    fn drain(&mut self) {
        while let Some((t, r)) = self.server.poll_reply(self.now) {
            self.mailbox.insert(t, (self.now, r));
        }
    }

    fn send(&mut self, req: &http::Request<Vec<u8>>) -> Ticket {
        let t = self.server.handle_request(req, self.now);
        self.drain();
        t
    }

    /// The reply to `ticket` if it is ready now.
    fn ready(&mut self, ticket: Ticket) -> Option<Reply> {
        self.drain();
        self.mailbox.remove(&ticket).map(|(_, r)| r)
    }

    /// Runs the clock until the reply to `ticket` is ready (at most `limit` of virtual time).
    fn wait(&mut self, ticket: Ticket, limit: Duration) -> Reply {
        let end = self.now + limit;
        loop {
            self.drain();
            if let Some((_, r)) = self.mailbox.remove(&ticket) {
                return r;
            }
            let next = self
                .server
                .poll_timeout()
                .expect("nothing scheduled but no reply yet");
            assert!(next <= end, "no reply within {limit:?}");
            self.now = self.now.max(next);
            self.server.handle_timeout(self.now);
        }
    }

    /// Sends and expects an immediate response.
    fn call(&mut self, req: &http::Request<Vec<u8>>) -> (u16, Vec<u8>) {
        let t = self.send(req);
        match self.ready(t) {
            Some(Reply::Response(r)) => (r.status().as_u16(), r.into_body()),
            Some(_) => panic!("dropped"),
            None => panic!("no immediate reply to {} {}", req.method(), req.uri()),
        }
    }
}

fn resp(r: Reply) -> (u16, Vec<u8>) {
    match r {
        Reply::Response(r) => (r.status().as_u16(), r.into_body()),
        _ => panic!("reply was dropped"),
    }
}

/// A minimal visitor that follows the spec by hand.
struct Visitor {
    id: String,
    key: SessionKey,
    token: Option<AffinityToken>,
    seq: u64,
    ack: i64,
    pc: u64,
    offset: Option<i64>,
}

impl Visitor {
    /// The key and token as they are now (a request sent before the visitor learns something).
    fn clone_auth(&self) -> Visitor {
        Visitor {
            id: self.id.clone(),
            key: SessionKey::new(self.key.expose()),
            token: self.token.as_ref().map(|t| AffinityToken::new(t.expose())),
            seq: self.seq,
            ack: self.ack,
            pc: self.pc,
            offset: self.offset,
        }
    }

    fn auth(&self) -> SessionAuth<'_> {
        SessionAuth {
            key: &self.key,
            affinity: self.token.as_ref(),
        }
    }
}

fn init_noun(id: &str) -> Noun {
    Noun::ChasitorInit(Box::new(ChasitorInit {
        organization_id: "00DD0000000JVXs".into(),
        deployment_id: "572D000000000J6".into(),
        button_id: "573D000000000OC".into(),
        session_id: id.into(),
        user_agent: "test".into(),
        language: "en-US".into(),
        screen_resolution: "n/a".into(),
        visitor_name: "Jon A.".into(),
        receive_queue_updates: true,
        is_post: true,
        ..Default::default()
    }))
}

fn msg(text: &str) -> Noun {
    Noun::ChatMessage { text: text.into() }
}

impl Harness {
    fn open(&mut self) -> Visitor {
        let req = self.api().session_id().unwrap();
        let (status, body) = self.call(&req);
        assert_eq!(status, 200);
        let s = wire::parse_session_id(status, &body, &Limits::default()).unwrap();
        assert_eq!(s.client_poll_timeout, Some(40));
        assert_eq!(s.affinity_token.expose().len(), 8);
        assert!(s.key.expose().starts_with(&format!("{}!", s.id)));
        Visitor {
            id: s.id,
            key: s.key,
            token: Some(s.affinity_token),
            seq: 0,
            ack: -1,
            pc: 0,
            offset: None,
        }
    }

    /// POSTs a noun with the next sequence number.
    fn post(&mut self, v: &mut Visitor, noun: &Noun) -> (u16, Vec<u8>) {
        let seq = if noun.is_sequenced() {
            v.seq + 1
        } else {
            v.seq
        };
        let req = self.api().chasitor(v.auth(), noun, seq).unwrap();
        let r = self.call(&req);
        if r.0 == 200 && noun.is_sequenced() {
            v.seq = seq;
        }
        r
    }

    fn init(&mut self, v: &mut Visitor) -> (u16, Vec<u8>) {
        let noun = init_noun(&v.id);
        self.post(v, &noun)
    }

    fn poll_req(&self, v: &mut Visitor) -> http::Request<Vec<u8>> {
        let req = self.api().messages(v.auth(), v.ack, Some(v.pc)).unwrap();
        v.pc += 1;
        req
    }

    /// Polls until a batch arrives (re-polling on 204); applies the spec's ack/offset rules and checks
    /// `sequence == ack + messages`.
    fn poll(&mut self, v: &mut Visitor) -> MessagesBody {
        loop {
            let req = self.poll_req(v);
            let t = self.send(&req);
            let (status, body) = resp(self.wait(t, Duration::from_secs(31)));
            match wire::parse_messages(status, &body, &Limits::default()).unwrap() {
                MessagesAnswer::Batch(b) => {
                    let seq = b.sequence.expect("sequence");
                    assert_eq!(seq, v.ack + b.messages.len() as i64, "sequence rule");
                    assert_eq!(b.offset, Some(offset_for_index(seq)));
                    v.ack = seq;
                    v.offset = b.offset;
                    return b;
                }
                MessagesAnswer::NoContent => continue,
                _ => unreachable!(),
            }
        }
    }

    /// Opens a session, sends ChasitorInit and polls until ChatEstablished.
    fn establish(&mut self) -> (Visitor, Vec<Message>) {
        let mut v = self.open();
        let (s, _) = self.init(&mut v);
        assert_eq!(s, 200);
        let mut seen = Vec::new();
        while !seen
            .iter()
            .any(|m| matches!(m, Message::ChatEstablished(_)))
        {
            seen.extend(self.poll(&mut v).messages);
        }
        (v, seen)
    }
}

fn kinds(ms: &[Message]) -> Vec<&str> {
    ms.iter().map(Message::kind).collect()
}

fn texts(ms: &[Message]) -> Vec<String> {
    ms.iter()
        .filter_map(|m| match m {
            Message::ChatMessage(p) => Some(p.text.clone()),
            _ => None,
        })
        .collect()
}

fn state(h: &Harness, v: &Visitor) -> SessionState {
    h.server.session(&v.id).unwrap().state
}

// ---------------------------------------------------------------------------------------------------------

fn happy_path(h: &mut Harness) -> Visitor {
    let mut v = h.open();
    let (s, _) = h.init(&mut v);
    assert_eq!(s, 200);

    // First poll: ChatRequestSuccess is already there.
    let b = h.poll(&mut v);
    assert_eq!(kinds(&b.messages), ["ChatRequestSuccess"]);
    assert_eq!(b.sequence, Some(0));
    let Message::ChatRequestSuccess(crs) = &b.messages[0] else {
        unreachable!()
    };
    assert_eq!(crs.queue_position, Some(2));

    // Held until the queue update at 1 s.
    let b = h.poll(&mut v);
    assert_eq!(kinds(&b.messages), ["QueueUpdate"]);
    assert_eq!(h.elapsed(), ms(1000));
    assert_eq!(b.sequence, Some(1));

    // Accepted at 2 s; the typing indicator comes in the same batch.
    let b = h.poll(&mut v);
    assert_eq!(kinds(&b.messages), ["ChatEstablished", "AgentTyping"]);
    assert_eq!(h.elapsed(), ms(2000));
    let Message::ChatEstablished(est) = &b.messages[0] else {
        unreachable!()
    };
    assert_eq!(est.name.as_deref(), Some("Andy L."));
    assert_eq!(b.sequence, Some(3));

    let b = h.poll(&mut v);
    assert_eq!(kinds(&b.messages), ["ChatMessage", "AgentNotTyping"]);
    assert_eq!(texts(&b.messages), ["Hello, how can I help you?"]);
    assert_eq!(h.elapsed(), ms(2500));

    // The visitor talks; the agent echoes.
    h.at(ms(4000));
    let (s, _) = h.post(&mut v, &msg("I have a question"));
    assert_eq!(s, 200);
    let b = h.poll(&mut v);
    assert_eq!(texts(&b.messages), ["echo: I have a question"]);
    assert_eq!(b.sequence, Some(6));

    // The visitor ends; the last poll gets ChatEnded with attachedRecords.
    h.at(ms(5000));
    let (s, _) = h.post(
        &mut v,
        &Noun::ChatEnd {
            reason: "client".into(),
        },
    );
    assert_eq!(s, 200);
    let b = h.poll(&mut v);
    let Message::ChatEnded(end) = &b.messages[0] else {
        panic!("{b:?}")
    };
    assert_eq!(end.reason, Some(wire::ChatEndReason::Client));
    assert_eq!(end.attached_records, Some(serde_json::json!([])));
    v
}

#[test]
fn happy_path_end_to_end() {
    let mut h = Harness::new(SimConfig::default());
    let mut v = happy_path(&mut h);
    assert_eq!(
        h.server.visitor_messages(&v.id).unwrap(),
        ["I have a question"]
    );
    assert_eq!(
        h.server.agent_messages(&v.id).unwrap(),
        ["Hello, how can I help you?", "echo: I have a question"]
    );
    assert_eq!(state(&h, &v), SessionState::Ended(ServerEnd::Visitor));
    assert_eq!(h.server.live_sessions(), 0);
    // After the final poll the session is gone.
    let req = h.poll_req(&mut v);
    let (status, body) = h.call(&req);
    assert_eq!(status, 403);
    assert_eq!(body, b"Session required but was invalid or not found");
}

#[test]
fn happy_path_transcript_snapshot() {
    let mut h = Harness::new(SimConfig::default());
    happy_path(&mut h);
    insta::assert_snapshot!(h.server.transcript_text());
}

#[test]
fn determinism_same_seed_same_transcript() {
    let run = |seed: u64| {
        let mut h = Harness::new(SimConfig::default().with_seed(seed));
        let v = happy_path(&mut h);
        let mut out = h.server.transcript_text();
        out.push_str(&v.id);
        out.push_str(v.key.expose());
        out
    };
    assert_eq!(run(7), run(7));
    assert_ne!(run(7), run(8));
}

// ---------------------------------------------------------------------------------------------------------
// Rejections

#[test]
fn missing_version_header_is_400() {
    let mut h = Harness::new(SimConfig::default());
    let mut req = h.api().session_id().unwrap();
    req.headers_mut().remove(wire::header::API_VERSION);
    let (status, body) = h.call(&req);
    assert_eq!(status, 400);
    assert_eq!(body, b"No version header found");
    let fixture =
        include_bytes!("fixtures/peers/yalutec-sales-force__error-400-no-version-header.txt");
    assert_eq!(body.as_slice(), fixture.trim_ascii_end());
    assert_eq!(
        ServerError::parse(status, &body),
        ServerError::parse(400, fixture)
    );
}

#[test]
fn unknown_path_404_and_wrong_method_405() {
    let mut h = Harness::new(SimConfig::default());
    let mut req = h.api().session_id().unwrap();
    *req.uri_mut() = "https://d.la1-c1-sim.salesforceliveagent.test/chat/rest/System/Nope"
        .parse()
        .unwrap();
    assert_eq!(h.call(&req).0, 404);
    *req.uri_mut() = "https://d.la1-c1-sim.salesforceliveagent.test/chat/rest/Chasitor/Nope"
        .parse()
        .unwrap();
    assert_eq!(h.call(&req).0, 404);
    let mut req = h.api().session_id().unwrap();
    *req.method_mut() = http::Method::POST;
    assert_eq!(h.call(&req).0, 405);
    let v = h.open();
    let mut req = h.api().messages(v.auth(), -1, None).unwrap();
    *req.method_mut() = http::Method::POST;
    assert_eq!(h.call(&req).0, 405);
}

#[test]
fn session_id_requires_null_affinity() {
    let mut h = Harness::new(SimConfig::default());
    let mut req = h.api().session_id().unwrap();
    req.headers_mut().insert(
        wire::header::AFFINITY,
        http::HeaderValue::from_static("73061fa0"),
    );
    assert_eq!(h.call(&req).0, 400);
}

#[test]
fn unknown_session_key_is_403() {
    let mut h = Harness::new(SimConfig::default());
    let _real = h.open();
    let key = SessionKey::new("nope!1!x=");
    let token = AffinityToken::new("00000000");
    let req = h
        .api()
        .messages(
            SessionAuth {
                key: &key,
                affinity: Some(&token),
            },
            -1,
            Some(0),
        )
        .unwrap();
    let (status, body) = h.call(&req);
    assert_eq!(status, 403);
    let fixture = include_str!("fixtures/peers/yalutec-sales-force__error-403-session-invalid.txt");
    assert_eq!(String::from_utf8(body).unwrap(), fixture.trim_end());
}

#[test]
fn bad_affinity_is_503_and_allows_reconnect() {
    let mut h = Harness::new(SimConfig::default());
    let (mut v, _) = h.establish();
    let good = v.token.take();
    v.token = Some(AffinityToken::new("deadbeef"));
    let (status, _) = h.post(&mut v, &msg("hi"));
    assert_eq!(status, 503);
    // The literal null is wrong too.
    v.token = None;
    let req = h.poll_req(&mut v);
    assert_eq!(h.call(&req).0, 503);
    assert!(h.server.visitor_messages(&v.id).unwrap().is_empty());
    // After a 503 ReconnectSession is allowed, and the old token is retired.
    let req = h.api().reconnect_session(&v.key, v.offset).unwrap();
    let (status, body) = h.call(&req);
    assert_eq!(status, 200);
    let r = wire::parse_reconnect_session(status, &body, &Limits::default()).unwrap();
    assert!(r.resets_sequence());
    assert_ne!(
        Some(r.affinity_token.as_str()),
        good.as_ref().map(|t| t.expose())
    );
}

#[test]
fn chat_post_before_established_is_500_and_keeps_the_sequence() {
    let mut h = Harness::new(SimConfig::default());
    let mut v = h.open();
    // Before ChasitorInit.
    assert_eq!(h.post(&mut v, &msg("too early")).0, 500);
    assert_eq!(h.init(&mut v).0, 200);
    // Queued: still 500, including typing.
    let (status, body) = h.post(&mut v, &msg("still early"));
    assert_eq!(status, 500);
    assert!(String::from_utf8_lossy(&body).contains("NullPointerException"));
    assert_eq!(h.post(&mut v, &Noun::ChasitorTyping).0, 500);
    // Once established, sequence 2 is still the next one.
    while !matches!(state(&h, &v), SessionState::Chatting) {
        h.poll(&mut v);
    }
    assert_eq!(v.seq, 1);
    assert_eq!(h.post(&mut v, &msg("now")).0, 200);
    assert_eq!(h.server.visitor_messages(&v.id).unwrap(), ["now"]);
}

#[test]
fn chasitor_init_must_name_the_session_and_come_once() {
    let mut h = Harness::new(SimConfig::default());
    let mut v = h.open();
    assert_eq!(h.post(&mut v, &init_noun("someone-else")).0, 400);
    assert_eq!(h.init(&mut v).0, 200);
    assert_eq!(h.init(&mut v).0, 400);
}

#[test]
fn bad_json_body_is_400() {
    let mut h = Harness::new(SimConfig::default());
    let (v, _) = h.establish();
    let mut req = h.api().chasitor(v.auth(), &msg("x"), 2).unwrap();
    *req.body_mut() = b"{not json".to_vec();
    assert_eq!(h.call(&req).0, 400);
    let mut req = h.api().chasitor(v.auth(), &msg("x"), 2).unwrap();
    *req.body_mut() = br#"{"txt":"x"}"#.to_vec();
    assert_eq!(h.call(&req).0, 400);
}

#[test]
fn missing_sequence_header_is_tolerated_by_default_and_400_when_required() {
    // Default (field-evidence §1: YALO, RC never sent it in production): processed, with a warning.
    let mut h = Harness::new(SimConfig::default());
    let (v, _) = h.establish();
    let mut req = h.api().chasitor(v.auth(), &msg("x"), 2).unwrap();
    req.headers_mut().remove(wire::header::SEQUENCE);
    assert_eq!(h.call(&req).0, 200);
    assert_eq!(h.server.visitor_messages(&v.id).unwrap(), ["x"]);
    let report = h.server.conformance_report();
    assert_eq!(report.codes(Severity::Warning), ["missing-sequence"]);
    assert!(report.codes(Severity::Violation).is_empty());
    // Required: 400 and a violation.
    let dialect = Dialect {
        sequence_header: SequenceHeader::Required,
        ..Dialect::default()
    };
    let mut h = Harness::new(SimConfig::default().with_dialect(dialect));
    let (v, _) = h.establish();
    let mut req = h.api().chasitor(v.auth(), &msg("x"), 2).unwrap();
    req.headers_mut().remove(wire::header::SEQUENCE);
    assert_eq!(h.call(&req).0, 400);
    let report = h.server.conformance_report();
    assert_eq!(report.codes(Severity::Violation), ["missing-sequence"]);
    let f = &report.sessions[0].violations[0];
    assert_eq!(f.request_line, "POST /chat/rest/Chasitor/ChatMessage");
    assert_eq!(f.section, "§4.4");
}

#[test]
fn chat_end_while_queued_cancels_the_request() {
    let mut h = Harness::new(SimConfig::default().with_agent(AgentScript::idle()));
    let mut v = h.open();
    h.init(&mut v);
    assert_eq!(kinds(&h.poll(&mut v).messages), ["ChatRequestSuccess"]);
    let end = Noun::ChatEnd {
        reason: "client".into(),
    };
    assert_eq!(h.post(&mut v, &end).0, 200);
    assert_eq!(kinds(&h.poll(&mut v).messages), ["ChatEnded"]);
    assert_eq!(state(&h, &v), SessionState::Ended(ServerEnd::Visitor));
}

#[test]
fn second_concurrent_poll_is_409_and_ends_the_chat() {
    // The guide's reading of a duplicate long poll (the default now lets the chat go on).
    let mut h = Harness::new(
        SimConfig::default()
            .with_agent(AgentScript::idle())
            .with_dialect(Dialect::guide()),
    );
    let mut v = h.open();
    h.init(&mut v);
    h.poll(&mut v);
    let first = h.poll_req(&mut v);
    let t1 = h.send(&first);
    assert!(h.ready(t1).is_none(), "held");
    let second = h.poll_req(&mut v);
    let t2 = h.send(&second);
    assert_eq!(h.ready(t1).and_then(|r| r.status()), Some(409));
    let (status, body) = resp(h.ready(t2).unwrap());
    assert_eq!(status, 409);
    // Not the sequence case.
    assert!(matches!(
        ServerError::parse(status, &body),
        ServerError::Status { status: 409, .. }
    ));
    assert_eq!(state(&h, &v), SessionState::Ended(ServerEnd::DuplicatePoll));
    assert_eq!(h.post(&mut v, &msg("x")).0, 403);
}

#[test]
fn reconnect_without_503_is_405() {
    let mut h = Harness::new(SimConfig::default());
    let (v, _) = h.establish();
    let req = h.api().reconnect_session(&v.key, v.offset).unwrap();
    let (status, _) = h.call(&req);
    assert_eq!(status, 405);
}

#[test]
fn out_of_sync_sequence_is_409_with_the_peer_text() {
    // Gaps are refused only by the consecutive reading (the guide's), no longer by default.
    let dialect = Dialect {
        sequence_rule: SequenceRule::Consecutive,
        ..Dialect::default()
    };
    let mut h = Harness::new(SimConfig::default().with_dialect(dialect));
    let (v, _) = h.establish();
    assert_eq!(v.seq, 1);
    let req = h.api().chasitor(v.auth(), &msg("jump"), 5).unwrap();
    let (status, body) = h.call(&req);
    assert_eq!(status, 409);
    assert_eq!(body, b"Out of sync Ack. Expected 5. Actual 1");
    assert_eq!(
        ServerError::parse(status, &body),
        ServerError::OutOfSync {
            expected: 5,
            actual: 1
        }
    );
    // Recovery per spec: continue from Actual + 1.
    let req = h.api().chasitor(v.auth(), &msg("jump"), 2).unwrap();
    assert_eq!(h.call(&req).0, 200);
    assert_eq!(h.server.visitor_messages(&v.id).unwrap(), ["jump"]);
}

#[test]
fn gaps_allowed_when_not_requiring_consecutive_sequence() {
    // The default dialect: numbers must increase, gaps are tolerated (field-evidence §2).
    let mut h = Harness::new(SimConfig::default());
    let (v, _) = h.establish();
    let req = h.api().chasitor(v.auth(), &msg("a"), 5).unwrap();
    assert_eq!(h.call(&req).0, 200);
    let req = h.api().chasitor(v.auth(), &msg("b"), 9).unwrap();
    assert_eq!(h.call(&req).0, 200);
    let req = h.api().chasitor(v.auth(), &msg("b"), 9).unwrap();
    assert_eq!(h.call(&req).0, 200);
    assert_eq!(h.server.visitor_messages(&v.id).unwrap(), ["a", "b"]);
}

#[test]
fn retransmitted_sequence_is_deduplicated() {
    let mut h = Harness::new(SimConfig::default().with_agent(AgentScript::echo(ms(100))));
    let (mut v, _) = h.establish();
    let req = h.api().chasitor(v.auth(), &msg("once"), 2).unwrap();
    assert_eq!(h.call(&req).0, 200);
    assert_eq!(h.call(&req).0, 200);
    assert_eq!(h.server.visitor_messages(&v.id).unwrap(), ["once"]);
    assert_eq!(h.server.session(&v.id).unwrap().retransmissions, 1);
    // Echoed exactly once.
    let b = h.poll(&mut v);
    assert_eq!(texts(&b.messages), ["echo: once"]);
}

#[test]
fn multi_noun_takes_one_sequence_number() {
    let mut h = Harness::new(SimConfig::default().with_agent(AgentScript::echo(ms(100))));
    let (mut v, _) = h.establish();
    let req = h
        .api()
        .multi_noun(
            v.auth(),
            &[
                msg("Goodbye"),
                Noun::ChatEnd {
                    reason: "client".into(),
                },
            ],
            2,
        )
        .unwrap();
    assert_eq!(h.call(&req).0, 200);
    assert_eq!(h.server.visitor_messages(&v.id).unwrap(), ["Goodbye"]);
    let b = h.poll(&mut v);
    assert_eq!(kinds(&b.messages), ["ChatMessage", "ChatEnded"]);
    assert_eq!(texts(&b.messages), ["echo: Goodbye"]);
    assert_eq!(state(&h, &v), SessionState::Ended(ServerEnd::Visitor));
}

#[test]
fn other_nouns_are_recorded() {
    let mut h = Harness::new(SimConfig::default());
    let (mut v, _) = h.establish();
    let nouns = [
        Noun::ChasitorTyping,
        Noun::ChasitorSneakPeek {
            position: 3,
            text: "hel".into(),
        },
        Noun::ChasitorNotTyping,
        Noun::CustomEvent(wire::CustomEvent::new("PromptForCreditCard", "Visa")),
        Noun::IdleTimeoutWarning(wire::IdleWarning::Triggered),
        Noun::SensitiveDataRuleTriggered {
            rules: vec![wire::TriggeredRule {
                id: None,
                name: "Filter-Out-Digits".into(),
            }],
        },
    ];
    for n in &nouns {
        assert_eq!(h.post(&mut v, n).0, 200, "{}", n.name());
    }
    let events = &h.server.session(&v.id).unwrap().visitor_events;
    assert!(matches!(events[0], VisitorEvent::Init { .. }));
    assert_eq!(events.len(), 7);
    assert_eq!(
        events[5],
        VisitorEvent::IdleWarning(wire::IdleWarning::Triggered)
    );
    assert_eq!(
        events[6],
        VisitorEvent::SensitiveDataRuleTriggered(vec!["Filter-Out-Digits".into()])
    );
}

// ---------------------------------------------------------------------------------------------------------
// Long poll

#[test]
fn idle_poll_is_held_then_204() {
    let mut h = Harness::new(SimConfig::default().with_agent(AgentScript::idle()));
    let mut v = h.open();
    h.init(&mut v);
    h.poll(&mut v);
    let req = h.poll_req(&mut v);
    let t = h.send(&req);
    h.at(ms(29_999));
    assert!(h.ready(t).is_none());
    h.at(ms(30_000));
    let (status, body) = resp(h.ready(t).unwrap());
    assert_eq!(status, 204);
    assert!(body.is_empty());
    // The session is still alive; polling continues.
    let req = h.poll_req(&mut v);
    let t = h.send(&req);
    assert!(h.ready(t).is_none());
}

#[test]
fn lower_ack_redelivers() {
    let mut h = Harness::new(SimConfig::default());
    let (mut v, _) = h.establish();
    let b1 = h.poll(&mut v);
    assert_eq!(texts(&b1.messages), ["Hello, how can I help you?"]);
    // As if that response had been lost: poll again with the previous ack.
    v.ack -= b1.messages.len() as i64;
    let b2 = h.poll(&mut v);
    assert_eq!(b2, b1);
}

#[test]
fn session_idles_out_without_polls() {
    let mut h = Harness::new(SimConfig::default());
    let (mut v, _) = h.establish();
    let now = h.elapsed();
    h.at(now + Duration::from_secs(61));
    assert_eq!(state(&h, &v), SessionState::Ended(ServerEnd::IdleTimeout));
    let req = h.poll_req(&mut v);
    assert_eq!(h.call(&req).0, 403);
}

#[test]
fn delete_session_ends_it() {
    let mut h = Harness::new(SimConfig::default());
    let (mut v, _) = h.establish();
    let req = h.poll_req(&mut v);
    let held = h.send(&req);
    let req = h.api().delete_session(v.auth()).unwrap();
    assert_eq!(h.call(&req).0, 200);
    assert_eq!(h.ready(held).and_then(|r| r.status()), Some(403));
    assert_eq!(state(&h, &v), SessionState::Ended(ServerEnd::Deleted));
    assert_eq!(h.call(&req).0, 403);
}

#[test]
fn declined_chat_ends_after_the_fail_is_delivered() {
    let mut h = Harness::new(SimConfig::default().with_agent(AgentScript::declining(ms(500))));
    let mut v = h.open();
    h.init(&mut v);
    let mut seen = Vec::new();
    while !seen
        .iter()
        .any(|m| matches!(m, Message::ChatRequestFail(_)))
    {
        seen.extend(h.poll(&mut v).messages);
    }
    assert_eq!(kinds(&seen), ["ChatRequestSuccess", "ChatRequestFail"]);
    assert_eq!(state(&h, &v), SessionState::Ended(ServerEnd::Declined));
}

#[test]
fn scripted_agent_actions() {
    let script = AgentScript::echo(ms(100))
        .then(
            ms(100),
            AgentAction::Transfer {
                to_name: "Ryan S.".into(),
            },
        )
        .then(ms(100), AgentAction::RequestFile)
        .then(
            ms(100),
            AgentAction::Menu {
                header: "Pick".into(),
                items: vec!["A".into(), "B".into()],
            },
        )
        .then(
            ms(100),
            AgentAction::CustomEvent {
                kind: "CreditCardEntered".into(),
                data: "x".into(),
            },
        )
        .then(ms(100), AgentAction::Disconnect)
        .then(ms(100), AgentAction::Accept)
        .then(ms(100), AgentAction::End);
    let mut h = Harness::new(SimConfig::default().with_agent(script));
    let (mut v, mut seen) = h.establish();
    while !matches!(state(&h, &v), SessionState::Ended(_)) {
        seen.extend(h.poll(&mut v).messages);
    }
    assert_eq!(
        kinds(&seen),
        [
            "ChatRequestSuccess",
            "ChatEstablished",
            "ChatTransferred",
            "FileTransfer",
            "RichMessage",
            "CustomEvent",
            "AgentDisconnect",
            "ChatEstablished",
            "ChatEnded"
        ]
    );
    let Some(Message::ChatEnded(e)) = seen.last() else {
        unreachable!()
    };
    assert_eq!(e.reason, Some(wire::ChatEndReason::Agent));
    assert_eq!(state(&h, &v), SessionState::Ended(ServerEnd::Agent));
}

#[test]
fn live_agent_commands() {
    let mut h = Harness::new(SimConfig::default().with_agent(AgentScript::echo(ms(0))));
    let (mut v, _) = h.establish();
    let req = h.poll_req(&mut v);
    let held = h.send(&req);
    let now = h.now;
    assert!(h.server.agent_typing(&v.id, true, now));
    assert!(h.server.agent_say(&v.id, "typed live", now));
    let (status, body) = resp(h.ready(held).unwrap());
    let MessagesAnswer::Batch(b) = wire::parse_messages(status, &body, &Limits::default()).unwrap()
    else {
        panic!()
    };
    // Each live command is its own instant of activity: the held poll took the first one.
    assert_eq!(kinds(&b.messages), ["AgentTyping"]);
    let b = h.poll(&mut v);
    assert_eq!(texts(&b.messages), ["typed live"]);
    assert!(h.server.agent_end(&v.id, now));
    assert!(!h.server.agent_say("no-such-session", "x", now));
}

// ---------------------------------------------------------------------------------------------------------
// 503 handover

/// Polls (handling 503 by the spec's procedure) and collects every agent text, until `until` is true.
fn converse_through_handovers(h: &mut Harness, v: &mut Visitor, rounds: usize) -> Vec<String> {
    let mut got = Vec::new();
    let mut sent = 0;
    let mut session_data = 0;
    while sent < rounds {
        let req = h.poll_req(v);
        let t = h.send(&req);
        let r = h.wait(t, Duration::from_secs(31));
        if r.status().is_none() {
            continue; // dropped: poll again with the same ack
        }
        let (status, body) = resp(r);
        if status == 503 {
            let req = h.api().reconnect_session(&v.key, v.offset).unwrap();
            let (s, body) = h.call(&req);
            assert_eq!(s, 200);
            let r = wire::parse_reconnect_session(s, &body, &Limits::default()).unwrap();
            if r.resets_sequence() {
                v.seq = 0;
            }
            v.token = Some(AffinityToken::new(r.affinity_token));
            continue;
        }
        let MessagesAnswer::Batch(b) =
            wire::parse_messages(status, &body, &Limits::default()).unwrap()
        else {
            continue;
        };
        let seq = b.sequence.unwrap();
        assert_eq!(seq, v.ack + b.messages.len() as i64);
        v.ack = seq;
        v.offset = b.offset;
        for m in &b.messages {
            match m {
                Message::ChasitorSessionData(d) => {
                    session_data += 1;
                    // ChasitorSessionData comes first in its batch.
                    assert!(matches!(b.messages[0], Message::ChasitorSessionData(_)));
                    assert!(d.chat_messages.is_some());
                    let org = Noun::ChasitorResyncState {
                        organization_id: "00DD0000000JVXs".into(),
                    };
                    assert_eq!(h.post(v, &org).0, 200);
                }
                Message::ChatMessage(p) => got.push(p.text.clone()),
                _ => {}
            }
        }
        // Talk after each batch.
        let text = format!("visitor {sent}");
        let (s, _) = h.post(v, &msg(&text));
        if s == 200 {
            sent += 1;
        } else {
            assert_eq!(s, 503, "only a handover may refuse a message");
        }
    }
    assert!(session_data > 0 || rounds == 0);
    got
}

#[test]
fn handover_cycle_loses_and_duplicates_nothing() {
    let plan = FaultPlan::new()
        .with(Fault::for_session(0, Trigger::Poll(6), FaultKind::Handover))
        // A lost response right before the second handover: its messages must come back.
        .with(Fault::for_session(
            0,
            Trigger::Poll(10),
            FaultKind::DropReply,
        ))
        .with(Fault::for_session(
            0,
            Trigger::Poll(11),
            FaultKind::Handover,
        ));
    let mut h = Harness::new(
        SimConfig::default()
            .with_agent(AgentScript::echo(ms(100)))
            .with_faults(plan),
    );
    let (mut v, _) = h.establish();
    let got = converse_through_handovers(&mut h, &mut v, 8);
    // Drain what is left.
    let mut got = got;
    h.at(h.elapsed() + ms(10));
    let b = h.poll(&mut v);
    got.extend(texts(&b.messages));
    let expected: Vec<String> = h.server.agent_messages(&v.id).unwrap().to_vec();
    assert_eq!(got, expected, "every agent message exactly once, in order");
    let sent: Vec<String> = (0..8).map(|i| format!("visitor {i}")).collect();
    assert_eq!(h.server.visitor_messages(&v.id).unwrap(), sent.as_slice());
    let rec = h.server.session(&v.id).unwrap();
    assert_eq!(rec.handovers, 2);
    assert_eq!(rec.reconnects, 2);
    assert_eq!(rec.resyncs, 2);
    assert!(!rec.awaiting_resync);
}

#[test]
fn handover_on_held_poll_and_stale_token() {
    let plan = FaultPlan::new().with(Fault::every_session(
        Trigger::After(Duration::from_secs(10)),
        FaultKind::Handover,
    ));
    let mut h = Harness::new(SimConfig::default().with_faults(plan));
    let (mut v, _) = h.establish();
    let b = h.poll(&mut v); // hello
    assert_eq!(texts(&b.messages), ["Hello, how can I help you?"]);
    let req = h.poll_req(&mut v);
    let held = h.send(&req);
    h.at(Duration::from_secs(10));
    assert_eq!(h.ready(held).and_then(|r| r.status()), Some(503));
    // Stale token: 503 again; ReconnectSession needs the literal null affinity (or, by default, the token
    // held before the 503: see tests/sim_dialect_switches.rs), not a made-up one.
    assert_eq!(h.post(&mut v, &msg("x")).0, 503);
    let mut req = h.api().reconnect_session(&v.key, v.offset).unwrap();
    req.headers_mut().insert(
        wire::header::AFFINITY,
        http::HeaderValue::from_static("0badf00d"),
    );
    assert_eq!(h.call(&req).0, 400);
    // Unknown offset.
    let req = h
        .api()
        .reconnect_session(&v.key, Some(123_456_789_012))
        .unwrap();
    assert_eq!(h.call(&req).0, 400);
    let req = h.api().reconnect_session(&v.key, v.offset).unwrap();
    let (s, body) = h.call(&req);
    assert_eq!(s, 200);
    // The wrapped form of spec §3.2.2.
    let raw: serde_json::Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(raw["messages"][0]["type"], "ReconnectSession");
    assert_eq!(raw["messages"][0]["message"]["resetSequence"], true);
    let r = wire::parse_reconnect_session(s, &body, &Limits::default()).unwrap();
    v.token = Some(AffinityToken::new(r.affinity_token));
    v.seq = 0;
    // The ack stays valid: the next poll starts with ChasitorSessionData.
    let b = h.poll(&mut v);
    assert_eq!(kinds(&b.messages), ["ChasitorSessionData"]);
    let Message::ChasitorSessionData(d) = &b.messages[0] else {
        unreachable!()
    };
    assert_eq!(d.sneak_peek_enabled, Some(true));
    let log = d.chat_messages.as_ref().unwrap();
    assert_eq!(log[0].kind.as_deref(), Some("Agent"));
    assert_eq!(
        log[0].content.as_deref(),
        Some("Hello, how can I help you?")
    );
    assert!(h.server.session(&v.id).unwrap().awaiting_resync);
    // Chat POSTs work again with the reset sequence.
    assert_eq!(h.post(&mut v, &msg("after")).0, 200);
    assert_eq!(v.seq, 1);
    assert!(
        h.server.session(&v.id).unwrap().awaiting_resync,
        "no resync yet"
    );
    let org = Noun::ChasitorResyncState {
        organization_id: "00D".into(),
    };
    assert_eq!(h.post(&mut v, &org).0, 200);
    assert!(!h.server.session(&v.id).unwrap().awaiting_resync);
    // A second reconnect without a new 503 is refused.
    let req = h.api().reconnect_session(&v.key, v.offset).unwrap();
    assert_eq!(h.call(&req).0, 405);
}

/// A ReconnectSession whose answer the visitor never got (a transport that dropped it) is asked again: the
/// server answers it as it answered the first, same token, and re-queues nothing a second time. Once the
/// visitor used the token, a further ReconnectSession without a 503 is refused again.
#[test]
fn a_reconnect_whose_answer_was_lost_is_answered_again_with_the_same_token() {
    let mut h = Harness::new(SimConfig::default());
    let (mut v, _) = h.establish();
    assert!(h.server.inject_fault(&v.id, FaultKind::Handover, h.now));
    assert_eq!(h.post(&mut v, &msg("x")).0, 503);
    let req = h.api().reconnect_session(&v.key, v.offset).unwrap();
    let (s, first) = h.call(&req);
    assert_eq!(s, 200);
    // Lost on the way: the visitor asks again with what it had.
    let (s, again) = h.call(&req);
    assert_eq!(s, 200, "{}", String::from_utf8_lossy(&again));
    assert_eq!(again, first, "the same answer, the same token");
    let r = wire::parse_reconnect_session(s, &again, &Limits::default()).unwrap();
    v.token = Some(AffinityToken::new(r.affinity_token));
    v.seq = 0;
    let b = h.poll(&mut v);
    assert_eq!(kinds(&b.messages), ["ChasitorSessionData"], "queued once");
    let rec = h.server.session(&v.id).unwrap();
    assert_eq!((rec.handovers, rec.reconnects), (1, 1));
    let report = h.server.conformance_report();
    assert_eq!(report.violations(), 0, "{}", report.to_text());
    // The visitor has the token now: another ReconnectSession needs another 503.
    assert_eq!(h.call(&req).0, 405);
}

/// A request the visitor sent with its old token before it read the handover's 503 (its POST, while the poll
/// got the 503) can arrive after the ReconnectSession: refused 503 without a finding. A second one of the same
/// kind used a token the visitor knew was retired.
#[test]
fn a_request_in_flight_when_the_503_was_read_is_no_stale_affinity_finding() {
    let mut h = Harness::new(SimConfig::default());
    let (mut v, _) = h.establish();
    let old = v.clone_auth();
    assert!(h.server.inject_fault(&v.id, FaultKind::Handover, h.now));
    let req = h.poll_req(&mut v);
    assert_eq!(h.call(&req).0, 503);
    let req = h.api().reconnect_session(&v.key, v.offset).unwrap();
    let (s, body) = h.call(&req);
    assert_eq!(s, 200);
    let r = wire::parse_reconnect_session(s, &body, &Limits::default()).unwrap();
    v.token = Some(AffinityToken::new(r.affinity_token));
    // The POST sent before the 503 was read, with the old token.
    let in_flight = h.api().chasitor(old.auth(), &msg("before"), 2).unwrap();
    assert_eq!(h.call(&in_flight).0, 503);
    let report = h.server.conformance_report();
    assert_eq!(report.violations(), 0, "{}", report.to_text());
    let again = h.api().chasitor(old.auth(), &msg("after"), 2).unwrap();
    assert_eq!(h.call(&again).0, 503);
    let report = h.server.conformance_report();
    assert_eq!(report.codes(Severity::Violation), ["stale-affinity"]);
    assert!(h.server.visitor_messages(&v.id).unwrap().is_empty());
}

/// The answer carrying ChatEnded is lost on the way: the visitor never saw the end, so it polls again with the
/// same `ack` and gets ChatEnded then; the session ends once the final message was delivered.
#[test]
fn a_lost_answer_carrying_the_final_message_is_delivered_again() {
    let mut h = Harness::new(SimConfig::default());
    let (mut v, _) = h.establish();
    let end = Noun::ChatEnd {
        reason: "client".into(),
    };
    assert_eq!(h.post(&mut v, &end).0, 200);
    assert!(h.server.inject_fault(&v.id, FaultKind::DropReply, h.now));
    let req = h.poll_req(&mut v);
    let t = h.send(&req);
    assert!(matches!(h.wait(t, Duration::from_secs(1)), Reply::Drop));
    assert!(state(&h, &v).is_live(), "{:?}", state(&h, &v));
    let b = h.poll(&mut v);
    assert!(
        matches!(b.messages.last(), Some(Message::ChatEnded(_))),
        "{b:?}"
    );
    assert!(!state(&h, &v).is_live());
    let report = h.server.conformance_report();
    assert_eq!(
        report.violations() + report.warnings(),
        0,
        "{}",
        report.to_text()
    );
    assert!(report.sessions[0].completed);
}

/// The visitor's POST in flight when it read ChatEnded (a ChatEnd retried after a lost answer) reaches a
/// session that is over: refused 403 without a finding. A request after that 403 is one.
#[test]
fn a_post_in_flight_when_the_final_message_was_read_is_refused_without_a_finding() {
    let mut h = Harness::new(SimConfig::default());
    let (mut v, _) = h.establish();
    let end = Noun::ChatEnd {
        reason: "client".into(),
    };
    let req = h.api().chasitor(v.auth(), &end, v.seq + 1).unwrap();
    assert_eq!(h.call(&req).0, 200);
    let b = h.poll(&mut v);
    assert!(
        matches!(b.messages.last(), Some(Message::ChatEnded(_))),
        "{b:?}"
    );
    assert_eq!(h.call(&req).0, 403, "the retry in flight");
    let report = h.server.conformance_report();
    assert_eq!(report.violations(), 0, "{}", report.to_text());
    let req = h.poll_req(&mut v);
    assert_eq!(h.call(&req).0, 403);
    let report = h.server.conformance_report();
    assert_eq!(report.codes(Severity::Violation), ["request-after-403"]);
}

/// A handover before ChasitorInit was accepted: the visitor reconnects and sends ChasitorInit again. There is
/// no chat to resync, so the server expects no ChasitorResyncState (nor holds anything back for one).
#[test]
fn a_reconnect_before_chasitor_init_expects_no_resync() {
    let mut h = Harness::new(SimConfig::default().with_agent(AgentScript::echo(ms(100))));
    let mut v = h.open();
    assert!(h.server.inject_fault(&v.id, FaultKind::Handover, h.now));
    assert_eq!(h.init(&mut v).0, 503);
    let req = h.api().reconnect_session(&v.key, None).unwrap();
    let (s, body) = h.call(&req);
    assert_eq!(s, 200);
    let r = wire::parse_reconnect_session(s, &body, &Limits::default()).unwrap();
    v.token = Some(AffinityToken::new(r.affinity_token));
    v.seq = 0;
    assert!(!h.server.session(&v.id).unwrap().awaiting_resync);
    assert_eq!(h.init(&mut v).0, 200);
    let mut seen = Vec::new();
    while !seen
        .iter()
        .any(|m| matches!(m, Message::ChatEstablished(_)))
    {
        seen.extend(h.poll(&mut v).messages);
    }
    assert_eq!(h.post(&mut v, &msg("hello")).0, 200);
    let report = h.server.conformance_report();
    assert_eq!(
        report.violations() + report.warnings(),
        0,
        "{}",
        report.to_text()
    );
}

// ---------------------------------------------------------------------------------------------------------
// SwitchServer

#[test]
fn switch_server_moves_the_session() {
    let plan = FaultPlan::new().with(Fault::for_session(
        0,
        Trigger::Poll(5),
        FaultKind::SwitchServer,
    ));
    let cfg = SimConfig::default().with_faults(plan);
    let alt = cfg.alternate_endpoint().unwrap();
    let mut h = Harness::new(cfg);
    let (mut v, _) = h.establish();
    let mut switch = None;
    while switch.is_none() {
        for m in h.poll(&mut v).messages {
            if let Message::SwitchServer(s) = m {
                switch = Some(s.new_url);
            }
        }
    }
    let url = switch.unwrap();
    assert_eq!(url, format!("{alt}/chat"));
    assert_eq!(Endpoint::parse(&url).unwrap(), alt);
    // Still on the old host, acknowledging the switch: answered with the SwitchServer envelope again.
    let req = h.poll_req(&mut v);
    let (status, body) = h.call(&req);
    assert_eq!(status, 200);
    let env = wire::parse_envelope(&body, &Limits::default()).unwrap();
    assert_eq!(env.sequence, None);
    assert!(matches!(env.messages[0], Message::SwitchServer(_)));
    // POSTs at the old host are refused.
    assert_eq!(h.post(&mut v, &msg("old host")).0, 400);
    // At the new host everything works.
    let api = Api::new(&alt, V);
    let req = api.chasitor(v.auth(), &msg("new host"), v.seq + 1).unwrap();
    assert_eq!(h.call(&req).0, 200);
    let req = api.messages(v.auth(), v.ack, Some(99)).unwrap();
    let t = h.send(&req);
    let (status, body) = resp(h.wait(t, Duration::from_secs(1)));
    let MessagesAnswer::Batch(b) = wire::parse_messages(status, &body, &Limits::default()).unwrap()
    else {
        panic!()
    };
    assert_eq!(texts(&b.messages), ["echo: new host"]);
    assert_eq!(h.server.visitor_messages(&v.id).unwrap(), ["new host"]);
}

/// The visitor's one POST in flight when it read the SwitchServer can reach the old host after the poll that
/// acknowledged the switch at the new host: the old host serves it, without a finding. Only that one: the next
/// request at the old host is refused, and none is served there once a POST arrived at the new host.
#[test]
fn the_post_in_flight_when_the_switch_was_read_is_served_at_the_old_host_once() {
    for post_at_new_host_first in [false, true] {
        let plan = FaultPlan::new().with(Fault::for_session(
            0,
            Trigger::Poll(5),
            FaultKind::SwitchServer,
        ));
        let cfg = SimConfig::default().with_faults(plan);
        let alt = cfg.alternate_endpoint().unwrap();
        let mut h = Harness::new(cfg);
        let (mut v, _) = h.establish();
        while !h
            .poll(&mut v)
            .messages
            .iter()
            .any(|m| matches!(m, Message::SwitchServer(_)))
        {}
        // The poll acknowledging the switch, at the new host (held).
        let new_host = Api::new(&alt, V);
        let req = new_host.messages(v.auth(), v.ack, Some(99)).unwrap();
        h.send(&req);
        if post_at_new_host_first {
            let req = new_host
                .chasitor(v.auth(), &msg("new host"), v.seq + 1)
                .unwrap();
            assert_eq!(h.call(&req).0, 200);
            v.seq += 1;
            assert_eq!(h.post(&mut v, &msg("old host")).0, 400);
            assert_eq!(h.server.visitor_messages(&v.id).unwrap(), ["new host"]);
        } else {
            assert_eq!(h.post(&mut v, &msg("in flight")).0, 200);
            let report = h.server.conformance_report();
            assert_eq!(report.violations(), 0, "{}", report.to_text());
            assert_eq!(h.post(&mut v, &msg("old host")).0, 400);
            assert_eq!(h.server.visitor_messages(&v.id).unwrap(), ["in flight"]);
        }
        let report = h.server.conformance_report();
        assert_eq!(report.codes(Severity::Violation), ["wrong-host"]);
    }
}

// ---------------------------------------------------------------------------------------------------------
// Other faults

#[test]
fn fault_drop_reply_processes_but_loses_the_answer() {
    let plan = FaultPlan::new().with(Fault::for_session(
        0,
        Trigger::Post(2),
        FaultKind::DropReply,
    ));
    let mut h = Harness::new(SimConfig::default().with_faults(plan));
    let (v, _) = h.establish();
    let req = h.api().chasitor(v.auth(), &msg("lost answer"), 2).unwrap();
    let t = h.send(&req);
    assert!(matches!(h.ready(t), Some(Reply::Drop)));
    // The retry with the same sequence is recognised.
    assert_eq!(h.call(&req).0, 200);
    assert_eq!(h.server.visitor_messages(&v.id).unwrap(), ["lost answer"]);
}

#[test]
fn fault_delay_reply() {
    let plan = FaultPlan::new().with(Fault::for_session(
        0,
        Trigger::Request(1),
        FaultKind::DelayReply(ms(1500)),
    ));
    let mut h = Harness::new(SimConfig::default().with_faults(plan));
    let mut v = h.open();
    let req = h
        .api()
        .chasitor(v.auth(), &init_noun(&v.id.clone()), 1)
        .unwrap();
    let t = h.send(&req);
    assert!(h.ready(t).is_none());
    h.at(ms(1499));
    assert!(h.ready(t).is_none());
    h.at(ms(1500));
    assert_eq!(h.ready(t).and_then(|r| r.status()), Some(200));
    v.seq = 1;
    assert_eq!(state(&h, &v), SessionState::Queued);
}

#[test]
fn fault_unreachable_requests_are_never_processed_and_fail_after_their_delay() {
    // The session's second POST and the request after it never reach the server.
    let plan = FaultPlan::new().with(Fault::for_session(
        0,
        Trigger::Post(2),
        FaultKind::Unreachable {
            count: 2,
            after: ms(300),
        },
    ));
    let mut h = Harness::new(SimConfig::default().with_faults(plan));
    let (mut v, _) = h.establish();
    let start = h.elapsed();
    let req = h
        .api()
        .chasitor(v.auth(), &msg("lost on the way"), 2)
        .unwrap();
    let t = h.send(&req);
    assert!(h.ready(t).is_none());
    h.at(start + ms(299));
    assert!(h.ready(t).is_none());
    h.at(start + ms(300));
    assert!(matches!(h.ready(t), Some(Reply::Drop)));
    assert!(h.server.visitor_messages(&v.id).unwrap().is_empty());
    // The next request is lost the same way; the one after arrives.
    let poll = h.poll_req(&mut v);
    let t = h.send(&poll);
    h.at(start + ms(600));
    assert!(matches!(h.ready(t), Some(Reply::Drop)));
    // The POST was never processed: its number is new to the server, not a retransmission.
    assert_eq!(h.call(&req).0, 200);
    assert_eq!(
        h.server.visitor_messages(&v.id).unwrap(),
        ["lost on the way"]
    );
    assert_eq!(h.server.session(&v.id).unwrap().retransmissions, 0);
}

#[test]
fn fault_unreachable_by_time_breaks_the_held_poll_at_once() {
    let plan = FaultPlan::new().with(Fault::for_session(
        0,
        Trigger::After(ms(5000)),
        FaultKind::Unreachable {
            count: 2,
            after: ms(200),
        },
    ));
    let mut h = Harness::new(SimConfig::default().with_faults(plan));
    let (mut v, _) = h.establish();
    let b = h.poll(&mut v);
    assert_eq!(texts(&b.messages), ["Hello, how can I help you?"]);
    let req = h.poll_req(&mut v);
    let held = h.send(&req);
    h.at(ms(4999));
    assert!(h.ready(held).is_none());
    // The held poll loses its connection when the fault fires (the first of the two).
    h.at(ms(5000));
    assert!(matches!(h.ready(held), Some(Reply::Drop)));
    // The next request is lost after its delay; the one after is held as usual.
    let req = h.poll_req(&mut v);
    let lost = h.send(&req);
    assert!(h.ready(lost).is_none());
    h.at(ms(5200));
    assert!(matches!(h.ready(lost), Some(Reply::Drop)));
    let req = h.poll_req(&mut v);
    let t = h.send(&req);
    h.at(ms(6000));
    assert!(h.ready(t).is_none(), "held: the server is reachable again");
    assert!(state(&h, &v).is_live());
}

#[test]
fn answer_latency_delays_every_answer_by_the_same_time() {
    let mut h = Harness::new(SimConfig::default().with_answer_latency(ms(50)));
    // Answered on arrival: ready 50 ms later, not before.
    let req = h.api().session_id().unwrap();
    let t = h.send(&req);
    assert!(h.ready(t).is_none());
    h.at(ms(49));
    assert!(h.ready(t).is_none());
    h.at(ms(50));
    let (status, body) = resp(h.ready(t).expect("ready after the latency"));
    assert_eq!(status, 200);
    let s = wire::parse_session_id(status, &body, &Limits::default()).unwrap();
    let mut v = Visitor {
        id: s.id,
        key: s.key,
        token: Some(s.affinity_token),
        seq: 0,
        ack: -1,
        pc: 0,
        offset: None,
    };
    // ChasitorInit at 50 ms starts the default agent: its QueueUpdate comes 1 s later, at 1.05 s.
    let req = h.api().chasitor(v.auth(), &init_noun(&v.id), 1).unwrap();
    let t = h.send(&req);
    h.at(ms(100));
    assert_eq!(h.ready(t).and_then(|r| r.status()), Some(200));
    let req = h.poll_req(&mut v);
    let t = h.send(&req);
    h.at(ms(150));
    assert_eq!(h.ready(t).and_then(|r| r.status()), Some(200));
    v.ack = 0;
    // A held poll: answered when the message is emitted, received the latency later.
    let req = h.poll_req(&mut v);
    let t = h.send(&req);
    h.at(ms(1099));
    assert!(h.ready(t).is_none());
    h.at(ms(1100));
    let (status, body) = resp(h.ready(t).expect("ready 50 ms after the QueueUpdate"));
    let MessagesAnswer::Batch(b) = wire::parse_messages(status, &body, &Limits::default()).unwrap()
    else {
        panic!("a batch")
    };
    assert_eq!(kinds(&b.messages), ["QueueUpdate"]);
}

#[test]
fn fault_burst_of_server_errors() {
    let plan = FaultPlan::new().with(Fault::for_session(
        0,
        Trigger::Request(2),
        FaultKind::ServerErrors {
            count: 3,
            status: 502,
        },
    ));
    let mut h = Harness::new(SimConfig::default().with_faults(plan));
    let mut v = h.open();
    assert_eq!(h.init(&mut v).0, 200);
    for _ in 0..3 {
        let req = h.poll_req(&mut v);
        assert_eq!(h.call(&req).0, 502);
    }
    let b = h.poll(&mut v);
    assert_eq!(kinds(&b.messages), ["ChatRequestSuccess"]);
    // Server-wide trigger: the very first request of a fresh server.
    let plan = FaultPlan::new().with(Fault::every_session(
        Trigger::ServerRequest(1),
        FaultKind::ServerErrors {
            count: 1,
            status: 500,
        },
    ));
    let mut h = Harness::new(SimConfig::default().with_faults(plan));
    let req = h.api().session_id().unwrap();
    assert_eq!(h.call(&req).0, 500);
    assert_eq!(h.call(&req).0, 200);
}

#[test]
fn fault_expire() {
    let plan = FaultPlan::new().with(Fault::every_session(
        Trigger::After(Duration::from_secs(3)),
        FaultKind::Expire,
    ));
    let mut h = Harness::new(SimConfig::default().with_faults(plan));
    let (mut v, _) = h.establish();
    // The hello at 2.5 s comes first, the expiry at 3 s.
    let b = h.poll(&mut v);
    assert_eq!(texts(&b.messages), ["Hello, how can I help you?"]);
    let req = h.poll_req(&mut v);
    let t = h.send(&req);
    assert_eq!(h.wait(t, Duration::from_secs(5)).status(), Some(403));
    assert_eq!(state(&h, &v), SessionState::Ended(ServerEnd::Expired));
}

#[test]
fn fault_duplicate_batch() {
    let plan = FaultPlan::new().with(Fault::for_session(
        0,
        Trigger::Poll(3),
        FaultKind::DuplicateBatch,
    ));
    let mut h = Harness::new(SimConfig::default().with_faults(plan));
    let mut v = h.open();
    h.init(&mut v);
    let first = h.poll(&mut v);
    let second = h.poll(&mut v);
    assert_eq!(kinds(&second.messages), ["QueueUpdate"]);
    // Poll 3 acknowledges the QueueUpdate but gets it again, with the same sequence.
    let req = h.poll_req(&mut v);
    let (status, body) = h.call(&req);
    let MessagesAnswer::Batch(dup) =
        wire::parse_messages(status, &body, &Limits::default()).unwrap()
    else {
        panic!()
    };
    assert_eq!(dup, second);
    assert_ne!(dup, first);
    // A client that dedupes by sequence carries on.
    let b = h.poll(&mut v);
    assert_eq!(kinds(&b.messages), ["ChatEstablished", "AgentTyping"]);
}

#[test]
fn cancel_releases_a_held_poll() {
    let mut h = Harness::new(SimConfig::default().with_agent(AgentScript::idle()));
    let mut v = h.open();
    h.init(&mut v);
    h.poll(&mut v);
    let req = h.poll_req(&mut v);
    let t = h.send(&req);
    let now = h.now;
    assert!(h.server.cancel(t, now));
    // No 409: the server no longer holds a poll.
    let req = h.poll_req(&mut v);
    let t2 = h.send(&req);
    assert!(h.ready(t2).is_none());
    assert!(h.ready(t).is_none());
}

// ---------------------------------------------------------------------------------------------------------
// Visitor resources

#[test]
fn visitor_resources() {
    let mut h = Harness::new(SimConfig::default());
    let q = AvailabilityQuery {
        org_id: "00D".into(),
        deployment_id: "572".into(),
        ids: vec!["573A".into(), "573B".into()],
        need_estimated_wait_time: true,
    };
    let req = h.api().availability(&q).unwrap();
    let (s, body) = h.call(&req);
    let a = wire::parse_availability(s, &body, &Limits::default()).unwrap();
    assert_eq!(a.results.len(), 2);
    assert!(a.results.iter().all(|r| r.is_available));
    let q = SettingsQuery {
        org_id: "00D".into(),
        deployment_id: "572".into(),
        button_ids: vec!["573A".into()],
        ..Default::default()
    };
    let req = h.api().settings(&q).unwrap();
    let (s, body) = h.call(&req);
    let st = wire::parse_settings(s, &body, &Limits::default()).unwrap();
    assert_eq!(st.buttons.len(), 1);
    let req = h.api().visitor_id("00D", "572").unwrap();
    let (s, body) = h.call(&req);
    assert!(
        !wire::parse_visitor_id(s, &body, &Limits::default())
            .unwrap()
            .session_id
            .is_empty()
    );
    let req = h.api().visitor_id("", "572").unwrap();
    assert_eq!(h.call(&req).0, 400);
    let req = h.api().breadcrumb("https://example.com/p", None).unwrap();
    assert_eq!(h.call(&req).0, 200);

    // Unavailable: isAvailable omitted.
    let cfg = SimConfig {
        available: false,
        ..SimConfig::default()
    };
    let mut h = Harness::new(cfg);
    let q = AvailabilityQuery {
        org_id: "00D".into(),
        deployment_id: "572".into(),
        ids: vec!["573A".into()],
        need_estimated_wait_time: false,
    };
    let req = h.api().availability(&q).unwrap();
    let (_, body) = h.call(&req);
    assert!(!String::from_utf8(body).unwrap().contains("isAvailable"));
}

#[test]
fn breadcrumb_with_session_reaches_the_chat() {
    let mut h = Harness::new(SimConfig::default());
    let (mut v, _) = h.establish();
    let req = h
        .api()
        .breadcrumb("https://example.com/p2", Some(v.auth()))
        .unwrap();
    assert_eq!(h.call(&req).0, 200);
    let b = h.poll(&mut v);
    assert!(kinds(&b.messages).contains(&"NewVisitorBreadcrumb"));
}

// ---------------------------------------------------------------------------------------------------------
// Robustness and scale

#[test]
fn garbage_requests_never_panic() {
    let mut h = Harness::new(SimConfig::default());
    let (v, _) = h.establish();
    let paths = [
        "/",
        "/chat/rest/",
        "/chat/rest/System/SessionId/%2F%ZZ",
        "/chat/rest/System/SessionId//",
        "/chat/rest/System/Messages?ack=abc",
        "/chat/rest/System/Messages?ack=99999999999999999999",
        "/chat/rest/System/Messages?ack=-9223372036854775808",
        "/chat/rest/System/ReconnectSession?ReconnectSession.offset=9223372036854775807",
        "/chat/rest/System/ReconnectSession",
        "/chat/rest/System/MultiNoun",
        "/chat/rest/Chasitor/ChatMessage",
        "/chat/rest/Visitor/Availability?org_id=&deployment_id",
        "/chat/rest/Visitor/Settings?Settings.buttonIds=[,,]&org_id=a&deployment_id=b",
    ];
    let bodies: [&[u8]; 5] = [
        b"",
        b"{",
        b"{\"nouns\":[{\"prefix\":\"Chasitor\",\"noun\":\"ChatMessage\"}]}",
        b"\xff\xfe",
        b"[]",
    ];
    let mut x: u64 = 1;
    for i in 0..600 {
        x = x
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        let path = paths[(x >> 33) as usize % paths.len()];
        let body = bodies[(x >> 40) as usize % bodies.len()];
        let method = [http::Method::GET, http::Method::POST, http::Method::DELETE][i % 3].clone();
        let mut b = http::Request::builder().method(method).uri(format!(
            "https://d.la1-c1-sim.salesforceliveagent.test{path}"
        ));
        if x & 1 == 0 {
            b = b.header(wire::header::API_VERSION, "59");
        }
        if x & 2 == 0 {
            b = b.header(wire::header::SESSION_KEY, v.key.expose());
        }
        if x & 4 == 0 {
            b = b.header(wire::header::AFFINITY, v.token.as_ref().unwrap().expose());
        }
        if x & 8 == 0 {
            b = b.header(wire::header::SEQUENCE, format!("{}", x % 7));
        }
        let req = b.body(body.to_vec()).unwrap();
        h.send(&req);
        h.at(h.elapsed() + ms(x % 5000));
    }
    h.at(h.elapsed() + Duration::from_secs(3600));
    assert_eq!(h.server.poll_timeout(), None);
}

#[test]
fn many_sessions_are_cheap() {
    let cfg = SimConfig {
        record_transcript: false,
        ..SimConfig::default()
    };
    let mut h = Harness::new(cfg);
    let n = 100_000;
    let req = h.api().session_id().unwrap();
    let mut last = None;
    for _ in 0..n {
        let t = h.server.handle_request(&req, h.now);
        last = h.server.poll_reply(h.now);
        assert_eq!(last.as_ref().map(|(tt, _)| *tt), Some(t));
    }
    assert!(last.is_some());
    assert_eq!(h.server.live_sessions(), n);
    // All idle out together.
    h.at(Duration::from_secs(61));
    assert_eq!(h.server.live_sessions(), 0);
}
