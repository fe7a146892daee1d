//! Request builders of `wire::Api`: one readable snapshot per builder (and per Chasitor noun), plus assertions
//! on the header matrix of spec §1.3.1 with the §10 recommendations, query/path encoding and secret hygiene.

#[macro_use]
mod common;

use http::Request;
use liveagent::wire::{
    AffinityToken, Api, AvailabilityQuery, BuildError, CustomDetail, CustomEvent, Endpoint, Entity,
    EntityFieldsMap, EntityMap, IdleWarning, Noun, ReconnectSession, RichAction, SessionAuth,
    SessionIdBody, SessionKey, SettingsQuery, TriggeredRule, header,
};

const HOST: &str = "https://d.la1-c1-phx.salesforceliveagent.com/chat/rest/";
const KEY: &str = "4eb90106-3410-4dd0-8f04-c4facf90a929!1519169434766!IbjEwmJkIIyqalZS3YBU8WO3nSM=";
const TOKEN: &str = "73061fa0";
const ORG: &str = "00DD0000000JVXs";
const DEPLOYMENT: &str = "572D000000000J6";
const BUTTON: &str = "573D000000000OC";

fn endpoint() -> Endpoint {
    Endpoint::parse(HOST).expect("endpoint")
}

fn key() -> SessionKey {
    SessionKey::new(KEY)
}

fn token() -> AffinityToken {
    AffinityToken::new(TOKEN)
}

/// Pretty-prints compact JSON without reordering keys (the wire order is part of what is snapshotted).
fn pretty_json(body: &[u8]) -> String {
    let text = std::str::from_utf8(body).expect("body is UTF-8");
    serde_json::from_str::<serde_json::Value>(text).expect("body is JSON");
    let chars: Vec<char> = text.chars().collect();
    let mut out = String::new();
    let mut indent = 0usize;
    let (mut in_str, mut escaped) = (false, false);
    let newline = |out: &mut String, indent: usize| {
        out.push('\n');
        out.push_str(&"  ".repeat(indent));
    };
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        i += 1;
        if in_str {
            out.push(c);
            if escaped {
                escaped = false;
            } else if c == '\\' {
                escaped = true;
            } else if c == '"' {
                in_str = false;
            }
            continue;
        }
        match c {
            '"' => {
                in_str = true;
                out.push(c);
            }
            '{' | '[' => {
                let close = if c == '{' { '}' } else { ']' };
                out.push(c);
                if chars.get(i) == Some(&close) {
                    out.push(close);
                    i += 1;
                } else {
                    indent += 1;
                    newline(&mut out, indent);
                }
            }
            '}' | ']' => {
                indent -= 1;
                newline(&mut out, indent);
                out.push(c);
            }
            ',' => {
                out.push(c);
                newline(&mut out, indent);
            }
            ':' => out.push_str(": "),
            c if c.is_whitespace() => {}
            c => out.push(c),
        }
    }
    out
}

/// Method, URI, the headers sorted by name, then the body.
fn render(req: &Request<Vec<u8>>) -> String {
    let mut out = format!("{} {}\n", req.method(), req.uri());
    let mut headers: Vec<(String, String)> = req
        .headers()
        .iter()
        .map(|(n, v)| {
            (
                n.as_str().to_owned(),
                v.to_str().expect("ASCII header").to_owned(),
            )
        })
        .collect();
    headers.sort();
    for (n, v) in headers {
        out.push_str(&format!("{n}: {v}\n"));
    }
    out.push('\n');
    if req.body().is_empty() {
        out.push_str("(no body)\n");
    } else {
        out.push_str(&pretty_json(req.body()));
        out.push('\n');
    }
    out
}

fn hdr<'r>(req: &'r Request<Vec<u8>>, name: &str) -> Option<&'r str> {
    req.headers()
        .get(name)
        .map(|v| v.to_str().expect("ASCII header"))
}

