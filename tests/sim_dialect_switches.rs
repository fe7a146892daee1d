//! Every value of every `sim` dialect switch, checked on the simulator ALONE: each test drives
//! `liveagent::sim::Server` with hand-built raw HTTP requests (`http::Request::builder`, no `Session`, no
//! `wire::Api`), so the simulator is checked independently of our client. For each switch and each value the
//! test asserts the observable difference (status, body shape, finding code) and records the request and
//! answer lines; one insta snapshot per switch shows them side by side for a reviewer.

use liveagent::Timestamp;
use liveagent::sim::{
    AgentAction, AgentScript, Dialect, FaultKind, Reply, Server, Severity, SimConfig, Ticket,
};
use serde_json::Value;
use std::fmt::Write as _;
use std::time::Duration;

const ORG: &str = "00Dxx0000001gPL";

/// One visitor's view of its session, kept by the test (not by our client).
struct Visitor {
    id: String,
    key: String,
    token: String,
    /// The last `X-LIVEAGENT-SEQUENCE` sent.
    seq: u64,
    /// The `sequence` of the last 200 batch.
    ack: i64,
    /// The last `offset` received.
    offset: Option<i64>,
}

struct H {
    server: Server,
    start: Timestamp,
    now: Timestamp,
    log: String,
    /// Replies that became ready while another was awaited.
    stash: Vec<(Ticket, Reply)>,
}

fn brief(body: &str) -> String {
    let one: String = body.split_whitespace().collect::<Vec<_>>().join(" ");
    if one.chars().count() > 150 {
        format!("{}…", one.chars().take(150).collect::<String>())
    } else {
        one
    }
}

impl H {
    fn new(dialect: Dialect) -> H {
        let start = Timestamp::ZERO;
        let config = SimConfig::default()
            .with_agent(AgentScript::idle())
            .with_dialect(dialect);
        H {
            server: Server::new(config, start),
            start,
            now: start,
            log: String::new(),
            stash: Vec::new(),
        }
    }

    fn with_value(switch: &str, value: &str) -> H {
        let mut d = Dialect::default();
        d.set(switch, value).expect("a declared switch value");
        let mut h = H::new(d);
        let _ = writeln!(h.log, "== {switch}={value}");
        h
    }

    fn note(&mut self, text: &str) {
        let t = self.now.saturating_duration_since(self.start);
        let _ = writeln!(
            self.log,
            "{:>4}.{:03}s {text}",
            t.as_secs(),
            t.subsec_millis()
        );
    }

    fn at(&mut self, secs: f64) {
        self.now = self.start + Duration::from_secs_f64(secs);
        self.server.handle_timeout(self.now);
    }

    fn send(&mut self, req: http::Request<Vec<u8>>) -> Ticket {
        let mut line = format!(
            "→ {} {}",
            req.method(),
            req.uri()
                .path_and_query()
                .map(|p| p.as_str())
                .unwrap_or("/")
        );
        if line.contains("/System/SessionId/") {
            line = "→ DELETE /chat/rest/System/SessionId/<key>".into();
        }
        if let Some(s) = req.headers().get("X-LIVEAGENT-SEQUENCE") {
            let _ = write!(line, " seq={}", s.to_str().unwrap_or("?"));
        }
        if !req.body().is_empty() && !line.contains("ChasitorInit") {
            let _ = write!(line, " {}", String::from_utf8_lossy(req.body()));
        }
        self.note(&line);
        self.server.handle_request(&req, self.now)
    }

    /// The reply of `ticket` if it is ready now (logged).
    fn ready(&mut self, ticket: Ticket) -> Option<(u16, String)> {
        let mut found = self
            .stash
            .iter()
            .position(|(t, _)| *t == ticket)
            .map(|i| self.stash.remove(i).1);
        while found.is_none()
            && let Some((t, reply)) = self.server.poll_reply(self.now)
        {
            if t == ticket {
                found = Some(reply);
            } else {
                self.stash.push((t, reply));
            }
        }
        let reply = found?;
        let (status, body) = match reply {
            Reply::Response(r) => (
                r.status().as_u16(),
                String::from_utf8_lossy(r.body()).into_owned(),
            ),
            _ => (0, String::new()),
        };
        let shown = if body.contains("\"key\"") {
            "(SessionId body)".to_owned()
        } else {
            match serde_json::from_str::<Value>(&body) {
                // A batch: its message types and numbers first (the body may be cut).
                Ok(b) if b.get("sequence").is_some() => format!(
                    "[{}] seq {} | {}",
                    kinds(&b).join(", "),
                    b["sequence"],
                    brief(&body)
                ),
                _ => brief(&body),
            }
        };
        self.note(&format!("← {status} {shown}"));
        Some((status, body))
    }

