//! The JSON boundary's schema, pinned: the JSON of every `Output`, `Event`, `EndReason`, failure and error
//! variant is in a snapshot, so any change to the serialised form shows in review (docs/boundary.md describes
//! it; `SCHEMA_VERSION` must be bumped for a change an older reader cannot take). Also: configuration errors
//! name their field, bad input across the boundary is a typed error, and nothing meant for logs carries the
//! session key or affinity token.

use liveagent::boundary::{
    self, BoundaryError, ErrorCode, JsonPair, JsonSession, SCHEMA_VERSION, end_reason_json,
    event_json, output_json, output_value,
};
use liveagent::wire::{
    AgentInfo, AgentMessage, BuildError, ChasitorSessionData, ChatEndReason, DecodeError, Endpoint,
    IdleTimeoutSettings, Message, Schedule, ServerError, TranscriptEntry,
};
use liveagent::{
    CommandId, EndReason, Event, Failure, OutgoingRequest, Output, RedirectRefusal, RequestId,
    RequestKind, Timestamp, TransportError,
};

const CONFIG: &str = r#"{"endpoint": "https://d.la1-c1-phx.salesforceliveagent.com",
    "organizationId": "00D000000000001", "deploymentId": "572000000000001", "buttonId": "573000000000001"}"#;

fn endpoint(url: &str) -> Endpoint {
    Endpoint::parse(url).expect("endpoint")
}

fn server_error() -> ServerError {
    ServerError::parse(500, b"Internal Server Error")
}

fn agent() -> AgentInfo {
    let mut a = AgentInfo::default();
    a.name = Some("Andy L.".into());
    a.user_id = Some("005B0000000F3b2".into());
    a.sneak_peek_enabled = Some(true);
    let mut idle = IdleTimeoutSettings::default();
    idle.is_enabled = Some(true);
    idle.warning_time = Some(60);
    idle.timeout = Some(120);
    a.chasitor_idle_timeout = Some(idle);
    a
}

fn every_failure() -> Vec<(&'static str, Failure)> {
    vec![
        (
            "transport",
            Failure::Transport(TransportError::ConnectRefused),
        ),
        ("noAnswer", Failure::NoAnswer),
        (
            "server outOfSync",
            Failure::Server(ServerError::parse(
                409,
                b"Out of sync Ack. Expected 4. Actual 6",
            )),
        ),
        ("server status", Failure::Server(server_error())),
        (
            "decode tooLarge",
            Failure::Decode(DecodeError::TooLarge {
                what: "Messages",
                len: 2_000_000,
                limit: 1_048_576,
            }),
        ),
        (
            "decode tooManyMessages",
            Failure::Decode(DecodeError::TooManyMessages {
                what: "Messages",
                len: 900,
                limit: 500,
            }),
        ),
        (
            "decode eventsTooLarge",
            Failure::Decode(DecodeError::EventsTooLarge {
                what: "Messages",
                bytes: 61_504_000,
                limit: 4_194_304,
            }),
        ),
        (
            "decode unexpectedStatus",
            Failure::Decode(DecodeError::UnexpectedStatus {
                what: "Messages",
                status: 201,
                snippet: "{}".into(),
            }),
        ),
        (
            "decode json",
            Failure::Decode(DecodeError::Json {
                what: "Messages",
                status: 200,
                line: 1,
                column: 14,
                reason: "expected value".into(),
                snippet: "{\"messages\":[x".into(),
            }),
        ),
        (
            "decode invalid",
            Failure::Decode(DecodeError::Invalid {
                what: "SessionId",
                reason: "empty key".into(),
            }),
        ),
    ]
}

fn every_end_reason() -> Vec<(&'static str, EndReason)> {
    let mut out = vec![
        (
            "visitorEnded",
            EndReason::VisitorEnded {
                attached_records: Some(serde_json::json!(["500xx0000001"])),
            },
        ),
        (
            "agentEnded",
            EndReason::AgentEnded {
                reason: Some(ChatEndReason::Agent),
                attached_records: None,
            },
        ),
        (
            "requestFailed",
            EndReason::RequestFailed {
                reason: Some("Unavailable".into()),
            },
        ),
        ("idleTimeout", EndReason::IdleTimeout),
        (
            "sessionInvalid",
            EndReason::SessionInvalid {
                request: RequestKind::Messages,
                error: ServerError::parse(403, b"Session required but was invalid or not found"),
            },
        ),
        (
            "conflict",
            EndReason::Conflict {
                request: RequestKind::Messages,
                error: ServerError::parse(409, b"Duplicate Long Polling"),
            },
        ),
        (
            "rejected",
            EndReason::Rejected {
                request: RequestKind::Chat,
                error: ServerError::parse(400, b"Bad Request"),
            },
        ),
        (
            "redirectRefused",
            EndReason::RedirectRefused {
                target: endpoint("https://attacker.example"),
                reason: RedirectRefusal::ForeignHost,
            },
        ),
        (
            "switchUndecided",
            EndReason::SwitchUndecided {
                target: endpoint("http://other.example"),
                reason: RedirectRefusal::NotHttps,
            },
        ),
        (
            "badSequence",
            EndReason::BadSequence {
                previous: Some(3),
                sequence: 9_000_000_000,
            },
        ),
        (
            "counterExhausted",
            EndReason::CounterExhausted {
                counter: "X-LIVEAGENT-SEQUENCE",
            },
        ),
        (
            "missingCredentials",
            EndReason::MissingCredentials {
                request: RequestKind::ChasitorInit,
            },
        ),
    ];
    for (name, error) in [
        (
            "protocol invalidEndpoint",
            BuildError::InvalidEndpoint {
                reason: "no host".into(),
            },
        ),
        (
            "protocol invalidHeader",
            BuildError::InvalidHeader {
                header: "x-liveagent-affinity",
            },
        ),
        (
            "protocol invalidUri",
            BuildError::InvalidUri {
                resource: "System/Messages",
            },
        ),
        (
            "protocol body",
            BuildError::Body {
                reason: "key must be a string".into(),
            },
        ),
    ] {
        out.push((
            name,
            EndReason::Protocol {
                request: RequestKind::Messages,
                error,
            },
        ));
    }
    for (name, last) in every_failure() {
        out.push((
            name,
            EndReason::GaveUp {
                request: RequestKind::SessionId,
                attempts: 8,
                last,
            },
        ));
    }
    out
}

