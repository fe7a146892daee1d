//! The one-pass decoder against the two-step one: wherever the fast path accepts a body, both give the same
//! `MessagesBody` (the fast path is only an optimisation, never a second reading of the protocol).

use super::{MessagesBody, RawEnvelope, parse_envelope_fast};
use proptest::prelude::*;

fn two_step(body: &[u8]) -> Option<MessagesBody> {
    serde_json::from_slice::<RawEnvelope<'_>>(body)
        .ok()
        .map(RawEnvelope::into_body)
}

/// Field names of every payload type, so generated payloads hit typed fields (with any JSON type).
const FIELDS: &[&str] = &[
    "text",
    "name",
    "agentId",
    "userId",
    "schedule",
    "responseDelayMilliseconds",
    "position",
    "estimatedWaitTime",
    "queuePosition",
    "reason",
    "attachedRecords",
    "items",
    "sneakPeekEnabled",
    "sneakPeakEnabled",
    "chasitorIdleTimeout",
    "isEnabled",
    "type",
    "data",
    "results",
    "geoLocation",
    "latitude",
    "newUrl",
    "affinityToken",
    "resetSequence",
    "idleTimeoutWarningEvent",
    "sensitiveDataRules",
    "chatMessages",
    "url",
    "visitorId",
    "connectionTimeout",
    "id",
    "value",
    "x",
];

const KINDS: &[&str] = &[
    "ChatMessage",
    "AgentTyping",
    "AgentNotTyping",
    "QueueUpdate",
    "ChatEstablished",
    "ChatRequestSuccess",
    "ChatEnded",
    "ChatRequestFail",
    "CustomEvent",
    "ReconnectSession",
    "ChasitorIdleTimeoutWarningEvent",
    "TransferToButtonInitiated",
    "RichMessage",
    "Settings",
    "SomethingNew",
    "Chat\\u004dessage",
];

fn scalar() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("null".to_owned()),
        Just("true".to_owned()),
        Just("false".to_owned()),
        Just("\"true\"".to_owned()),
        Just("\"triggered\"".to_owned()),
        Just("\"\"".to_owned()),
        Just("1e400".to_owned()),
        (-3i64..300).prop_map(|n| n.to_string()),
        (-3i64..300).prop_map(|n| format!("\"{n}\"")),
        (-3.0f64..300.0).prop_map(|f| format!("{f:?}")),
        "[a-z ]{0,8}".prop_map(|s| format!("\"{s}\"")),
    ]
}

fn value() -> impl Strategy<Value = String> {
    scalar().prop_recursive(3, 24, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(|v| format!("[{}]", v.join(","))),
            prop::collection::vec((prop::sample::select(FIELDS), inner), 0..5).prop_map(|kv| {
                let fields: Vec<String> = kv.iter().map(|(k, v)| format!("\"{k}\":{v}")).collect();
                format!("{{{}}}", fields.join(","))
            }),
        ]
    })
}

fn element() -> impl Strategy<Value = String> {
    let field = prop_oneof![
        4 => prop::sample::select(KINDS).prop_map(|k| format!("\"type\":\"{k}\"")),
        1 => scalar().prop_map(|v| format!("\"type\":{v}")),
        4 => value().prop_map(|v| format!("\"message\":{v}")),
        1 => value().prop_map(|v| format!("\"other\":{v}")),
    ];
    prop::collection::vec(field, 0..4).prop_map(|f| format!("{{{}}}", f.join(",")))
}

fn envelope() -> impl Strategy<Value = String> {
    let field = prop_oneof![
        4 => prop::collection::vec(element(), 0..5)
            .prop_map(|m| format!("\"messages\":[{}]", m.join(","))),
        1 => Just("\"messages\":null".to_owned()),
        2 => scalar().prop_map(|v| format!("\"sequence\":{v}")),
        1 => scalar().prop_map(|v| format!("\"offset\":{v}")),
        1 => value().prop_map(|v| format!("\"extra\":{v}")),
    ];
    prop::collection::vec(field, 0..4).prop_map(|f| format!("{{{}}}", f.join(",")))
}

