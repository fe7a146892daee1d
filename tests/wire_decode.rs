//! Decodes every vendored peer fixture (real captured bodies, tests/fixtures/peers/) and every JSON example of the
//! protocol reference (tests/fixtures/spec/), asserting the decoded values.

#[macro_use]
mod common;

use liveagent::wire::{
    AgentInfo, AgentRef, ChatEndReason, DecodeError, IdleTimeoutSettings, KNOWN_MESSAGE_TYPES,
    Limits, Message, MessagesAnswer, MessagesBody, ServerError, parse_availability, parse_envelope,
    parse_messages, parse_reconnect_session, parse_session_id, parse_settings, parse_visitor_id,
};
use serde_json::json;
use std::path::{Path, PathBuf};

fn dir(sub: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(sub)
}

fn read(sub: &str, name: &str) -> Vec<u8> {
    let p = dir(sub).join(name);
    std::fs::read(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

/// The fixture files of a directory (INDEX.md excluded), sorted.
fn listing(sub: &str) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir(sub))
        .expect("fixture dir")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .filter(|n| n != "INDEX.md")
        .collect();
    names.sort();
    names
}

fn batch(sub: &str, name: &str) -> MessagesBody {
    match parse_messages(200, &read(sub, name), &Limits::default()) {
        Ok(MessagesAnswer::Batch(b)) => b,
        other => panic!("{name}: expected a batch, got {other:?}"),
    }
}

fn kinds(b: &MessagesBody) -> Vec<&str> {
    b.messages.iter().map(Message::kind).collect()
}

/// No message of a documented (typed) kind may fall back to Unknown or Invalid.
fn assert_all_typed(name: &str, b: &MessagesBody) {
    for (i, m) in b.messages.iter().enumerate() {
        assert!(
            KNOWN_MESSAGE_TYPES.contains(&m.kind()),
            "{name}: message {i} has undocumented type {}",
            m.kind()
        );
        assert!(
            !matches!(m, Message::Unknown { .. } | Message::Invalid { .. }),
            "{name}: message {i} did not decode: {m:?}"
        );
    }
}

// ---------------------------------------------------------------------------------------------------------------
// Peer fixtures
// ---------------------------------------------------------------------------------------------------------------

const PEERS: &[&str] = &[
    "cognigy-extensions__availability-200.json",
    "fbmessenger-liveagent__messages-200-chatrequestsuccess-sensitivedatarules.json",
    "genutility__availability-200.json",
    "genutility__messages-200-requestsuccess-chatmessage-notyping.json",
    "genutility__sessionid-200.json",
    "ibm-carbon-ai-chat__error-409-out-of-sync-ack.txt",
    "ptbr-chat-doc__messages-200-chatended-agent.json",
    "ptbr-chat-doc__messages-200-chatrequestfail-unavailable.json",
    "ptbr-chat-doc__sessionid-200.json",
    "stackexchange-121187__messages-200-agentdisconnect.json",
    "stackexchange-121187__messages-200-chatestablished.json",
    "yalutec-sales-force__error-400-no-version-header.txt",
    "yalutec-sales-force__error-403-session-invalid.txt",
    "yalutec-sales-force__messages-200-established-chatmessage-rfc.json",
    "yalutec-sales-force__messages-200-queue-established-typing-chat.json",
    "yalutec-sales-force__sessionid-200.json",
];

#[test]
fn every_peer_fixture_decodes() {
    assert_eq!(
        listing("peers"),
        PEERS,
        "tests/fixtures/peers changed: update PEERS and add assertions"
    );
    let limits = Limits::default();
    for name in PEERS {
        let body = read("peers", name);
        if name.contains("__messages-200") {
            let b = batch("peers", name);
            assert!(!b.messages.is_empty(), "{name}");
            assert!(
                b.sequence.is_some(),
                "{name}: every 200 poll has a sequence"
            );
            assert_all_typed(name, &b);
        } else if name.contains("__sessionid-200") {
            let s = parse_session_id(200, &body, &limits).unwrap_or_else(|e| panic!("{name}: {e}"));
            assert_eq!(s.client_poll_timeout, Some(40), "{name}");
            assert!(!s.affinity_token.expose().is_empty(), "{name}");
            // The key starts with the session id (both observed forms: id!uuid and id!epoch!signature).
            assert!(s.key.expose().starts_with(&format!("{}!", s.id)), "{name}");
        } else if name.contains("__availability-200") {
            let a =
                parse_availability(200, &body, &limits).unwrap_or_else(|e| panic!("{name}: {e}"));
            assert_eq!(a.results.len(), 1, "{name}");
            assert!(a.results[0].is_available, "{name}");
        } else if let Some(rest) = name.split("__error-").nth(1) {
            let status: u16 = rest[..3].parse().expect("status in name");
            let e = ServerError::parse(status, &body);
            assert_eq!(e.status(), status, "{name}");
        } else {
            panic!("{name}: no decoder for this fixture");
        }
    }
}