fn full_init() -> Noun {
    Noun::ChasitorInit(Box::new(liveagent::wire::ChasitorInit {
        organization_id: ORG.into(),
        deployment_id: DEPLOYMENT.into(),
        button_id: BUTTON.into(),
        agent_id: Some("005B0000000F3b2".into()),
        do_fallback: Some(true),
        session_id: "5503f854-0203-4324-8ed5-f793a367426f".into(),
        user_agent: "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_6_8) AppleWebKit/537.36".into(),
        language: "en-US".into(),
        screen_resolution: "2560x1440".into(),
        visitor_name: "Jon A.".into(),
        prechat_details: vec![
            CustomDetail {
                label: "E-mail Address".into(),
                value: "jon@example.com".into(),
                transcript_fields: vec!["c__EmailAddress".into()],
                display_to_agent: Some(true),
                entity_maps: vec![EntityMap {
                    entity_name: "Contact".into(),
                    field_name: "Email".into(),
                    is_fast_fillable: Some(false),
                    is_auto_queryable: Some(true),
                    is_exact_matchable: Some(true),
                }],
                do_knowledge_search: Some(false),
            },
            CustomDetail {
                label: "ContactLastName".into(),
                value: "A.".into(),
                transcript_fields: vec![],
                display_to_agent: None,
                entity_maps: vec![],
                do_knowledge_search: None,
            },
        ],
        prechat_entities: vec![Entity {
            entity_name: "Contact".into(),
            show_on_create: Some(true),
            link_to_entity_name: Some("Case".into()),
            link_to_entity_field: Some("ContactId".into()),
            save_to_transcript: Some("ContactId".into()),
            entity_fields_maps: vec![
                EntityFieldsMap {
                    field_name: "LastName".into(),
                    label: "ContactLastName".into(),
                    do_find: false,
                    is_exact_match: false,
                    do_create: true,
                },
                EntityFieldsMap {
                    field_name: "Email".into(),
                    label: "E-mail Address".into(),
                    do_find: true,
                    is_exact_match: true,
                    do_create: true,
                },
            ],
        }],
        button_overrides: vec![
            "573D000000000OD".into(),
            "005B0000000F3b2_573D000000000OC".into(),
        ],
        receive_queue_updates: true,
        is_post: true,
        tracking_id: Some(String::new()),
    }))
}

fn minimal_init() -> Noun {
    Noun::ChasitorInit(Box::new(liveagent::wire::ChasitorInit {
        organization_id: ORG.into(),
        deployment_id: DEPLOYMENT.into(),
        button_id: BUTTON.into(),
        session_id: "5503f854-0203-4324-8ed5-f793a367426f".into(),
        user_agent: "n/a".into(),
        language: "n/a".into(),
        screen_resolution: "n/a".into(),
        visitor_name: "Visitor".into(),
        receive_queue_updates: false,
        is_post: true,
        ..Default::default()
    }))
}

/// One value per Chasitor noun (two for ChasitorInit and the idle warning), with a snapshot name each.
fn all_nouns() -> Vec<(&'static str, Noun)> {
    vec![
        ("chasitor_init_full", full_init()),
        ("chasitor_init_minimal", minimal_init()),
        (
            "chasitor_resync_state",
            Noun::ChasitorResyncState {
                organization_id: ORG.into(),
            },
        ),
        ("chasitor_typing", Noun::ChasitorTyping),
        ("chasitor_not_typing", Noun::ChasitorNotTyping),
        (
            "chasitor_sneak_peek",
            Noun::ChasitorSneakPeek {
                position: 4,
                text: "I have a quest".into(),
            },
        ),
        (
            "chat_message",
            Noun::ChatMessage {
                text: "Hello \"agent\" \u{e9}\u{1F600}\nsecond line".into(),
            },
        ),
        (
            "custom_event",
            Noun::CustomEvent(lit!(CustomEvent {
                kind: "PromptForCreditCard".into(),
                data: "Visa".into(),
            })),
        ),
        (
            "chat_end",
            Noun::ChatEnd {
                reason: "client".into(),
            },
        ),
        (
            "idle_timeout_warning_triggered",
            Noun::IdleTimeoutWarning(IdleWarning::Triggered),
        ),
        (
            "idle_timeout_warning_cleared",
            Noun::IdleTimeoutWarning(IdleWarning::Cleared),
        ),
        (
            "sensitive_data_rule_triggered",
            Noun::SensitiveDataRuleTriggered {
                rules: vec![
                    TriggeredRule {
                        id: Some("0GORM00000001dM".into()),
                        name: "Replace-Bad-Word".into(),
                    },
                    TriggeredRule {
                        id: None,
                        name: "Filter-Out-Digits".into(),
                    },
                ],
            },
        ),
        (
            "rich_message",
            Noun::RichMessage {
                actions: vec![
                    RichAction {
                        kind: "ChatWindowMenu".into(),
                        index: 0,
                        value: "Billing".into(),
                        dialog_id: None,
                    },
                    RichAction {
                        kind: "ChatWindowFooterMenu".into(),
                        index: 2,
                        value: "Talk to a human".into(),
                        dialog_id: Some("0Xx000000000001".into()),
                    },
                ],
            },
        ),
    ]
}

