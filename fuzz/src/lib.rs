//! The checks behind the cargo-fuzz targets of `liveagent` (issue #5).
//!
//! Each public function takes the raw fuzzer input, never panics on its own account, and panics (with a
//! message saying what broke) when the code under test violates an invariant. The targets in
//! `fuzz/fuzz_targets/` are one-line wrappers around these functions, and `tests/fuzz_regressions.rs` includes
//! this file with `#[path]` to replay every seed and every crash found on the stable toolchain, through the
//! same code path.
//!
//! | target | what it feeds | what it checks |
//! |---|---|---|
//! | [`parse_session_id`] | status + bytes to `parse_session_id` | no panic; errors never quote the body; a parsed body re-serialises and parses to the same value |
//! | [`parse_messages`] | status + bytes to `parse_messages`/`parse_envelope`; kind + payload to `Message::decode` | no panic; both parsers agree; `MessagesBody` and every `Message` re-serialise and parse to the same value |
//! | [`parse_visitor`] | status + bytes to the Settings/Availability/VisitorId/ReconnectSession parsers | no panic; the value re-serialises bare and wrapped and parses to the same value |
//! | [`parse_error`] | any status + bytes to `ServerError::parse` | no panic; status kept; text trimmed and short; `OutOfSync` only for 409; round trip |
//! | [`decode_noun`] | noun name + body to `Noun::decode`, and to the simulator as a Chasitor POST or MultiNoun | no panic; a decoded noun re-encodes (`Noun::body`) and decodes to the same value; the simulator answers |
//! | [`session_ops`] | `Arbitrary` ops turned into `liveagent::testkit::Op`s | every invariant of the testkit `Monitor` after every step |
//! | [`sim_session`] | an `Arbitrary` fault plan, agent script and visitor script | a `Session` against `liveagent::sim::Server`, driven by `sim::Pair`: exactly-once, in-order delivery both ways, judged by `Pair::check_delivery` from the simulator's record (see [`sim_session`]) |
//! | [`hostile_server`] | a chat, then answers a hostile server would send: any status, any body, SwitchServer to any URL, any `sequence`, oversized batches | the testkit `Monitor`: no request outside the redirect policy, every delivered agent message reaches the application, events per step under the caps (issue #10) |
#![forbid(unsafe_code)]

use arbitrary::{Arbitrary, Unstructured};
use liveagent::Timestamp;
use liveagent::sim::{
    AgentAction, AgentScript, AgentStep, Fault, FaultKind, FaultPlan, Pair, PairError,
    Reply as SimReply, Server, SimConfig, Trigger,
};
use liveagent::testkit::wire_internals::{self, SNIPPET_LEN};
use liveagent::testkit::{
    BatchSpec, ErrorStatus, Harness, MsgSpec, Op, ReconnectSpec, Reply, SECRET_MARK, SeqSpec,
    SessionBodySpec, Setup, TimeStep,
};
use liveagent::wire::{
    self, Api, DecodeError, Limits, Message, MessagesAnswer, MessagesBody, Noun, ServerError,
};
use liveagent::{Config, RetryPolicy};
use serde_json::Value;
use std::time::Duration;

/// A target's entry point: takes the fuzzer's bytes, panics on a violated invariant.
pub type Target = fn(&[u8]);

/// Every target, by name (the names of the cargo-fuzz binaries and of the `fuzz/seeds/` folders).
pub const TARGETS: &[(&str, Target)] = &[
    ("parse_session_id", parse_session_id),
    ("parse_messages", parse_messages),
    ("parse_visitor", parse_visitor),
    ("parse_error", parse_error),
    ("decode_noun", decode_noun),
    ("session_ops", session_ops),
    ("sim_session", sim_session),
    ("hostile_server", hostile_server),
];

// ---------------------------------------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------------------------------------

/// Splits the status off an input: a first byte below 0xE0 means 200 (so a seed is `\0` + a fixture body);
/// from 0xE0 on, the next two bytes are the status, big-endian (any `u16`).
fn split_status(data: &[u8]) -> (u16, &[u8]) {
    match data {
        [b, hi, lo, rest @ ..] if *b >= 0xE0 => (u16::from_be_bytes([*hi, *lo]), rest),
        [_, rest @ ..] => (200, rest),
        [] => (200, &[]),
    }
}

/// Floats that print and parse back may move by an ulp with serde_json's default (not `float_roundtrip`)
/// parser; that is serde_json's documented trade-off, not a bug of the crate.
fn close(a: f64, b: f64) -> bool {
    a == b || (a - b).abs() <= 4.0 * f64::EPSILON * a.abs().max(b.abs())
}

/// JSON equality with [`close`] floats.
fn json_eq(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => {
            x == y
                || match (x.as_f64(), y.as_f64()) {
                    (Some(p), Some(q)) => close(p, q),
                    _ => false,
                }
        }
        (Value::Array(x), Value::Array(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(p, q)| json_eq(p, q))
        }
        (Value::Object(x), Value::Object(y)) => {
            x.len() == y.len()
                && x.iter()
                    .all(|(k, v)| y.get(k).is_some_and(|w| json_eq(v, w)))
        }
        _ => a == b,
    }
}