    fn call(&mut self, req: http::Request<Vec<u8>>) -> (u16, String) {
        let t = self.send(req);
        self.ready(t).expect("answered at once")
    }

    fn open(&mut self) -> Visitor {
        let (status, body) = self.call(get("/chat/rest/System/SessionId", None, Some("null")));
        assert_eq!(status, 200);
        let v: Value = serde_json::from_str(&body).expect("json");
        Visitor {
            id: v["id"].as_str().expect("id").to_owned(),
            key: v["key"].as_str().expect("key").to_owned(),
            token: v["affinityToken"].as_str().expect("token").to_owned(),
            seq: 0,
            ack: -1,
            offset: None,
        }
    }

    /// ChasitorInit, then the poll that brings ChatRequestSuccess: the chat is queued.
    fn queued(&mut self) -> Visitor {
        let mut v = self.open();
        let body = format!(
            r#"{{"organizationId":"{ORG}","deploymentId":"572xx","buttonId":"573xx","sessionId":"{}","userAgent":"test","language":"en-US","screenResolution":"1x1","visitorName":"Jon","prechatDetails":[],"prechatEntities":[],"receiveQueueUpdates":true,"isPost":true}}"#,
            v.id
        );
        let (status, _) = self.post(&mut v, "ChasitorInit", &body);
        assert!((200..300).contains(&status), "ChasitorInit {status}");
        let b = self.poll(&mut v);
        assert_eq!(kinds(&b), ["ChatRequestSuccess"]);
        v
    }

    /// Queued, then the agent accepts and the poll brings ChatEstablished.
    fn chatting(&mut self) -> Visitor {
        let mut v = self.queued();
        assert!(self.agent(&v, AgentAction::Accept));
        let b = self.poll(&mut v);
        assert_eq!(kinds(&b), ["ChatEstablished"]);
        v
    }

    fn agent(&mut self, v: &Visitor, action: AgentAction) -> bool {
        self.note(&format!("agent {action:?}"));
        self.server.agent_act(&v.id, action, self.now)
    }

    /// A sequenced POST with the next number.
    fn post(&mut self, v: &mut Visitor, noun: &str, body: &str) -> (u16, String) {
        v.seq += 1;
        let seq = v.seq;
        self.post_seq(v, noun, body, Some(seq))
    }

    fn post_seq(&mut self, v: &Visitor, noun: &str, body: &str, seq: Option<u64>) -> (u16, String) {
        self.call(post(v, noun, body, seq))
    }

    /// A poll with `ack=v.ack`, answered at once (a batch); updates `ack` and `offset`.
    fn poll(&mut self, v: &mut Visitor) -> Value {
        let (status, body) = self.poll_with(v, Some(v.ack)).expect("a batch at once");
        assert_eq!(status, 200, "{body}");
        serde_json::from_str(&body).expect("json")
    }

    /// A poll with the given `ack` (`None`: without one); `None` when it is held. A 200 batch updates the
    /// visitor's `ack` and `offset`.
    fn poll_with(&mut self, v: &mut Visitor, ack: Option<i64>) -> Option<(u16, String)> {
        let path = match ack {
            Some(a) => format!("/chat/rest/System/Messages?ack={a}"),
            None => "/chat/rest/System/Messages".to_owned(),
        };
        let t = self.send(get(&path, Some(&v.key), Some(&v.token)));
        let r = self.ready(t);
        match &r {
            Some((200, body)) => {
                let b: Value = serde_json::from_str(body).expect("json");
                if let Some(s) = b["sequence"].as_i64() {
                    v.ack = s;
                }
                if let Some(o) = b["offset"].as_i64() {
                    v.offset = Some(o);
                }
            }
            None => self.note("  (held)"),
            _ => {}
        }
        r
    }

    /// A handover: the fault changes the token; the visitor's next poll gets 503.
    fn handover(&mut self, v: &mut Visitor) {
        self.note("fault Handover");
        assert!(
            self.server
                .inject_fault(&v.id, FaultKind::Handover, self.now)
        );
        let ack = v.ack;
        assert_eq!(self.poll_with(v, Some(ack)).map(|r| r.0), Some(503));
    }

    /// ReconnectSession with `affinity` (the literal `null` normally); returns status and body.
    fn reconnect_with(&mut self, v: &Visitor, affinity: &str) -> (u16, String) {
        let path = format!(
            "/chat/rest/System/ReconnectSession?ReconnectSession.offset={}",
            v.offset.unwrap_or(0)
        );
        self.call(get(&path, Some(&v.key), Some(affinity)))
    }