// ---------------------------------------------------------------------------------------------------------------
// Snapshots
// ---------------------------------------------------------------------------------------------------------------

#[test]
fn snapshot_session_id() {
    let ep = endpoint();
    let req = Api::new(&ep, 59).session_id().expect("build");
    insta::assert_snapshot!("session_id", render(&req));
}

#[test]
fn snapshot_delete_session() {
    let (ep, k, t) = (endpoint(), key(), token());
    let auth = SessionAuth {
        key: &k,
        affinity: Some(&t),
    };
    let req = Api::new(&ep, 59).delete_session(auth).expect("build");
    insta::assert_snapshot!("delete_session", render(&req));
}

#[test]
fn snapshot_reconnect_session() {
    let (ep, k) = (endpoint(), key());
    let api = Api::new(&ep, 42);
    let with = api.reconnect_session(&k, Some(54_647_226)).expect("build");
    insta::assert_snapshot!("reconnect_session_with_offset", render(&with));
    let without = api.reconnect_session(&k, None).expect("build");
    insta::assert_snapshot!("reconnect_session_without_offset", render(&without));
}

#[test]
fn snapshot_messages() {
    let (ep, k, t) = (endpoint(), key(), token());
    let auth = SessionAuth {
        key: &k,
        affinity: Some(&t),
    };
    let api = Api::new(&ep, 59);
    let first = api.messages(auth, -1, Some(0)).expect("build");
    insta::assert_snapshot!("messages_ack_minus1_pc0", render(&first));
    let later = api.messages(auth, 17, Some(3)).expect("build");
    insta::assert_snapshot!("messages_ack17_pc3", render(&later));
    let no_pc = api.messages(auth, 17, None).expect("build");
    insta::assert_snapshot!("messages_ack17_no_pc", render(&no_pc));
}

#[test]
fn snapshot_every_chasitor_noun() {
    let (ep, k, t) = (endpoint(), key(), token());
    let auth = SessionAuth {
        key: &k,
        affinity: Some(&t),
    };
    let api = Api::new(&ep, 59);
    for (i, (name, noun)) in all_nouns().into_iter().enumerate() {
        let req = api.chasitor(auth, &noun, i as u64 + 1).expect("build");
        insta::assert_snapshot!(format!("chasitor_{name}"), render(&req));
    }
}

#[test]
fn every_noun_variant_is_snapshotted() {
    let mut covered: Vec<&str> = all_nouns().iter().map(|(_, n)| n.name()).collect();
    covered.sort_unstable();
    covered.dedup();
    let mut all: Vec<&str> = liveagent::testkit::wire_internals::NOUN_NAMES.to_vec();
    all.sort_unstable();
    assert_eq!(
        covered, all,
        "all_nouns() must cover every wire::Noun variant"
    );
}