/// Generated envelopes (any key order, duplicates, every JSON type in every field): where the fast path
/// accepts one, the two-step decoder gives the same batch; and the fast path does accept a good share of them
/// (so the comparison is not vacuous).
#[test]
fn fast_path_agrees_with_two_step() {
    use proptest::test_runner::{Config, TestRunner};
    let mut runner = TestRunner::new(Config::with_cases(4000));
    let (taken, total) = (std::cell::Cell::new(0u32), std::cell::Cell::new(0u32));
    let result = runner.run(&envelope(), |body| {
        total.set(total.get() + 1);
        if let Some(fast) = parse_envelope_fast(body.as_bytes(), usize::MAX) {
            taken.set(taken.get() + 1);
            prop_assert_eq!(Some(fast), two_step(body.as_bytes()), "{}", body);
        }
        Ok(())
    });
    assert!(result.is_ok(), "{result:?}");
    assert!(
        taken.get() * 5 >= total.get(),
        "the fast path took only {} of {} bodies",
        taken.get(),
        total.get()
    );
}

#[test]
fn fast_path_leaves_an_oversized_batch_to_the_two_step_decoder() {
    let body = br#"{"messages":[{"type":"AgentTyping"},{"type":"AgentNotTyping"}],"sequence":1}"#;
    assert_eq!(
        parse_envelope_fast(body, 2).map(|b| b.messages.len()),
        Some(2)
    );
    assert_eq!(parse_envelope_fast(body, 1), None);
}

/// Every captured `__messages-200` batch (compiled in: `src/` reads no files, not even in tests).
const CAPTURED_BATCHES: &[(&str, &[u8])] = &[
    (
        "fbmessenger-liveagent__messages-200-chatrequestsuccess-sensitivedatarules.json",
        include_bytes!(
            "../../../tests/fixtures/peers/fbmessenger-liveagent__messages-200-chatrequestsuccess-sensitivedatarules.json"
        ),
    ),
    (
        "genutility__messages-200-requestsuccess-chatmessage-notyping.json",
        include_bytes!(
            "../../../tests/fixtures/peers/genutility__messages-200-requestsuccess-chatmessage-notyping.json"
        ),
    ),
    (
        "ptbr-chat-doc__messages-200-chatended-agent.json",
        include_bytes!(
            "../../../tests/fixtures/peers/ptbr-chat-doc__messages-200-chatended-agent.json"
        ),
    ),
    (
        "ptbr-chat-doc__messages-200-chatrequestfail-unavailable.json",
        include_bytes!(
            "../../../tests/fixtures/peers/ptbr-chat-doc__messages-200-chatrequestfail-unavailable.json"
        ),
    ),
    (
        "stackexchange-121187__messages-200-agentdisconnect.json",
        include_bytes!(
            "../../../tests/fixtures/peers/stackexchange-121187__messages-200-agentdisconnect.json"
        ),
    ),
    (
        "stackexchange-121187__messages-200-chatestablished.json",
        include_bytes!(
            "../../../tests/fixtures/peers/stackexchange-121187__messages-200-chatestablished.json"
        ),
    ),
    (
        "yalutec-sales-force__messages-200-established-chatmessage-rfc.json",
        include_bytes!(
            "../../../tests/fixtures/peers/yalutec-sales-force__messages-200-established-chatmessage-rfc.json"
        ),
    ),
    (
        "yalutec-sales-force__messages-200-queue-established-typing-chat.json",
        include_bytes!(
            "../../../tests/fixtures/peers/yalutec-sales-force__messages-200-queue-established-typing-chat.json"
        ),
    ),
];

#[test]
fn fast_path_takes_every_captured_batch() {
    for (name, body) in CAPTURED_BATCHES {
        let fast = parse_envelope_fast(body, usize::MAX);
        assert!(fast.is_some(), "{name}: the fast path refused a real batch");
        assert_eq!(fast, two_step(body), "{name}");
    }
    assert_eq!(CAPTURED_BATCHES.len(), 8);
}
