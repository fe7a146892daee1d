//! The simulator's conformance report, checked on the simulator ALONE with hand-built raw HTTP requests (no
//! `Session`, no `wire::Api`): every declared finding code is triggered by a request that earns it, every
//! refusal leaves a finding (in its session, or outside sessions), request numbers in findings are the
//! transcript's, `completed` has one meaning, and the request bodies production clients sent are accepted
//! under the default dialect and refused, each refusal reported, under the strict one.

use liveagent::Timestamp;
use liveagent::sim::conformance::codes;
use liveagent::sim::{
    AgentAction, AgentScript, ConformanceReport, Dialect, FaultKind, Reply, Server, Severity,
    SimConfig,
};
use serde_json::Value;
use std::time::Duration;

const ORG: &str = "00Dxx0000001gPL";

struct Visitor {
    id: String,
    key: String,
    token: String,
    seq: u64,
    ack: i64,
    offset: i64,
}

struct H {
    server: Server,
    now: Timestamp,
}

impl H {
    fn new(dialect: Dialect) -> H {
        let config = SimConfig::default()
            .with_agent(AgentScript::idle())
            .with_dialect(dialect);
        H {
            server: Server::new(config, Timestamp::ZERO),
            now: Timestamp::ZERO,
        }
    }

    fn later(&mut self, d: Duration) {
        self.now += d;
        self.server.handle_timeout(self.now);
    }

    /// Sends `req`; the answer if it is ready now (`None`: held).
    fn send(&mut self, req: http::Request<Vec<u8>>) -> Option<(u16, String)> {
        let ticket = self.server.handle_request(&req, self.now);
        let mut found = None;
        while let Some((t, reply)) = self.server.poll_reply(self.now) {
            if t == ticket {
                found = Some(reply);
            }
        }
        match found? {
            Reply::Response(r) => Some((
                r.status().as_u16(),
                String::from_utf8_lossy(r.body()).into_owned(),
            )),
            _ => Some((0, String::new())),
        }
    }

    fn call(&mut self, req: http::Request<Vec<u8>>) -> (u16, String) {
        self.send(req).expect("answered at once")
    }

    fn open(&mut self) -> Visitor {
        let (status, body) = self.call(req(
            "GET",
            "/chat/rest/System/SessionId",
            &[("X-LIVEAGENT-AFFINITY", "null")],
            "",
        ));
        assert_eq!(status, 200, "{body}");
        let v: Value = serde_json::from_str(&body).expect("json");
        Visitor {
            id: v["id"].as_str().expect("id").to_owned(),
            key: v["key"].as_str().expect("key").to_owned(),
            token: v["affinityToken"].as_str().expect("token").to_owned(),
            seq: 0,
            ack: -1,
            offset: 0,
        }
    }

    fn queued(&mut self) -> Visitor {
        let mut v = self.open();
        let body = init_body(&v.id);
        assert_eq!(self.post(&mut v, "ChasitorInit", &body).0, 200);
        assert_eq!(self.poll(&mut v).0, 200);
        v
    }

    fn chatting(&mut self) -> Visitor {
        let mut v = self.queued();
        assert!(self.server.agent_act(&v.id, AgentAction::Accept, self.now));
        assert_eq!(self.poll(&mut v).0, 200);
        v
    }

    fn headers(v: &Visitor) -> Vec<(&'static str, String)> {
        vec![
            ("X-LIVEAGENT-AFFINITY", v.token.clone()),
            ("X-LIVEAGENT-SESSION-KEY", v.key.clone()),
        ]
    }

    fn post(&mut self, v: &mut Visitor, noun: &str, body: &str) -> (u16, String) {
        v.seq += 1;
        let seq = v.seq.to_string();
        self.post_raw(v, noun, body, Some(&seq))
    }

    fn post_raw(
        &mut self,
        v: &Visitor,
        noun: &str,
        body: &str,
        seq: Option<&str>,
    ) -> (u16, String) {
        let mut h = Self::headers(v);
        if let Some(s) = seq {
            h.push(("X-LIVEAGENT-SEQUENCE", s.to_owned()));
        }
        let h: Vec<(&str, &str)> = h.iter().map(|(n, v)| (*n, v.as_str())).collect();
        self.call(req(
            "POST",
            &format!("/chat/rest/Chasitor/{noun}"),
            &h,
            body,
        ))
    }