/// `a == b`, or equal as JSON up to [`close`] floats.
fn same<T: PartialEq + serde::Serialize + std::fmt::Debug>(what: &str, a: &T, b: &T) {
    if a == b {
        return;
    }
    let (ja, jb) = (serde_json::to_value(a), serde_json::to_value(b));
    match (ja, jb) {
        (Ok(ja), Ok(jb)) if json_eq(&ja, &jb) => {}
        _ => panic!("{what}: round trip changed the value\n before: {a:?}\n after:  {b:?}"),
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Class {
    Typed,
    Unknown,
    Invalid,
}

fn class(m: &Message) -> Class {
    match m {
        Message::Unknown { .. } => Class::Unknown,
        Message::Invalid { .. } => Class::Invalid,
        _ => Class::Typed,
    }
}

/// A message and its round trip must agree: same `type`, same variant, same payload (floats up to [`close`]).
/// `Invalid::error` is not compared: it quotes serde_json's line and column, which move when the JSON is
/// re-printed compactly.
fn same_message(what: &str, a: &Message, b: &Message) {
    if a == b {
        return;
    }
    let ok = a.kind() == b.kind()
        && class(a) == class(b)
        && json_eq(&a.payload_json(), &b.payload_json());
    assert!(
        ok,
        "{what}: message changed in a round trip\n before: {a:?}\n after:  {b:?}"
    );
}

fn same_body(what: &str, a: &MessagesBody, b: &MessagesBody) {
    assert!(
        a.sequence == b.sequence && a.offset == b.offset && a.messages.len() == b.messages.len(),
        "{what}: envelope changed in a round trip\n before: {a:?}\n after:  {b:?}"
    );
    for (x, y) in a.messages.iter().zip(&b.messages) {
        same_message(what, x, y);
    }
}

fn to_json<T: serde::Serialize + std::fmt::Debug>(what: &str, v: &T) -> Vec<u8> {
    match serde_json::to_vec(v) {
        Ok(b) => b,
        Err(e) => panic!("{what}: {v:?} does not serialise: {e}"),
    }
}

/// Errors of parsers whose body holds secrets must not quote it.
fn no_snippet(what: &str, e: &DecodeError) {
    match e {
        DecodeError::Json { snippet, .. } | DecodeError::UnexpectedStatus { snippet, .. } => {
            assert!(snippet.is_empty(), "{what}: error quotes the body: {e:?}");
        }
        _ => {}
    }
}

/// Every error renders, and its snippet stays short.
fn error_renders(e: &DecodeError) {
    let _ = e.to_string();
    if let DecodeError::Json { snippet, .. } | DecodeError::UnexpectedStatus { snippet, .. } = e {
        // Lossy UTF-8 of at most SNIPPET_LEN bytes: each byte becomes at most U+FFFD (3 bytes).
        assert!(
            snippet.len() <= 3 * SNIPPET_LEN,
            "snippet of {} bytes: {e:?}",
            snippet.len()
        );
    }
}

fn limits_for(sel: u8) -> Limits {
    if sel & 0x40 != 0 {
        Limits {
            max_body_bytes: usize::from(sel & 0x3f),
            ..Limits::default()
        }
    } else {
        Limits::default()
    }
}

// ---------------------------------------------------------------------------------------------------------
// parse_session_id
// ---------------------------------------------------------------------------------------------------------

/// Input: [`split_status`] framing, then the body (bit 0x40 of the first byte below 0xE0: a tiny size limit).
///
/// Checks: no panic; errors never quote the body (it holds the key); an accepted body has a non-empty `id` and
/// `key`, and re-serialises and parses to the same value.
pub fn parse_session_id(data: &[u8]) {
    let (status, body) = split_status(data);
    let limits = limits_for(data.first().copied().unwrap_or(0));
    match wire::parse_session_id(status, body, &limits) {
        Ok(v) => {
            assert_eq!(status, 200, "SessionId accepted with status {status}");
            assert!(!v.id.is_empty() && !v.key.expose().is_empty());
            let bytes = to_json("SessionIdBody", &v);
            match wire::parse_session_id(200, &bytes, &Limits::default()) {
                Ok(again) => assert_eq!(v, again, "SessionIdBody round trip"),
                Err(e) => panic!("SessionIdBody {v:?} re-serialised does not parse: {e}"),
            }
        }
        Err(e) => {
            error_renders(&e);
            no_snippet("SessionId", &e);
        }
    }
}

// ---------------------------------------------------------------------------------------------------------
// parse_messages
// ---------------------------------------------------------------------------------------------------------

/// Input: the first byte chooses the mode.
/// * below 0xC0: [`split_status`] framing and a Messages body (`parse_messages`, and `parse_envelope` on the
///   same bytes);
/// * 0xC0..0xE0: `Message::decode` with the type `KNOWN_MESSAGE_TYPES[second byte]` (or an unknown type past
///   the end) and the rest, as lossy UTF-8, as the payload;
/// * from 0xE0: [`split_status`] framing with an explicit status.
///
/// Checks: no panic; `parse_messages(200, b)` and `parse_envelope(b)` agree; the decoded `MessagesBody`
/// serialised and parsed again is the same (see `same_message` for how `Invalid`/`Unknown` and floats are
/// compared); each `Message` serialised alone and deserialised is the same; serialising is then stable.
pub fn parse_messages(data: &[u8]) {
    let sel = data.first().copied().unwrap_or(0);
    if (0xC0..0xE0).contains(&sel) {
        return decode_one(data.get(1..).unwrap_or_default());
    }
    let (status, body) = split_status(data);
    let limits = limits_for(sel);
    let answer = wire::parse_messages(status, body, &limits);
    let envelope = wire::parse_envelope(body, &limits);
    match &answer {
        Ok(MessagesAnswer::Batch(b)) => {
            assert_eq!(status, 200, "a batch from status {status}");
            match &envelope {
                Ok(e) => assert_eq!(b, e, "parse_messages and parse_envelope disagree"),
                Err(e) => panic!("parse_messages accepted what parse_envelope refused: {e}"),
            }
            check_body(b);
        }
        Ok(_) => {
            // NoContent: 204, or a 200 of whitespace.
            assert!(
                status == 204 || (status == 200 && body.iter().all(u8::is_ascii_whitespace)),
                "NoContent for status {status} and a non-blank body"
            );
        }
        Err(e) => error_renders(e),
    }
    if let Ok(e) = &envelope {
        check_body(e);
    }
}

fn check_body(b: &MessagesBody) {
    let bytes = to_json("MessagesBody", b);
    let again = match wire::parse_messages(
        200,
        &bytes,
        &Limits {
            max_body_bytes: usize::MAX,
            max_messages: usize::MAX,
        },
    ) {
        Ok(MessagesAnswer::Batch(again)) => again,
        other => panic!(
            "MessagesBody re-serialised does not parse as a batch: {other:?}\n {}",
            String::from_utf8_lossy(&bytes)
        ),
    };
    same_body("MessagesBody", b, &again);
    // Printing is stable after one round trip (the first may drop unknown fields and normalise aliases, and
    // turns a duplicate-key `Invalid` typed).
    let bytes2 = to_json("MessagesBody", &again);
    let third = match wire::parse_messages(
        200,
        &bytes2,
        &Limits {
            max_body_bytes: usize::MAX,
            max_messages: usize::MAX,
        },
    ) {
        Ok(MessagesAnswer::Batch(third)) => third,
        other => panic!("MessagesBody re-serialised twice does not parse as a batch: {other:?}"),
    };
    let bytes3 = to_json("MessagesBody", &third);
    if bytes2 != bytes3 {
        let (a, c) = (
            serde_json::from_slice::<Value>(&bytes2),
            serde_json::from_slice::<Value>(&bytes3),
        );
        assert!(
            matches!((&a, &c), (Ok(a), Ok(c)) if json_eq(a, c)),
            "MessagesBody prints differently after a round trip"
        );
    }
    for m in &b.messages {
        check_message(m);
    }
}

fn check_message(m: &Message) {
    let bytes = to_json("Message", m);
    match serde_json::from_slice::<Message>(&bytes) {
        Ok(again) => same_message("Message", m, &again),
        Err(e) => panic!(
            "Message {m:?} re-serialised does not deserialise: {e}\n {}",
            String::from_utf8_lossy(&bytes)
        ),
    }
}

fn decode_one(data: &[u8]) {
    let (kind, payload) = match data.split_first() {
        Some((k, rest)) => (
            wire::KNOWN_MESSAGE_TYPES
                .get(usize::from(*k))
                .copied()
                .unwrap_or("SomethingNew"),
            rest,
        ),
        None => ("ChatMessage", data),
    };
    let payload = String::from_utf8_lossy(payload);
    let m = Message::decode(kind, &payload);
    assert_eq!(m.kind(), kind, "Message::decode changed the type");
    let _ = format!("{m:?}");
    // Only payloads that are JSON can be re-serialised meaningfully.
    if serde_json::from_str::<Value>(&payload).is_ok() {
        check_message(&m);
    }
}

// ---------------------------------------------------------------------------------------------------------
// parse_visitor
// ---------------------------------------------------------------------------------------------------------

/// Input: the first byte's low two bits pick Settings, Availability, VisitorId or ReconnectSession; bit 0x80
/// means the next two bytes are the status (else 200); bit 0x40 a tiny size limit; the rest is the body.
///
/// Checks: no panic; a parsed value re-serialised bare, and wrapped in a Messages envelope, parses to the same
/// value; ReconnectSession errors never quote the body and an accepted one has a token.
pub fn parse_visitor(data: &[u8]) {
    let Some((&sel, rest)) = data.split_first() else {
        return;
    };
    let (status, body) = match rest {
        [hi, lo, body @ ..] if sel & 0x80 != 0 => (u16::from_be_bytes([*hi, *lo]), body),
        _ => (200, rest),
    };
    let limits = limits_for(sel);
    match sel & 3 {
        0 => visitor_round_trip("Settings", status, body, &limits, wire::parse_settings),
        1 => visitor_round_trip(
            "Availability",
            status,
            body,
            &limits,
            wire::parse_availability,
        ),
        2 => visitor_round_trip("VisitorId", status, body, &limits, wire::parse_visitor_id),
        _ => {
            match wire::parse_reconnect_session(status, body, &limits) {
                Ok(r) => assert!(
                    !r.affinity_token.is_empty(),
                    "ReconnectSession without a token"
                ),
                Err(e) => no_snippet("ReconnectSession", &e),
            }
            visitor_round_trip(
                "ReconnectSession",
                status,
                body,
                &limits,
                wire::parse_reconnect_session,
            )
        }
    }
}

fn visitor_round_trip<T>(
    noun: &str,
    status: u16,
    body: &[u8],
    limits: &Limits,
    parse: fn(u16, &[u8], &Limits) -> Result<T, DecodeError>,
) where
    T: PartialEq + serde::Serialize + std::fmt::Debug,
{
    let v = match parse(status, body, limits) {
        Ok(v) => v,
        Err(e) => {
            error_renders(&e);
            return;
        }
    };
    assert_eq!(status, 200, "{noun} accepted with status {status}");
    let bare = to_json(noun, &v);
    let big = Limits {
        max_body_bytes: usize::MAX,
        max_messages: usize::MAX,
    };
    match parse(200, &bare, &big) {
        Ok(again) => same(noun, &v, &again),
        Err(e) => panic!(
            "{noun} re-serialised bare does not parse: {e}\n {}",
            String::from_utf8_lossy(&bare)
        ),
    }
    let payload = serde_json::to_value(&v).unwrap_or(Value::Null);
    let wrapped = serde_json::json!({"messages": [{"type": noun, "message": payload}]});
    let wrapped = to_json(noun, &wrapped);
    match parse(200, &wrapped, &big) {
        Ok(again) => same(noun, &v, &again),
        Err(e) => panic!(
            "{noun} re-serialised wrapped does not parse: {e}\n {}",
            String::from_utf8_lossy(&wrapped)
        ),
    }
}

// ---------------------------------------------------------------------------------------------------------
// parse_error
// ---------------------------------------------------------------------------------------------------------

/// Input: two bytes of status (big-endian, any `u16`), then the body.
///
/// Checks: no panic; `status()` is the status given; `OutOfSync` only for 409 with "out of sync" in the text,
/// and it re-renders to the peer's text and parses back to the same numbers; otherwise the text is trimmed, at
/// most `SNIPPET_LEN` bytes, and parsing it again gives the same error (when it cannot turn into the 409 case).
pub fn parse_error(data: &[u8]) {
    let (status, body) = match data {
        [hi, lo, body @ ..] => (u16::from_be_bytes([*hi, *lo]), body),
        _ => (409, data),
    };
    let e = ServerError::parse(status, body);
    let _ = e.to_string();
    assert_eq!(e.status(), status, "status changed: {e:?}");
    match &e {
        ServerError::OutOfSync { expected, actual } => {
            assert_eq!(status, 409, "OutOfSync for status {status}");
            let lower = String::from_utf8_lossy(body).to_ascii_lowercase();
            assert!(lower.contains("out of sync"), "OutOfSync without the words");
            let text = format!("Out of sync Ack. Expected {expected}. Actual {actual}");
            assert_eq!(
                ServerError::parse(409, text.as_bytes()),
                e,
                "OutOfSync round trip"
            );
        }
        ServerError::Status { text, .. } => {
            assert!(text.len() <= SNIPPET_LEN, "text of {} bytes", text.len());
            assert_eq!(text.trim(), text, "text not trimmed");
            let again = ServerError::parse(status, text.as_bytes());
            if status != 409 {
                assert_eq!(again, e, "Status round trip");
            }
        }
        #[allow(unreachable_patterns)]
        _ => {}
    }
}

// ---------------------------------------------------------------------------------------------------------
// decode_noun
// ---------------------------------------------------------------------------------------------------------

/// Input: the first byte's low bits pick `NOUN_NAMES[b % (len + 1)]`; the extra value means "a name of its own":
/// the rest up to the first newline. Bit 0x80: also send the body to the simulator as a Chasitor POST of that
/// noun; bit 0x40: as the `object` of a MultiNoun entry. The rest is the body.
///
/// Checks: no panic (in the codec or in the simulator); a decoded noun has the name asked for, its `body()`
/// builds, decodes to the same noun, and a request built with `Api::chasitor` carries that body; the simulator
/// answers every request.
pub fn decode_noun(data: &[u8]) {
    let Some((&sel, rest)) = data.split_first() else {
        return;
    };
    let names = wire_internals::NOUN_NAMES;
    let pick = usize::from(sel & 0x3f) % (names.len() + 1);
    let (name, body): (String, &[u8]) = match names.get(pick) {
        Some(n) => ((*n).to_owned(), rest),
        None => {
            let cut = rest.iter().position(|b| *b == b'\n').unwrap_or(rest.len());
            (
                String::from_utf8_lossy(rest.get(..cut).unwrap_or_default()).into_owned(),
                rest.get(cut.saturating_add(1)..).unwrap_or_default(),
            )
        }
    };
    if let Ok(noun) = Noun::decode(&name, body) {
        assert_eq!(noun.name(), name, "decoded under another name");
        let encoded = match noun.body() {
            Ok(b) => b,
            Err(e) => panic!("{noun:?}: body() failed: {e}"),
        };
        match Noun::decode(&name, &encoded) {
            Ok(again) => assert_eq!(noun, again, "Noun round trip"),
            Err(e) => panic!(
                "{noun:?} encoded as {} does not decode: {e}",
                String::from_utf8_lossy(&encoded)
            ),
        }
        let endpoint = match wire::Endpoint::parse("https://d.la1-c1-fuzz.salesforceliveagent.com")
        {
            Ok(e) => e,
            Err(e) => panic!("endpoint: {e}"),
        };
        let key = wire::SessionKey::new("k");
        let token = wire::AffinityToken::new("t");
        let auth = wire::SessionAuth {
            key: &key,
            affinity: Some(&token),
        };
        match Api::new(&endpoint, 59).chasitor(auth, &noun, 1) {
            Ok(req) => assert_eq!(req.body(), &encoded, "request body differs from body()"),
            Err(e) => panic!("{noun:?}: chasitor request failed: {e}"),
        }
    }
    if sel & 0xC0 != 0 {
        sim_post(&name, body, sel & 0x40 != 0);
    }
}

/// Opens a session on a fresh simulator and sends `body` as a POST of noun `name` (or inside a MultiNoun).
fn sim_post(name: &str, body: &[u8], multi: bool) {
    let now = Timestamp::ZERO;
    let config = SimConfig::default();
    let Ok(endpoint) = config.endpoint() else {
        return;
    };
    let mut server = Server::new(config, now);
    let api = Api::new(&endpoint, 59);
    let Ok(req) = api.session_id() else {
        return;
    };
    let t = server.handle_request(&req, now);
    let Some((t2, SimReply::Response(resp))) = server.poll_reply(now) else {
        panic!("the simulator did not answer SessionId");
    };
    assert_eq!(t, t2);
    let Ok(s) = wire::parse_session_id(resp.status().as_u16(), resp.body(), &Limits::default())
    else {
        panic!("the simulator's SessionId answer does not parse");
    };
    let (path, body) = if multi {
        let object = serde_json::from_slice::<Value>(body)
            .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(body).into_owned()));
        let entry = if object.is_string() {
            serde_json::json!({"prefix": "Chasitor", "noun": name, "data": object})
        } else {
            serde_json::json!({"prefix": "Chasitor", "noun": name, "object": object})
        };
        (
            "/chat/rest/System/MultiNoun".to_owned(),
            to_json("MultiNoun", &serde_json::json!({"nouns": [entry]})),
        )
    } else {
        let mut p = "/chat/rest/Chasitor/".to_owned();
        wire_internals::encode_path_segment(name, &mut p);
        (p, body.to_vec())
    };
    let req = http::Request::builder()
        .method(http::Method::POST)
        .uri(format!("{endpoint}{path}"))
        .header(wire::header::API_VERSION, "59")
        .header(wire::header::SESSION_KEY, s.key.expose())
        .header(wire::header::AFFINITY, s.affinity_token.expose())
        .header(wire::header::SEQUENCE, "1")
        .header(http::header::CONTENT_TYPE, "application/json")
        .body(body);
    let Ok(req) = req else {
        return;
    };
    let t = server.handle_request(&req, now);
    match server.poll_reply(now) {
        Some((t2, _)) => assert_eq!(t, t2, "the simulator answered another ticket"),
        None => panic!("the simulator did not answer a POST at once"),
    }
    let _ = server.transcript_text();
}