#[test]
fn peer_cognigy_availability() {
    let body = read("peers", "cognigy-extensions__availability-200.json");
    let a = parse_availability(200, &body, &Limits::default()).unwrap();
    assert_eq!(a.results.len(), 1);
    assert_eq!(a.results[0].id, "5733f000000sdfgd");
    assert!(a.results[0].is_available);
    assert_eq!(a.results[0].estimated_wait_time, None);
    // The same body read as an envelope is one typed Availability message.
    let env = parse_envelope(&body, &Limits::default()).unwrap();
    assert_eq!(env.messages, vec![Message::Availability(a)]);
    assert_eq!((env.sequence, env.offset), (None, None));
}

#[test]
fn peer_genutility_availability() {
    let body = read("peers", "genutility__availability-200.json");
    let a = parse_availability(200, &body, &Limits::default()).unwrap();
    assert_eq!(a.results[0].id, "button-id");
    assert!(a.results[0].is_available);
}

#[test]
fn peer_fbmessenger_chat_request_success_with_sensitive_data_rules() {
    let name = "fbmessenger-liveagent__messages-200-chatrequestsuccess-sensitivedatarules.json";
    let b = batch("peers", name);
    assert_eq!((b.sequence, b.offset), (Some(0), None));
    let [Message::ChatRequestSuccess(s)] = b.messages.as_slice() else {
        panic!("{:?}", b.messages)
    };
    assert_eq!(s.queue_position, Some(0));
    assert_eq!(s.estimated_wait_time, None);
    assert_eq!(s.connection_timeout, Some(150_000.0));
    assert_eq!(
        s.visitor_id.as_deref(),
        Some("17878b72-61d5-47ae-be39-0a48951a0e4d")
    );
    assert_eq!(s.url.as_deref(), Some(""));
    assert_eq!(s.custom_details, Some(vec![]));
    let geo = s.geo_location.as_ref().unwrap();
    assert_eq!(geo.city.as_deref(), Some("Ashburn"));
    assert_eq!(geo.region.as_deref(), Some("VA"));
    assert_eq!(geo.country_code.as_deref(), Some("US"));
    assert_eq!(geo.organization.as_deref(), Some("Amazon.com"));
    assert_eq!(geo.latitude, Some(39.0437));
    assert_eq!(geo.longitude, Some(-77.4875));
    let rules = s.sensitive_data_rules.as_ref().unwrap();
    assert_eq!(rules.len(), 2);
    assert_eq!(rules[0].name.as_deref(), Some("Bad Word Filter"));
    assert_eq!(rules[0].pattern.as_deref(), Some("bad word"));
    assert_eq!(rules[0].replacement.as_deref(), Some("*** ****"));
    assert_eq!(rules[1].name.as_deref(), Some("Credit Card"));
    assert_eq!(rules[1].id.as_deref(), Some("0GO1I000000TN8C"));
    assert_eq!(rules[1].action_type.as_deref(), Some("Replace"));
    // JSON `\\b` is the regex `\b`: one backslash each after decoding.
    assert_eq!(
        rules[1].pattern.as_deref(),
        Some(
            r"\b(?:\d{4})(?:-?|\040?)((((?:\d{4})(?:-?|\040?)){3})|(\d{6}(?:-?|\040?)(\d{5}|\d{4})))\b"
        )
    );
    assert_eq!(rules[1].replacement.as_deref(), Some("XXXX-XXXX-XXXX-XXXX"));
}