    /// A poll with the visitor's ack; a 200 batch updates ack and offset. `(0, "")` when held.
    fn poll(&mut self, v: &mut Visitor) -> (u16, String) {
        let path = format!("/chat/rest/System/Messages?ack={}", v.ack);
        self.poll_at(v, &path, None)
    }

    fn poll_at(&mut self, v: &mut Visitor, path: &str, host: Option<&str>) -> (u16, String) {
        let mut h = Self::headers(v);
        if let Some(host) = host {
            h.push(("Host", host.to_owned()));
        }
        let h: Vec<(&str, &str)> = h.iter().map(|(n, v)| (*n, v.as_str())).collect();
        let r = self
            .send(req("GET", path, &h, ""))
            .unwrap_or((0, String::new()));
        if r.0 == 200
            && let Ok(b) = serde_json::from_str::<Value>(&r.1)
        {
            if let Some(s) = b["sequence"].as_i64() {
                v.ack = s;
            }
            if let Some(o) = b["offset"].as_i64() {
                v.offset = o;
            }
        }
        r
    }

    /// A handover and the 503 it brings to the next poll.
    fn handover(&mut self, v: &mut Visitor) {
        assert!(
            self.server
                .inject_fault(&v.id, FaultKind::Handover, self.now)
        );
        assert_eq!(self.poll(v).0, 503);
    }

    fn reconnect(&mut self, v: &mut Visitor, offset: &str) -> (u16, String) {
        let path = format!("/chat/rest/System/ReconnectSession?ReconnectSession.offset={offset}");
        let h = [
            ("X-LIVEAGENT-AFFINITY", "null"),
            ("X-LIVEAGENT-SESSION-KEY", v.key.as_str()),
        ];
        let r = self.call(req("GET", &path, &h, ""));
        if r.0 == 200 {
            let b: Value = serde_json::from_str(&r.1).expect("json");
            v.token = b["messages"][0]["message"]["affinityToken"]
                .as_str()
                .expect("token")
                .to_owned();
            v.seq = 0;
        }
        r
    }

    fn report(&self) -> ConformanceReport {
        self.server.conformance_report()
    }

    fn codes(&self, sev: Severity) -> Vec<String> {
        self.report()
            .codes(sev)
            .into_iter()
            .map(str::to_owned)
            .collect()
    }
}

fn req(method: &str, path: &str, headers: &[(&str, &str)], body: &str) -> http::Request<Vec<u8>> {
    let mut b = http::Request::builder()
        .method(method)
        .uri(path)
        .header("X-LIVEAGENT-API-VERSION", "58");
    for (n, v) in headers {
        b = b.header(*n, *v);
    }
    b.body(body.as_bytes().to_vec()).expect("request")
}

fn init_body(id: &str) -> String {
    format!(
        r#"{{"organizationId":"{ORG}","deploymentId":"572xx","buttonId":"573xx","sessionId":"{id}","userAgent":"t","language":"en-US","screenResolution":"1x1","visitorName":"Jon","prechatDetails":[],"prechatEntities":[],"receiveQueueUpdates":true,"isPost":true}}"#
    )
}