    /// Handover, then ReconnectSession with `null`; takes the new token (wrapped or bare) and resets `seq`
    /// when the answer says so (absent counts as true). Returns the answer's JSON.
    fn reconnect(&mut self, v: &mut Visitor) -> Value {
        self.handover(v);
        let (status, body) = self.reconnect_with(v, "null");
        assert_eq!(status, 200, "{body}");
        let b: Value = serde_json::from_str(&body).expect("json");
        let payload = if b.get("messages").is_some() {
            b["messages"][0]["message"].clone()
        } else {
            b.clone()
        };
        v.token = payload["affinityToken"]
            .as_str()
            .expect("affinityToken")
            .to_owned();
        if payload["resetSequence"].as_bool() != Some(false) {
            v.seq = 0;
        }
        b
    }

    fn codes(&self, severity: Severity) -> Vec<String> {
        self.server
            .conformance_report()
            .codes(severity)
            .into_iter()
            .map(str::to_owned)
            .collect()
    }

    fn has(&self, severity: Severity, code: &str) -> bool {
        self.codes(severity).iter().any(|c| c == code)
    }

    fn visitor_messages(&self, v: &Visitor) -> Vec<String> {
        self.server
            .visitor_messages(&v.id)
            .map(<[String]>::to_vec)
            .unwrap_or_default()
    }

    /// The log, with the findings recorded.
    fn finish(&self) -> String {
        let mut out = self.log.clone();
        for (label, sev) in [
            ("violations", Severity::Violation),
            ("warnings", Severity::Warning),
        ] {
            let _ = writeln!(out, "  {label}: {:?}", self.codes(sev));
        }
        out.push('\n');
        out
    }
}

fn get(path: &str, key: Option<&str>, affinity: Option<&str>) -> http::Request<Vec<u8>> {
    let mut b = http::Request::builder()
        .method("GET")
        .uri(path)
        .header("X-LIVEAGENT-API-VERSION", "58");
    if let Some(a) = affinity {
        b = b.header("X-LIVEAGENT-AFFINITY", a);
    }
    if let Some(k) = key {
        b = b.header("X-LIVEAGENT-SESSION-KEY", k);
    }
    b.body(Vec::new()).expect("request")
}

fn post(v: &Visitor, noun: &str, body: &str, seq: Option<u64>) -> http::Request<Vec<u8>> {
    let mut b = http::Request::builder()
        .method("POST")
        .uri(format!("/chat/rest/Chasitor/{noun}"))
        .header("X-LIVEAGENT-API-VERSION", "58")
        .header("X-LIVEAGENT-AFFINITY", v.token.as_str())
        .header("X-LIVEAGENT-SESSION-KEY", v.key.as_str())
        .header("Content-Type", "application/json");
    if let Some(s) = seq {
        b = b.header("X-LIVEAGENT-SEQUENCE", s.to_string());
    }
    b.body(body.as_bytes().to_vec()).expect("request")
}

fn delete(v: &Visitor) -> http::Request<Vec<u8>> {
    http::Request::builder()
        .method("DELETE")
        .uri(format!("/chat/rest/System/SessionId/{}", v.key))
        .header("X-LIVEAGENT-API-VERSION", "58")
        .header("X-LIVEAGENT-AFFINITY", v.token.as_str())
        .header("X-LIVEAGENT-SESSION-KEY", v.key.as_str())
        .body(Vec::new())
        .expect("request")
}

fn kinds(batch: &Value) -> Vec<String> {
    batch["messages"]
        .as_array()
        .map(|a| {
            a.iter()
                .map(|m| m["type"].as_str().unwrap_or("?").to_owned())
                .collect()
        })
        .unwrap_or_default()
}

fn msg(text: &str) -> String {
    format!(r#"{{"text":"{text}"}}"#)
}

const RESYNC: &str = r#"{"organizationId":"00Dxx0000001gPL"}"#;

/// The values of `switch`, the default first.
fn values(switch: &str) -> Vec<&'static str> {
    Dialect::switches()
        .iter()
        .find(|s| s.name == switch)
        .map(|s| s.values.to_vec())
        .expect("a declared switch")
}

/// Runs `each` for every value of `switch` and snapshots the combined log.
fn per_value(switch: &str, each: impl Fn(&str, &mut H)) {
    let mut all = String::new();
    for value in values(switch) {
        let mut h = H::with_value(switch, value);
        each(value, &mut h);
        all.push_str(&h.finish());
    }
    insta::assert_snapshot!(switch, all);
}

use Severity::{Violation, Warning};

// ------------------------------------------------------------------------------------------------
// One test per switch
// ------------------------------------------------------------------------------------------------

#[test]
fn every_switch_has_a_test_here() {
    let src = include_str!("sim_dialect_switches.rs");
    for s in Dialect::switches() {
        let name = s.name.replace('-', "_");
        assert!(
            src.contains(&format!("fn {name}()")),
            "no test for switch {}",
            s.name
        );
    }
}