#[test]
fn peer_genutility_messages() {
    let b = batch(
        "peers",
        "genutility__messages-200-requestsuccess-chatmessage-notyping.json",
    );
    assert_eq!((b.sequence, b.offset), (Some(4), None));
    assert_eq!(
        kinds(&b),
        ["ChatRequestSuccess", "ChatMessage", "AgentNotTyping"]
    );
    let Message::ChatRequestSuccess(s) = &b.messages[0] else {
        panic!()
    };
    assert_eq!(s.queue_position, Some(1));
    assert_eq!(s.estimated_wait_time, Some(-1.0));
    assert_eq!(s.transcript_save_enabled, Some(false));
    assert_eq!(s.sensitive_data_rules, Some(vec![]));
    let geo = s.geo_location.as_ref().unwrap();
    assert_eq!(geo.city.as_deref(), Some("Taipei"));
    assert_eq!(geo.country_name.as_deref(), Some("Taiwan"));
    assert_eq!(geo.region, None);
    assert_eq!(geo.latitude, Some(25.0));
    let Message::ChatMessage(m) = &b.messages[1] else {
        panic!()
    };
    assert_eq!(m.text, "Liveagent Message");
    assert_eq!(m.name.as_deref(), Some("Liveagent Name"));
    assert_eq!((m.agent_id.as_ref(), m.schedule.as_ref()), (None, None));
    assert_eq!(b.messages[2], Message::AgentNotTyping(AgentRef::default()));
}

#[test]
fn peer_session_ids() {
    let limits = Limits::default();
    let g = parse_session_id(
        200,
        &read("peers", "genutility__sessionid-200.json"),
        &limits,
    )
    .unwrap();
    assert_eq!(g.id, "00000000-0000-0000-0000-000000000000");
    assert_eq!(
        g.key.expose(),
        "00000000-0000-0000-0000-000000000000!00000000-0000-0000-0000-000000000000"
    );
    assert_eq!(g.affinity_token.expose(), "00000000");
    assert_eq!(g.client_poll_timeout, Some(40));

    let p = parse_session_id(
        200,
        &read("peers", "ptbr-chat-doc__sessionid-200.json"),
        &limits,
    )
    .unwrap();
    assert_eq!(p.id, "29c64346-65b4-4214-912e-8e9391aecbaf");
    assert_eq!(
        p.key.expose(),
        "29c64346-65b4-4214-912e-8e9391aecbaf!1570039675081!oLF8K6JmY4SDq89deoGlSHP5880="
    );
    assert_eq!(p.affinity_token.expose(), "98c41fa0");

    let y = parse_session_id(
        200,
        &read("peers", "yalutec-sales-force__sessionid-200.json"),
        &limits,
    )
    .unwrap();
    assert_eq!(y.id, "ec550263-354e-477c-b773-7747ebce3f5e");
    assert!(
        y.key
            .expose()
            .ends_with("!1629334776994!TrfoJ67wmtlYiENsWdaUBu0xZ7M=")
    );
    assert_eq!(y.affinity_token.expose(), "878a1fa0");
    assert_eq!(y.client_poll_timeout, Some(40));
}

#[test]
fn peer_error_409_is_out_of_sync() {
    let body = read("peers", "ibm-carbon-ai-chat__error-409-out-of-sync-ack.txt");
    let e = ServerError::parse(409, &body);
    assert_eq!(
        e,
        ServerError::OutOfSync {
            expected: 498,
            actual: 4
        }
    );
    assert_eq!(e.status(), 409);
    assert!(e.to_string().contains("498") && e.to_string().contains('4'));
    // The same text under another status is not the sequence case.
    assert_eq!(
        ServerError::parse(400, &body),
        ServerError::Status {
            status: 400,
            text: "Out of sync Ack. Expected 498. Actual 4".into()
        }
    );
    // A 409 without the out-of-sync text is the doc's "chat terminated" case, kept as text.
    assert_eq!(
        ServerError::parse(409, b"Conflict"),
        ServerError::Status {
            status: 409,
            text: "Conflict".into()
        }
    );
}

#[test]
fn peer_error_403_and_400_are_kept_as_text() {
    let e = ServerError::parse(
        403,
        &read(
            "peers",
            "yalutec-sales-force__error-403-session-invalid.txt",
        ),
    );
    assert_eq!(
        e,
        ServerError::Status {
            status: 403,
            text: "Session required but was invalid or not found".into()
        }
    );
    assert_eq!(
        e.to_string(),
        "HTTP 403: Session required but was invalid or not found"
    );
    let e = ServerError::parse(
        400,
        &read(
            "peers",
            "yalutec-sales-force__error-400-no-version-header.txt",
        ),
    );
    assert_eq!(
        e,
        ServerError::Status {
            status: 400,
            text: "No version header found".into()
        }
    );
    // A Messages parser refuses them with the status and the start of the text.
    let err = parse_messages(
        403,
        &read(
            "peers",
            "yalutec-sales-force__error-403-session-invalid.txt",
        ),
        &Limits::default(),
    )
    .unwrap_err();
    let DecodeError::UnexpectedStatus {
        status, snippet, ..
    } = err
    else {
        panic!("{err:?}")
    };
    assert_eq!(status, 403);
    assert!(snippet.starts_with("Session required"));
}