#[test]
fn snapshot_multi_noun() {
    let (ep, k, t) = (endpoint(), key(), token());
    let auth = SessionAuth {
        key: &k,
        affinity: Some(&t),
    };
    let nouns = [
        Noun::ChatMessage {
            text: "Goodbye".into(),
        },
        Noun::ChatEnd {
            reason: "client".into(),
        },
    ];
    let req = Api::new(&ep, 59)
        .multi_noun(auth, &nouns, 7)
        .expect("build");
    insta::assert_snapshot!("multi_noun", render(&req));

    // Structure, independent of the snapshot: one NounWrapper per noun, payload under `object` (spec §3.3).
    let v: serde_json::Value = serde_json::from_slice(req.body()).expect("json");
    assert_eq!(
        v,
        serde_json::json!({"nouns": [
            {"prefix": "Chasitor", "noun": "ChatMessage", "object": {"text": "Goodbye"}},
            {"prefix": "Chasitor", "noun": "ChatEnd", "object": {"reason": "client"}}
        ]})
    );
}

#[test]
fn snapshot_settings() {
    let ep = endpoint();
    let q = SettingsQuery {
        org_id: ORG.into(),
        deployment_id: DEPLOYMENT.into(),
        button_ids: vec![
            "5731r000000kBrT".into(),
            BUTTON.into(),
            "573D000000000OD".into(),
        ],
        need_estimated_wait_time: true,
        update_breadcrumb: Some(true),
    };
    let req = Api::new(&ep, 59).settings(&q).expect("build");
    insta::assert_snapshot!("settings", render(&req));
    let plain = Api::new(&ep, 59)
        .settings(&SettingsQuery {
            org_id: ORG.into(),
            deployment_id: DEPLOYMENT.into(),
            button_ids: vec![BUTTON.into()],
            need_estimated_wait_time: false,
            update_breadcrumb: Some(false),
        })
        .expect("build");
    insta::assert_snapshot!("settings_no_wait_no_breadcrumb", render(&plain));
}

#[test]
fn snapshot_availability() {
    let ep = endpoint();
    let q = AvailabilityQuery {
        org_id: ORG.into(),
        deployment_id: DEPLOYMENT.into(),
        ids: vec![BUTTON.into(), "005B0000000F3b2".into()],
        need_estimated_wait_time: true,
    };
    let req = Api::new(&ep, 59).availability(&q).expect("build");
    insta::assert_snapshot!("availability", render(&req));
    let odd = AvailabilityQuery {
        org_id: "00D 1+2".into(),
        deployment_id: DEPLOYMENT.into(),
        ids: vec!["573/a&b=c".into(), "id,with,commas".into(), "[x]".into()],
        need_estimated_wait_time: false,
    };
    let req = Api::new(&ep, 59).availability(&odd).expect("build");
    insta::assert_snapshot!("availability_percent_encoded", render(&req));
}

#[test]
fn snapshot_breadcrumb() {
    let (ep, k, t) = (endpoint(), key(), token());
    let api = Api::new(&ep, 59);
    let anon = api
        .breadcrumb("http://yoursite/page2?a=1&b=2", None)
        .expect("build");
    insta::assert_snapshot!("breadcrumb_without_session", render(&anon));
    let auth = SessionAuth {
        key: &k,
        affinity: Some(&t),
    };
    let with = api
        .breadcrumb("http://yoursite/page2", Some(auth))
        .expect("build");
    insta::assert_snapshot!("breadcrumb_with_session", render(&with));
}

#[test]
fn snapshot_visitor_id() {
    let ep = endpoint();
    let req = Api::new(&ep, 59)
        .visitor_id(ORG, DEPLOYMENT)
        .expect("build");
    insta::assert_snapshot!("visitor_id", render(&req));
}

// ---------------------------------------------------------------------------------------------------------------
// Header matrix (spec §1.3.1 + §10 recommendation)
// ---------------------------------------------------------------------------------------------------------------

