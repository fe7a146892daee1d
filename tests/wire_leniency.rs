//! One test per leniency rule of the decoders (spec §0.3, §5.1, §6, §9, §10, §11), then one test per class of bad
//! input: each must give a precise error (or a kept `Message::Invalid`), never a panic or a silent loss.

#[macro_use]
mod common;

use liveagent::wire::{
    AgentInfo, AgentMessage, AgentRef, DecodeError, IdleTimeoutSettings, Limits, Message,
    MessagesAnswer, MessagesBody, QueueUpdate, parse_availability, parse_envelope, parse_messages,
    parse_reconnect_session, parse_session_id, parse_settings,
};
use serde_json::json;

fn limits() -> Limits {
    Limits::default()
}

fn batch(body: &str) -> MessagesBody {
    match parse_messages(200, body.as_bytes(), &limits()) {
        Ok(MessagesAnswer::Batch(b)) => b,
        other => panic!("expected a batch, got {other:?}"),
    }
}

/// Decodes one message of type `kind` with `payload` through a whole envelope.
fn one(kind: &str, payload: &str) -> Message {
    let b = batch(&format!(
        r#"{{"messages":[{{"type":"{kind}","message":{payload}}}],"sequence":1}}"#
    ));
    assert_eq!(b.messages.len(), 1);
    b.messages.into_iter().next().unwrap()
}

const SESSION_KEY: &str =
    "ec550263-354e-477c-b773-7747ebce3f5e!1629334776994!TrfoJ67wmtlYiENsWdaUBu0xZ7M=";

// ---------------------------------------------------------------------------------------------------------------
// Leniency rules
// ---------------------------------------------------------------------------------------------------------------