#[test]
fn peer_ptbr_chat_ended_and_request_fail() {
    let b = batch("peers", "ptbr-chat-doc__messages-200-chatended-agent.json");
    assert_eq!((b.sequence, b.offset), (Some(32), Some(97_391_055)));
    let [Message::ChatEnded(e)] = b.messages.as_slice() else {
        panic!("{:?}", b.messages)
    };
    assert_eq!(e.reason, Some(ChatEndReason::Agent));
    assert_eq!(e.attached_records, Some(json!([])));

    let b = batch(
        "peers",
        "ptbr-chat-doc__messages-200-chatrequestfail-unavailable.json",
    );
    assert_eq!((b.sequence, b.offset), (Some(2), Some(97_382_097)));
    let [Message::ChatRequestFail(f)] = b.messages.as_slice() else {
        panic!("{:?}", b.messages)
    };
    assert_eq!(f.reason.as_deref(), Some("Unavailable"));
    assert_eq!(f.attached_records, Some(json!([])));
    assert_eq!(f.post_chat_url, None);
}

#[test]
fn peer_stackexchange_agent_disconnect_and_established() {
    let b = batch(
        "peers",
        "stackexchange-121187__messages-200-agentdisconnect.json",
    );
    assert_eq!((b.sequence, b.offset), (Some(2), None));
    assert_eq!(
        b.messages,
        vec![Message::AgentDisconnect(AgentRef::default())]
    );

    let b = batch(
        "peers",
        "stackexchange-121187__messages-200-chatestablished.json",
    );
    assert_eq!((b.sequence, b.offset), (Some(1), None));
    assert_eq!(
        b.messages,
        vec![Message::ChatEstablished(lit!(AgentInfo {
            name: Some("ilya l".into()),
            user_id: Some("00536000000FT8P".into()),
            sneak_peek_enabled: Some(true),
            chasitor_idle_timeout: Some(lit!(IdleTimeoutSettings {
                is_enabled: Some(false),
                warning_time: None,
                timeout: None,
            })),
            items: None,
        }))]
    );
}

#[test]
fn peer_yalutec_rfc_established_and_message() {
    let b = batch(
        "peers",
        "yalutec-sales-force__messages-200-established-chatmessage-rfc.json",
    );
    assert_eq!((b.sequence, b.offset), (Some(3), Some(1_574_190_116)));
    let [Message::ChatEstablished(est), Message::ChatMessage(msg)] = b.messages.as_slice() else {
        panic!("{:?}", b.messages)
    };
    assert_eq!(est.name.as_deref(), Some("Everardo G"));
    assert_eq!(est.user_id.as_deref(), Some("0053g000000usWa"));
    assert_eq!(est.items, Some(vec![]));
    assert_eq!(est.sneak_peek_enabled, Some(false));
    assert_eq!(
        est.chasitor_idle_timeout
            .as_ref()
            .and_then(|t| t.is_enabled),
        Some(false)
    );
    assert_eq!(msg.text, "ok");
    assert_eq!(msg.agent_id.as_deref(), Some("0053g000000usWa"));
    // `0.0` in the body.
    assert_eq!(
        msg.schedule.as_ref().unwrap().response_delay_milliseconds,
        Some(0.0)
    );
}

