//! Property tests: value → JSON → value for every `Message` variant, the `MessagesBody` envelope and every `Noun`
//! (`Noun::body` then `Noun::decode`).
//!
//! Floats are finite and have short decimal forms (`n`, `n/4`, `n/100`): serde_json without its
//! `float_roundtrip` feature parses long decimal forms to the nearest double only approximately, which is not
//! what these tests are about.

#[macro_use]
mod common;

use liveagent::wire::{
    AgentInfo, AgentMessage, AgentRef, AsyncResult, Availability, AvailabilityResult, Breadcrumb,
    Button, ChasitorInit, ChasitorSessionData, ChatEndReason, ChatEnded, ChatRequestFail,
    ChatRequestSuccess, ChatResumedAfterTransfer, CustomDetail, CustomEvent, Entity,
    EntityFieldsMap, EntityMap, FileTransfer, FooterMenuItem, GeoLocation, IdleTimeoutSettings,
    IdleTimeoutWarningEvent, IdleWarning, KNOWN_MESSAGE_TYPES, Limits, Message, MessagesAnswer,
    MessagesBody, Noun, QueueUpdate, ReconnectSession, RichAction, RichItem, RichMessage, Schedule,
    SensitiveDataRule, SensitiveDataRules, Settings, SwitchServer, TranscriptEntry, TriggeredRule,
    VisitorId, parse_envelope, parse_messages,
};
use proptest::collection::{btree_map, vec};
use proptest::option::of;
use proptest::prelude::*;
use proptest::strategy::Union;
use proptest::test_runner::{Config, TestRunner};
use serde_json::Value;

const CASES: u32 = 256;

fn config() -> Config {
    Config {
        cases: CASES,
        failure_persistence: None,
        ..Config::default()
    }
}

// ---------------------------------------------------------------------------------------------------------------
// Leaf strategies
// ---------------------------------------------------------------------------------------------------------------

/// Any short string, control characters and non-ASCII included.
fn s() -> impl Strategy<Value = String> + Clone {
    "(?s).{0,10}"
}

fn os() -> impl Strategy<Value = Option<String>> + Clone {
    of(s())
}

fn ob() -> impl Strategy<Value = Option<bool>> + Clone {
    of(any::<bool>())
}

fn oi() -> impl Strategy<Value = Option<i64>> + Clone {
    of(any::<i64>())
}

/// A finite float with a short decimal form; includes -1 (the "unknown" wait time).
fn f() -> impl Strategy<Value = f64> + Clone {
    prop_oneof![
        Just(-1.0),
        Just(0.0),
        (-10_000_000i64..10_000_000, 0usize..3).prop_map(|(n, d)| n as f64 / [1.0, 4.0, 100.0][d]),
    ]
}

fn of64() -> impl Strategy<Value = Option<f64>> + Clone {
    of(f())
}

