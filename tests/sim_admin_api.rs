//! The simulator's admin API under `/__sim/`, on the sans-IO server alone (raw `http::Request`s): every route
//! does what it says, bad input gets a 4xx with a message and changes nothing, and it can be turned off.
//! `tools/sim-server/tests/admin_loopback.rs` and `tests/node/admin_api.test.mjs` drive the same routes over
//! loopback.

use liveagent::Timestamp;
use liveagent::sim::{AgentScript, Reply, Server, SessionState, SimConfig};
use serde_json::{Value, json};

struct H {
    server: Server,
    now: Timestamp,
}

impl H {
    fn new(config: SimConfig) -> H {
        H {
            server: Server::new(config.with_agent(AgentScript::idle()), Timestamp::ZERO),
            now: Timestamp::ZERO,
        }
    }

    fn call(
        &mut self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: &str,
    ) -> (u16, String) {
        let mut b = http::Request::builder().method(method).uri(path);
        for (n, v) in headers {
            b = b.header(*n, *v);
        }
        let req = b.body(body.as_bytes().to_vec()).expect("request");
        let ticket = self.server.handle_request(&req, self.now);
        let mut found = None;
        while let Some((t, reply)) = self.server.poll_reply(self.now) {
            if t == ticket {
                found = Some(reply);
            }
        }
        match found {
            Some(Reply::Response(r)) => (
                r.status().as_u16(),
                String::from_utf8_lossy(r.body()).into_owned(),
            ),
            _ => (0, String::new()),
        }
    }

    fn admin(&mut self, method: &str, path: &str, body: &str) -> (u16, Value) {
        let (status, text) = self.call(method, &format!("/__sim/{path}"), &[], body);
        (
            status,
            serde_json::from_str(&text).unwrap_or(Value::String(text)),
        )
    }

    /// SessionId and ChasitorInit: a queued chat; returns (id, key, token).
    fn queued(&mut self) -> (String, String, String) {
        let v = [
            ("X-LIVEAGENT-API-VERSION", "59"),
            ("X-LIVEAGENT-AFFINITY", "null"),
        ];
        let (status, body) = self.call("GET", "/chat/rest/System/SessionId", &v, "");
        assert_eq!(status, 200);
        let s: Value = serde_json::from_str(&body).expect("json");
        let (id, key, token) = (
            s["id"].as_str().expect("id").to_owned(),
            s["key"].as_str().expect("key").to_owned(),
            s["affinityToken"].as_str().expect("token").to_owned(),
        );
        let init = json!({"organizationId": "00D", "deploymentId": "572", "buttonId": "573", "sessionId": id,
            "userAgent": "t", "language": "en", "screenResolution": "1x1", "visitorName": "Ada",
            "prechatDetails": [], "prechatEntities": [], "receiveQueueUpdates": true, "isPost": true});
        let h = [
            ("X-LIVEAGENT-API-VERSION", "59"),
            ("X-LIVEAGENT-SESSION-KEY", key.as_str()),
            ("X-LIVEAGENT-AFFINITY", token.as_str()),
            ("X-LIVEAGENT-SEQUENCE", "1"),
        ];
        let (status, _) = self.call(
            "POST",
            "/chat/rest/Chasitor/ChasitorInit",
            &h,
            &init.to_string(),
        );
        assert!((200..300).contains(&status), "{status}");
        (id, key, token)
    }

    fn poll(&mut self, key: &str, token: &str, ack: i64) -> (u16, String) {
        let h = [
            ("X-LIVEAGENT-API-VERSION", "59"),
            ("X-LIVEAGENT-SESSION-KEY", key),
            ("X-LIVEAGENT-AFFINITY", token),
        ];
        self.call(
            "GET",
            &format!("/chat/rest/System/Messages?ack={ack}"),
            &h,
            "",
        )
    }

    fn state(&self, id: &str) -> SessionState {
        self.server.session(id).expect("known").state
    }
}