#[test]
fn resync() {
    per_value("resync", |value, h| {
        // Chatting: a ChatMessage after the reconnect, before ChasitorResyncState.
        let mut v = h.chatting();
        h.reconnect(&mut v);
        let b = h.poll(&mut v);
        assert_eq!(kinds(&b), ["ChasitorSessionData"]);
        let (status, _) = h.post(&mut v, "ChatMessage", &msg("before resync"));
        match value {
            "required" => {
                assert_eq!(status, 500);
                assert!(h.has(Violation, "missing-resync"));
            }
            _ => {
                assert_eq!(status, 200);
                assert!(h.has(Warning, "missing-resync"));
            }
        }
        // What waits for the resync: an agent message the visitor did not get before the handover.
        let mut w = h.chatting();
        assert!(h.agent(&w, AgentAction::Say { text: "a1".into() }));
        h.reconnect(&mut w);
        let b = h.poll(&mut w);
        if value == "required" {
            assert_eq!(kinds(&b), ["ChasitorSessionData"]);
            let ack = w.ack;
            let held = h.send(get(
                &format!("/chat/rest/System/Messages?ack={ack}"),
                Some(&w.key),
                Some(&w.token),
            ));
            assert!(h.ready(held).is_none(), "held behind the barrier");
            h.note("  (held)");
            assert_eq!(h.post_seq(&w, "ChasitorResyncState", RESYNC, None).0, 200);
            let (status, body) = h.ready(held).expect("released by the resync");
            assert_eq!(status, 200);
            let b: Value = serde_json::from_str(&body).expect("json");
            assert_eq!(kinds(&b), ["ChatMessage"]);
        } else {
            assert_eq!(kinds(&b), ["ChasitorSessionData", "ChatMessage"]);
        }
        // Queued: ChasitorResyncState after a reconnect.
        let mut q = h.queued();
        h.reconnect(&mut q);
        h.poll(&mut q);
        let (status, _) = h.post_seq(&q, "ChasitorResyncState", RESYNC, None);
        assert_eq!(
            status,
            if value == "refused-while-queued" {
                500
            } else {
                200
            }
        );
    });
}

#[test]
fn sequence_header() {
    per_value("sequence-header", |value, h| {
        let mut v = h.chatting();
        let (status, _) = h.post_seq(&v, "ChatMessage", &msg("no header"), None);
        match value {
            "required" => {
                assert_eq!(status, 400);
                assert!(h.has(Violation, "missing-sequence"));
                assert!(h.visitor_messages(&v).is_empty());
            }
            _ => {
                assert_eq!(status, 200);
                assert!(h.has(Warning, "missing-sequence"));
                assert_eq!(h.visitor_messages(&v), ["no header"]);
            }
        }
        // With the header: fine either way.
        assert_eq!(h.post(&mut v, "ChatMessage", &msg("with")).0, 200);
    });
}

#[test]
fn sequence_rule() {
    per_value("sequence-rule", |value, h| {
        let mut v = h.chatting();
        v.seq += 1; // skip one number
        let (status, body) = h.post(&mut v, "ChatMessage", &msg("gap"));
        match value {
            "consecutive" => {
                assert_eq!(status, 409);
                assert_eq!(body, "Out of sync Ack. Expected 3. Actual 1");
                assert!(h.has(Violation, "sequence-gap"));
            }
            _ => {
                assert_eq!(status, 200);
                assert!(h.has(Warning, "sequence-gap"));
            }
        }
    });
}

#[test]
fn resync_sequence() {
    per_value("resync-sequence", |value, h| {
        let mut v = h.chatting();
        // ChasitorResyncState numbered 2, then a ChatMessage numbered 2 too.
        let (status, _) = h.post(&mut v, "ChasitorResyncState", RESYNC);
        assert_eq!(status, 200);
        assert!(h.has(Warning, "sequence-on-resync"));
        let (status, _) = h.post_seq(&v, "ChatMessage", &msg("after resync"), Some(2));
        assert_eq!(status, 200);
        match value {
            "counted" => {
                // 2 was taken by the resync: a different request under a used number is dropped.
                assert!(h.visitor_messages(&v).is_empty());
                assert!(h.has(Violation, "sequence-reused"));
            }
            _ => assert_eq!(h.visitor_messages(&v), ["after resync"]),
        }
    });
}