// ---------------------------------------------------------------------------------------------------------
// session_ops: the testkit's Monitor, fed by Arbitrary ops
// ---------------------------------------------------------------------------------------------------------

/// At most this many ops per input: long enough to get deep into a chat, short enough to stay fast.
const MAX_OPS: usize = 256;

/// A text for a command: mostly short and printable (so commands are accepted), sometimes anything.
#[derive(Debug)]
struct Text(String);

impl<'a> Arbitrary<'a> for Text {
    fn arbitrary(u: &mut Unstructured<'a>) -> arbitrary::Result<Self> {
        Ok(Text(match u.int_in_range(0u8..=7)? {
            0 => String::new(),
            1 => String::arbitrary(u)?.replace(SECRET_MARK, "secret"),
            2 => "x".repeat(usize::from(u.int_in_range(30u8..=60)?)),
            _ => format!("hi {}", u16::arbitrary(u)?),
        }))
    }
}

/// The monitor reports any text holding a session key or affinity token it issued as a leak. Those secrets are
/// predictable (`SeCrEtKey0001x`, ...), and libFuzzer learns them from the monitor's own `contains` calls, so a
/// fuzzer-made text could hold one and be "leaked" by the visitor himself: such texts get the mark defused.
fn without_mark(mut body: Vec<u8>) -> Vec<u8> {
    let mark = SECRET_MARK.as_bytes();
    let mut i = 0usize;
    while let Some(w) = body.get(i..i.saturating_add(mark.len())) {
        if w == mark {
            body.splice(i..i + mark.len(), b"secret".iter().copied());
        }
        i += 1;
    }
    body
}