#[test]
fn peer_yalutec_eighteen_message_batch() {
    let b = batch(
        "peers",
        "yalutec-sales-force__messages-200-queue-established-typing-chat.json",
    );
    assert_eq!(b.messages.len(), 18);
    // INDEX.md: sequence == ack sent (-1 on a first poll) + number of messages.
    assert_eq!(b.sequence, Some(-1 + 18));
    assert_eq!(b.offset, Some(1_636_522_046));
    assert_eq!(
        kinds(&b),
        [
            "ChatRequestSuccess",
            "QueueUpdate",
            "ChatEstablished",
            "AgentTyping",
            "ChatMessage",
            "AgentNotTyping",
            "AgentTyping",
            "AgentTyping",
            "ChatMessage",
            "AgentNotTyping",
            "AgentTyping",
            "AgentTyping",
            "ChatMessage",
            "AgentNotTyping",
            "AgentTyping",
            "AgentTyping",
            "ChatMessage",
            "AgentNotTyping",
        ]
    );
    let Message::ChatRequestSuccess(s) = &b.messages[0] else {
        panic!()
    };
    assert_eq!(s.queue_position, Some(1));
    assert_eq!(s.estimated_wait_time, Some(9.0));
    let geo = s.geo_location.as_ref().unwrap();
    assert_eq!(geo.country_code.as_deref(), Some("MX"));
    assert_eq!(geo.city, None);
    let Message::QueueUpdate(q) = &b.messages[1] else {
        panic!()
    };
    assert_eq!((q.position, q.estimated_wait_time), (Some(0), Some(0.0)));
    let Message::AgentTyping(t) = &b.messages[3] else {
        panic!()
    };
    assert_eq!(t.name.as_deref(), Some("Everardo G"));
    // The typing events carry a UUID as agentId, unlike ChatMessage's user id.
    assert_eq!(
        t.agent_id.as_deref(),
        Some("5b39e61e-1c94-4bab-b07e-6318b8c8f484")
    );
    let texts: Vec<&str> = b
        .messages
        .iter()
        .filter_map(|m| match m {
            Message::ChatMessage(m) => Some(m.text.as_str()),
            _ => None,
        })
        .collect();
    assert_eq!(texts, ["Ok", "Lo ayudio", "que necesita", "lo ayudo"]);
    for m in &b.messages {
        if let Message::ChatMessage(m) = m {
            assert_eq!(m.agent_id.as_deref(), Some("0053g000000usWa"));
            assert_eq!(
                m.schedule.as_ref().unwrap().response_delay_milliseconds,
                Some(0.0)
            );
        }
    }
}

// ---------------------------------------------------------------------------------------------------------------
// Spec examples
// ---------------------------------------------------------------------------------------------------------------

/// Every spec fixture and how it is decoded (see tests/fixtures/spec/INDEX.md).
const SPEC: &[(&str, &str)] = &[
    ("availability-bare.json", "Availability"),
    ("availability-wrapped.json", "Availability"),
    ("message-chasitorsessiondata.json", "envelope"),
    ("message-chatended-go1.json", "envelope"),
    ("message-chatestablished.json", "envelope"),
    ("message-chatmessage.json", "envelope"),
    ("message-chatrequestfail.json", "envelope"),
    ("message-chatrequestsuccess.json", "envelope"),
    ("message-chattransferred.json", "envelope"),
    ("message-customevent.json", "envelope"),
    ("message-filetransfer.json", "envelope"),
    ("message-newvisitorbreadcrumb.json", "envelope"),
    ("message-queueupdate.json", "envelope"),
    ("message-richmessage-chatwindowmenu.json", "envelope"),
    ("message-sensitivedatarules.json", "envelope"),
    ("messages-chatestablished-sequence-offset.json", "envelope"),
    ("messages-realistic-batch.json", "envelope"),
    ("reconnectsession-bare.json", "ReconnectSession"),
    ("reconnectsession-wrapped.json", "ReconnectSession"),
    ("sessionid-200.json", "SessionId"),
    ("settings-wrapped.json", "Settings"),
    ("switchserver.json", "envelope"),
    ("visitorid-bare.json", "VisitorId"),
    ("visitorid-wrapped.json", "VisitorId"),
];

/// The single typed message of a wrapped spec example.
fn one(name: &str) -> Message {
    let b = parse_envelope(&read("spec", name), &Limits::default())
        .unwrap_or_else(|e| panic!("{name}: {e}"));
    assert_all_typed(name, &b);
    assert_eq!(b.messages.len(), 1, "{name}");
    b.messages.into_iter().next().unwrap()
}