/// Which of the four X-LIVEAGENT headers a request carries: (api-version, affinity, session-key, sequence).
fn matrix(req: &Request<Vec<u8>>) -> (bool, bool, bool, bool) {
    (
        hdr(req, header::API_VERSION).is_some(),
        hdr(req, header::AFFINITY).is_some(),
        hdr(req, header::SESSION_KEY).is_some(),
        hdr(req, header::SEQUENCE).is_some(),
    )
}

#[test]
fn header_matrix_matches_spec() {
    let (ep, k, t) = (endpoint(), key(), token());
    let auth = SessionAuth {
        key: &k,
        affinity: Some(&t),
    };
    let api = Api::new(&ep, 59);
    const ALL: (bool, bool, bool, bool) = (true, true, true, true);
    const SESSION: (bool, bool, bool, bool) = (true, true, true, false);
    const VERSION_ONLY: (bool, bool, bool, bool) = (true, false, false, false);

    assert_eq!(
        matrix(&api.session_id().unwrap()),
        (true, true, false, false),
        "SessionId"
    );
    // DELETE: the doc lists AFFINITY + API-VERSION; §10 recommends SESSION-KEY too (SDK).
    assert_eq!(
        matrix(&api.delete_session(auth).unwrap()),
        SESSION,
        "DELETE SessionId"
    );
    assert_eq!(
        matrix(&api.reconnect_session(&k, Some(1)).unwrap()),
        SESSION,
        "ReconnectSession"
    );
    assert_eq!(
        matrix(&api.messages(auth, -1, Some(0)).unwrap()),
        SESSION,
        "Messages"
    );
    assert_eq!(
        matrix(&api.multi_noun(auth, &[Noun::ChasitorTyping], 1).unwrap()),
        ALL,
        "MultiNoun"
    );
    for (name, noun) in all_nouns() {
        let req = api.chasitor(auth, &noun, 3).unwrap();
        let expected = if noun.name() == "ChasitorResyncState" {
            SESSION
        } else {
            // Including SensitiveDataRuleTriggered (all four, as the SDK does; §10) and the inferred
            // ChasitorIdleTimeoutWarningEvent and RichMessage.
            ALL
        };
        assert_eq!(matrix(&req), expected, "Chasitor/{name}");
        assert_eq!(noun.is_sequenced(), expected == ALL, "{name}");
    }
    let settings = SettingsQuery {
        org_id: ORG.into(),
        deployment_id: DEPLOYMENT.into(),
        button_ids: vec![BUTTON.into()],
        ..Default::default()
    };
    assert_eq!(
        matrix(&api.settings(&settings).unwrap()),
        VERSION_ONLY,
        "Settings"
    );
    let avail = AvailabilityQuery {
        org_id: ORG.into(),
        deployment_id: DEPLOYMENT.into(),
        ids: vec![BUTTON.into()],
        ..Default::default()
    };
    assert_eq!(
        matrix(&api.availability(&avail).unwrap()),
        VERSION_ONLY,
        "Availability"
    );
    assert_eq!(
        matrix(&api.visitor_id(ORG, DEPLOYMENT).unwrap()),
        VERSION_ONLY,
        "VisitorId"
    );
    assert_eq!(
        matrix(&api.breadcrumb("http://x/", None).unwrap()),
        VERSION_ONLY,
        "Breadcrumb"
    );
    // With a session the breadcrumb carries key and affinity (inferred, §3.5.3), never a sequence.
    assert_eq!(
        matrix(&api.breadcrumb("http://x/", Some(auth)).unwrap()),
        SESSION,
        "Breadcrumb with session"
    );
}

#[test]
fn header_values_are_exact() {
    let (ep, k, t) = (endpoint(), key(), token());
    let auth = SessionAuth {
        key: &k,
        affinity: Some(&t),
    };
    let api = Api::new(&ep, 59);
    let req = api
        .chasitor(auth, &Noun::ChatMessage { text: "hi".into() }, 42)
        .unwrap();
    assert_eq!(hdr(&req, header::API_VERSION), Some("59"));
    assert_eq!(hdr(&req, header::AFFINITY), Some(TOKEN));
    assert_eq!(hdr(&req, header::SESSION_KEY), Some(KEY));
    assert_eq!(hdr(&req, header::SEQUENCE), Some("42"));
    // The session key header is marked sensitive (HTTP/2 never-index, hidden from header Debug).
    assert!(req.headers()[header::SESSION_KEY].is_sensitive());
    assert!(!format!("{:?}", req.headers()).contains(KEY));
}