#[derive(Debug, Arbitrary)]
enum FStep {
    Millis(u16),
    Secs(u16),
    Hours(u16),
    Huge,
}

impl FStep {
    fn op(&self) -> TimeStep {
        match *self {
            FStep::Millis(n) => TimeStep::Millis(n),
            FStep::Secs(n) => TimeStep::Secs(n),
            FStep::Hours(n) => TimeStep::Hours(n),
            FStep::Huge => TimeStep::Huge,
        }
    }
}

#[derive(Debug, Arbitrary)]
enum FStatus {
    BadRequest,
    Forbidden,
    NotFound,
    MethodNotAllowed,
    Conflict,
    Internal,
    BadGateway,
    Unavailable,
}

impl FStatus {
    fn op(&self) -> ErrorStatus {
        match self {
            FStatus::BadRequest => ErrorStatus::BadRequest,
            FStatus::Forbidden => ErrorStatus::Forbidden,
            FStatus::NotFound => ErrorStatus::NotFound,
            FStatus::MethodNotAllowed => ErrorStatus::MethodNotAllowed,
            FStatus::Conflict => ErrorStatus::Conflict,
            FStatus::Internal => ErrorStatus::Internal,
            FStatus::BadGateway => ErrorStatus::BadGateway,
            FStatus::Unavailable => ErrorStatus::Unavailable,
        }
    }
}

#[derive(Debug, Arbitrary)]
enum FMsg {
    ChatMessage(Text),
    AgentTyping,
    AgentNotTyping,
    ChatRequestSuccess(i8),
    QueueUpdate(i8),
    ChatEstablished(Option<(u16, u16)>),
    AgentDisconnect,
    ChatTransferred,
    ChatEnded { reason: u8, records: bool },
    ChatRequestFail,
    ChasitorSessionData,
    SwitchServer(bool),
    CustomEvent,
    FileTransfer,
    RichMessage,
    SensitiveDataRules,
    Unknown,
    Mistyped(u8),
}