fn msg(text: &str) -> String {
    format!(r#"{{"text":"{text}"}}"#)
}

/// Drives the server into earning `code`; returns the harness for the check.
fn trigger(code: &str) -> H {
    let mut d = Dialect::default();
    if code == codes::RECONNECT_ACK {
        d.reconnect_ack = liveagent::sim::dialect::ReconnectAck::MinusOne;
    }
    if code == codes::RAPID_MESSAGES {
        d.rapid_messages = liveagent::sim::dialect::RapidMessages::Dropped;
    }
    let mut h = H::new(d);
    match code {
        codes::MISSING_SEQUENCE => {
            let v = h.chatting();
            assert_eq!(h.post_raw(&v, "ChatMessage", &msg("a"), None).0, 200);
        }
        codes::INVALID_SEQUENCE => {
            let v = h.chatting();
            assert_eq!(h.post_raw(&v, "ChatMessage", &msg("a"), Some("two")).0, 400);
        }
        codes::SEQUENCE_GAP => {
            let v = h.chatting();
            assert_eq!(h.post_raw(&v, "ChatMessage", &msg("a"), Some("5")).0, 200);
        }
        codes::SEQUENCE_REUSED => {
            let mut v = h.chatting();
            assert_eq!(h.post(&mut v, "ChatMessage", &msg("a")).0, 200);
            assert_eq!(h.post_raw(&v, "ChatMessage", &msg("b"), Some("2")).0, 200);
        }
        codes::RETRY_NEW_SEQUENCE => {
            let mut v = h.chatting();
            assert_eq!(h.post(&mut v, "ChatMessage", &msg("a")).0, 200);
            h.later(Duration::from_secs(1));
            assert_eq!(h.post(&mut v, "ChatMessage", &msg("a")).0, 200);
        }
        codes::SEQUENCE_ON_RESYNC => {
            let mut v = h.chatting();
            h.handover(&mut v);
            let offset = v.offset.to_string();
            assert_eq!(h.reconnect(&mut v, &offset).0, 200);
            let body = format!(r#"{{"organizationId":"{ORG}"}}"#);
            assert_eq!(h.post(&mut v, "ChasitorResyncState", &body).0, 200);
        }
        codes::MISSING_ACK => {
            let mut v = h.chatting();
            assert_eq!(h.poll_at(&mut v, "/chat/rest/System/Messages", None).0, 0);
        }
        codes::ACK_AHEAD => {
            let mut v = h.chatting();
            assert_eq!(
                h.poll_at(&mut v, "/chat/rest/System/Messages?ack=9", None)
                    .0,
                0
            );
        }
        codes::ACK_REGRESSED => {
            let mut v = h.chatting();
            assert_eq!(
                h.poll_at(&mut v, "/chat/rest/System/Messages?ack=-1", None)
                    .0,
                200
            );
        }
        codes::RECONNECT_ACK => {
            let mut v = h.chatting();
            h.handover(&mut v);
            let offset = v.offset.to_string();
            assert_eq!(h.reconnect(&mut v, &offset).0, 200);
            assert_eq!(
                h.poll_at(&mut v, "/chat/rest/System/Messages?ack=7", None)
                    .0,
                400
            );
        }
        codes::DUPLICATE_POLL => {
            let mut v = h.chatting();
            assert_eq!(h.poll(&mut v).0, 0);
            assert_eq!(h.poll(&mut v).0, 409);
        }
        codes::IGNORED_503 => {
            let mut v = h.chatting();
            h.handover(&mut v);
            assert_eq!(h.poll(&mut v).0, 503);
        }
        codes::STALE_AFFINITY => {
            let mut v = h.chatting();
            let before = v.token.clone();
            h.handover(&mut v);
            let offset = v.offset.to_string();
            let after_handover = v.token.clone();
            assert_eq!(before, after_handover);
            assert_eq!(h.reconnect(&mut v, &offset).0, 200);
            v.token = before;
            assert_eq!(h.poll(&mut v).0, 503);
        }
        codes::WRONG_AFFINITY => {
            let mut v = h.chatting();
            v.token = "0badf00d".into();
            assert_eq!(h.poll(&mut v).0, 503);
        }
        codes::RECONNECT_AFFINITY => {
            let mut v = h.chatting();
            h.handover(&mut v);
            let path = format!(
                "/chat/rest/System/ReconnectSession?ReconnectSession.offset={}",
                v.offset
            );
            let hd = [
                ("X-LIVEAGENT-AFFINITY", "0badf00d"),
                ("X-LIVEAGENT-SESSION-KEY", v.key.as_str()),
            ];
            assert_eq!(h.call(req("GET", &path, &hd, "")).0, 400);
        }
        codes::RECONNECT_WITHOUT_503 => {
            let mut v = h.chatting();
            let offset = v.offset.to_string();
            assert_eq!(h.reconnect(&mut v, &offset).0, 405);
        }
        codes::INVALID_OFFSET => {
            let mut v = h.chatting();
            h.handover(&mut v);
            assert_eq!(h.reconnect(&mut v, "soon").0, 400);
        }
        codes::REQUEST_AFTER_403 => {
            let mut v = h.chatting();
            let hd = H::headers(&v);
            let hd: Vec<(&str, &str)> = hd.iter().map(|(n, v)| (*n, v.as_str())).collect();
            let path = format!("/chat/rest/System/SessionId/{}", v.key);
            assert_eq!(h.call(req("DELETE", &path, &hd, "")).0, 200);
            assert_eq!(h.poll(&mut v).0, 403);
            assert_eq!(h.poll(&mut v).0, 403);
        }
        codes::BEFORE_ESTABLISHED => {
            let mut v = h.queued();
            assert_eq!(h.post(&mut v, "ChatMessage", &msg("early")).0, 500);
        }
        codes::MISSING_RESYNC => {
            let mut v = h.chatting();
            h.handover(&mut v);
            let offset = v.offset.to_string();
            assert_eq!(h.reconnect(&mut v, &offset).0, 200);
            assert_eq!(h.post(&mut v, "ChatMessage", &msg("no resync")).0, 200);
        }
        codes::RAPID_MESSAGES => {
            let mut v = h.chatting();
            assert_eq!(h.post(&mut v, "ChatMessage", &msg("one")).0, 200);
            h.later(Duration::from_millis(5));
            assert_eq!(h.post(&mut v, "ChatMessage", &msg("two")).0, 200);
        }
        codes::MISSING_VERSION => {
            let r = http::Request::builder()
                .uri("/chat/rest/System/SessionId")
                .header("X-LIVEAGENT-AFFINITY", "null")
                .body(Vec::new())
                .expect("request");
            assert_eq!(h.call(r).0, 400);
        }
        codes::MALFORMED_BODY => {
            let mut v = h.chatting();
            assert_eq!(h.post(&mut v, "ChatMessage", "{").0, 400);
        }
        codes::BAD_INIT => {
            let mut v = h.queued();
            let body = init_body(&v.id);
            assert_eq!(h.post(&mut v, "ChasitorInit", &body).0, 400);
        }
        codes::WRONG_HOST => {
            let mut v = h.chatting();
            assert!(h.server.inject_fault(&v.id, FaultKind::SwitchServer, h.now));
            assert_eq!(h.poll(&mut v).0, 200);
            let alt = h.server.config().alternate_host.clone();
            let path = format!("/chat/rest/System/Messages?ack={}", v.ack);
            assert_eq!(
                h.poll_at(&mut v, &path, Some(&alt)).0,
                0,
                "held at the new host"
            );
            // The first POST at the old host may have been in flight when the visitor read the switch: it is
            // served there; the next one is not.
            let primary = h.server.config().host.clone();
            for (seq, status) in [("2", 200), ("3", 400)] {
                let mut hd = H::headers(&v);
                hd.push(("Host", primary.clone()));
                hd.push(("X-LIVEAGENT-SEQUENCE", seq.into()));
                let hd: Vec<(&str, &str)> = hd.iter().map(|(n, v)| (*n, v.as_str())).collect();
                let path = "/chat/rest/Chasitor/ChatMessage";
                let r = h.call(req("POST", path, &hd, &msg("old host")));
                assert_eq!(r.0, status, "sequence {seq}");
            }
        }
        codes::BAD_REQUEST => {
            let mut v = h.chatting();
            assert_eq!(
                h.poll_at(&mut v, "/chat/rest/System/Messages?ack=last", None)
                    .0,
                400
            );
        }
        codes::LENIENT_BODY => {
            let mut v = h.open();
            let body = init_body(&v.id).replace(r#""isPost":true"#, r#""isPost":"true""#);
            assert_eq!(h.post(&mut v, "ChasitorInit", &body).0, 200);
        }
        codes::MISSING_FIELD => {
            let mut v = h.open();
            let body = init_body(&v.id).replace(r#""visitorName":"Jon","#, "");
            assert_eq!(h.post(&mut v, "ChasitorInit", &body).0, 200);
        }
        codes::MISSING_AFFINITY => {
            assert_eq!(
                h.call(req("GET", "/chat/rest/System/SessionId", &[], "")).0,
                200
            );
        }
        codes::UNKNOWN_SESSION => {
            let hd = [
                ("X-LIVEAGENT-AFFINITY", "0badf00d"),
                ("X-LIVEAGENT-SESSION-KEY", "no-such-key"),
            ];
            assert_eq!(
                h.call(req("GET", "/chat/rest/System/Messages?ack=-1", &hd, ""))
                    .0,
                403
            );
        }
        codes::UNKNOWN_RESOURCE => {
            assert_eq!(
                h.call(req("GET", "/chat/rest/System/Nothing", &[], "")).0,
                404
            );
        }
        other => panic!("no trigger for {other}"),
    }
    h
}

#[test]
fn every_declared_code_is_emitted_by_a_request_that_earns_it() {
    for code in codes::ALL {
        let h = trigger(code);
        let all: Vec<String> = [Severity::Violation, Severity::Warning]
            .into_iter()
            .flat_map(|s| h.codes(s))
            .collect();
        assert!(
            all.iter().any(|c| c == code),
            "{code}: got {all:?}\n{}",
            h.report().to_text()
        );
    }
}

#[test]
fn the_readme_lists_exactly_the_codes_that_exist() {
    let readme = include_str!("../README.md");
    let listed: Vec<&str> = readme
        .lines()
        .skip_while(|l| !l.starts_with("<!-- finding codes -->"))
        .skip(1)
        .take_while(|l| !l.starts_with("<!-- /finding codes -->"))
        .filter_map(|l| l.strip_prefix("| `")?.split('`').next())
        .collect();
    assert_eq!(listed, codes::ALL);
}

#[test]
fn every_refusal_is_a_finding_and_refusals_outside_sessions_have_their_own_section() {
    let mut h = H::new(Dialect::strict());
    // A SessionId refused (no affinity header under the strict dialect), an unknown path, an unknown key.
    assert_eq!(
        h.call(req("GET", "/chat/rest/System/SessionId", &[], "")).0,
        400
    );
    assert_eq!(
        h.call(req("POST", "/chat/rest/Chasitor/Nothing", &[], "{}"))
            .0,
        404
    );
    let hd = [
        ("X-LIVEAGENT-AFFINITY", "null"),
        ("X-LIVEAGENT-SESSION-KEY", "nope"),
    ];
    assert_eq!(
        h.call(req("GET", "/chat/rest/System/Messages?ack=-1", &hd, ""))
            .0,
        403
    );
    let report = h.report();
    assert!(report.sessions.is_empty());
    let seen: Vec<(u64, &str)> = report
        .outside_sessions
        .iter()
        .map(|f| (f.request, f.code.as_str()))
        .collect();
    assert_eq!(
        seen,
        [
            (1, "missing-affinity"),
            (2, "unknown-resource"),
            (3, "unknown-session")
        ]
    );
    // The numbers are the transcript's.
    let transcript = h.server.transcript_text();
    for (n, _) in seen {
        assert!(
            transcript.contains(&format!("#{n} ")),
            "#{n} in\n{transcript}"
        );
    }
    let text = report.to_text();
    assert!(text.contains("outside sessions: 3 violation(s)"), "{text}");
    let json = serde_json::to_value(&report).expect("json");
    assert_eq!(
        json["outside_sessions"][0]["request_line"],
        "GET /chat/rest/System/SessionId"
    );
}

#[test]
fn findings_carry_the_transcripts_request_numbers() {
    let mut h = H::new(Dialect::default());
    let _other = h.open(); // #1
    let v = h.chatting(); // #2 SessionId, #3 Init, #4 poll, #5 poll
    assert_eq!(h.post_raw(&v, "ChatMessage", &msg("x"), None).0, 200); // #6
    let report = h.report();
    let f = &report.sessions[1].warnings[0];
    assert_eq!((f.request, f.code.as_str()), (6, "missing-sequence"));
    let line = h
        .server
        .transcript()
        .iter()
        .find(|l| l.text.contains("ChatMessage"))
        .expect("the POST's line");
    assert_eq!(line.ticket.map(|t| t.0), Some(6));
}

#[test]
fn completed_means_the_visitor_ended_it_or_the_final_message_was_delivered() {
    let mut h = H::new(Dialect::default());
    // ChatEnd accepted, never polled again: completed.
    let mut a = h.chatting();
    assert_eq!(h.post(&mut a, "ChatEnd", r#"{"reason":"client"}"#).0, 200);
    // DELETE accepted: completed.
    let b = h.chatting();
    let hd = H::headers(&b);
    let hd: Vec<(&str, &str)> = hd.iter().map(|(n, v)| (*n, v.as_str())).collect();
    assert_eq!(
        h.call(req(
            "DELETE",
            &format!("/chat/rest/System/SessionId/{}", b.key),
            &hd,
            ""
        ))
        .0,
        200
    );
    // Ended by the agent, never polled for it: not completed.
    let c = h.chatting();
    assert!(h.server.agent_act(&c.id, AgentAction::End, h.now));
    // Never requested a chat.
    let _d = h.open();
    let report = h.report();
    let got: Vec<(bool, &str)> = report
        .sessions
        .iter()
        .map(|s| (s.completed, s.end.as_str()))
        .collect();
    assert_eq!(
        got,
        [
            (true, "ended by the visitor (ChatEnd accepted)"),
            (true, "ended by the visitor (DELETE SessionId accepted)"),
            (false, "ended by the agent and never polled for ChatEnded"),
            (
                false,
                "never requested a chat (no ChasitorInit); still open"
            ),
        ]
    );
}

/// The request bodies production clients sent, each as the default dialect and the strict one read it.
#[test]
fn production_request_bodies_are_accepted_by_default_and_refused_with_a_finding_when_strict() {
    struct Case {
        what: &'static str,
        noun: &'static str,
        /// `{id}` is replaced by the session id.
        body: &'static str,
        warnings: &'static [&'static str],
    }
    let cases = [
        Case {
            what: "web-chat handoff: no sessionId, no visitorName",
            noun: "ChasitorInit",
            body: r#"{"organizationId":"00Dxx0000001gPL","deploymentId":"572xx","buttonId":"573xx","userAgent":"Mozilla/5.0","language":"en-US","screenResolution":"768X1024","prechatDetails":[{"label":"Name","value":"Jon","displayToAgent":true,"transcriptFields":[],"entityMaps":[]}],"prechatEntities":[],"receiveQueueUpdates":true,"isPost":true}"#,
            warnings: &["missing-field", "missing-field"],
        },
        Case {
            what: "bot platform: booleans as strings",
            noun: "ChasitorInit",
            body: r#"{"organizationId":"00Dxx0000001gPL","deploymentId":"572xx","buttonId":"573xx","sessionId":"{id}","userAgent":"bot","language":"en","screenResolution":"768X1024","visitorName":"Jon","prechatDetails":[],"prechatEntities":[{"entityName":"Case","showOnCreate":"true","entityFieldsMaps":[{"fieldName":"Subject","label":"Subject","doFind":"false","isExactMatch":"false","doCreate":"true"}]}],"receiveQueueUpdates":"true","isPost":"true"}"#,
            warnings: &["lenient-body"; 6],
        },
        Case {
            what: "bot platform: unknown fields",
            noun: "ChasitorInit",
            body: r#"{"organizationId":"00Dxx0000001gPL","deploymentId":"572xx","buttonId":"573xx","sessionId":"{id}","userAgent":"bot","language":"en","screenResolution":"1x1","visitorName":"Jon","prechatDetails":[],"prechatEntities":[],"receiveQueueUpdates":true,"isPost":true,"trackingId":"","bridgeVersion":"2.1"}"#,
            warnings: &[],
        },
    ];
    for case in &cases {
        for (dialect, strict) in [(Dialect::default(), false), (Dialect::strict(), true)] {
            let mut h = H::new(dialect);
            // SessionId with the literal null: both dialects take it.
            let mut v = h.open();
            let body = case.body.replace("{id}", &v.id);
            let (status, answer) = h.post(&mut v, case.noun, &body);
            let warnings = h.codes(Severity::Warning);
            let violations = h.codes(Severity::Violation);
            let refused = strict && !case.warnings.is_empty();
            if refused {
                assert_eq!(status, 400, "{}: {answer}", case.what);
                assert_eq!(violations, ["malformed-body"], "{}", case.what);
            } else {
                assert!(
                    (200..300).contains(&status),
                    "{}: {status} {answer}",
                    case.what
                );
                assert_eq!(warnings, case.warnings, "{}", case.what);
                assert!(violations.is_empty(), "{}: {violations:?}", case.what);
                assert_eq!(h.poll(&mut v).0, 200, "{}: ChatRequestSuccess", case.what);
            }
        }
    }
}