fn every_event() -> Vec<(&'static str, Event)> {
    let mut message = AgentMessage::default();
    message.name = Some("Andy L.".into());
    message.text = "Hello, how can I help you?".into();
    message.agent_id = Some("005B0000000F3b2".into());
    let mut schedule = Schedule::default();
    schedule.response_delay_milliseconds = Some(1500.0);
    message.schedule = Some(schedule);
    let mut data = ChasitorSessionData::default();
    data.queue_position = Some(0);
    data.sneak_peek_enabled = Some(true);
    let mut entry = TranscriptEntry::default();
    entry.kind = Some("Chasitor".into());
    entry.content = Some("my parcel".into());
    data.chat_messages = Some(vec![entry]);
    let mut out = vec![
        ("chatRequested", Event::ChatRequested),
        (
            "queued",
            Event::Queued {
                position: Some(2),
                estimated_wait_secs: Some(-1.0),
            },
        ),
        (
            "queueUpdate",
            Event::QueueUpdate {
                position: Some(1),
                estimated_wait_secs: None,
            },
        ),
        ("chatEstablished", Event::ChatEstablished(agent())),
        (
            "chatTransferred",
            Event::ChatTransferred(AgentInfo::default()),
        ),
        ("agentDisconnected", Event::AgentDisconnected),
        ("agentMessage", Event::AgentMessage(message)),
        ("agentTyping", Event::AgentTyping(true)),
        ("sessionRestored", Event::SessionRestored(Box::new(data))),
        (
            "serverSwitched",
            Event::ServerSwitched(endpoint("https://d.la2-c2-phx.salesforceliveagent.com")),
        ),
        (
            "switchOffered",
            Event::SwitchOffered {
                offer: liveagent::SwitchOfferId(1),
                endpoint: endpoint("https://chat.other.example"),
                reason: RedirectRefusal::ForeignHost,
                decide_by: Timestamp::from_millis(31_000),
            },
        ),
        (
            "sequenceReset",
            Event::SequenceReset {
                previous: 7,
                sequence: 1,
            },
        ),
        (
            "delivered",
            Event::Delivered(vec![CommandId(1), CommandId(2)]),
        ),
        (
            "deliveryUncertain",
            Event::DeliveryUncertain(vec![CommandId(3)]),
        ),
        ("undelivered", Event::Undelivered(vec![CommandId(4)])),
        (
            "idleWarning",
            Event::IdleWarning {
                ends_at: Timestamp::from_millis_f64(120_000.25).expect("time"),
            },
        ),
        ("idleWarningCleared", Event::IdleWarningCleared),
        (
            "message customEvent",
            Event::Message(Message::decode(
                "CustomEvent",
                r#"{"type":"survey","data":"{\"id\":1}"}"#,
            )),
        ),
        (
            "message fileTransfer",
            Event::Message(Message::decode(
                "FileTransfer",
                r#"{"type":"Requested","uploadServletUrl":"https://x.salesforce.com/content/rest/fileupload","fileToken":"tok1","cdmServletUrl":"https://x.salesforce.com/cdm"}"#,
            )),
        ),
        (
            "message unknown (secret fields redacted)",
            Event::Message(Message::decode(
                "SomethingNew",
                r#"{"a":1,"affinityToken":"AFF-SECRET","nested":{"key":"KEY-SECRET"}}"#,
            )),
        ),
        (
            "message invalid",
            Event::Message(Message::decode("ChatMessage", r#"{"text": 5}"#)),
        ),
        (
            "ended",
            Event::Ended(EndReason::VisitorEnded {
                attached_records: None,
            }),
        ),
    ];
    for (name, cause) in every_failure() {
        out.push((
            name,
            Event::Retrying {
                request: RequestKind::Messages,
                attempt: 2,
                at: Timestamp::from_millis(41_500),
                cause,
            },
        ));
    }
    out
}

fn lines(items: Vec<(String, String)>) -> String {
    let mut out = String::new();
    for (name, json) in items {
        out.push_str(&format!("{name}:\n  {json}\n"));
    }
    out
}

#[test]
fn the_schema_version_is_one() {
    assert_eq!(SCHEMA_VERSION, 1);
}

#[test]
fn every_event_variant() {
    let items = every_event()
        .into_iter()
        .map(|(name, e)| (name.to_owned(), event_json(&e).expect("json")))
        .collect();
    insta::assert_snapshot!("events", lines(items));
}

#[test]
fn every_end_reason_variant() {
    let items = every_end_reason()
        .into_iter()
        .map(|(name, r)| (name.to_owned(), end_reason_json(&r).expect("json")))
        .collect();
    insta::assert_snapshot!("end_reasons", lines(items));
}

fn request(kind: RequestKind, method: &str, uri: &str, body: Vec<u8>) -> OutgoingRequest {
    let http = http::Request::builder()
        .method(method)
        .uri(uri)
        .header("x-liveagent-api-version", "59")
        .header("x-liveagent-session-key", "SESSION-KEY!abc")
        .header("x-liveagent-affinity", "AFFINITY-TOKEN")
        .header("x-liveagent-sequence", "2")
        .body(body)
        .expect("request");
    OutgoingRequest {
        id: RequestId(7),
        kind,
        http,
        deadline: Timestamp::from_millis_f64(30_000.5).expect("time"),
    }
}

#[test]
fn every_output_variant() {
    let outputs = vec![
        (
            "request with a JSON body",
            Output::Request(request(
                RequestKind::Chat,
                "POST",
                "https://d.la1-c1-phx.salesforceliveagent.com/chat/rest/Chasitor/ChatMessage",
                br#"{"text":"hi"}"#.to_vec(),
            )),
        ),
        (
            "request without a body",
            Output::Request(request(
                RequestKind::Messages,
                "GET",
                "https://d.la1-c1-phx.salesforceliveagent.com/chat/rest/System/Messages?ack=3&pc=4",
                Vec::new(),
            )),
        ),
        (
            "request with a body that is not UTF-8",
            Output::Request(request(
                RequestKind::Chat,
                "POST",
                "https://d.la1-c1-phx.salesforceliveagent.com/chat/rest/Chasitor/ChatMessage",
                vec![0xff, 0xfe, 0x00],
            )),
        ),
        ("event", Output::Event(Event::AgentTyping(false))),
        (
            "wait",
            Output::Wait(Some(Timestamp::from_millis_f64(1234.1).expect("time"))),
        ),
        ("wait after the end", Output::Wait(None)),
    ];
    let mut items: Vec<(String, String)> = outputs
        .into_iter()
        .map(|(name, o)| (name.to_owned(), output_json(&o).expect("json")))
        .collect();
    // The first output of a real session: the SessionId request.
    let mut s = JsonSession::new(CONFIG, 0.0).expect("session");
    items.push((
        "a new session's first output".into(),
        s.poll_output(0.0).expect("output"),
    ));
    items.push((
        "its next output".into(),
        s.poll_output(0.0).expect("output"),
    ));
    insta::assert_snapshot!("outputs", lines(items));
}

fn code(r: Result<impl std::fmt::Debug, BoundaryError>) -> BoundaryError {
    r.expect_err("an error")
}

#[test]
fn every_error_code() {
    let mut s = JsonSession::new(CONFIG, 0.0).expect("session");
    let mut items: Vec<(String, BoundaryError)> = vec![
        ("invalidConfig".into(), code(JsonSession::new("{", 0.0))),
        (
            "invalidSnapshot".into(),
            code(JsonSession::resume(CONFIG, "[]", 0.0)),
        ),
        ("invalidTime".into(), code(s.poll_output(f64::NAN))),
        (
            "invalidArgument".into(),
            code(s.handle_transport_error(1, "exploded", 0.0)),
        ),
        (
            "unknownRequest".into(),
            code(s.handle_response(99, 200, "", b"", 0.0)),
        ),
        (
            "invalidUtf8".into(),
            code(boundary::utf8(b"caf\xe9", "the text")),
        ),
        ("command".into(), code(s.send_message(""))),
    ];
    s.end().expect("end");
    items.push(("ended".into(), code(s.send_message("late"))));
    let mut pair = JsonPair::new(CONFIG, r#"{"agent": "idle"}"#).expect("pair");
    items.push(("simulation".into(), code(pair.run())));
    let text = items
        .into_iter()
        .map(|(name, e)| (name, e.to_json()))
        .collect();
    insta::assert_snapshot!("errors", lines(text));
}

#[test]
fn configuration_errors_name_the_field() {
    let cases = [
        ("{", "the configuration is not valid JSON"),
        (
            "[]",
            "the configuration must be a JSON object, not an array",
        ),
        (
            r#"{"organizationId":"a","deploymentId":"b","buttonId":"c"}"#,
            "field `endpoint`: missing",
        ),
        (
            r#"{"endpoint":"ftp://x","organizationId":"a","deploymentId":"b","buttonId":"c"}"#,
            "field `endpoint`: invalid endpoint",
        ),
        (
            r#"{"endpoint":"https://x.example","organizationId":5,"deploymentId":"b","buttonId":"c"}"#,
            "field `organizationId`: invalid type: integer `5`, expected a string",
        ),
        (
            r#"{"endpoint":"https://x.example","organizationId":"a","deploymentId":"b","buttonId":"c","retry":{"maxAttempts":"x"}}"#,
            "field `retry.maxAttempts`: invalid type",
        ),
        (
            r#"{"endpoint":"https://x.example","organizationId":"a","deploymentId":"b","buttonId":"c","retry":{"maxAttemps":3}}"#,
            "field `retry.maxAttemps`: unknown field",
        ),
        (
            r#"{"endpoint":"https://x.example","organizationId":"a","deploymentId":"b","buttonId":"c","requestTimeoutMs":-1}"#,
            "field `requestTimeoutMs`: must be a finite, non-negative number",
        ),
        (
            r#"{"endpoint":"https://x.example","organizationId":"a","deploymentId":"b","buttonId":"c","redirect":"sometimes"}"#,
            "field `redirect`: unknown policy \"sometimes\"",
        ),
        (
            r#"{"endpoint":"https://x.example","organizationId":"a","deploymentId":"b","buttonId":"c","version":2}"#,
            "field `version`: schema version 2 is not supported",
        ),
        (
            r#"{"endpoint":"https://x.example","organizationId":"a","deploymentId":"b","buttonId":"c","visitor":{"name":["x"]}}"#,
            "field `visitor.name`: invalid type: sequence",
        ),
    ];
    for (json, expected) in cases {
        let e = code(boundary::config_from_json(json));
        assert_eq!(e.code, ErrorCode::InvalidConfig, "{json}");
        assert!(
            e.message.starts_with(expected),
            "{json}: {:?} does not start with {expected:?}",
            e.message
        );
    }
}

#[test]
fn configuration_defaults_and_every_field() {
    let c = boundary::config_from_json(CONFIG).expect("config");
    let d = liveagent::Config::new(
        endpoint("https://d.la1-c1-phx.salesforceliveagent.com"),
        "00D000000000001",
        "572000000000001",
        "573000000000001",
    );
    assert_eq!(
        c, d,
        "only the four required fields: every other is the default"
    );
    let full = r#"{"version": 1, "endpoint": "http://127.0.0.1:8080", "organizationId": "o", "deploymentId": "d",
        "buttonId": "b", "apiVersion": 60, "agentId": "005x", "doFallback": true, "buttonOverrides": ["573y"],
        "visitor": {"name": "Ann", "userAgent": "ua", "language": "fr", "screenResolution": "800x600"},
        "prechatDetails": [{"label": "Email", "value": "a@b.c", "transcriptFields": ["Email__c"], "displayToAgent": true}],
        "prechatEntities": [], "receiveQueueUpdates": false, "sendPollCounter": false,
        "retry": {"initialBackoffMs": 250, "maxBackoffMs": 4000, "maxAttempts": 3, "jitterPercent": 0},
        "pollMarginMs": 1000, "defaultClientPollTimeoutMs": 20000, "requestTimeoutMs": 5000.5,
        "messageSpacingMs": 0, "maxBatch": 4, "maxQueuedCommands": 10, "maxTextBytes": 100,
        "enforceIdleTimeout": false,
        "limits": {"maxBodyBytes": 1000, "maxMessagesPerBatch": 5, "maxUndrainedEvents": 6, "maxCommandBytes": 7,
                   "maxCommandItems": 8, "maxUndrainedEventBytes": 9},
        "redirect": {"alsoAllow": ["example.net"]}, "uploadHosts": ["acme.my.salesforce.com"], "seed": 42}"#;
    let c = boundary::config_from_json(full).expect("config");
    insta::assert_debug_snapshot!("config_every_field", c);
}

#[test]
fn bad_times_are_typed_errors() {
    let mut s = JsonSession::new(CONFIG, 0.0).expect("session");
    for t in [
        f64::NAN,
        f64::INFINITY,
        f64::NEG_INFINITY,
        -1.0,
        -0.001,
        1e300,
        boundary::MAX_TIME_MS * 2.0,
    ] {
        let e = code(s.poll_output(t));
        assert_eq!(e.code, ErrorCode::InvalidTime, "{t}");
        assert!(
            e.message.starts_with("nowMs must be a finite"),
            "{}",
            e.message
        );
        assert_eq!(code(s.handle_timeout(t)).code, ErrorCode::InvalidTime);
        assert_eq!(
            code(JsonSession::new(CONFIG, t)).code,
            ErrorCode::InvalidTime
        );
    }
    // The session is unchanged: its first request is still the SessionId one.
    assert!(
        s.poll_output(boundary::MAX_TIME_MS)
            .expect("output")
            .contains(r#""kind":"sessionId""#)
    );
}

#[test]
fn bad_arguments_are_typed_errors_and_change_nothing() {
    let mut s = JsonSession::new(CONFIG, 0.0).expect("session");
    let first = s.poll_output(0.0).expect("output");
    assert!(first.contains(r#""id":1,"kind":"sessionId""#), "{first}");
    for (headers, status) in [
        ("{", 200),
        (r#"{"a": 1}"#, 200),
        (r#"[["bad name", "x"]]"#, 200),
        (r#"{"x": "line\nbreak"}"#, 200),
        ("5", 200),
        ("{}", 42),
        ("{}", 1000),
    ] {
        let e = code(s.handle_response(1, status, headers, b"", 0.0));
        assert_eq!(
            e.code,
            ErrorCode::InvalidArgument,
            "{headers} {status}: {e}"
        );
    }
    assert_eq!(
        code(s.handle_response(2, 200, "", b"", 0.0)).code,
        ErrorCode::UnknownRequest
    );
    for command in [
        "{}",
        r#"{"type":"dance"}"#,
        r#"{"type":"sendMessage"}"#,
        r#"{"type":"end","x":1}"#,
        "nope",
    ] {
        assert_eq!(
            code(s.command(command)).code,
            ErrorCode::InvalidArgument,
            "{command}"
        );
    }
    // Request 1 is still waiting for its answer: headers as an array of pairs are taken.
    assert_eq!(
        s.handle_response(
            1,
            200,
            r#"[["content-type", "application/json"]]"#,
            br#"{"id":"sid","key":"KEY!1","affinityToken":"AFF1","clientPollTimeout":40}"#,
            10.0
        )
        .expect("answer"),
        "accepted"
    );
    assert_eq!(
        s.handle_response(1, 200, "", b"", 10.0).expect("late"),
        "stale"
    );
    let init = s.drain_outputs(10.0).expect("outputs");
    assert!(init.contains(r#""id":2,"kind":"chasitorInit""#), "{init}");
    assert_eq!(
        s.handle_response(2, 200, "{}", b"", 20.0).expect("answer"),
        "accepted"
    );
    let poll = s.drain_outputs(20.0).expect("outputs");
    assert!(poll.contains(r#""id":3,"kind":"messages""#), "{poll}");
    // A body that is not UTF-8 is not a boundary error: it is an answer that did not decode, retried.
    assert_eq!(
        s.handle_response(3, 200, "", b"\xff\xfe", 30.0)
            .expect("answer"),
        "accepted"
    );
    let after = s.drain_outputs(30.0).expect("outputs");
    assert!(after.contains(r#""type":"retrying""#), "{after}");
    assert!(
        !after.contains("KEY!1") && !after.contains("AFF1"),
        "{after}"
    );
}

#[test]
fn commands_after_the_end_say_ended() {
    let mut s = JsonSession::new(CONFIG, 0.0).expect("session");
    s.end().expect("end");
    for r in [
        s.send_message("hi").map(|_| ()),
        s.set_typing(true).map(|_| ()),
        s.end(),
        s.command(r#"{"type":"sendMessage","text":"hi"}"#)
            .map(|_| ()),
    ] {
        let e = code(r);
        assert_eq!(e.code, ErrorCode::Ended);
        assert_eq!(e.message, "the session has ended");
    }
    assert_eq!(
        s.poll_output(0.0).expect("output"),
        r#"{"type":"event","event":{"type":"ended","reason":{"type":"visitorEnded","attachedRecords":null,"normal":true,"message":"the visitor ended the chat"}}}"#
    );
    assert_eq!(
        s.poll_output(0.0).expect("output"),
        r#"{"type":"wait","untilMs":null}"#
    );
    assert_eq!(s.poll_timeout(), None);
}

/// The secrets a session snapshot holds.
fn secrets_of(snapshot: &str) -> (String, String) {
    let v: serde_json::Value = serde_json::from_str(snapshot).expect("snapshot JSON");
    let creds = &v["credentials"];
    (
        creds["key"].as_str().expect("key").to_owned(),
        creds["affinity"].as_str().expect("affinity").to_owned(),
    )
}

const HANDOVER_AND_409: &str = r#"{"agent": "default", "faults": [
    {"session": 0, "at": {"type": "poll", "n": 4}, "kind": {"type": "handover"}},
    {"session": 0, "at": {"type": "post", "n": 3}, "kind": {"type": "sequenceDrift", "by": 2}}]}"#;

#[test]
fn a_whole_chat_through_the_json_pair_with_a_handover_and_a_409() {
    let mut pair = JsonPair::new(CONFIG, HANDOVER_AND_409).expect("pair");
    pair.run_until_event("queued").expect("run");
    let (key, affinity_before) = secrets_of(&pair.snapshot().expect("snapshot"));
    let greeting = pair.run_until_event("agentMessage").expect("run");
    assert!(
        greeting.contains("Hello, how can I help you?"),
        "{greeting}"
    );
    pair.send_message("Where is my parcel?").expect("send");
    pair.run_until_event("agentMessage").expect("run");
    pair.send_message("It was due on Monday.").expect("send");
    pair.run_until_event("agentMessage").expect("run");
    let (_, affinity_after) = secrets_of(&pair.snapshot().expect("snapshot"));
    pair.end().expect("end");
    pair.run().expect("run");
    let report: serde_json::Value =
        serde_json::from_str(&pair.check_delivery().expect("report")).expect("json");
    assert_eq!(report["clean"], true, "{report}");
    assert_eq!(report["sent"], 2);
    assert_eq!(report["ended"]["type"], "visitorEnded");
    let texts = pair.agent_texts().expect("texts");
    assert_eq!(
        texts,
        r#"["Hello, how can I help you?","echo: Where is my parcel?","echo: It was due on Monday."]"#
    );
    let events = pair.events().expect("events");
    assert!(
        events.contains(r#""type":"sessionRestored""#),
        "the 503 handover happened: {events}"
    );
    let transcript = pair.transcript();
    assert!(transcript.contains("409"), "the 409 happened: {transcript}");
    assert_ne!(
        affinity_before, affinity_after,
        "the handover gave a new affinity token"
    );
    // Events (meant for logs) never carry the key or either token.
    for secret in [&key, &affinity_before, &affinity_after] {
        assert!(!events.contains(secret.as_str()), "{secret} in {events}");
        assert!(!transcript.contains(secret.as_str()));
    }
    insta::assert_snapshot!(
        "pair_chat_events",
        events.replace("},{\"atMs\"", "},\n{\"atMs\"")
    );
}

/// `answerLatencyMs` and the `unreachable` fault reach the simulator: every answer comes 50 ms after its
/// request, and the first two attempts of the first ChatMessage never reach the server (the transport fails
/// 1 s later each), so the text is there once, after two retries.
#[test]
fn the_json_pair_takes_an_answer_latency_and_an_unreachable_server() {
    let sim = r#"{"agent": "default", "answerLatencyMs": 50, "faults": [
        {"session": 0, "at": {"type": "post", "n": 2}, "kind": {"type": "unreachable", "count": 2, "ms": 1000}}]}"#;
    let mut pair = JsonPair::new(CONFIG, sim).expect("pair");
    assert_eq!(
        pair.pair().server().config().answer_latency,
        std::time::Duration::from_millis(50)
    );
    let greeting = pair.run_until_event("agentMessage").expect("run");
    assert!(greeting.contains("Hello"), "{greeting}");
    pair.send_message("Anyone there?").expect("send");
    pair.run_until_event("agentMessage").expect("run");
    pair.end().expect("end");
    pair.run().expect("run");
    let report: serde_json::Value =
        serde_json::from_str(&pair.check_delivery().expect("report")).expect("json");
    assert_eq!(report["clean"], true, "{report}");
    assert_eq!(report["acceptedByServer"], 1, "{report}");
    let rec = pair.pair().server().session_by_index(0).expect("session 0");
    assert_eq!(rec.visitor_messages, ["Anyone there?"]);
    let events: serde_json::Value =
        serde_json::from_str(&pair.events().expect("events")).expect("json");
    let events = events.as_array().expect("array");
    // SessionId and ChasitorInit answered 50 ms after each was sent.
    assert_eq!(events[0]["event"]["type"], "chatRequested");
    assert_eq!(events[0]["atMs"], 100);
    // The ChatMessage sent with the greeting (2.6 s) failed 1 s later, then arrived on its retry; the
    // session cannot know the lost attempt was never processed.
    let chat_retries: Vec<&serde_json::Value> = events
        .iter()
        .filter(|e| e["event"]["type"] == "retrying" && e["event"]["request"] == "chat")
        .map(|e| &e["atMs"])
        .collect();
    assert_eq!(chat_retries, [3600], "{events:?}");
    assert!(
        events
            .iter()
            .any(|e| e["event"]["type"] == "deliveryUncertain" && e["event"]["commands"][0] == 1),
        "{events:?}"
    );
}

#[test]
fn bad_simulator_configurations_name_the_field() {
    for (json, expected) in [
        (
            r#"{"agent": "busy"}"#,
            "field `agent`: unknown script \"busy\"",
        ),
        (
            r#"{"dialect": "poll-conflict=sometimes"}"#,
            "field `dialect`: unknown value \"sometimes\"",
        ),
        (
            r#"{"faults": [{"at": {"type": "poll", "n": 1}, "kind": {"type": "meteor"}}]}"#,
            "field `faults`: unknown variant `meteor`",
        ),
        (
            r#"{"pollHoldMs": "long"}"#,
            "field `pollHoldMs`: invalid type",
        ),
        (r#"{"polHoldMs": 5}"#, "field `polHoldMs`: unknown field"),
        (
            r#"{"agent": {"steps": [{"afterMs": -5, "type": "accept"}]}}"#,
            "field `agent`: steps[0].afterMs must be",
        ),
    ] {
        let e = code(JsonPair::new(CONFIG, json));
        assert_eq!(e.code, ErrorCode::Simulation, "{json}");
        assert!(e.message.starts_with(expected), "{json}: {:?}", e.message);
    }
}

#[test]
fn a_snapshot_resumes_through_json_in_both_directions() {
    // Rust → JSON: a session snapshot written by serde resumes through the boundary, and back.
    let mut pair = JsonPair::new(CONFIG, r#"{"agent": "default"}"#).expect("pair");
    pair.run_until_event("agentMessage").expect("run");
    let rust_snapshot = serde_json::to_string(&pair.pair().session().snapshot()).expect("json");
    assert_eq!(
        rust_snapshot,
        pair.snapshot().expect("snapshot"),
        "one format"
    );
    let sim_config = format!(
        r#"{{"endpoint": "{}", "organizationId": "o", "deploymentId": "d", "buttonId": "b"}}"#,
        pair.pair().session().endpoint()
    );
    let resumed = JsonSession::resume(&sim_config, &rust_snapshot, 5000.0).expect("resume");
    assert_eq!(resumed.session().ack(), pair.pair().session().ack());
    let back: liveagent::SessionSnapshot =
        serde_json::from_str(&resumed.snapshot().expect("snapshot")).expect("serde");
    let again = liveagent::Session::resume(
        boundary::config_from_json(&sim_config).expect("config"),
        back,
        Timestamp::from_millis(6000),
    )
    .expect("resume in Rust");
    assert_eq!(again.session_id(), pair.pair().session().session_id());
    // A snapshot of an ended session, or none at all, is refused with a reason.
    let e = code(JsonSession::resume(
        &sim_config,
        r#"{"state":"Ended"}"#,
        0.0,
    ));
    assert_eq!(
        (e.code, e.reason),
        (ErrorCode::InvalidSnapshot, Some("malformed"))
    );
}

/// The chat the snapshot fixtures are taken from (the simulator's default agent, after its greeting).
fn greeted_pair() -> JsonPair {
    let mut pair = JsonPair::new(CONFIG, r#"{"agent": "default"}"#).expect("pair");
    pair.run_until_event("agentMessage").expect("run");
    pair
}

/// The configuration of a session on the simulator's endpoint.
const SIM_CONFIG: &str = r#"{"endpoint": "https://d.la1-c1-sim.salesforceliveagent.test",
    "organizationId": "00D000000000001", "deploymentId": "572000000000001", "buttonId": "573000000000001"}"#;

/// The JavaScript package's snapshot fixtures, or `None` where they are absent: the published crate does not
/// contain `bindings/` (a package of its own), and CI also tests the crate as published.
fn fixtures_dir() -> Option<std::path::PathBuf> {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("bindings/node/test/fixtures");
    if dir.is_dir() {
        Some(dir)
    } else {
        eprintln!(
            "{} is absent (a packaged crate): the snapshot interop checks are skipped",
            dir.display()
        );
        None
    }
}

/// Writes `text` to the fixture under `LIVEAGENT_UPDATE_FIXTURES=1`; otherwise checks it is unchanged.
fn fixture(name: &str, text: &str) {
    let Some(dir) = fixtures_dir() else { return };
    let path = dir.join(name);
    if std::env::var("LIVEAGENT_UPDATE_FIXTURES").as_deref() == Ok("1") {
        std::fs::write(&path, format!("{text}\n")).expect("write fixture");
    }
    let committed = std::fs::read_to_string(&path).expect("fixture");
    assert_eq!(
        committed.trim_end(),
        text,
        "{name} is stale: rerun with LIVEAGENT_UPDATE_FIXTURES=1"
    );
}

#[test]
fn the_snapshot_fixture_javascript_resumes_is_written_by_rust() {
    let pair = greeted_pair();
    // Serde's own JSON of the Rust snapshot: what a Rust program would store.
    let snapshot = serde_json::to_string(&pair.pair().session().snapshot()).expect("json");
    fixture("rust_snapshot.json", &snapshot);
}

#[test]
fn a_snapshot_written_by_javascript_resumes_in_rust() {
    let Some(dir) = fixtures_dir() else { return };
    let path = dir.join("js_snapshot.json");
    let text =
        std::fs::read_to_string(path).expect("fixture written by test/snapshot_interop.test.mjs");
    let snapshot: liveagent::SessionSnapshot = serde_json::from_str(&text).expect("serde");
    let config = boundary::config_from_json(SIM_CONFIG).expect("config");
    let mut session =
        liveagent::Session::resume(config, snapshot, Timestamp::ZERO).expect("resume in Rust");
    assert_eq!(session.state(), liveagent::State::Chatting);
    assert_eq!(
        session.pending_commands(),
        1,
        "the text typed before the snapshot"
    );
    let mut posted = None;
    loop {
        match session.poll_output(Timestamp::ZERO) {
            Output::Request(r) if r.kind == RequestKind::Chat => {
                posted = Some(String::from_utf8_lossy(r.http.body()).into_owned());
            }
            Output::Wait(_) => break,
            _ => {}
        }
    }
    assert_eq!(
        posted.as_deref(),
        Some(r#"{"text":"sent after the restart"}"#)
    );
}

/// The value API (`output_value`, `status_value`, `from_config_value`, `command_value`,
/// `handle_response_pairs`) is the text API without the text: the same JSON, the same checks and messages.
#[test]
fn the_value_api_writes_and_reads_exactly_what_the_text_api_does() {
    // Every output and event variant: the value serialised by serde_json is the text, byte for byte.
    let mut outputs: Vec<Output> = every_event()
        .into_iter()
        .map(|(_, e)| Output::Event(e))
        .collect();
    outputs.push(Output::Request(request(
        RequestKind::Chat,
        "POST",
        "https://d.la1-c1-phx.salesforceliveagent.com/chat/rest/Chasitor/ChatMessage",
        vec![0xff, 0xfe, 0x00],
    )));
    outputs.push(Output::Wait(Some(Timestamp::from_millis(5))));
    outputs.push(Output::Wait(None));
    for o in &outputs {
        let text = output_json(o).expect("json");
        let value = serde_json::to_string(&output_value(o)).expect("value");
        assert_eq!(value, text);
    }

    // Two sessions driven the same way, one through text and one through values, stay identical.
    let config: serde_json::Value = serde_json::from_str(CONFIG).expect("config");
    let mut by_text = JsonSession::new(CONFIG, 0.0).expect("session");
    let mut by_value = JsonSession::from_config_value(config, 0.0).expect("session");
    let step = |t: &mut JsonSession, v: &mut JsonSession, now: f64| {
        let mut outs = Vec::new();
        loop {
            let text = t.poll_output(now).expect("output");
            let value = v.next_output(now).expect("output");
            assert_eq!(
                serde_json::to_string(&output_value(&value)).expect("json"),
                text
            );
            outs.push(text);
            if matches!(value, Output::Wait(_)) {
                return outs;
            }
        }
    };
    step(&mut by_text, &mut by_value, 0.0);
    let body = br#"{"id":"sid","key":"KEY!1","affinityToken":"AFF1","clientPollTimeout":40}"#;
    assert_eq!(
        by_text
            .handle_response(
                1,
                200,
                r#"[["content-type","application/json"]]"#,
                body,
                10.0
            )
            .expect("answer"),
        by_value
            .handle_response_pairs(1, 200, [("content-type", "application/json")], body, 10.0)
            .expect("answer"),
    );
    step(&mut by_text, &mut by_value, 10.0);
    let command = r#"{"type":"sendMessage","text":"hi"}"#;
    assert_eq!(
        by_text.command(command).expect("command"),
        r#"{"commandId":1}"#
    );
    assert_eq!(
        by_value
            .command_value(serde_json::from_str(command).expect("json"))
            .expect("command"),
        Some(1)
    );
    assert_eq!(
        by_value
            .command_value(serde_json::json!({"type": "setTyping", "typing": true}))
            .expect("command"),
        Some(2)
    );
    by_text.set_typing(true).expect("typing");
    assert_eq!(
        by_value
            .command_value(serde_json::json!({"type": "end"}))
            .expect("end"),
        None
    );
    by_text.end().expect("end");
    assert_eq!(
        serde_json::to_string(&by_value.status_value()).expect("json"),
        by_text.status().expect("status")
    );
    let state = format!(r#""state":"{}""#, by_value.state());
    assert!(
        by_text.status().expect("status").contains(&state),
        "{state}"
    );
    step(&mut by_text, &mut by_value, 20.0);

    // Refusals: the same codes and messages.
    for bad in [
        r#"{"type":"dance"}"#,
        r#"{"type":"sendMessage"}"#,
        r#"{"type":"end","x":1}"#,
        "[]",
    ] {
        let value = serde_json::from_str(bad).expect("json");
        assert_eq!(
            code(by_value.command_value(value)),
            code(by_text.command(bad)),
            "{bad}"
        );
    }
    for bad in [
        "[]",
        r#"{"organizationId":"a","deploymentId":"b","buttonId":"c"}"#,
        r#"{"endpoint":"https://x.example","organizationId":"a","deploymentId":"b","buttonId":"c","retry":{"maxAttemps":3}}"#,
    ] {
        let value: serde_json::Value = serde_json::from_str(bad).expect("json");
        assert_eq!(
            code(boundary::config_from_value(value)),
            code(boundary::config_from_json(bad)),
            "{bad}"
        );
    }
    assert_eq!(
        code(by_value.handle_response_pairs(9, 200, [("bad name", "x")], b"", 30.0)).code,
        ErrorCode::InvalidArgument
    );
    assert_eq!(
        code(by_value.handle_response_pairs(9, 42, [], b"", 30.0)).code,
        ErrorCode::InvalidArgument
    );
    assert_eq!(
        code(by_value.next_output(f64::NAN)).code,
        ErrorCode::InvalidTime
    );
}