impl FMsg {
    fn op(self) -> MsgSpec {
        match self {
            FMsg::ChatMessage(t) => MsgSpec::ChatMessage(t.0),
            FMsg::AgentTyping => MsgSpec::AgentTyping,
            FMsg::AgentNotTyping => MsgSpec::AgentNotTyping,
            FMsg::ChatRequestSuccess(position) => MsgSpec::ChatRequestSuccess { position },
            FMsg::QueueUpdate(position) => MsgSpec::QueueUpdate { position },
            FMsg::ChatEstablished(idle) => MsgSpec::ChatEstablished { idle },
            FMsg::AgentDisconnect => MsgSpec::AgentDisconnect,
            FMsg::ChatTransferred => MsgSpec::ChatTransferred,
            FMsg::ChatEnded { reason, records } => MsgSpec::ChatEnded { reason, records },
            FMsg::ChatRequestFail => MsgSpec::ChatRequestFail,
            FMsg::ChasitorSessionData => MsgSpec::ChasitorSessionData,
            FMsg::SwitchServer(valid) => MsgSpec::SwitchServer { valid },
            FMsg::CustomEvent => MsgSpec::CustomEvent,
            FMsg::FileTransfer => MsgSpec::FileTransfer,
            FMsg::RichMessage => MsgSpec::RichMessage,
            FMsg::SensitiveDataRules => MsgSpec::SensitiveDataRules,
            FMsg::Unknown => MsgSpec::Unknown,
            FMsg::Mistyped(v) => MsgSpec::Mistyped(v),
        }
    }
}

#[derive(Debug, Arbitrary)]
enum FSeq {
    Consistent,
    Overlap(u8),
    Absent,
    Arbitrary(i64),
}

#[derive(Debug, Arbitrary)]
enum FReply {
    /// First, so that an input of zero bytes answers like a cooperative server.
    Natural(u8),
    Ok,
    Accepted202,
    NoContent204,
    Status(FStatus),
    OutOfSync {
        actual: i32,
        relative: bool,
    },
    Garbage(u8),
    Empty,
    Batch {
        msgs: Vec<FMsg>,
        seq: FSeq,
        offset: Option<i64>,
    },
    SessionBody(u8),
    ReconnectBody {
        variant: u8,
        reset: Option<bool>,
    },
    /// Any status in 100..=999 and any bytes.
    Raw {
        status: u16,
        body: Vec<u8>,
    },
}

impl FReply {
    fn op(self) -> Reply {
        match self {
            FReply::Natural(v) => Reply::Natural(v),
            FReply::Ok => Reply::Ok,
            FReply::Accepted202 => Reply::Accepted202,
            FReply::NoContent204 => Reply::NoContent204,
            FReply::Status(s) => Reply::Status(s.op()),
            FReply::OutOfSync { actual, relative } => Reply::OutOfSync { actual, relative },
            FReply::Garbage(v) => Reply::Garbage(v),
            FReply::Empty => Reply::Empty,
            FReply::Batch { msgs, seq, offset } => Reply::Batch(BatchSpec {
                msgs: msgs.into_iter().take(8).map(FMsg::op).collect(),
                seq: match seq {
                    FSeq::Consistent => SeqSpec::Consistent,
                    FSeq::Overlap(k) => SeqSpec::Overlap(k),
                    FSeq::Absent => SeqSpec::Absent,
                    FSeq::Arbitrary(s) => SeqSpec::Arbitrary(s),
                },
                offset,
            }),
            FReply::SessionBody(v) => Reply::SessionBody(match v % 5 {
                0 => SessionBodySpec::Valid,
                1 => SessionBodySpec::MissingKey,
                2 => SessionBodySpec::EmptyId,
                3 => SessionBodySpec::BadTokenChars,
                _ => SessionBodySpec::NotJson,
            }),
            FReply::ReconnectBody { variant, reset } => Reply::ReconnectBody(match variant % 4 {
                0 => ReconnectSpec::Valid { reset },
                1 => ReconnectSpec::Wrapped { reset },
                2 => ReconnectSpec::MissingToken,
                _ => ReconnectSpec::NotJson,
            }),
            FReply::Raw { status, body } => Reply::Raw {
                status: 100 + status % 900,
                body: without_mark(body),
            },
        }
    }
}

#[derive(Debug, Arbitrary)]
enum FOp {
    /// First, so that an input of zero bytes answers like a cooperative server.
    Respond {
        pick: u8,
        reply: FReply,
    },
    SendMessage(Text),
    SetTyping(bool),
    SneakPeek(Text),
    CustomEvent {
        kind: Text,
        data: Text,
    },
    End,
    TransportError {
        pick: u8,
    },
    RespondStale {
        pick: u8,
        reply: FReply,
    },
    RespondUnknown {
        ahead: u8,
    },
    DuplicateAnswer,
    Advance {
        step: FStep,
        fire: bool,
    },
    Backwards(FStep),
    Sleep,
    SpuriousTimeout,
    SnapshotResume,
}

impl FOp {
    fn op(self) -> Op {
        match self {
            FOp::Respond { pick, reply } => Op::Respond {
                pick,
                reply: reply.op(),
            },
            FOp::SendMessage(t) => Op::SendMessage(t.0),
            FOp::SetTyping(b) => Op::SetTyping(b),
            FOp::SneakPeek(t) => Op::SneakPeek(t.0),
            FOp::CustomEvent { kind, data } => Op::CustomEvent {
                kind: kind.0,
                data: data.0,
            },
            FOp::End => Op::End,
            FOp::TransportError { pick } => Op::TransportError { pick },
            FOp::RespondStale { pick, reply } => Op::RespondStale {
                pick,
                reply: reply.op(),
            },
            FOp::RespondUnknown { ahead } => Op::RespondUnknown { ahead },
            FOp::DuplicateAnswer => Op::DuplicateAnswer,
            FOp::Advance { step, fire } => Op::Advance {
                step: step.op(),
                fire,
            },
            FOp::Backwards(s) => Op::Backwards(s.op()),
            FOp::Sleep => Op::Sleep,
            FOp::SpuriousTimeout => Op::SpuriousTimeout,
            FOp::SnapshotResume => Op::SnapshotResume,
        }
    }
}

/// The ops an input stands for (also used by the regression tests to print a failing case).
pub fn session_ops_input(data: &[u8]) -> (Setup, Vec<Op>) {
    let mut u = Unstructured::new(data);
    let d = Setup::default();
    let setup = if data.first().is_some_and(|b| b & 1 == 1) {
        let _ = u.bytes(1);
        Setup {
            seed: u.arbitrary().unwrap_or(d.seed),
            max_batch: u.int_in_range(1..=5).unwrap_or(d.max_batch),
            max_queued: u.int_in_range(1..=8).unwrap_or(d.max_queued),
            max_text: u.int_in_range(1..=64).unwrap_or(d.max_text),
            max_attempts: u.int_in_range(1..=8).unwrap_or(d.max_attempts),
            poll_counter: u.arbitrary().unwrap_or(d.poll_counter),
        }
    } else {
        let _ = u.bytes(1);
        d
    };
    let mut ops = Vec::new();
    while !u.is_empty() && ops.len() < MAX_OPS {
        match FOp::arbitrary(&mut u) {
            Ok(op) => ops.push(op.op()),
            Err(_) => break,
        }
    }
    (setup, ops)
}