#[test]
fn duplicate_sequence() {
    per_value("duplicate-sequence", |value, h| {
        let mut v = h.chatting();
        assert_eq!(h.post(&mut v, "ChatMessage", &msg("one")).0, 200);
        // The same request again (a retransmission), then a different one under the same number.
        assert_eq!(
            h.post_seq(&v, "ChatMessage", &msg("one"), Some(v.seq)).0,
            200
        );
        assert_eq!(
            h.post_seq(&v, "ChatMessage", &msg("other"), Some(v.seq)).0,
            200
        );
        match value {
            "processed" => {
                assert_eq!(h.visitor_messages(&v), ["one", "one", "other"]);
                assert!(h.has(Warning, "sequence-reused"));
            }
            _ => {
                assert_eq!(h.visitor_messages(&v), ["one"]);
                assert!(h.has(Violation, "sequence-reused"));
                let rec = h.server.session(&v.id).expect("session");
                assert_eq!(rec.retransmissions, 2);
            }
        }
    });
}

#[test]
fn out_of_sync_actual() {
    per_value("out-of-sync-actual", |value, h| {
        let mut v = h.chatting();
        h.note("fault SequenceDrift(5)");
        assert!(
            h.server
                .inject_fault(&v.id, FaultKind::SequenceDrift(5), h.now)
        );
        let (status, body) = h.post(&mut v, "ChatMessage", &msg("drifted"));
        assert_eq!(status, 409);
        // The server's counter is at 1 + 5 = 6.
        let actual: u64 = body
            .rsplit(' ')
            .next()
            .and_then(|a| a.parse().ok())
            .expect("Actual");
        assert_eq!(actual, if value == "next-expected" { 7 } else { 6 });
        // The recovery every client can make: Actual + 1.
        let (status, _) = h.post_seq(&v, "ChatMessage", &msg("drifted"), Some(actual + 1));
        assert_eq!(status, 200);
        assert_eq!(h.visitor_messages(&v), ["drifted"]);
    });
    // Under next-expected with consecutive numbers, that probe is refused but only a warning; Actual works.
    let mut d = Dialect::default();
    d.set("out-of-sync-actual", "next-expected").expect("value");
    d.set("sequence-rule", "consecutive").expect("value");
    let mut h = H::new(d);
    let mut v = h.chatting();
    assert!(
        h.server
            .inject_fault(&v.id, FaultKind::SequenceDrift(5), h.now)
    );
    let (status, body) = h.post(&mut v, "ChatMessage", &msg("m"));
    assert_eq!(
        (status, body.as_str()),
        (409, "Out of sync Ack. Expected 2. Actual 7")
    );
    let (status, body) = h.post_seq(&v, "ChatMessage", &msg("m"), Some(8));
    assert_eq!(
        (status, body.as_str()),
        (409, "Out of sync Ack. Expected 8. Actual 7")
    );
    assert_eq!(h.codes(Warning), ["sequence-gap"]);
    assert!(h.codes(Violation).is_empty());
    assert_eq!(h.post_seq(&v, "ChatMessage", &msg("m"), Some(7)).0, 200);
    assert_eq!(h.visitor_messages(&v), ["m"]);
}

#[test]
fn reset_sequence() {
    per_value("reset-sequence", |value, h| {
        let mut v = h.chatting();
        assert_eq!(h.post(&mut v, "ChatMessage", &msg("before")).0, 200); // seq 2
        let b = h.reconnect(&mut v);
        let flag = &b["messages"][0]["message"]["resetSequence"];
        // A POST numbered 1 after the reconnect.
        let (status, _) = h.post_seq(&v, "ChatMessage", &msg("after"), Some(1));
        assert_eq!(status, 200);
        match value {
            "true" => {
                assert_eq!(flag, &Value::Bool(true));
                assert_eq!(h.visitor_messages(&v), ["before", "after"]);
            }
            "false" => {
                assert_eq!(flag, &Value::Bool(false));
                // The counter went on: 1 is an old number, dropped; 3 continues.
                assert_eq!(h.visitor_messages(&v), ["before"]);
                assert_eq!(h.post_seq(&v, "ChatMessage", &msg("next"), Some(3)).0, 200);
                assert_eq!(h.visitor_messages(&v), ["before", "next"]);
            }
            _ => {
                assert!(flag.is_null(), "absent: {b}");
                assert_eq!(h.visitor_messages(&v), ["before", "after"]);
            }
        }
    });
}

#[test]
fn reconnect_body() {
    per_value("reconnect-body", |value, h| {
        let mut v = h.chatting();
        let b = h.reconnect(&mut v);
        match value {
            "bare" => {
                assert!(b.get("messages").is_none());
                assert!(b["affinityToken"].is_string());
                assert_eq!(b["resetSequence"], true);
            }
            _ => {
                assert_eq!(b["messages"][0]["type"], "ReconnectSession");
                assert!(b["messages"][0]["message"]["affinityToken"].is_string());
            }
        }
        // The new token works either way.
        assert_eq!(kinds(&h.poll(&mut v)), ["ChasitorSessionData"]);
    });
}