#[test]
fn every_spec_fixture_decodes() {
    let listed: Vec<&str> = SPEC.iter().map(|(f, _)| *f).collect();
    assert_eq!(
        listing("spec"),
        listed,
        "tests/fixtures/spec changed: update SPEC and INDEX.md"
    );
    let index = std::fs::read_to_string(dir("spec").join("INDEX.md")).unwrap();
    let limits = Limits::default();
    for (name, how) in SPEC {
        assert!(
            index.contains(&format!("`{name}`")),
            "{name} is not in INDEX.md"
        );
        let body = read("spec", name);
        let ok = match *how {
            "envelope" => parse_envelope(&body, &limits).map(|b| assert_all_typed(name, &b)),
            "Availability" => parse_availability(200, &body, &limits).map(drop),
            "ReconnectSession" => parse_reconnect_session(200, &body, &limits).map(drop),
            "SessionId" => parse_session_id(200, &body, &limits).map(drop),
            "Settings" => parse_settings(200, &body, &limits).map(drop),
            "VisitorId" => parse_visitor_id(200, &body, &limits).map(drop),
            other => panic!("{other}"),
        };
        ok.unwrap_or_else(|e| panic!("{name}: {e}"));
    }
}

#[test]
fn spec_session_id() {
    let s = parse_session_id(200, &read("spec", "sessionid-200.json"), &Limits::default()).unwrap();
    assert_eq!(s.id, "241590f5-2e59-44b5-af89-9cae83bb6947");
    assert_eq!(
        s.key.expose(),
        "f6c1d699-84c7-473f-b194-abf4bf7cccf8!b65b13c7-f597-4dd2-aa3a-cbe01e69f19c"
    );
    assert_eq!(s.affinity_token.expose(), "73061fa0");
    assert_eq!(s.client_poll_timeout, Some(30));
}

#[test]
fn spec_messages_with_sequence_and_offset() {
    let b = batch("spec", "messages-chatestablished-sequence-offset.json");
    assert_eq!((b.sequence, b.offset), (Some(1), Some(1_234_567_890)));
    assert_eq!(
        b.messages,
        vec![Message::ChatEstablished(lit!(AgentInfo {
            name: Some("Andy L.".into()),
            user_id: Some("f1dda237-57f8-4816-b8e8-59775f1e44c8".into()),
            sneak_peek_enabled: Some(true),
            chasitor_idle_timeout: None,
            items: None,
        }))]
    );
}

#[test]
fn spec_realistic_batch() {
    let b = batch("spec", "messages-realistic-batch.json");
    assert_eq!((b.sequence, b.offset), (Some(2), Some(474_445_959)));
    let [Message::ChatRequestSuccess(s), Message::ChatEstablished(e)] = b.messages.as_slice()
    else {
        panic!("{:?}", b.messages)
    };
    assert_eq!(s.queue_position, Some(0));
    assert_eq!(s.estimated_wait_time, Some(-1.0));
    assert_eq!(s.connection_timeout, Some(150_000.0));
    assert_eq!(s.transcript_save_enabled, Some(false));
    assert_eq!(s.sensitive_data_rules, Some(vec![]));
    assert_eq!(
        s.geo_location.as_ref().and_then(|g| g.city.as_deref()),
        Some("San Francisco")
    );
    assert_eq!(
        e.chasitor_idle_timeout,
        Some(lit!(IdleTimeoutSettings {
            is_enabled: Some(false),
            warning_time: Some(0),
            timeout: Some(0)
        }))
    );
}

#[test]
fn spec_chasitor_session_data() {
    let Message::ChasitorSessionData(d) = one("message-chasitorsessiondata.json") else {
        panic!()
    };
    assert_eq!(d.queue_position, Some(1));
    assert_eq!(d.sneak_peek_enabled, Some(true));
    assert_eq!(d.oref.as_deref(), Some("http://www.google.com?q=yoursite"));
    assert_eq!(d.post_chat_url.as_deref(), Some("http://yoursite/postchat"));
    let geo = d.geo_location.unwrap();
    assert_eq!(geo.latitude, Some(37.79388));
    assert_eq!(geo.longitude, Some(-122.395114));
    let t = d.chat_messages.unwrap();
    assert_eq!(t.len(), 2);
    assert_eq!(t[0].kind.as_deref(), Some("Agent"));
    assert_eq!(t[0].timestamp, Some(1_376_596_367_548.0));
    assert_eq!(t[1].kind.as_deref(), Some("Chasitor"));
    assert_eq!(t[1].content.as_deref(), Some("I have a question for you."));
    assert_eq!(t[1].sequence, Some(2.0));
}