#[test]
fn literal_null_affinity_on_session_id_and_reconnect() {
    let (ep, k) = (endpoint(), key());
    let api = Api::new(&ep, 42);
    assert_eq!(
        hdr(&api.session_id().unwrap(), header::AFFINITY),
        Some("null")
    );
    assert_eq!(
        hdr(
            &api.reconnect_session(&k, Some(54_647_226)).unwrap(),
            header::AFFINITY
        ),
        Some("null")
    );
    assert_eq!(
        hdr(&api.reconnect_session(&k, None).unwrap(), header::AFFINITY),
        Some("null")
    );
    // A session-scoped request before the token is known sends `null` too.
    let auth = SessionAuth {
        key: &k,
        affinity: None,
    };
    assert_eq!(
        hdr(&api.messages(auth, -1, None).unwrap(), header::AFFINITY),
        Some("null")
    );
}

#[test]
fn sequence_absent_on_resync_state_only() {
    let (ep, k, t) = (endpoint(), key(), token());
    let auth = SessionAuth {
        key: &k,
        affinity: Some(&t),
    };
    let api = Api::new(&ep, 59);
    let resync = api
        .chasitor(
            auth,
            &Noun::ChasitorResyncState {
                organization_id: ORG.into(),
            },
            9,
        )
        .unwrap();
    assert_eq!(hdr(&resync, header::SEQUENCE), None);
    assert_eq!(hdr(&resync, header::SESSION_KEY), Some(KEY));
    let typing = api.chasitor(auth, &Noun::ChasitorTyping, 9).unwrap();
    assert_eq!(hdr(&typing, header::SEQUENCE), Some("9"));
    assert_eq!(typing.body().as_slice(), b"{}");
}

#[test]
fn content_type_on_every_post_and_only_there() {
    let (ep, k, t) = (endpoint(), key(), token());
    let auth = SessionAuth {
        key: &k,
        affinity: Some(&t),
    };
    let api = Api::new(&ep, 59);
    let mut posts: Vec<Request<Vec<u8>>> = all_nouns()
        .iter()
        .map(|(_, n)| api.chasitor(auth, n, 1).unwrap())
        .collect();
    posts.push(api.multi_noun(auth, &[Noun::ChasitorTyping], 1).unwrap());
    posts.push(api.breadcrumb("http://x/", None).unwrap());
    posts.push(api.breadcrumb("http://x/", Some(auth)).unwrap());
    for req in &posts {
        assert_eq!(req.method(), http::Method::POST, "{}", req.uri());
        assert_eq!(
            hdr(req, "content-type"),
            Some("application/json"),
            "{}",
            req.uri()
        );
        serde_json::from_slice::<serde_json::Value>(req.body()).expect("POST body is JSON");
    }
    let gets = [
        api.session_id().unwrap(),
        api.delete_session(auth).unwrap(),
        api.reconnect_session(&k, None).unwrap(),
        api.messages(auth, -1, None).unwrap(),
        api.visitor_id(ORG, DEPLOYMENT).unwrap(),
    ];
    for req in &gets {
        assert_ne!(req.method(), http::Method::POST);
        assert_eq!(hdr(req, "content-type"), None, "{}", req.uri());
        assert!(req.body().is_empty());
    }
}