#[test]
fn the_agent_acts_through_the_admin_api_and_the_visitor_receives_it() {
    let mut h = H::new(SimConfig::default());
    let (id, key, token) = h.queued();
    assert_eq!(h.admin("POST", &format!("sessions/{id}/accept"), "").0, 200);
    assert_eq!(
        h.admin("POST", &format!("sessions/{id}/say"), r#"{"text":"Hi"}"#)
            .0,
        200
    );
    assert_eq!(h.admin("POST", &format!("sessions/{id}/typing"), "").0, 200);
    assert_eq!(
        h.admin("POST", &format!("sessions/{id}/not-typing"), "").0,
        200
    );
    assert_eq!(
        h.admin(
            "POST",
            &format!("sessions/{id}/transfer"),
            r#"{"name":"Bo"}"#
        )
        .0,
        200
    );
    assert_eq!(
        h.admin("POST", &format!("sessions/{id}/request-file"), "")
            .0,
        200
    );
    let action = r#"{"CustomEvent": {"kind": "k", "data": "d"}}"#;
    assert_eq!(
        h.admin("POST", &format!("sessions/{id}/action"), action).0,
        200
    );
    let (status, body) = h.poll(&key, &token, -1);
    assert_eq!(status, 200);
    let batch: Value = serde_json::from_str(&body).expect("json");
    let kinds: Vec<&str> = batch["messages"]
        .as_array()
        .expect("messages")
        .iter()
        .map(|m| m["type"].as_str().unwrap_or("?"))
        .collect();
    assert_eq!(
        kinds,
        [
            "ChatRequestSuccess",
            "ChatEstablished",
            "ChatMessage",
            "AgentTyping",
            "AgentNotTyping",
            "ChatTransferred",
            "FileTransfer",
            "CustomEvent"
        ]
    );
    assert_eq!(batch["messages"][2]["message"]["text"], "Hi");
    // A handover now: the visitor's next poll with its token gets 503.
    assert_eq!(
        h.admin("POST", &format!("sessions/{id}/handover"), "").0,
        200
    );
    assert_eq!(h.poll(&key, &token, 7).0, 503);
    assert_eq!(h.admin("POST", &format!("sessions/{id}/end"), "").0, 200);
    assert_eq!(
        h.state(&id),
        SessionState::Ending(liveagent::sim::ServerEnd::Agent)
    );
}

#[test]
fn sessions_report_and_reset() {
    let mut h = H::new(SimConfig::default());
    let (id, key, token) = h.queued();
    let (status, list) = h.admin("GET", "sessions", "");
    assert_eq!(status, 200);
    assert_eq!(list[0]["id"], id.as_str());
    assert_eq!(list[0]["state"], "queued");
    let (status, one) = h.admin("GET", &format!("sessions/{id}"), "");
    assert_eq!(status, 200);
    assert_eq!(one["visitor_events"][0], r#"Init { visitor_name: "Ada" }"#);
    assert!(
        one["transcript"]
            .as_array()
            .expect("lines")
            .iter()
            .any(|l| l.as_str().unwrap_or("").contains("ChasitorInit")),
        "{one}"
    );
    let (status, report) = h.admin("GET", "report", "");
    assert_eq!(status, 200);
    assert_eq!(report["sessions"][0]["id"], id.as_str());
    // A held poll is answered 403 by the reset; afterwards nothing is left.
    let (held, _) = h.poll(&key, &token, 0);
    assert_eq!(held, 0, "held");
    assert_eq!(h.admin("POST", "reset", "").0, 200);
    assert_eq!(h.admin("GET", "sessions", "").1, json!([]));
    assert_eq!(h.admin("GET", "report", "").1["sessions"], json!([]));
    assert!(h.server.session(&id).is_none());
}

#[test]
fn a_scenario_put_applies_to_the_next_sessions() {
    let mut h = H::new(SimConfig::default());
    let scenario = json!({
        "dialect": {"post-success": "204"},
        "agent": {"queue_position": 3, "steps": [{"after": {"secs": 0, "nanos": 0}, "action": "Accept"}]},
        "faults": {"faults": []}
    });
    let (status, now) = h.admin("PUT", "scenario", &scenario.to_string());
    assert_eq!(status, 200, "{now}");
    assert_eq!(now["dialect"]["post-success"], "204");
    assert_eq!(h.admin("GET", "scenario", "").1, now);
    let (id, _, _) = h.queued();
    h.server.handle_timeout(h.now);
    assert_eq!(h.state(&id), SessionState::Chatting);
    let (status, named) = h.admin("PUT", "scenario", r#"{"dialect": "strict"}"#);
    assert_eq!(status, 200);
    assert_eq!(named["dialect"]["sequence-rule"], "consecutive");
}

#[test]
fn bad_admin_input_gets_a_4xx_with_a_message_and_changes_nothing() {
    let mut h = H::new(SimConfig::default());
    let (id, _, _) = h.queued();
    let before = h.admin("GET", "scenario", "").1;
    let record = h.server.session(&id).cloned();
    let cases: &[(&str, String, &str, u16)] = &[
        ("PUT", "scenario".into(), "{not json", 400),
        (
            "PUT",
            "scenario".into(),
            r#"{"dialect": {"sequence-rule": "sometimes"}}"#,
            400,
        ),
        ("PUT", "scenario".into(), r#"{"dialect": "nonsense"}"#, 400),
        ("PUT", "scenario".into(), r#"{"agnet": {}}"#, 400),
        ("PUT", "scenario".into(), "", 400),
        ("POST", format!("sessions/{id}/say"), r#"{"txt": "x"}"#, 400),
        (
            "POST",
            format!("sessions/{id}/say"),
            r#"{"text": "before accepting"}"#,
            409,
        ),
        ("POST", format!("sessions/{id}/typing"), "", 409),
        ("POST", format!("sessions/{id}/dance"), "", 404),
        (
            "POST",
            format!("sessions/{id}/action"),
            r#"{"Fly": {}}"#,
            400,
        ),
        ("POST", "sessions/no-such-id/accept".into(), "", 404),
        ("GET", "sessions/no-such-id".into(), "", 404),
        ("DELETE", "report".into(), "", 405),
        ("GET", "reset".into(), "", 405),
        ("GET", "nothing-here".into(), "", 404),
    ];
    for (method, path, body, want) in cases {
        let (status, answer) = h.admin(method, path, body);
        assert_eq!(status, *want, "{method} {path} {body}: {answer}");
        assert!(
            answer["error"].as_str().is_some_and(|e| !e.is_empty()),
            "{method} {path}: {answer}"
        );
    }
    assert_eq!(h.admin("GET", "scenario", "").1, before);
    assert_eq!(h.server.session(&id).cloned(), record);
    assert_eq!(h.state(&id), SessionState::Queued);
    // Admin requests are not the client's: no finding.
    let report = h.server.conformance_report();
    assert_eq!(report.violations(), 0);
}

#[test]
fn the_admin_api_can_be_turned_off() {
    let mut h = H::new(SimConfig {
        admin_api: false,
        ..SimConfig::default()
    });
    let (status, _) = h.call(
        "GET",
        "/__sim/report",
        &[("X-LIVEAGENT-API-VERSION", "59")],
        "",
    );
    assert_eq!(status, 404);
    let report = h.server.conformance_report();
    assert_eq!(report.outside_sessions[0].code, "unknown-resource");
}