#[test]
fn session_data() {
    per_value("session-data", |value, h| {
        let mut v = h.chatting();
        // The agent says something the visitor does not get before the handover.
        assert!(h.agent(&v, AgentAction::Say { text: "a1".into() }));
        h.reconnect(&mut v);
        let (status, body) = h.poll_with(&mut v, None).expect("a batch");
        assert_eq!(status, 200);
        let b: Value = serde_json::from_str(&body).expect("json");
        match value {
            "never" => assert_eq!(kinds(&b), ["ChatMessage"]),
            _ => assert_eq!(kinds(&b), ["ChasitorSessionData", "ChatMessage"]),
        }
    });
}

#[test]
fn reconnect_ack() {
    per_value("reconnect-ack", |value, h| {
        // For each first-poll ack (none, -1, the continued one) a fresh chat reconnects.
        for ack in [None, Some(-1), Some(1)] {
            let mut v = h.chatting(); // ack 1
            assert!(h.agent(&v, AgentAction::Say { text: "a1".into() }));
            h.reconnect(&mut v);
            let before = h.codes(Violation).len();
            let (status, body) = h.poll_with(&mut v, ack).expect("answered");
            let refused = matches!(
                (value, ack),
                ("continued", Some(-1)) | ("minus-one", Some(1))
            );
            if refused {
                assert_eq!((status, body.as_str()), (400, "Invalid ack"));
                assert_eq!(h.codes(Violation).len(), before + 1);
                assert!(h.has(Violation, "reconnect-ack"));
                continue;
            }
            assert_eq!(status, 200, "{value} ack {ack:?}");
            assert_eq!(h.codes(Violation).len(), before);
            let b: Value = serde_json::from_str(&body).expect("json");
            assert_eq!(kinds(&b), ["ChasitorSessionData", "ChatMessage"]);
            // minus-one restarts the numbering: ChasitorSessionData is 0.
            let expected = if value == "minus-one" { 1 } else { 3 };
            assert_eq!(b["sequence"], expected, "{value} ack {ack:?}");
        }
        // A poll without ack after a reconnect is no finding in any value.
        assert!(!h.has(Warning, "missing-ack"));
    });
}