#[test]
fn list_parameters_are_bracketed() {
    let ep = endpoint();
    let api = Api::new(&ep, 59);
    let s = api
        .settings(&SettingsQuery {
            org_id: ORG.into(),
            deployment_id: DEPLOYMENT.into(),
            button_ids: vec!["a1".into(), "b2".into()],
            ..Default::default()
        })
        .unwrap();
    let q = s.uri().query().unwrap();
    assert!(q.contains("Settings.buttonIds=[a1,b2]"), "{q}");
    assert!(!q.contains("needEstimatedWaitTime"), "{q}");
    assert!(!q.contains("updateBreadcrumb"), "{q}");
    let a = api
        .availability(&AvailabilityQuery {
            org_id: ORG.into(),
            deployment_id: DEPLOYMENT.into(),
            ids: vec!["a1".into(), "b2".into()],
            need_estimated_wait_time: true,
        })
        .unwrap();
    let q = a.uri().query().unwrap();
    assert!(q.contains("Availability.ids=[a1,b2]"), "{q}");
    assert!(q.contains("Availability.needEstimatedWaitTime=1"), "{q}");
    let single = api
        .availability(&AvailabilityQuery {
            org_id: ORG.into(),
            deployment_id: DEPLOYMENT.into(),
            ids: vec!["a1".into()],
            need_estimated_wait_time: false,
        })
        .unwrap();
    assert!(
        single
            .uri()
            .query()
            .unwrap()
            .ends_with("Availability.ids=[a1]")
    );
}

#[test]
fn query_values_are_percent_encoded() {
    let ep = endpoint();
    let api = Api::new(&ep, 59);
    let a = api
        .availability(&AvailabilityQuery {
            org_id: "00D 1+2".into(),
            deployment_id: "572&x=y".into(),
            ids: vec!["573/a&b=c".into(), "id,with,commas".into(), "é".into()],
            need_estimated_wait_time: false,
        })
        .unwrap();
    let q = a.uri().query().unwrap();
    assert_eq!(
        q,
        "org_id=00D%201%2B2&deployment_id=572%26x%3Dy\
         &Availability.ids=[573%2Fa%26b%3Dc,id%2Cwith%2Ccommas,%C3%A9]"
    );
    // Decoding each value gives back what was given.
    let ids = q.split("Availability.ids=[").nth(1).unwrap();
    let ids: Vec<String> = ids
        .trim_end_matches(']')
        .split(',')
        .map(liveagent::testkit::wire_internals::percent_decode)
        .collect();
    assert_eq!(ids, ["573/a&b=c", "id,with,commas", "é"]);

    let v = api.visitor_id("00D?#", "572%").unwrap();
    assert_eq!(
        v.uri().query(),
        Some("org_id=00D%3F%23&deployment_id=572%25")
    );
    assert_eq!(v.uri().path(), "/chat/rest/Visitor/VisitorId");
}

#[test]
fn session_key_with_slash_is_escaped_in_delete_path() {
    let ep = endpoint();
    let k = SessionKey::new("4eb90106!1519169434766!Ibj/EwmJk+IIyq=");
    let t = token();
    let req = Api::new(&ep, 59)
        .delete_session(SessionAuth {
            key: &k,
            affinity: Some(&t),
        })
        .unwrap();
    assert_eq!(req.method(), http::Method::DELETE);
    assert_eq!(
        req.uri().path(),
        "/chat/rest/System/SessionId/4eb90106!1519169434766!Ibj%2FEwmJk+IIyq="
    );
    // Exactly one path segment after SessionId/.
    assert_eq!(req.uri().path().matches('/').count(), 5);
    assert_eq!(
        liveagent::testkit::wire_internals::percent_decode(
            req.uri().path().rsplit('/').next().unwrap()
        ),
        k.expose()
    );
    // The header still carries the key unescaped.
    assert_eq!(hdr(&req, header::SESSION_KEY), Some(k.expose()));
}