#[test]
fn spec_chat_established_and_transferred() {
    let Message::ChatEstablished(e) = one("message-chatestablished.json") else {
        panic!()
    };
    assert_eq!(e.user_id.as_deref(), Some("005B0000000F3b2"));
    assert_eq!(
        e.chasitor_idle_timeout,
        Some(lit!(IdleTimeoutSettings {
            is_enabled: Some(true),
            warning_time: Some(120),
            timeout: Some(180)
        }))
    );
    let Message::ChatTransferred(t) = one("message-chattransferred.json") else {
        panic!()
    };
    assert_eq!(t.name.as_deref(), Some("Ryan S."));
    // Read as the new agent's id (spec §10).
    assert_eq!(
        t.user_id.as_deref(),
        Some("edacfa56-b203-43d5-9e1b-678278b61263")
    );
    assert_eq!(t.sneak_peek_enabled, Some(false));
}

#[test]
fn spec_chat_message() {
    let Message::ChatMessage(m) = one("message-chatmessage.json") else {
        panic!()
    };
    assert_eq!(m.name.as_deref(), Some("Andy L."));
    assert_eq!(m.text, "Hello, how can I help you?");
    assert_eq!(m.agent_id.as_deref(), Some("005B0000000F3b2"));
    assert_eq!(m.schedule.unwrap().response_delay_milliseconds, Some(0.0));
}

#[test]
fn spec_chat_request_fail_and_success() {
    let Message::ChatRequestFail(f) = one("message-chatrequestfail.json") else {
        panic!()
    };
    assert_eq!(f.reason.as_deref(), Some("Unavailable"));
    assert_eq!(f.post_chat_url.as_deref(), Some("http://yoursite/postChat"));
    assert_eq!(f.attached_records, None);

    let Message::ChatRequestSuccess(s) = one("message-chatrequestsuccess.json") else {
        panic!()
    };
    assert_eq!(s.queue_position, Some(1));
    assert_eq!(s.estimated_wait_time, Some(120.0));
    assert_eq!(
        s.visitor_id.as_deref(),
        Some("acd47048-bd80-476e-aa33-741bd5cb05d3")
    );
    let details = s.custom_details.unwrap();
    assert_eq!(details.len(), 1);
    assert_eq!(details[0].label, "E-mail Address");
    assert_eq!(details[0].value, "jon@example.com");
    assert_eq!(details[0].transcript_fields, ["c__EmailAddress"]);
    assert_eq!(details[0].display_to_agent, Some(true));
    assert!(details[0].entity_maps.is_empty());
    assert_eq!(
        s.geo_location.and_then(|g| g.organization),
        Some("Salesforce".into())
    );
}

#[test]
fn spec_small_payloads() {
    let Message::CustomEvent(c) = one("message-customevent.json") else {
        panic!()
    };
    assert_eq!(
        (c.kind.as_str(), c.data.as_str()),
        ("CreditCardEntered", "5105105105105100")
    );
    let Message::NewVisitorBreadcrumb(b) = one("message-newvisitorbreadcrumb.json") else {
        panic!()
    };
    assert_eq!(b.location, "http://yoursite/page2");
    let Message::QueueUpdate(q) = one("message-queueupdate.json") else {
        panic!()
    };
    assert_eq!((q.position, q.estimated_wait_time), (Some(3), Some(120.0)));
    let Message::SwitchServer(s) = one("switchserver.json") else {
        panic!()
    };
    assert_eq!(
        s.new_url,
        "https://LiveAgentPool.salesforceliveagent.com/chat"
    );
    // The new URL is usable as an endpoint (path dropped).
    let ep = liveagent::wire::Endpoint::parse(&s.new_url).unwrap();
    assert_eq!(
        ep.to_string(),
        "https://LiveAgentPool.salesforceliveagent.com"
    );
}

#[test]
fn spec_sensitive_data_rules() {
    let Message::SensitiveDataRules(r) = one("message-sensitivedatarules.json") else {
        panic!()
    };
    let rules = r.sensitive_data_rules;
    assert_eq!(rules.len(), 2);
    assert_eq!(rules[0].name.as_deref(), Some("Replace-Bad-Word"));
    assert_eq!(rules[0].replacement.as_deref(), Some("badword"));
    assert_eq!(rules[1].pattern.as_deref(), Some("[0-9]+"));
    assert_eq!(rules[1].replacement.as_deref(), Some("<DIGIT>"));
    assert_eq!(rules[1].id.as_deref(), Some("0GORM00000001dW"));
}