#[test]
fn numeric_string_client_poll_timeout() {
    // The guide's example has `clientPollTimeout: "30"` (spec §3.1.1).
    let body = format!(
        r#"{{"id":"i","key":"{SESSION_KEY}","affinityToken":"t","clientPollTimeout":"30"}}"#
    );
    let s = parse_session_id(200, body.as_bytes(), &limits()).unwrap();
    assert_eq!(s.client_poll_timeout, Some(30));
    // Also with spaces, and absent.
    let body = format!(
        r#"{{"id":"i","key":"{SESSION_KEY}","affinityToken":"t","clientPollTimeout":" 40 "}}"#
    );
    assert_eq!(
        parse_session_id(200, body.as_bytes(), &limits())
            .unwrap()
            .client_poll_timeout,
        Some(40)
    );
    let body = format!(r#"{{"id":"i","key":"{SESSION_KEY}","affinityToken":"t"}}"#);
    assert_eq!(
        parse_session_id(200, body.as_bytes(), &limits())
            .unwrap()
            .client_poll_timeout,
        None
    );
}

#[test]
fn numeric_string_sequence_and_offset() {
    let b = batch(r#"{"messages":[],"sequence":"5","offset":"97391055"}"#);
    assert_eq!((b.sequence, b.offset), (Some(5), Some(97_391_055)));
    assert!(b.messages.is_empty());
}

#[test]
fn integral_floats_for_integers() {
    let b = batch(
        r#"{"messages":[{"type":"QueueUpdate","message":{"position":3.0}}],"sequence":2.0,"offset":474445959.0}"#,
    );
    assert_eq!((b.sequence, b.offset), (Some(2), Some(474_445_959)));
    assert_eq!(
        b.messages,
        vec![Message::QueueUpdate(lit!(QueueUpdate {
            position: Some(3),
            estimated_wait_time: None
        }))]
    );
    let Message::ChatRequestSuccess(s) = one("ChatRequestSuccess", r#"{"queuePosition":1.0}"#)
    else {
        panic!()
    };
    assert_eq!(s.queue_position, Some(1));
    let body = format!(
        r#"{{"id":"i","key":"{SESSION_KEY}","affinityToken":"t","clientPollTimeout":30.0}}"#
    );
    assert_eq!(
        parse_session_id(200, body.as_bytes(), &limits())
            .unwrap()
            .client_poll_timeout,
        Some(30)
    );
    // A fractional value for an integer field is not silently truncated.
    let m = one("QueueUpdate", r#"{"position":2.5}"#);
    assert!(matches!(m, Message::Invalid { .. }), "{m:?}");
}

#[test]
fn fractional_numbers_for_number_fields() {
    let Message::QueueUpdate(q) = one("QueueUpdate", r#"{"position":1,"estimatedWaitTime":119.5}"#)
    else {
        panic!()
    };
    assert_eq!(q.estimated_wait_time, Some(119.5));
    let Message::ChatRequestSuccess(s) = one(
        "ChatRequestSuccess",
        r#"{"estimatedWaitTime":"12.25","connectionTimeout":150000.5}"#,
    ) else {
        panic!()
    };
    assert_eq!(s.estimated_wait_time, Some(12.25));
    assert_eq!(s.connection_timeout, Some(150_000.5));
    let st = parse_settings(
        200,
        br#"{"pingRate":50000.5,"buttons":[{"id":"b","inviteImageWidth":120.5,"inviteImageHeight":"60.25","inviteRejectTime":7.5,"estimatedWaitTime":-1}]}"#,
        &limits(),
    )
    .unwrap();
    assert_eq!(st.ping_rate, Some(50_000.5));
    assert_eq!(st.buttons[0].invite_image_width, Some(120.5));
    assert_eq!(st.buttons[0].invite_image_height, Some(60.25));
    assert_eq!(st.buttons[0].invite_reject_time, Some(7.5));
    assert_eq!(st.buttons[0].estimated_wait_time, Some(-1.0));
    let Message::ChasitorSessionData(d) = one(
        "ChasitorSessionData",
        r#"{"chatMessages":[{"type":"Agent","timestamp":1376596367548.5,"sequence":1.5}],"geoLocation":{"latitude":"37.5","longitude":-122.25}}"#,
    ) else {
        panic!()
    };
    let t = &d.chat_messages.unwrap()[0];
    assert_eq!(
        (t.timestamp, t.sequence),
        (Some(1_376_596_367_548.5), Some(1.5))
    );
    let g = d.geo_location.unwrap();
    assert_eq!((g.latitude, g.longitude), (Some(37.5), Some(-122.25)));
}

#[test]
fn absent_is_available_is_false() {
    let a = parse_availability(
        200,
        br#"{"results":[{"id":"a","isAvailable":true},{"id":"b"},{"id":"c","isAvailable":null},{"id":"d","isAvailable":"false"},{"id":"e","isAvailable":"TRUE"}]}"#,
        &limits(),
    )
    .unwrap();
    let got: Vec<bool> = a.results.iter().map(|r| r.is_available).collect();
    assert_eq!(got, [true, false, false, false, true]);
    let s = parse_settings(
        200,
        br#"{"buttons":[{"id":"x"},{"id":"y","isAvailable":true}]}"#,
        &limits(),
    )
    .unwrap();
    assert!(!s.buttons[0].is_available);
    assert!(s.buttons[1].is_available);
}

#[test]
fn absent_reset_sequence_means_reset() {
    let r = parse_reconnect_session(200, br#"{"affinityToken":"efae1fa0"}"#, &limits()).unwrap();
    assert_eq!(r.reset_sequence, None);
    assert!(r.resets_sequence());
    let r = parse_reconnect_session(
        200,
        br#"{"messages":[{"type":"ReconnectSession","message":{"affinityToken":"efae1fa0"}}]}"#,
        &limits(),
    )
    .unwrap();
    assert!(r.resets_sequence());
    let r = parse_reconnect_session(
        200,
        br#"{"resetSequence":false,"affinityToken":"x"}"#,
        &limits(),
    )
    .unwrap();
    assert!(!r.resets_sequence());
    let r = parse_reconnect_session(
        200,
        br#"{"resetSequence":null,"affinityToken":"x"}"#,
        &limits(),
    )
    .unwrap();
    assert!(r.resets_sequence());
}

#[test]
fn guide_spelling_chasitor_idletimeout() {
    let Message::ChatEstablished(e) = one(
        "ChatEstablished",
        r#"{"name":"A","chasitorIdletimeout":{"isEnabled":true,"warningTime":"120","timeout":180.0}}"#,
    ) else {
        panic!()
    };
    assert_eq!(
        e.chasitor_idle_timeout,
        Some(lit!(IdleTimeoutSettings {
            is_enabled: Some(true),
            warning_time: Some(120),
            timeout: Some(180)
        }))
    );
}

#[test]
fn numeric_chasitor_idle_timeout() {
    // RXSF types the field as a number: taken as the timeout in seconds.
    let Message::ChatTransferred(t) = one("ChatTransferred", r#"{"chasitorIdleTimeout":180}"#)
    else {
        panic!()
    };
    assert_eq!(
        t.chasitor_idle_timeout,
        Some(lit!(IdleTimeoutSettings {
            is_enabled: Some(true),
            warning_time: None,
            timeout: Some(180)
        }))
    );
    let Message::ChatEstablished(e) = one("ChatEstablished", r#"{"chasitorIdleTimeout":0}"#) else {
        panic!()
    };
    assert_eq!(
        e.chasitor_idle_timeout.and_then(|t| t.is_enabled),
        Some(false)
    );
    let Message::ChatEstablished(e) = one("ChatEstablished", r#"{"chasitorIdleTimeout":null}"#)
    else {
        panic!()
    };
    assert_eq!(e.chasitor_idle_timeout, None);
}

#[test]
fn settings_pingrate_and_button_spellings() {
    let s = parse_settings(
        200,
        br#"{"pingrate":50000,"button":[{"id":"573","isAvailable":true,"langauge":"de"}]}"#,
        &limits(),
    )
    .unwrap();
    assert_eq!(s.ping_rate, Some(50_000.0));
    assert_eq!(s.buttons.len(), 1);
    assert_eq!(s.buttons[0].id, "573");
    assert_eq!(s.buttons[0].language.as_deref(), Some("de"));
    // Wrapped too.
    let s = parse_settings(
        200,
        br#"{"messages":[{"type":"Settings","message":{"pingrate":"60000","button":[]}}]}"#,
        &limits(),
    )
    .unwrap();
    assert_eq!(s.ping_rate, Some(60_000.0));
}

#[test]
fn sneak_peak_spelling() {
    let Message::ChatEstablished(e) = one("ChatEstablished", r#"{"sneakPeakEnabled":true}"#) else {
        panic!()
    };
    assert_eq!(e.sneak_peek_enabled, Some(true));
    let Message::ChasitorSessionData(d) =
        one("ChasitorSessionData", r#"{"sneakPeakEnabled":"false"}"#)
    else {
        panic!()
    };
    assert_eq!(d.sneak_peek_enabled, Some(false));
}

#[test]
fn unknown_fields_are_ignored_everywhere() {
    let b = batch(
        r#"{"future":1,"messages":[
            {"type":"ChatMessage","message":{"text":"hi","newField":{"deep":[1,2]},"schedule":{"responseDelayMilliseconds":5,"jitter":1}},"extra":"x"},
            {"type":"ChatEstablished","message":{"name":"A","chasitorIdleTimeout":{"isEnabled":true,"mode":"strict"},"items":[{"text":"t","colour":"red"}]}}
        ],"sequence":3,"offset":9,"trace":"abc"}"#,
    );
    assert_eq!((b.sequence, b.offset), (Some(3), Some(9)));
    let Message::ChatMessage(m) = &b.messages[0] else {
        panic!("{:?}", b.messages[0])
    };
    assert_eq!(m.text, "hi");
    assert_eq!(
        m.schedule.as_ref().unwrap().response_delay_milliseconds,
        Some(5.0)
    );
    let Message::ChatEstablished(e) = &b.messages[1] else {
        panic!("{:?}", b.messages[1])
    };
    assert_eq!(e.items.as_ref().unwrap()[0].text.as_deref(), Some("t"));
    let body = format!(r#"{{"id":"i","key":"{SESSION_KEY}","affinityToken":"t","serverTime":1}}"#);
    assert!(parse_session_id(200, body.as_bytes(), &limits()).is_ok());
}

#[test]
fn sequence_and_offset_beyond_32_bits() {
    let b = batch(r#"{"messages":[],"sequence":4294967296,"offset":9007199254740993}"#);
    assert_eq!(b.sequence, Some(4_294_967_296));
    // Above 2^53: kept exactly (not routed through f64).
    assert_eq!(b.offset, Some(9_007_199_254_740_993));
    let b = batch(r#"{"messages":[],"sequence":"9223372036854775807","offset":-1}"#);
    assert_eq!((b.sequence, b.offset), (Some(i64::MAX), Some(-1)));
    // Beyond i64: an error, not a wrapped value.
    let e = parse_messages(
        200,
        br#"{"messages":[],"sequence":18446744073709551615}"#,
        &limits(),
    )
    .unwrap_err();
    assert!(matches!(e, DecodeError::Json { .. }), "{e:?}");
}

#[test]
fn unknown_message_type_is_kept_raw() {
    let b = batch(
        r#"{"messages":[
            {"type":"ChatConnecting","message":{"a":[1,{"b":null}],"c":"d"}},
            {"type":"ChatMessage","message":{"text":"still here"}}
        ],"sequence":1}"#,
    );
    assert_eq!(
        b.messages[0],
        Message::Unknown {
            kind: "ChatConnecting".into(),
            raw: json!({"a":[1,{"b":null}],"c":"d"}).into()
        }
    );
    assert_eq!(b.messages[0].kind(), "ChatConnecting");
    assert_eq!(
        b.messages[0].payload_json(),
        json!({"a":[1,{"b":null}],"c":"d"})
    );
    assert!(matches!(&b.messages[1], Message::ChatMessage(m) if m.text == "still here"));
    // Message types are case-sensitive: `chatmessage` is not ChatMessage.
    assert!(matches!(
        one("chatmessage", r#"{"text":"x"}"#),
        Message::Unknown { .. }
    ));
}

#[test]
fn null_or_missing_message_is_an_empty_payload() {
    let b = batch(
        r#"{"messages":[
            {"type":"AgentTyping","message":null},
            {"type":"AgentDisconnect"},
            {"type":"ChatMessage","message":null},
            {"type":"TransferToButtonInitiated"},
            {"type":"SomethingNew","message":null}
        ],"sequence":5}"#,
    );
    assert_eq!(b.messages[0], Message::AgentTyping(AgentRef::default()));
    assert_eq!(b.messages[1], Message::AgentDisconnect(AgentRef::default()));
    assert_eq!(b.messages[2], Message::ChatMessage(AgentMessage::default()));
    assert_eq!(
        b.messages[3],
        Message::TransferToButtonInitiated(Default::default())
    );
    assert_eq!(
        b.messages[4],
        Message::Unknown {
            kind: "SomethingNew".into(),
            raw: json!({}).into()
        }
    );
    // The established/session-data types decode to their defaults too.
    assert_eq!(
        one("ChatEstablished", "null"),
        Message::ChatEstablished(AgentInfo::default())
    );
    assert_eq!(
        one("ChasitorSessionData", "{}"),
        Message::ChasitorSessionData(Box::default())
    );
}

#[test]
fn empty_200_body_is_no_content() {
    for body in ["", " ", "\r\n", "\n\t "] {
        assert_eq!(
            parse_messages(200, body.as_bytes(), &limits()),
            Ok(MessagesAnswer::NoContent),
            "{body:?}"
        );
    }
}

#[test]
fn status_204_is_no_content() {
    assert_eq!(
        parse_messages(204, b"", &limits()),
        Ok(MessagesAnswer::NoContent)
    );
    // Whatever a 204 carries is ignored.
    assert_eq!(
        parse_messages(204, b"not json", &limits()),
        Ok(MessagesAnswer::NoContent)
    );
}

#[test]
fn empty_messages_array_and_missing_messages_key() {
    let b = batch(r#"{"messages":[],"sequence":7}"#);
    assert_eq!((b.messages.len(), b.sequence, b.offset), (0, Some(7), None));
    let b = batch(r#"{"sequence":8}"#);
    assert_eq!((b.messages.len(), b.sequence), (0, Some(8)));
    let b = batch(r#"{"messages":null,"sequence":null}"#);
    assert_eq!((b.messages.len(), b.sequence), (0, None));
}

// ---------------------------------------------------------------------------------------------------------------
// Bad input
// ---------------------------------------------------------------------------------------------------------------

#[test]
fn non_json_body() {
    let body = b"<html><body>Service Unavailable</body></html>";
    let e = parse_messages(200, body, &limits()).unwrap_err();
    let DecodeError::Json {
        what,
        status,
        line,
        column,
        ref snippet,
        ..
    } = e
    else {
        panic!("{e:?}")
    };
    assert_eq!((what, status, line, column), ("Messages", 200, 1, 1));
    assert!(snippet.starts_with("<html>"), "{snippet}");
    let text = e.to_string();
    assert!(text.starts_with("Messages (HTTP 200): "), "{text}");
    assert!(text.contains("line 1 column 1"), "{text}");
    assert!(parse_settings(200, body, &limits()).is_err());
    assert!(parse_availability(200, body, &limits()).is_err());
    assert!(parse_envelope(body, &limits()).is_err());
}

#[test]
fn truncated_json() {
    let body = br#"{"messages":[{"type":"ChatMessage","message":{"text":"hel"#;
    let e = parse_messages(200, body, &limits()).unwrap_err();
    let DecodeError::Json {
        ref reason,
        line,
        column,
        ..
    } = e
    else {
        panic!("{e:?}")
    };
    assert!(reason.contains("EOF"), "{reason}");
    assert_eq!((line, column), (1, body.len()));
    let body = format!(r#"{{"id":"i","key":"{SESSION_KEY}","affinityTo"#);
    let e = parse_session_id(200, body.as_bytes(), &limits()).unwrap_err();
    assert!(matches!(e, DecodeError::Json { .. }), "{e:?}");
}

#[test]
fn wrong_type_for_messages() {
    for body in [
        r#"{"messages":{"type":"ChatMessage"},"sequence":1}"#,
        r#"{"messages":"ChatMessage","sequence":1}"#,
        r#"{"messages":[42],"sequence":1}"#,
        r#"{"messages":[{"message":{}}],"sequence":1}"#,
        r#"[{"type":"ChatMessage","message":{}}]"#,
    ] {
        let e = parse_messages(200, body.as_bytes(), &limits()).unwrap_err();
        let DecodeError::Json { what, status, .. } = &e else {
            panic!("{body}: {e:?}")
        };
        assert_eq!((*what, *status), ("Messages", 200), "{body}");
    }
    // A wrong type for sequence is an error too (it drives the next ack).
    let e = parse_messages(200, br#"{"messages":[],"sequence":"soon"}"#, &limits()).unwrap_err();
    assert!(e.to_string().contains("soon"), "{e}");
}

#[test]
fn body_over_the_size_limit_is_refused_before_parsing() {
    let small = Limits {
        max_body_bytes: 64,
        ..Limits::default()
    };
    // Invalid JSON and a non-200 status: TooLarge wins, so nothing was parsed or status-checked.
    let body = vec![b'x'; 65];
    for status in [200, 204, 503] {
        assert_eq!(
            parse_messages(status, &body, &small),
            Err(DecodeError::TooLarge {
                what: "Messages",
                len: 65,
                limit: 64
            })
        );
    }
    assert!(matches!(
        parse_session_id(200, &body, &small),
        Err(DecodeError::TooLarge {
            what: "SessionId",
            ..
        })
    ));
    assert!(matches!(
        parse_reconnect_session(200, &body, &small),
        Err(DecodeError::TooLarge { .. })
    ));
    assert!(matches!(
        parse_settings(200, &body, &small),
        Err(DecodeError::TooLarge { .. })
    ));
    assert!(matches!(
        parse_availability(200, &body, &small),
        Err(DecodeError::TooLarge { .. })
    ));
    assert!(matches!(
        parse_envelope(&body, &small),
        Err(DecodeError::TooLarge { .. })
    ));
    // Exactly at the limit is fine.
    let ok = br#"{"messages":[],"sequence":1}"#;
    let exact = Limits {
        max_body_bytes: ok.len(),
        ..Limits::default()
    };
    assert!(parse_messages(200, ok, &exact).is_ok());
    let e = parse_messages(200, &body, &small).unwrap_err();
    assert_eq!(
        e.to_string(),
        "Messages: body of 65 bytes exceeds the limit of 64"
    );
    // The default limit is 1 MiB.
    assert_eq!(Limits::default().max_body_bytes, 1 << 20);
}

#[test]
fn unexpected_status() {
    let e = parse_messages(500, b"java.lang.NullPointerException", &limits()).unwrap_err();
    assert_eq!(
        e,
        DecodeError::UnexpectedStatus {
            what: "Messages",
            status: 500,
            snippet: "java.lang.NullPointerException".into()
        }
    );
    assert!(e.to_string().contains("500"));
    // A 2xx other than 200/204 is not silently taken as a batch.
    assert!(matches!(
        parse_messages(202, br#"{"messages":[]}"#, &limits()),
        Err(DecodeError::UnexpectedStatus { status: 202, .. })
    ));
    assert!(matches!(
        parse_settings(404, b"Not Found", &limits()),
        Err(DecodeError::UnexpectedStatus { status: 404, .. })
    ));
    // Long bodies are cut in the error.
    let long = vec![b'a'; 10_000];
    let DecodeError::UnexpectedStatus { snippet, .. } =
        parse_messages(503, &long, &limits()).unwrap_err()
    else {
        panic!()
    };
    assert!(snippet.len() <= liveagent::testkit::wire_internals::SNIPPET_LEN);
}

#[test]
fn session_id_errors_never_leak_the_key() {
    let secret_part = "TrfoJ67wmtlYiENsWdaUBu0xZ7M";
    let bodies: Vec<(u16, String)> = vec![
        // Wrong status with the key in the body.
        (
            500,
            format!(r#"{{"id":"i","key":"{SESSION_KEY}","affinityToken":"878a1fa0"}}"#),
        ),
        // Bad value after the key.
        (
            200,
            format!(
                r#"{{"key":"{SESSION_KEY}","id":"i","affinityToken":"878a1fa0","clientPollTimeout":"forty"}}"#
            ),
        ),
        // Truncated right after the key.
        (200, format!(r#"{{"key":"{SESSION_KEY}","#)),
        // Syntax error next to the key.
        (200, format!(r#"{{"key":"{SESSION_KEY}" "id":"i"}}"#)),
        // Missing field.
        (200, format!(r#"{{"key":"{SESSION_KEY}","id":"i"}}"#)),
        // Empty id.
        (
            200,
            format!(r#"{{"key":"{SESSION_KEY}","id":"","affinityToken":"878a1fa0"}}"#),
        ),
        // Trailing garbage.
        (
            200,
            format!(
                r#"{{"key":"{SESSION_KEY}","id":"i","affinityToken":"878a1fa0"}} {SESSION_KEY}"#
            ),
        ),
    ];
    for (status, body) in &bodies {
        let e = parse_session_id(*status, body.as_bytes(), &limits()).unwrap_err();
        for text in [e.to_string(), format!("{e:?}"), format!("{e:#?}")] {
            assert!(!text.contains(secret_part), "leaked: {text}");
            assert!(!text.contains("878a1fa0"), "leaked token: {text}");
        }
    }
    // ReconnectSession errors do not quote the token either.
    for (status, body) in [
        (500, r#"{"affinityToken":"SECRETTOKEN"}"#),
        (
            200,
            r#"{"affinityToken":"SECRETTOKEN","resetSequence":"maybe"}"#,
        ),
        (200, r#"{"affinityToken":"SECRETTOKEN""#),
    ] {
        let e = parse_reconnect_session(status, body.as_bytes(), &limits()).unwrap_err();
        for text in [e.to_string(), format!("{e:?}")] {
            assert!(!text.contains("SECRETTOKEN"), "leaked: {text}");
        }
    }
}

#[test]
fn mistyped_payload_field_is_invalid_and_names_the_field() {
    let b = batch(
        r#"{"messages":[
            {"type":"ChatRequestSuccess","message":{"queuePosition":1}},
            {"type":"ChatEstablished","message":{"name":"A","sneakPeekEnabled":"perhaps"}},
            {"type":"ChatMessage","message":{"text":"still decoded"}},
            {"type":"QueueUpdate","message":{"position":"third"}},
            {"type":"ChatRequestSuccess","message":{"geoLocation":{"latitude":"north"}}},
            {"type":"AgentTyping","message":{}}
        ],"sequence":6}"#,
    );
    assert_eq!(b.sequence, Some(6));
    assert_eq!(b.messages.len(), 6);
    assert!(
        matches!(&b.messages[0], Message::ChatRequestSuccess(s) if s.queue_position == Some(1))
    );
    assert!(matches!(&b.messages[2], Message::ChatMessage(m) if m.text == "still decoded"));
    assert_eq!(b.messages[5], Message::AgentTyping(AgentRef::default()));

    for (i, field, value) in [
        (1, "sneakPeekEnabled", "perhaps"),
        (3, "position", "third"),
        (4, "geoLocation", "north"),
    ] {
        let Message::Invalid { kind, raw, error } = &b.messages[i] else {
            panic!("message {i}: {:?}", b.messages[i])
        };
        assert_eq!(kind, b.messages[i].kind());
        assert!(
            error.contains(field),
            "message {i}: error {error:?} does not name {field}"
        );
        assert!(error.contains(value), "message {i}: {error}");
        // The payload is kept as sent.
        assert!(raw.get().starts_with('{'), "{raw:?}");
    }
    assert_eq!(b.messages[1].kind(), "ChatEstablished");
    assert_eq!(
        b.messages[1].payload_json(),
        json!({"name":"A","sneakPeekEnabled":"perhaps"})
    );
    // A payload that is not an object at all.
    let m = one("ChatMessage", r#""just text""#);
    assert!(
        matches!(&m, Message::Invalid { kind, .. } if kind == "ChatMessage"),
        "{m:?}"
    );
    // A required field missing (the idle warning needs its state).
    let m = one("ChasitorIdleTimeoutWarningEvent", "{}");
    let Message::Invalid { error, .. } = &m else {
        panic!("{m:?}")
    };
    assert!(error.contains("idleTimeoutWarningEvent"), "{error}");
    // A required field with a bad value is named too.
    let m = one(
        "ChasitorIdleTimeoutWarningEvent",
        r#"{"idleTimeoutWarningEvent":"snoozed","x":1}"#,
    );
    let Message::Invalid { error, .. } = &m else {
        panic!("{m:?}")
    };
    assert!(
        error.starts_with("field `idleTimeoutWarningEvent`"),
        "{error}"
    );
}

#[test]
fn invalid_utf8() {
    let mut body = br#"{"messages":[{"type":"ChatMessage","message":{"text":"ab"#.to_vec();
    body.extend_from_slice(&[0xff, 0xfe]);
    body.extend_from_slice(br#""}}],"sequence":1}"#);
    let e = parse_messages(200, &body, &limits()).unwrap_err();
    let DecodeError::Json {
        reason, snippet, ..
    } = &e
    else {
        panic!("{e:?}")
    };
    assert!(
        reason.to_lowercase().contains("unicode") || reason.to_lowercase().contains("utf"),
        "{reason}"
    );
    // The snippet is lossy text, never a panic on a non-boundary.
    assert!(snippet.contains('\u{fffd}'), "{snippet}");
    // Error bodies with invalid UTF-8 are kept lossily.
    let se = liveagent::wire::ServerError::parse(403, b"Session \xff invalid");
    assert_eq!(
        se,
        liveagent::wire::ServerError::Status {
            status: 403,
            text: "Session \u{fffd} invalid".into()
        }
    );
}

/// A payload built to be expensive to diagnose: hundreds of large fields, the bad one anywhere. The field is
/// still named (found from where the parser stopped, in one scan: the decode bench `decode_hostile` keeps the
/// cost of such a body within a small factor of parsing it), and a field with the same name inside a nested
/// value is not mistaken for it.
#[test]
fn a_bad_field_among_hundreds_of_large_ones_is_named_without_trying_each() {
    let big = format!("[{}]", vec!["[1,2,3,4]"; 50].join(","));
    for bad_at in [0usize, 63, 64, 299] {
        let mut fields: Vec<String> = (0..300)
            .map(|i| format!(r#""f{i}":{{"text":"nested, fine","v":{big}}}"#))
            .collect();
        fields.insert(bad_at, r#""text":{"not":"a string"}"#.to_owned());
        let m = one("ChatMessage", &format!("{{{}}}", fields.join(",\n  ")));
        let Message::Invalid { error, .. } = &m else {
            panic!("{m:?}")
        };
        assert!(error.starts_with("field `text`"), "{bad_at}: {error}");
    }
    // The error's position is mapped on multi-line payloads too, and a missing field is said as such.
    let m = one(
        "ChasitorIdleTimeoutWarningEvent",
        "{\n\"x\": 1,\n\"idleTimeoutWarningEvent\": 7\n}",
    );
    let Message::Invalid { error, .. } = &m else {
        panic!("{m:?}")
    };
    assert!(
        error.starts_with("field `idleTimeoutWarningEvent`"),
        "{error}"
    );
    let m = one("ChatRequestFail", r#"{"reason": 5}"#);
    if let Message::Invalid { error, .. } = &m {
        assert!(error.starts_with("field `reason`"), "{error}");
    }
}

#[test]
fn an_upload_answer_is_held_to_the_body_cap_and_read_without_building_a_tree() {
    use liveagent::wire::{Endpoint, UploadAnswer};
    let limits = limits();
    let mut config = liveagent::Config::new(
        Endpoint::parse("https://d.la1-c1-phx.salesforceliveagent.com").expect("endpoint"),
        "00DD0000000JVXs",
        "572D000000000J6",
        "573D000000000OC",
    );
    config.limits.max_body_bytes = limits.max_body_bytes;
    let session = liveagent::Session::new(config, liveagent::Timestamp::ZERO);
    let parse_upload_answer = |status, body: &[u8], _: &Limits| session.upload_answer(status, body);
    // Over the cap: not read at all, whatever it says.
    let huge = format!(
        r#"{{"success":true,"pad":"{}"}}"#,
        "x".repeat(limits.max_body_bytes)
    );
    assert!(matches!(
        parse_upload_answer(200, huge.as_bytes(), &limits),
        UploadAnswer::Failed { status: 200, .. }
    ));
    // Under the cap: a verdict after deep and wide padding is still found; the last repeated key wins; values
    // of the wrong type count as absent.
    let nested = format!("{}{}", "[".repeat(100), "]".repeat(100));
    let wide = vec!["{\"a\":[1,2,3]}"; 5000].join(",");
    let body =
        format!(r#"{{"pad":[{nested},{wide}],"type":"Failure","success":7,"result":"Success"}}"#);
    assert!(matches!(
        parse_upload_answer(200, body.as_bytes(), &limits),
        UploadAnswer::Failed { .. }
    ));
    assert_eq!(
        parse_upload_answer(200, br#"{"success":false,"success":true}"#, &limits),
        UploadAnswer::Success
    );
    assert_eq!(
        parse_upload_answer(200, br#"{"status":"Success","status":5}"#, &limits),
        UploadAnswer::Accepted
    );
}