#[test]
fn endpoint_forms_give_the_same_uri() {
    for form in [
        "https://d.la1-c1-phx.salesforceliveagent.com",
        "https://d.la1-c1-phx.salesforceliveagent.com/chat/rest/",
        "https://d.la1-c1-phx.salesforceliveagent.com/chat",
        "d.la1-c1-phx.salesforceliveagent.com",
    ] {
        let ep = Endpoint::parse(form).unwrap();
        let req = Api::new(&ep, 59).session_id().unwrap();
        assert_eq!(
            req.uri().to_string(),
            "https://d.la1-c1-phx.salesforceliveagent.com/chat/rest/System/SessionId",
            "{form}"
        );
    }
}

// ---------------------------------------------------------------------------------------------------------------
// Secrets
// ---------------------------------------------------------------------------------------------------------------

#[test]
fn debug_never_shows_secrets() {
    let (k, t) = (key(), token());
    let auth = SessionAuth {
        key: &k,
        affinity: Some(&t),
    };
    let mut body = SessionIdBody::new(
        "241590f5-2e59-44b5-af89-9cae83bb6947",
        SessionKey::new(KEY),
        AffinityToken::new(TOKEN),
    );
    body.client_poll_timeout = Some(30);
    let reconnect: ReconnectSession =
        serde_json::from_str(r#"{"resetSequence":true,"affinityToken":"efae1fa0"}"#).unwrap();
    let rendered = [
        format!("{k:?}"),
        format!("{k:#?}"),
        format!("{t:?}"),
        format!("{auth:?}"),
        format!("{auth:#?}"),
        format!("{body:?}"),
        format!("{body:#?}"),
        format!("{reconnect:?}"),
        format!("{reconnect:#?}"),
    ];
    for r in &rendered {
        assert!(!r.contains(KEY), "{r}");
        assert!(!r.contains("IbjEwmJk"), "{r}");
        assert!(!r.contains(TOKEN), "{r}");
        assert!(!r.contains("efae1fa0"), "{r}");
    }
    assert_eq!(rendered[0], "SessionKey(<redacted>)");
    assert_eq!(rendered[2], "AffinityToken(<redacted>)");
    // Non-secret parts stay visible.
    assert!(rendered[5].contains("241590f5-2e59-44b5-af89-9cae83bb6947"));
    assert!(rendered[7].contains("reset_sequence: Some(true)"));
    // The secrets are still available for the wire.
    assert_eq!(k.expose(), KEY);
    assert_eq!(reconnect.affinity_token, "efae1fa0");
}

#[test]
fn newline_in_header_value_is_invalid_header_without_the_secret() {
    let ep = endpoint();
    let api = Api::new(&ep, 59);
    let bad_key = SessionKey::new("secret-KEY-123\r\nX-Injected: yes");
    let good_token = token();
    let auth = SessionAuth {
        key: &bad_key,
        affinity: Some(&good_token),
    };
    let errors = [
        api.messages(auth, -1, None).unwrap_err(),
        api.chasitor(auth, &Noun::ChasitorTyping, 1).unwrap_err(),
        api.multi_noun(auth, &[Noun::ChasitorTyping], 1)
            .unwrap_err(),
        api.delete_session(auth).unwrap_err(),
        api.reconnect_session(&bad_key, Some(1)).unwrap_err(),
        api.breadcrumb("http://x/", Some(auth)).unwrap_err(),
    ];
    for e in &errors {
        assert_eq!(
            *e,
            BuildError::InvalidHeader {
                header: "X-LIVEAGENT-SESSION-KEY"
            }
        );
        for text in [e.to_string(), format!("{e:?}")] {
            assert!(!text.contains("secret-KEY-123"), "{text}");
            assert!(!text.contains("Injected"), "{text}");
        }
    }

    let good_key = key();
    let bad_token = AffinityToken::new("tok-SECRET\n");
    let e = api
        .messages(
            SessionAuth {
                key: &good_key,
                affinity: Some(&bad_token),
            },
            -1,
            None,
        )
        .unwrap_err();
    assert_eq!(
        e,
        BuildError::InvalidHeader {
            header: "X-LIVEAGENT-AFFINITY"
        }
    );
    assert!(!e.to_string().contains("tok-SECRET"));
    assert!(!format!("{e:?}").contains("tok-SECRET"));
}