/// Input: a first byte (odd: the session `Setup` follows, drawn from the input; even: the default setup), then
/// ops drawn with `Arbitrary` until the input ends (at most 256): commands, answers (cooperative, every error
/// status, 409 out-of-sync, garbage, structured batches of every message type with consistent, overlapping,
/// absent or arbitrary `sequence`, SessionId/ReconnectSession bodies valid or broken, and any status with any
/// bytes), transport errors, answers to stale, duplicated and never-issued request ids, time steps forwards
/// (up to the end of `Timestamp`) and backwards, spurious timeouts, snapshot/resume.
///
/// Checks: everything `liveagent::testkit::Monitor` checks, after every step (the same code as the property
/// test `tests/session_model.rs`).
pub fn session_ops(data: &[u8]) {
    let (setup, ops) = session_ops_input(data);
    if let Err(v) = Harness::run(setup, Timestamp::ZERO, &ops) {
        panic!("{v}");
    }
}

// ---------------------------------------------------------------------------------------------------------
// sim_session: a Session against the simulator
// ---------------------------------------------------------------------------------------------------------

/// Pair steps per run segment (each hands out one output, delivers one reply, or moves the clock).
const SIM_MAX_STEPS: usize = 20_000;
/// Virtual time per run.
const SIM_MAX_TIME: Duration = Duration::from_secs(15 * 60);

/// A small 1-based counter for triggers: 1..=12.
#[derive(Debug, Clone, Copy)]
struct Small(u64);

impl<'a> Arbitrary<'a> for Small {
    fn arbitrary(u: &mut Unstructured<'a>) -> arbitrary::Result<Self> {
        Ok(Small(u.int_in_range(1u64..=12)?))
    }
}

#[derive(Debug, Arbitrary)]
enum FTrigger {
    Request(Small),
    Poll(Small),
    Post(Small),
    /// Tenths of a second after the session was created.
    After(u16),
    ServerRequest(Small),
}

#[derive(Debug, Arbitrary)]
enum FFaultKind {
    DropReply,
    /// Milliseconds.
    DelayReply(u16),
    ServerErrors {
        count: u8,
        status: u16,
    },
    Expire,
    Handover,
    SwitchServer,
    DuplicateBatch,
    SequenceDrift(u8),
}

#[derive(Debug, Arbitrary)]
struct FFault {
    at: FTrigger,
    kind: FFaultKind,
}

impl FFault {
    fn fault(&self) -> Fault {
        let at = match self.at {
            FTrigger::Request(n) => Trigger::Request(n.0),
            FTrigger::Poll(n) => Trigger::Poll(n.0),
            FTrigger::Post(n) => Trigger::Post(n.0),
            FTrigger::After(t) => Trigger::After(Duration::from_millis(u64::from(t) * 100)),
            FTrigger::ServerRequest(n) => Trigger::ServerRequest(n.0),
        };
        let kind = match self.kind {
            FFaultKind::DropReply => FaultKind::DropReply,
            FFaultKind::DelayReply(ms) => {
                FaultKind::DelayReply(Duration::from_millis(u64::from(ms)))
            }
            FFaultKind::ServerErrors { count, status } => FaultKind::ServerErrors {
                count: u32::from(count % 4) + 1,
                // Mostly the statuses the plan is meant for; sometimes any 4xx/5xx.
                status: match status % 8 {
                    0 => 502,
                    1 => 503,
                    2 => 504,
                    3 => 400 + status % 200,
                    _ => 500,
                },
            },
            FFaultKind::Expire => FaultKind::Expire,
            FFaultKind::Handover => FaultKind::Handover,
            FFaultKind::SwitchServer => FaultKind::SwitchServer,
            FFaultKind::DuplicateBatch => FaultKind::DuplicateBatch,
            FFaultKind::SequenceDrift(n) => FaultKind::SequenceDrift(u64::from(n % 8) + 1),
        };
        Fault::for_session(0, at, kind)
    }
}

#[derive(Debug, Arbitrary)]
enum FAgentAct {
    Accept,
    Say,
    EchoVisitor,
    Typing,
    NotTyping,
    QueueUpdate(i8),
    StopEcho,
    Transfer,
    Disconnect,
    End,
    Decline,
    RequestFile,
    Menu,
    CustomEvent,
}

#[derive(Debug, Arbitrary)]
enum FAgent {
    /// The simulator's default agent (accepts after 2 s, says hello, echoes).
    Default,
    /// Accepts after this many tenths of a second and echoes.
    Echo(u8),
    /// Steps of (tenths of a second after the previous step, action).
    Script(Vec<(u8, FAgentAct)>),
}

impl FAgent {
    fn script(&self) -> AgentScript {
        match self {
            FAgent::Default => AgentScript::default(),
            FAgent::Echo(t) => AgentScript::echo(Duration::from_millis(u64::from(*t) * 100)),
            FAgent::Script(steps) => {
                let mut said = 0u32;
                let steps = steps
                    .iter()
                    .take(16)
                    .map(|(t, a)| {
                        let action = match a {
                            FAgentAct::Accept => AgentAction::Accept,
                            FAgentAct::Say => {
                                said += 1;
                                AgentAction::Say {
                                    text: format!("agent says {said}"),
                                }
                            }
                            FAgentAct::EchoVisitor => AgentAction::EchoVisitor,
                            FAgentAct::Typing => AgentAction::Typing,
                            FAgentAct::NotTyping => AgentAction::NotTyping,
                            FAgentAct::QueueUpdate(p) => AgentAction::QueueUpdate {
                                position: i64::from(*p),
                            },
                            FAgentAct::StopEcho => AgentAction::StopEcho,
                            FAgentAct::Transfer => AgentAction::Transfer {
                                to_name: "Bea".into(),
                            },
                            FAgentAct::Disconnect => AgentAction::Disconnect,
                            FAgentAct::End => AgentAction::End,
                            FAgentAct::Decline => AgentAction::Decline {
                                reason: "Unavailable".into(),
                            },
                            FAgentAct::RequestFile => AgentAction::RequestFile,
                            FAgentAct::Menu => AgentAction::Menu {
                                header: "Pick".into(),
                                items: vec!["a".into(), "b".into()],
                            },
                            FAgentAct::CustomEvent => AgentAction::CustomEvent {
                                kind: "survey".into(),
                                data: "1".into(),
                            },
                        };
                        AgentStep::new(Duration::from_millis(u64::from(*t) * 100), action)
                    })
                    .collect();
                AgentScript::new(steps)
            }
        }
    }
}