/// Arbitrary JSON without floats (see the module note).
fn json() -> impl Strategy<Value = Value> + Clone {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        s().prop_map(Value::from),
    ];
    leaf.prop_recursive(3, 24, 4, |inner| {
        prop_oneof![
            vec(inner.clone(), 0..4).prop_map(Value::Array),
            btree_map(s(), inner, 0..4).prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

/// JSON that is not `null` (an optional raw field holding `null` reads back as absent).
fn json_some() -> impl Strategy<Value = Option<Value>> + Clone {
    of(json().prop_filter("not null", |v| !v.is_null()))
}

fn json_object() -> impl Strategy<Value = serde_json::Map<String, Value>> + Clone {
    btree_map(s(), json(), 0..5).prop_map(|m| m.into_iter().collect())
}

// ---------------------------------------------------------------------------------------------------------------
// Payload strategies
// ---------------------------------------------------------------------------------------------------------------

fn agent_ref() -> impl Strategy<Value = AgentRef> {
    (os(), os()).prop_map(|(name, agent_id)| lit!(AgentRef { name, agent_id }))
}

fn idle_timeout() -> impl Strategy<Value = IdleTimeoutSettings> {
    (ob(), oi(), oi()).prop_map(|(is_enabled, warning_time, timeout)| {
        lit!(IdleTimeoutSettings {
            is_enabled,
            warning_time,
            timeout,
        })
    })
}

fn footer_item() -> impl Strategy<Value = FooterMenuItem> {
    (os(), os(), os(), os()).prop_map(|(text, value, dialog_id, id)| {
        lit!(FooterMenuItem {
            text,
            value,
            dialog_id,
            id,
        })
    })
}

fn agent_info() -> impl Strategy<Value = AgentInfo> {
    (
        os(),
        os(),
        ob(),
        of(idle_timeout()),
        of(vec(footer_item(), 0..3)),
    )
        .prop_map(
            |(name, user_id, sneak_peek_enabled, chasitor_idle_timeout, items)| {
                lit!(AgentInfo {
                    name,
                    user_id,
                    sneak_peek_enabled,
                    chasitor_idle_timeout,
                    items,
                })
            },
        )
}

fn agent_message() -> impl Strategy<Value = AgentMessage> {
    (
        os(),
        s(),
        os(),
        of(of64().prop_map(|d| {
            lit!(Schedule {
                response_delay_milliseconds: d,
            })
        })),
    )
        .prop_map(|(name, text, agent_id, schedule)| {
            lit!(AgentMessage {
                name,
                text,
                agent_id,
                schedule,
            })
        })
}

fn geo() -> impl Strategy<Value = GeoLocation> {
    (os(), os(), os(), os(), os(), of64(), of64()).prop_map(
        |(country_code, country_name, region, city, organization, latitude, longitude)| {
            lit!(GeoLocation {
                country_code,
                country_name,
                region,
                city,
                organization,
                latitude,
                longitude,
            })
        },
    )
}

fn entity_map() -> impl Strategy<Value = EntityMap> {
    (s(), s(), ob(), ob(), ob()).prop_map(
        |(entity_name, field_name, is_fast_fillable, is_auto_queryable, is_exact_matchable)| {
            EntityMap {
                entity_name,
                field_name,
                is_fast_fillable,
                is_auto_queryable,
                is_exact_matchable,
            }
        },
    )
}

fn custom_detail() -> impl Strategy<Value = CustomDetail> {
    (
        s(),
        s(),
        vec(s(), 0..3),
        ob(),
        vec(entity_map(), 0..2),
        ob(),
    )
        .prop_map(
            |(
                label,
                value,
                transcript_fields,
                display_to_agent,
                entity_maps,
                do_knowledge_search,
            )| {
                CustomDetail {
                    label,
                    value,
                    transcript_fields,
                    display_to_agent,
                    entity_maps,
                    do_knowledge_search,
                }
            },
        )
}

fn sensitive_rule() -> impl Strategy<Value = SensitiveDataRule> {
    (os(), os(), os(), os(), os()).prop_map(|(name, pattern, id, replacement, action_type)| {
        lit!(SensitiveDataRule {
            name,
            pattern,
            id,
            replacement,
            action_type,
        })
    })
}

fn chat_request_success() -> impl Strategy<Value = ChatRequestSuccess> {
    (
        (oi(), of64(), of(geo()), os(), os(), os()),
        (
            of(vec(custom_detail(), 0..3)),
            os(),
            of64(),
            of(vec(sensitive_rule(), 0..3)),
            ob(),
        ),
    )
        .prop_map(
            |(
                (queue_position, estimated_wait_time, geo_location, url, oref, post_chat_url),
                (
                    custom_details,
                    visitor_id,
                    connection_timeout,
                    sensitive_data_rules,
                    transcript_save_enabled,
                ),
            )| {
                lit!(ChatRequestSuccess {
                    queue_position,
                    estimated_wait_time,
                    geo_location,
                    url,
                    oref,
                    post_chat_url,
                    custom_details,
                    visitor_id,
                    connection_timeout,
                    sensitive_data_rules,
                    transcript_save_enabled,
                })
            },
        )
}

fn transcript_entry() -> impl Strategy<Value = TranscriptEntry> {
    (os(), os(), os(), of64(), of64()).prop_map(|(kind, name, content, timestamp, sequence)| {
        lit!(TranscriptEntry {
            kind,
            name,
            content,
            timestamp,
            sequence,
        })
    })
}

fn chasitor_session_data() -> impl Strategy<Value = ChasitorSessionData> {
    (
        oi(),
        of(geo()),
        os(),
        os(),
        os(),
        ob(),
        of(vec(transcript_entry(), 0..3)),
    )
        .prop_map(
            |(
                queue_position,
                geo_location,
                url,
                oref,
                post_chat_url,
                sneak_peek_enabled,
                chat_messages,
            )| {
                lit!(ChasitorSessionData {
                    queue_position,
                    geo_location,
                    url,
                    oref,
                    post_chat_url,
                    sneak_peek_enabled,
                    chat_messages,
                })
            },
        )
}

fn button() -> impl Strategy<Value = Button> {
    (
        (
            s(),
            os(),
            os(),
            os(),
            os(),
            any::<bool>(),
            os(),
            of64(),
            of64(),
        ),
        (os(), os(), os(), ob(), ob(), of64(), json_some(), of64()),
    )
        .prop_map(
            |(
                (
                    id,
                    kind,
                    endpoint_url,
                    prechat_url,
                    language,
                    is_available,
                    invite_image_url,
                    invite_image_width,
                    invite_image_height,
                ),
                (
                    invite_renderer,
                    invite_start_position,
                    invite_end_position,
                    has_invite_after_accept,
                    has_invite_after_reject,
                    invite_reject_time,
                    invite_rules,
                    estimated_wait_time,
                ),
            )| {
                lit!(Button {
                    id,
                    kind,
                    endpoint_url,
                    prechat_url,
                    language,
                    is_available,
                    invite_image_url,
                    invite_image_width,
                    invite_image_height,
                    invite_renderer,
                    invite_start_position,
                    invite_end_position,
                    has_invite_after_accept,
                    has_invite_after_reject,
                    invite_reject_time,
                    invite_rules,
                    estimated_wait_time,
                })
            },
        )
}

fn idle_warning() -> impl Strategy<Value = IdleWarning> + Clone {
    prop_oneof![Just(IdleWarning::Triggered), Just(IdleWarning::Cleared)]
}

/// A decodable `Message::Invalid`: a known type with one mistyped field, among arbitrary valid ones.
fn invalid_message() -> BoxedStrategy<Message> {
    let cases: Vec<(&str, &str)> = vec![
        ("QueueUpdate", "position"),
        ("ChatRequestSuccess", "queuePosition"),
        ("ChatEstablished", "sneakPeekEnabled"),
        ("ChasitorSessionData", "chatMessages"),
        ("Availability", "results"),
    ];
    (0..cases.len(), "x[a-z]{0,6}", json_object())
        .prop_map(move |(i, bad, mut extra)| {
            let (kind, field) = cases[i];
            extra.retain(|k, _| k != field);
            // Keep only fields the payload type does not know, so the bad field is the one error.
            extra.retain(|k, _| k.starts_with('_'));
            extra.insert(field.to_owned(), Value::String(bad));
            Message::decode(kind, &Value::Object(extra).to_string())
        })
        .boxed()
}

/// One strategy per message type, keyed by its wire `type`.
fn message_strategies() -> Vec<(&'static str, BoxedStrategy<Message>)> {
    vec![
        (
            "AgentDisconnect",
            agent_ref().prop_map(Message::AgentDisconnect).boxed(),
        ),
        (
            "AgentNotTyping",
            agent_ref().prop_map(Message::AgentNotTyping).boxed(),
        ),
        (
            "AgentTyping",
            agent_ref().prop_map(Message::AgentTyping).boxed(),
        ),
        (
            "ChasitorSessionData",
            chasitor_session_data()
                .prop_map(|d| Message::ChasitorSessionData(Box::new(d)))
                .boxed(),
        ),
        (
            "ChatEnded",
            (os(), json_some())
                .prop_map(|(reason, attached_records)| {
                    Message::ChatEnded(lit!(ChatEnded {
                        reason: reason.map(ChatEndReason::from),
                        attached_records,
                    }))
                })
                .boxed(),
        ),
        (
            "ChatEstablished",
            agent_info().prop_map(Message::ChatEstablished).boxed(),
        ),
        (
            "ChatMessage",
            agent_message().prop_map(Message::ChatMessage).boxed(),
        ),
        (
            "ChatRequestFail",
            (os(), os(), json_some())
                .prop_map(|(reason, post_chat_url, attached_records)| {
                    Message::ChatRequestFail(lit!(ChatRequestFail {
                        reason,
                        post_chat_url,
                        attached_records,
                    }))
                })
                .boxed(),
        ),
        (
            "ChatRequestSuccess",
            chat_request_success()
                .prop_map(|s| Message::ChatRequestSuccess(Box::new(s)))
                .boxed(),
        ),
        (
            "ChatTransferred",
            agent_info().prop_map(Message::ChatTransferred).boxed(),
        ),
        (
            "CustomEvent",
            (s(), s())
                .prop_map(|(kind, data)| Message::CustomEvent(lit!(CustomEvent { kind, data })))
                .boxed(),
        ),
        (
            "NewVisitorBreadcrumb",
            s().prop_map(|location| Message::NewVisitorBreadcrumb(lit!(Breadcrumb { location })))
                .boxed(),
        ),
        (
            "QueueUpdate",
            (oi(), of64())
                .prop_map(|(position, estimated_wait_time)| {
                    Message::QueueUpdate(lit!(QueueUpdate {
                        position,
                        estimated_wait_time,
                    }))
                })
                .boxed(),
        ),
        (
            "SensitiveDataRules",
            vec(sensitive_rule(), 0..4)
                .prop_map(|sensitive_data_rules| {
                    Message::SensitiveDataRules(lit!(SensitiveDataRules {
                        sensitive_data_rules,
                    }))
                })
                .boxed(),
        ),
        (
            "ReconnectSession",
            (ob(), s())
                .prop_map(|(reset_sequence, affinity_token)| {
                    Message::ReconnectSession(lit!(ReconnectSession {
                        reset_sequence,
                        affinity_token,
                    }))
                })
                .boxed(),
        ),
        (
            "SwitchServer",
            s().prop_map(|new_url| Message::SwitchServer(lit!(SwitchServer { new_url })))
                .boxed(),
        ),
        (
            "Availability",
            vec(
                (s(), any::<bool>(), of64()).prop_map(|(id, is_available, estimated_wait_time)| {
                    lit!(AvailabilityResult {
                        id,
                        is_available,
                        estimated_wait_time,
                    })
                }),
                0..4,
            )
            .prop_map(|results| Message::Availability(lit!(Availability { results })))
            .boxed(),
        ),
        (
            "Settings",
            (of64(), os(), vec(button(), 0..3))
                .prop_map(|(ping_rate, content_server_url, buttons)| {
                    Message::Settings(lit!(Settings {
                        ping_rate,
                        content_server_url,
                        buttons,
                    }))
                })
                .boxed(),
        ),
        (
            "VisitorId",
            s().prop_map(|session_id| Message::VisitorId(lit!(VisitorId { session_id })))
                .boxed(),
        ),
        (
            "AsyncResult",
            (ob(), os())
                .prop_map(|(is_success, error)| {
                    Message::AsyncResult(lit!(AsyncResult { is_success, error }))
                })
                .boxed(),
        ),
        (
            "FileTransfer",
            (os(), os(), os(), os())
                .prop_map(|(kind, upload_servlet_url, file_token, cdm_servlet_url)| {
                    Message::FileTransfer(lit!(FileTransfer {
                        kind,
                        upload_servlet_url,
                        file_token,
                        cdm_servlet_url,
                    }))
                })
                .boxed(),
        ),
        (
            "TransferToButtonInitiated",
            json_object()
                .prop_map(Message::TransferToButtonInitiated)
                .boxed(),
        ),
        (
            "ChatResumedAfterTransfer",
            (os(), ob(), ob())
                .prop_map(|(name, show_rich_avatar, is_transfer_failure)| {
                    Message::ChatResumedAfterTransfer(lit!(ChatResumedAfterTransfer {
                        name,
                        show_rich_avatar,
                        is_transfer_failure,
                    }))
                })
                .boxed(),
        ),
        (
            "AgentJoinedConference",
            agent_ref().prop_map(Message::AgentJoinedConference).boxed(),
        ),
        (
            "AgentLeftConference",
            agent_ref().prop_map(Message::AgentLeftConference).boxed(),
        ),
        (
            "RichMessage",
            (
                s(),
                os(),
                vec(
                    (os(), os()).prop_map(|(text, value)| lit!(RichItem { text, value })),
                    0..4,
                ),
            )
                .prop_map(|(kind, header, items)| {
                    Message::RichMessage(lit!(RichMessage {
                        kind,
                        header,
                        items,
                    }))
                })
                .boxed(),
        ),
        (
            "ChasitorIdleTimeoutWarningEvent",
            idle_warning()
                .prop_map(|w| {
                    Message::IdleTimeoutWarning(IdleTimeoutWarningEvent {
                        idle_timeout_warning_event: w,
                    })
                })
                .boxed(),
        ),
    ]
}

fn unknown_message() -> BoxedStrategy<Message> {
    ("[A-Za-z]{1,20}", json_object())
        .prop_filter("not a known type", |(k, _)| {
            !KNOWN_MESSAGE_TYPES.contains(&k.as_str())
        })
        .prop_map(|(kind, raw)| Message::Unknown {
            kind,
            raw: Value::Object(raw).into(),
        })
        .boxed()
}

fn any_message() -> BoxedStrategy<Message> {
    let mut all: Vec<BoxedStrategy<Message>> =
        message_strategies().into_iter().map(|(_, s)| s).collect();
    all.push(unknown_message());
    all.push(invalid_message());
    Union::new(all).boxed()
}

/// value → JSON → value through `Message`'s own serde impls.
fn roundtrip(m: &Message) -> Result<(), TestCaseError> {
    let text = serde_json::to_string(m).map_err(|e| TestCaseError::fail(e.to_string()))?;
    let back: Message =
        serde_json::from_str(&text).map_err(|e| TestCaseError::fail(e.to_string()))?;
    prop_assert_eq!(&back, m, "via {}", text);
    prop_assert_eq!(back.kind(), m.kind());
    Ok(())
}

#[test]
fn strategies_cover_every_message_type() {
    let kinds: Vec<&str> = message_strategies().iter().map(|(k, _)| *k).collect();
    assert_eq!(kinds, KNOWN_MESSAGE_TYPES);
}

#[test]
fn every_message_variant_roundtrips() {
    for (kind, strategy) in message_strategies() {
        let mut runner = TestRunner::new(config());
        runner
            .run(&strategy, |m| {
                prop_assert_eq!(m.kind(), kind);
                let fallback = matches!(m, Message::Unknown { .. } | Message::Invalid { .. });
                prop_assert!(!fallback, "decoded as a fallback: {:?}", m);
                roundtrip(&m)
            })
            .unwrap_or_else(|e| panic!("{kind}: {e}"));
    }
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn unknown_messages_roundtrip(m in unknown_message()) {
        let unknown = matches!(m, Message::Unknown { .. });
        prop_assert!(unknown);
        roundtrip(&m)?;
    }

    #[test]
    fn invalid_messages_roundtrip(m in invalid_message()) {
        let Message::Invalid { error, .. } = &m else {
            return Err(TestCaseError::fail(format!("not invalid: {m:?}")));
        };
        prop_assert!(error.starts_with("field `"), "{}", error);
        roundtrip(&m)?;
    }

    #[test]
    fn messages_body_roundtrips(
        messages in vec(any_message(), 0..6),
        sequence in oi(),
        offset in oi(),
    ) {
        let body = MessagesBody { messages, sequence, offset };
        let bytes = serde_json::to_vec(&body).map_err(|e| TestCaseError::fail(e.to_string()))?;
        match parse_messages(200, &bytes, &Limits::default()) {
            Ok(MessagesAnswer::Batch(back)) => prop_assert_eq!(&back, &body),
            other => return Err(TestCaseError::fail(format!("{other:?}"))),
        }
        prop_assert_eq!(parse_envelope(&bytes, &Limits::default()).ok(), Some(body));
    }
}

// ---------------------------------------------------------------------------------------------------------------
// Nouns
// ---------------------------------------------------------------------------------------------------------------

fn entity() -> impl Strategy<Value = Entity> {
    let fields = (s(), s(), any::<bool>(), any::<bool>(), any::<bool>()).prop_map(
        |(field_name, label, do_find, is_exact_match, do_create)| EntityFieldsMap {
            field_name,
            label,
            do_find,
            is_exact_match,
            do_create,
        },
    );
    (s(), ob(), os(), os(), os(), vec(fields, 0..3)).prop_map(
        |(
            entity_name,
            show_on_create,
            link_to_entity_name,
            link_to_entity_field,
            save_to_transcript,
            entity_fields_maps,
        )| {
            Entity {
                entity_name,
                show_on_create,
                link_to_entity_name,
                link_to_entity_field,
                save_to_transcript,
                entity_fields_maps,
            }
        },
    )
}

fn chasitor_init() -> impl Strategy<Value = ChasitorInit> {
    (
        (s(), s(), s(), os(), ob(), s(), s(), s()),
        (
            s(),
            s(),
            vec(custom_detail(), 0..3),
            vec(entity(), 0..2),
            vec(s(), 0..3),
            any::<bool>(),
            any::<bool>(),
            os(),
        ),
    )
        .prop_map(
            |(
                (
                    organization_id,
                    deployment_id,
                    button_id,
                    agent_id,
                    do_fallback,
                    session_id,
                    user_agent,
                    language,
                ),
                (
                    screen_resolution,
                    visitor_name,
                    prechat_details,
                    prechat_entities,
                    button_overrides,
                    receive_queue_updates,
                    is_post,
                    tracking_id,
                ),
            )| ChasitorInit {
                organization_id,
                deployment_id,
                button_id,
                agent_id,
                do_fallback,
                session_id,
                user_agent,
                language,
                screen_resolution,
                visitor_name,
                prechat_details,
                prechat_entities,
                button_overrides,
                receive_queue_updates,
                is_post,
                tracking_id,
            },
        )
}

fn noun_strategies() -> Vec<(&'static str, BoxedStrategy<Noun>)> {
    vec![
        (
            "ChasitorInit",
            chasitor_init()
                .prop_map(|i| Noun::ChasitorInit(Box::new(i)))
                .boxed(),
        ),
        (
            "ChasitorResyncState",
            s().prop_map(|organization_id| Noun::ChasitorResyncState { organization_id })
                .boxed(),
        ),
        ("ChasitorTyping", Just(Noun::ChasitorTyping).boxed()),
        ("ChasitorNotTyping", Just(Noun::ChasitorNotTyping).boxed()),
        (
            "ChasitorSneakPeek",
            (any::<i64>(), s())
                .prop_map(|(position, text)| Noun::ChasitorSneakPeek { position, text })
                .boxed(),
        ),
        (
            "ChatMessage",
            s().prop_map(|text| Noun::ChatMessage { text }).boxed(),
        ),
        (
            "CustomEvent",
            (s(), s())
                .prop_map(|(kind, data)| Noun::CustomEvent(lit!(CustomEvent { kind, data })))
                .boxed(),
        ),
        (
            "ChatEnd",
            prop_oneof![
                Just("client".to_owned()),
                Just("clientIdleTimeout".to_owned()),
                s()
            ]
            .prop_map(|reason| Noun::ChatEnd {
                reason: reason.into(),
            })
            .boxed(),
        ),
        (
            "ChasitorIdleTimeoutWarningEvent",
            idle_warning().prop_map(Noun::IdleTimeoutWarning).boxed(),
        ),
        (
            "SensitiveDataRuleTriggered",
            vec(
                (os(), s()).prop_map(|(id, name)| TriggeredRule { id, name }),
                0..4,
            )
            .prop_map(|rules| Noun::SensitiveDataRuleTriggered { rules })
            .boxed(),
        ),
        (
            "RichMessage",
            vec(
                (s(), any::<i64>(), s(), os()).prop_map(|(kind, index, value, dialog_id)| {
                    RichAction {
                        kind,
                        index,
                        value,
                        dialog_id,
                    }
                }),
                0..3,
            )
            .prop_map(|actions| Noun::RichMessage { actions })
            .boxed(),
        ),
    ]
}

#[test]
fn strategies_cover_every_noun() {
    let names: Vec<&str> = noun_strategies().iter().map(|(n, _)| *n).collect();
    assert_eq!(names, liveagent::testkit::wire_internals::NOUN_NAMES);
}

#[test]
fn every_noun_roundtrips() {
    for (name, strategy) in noun_strategies() {
        let mut runner = TestRunner::new(config());
        runner
            .run(&strategy, |noun| {
                prop_assert_eq!(noun.name(), name);
                let body = noun
                    .body()
                    .map_err(|e| TestCaseError::fail(e.to_string()))?;
                let back = Noun::decode(name, &body).map_err(|e| {
                    TestCaseError::fail(format!("{e} in {}", String::from_utf8_lossy(&body)))
                })?;
                prop_assert_eq!(back, noun);
                Ok(())
            })
            .unwrap_or_else(|e| panic!("{name}: {e}"));
    }
}

#[test]
fn noun_decode_accepts_an_empty_body_for_bodyless_nouns_and_refuses_unknown_names() {
    assert_eq!(
        Noun::decode("ChasitorTyping", b"").ok(),
        Some(Noun::ChasitorTyping)
    );
    assert_eq!(
        Noun::decode("ChasitorNotTyping", b" \n").ok(),
        Some(Noun::ChasitorNotTyping)
    );
    let e = Noun::decode("ChasitorDance", b"{}").unwrap_err();
    assert!(e.to_string().contains("ChasitorDance"), "{e}");
    // ChatEnd's reason is required (spec §3.3).
    assert!(Noun::decode("ChatEnd", b"{}").is_err());
}