#[test]
fn empty_poll() {
    per_value("empty-poll", |value, h| {
        let mut v = h.chatting();
        let ack = v.ack;
        assert!(h.poll_with(&mut v, Some(ack)).is_none(), "held");
        let t = h.server.poll_timeout().expect("the hold deadline");
        h.now = t;
        h.server.handle_timeout(t);
        let (status, body) = {
            let mut found = None;
            while let Some((_, r)) = h.server.poll_reply(h.now) {
                if let Reply::Response(r) = r {
                    found = Some((
                        r.status().as_u16(),
                        String::from_utf8_lossy(r.body()).into_owned(),
                    ));
                }
            }
            found.expect("the held poll's answer")
        };
        h.note(&format!("← {status} {body}"));
        match value {
            "empty-batch" => assert_eq!((status, body.as_str()), (200, r#"{"messages":[]}"#)),
            _ => assert_eq!((status, body.as_str()), (204, "")),
        }
    });
}

#[test]
fn numbers() {
    per_value("numbers", |value, h| {
        let mut v = h.open();
        let body = format!(
            r#"{{"organizationId":"{ORG}","deploymentId":"572xx","buttonId":"573xx","sessionId":"{}","userAgent":"test","language":"en-US","screenResolution":"1x1","visitorName":"Jon","prechatDetails":[],"prechatEntities":[],"receiveQueueUpdates":true,"isPost":true}}"#,
            v.id
        );
        h.post(&mut v, "ChasitorInit", &body);
        let b = h.poll(&mut v);
        let m = &b["messages"][0]["message"];
        let (wait, timeout) = (&m["estimatedWaitTime"], &m["connectionTimeout"]);
        match value {
            "floats" => {
                assert!(wait.is_f64() && timeout.is_f64(), "{m}");
                assert!(
                    serde_json::to_string(&b)
                        .expect("json")
                        .contains("150000.0")
                );
            }
            "strings" => {
                assert_eq!(
                    (wait.as_str(), timeout.as_str()),
                    (Some("-1"), Some("150000"))
                );
                assert!(b["sequence"].is_i64(), "the envelope stays integral");
            }
            _ => assert_eq!((wait.as_i64(), timeout.as_i64()), (Some(-1), Some(150_000))),
        }
    });
}

#[test]
fn attached_records() {
    per_value("attached-records", |value, h| {
        let mut v = h.chatting();
        assert!(h.agent(&v, AgentAction::End));
        let b = h.poll(&mut v);
        let records = &b["messages"][0]["message"]["attachedRecords"];
        match value {
            "string" => assert_eq!(records, "[]"),
            _ => assert_eq!(records, &Value::Array(Vec::new())),
        }
    });
}

#[test]
fn end_while_queued() {
    per_value("end-while-queued", |value, h| {
        let mut q = h.queued();
        let (status, _) = h.post(&mut q, "ChatEnd", r#"{"reason":"client"}"#);
        assert_eq!(status, if value == "delete-only" { 500 } else { 200 });
        let mut q = h.queued();
        let t = h.send(delete(&q));
        let (status, _) = h.ready(t).expect("answered");
        assert_eq!(status, if value == "chat-end-only" { 500 } else { 200 });
        // A refused way leaves the chat queued: the other one ends it.
        if value == "chat-end-only" {
            assert_eq!(h.post(&mut q, "ChatEnd", r#"{"reason":"client"}"#).0, 200);
            assert_eq!(kinds(&h.poll(&mut q)), ["ChatEnded"]);
        }
    });
}

#[test]
fn typing_order() {
    per_value("typing-order", |value, h| {
        let mut v = h.chatting();
        assert!(h.agent(&v, AgentAction::Typing));
        assert!(h.agent(&v, AgentAction::NotTyping));
        let b = h.poll(&mut v);
        match value {
            "swapped" => assert_eq!(kinds(&b), ["AgentNotTyping", "AgentTyping"]),
            _ => assert_eq!(kinds(&b), ["AgentTyping", "AgentNotTyping"]),
        }
    });
}

#[test]
fn poll_conflict() {
    per_value("poll-conflict", |value, h| {
        let mut v = h.chatting();
        let ack = v.ack;
        let first = h.send(get(
            &format!("/chat/rest/System/Messages?ack={ack}"),
            Some(&v.key),
            Some(&v.token),
        ));
        h.note("  (held)");
        let second = h.send(get(
            &format!("/chat/rest/System/Messages?ack={ack}"),
            Some(&v.key),
            Some(&v.token),
        ));
        let a = h.ready(first).expect("first answered");
        let b = h.ready(second).expect("second answered");
        assert_eq!((a.0, b.0), (409, 409));
        let third = h.poll_with(&mut v, Some(ack)).map(|r| r.0);
        match value {
            "ends-chat" => {
                assert_eq!(third, Some(403));
                assert!(h.has(Violation, "duplicate-poll"));
            }
            _ => {
                assert_eq!(b.1, "Conflict: Duplicate Long Polling");
                assert_eq!(third, None, "held: the chat goes on");
                assert!(h.has(Warning, "duplicate-poll"));
            }
        }
    });
}

#[test]
fn post_success() {
    per_value("post-success", |value, h| {
        let mut v = h.chatting();
        let (status, _) = h.post(&mut v, "ChatMessage", &msg("hi"));
        assert_eq!(status.to_string(), value);
        assert_eq!(h.visitor_messages(&v), ["hi"]);
    });
}

#[test]
fn poll_gap() {
    per_value("poll-gap", |value, h| {
        let mut v = h.chatting();
        // No poll in progress for 46 s (the idle timeout is 60 s).
        h.at(46.0);
        let ack = v.ack;
        let r = h.poll_with(&mut v, Some(ack)).map(|r| r.0);
        match value {
            "unlimited" => assert_eq!(r, None, "held"),
            _ => assert_eq!(r, Some(403)),
        }
    });
}

#[test]
fn rapid_messages() {
    per_value("rapid-messages", |value, h| {
        let mut v = h.chatting();
        assert_eq!(h.post(&mut v, "ChatMessage", &msg("one")).0, 200);
        h.at(0.005);
        assert_eq!(h.post(&mut v, "ChatMessage", &msg("two")).0, 200);
        match value {
            "dropped" => {
                assert_eq!(h.visitor_messages(&v), ["one"]);
                assert!(h.has(Violation, "rapid-messages"));
            }
            _ => assert_eq!(h.visitor_messages(&v), ["one", "two"]),
        }
    });
}

#[test]
fn affinity_shape() {
    per_value("affinity-shape", |value, h| {
        let mut v = h.chatting();
        h.note(&format!("token {}", v.token));
        match value {
            "host-port" => {
                let (host, port) = v.token.split_once(':').expect("host:port");
                assert_eq!(port, "443");
                let parts: Vec<u8> = host.split('.').map(|p| p.parse().expect("octet")).collect();
                assert_eq!(parts.len(), 4);
                assert_eq!(parts[0], 10);
            }
            _ => {
                assert_eq!(v.token.len(), 8);
                assert!(v.token.chars().all(|c| c.is_ascii_hexdigit()));
            }
        }
        // Requests with it work, and the token after a handover has the same shape.
        assert_eq!(h.post(&mut v, "ChatMessage", &msg("hi")).0, 200);
        h.reconnect(&mut v);
        assert_eq!(v.token.contains(':'), value == "host-port");
    });
}

#[test]
fn reconnect_affinity() {
    per_value("reconnect-affinity", |value, h| {
        let mut v = h.chatting();
        h.handover(&mut v);
        // A made-up token: 400 in every value.
        assert_eq!(h.reconnect_with(&v, "0badf00d").0, 400);
        // The token held before the 503.
        let held = v.token.clone();
        let (status, _) = h.reconnect_with(&v, &held);
        match value {
            "null" => {
                assert_eq!(status, 400);
                assert_eq!(h.reconnect_with(&v, "null").0, 200);
            }
            _ => {
                assert_eq!(status, 200);
                assert!(h.has(Warning, "reconnect-affinity"));
            }
        }
        assert!(h.has(Violation, "reconnect-affinity"));
    });
}

/// The ChasitorInit body a bot-platform integration shipped: booleans as JSON strings at every level.
fn init_with_string_booleans(v: &Visitor) -> String {
    format!(
        r#"{{"organizationId":"{ORG}","deploymentId":"572xx","buttonId":"573xx","sessionId":"{}","userAgent":"bot","language":"en-US","screenResolution":"768X1024","visitorName":"Jon","prechatDetails":[{{"label":"Email","value":"a@b.c","displayToAgent":"true","transcriptFields":[],"entityMaps":[]}}],"prechatEntities":[{{"entityName":"Contact","showOnCreate":"true","entityFieldsMaps":[{{"fieldName":"Email","label":"Email","doFind":"true","isExactMatch":"true","doCreate":"false"}}]}}],"receiveQueueUpdates":"true","isPost":"true"}}"#,
        v.id
    )
}

#[test]
fn body_values() {
    per_value("body-values", |value, h| {
        let mut v = h.open();
        let init = init_with_string_booleans(&v);
        let (status, body) = h.post(&mut v, "ChasitorInit", &init);
        match value {
            "strict" => {
                assert_eq!(status, 400);
                assert!(body.contains("expected a boolean"), "{body}");
                assert!(h.has(Violation, "malformed-body"));
            }
            _ => {
                assert_eq!(status, 200, "{body}");
                // showOnCreate, doFind, isExactMatch, doCreate, receiveQueueUpdates, isPost (displayToAgent
                // was always read leniently by the wire types, and is reported too).
                let n = h
                    .codes(Warning)
                    .iter()
                    .filter(|c| *c == "lenient-body")
                    .count();
                assert_eq!(n, 7, "{:?}", h.codes(Warning));
                assert!(h.codes(Violation).is_empty());
            }
        }
    });
}

#[test]
fn init_fields() {
    per_value("init-fields", |value, h| {
        let mut v = h.open();
        // Exactly the body a web-chat handoff integration sent in production: no sessionId, no visitorName.
        let body = format!(
            r#"{{"organizationId":"{ORG}","deploymentId":"572xx","buttonId":"573xx","userAgent":"Mozilla/5.0","language":"en-US","screenResolution":"768X1024","prechatDetails":[],"prechatEntities":[],"receiveQueueUpdates":true,"isPost":true}}"#
        );
        let (status, answer) = h.post(&mut v, "ChasitorInit", &body);
        match value {
            "required" => {
                assert_eq!(status, 400);
                assert!(answer.contains("missing field `sessionId`"), "{answer}");
                assert!(h.has(Violation, "malformed-body"));
            }
            _ => {
                assert_eq!(status, 200, "{answer}");
                assert_eq!(h.codes(Warning), ["missing-field", "missing-field"]);
                let b = h.poll(&mut v);
                assert_eq!(kinds(&b), ["ChatRequestSuccess"]);
            }
        }
    });
}

#[test]
fn session_id_affinity() {
    per_value("session-id-affinity", |value, h| {
        // Only X-LIVEAGENT-API-VERSION.
        let (status, _) = h.call(get("/chat/rest/System/SessionId", None, None));
        // A made-up value: 400 in every value.
        let (other, _) = h.call(get("/chat/rest/System/SessionId", None, Some("0badf00d")));
        assert_eq!(other, 400);
        let report = h.server.conformance_report();
        match value {
            "null-required" => {
                assert_eq!(status, 400);
                assert_eq!(report.sessions.len(), 0);
                let outside: Vec<&str> = report
                    .outside_sessions
                    .iter()
                    .map(|f| f.code.as_str())
                    .collect();
                assert_eq!(outside, ["missing-affinity", "missing-affinity"]);
            }
            _ => {
                assert_eq!(status, 200);
                assert_eq!(report.sessions.len(), 1);
                assert!(h.has(Warning, "missing-affinity"));
                assert_eq!(report.outside_sessions.len(), 1);
            }
        }
    });
}