#[test]
fn spec_chat_ended_go1_shape() {
    let Message::ChatEnded(e) = one("message-chatended-go1.json") else {
        panic!()
    };
    assert_eq!(e.reason, Some(ChatEndReason::Agent));
    assert_eq!(
        e.attached_records,
        Some(json!([{"fieldName": "CaseId", "fieldValue": "500xx000000abcD"}]))
    );
}

#[test]
fn spec_file_transfer_and_rich_message() {
    let Message::FileTransfer(f) = one("message-filetransfer.json") else {
        panic!()
    };
    assert_eq!(f.kind.as_deref(), Some("Requested"));
    assert_eq!(f.file_token.as_deref(), Some("a1b2c3d4e5f6"));
    assert!(
        f.upload_servlet_url
            .unwrap()
            .ends_with("/fileUploadServlet")
    );
    assert!(f.cdm_servlet_url.unwrap().ends_with("/cdmServlet"));

    let Message::RichMessage(r) = one("message-richmessage-chatwindowmenu.json") else {
        panic!()
    };
    assert_eq!(r.kind, "ChatWindowMenu");
    assert_eq!(r.header.as_deref(), Some("How can we help?"));
    assert_eq!(r.items.len(), 2);
    assert_eq!(r.items[0].text.as_deref(), Some("Billing"));
    assert_eq!(r.items[0].value.as_deref(), Some("billing"));
    assert_eq!(r.items[1].value, None);
}

#[test]
fn spec_reconnect_session_wrapped_and_bare_agree() {
    let limits = Limits::default();
    let wrapped =
        parse_reconnect_session(200, &read("spec", "reconnectsession-wrapped.json"), &limits)
            .unwrap();
    let bare =
        parse_reconnect_session(200, &read("spec", "reconnectsession-bare.json"), &limits).unwrap();
    assert_eq!(wrapped, bare);
    assert_eq!(wrapped.affinity_token, "efae1fa0");
    assert_eq!(wrapped.reset_sequence, Some(true));
    assert!(wrapped.resets_sequence());
    // As an envelope it is one typed ReconnectSession message.
    assert_eq!(
        one("reconnectsession-wrapped.json"),
        Message::ReconnectSession(bare)
    );
}

#[test]
fn spec_settings_wrapped() {
    let s = parse_settings(
        200,
        &read("spec", "settings-wrapped.json"),
        &Limits::default(),
    )
    .unwrap();
    assert_eq!(s.ping_rate, Some(50_000.0));
    assert_eq!(
        s.content_server_url.as_deref(),
        Some("https://c.la1-c1-phx.salesforceliveagent.com/content")
    );
    assert_eq!(s.buttons.len(), 1);
    let b = &s.buttons[0];
    assert_eq!(b.id, "573D000000000OC");
    assert_eq!(b.kind.as_deref(), Some("Standard"));
    assert!(b.is_available);
    assert_eq!(b.language.as_deref(), Some("en"));
    assert_eq!(b.estimated_wait_time, Some(-1.0));
    assert_eq!(one("settings-wrapped.json"), Message::Settings(s));
}

#[test]
fn spec_availability_wrapped_and_bare_agree() {
    let limits = Limits::default();
    let w = parse_availability(200, &read("spec", "availability-wrapped.json"), &limits).unwrap();
    let b = parse_availability(200, &read("spec", "availability-bare.json"), &limits).unwrap();
    assert_eq!(w, b);
    let got: Vec<(&str, bool, Option<f64>)> = w
        .results
        .iter()
        .map(|r| (r.id.as_str(), r.is_available, r.estimated_wait_time))
        .collect();
    assert_eq!(
        got,
        [
            ("573280000000001", true, None),
            // `isAvailable` omitted: false.
            ("573000000000004", false, None),
            ("5730I0000000005", true, Some(45.0)),
        ]
    );
}

#[test]
fn spec_visitor_id_wrapped_and_bare_agree() {
    let limits = Limits::default();
    let w = parse_visitor_id(200, &read("spec", "visitorid-wrapped.json"), &limits).unwrap();
    let b = parse_visitor_id(200, &read("spec", "visitorid-bare.json"), &limits).unwrap();
    assert_eq!(w, b);
    assert_eq!(w.session_id, "2b4a5f3e-8c1d-4e7a-9f60-1d2c3b4a5e6f");
}