#[derive(Debug, Arbitrary)]
enum FVisitorAct {
    Send,
    Typing(bool),
    SneakPeek,
    CustomEvent,
    End,
}

#[derive(Debug, Arbitrary)]
struct FVisitorStep {
    /// Tenths of a second after the previous step.
    after: u8,
    act: FVisitorAct,
}

#[derive(Debug, Arbitrary)]
struct SimInput {
    seed: u64,
    faults: Vec<FFault>,
    agent: FAgent,
    visitor: Vec<FVisitorStep>,
    require_consecutive_sequence: bool,
    wrap_visitor_answers: bool,
    max_attempts: u8,
    /// The server's dialect: byte `i` picks the value of switch `i` (`Dialect::from_choices`). Last, so an
    /// input written before it existed (its bytes run out here) keeps the default dialect.
    dialect: [u8; 21],
}

/// Input: an `Arbitrary` [`SimInput`]: a fault plan for session 0 (up to 6 faults, every `FaultKind`, triggers
/// by request/poll/POST/server-request count 1..=12 or by time), the agent script (the default, an echo agent,
/// or up to 16 steps of any action), a visitor script (up to 12 steps: send a unique text, typing, sneak peek,
/// custom event, end; each some tenths of a second after the previous one), simulator and retry knobs, and
/// the server's dialect (every value of every `sim::Dialect` switch; the default when the bytes run out).
///
/// The chat is driven by `liveagent::sim::Pair` (the crate's one client↔server harness: requests to the
/// server, ready replies back — `Reply::Drop` as a transport error —, abandoned requests cancelled on the
/// server as a transport closing the connection would, the virtual clock moved to the earlier side's
/// deadline). Each visitor step runs once the pair is quiescent at its due time. At most 15 virtual minutes
/// and `SIM_MAX_STEPS` pair steps per visitor step; a livelock (`PairError::Stalled`: many steps without the clock moving) is
/// a failure.
///
/// Checks: `Pair::check_delivery`, which judges the chat from the **simulator's record** (texts are unique, so
/// "exactly once" is checkable):
/// * visitor → agent: the server's `visitor_messages` hold each text at most once, only texts the session
///   accepted, in the order they were accepted; a text reported `Delivered` is among them, one reported
///   `Undelivered` is not, and once the session ended every text had a verdict. The one exception is what the
///   protocol cannot settle and the session says so: a text named by `Event::DeliveryUncertain` may be at the
///   server twice or not at all.
/// * agent → visitor: the agent texts the session received are a prefix of the server's `agent_messages`: no
///   duplicate, no reordering, no gap; when the session ended through the server's final message
///   (`AgentEnded`, `RequestFailed`, or `VisitorEnded` carrying the ChatEnded's `attachedRecords`, which the
///   simulator always sends), it received **every** agent text the server emitted.
pub fn sim_session(data: &[u8]) {
    let mut u = Unstructured::new(data);
    let Ok(input) = SimInput::arbitrary(&mut u) else {
        return;
    };
    run_sim(&input);
}

fn run_sim(input: &SimInput) {
    let start = Timestamp::ZERO;
    let mut sim = SimConfig::default().with_seed(input.seed);
    sim.dialect = liveagent::sim::Dialect::from_choices(&input.dialect);
    sim.agent = input.agent.script();
    if input.require_consecutive_sequence {
        sim.dialect.sequence_rule = liveagent::sim::dialect::SequenceRule::Consecutive;
    }
    sim.wrap_visitor_answers = input.wrap_visitor_answers;
    // LIVEAGENT_FUZZ_TRACE=1: record both transcripts for the failure message.
    let trace = std::env::var_os("LIVEAGENT_FUZZ_TRACE").is_some();
    sim.record_transcript = trace;
    sim.faults = FaultPlan {
        faults: sim_faults(input),
    };
    let Ok(endpoint) = sim.endpoint() else {
        return;
    };
    let mut config = Config::new(
        endpoint,
        "00Dxx0000001gPL",
        "572xx0000004CDV",
        "573xx0000004CFH",
    )
    .seed(input.seed)
    .retry({
        let mut r = RetryPolicy::default();
        r.max_attempts = u32::from(input.max_attempts % 8) + 2;
        r
    });
    config.receive_queue_updates = true;
    let mut pair = Pair::new(config, sim, start);
    pair.set_transcript(trace);
    pair.set_max_steps(SIM_MAX_STEPS);
    let mut text_no = 0u32;
    let mut live = true;
    for step in input.visitor.iter().take(12) {
        let due = pair.elapsed() + Duration::from_millis(u64::from(step.after) * 100);
        if due > SIM_MAX_TIME || !sim_run(&mut pair, due) || pair.is_finished() {
            live = false;
            break;
        }
        let _ = match step.act {
            FVisitorAct::Send => {
                text_no += 1;
                pair.send_message(format!("visitor says {text_no}"))
                    .map(|_| ())
            }
            FVisitorAct::Typing(b) => pair.command("set_typing", |s| s.set_typing(b).map(|_| ())),
            FVisitorAct::SneakPeek => {
                pair.command("sneak_peek", |s| s.sneak_peek("typ").map(|_| ()))
            }
            FVisitorAct::CustomEvent => pair.command("custom_event", |s| {
                s.send_custom_event("k", "d").map(|_| ())
            }),
            FVisitorAct::End => pair.end(),
        };
    }
    if live {
        sim_run(&mut pair, SIM_MAX_TIME);
    }
    let report = pair.check_delivery();
    if !report.is_clean() {
        let mut ctx = String::new();
        if trace {
            ctx.push_str("\n--- pair transcript\n");
            ctx.push_str(&pair.transcript());
            ctx.push_str("\n--- server transcript\n");
            ctx.push_str(&pair.server().transcript_text());
        } else {
            ctx.push_str("\n(LIVEAGENT_FUZZ_TRACE=1 adds the pair's and the server's transcripts)");
        }
        panic!("sim_session: delivery broken\n{report}{ctx}");
    }
}

/// Runs the pair until virtual time `until`; false when the step bound was hit. A livelock panics.
fn sim_run(pair: &mut Pair, until: Duration) -> bool {
    match pair.run_until_elapsed(until) {
        Ok(()) => true,
        Err(PairError::StepLimit { .. }) => false,
        Err(e) => panic!("sim_session: {e}\n{}", pair.transcript()),
    }
}

fn sim_faults(input: &SimInput) -> Vec<Fault> {
    input.faults.iter().take(6).map(FFault::fault).collect()
}

// ---------------------------------------------------------------------------------------------------------
// hostile_server: answers a hostile or broken server would send (issue #10)
// ---------------------------------------------------------------------------------------------------------

/// Pieces of `newUrl`s: what real migrations send, and what an attacker would.
const URL_SCHEMES: &[&str] = &[
    "https://", "http://", "HTTPS://", "", "https:", "ftp://", "//",
];
const URL_HOSTS: &[&str] = &[
    "d.la2-c2-fuzz.salesforceliveagent.com",
    "D.LA9.SalesforceLiveAgent.COM.",
    "salesforceliveagent.com",
    "d.la1-c1-fuzz.salesforceliveagent.com.attacker.example",
    "xsalesforceliveagent.com",
    "attacker.example",
    "169.254.169.254",
    "10.0.0.5",
    "127.0.0.1",
    "[::1]",
    "localhost",
    "user@d.la2.salesforceliveagent.com",
];
const URL_PORTS: &[&str] = &["", ":443", ":8080", ":6379", ":0", ":99999", ":", ":443x"];
const URL_PATHS: &[&str] = &["/chat", "", "/chat/rest/", "?x=/chat", "#/chat"];
const STATUSES: &[u16] = &[
    200, 200, 200, 204, 301, 302, 307, 400, 403, 404, 409, 429, 500, 503,
];

fn pick<'a>(u: &mut Unstructured<'_>, from: &[&'a str]) -> &'a str {
    u.choose(from).copied().unwrap_or("")
}

fn hostile_url(u: &mut Unstructured<'_>) -> String {
    if u.ratio(1u8, 6).unwrap_or(false) {
        let len = u.int_in_range(0..=40usize).unwrap_or(0);
        // Defused like visitor texts: a URL the server made up that spells the session's own key is the
        // server's content, not a leak by the session (found by fuzzing: SwitchServer newUrl "SeCrEtKey0002x…"
        // reached Debug of the event as the server wrote it).
        let bytes = without_mark(u.bytes(len).unwrap_or_default().to_vec());
        return String::from_utf8_lossy(&bytes).into_owned();
    }
    format!(
        "{}{}{}{}",
        pick(u, URL_SCHEMES),
        pick(u, URL_HOSTS),
        pick(u, URL_PORTS),
        pick(u, URL_PATHS)
    )
}

fn hostile_sequence(u: &mut Unstructured<'_>) -> Option<i64> {
    match u.int_in_range(0..=7u8).unwrap_or(0) {
        0 => None,
        1 => Some(i64::MAX),
        2 => Some(i64::MIN),
        3 => Some(-1),
        4 => u.int_in_range(0..=20i64).ok(),
        5 => Some((1i64 << 53) + u.int_in_range(-2..=2i64).unwrap_or(0)),
        _ => u.arbitrary().ok(),
    }
}

/// A Messages body built from hostile pieces (valid JSON, so it gets past the parser and into the session).
fn hostile_batch_body(u: &mut Unstructured<'_>, texts: &mut u64) -> Vec<u8> {
    let n = match u.int_in_range(0..=9u8).unwrap_or(0) {
        0 => u.int_in_range(0..=700usize).unwrap_or(0),
        _ => u.int_in_range(0..=4usize).unwrap_or(0),
    };
    let mut msgs = Vec::with_capacity(n);
    for _ in 0..n {
        let m = match u.int_in_range(0..=5u8).unwrap_or(0) {
            0 | 1 => {
                *texts += 1;
                serde_json::json!({"type": "ChatMessage", "message": {"name": "A", "text": format!("t{texts}")}})
            }
            2 => serde_json::json!({"type": "SwitchServer", "message": {"newUrl": hostile_url(u)}}),
            3 => {
                serde_json::json!({"type": "ReconnectSession", "message": {"affinityToken": "SECRET-fuzz-tok", "resetSequence": "x"}})
            }
            4 => serde_json::json!({"type": "AgentTyping"}),
            _ => serde_json::json!({"type": "ChatEstablished", "message": {"name": "A"}}),
        };
        msgs.push(m);
    }
    let mut env = serde_json::json!({"messages": msgs});
    if let Some(seq) = hostile_sequence(u) {
        env["sequence"] = seq.into();
    }
    serde_json::to_vec(&env).unwrap_or_default()
}

/// The ops of one `hostile_server` run: a chat is established first (SessionId, ChasitorInit, a poll with
/// ChatRequestSuccess + ChatEstablished), then every op is drawn from the input.
pub fn hostile_server_input(data: &[u8]) -> (Setup, Vec<Op>) {
    let mut u = Unstructured::new(data);
    let ok = |v: u8| Op::Respond {
        pick: 0,
        reply: Reply::Natural(v),
    };
    let mut ops = vec![ok(0), ok(0), ok(0)];
    let mut texts = 0u64;
    while !u.is_empty() && ops.len() < MAX_OPS {
        let pick_id: u8 = u.arbitrary().unwrap_or(0);
        let op = match u.int_in_range(0..=11u8).unwrap_or(0) {
            0..=3 => Op::Respond {
                pick: pick_id,
                reply: Reply::Raw {
                    status: *u.choose(STATUSES).unwrap_or(&200),
                    body: hostile_batch_body(&mut u, &mut texts),
                },
            },
            4 => Op::Respond {
                pick: pick_id,
                reply: Reply::Batch(BatchSpec {
                    msgs: vec![MsgSpec::SwitchServerTo(hostile_url(&mut u))],
                    seq: SeqSpec::Consistent,
                    offset: Some(1),
                }),
            },
            5 => Op::Respond {
                pick: pick_id,
                reply: {
                    let status: u16 = u.arbitrary().unwrap_or(200);
                    let len = u.int_in_range(0..=64usize).unwrap_or(0);
                    let body = u.bytes(len).unwrap_or_default().to_vec();
                    // An error body may echo the session's own key or token: the session must redact it in
                    // every error text (so the mark stays). A success body that spells it is the server's
                    // content (a chat text, a URL) delivered as written: defused.
                    let body = if status < 400 {
                        without_mark(body)
                    } else {
                        body
                    };
                    Reply::Raw { status, body }
                },
            },
            6 | 7 => Op::Respond {
                pick: pick_id,
                reply: Reply::Natural(u.arbitrary().unwrap_or(0)),
            },
            8 => Op::SendMessage(format!("v{}", ops.len())),
            9 => Op::Sleep,
            10 => Op::SnapshotResume,
            _ => Op::End,
        };
        ops.push(op);
    }
    (Setup::default(), ops)
}

/// Input: bytes that pick hostile answers (see [`hostile_server_input`]).
///
/// Checks: everything `liveagent::testkit::Monitor` checks after every step, in particular that every request
/// goes to the endpoint (scheme and authority) the default redirect policy allows from the configured one,
/// that every agent message of an accepted batch reaches the application in order, and that no step yields
/// more events than the batch cap allows.
pub fn hostile_server(data: &[u8]) {
    let (setup, ops) = hostile_server_input(data);
    if let Err(v) = Harness::run(setup, Timestamp::ZERO, &ops) {
        panic!("{v}");
    }
}
